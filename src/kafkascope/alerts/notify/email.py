"""E-mail: a plain-text message over SMTP (STARTTLS or implicit TLS, and AUTH, when
configured), SMTP's reply codes deciding what is retried."""

from __future__ import annotations

import email.policy
import email.utils
import smtplib
import socket
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from typing import Literal

from kafkascope.alerts.alert import Notification
from kafkascope.alerts.notify.base import (
    ANSWER_CHARS,
    Scrubber,
    cluster_of,
    headline,
    iso,
    one_line,
)
from kafkascope.errors import NotifyError

__all__ = ["EmailNotifier", "SmtpTls", "email_subject", "email_text"]

#: How the SMTP connection is protected: ``starttls`` upgrades a plain connection (port
#: 587), ``implicit`` speaks TLS from the first byte (SMTPS, port 465), ``none`` is plain.
SmtpTls = Literal["starttls", "implicit", "none"]


def email_subject(n: Notification) -> str:
    """``[FIRING critical] broker_down — cluster prod: broker 2 of cluster prod is down``."""
    a = n.alert
    cluster = cluster_of(n) or "?"
    return one_line(f"{headline(n)} {a.rule} — cluster {cluster}: {a.summary}", 200)


def email_text(n: Notification) -> str:
    """The plain-text e-mail body: what, where, since when, and the ids to quote."""
    a = n.alert
    what = {
        "firing": "is FIRING",
        "repeat": "is STILL FIRING (reminder)",
        "resolved": "is RESOLVED",
    }[n.kind]
    lines = [
        f"Alert {a.rule} {what} on cluster {cluster_of(n) or '?'}.",
        "",
        a.summary,
        "",
        f"Severity:     {a.severity.value}",
        f"State:        {a.state.value}",
    ]
    if a.last_value is not None:
        lines.append(f"Value:        {a.last_value:g}")
    lines.append(f"Started:      {iso(a.active_since) or '-'}")
    lines.append(f"Fired:        {iso(a.fired_at) or '-'}")
    if a.resolved_at is not None and n.kind == "resolved":
        lines.append(f"Resolved:     {iso(a.resolved_at)}")
    if a.status_note:
        lines.append(f"Note:         {a.status_note}")
    lines.append("")
    lines.append("Labels:")
    lines.extend(f"  {k} = {v}" for k, v in a.labels)
    lines.append("")
    lines.append(f"Fingerprint:  {a.fingerprint}")
    lines.append(f"Notification: {n.id} ({n.kind} at {iso(n.at)})")
    lines.append("")
    lines.append("-- sent by kafkascope")
    return "\n".join(lines) + "\n"


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return one_line(text, ANSWER_CHARS)


class EmailNotifier:
    """Sends :func:`email_subject` / :func:`email_text` as a plain-text e-mail over SMTP.

    With ``tls="starttls"`` the connection is upgraded before anything else is said; with
    ``tls="implicit"`` it is TLS from the first byte. Either way the server's certificate
    is checked against ``ssl_context`` (the system's trust store by default). With a
    ``username`` the client logs in (AUTH), once the connection is protected. The
    ``Message-ID`` is derived from the notification id, so mail systems that deduplicate
    by Message-ID drop a duplicate sent after a crash.
    """

    def __init__(
        self,
        host: str,
        port: int,
        tls: SmtpTls,
        username: str | None,
        password: str | None,
        sender: str,
        recipients: Sequence[str],
        timeout: float = 30.0,
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if not host:
            raise ValueError("email receiver: host is empty")
        if not 0 < port < 65536:
            raise ValueError(f"email receiver: port {port} is not in 1..65535")
        if not recipients:
            raise ValueError("email receiver: needs at least one recipient")
        if password is not None and username is None:
            raise ValueError("email receiver: a password is set but no username")
        if not timeout > 0:
            raise ValueError(f"email timeout must be > 0 seconds, got {timeout}")
        if tls not in ("starttls", "implicit", "none"):
            raise ValueError(f"email tls must be starttls, implicit or none, got {tls!r}")
        self._host = host
        self._port = port
        self._tls = tls
        self._username = username
        self._password = password
        self._sender = sender
        self._recipients = tuple(recipients)
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._scrub = Scrubber([password])
        self.target = f"smtp {host}:{port}"

    def message(self, n: Notification) -> EmailMessage:
        """The e-mail for ``n`` (exposed so it can be previewed and tested)."""
        msg = EmailMessage(policy=email.policy.SMTP)
        msg["Subject"] = email_subject(n)
        msg["From"] = self._sender
        msg["To"] = ", ".join(self._recipients)
        msg["Date"] = email.utils.formatdate(n.at, usegmt=True)
        msg["Message-ID"] = f"<{n.id}.{n.alert.fingerprint}@kafkascope>"
        msg["X-Kafkascope-Notification-Id"] = n.id
        msg["X-Kafkascope-Fingerprint"] = n.alert.fingerprint
        msg.set_content(email_text(n), cte="quoted-printable")
        return msg

    def send(self, n: Notification) -> str:
        msg = self.message(n)
        try:
            return self._scrub(self._deliver(msg))
        except NotifyError:
            raise
        except smtplib.SMTPAuthenticationError as e:
            raise self._fail(
                f"login as {self._username!r} rejected ({e.smtp_code} "
                f"{_reply_text(e.smtp_error)}). Fix: check the username and password",
                e.smtp_code,
            ) from None
        except smtplib.SMTPRecipientsRefused as e:
            codes = [code for code, _ in e.recipients.values()]
            why = "; ".join(
                f"{rcpt}: {code} {_reply_text(text)}" for rcpt, (code, text) in e.recipients.items()
            )
            raise self._fail(
                f"every recipient refused ({why})", min(codes) if codes else 550
            ) from None
        except smtplib.SMTPResponseException as e:
            raise self._fail(
                f"server answered {e.smtp_code} {_reply_text(e.smtp_error)}", e.smtp_code
            ) from None
        except smtplib.SMTPNotSupportedError as e:
            raise self._fatal(
                f"{e}. Fix: use a server or port that offers it, or change tls/username"
            ) from None
        except smtplib.SMTPServerDisconnected as e:
            raise self._retry(f"server closed the connection ({e})") from None
        except smtplib.SMTPException as e:
            # e.g. "No suitable authentication method found": configuration. (Caught before
            # OSError, which SMTPException subclasses.)
            raise self._fatal(f"{e}") from None
        except ssl.SSLCertVerificationError as e:
            raise self._retry(
                f"TLS certificate not trusted ({e.verify_message}). Fix: give the server a "
                "certificate the system trusts"
            ) from None
        except ssl.SSLError as e:
            raise self._retry(f"TLS failed ({e.reason or e})") from None
        except ConnectionRefusedError:
            raise self._retry("connection refused (is the SMTP server running?)") from None
        except TimeoutError:
            raise self._retry(f"no answer within {self._timeout:g} s") from None
        except socket.gaierror as e:
            raise self._retry(f"host name not resolved ({e.strerror})") from None
        except OSError as e:
            raise self._retry(f"cannot connect: {e.strerror or e}") from None

    def _deliver(self, msg: EmailMessage) -> str:
        """One SMTP conversation; the server's answer to DATA (which names its queue id)."""
        context = self._ssl_context or ssl.create_default_context()
        smtp: smtplib.SMTP
        if self._tls == "implicit":
            smtp = smtplib.SMTP_SSL(self._host, self._port, timeout=self._timeout, context=context)
        else:
            smtp = smtplib.SMTP(self._host, self._port, timeout=self._timeout)
        with smtp:
            smtp.ehlo()
            if self._tls == "starttls":
                if not smtp.has_extn("starttls"):
                    raise self._fatal(
                        "the server does not offer STARTTLS. Fix: use its submission port "
                        '(587), or tls = "implicit" for an SMTPS port (465)'
                    )
                smtp.starttls(context=context)
                smtp.ehlo()
            if self._username is not None:
                smtp.login(self._username, self._password or "")
            code, reply = smtp.mail(self._sender)
            if code != 250:
                raise smtplib.SMTPSenderRefused(code, reply, self._sender)
            refused: dict[str, tuple[int, bytes]] = {}
            for rcpt in self._recipients:
                code, reply = smtp.rcpt(rcpt)
                if code not in (250, 251):
                    refused[rcpt] = (code, reply)
            if len(refused) == len(self._recipients):
                smtp.rset()
                raise smtplib.SMTPRecipientsRefused(refused)
            code, reply = smtp.data(msg.as_bytes())
            if code != 250:
                raise smtplib.SMTPDataError(code, reply)
        answer = f"{code} {_reply_text(reply)}"
        if refused:
            skipped = ", ".join(f"{r} ({c})" for r, (c, _) in refused.items())
            answer += f"; refused recipients: {skipped}"
        return answer

    def _fail(self, message: str, code: int) -> NotifyError:
        """SMTP's own rule: 4xx is transient, 5xx permanent."""
        if 400 <= code < 500:
            return self._retry(message)
        return self._fatal(message + ". Not retried")

    def _retry(self, message: str) -> NotifyError:
        return NotifyError(self._scrub(f"{self.target}: {message}; will retry"), retryable=True)

    def _fatal(self, message: str) -> NotifyError:
        return NotifyError(self._scrub(f"{self.target}: {message}"), retryable=False)

    def __repr__(self) -> str:
        return f"EmailNotifier({self.target!r})"

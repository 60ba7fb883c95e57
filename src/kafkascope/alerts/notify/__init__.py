"""Notifiers: the adapters that put a :class:`Notification` in front of a person.

Each is one method, ``send(n) -> str``: it delivers one notification to one receiver and
returns what the receiver answered (for ``kafkascope test-notify`` and the outbox history),
or raises :class:`~kafkascope.errors.NotifyError` saying whether trying again can help:

==========================================  ==========  ======================================
failure                                     retryable   why
==========================================  ==========  ======================================
connection refused / reset, DNS, timeout    yes         the receiver is down or slow
TLS handshake or certificate failure        yes         fixed at the receiver, not by resending
HTTP 5xx, 408, 429                          yes         the receiver says "later"
HTTP 3xx                                    no          wrong URL: configure the final one
HTTP 4xx (other)                            no          the request itself is refused
bad or unsupported URL                      no          configuration
SMTP 4xx reply (greylisting, 421, 450, 454) yes         SMTP's own "try again later"
SMTP 5xx reply (535 auth rejected, 550)     no          SMTP's own "permanent failure"
STARTTLS / AUTH not offered by the server   no          configuration
==========================================  ==========  ======================================

Secrets (header values, the Slack webhook URL, the SMTP password) never appear in an
error message, a returned answer or a log line: every text leaving this module passes
through a scrubber that replaces them with ``***``.

Every message carries the notification id (webhook JSON ``id``, header
``Idempotency-Key``, e-mail ``Message-ID``) so a receiver can drop the rare duplicate the
outbox may send after a crash (see ``docs/notifications.md``).
"""

from __future__ import annotations

import contextlib
import email.policy
import email.utils
import json
import smtplib
import socket
import ssl
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any, Protocol

import httpx

from kafkascope.alerts.alert import Notification
from kafkascope.errors import NotifyError
from kafkascope.model import Severity

__all__ = [
    "WEBHOOK_BODY_VERSION",
    "EmailNotifier",
    "Notifier",
    "SlackNotifier",
    "WebhookNotifier",
    "email_subject",
    "email_text",
    "slack_body",
    "webhook_body",
]

#: Version of the webhook JSON body; bumped only for incompatible changes.
WEBHOOK_BODY_VERSION = 1

#: HTTP statuses that mean "try again later".
_RETRYABLE_STATUS = frozenset({408, 425, 429})
#: How much of a receiver's answer is kept (answers are for humans, not archives).
_ANSWER_CHARS = 300
_USER_AGENT = "kafkascope-notifier/1"


class Notifier(Protocol):
    """Delivers one notification to one receiver."""

    def send(self, n: Notification) -> str:
        """Deliver ``n``; return the receiver's answer; raise ``NotifyError`` on failure."""
        ...


# ------------------------------------------------------------------------- rendering


def _iso(t: float | None) -> str | None:
    """Seconds since the epoch → RFC 3339 UTC with milliseconds (``None`` stays None)."""
    if t is None:
        return None
    text = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def _cluster(n: Notification) -> str:
    return dict(n.alert.labels).get("cluster", "")


def _headline(n: Notification) -> str:
    """``[FIRING critical]``, ``[STILL FIRING warning]`` or ``[RESOLVED critical]``."""
    word = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}[n.kind]
    return f"[{word} {n.alert.severity.value}]"


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def webhook_body(n: Notification) -> dict[str, Any]:
    """The generic webhook's JSON body (documented in ``docs/notifications.md``)."""
    a = n.alert
    return {
        "version": WEBHOOK_BODY_VERSION,
        "id": n.id,
        "kind": n.kind,
        "at": _iso(n.at),
        "cluster": _cluster(n),
        "alert": {
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "severity": a.severity.value,
            "state": a.state.value,
            "labels": dict(a.labels),
            "summary": a.summary,
            "value": a.last_value,
            "started_at": _iso(a.active_since),
            "fired_at": _iso(a.fired_at),
            "resolved_at": _iso(a.resolved_at),
            "acked_by": a.acked_by,
            "note": a.status_note,
        },
    }


_SLACK_COLOURS = {
    Severity.CRITICAL: "#d40e0d",
    Severity.WARNING: "#f2c744",
    Severity.INFO: "#439fe0",
}
_SLACK_RESOLVED_COLOUR = "#2eb886"
_SLACK_ICONS = {Severity.CRITICAL: ":red_circle:", Severity.WARNING: ":warning:"}


def _slack_escape(text: str) -> str:
    """Slack mrkdwn treats ``& < >`` as markup; a summary must show them literally."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> dict[str, Any]:
    """A Slack incoming-webhook message: a ``text`` fallback (notifications, old clients)
    and an attachment coloured by severity (green once resolved) holding the blocks."""
    a = n.alert
    resolved = n.kind == "resolved"
    icon = (
        ":white_check_mark:" if resolved else _SLACK_ICONS.get(a.severity, ":information_source:")
    )
    cluster = _cluster(n) or "?"
    title = f"{_headline(n)} {a.rule} — cluster {cluster}"
    fields = [
        f"*Severity*\n{a.severity.value}",
        f"*Cluster*\n{_slack_escape(cluster)}",
        f"*Started*\n{_iso(a.active_since) or '—'}",
    ]
    if resolved:
        fields.append(f"*Resolved*\n{_iso(a.resolved_at) or _iso(n.at)}")
    elif a.last_value is not None:
        fields.append(f"*Value*\n{a.last_value:g}")
    labels = ", ".join(f"{k}={v}" for k, v in a.labels)
    context = f"fingerprint {a.fingerprint} · notification {n.id}"
    if a.status_note:
        context += f" · {a.status_note}"
    blocks: list[dict[str, Any]] = [
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"{icon} *{_slack_escape(title)}*\n{_slack_escape(a.summary)}",
            },
        },
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {
            "type": "context",
            "elements": [
                {"type": "mrkdwn", "text": _slack_escape(f"labels: {labels}")},
                {"type": "mrkdwn", "text": _slack_escape(context)},
            ],
        },
    ]
    colour = _SLACK_RESOLVED_COLOUR if resolved else _SLACK_COLOURS[a.severity]
    return {
        "text": _slack_escape(f"{title}: {_one_line(a.summary, 300)}"),
        "attachments": [{"color": colour, "fallback": title, "blocks": blocks}],
    }


def email_subject(n: Notification) -> str:
    """``[FIRING critical] broker_down — cluster prod: broker 2 of cluster prod is down``."""
    a = n.alert
    cluster = _cluster(n) or "?"
    return _one_line(f"{_headline(n)} {a.rule} — cluster {cluster}: {a.summary}", 200)


def email_text(n: Notification) -> str:
    """The plain-text e-mail body: what, where, since when, and the ids to quote."""
    a = n.alert
    what = {
        "firing": "is FIRING",
        "repeat": "is STILL FIRING (reminder)",
        "resolved": "is RESOLVED",
    }[n.kind]
    lines = [
        f"Alert {a.rule} {what} on cluster {_cluster(n) or '?'}.",
        "",
        a.summary,
        "",
        f"Severity:     {a.severity.value}",
        f"State:        {a.state.value}",
    ]
    if a.last_value is not None:
        lines.append(f"Value:        {a.last_value:g}")
    lines.append(f"Started:      {_iso(a.active_since) or '-'}")
    lines.append(f"Fired:        {_iso(a.fired_at) or '-'}")
    if a.resolved_at is not None and n.kind == "resolved":
        lines.append(f"Resolved:     {_iso(a.resolved_at)}")
    if a.status_note:
        lines.append(f"Note:         {a.status_note}")
    lines.append("")
    lines.append("Labels:")
    lines.extend(f"  {k} = {v}" for k, v in a.labels)
    lines.append("")
    lines.append(f"Fingerprint:  {a.fingerprint}")
    lines.append(f"Notification: {n.id} ({n.kind} at {_iso(n.at)})")
    lines.append("")
    lines.append("-- sent by kafkascope")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------- secrets


class _Scrubber:
    """Replaces every secret (and its URL-quoted form) in a text by ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        found = {s for s in secrets if s and len(s) >= 3}
        for s in list(found):
            if "://" in s:  # a URL that is a secret: its path alone gives it away too
                with contextlib.suppress(httpx.InvalidURL, ValueError):
                    found.add(httpx.URL(s).raw_path.decode("ascii", "replace"))
        self._secrets = sorted((s for s in found if len(s) >= 3), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


# ------------------------------------------------------------------------- HTTP


def _parse_url(url: str, what: str, shown: str) -> httpx.URL:
    """``url`` as an absolute http(s) URL, or ValueError naming ``shown`` (never the URL
    itself when it is a secret)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(f"{what}: {shown} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what}: {shown} is not an http:// or https:// URL with a host")
    return parsed


def _public_url(url: httpx.URL) -> str:
    """Scheme, host, port and path: no user info, no query (they often hold tokens)."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


def _answer(response: httpx.Response) -> str:
    body = " ".join(response.text.split())
    if len(body) > _ANSWER_CHARS:
        body = body[:_ANSWER_CHARS] + "…"
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    return f"HTTP {response.status_code}{reason}" + (f": {body}" if body else "")


def _post_json(
    *,
    url: httpx.URL,
    target: str,
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout: float,
    verify: ssl.SSLContext | bool,
    scrub: _Scrubber,
) -> str:
    """POST ``body``; the receiver's answer on 2xx, else a classified ``NotifyError``."""

    def fail(message: str, retryable: bool) -> NotifyError:
        return NotifyError(scrub(f"{target}: {message}"), retryable=retryable)

    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    all_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": _USER_AGENT,
        **headers,
    }
    try:
        with httpx.Client(timeout=timeout, verify=verify, follow_redirects=False) as client:
            response = client.post(url, content=data, headers=all_headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
        raise fail(
            f"invalid URL ({type(e).__name__}). Fix: correct the receiver's URL", False
        ) from None
    except httpx.TimeoutException as e:
        raise fail(
            f"no answer within {timeout:g} s ({type(e).__name__}); will retry", True
        ) from None
    except httpx.TransportError as e:
        raise fail(f"cannot deliver: {_transport_reason(e)}; will retry", True) from None
    code = response.status_code
    answer = _answer(response)
    if 200 <= code < 300:
        return scrub(answer)
    if code >= 500 or code in _RETRYABLE_STATUS:
        raise fail(f"receiver answered {answer}; will retry", True)
    if 300 <= code < 400:
        where = response.headers.get("location", "")
        shown = _public_url(httpx.URL(where)) if "://" in where else "elsewhere"
        raise fail(
            f"receiver answered {answer}, redirecting to {shown}. Fix: configure the final URL",
            False,
        )
    raise fail(f"receiver refused the notification: {answer}. Not retried", False)


def _transport_reason(e: httpx.TransportError) -> str:
    """The root cause of a transport failure in words (``connection refused``, ...)."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the receiver running?)"
        if isinstance(cause, socket.gaierror):
            return f"host name not resolved ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__


class WebhookNotifier:
    """POSTs :func:`webhook_body` as JSON to ``url``, with ``headers`` (secrets) added.

    Also sends ``Idempotency-Key`` and ``X-Kafkascope-Notification-Id`` headers holding the
    notification id. Redirects are not followed (a POST that is redirected is a wrong URL).
    """

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"webhook timeout must be > 0 seconds, got {timeout}")
        self._headers = dict(headers or {})
        self._scrub = _Scrubber(self._headers.values())
        self._url = _parse_url(url, "webhook receiver", repr(self._scrub(url)))
        self.target = f"webhook {_public_url(self._url)}"
        self._timeout = timeout
        self._verify = verify

    def send(self, n: Notification) -> str:
        headers = {
            **self._headers,
            "Idempotency-Key": n.id,
            "X-Kafkascope-Notification-Id": n.id,
        }
        return _post_json(
            url=self._url,
            target=self.target,
            body=webhook_body(n),
            headers=headers,
            timeout=self._timeout,
            verify=self._verify,
            scrub=self._scrub,
        )

    def __repr__(self) -> str:
        return f"WebhookNotifier({self.target!r})"


class SlackNotifier:
    """POSTs :func:`slack_body` to a Slack incoming webhook.

    The webhook URL is the credential: messages name only its host. Slack answers ``ok``;
    its errors (``invalid_payload``, ``invalid_token``, ``channel_not_found``,
    ``channel_is_archived``) come with 4xx codes and are fatal; 429 and 5xx are retried.
    """

    def __init__(
        self, webhook_url: str, timeout: float = 10.0, *, verify: ssl.SSLContext | bool = True
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"slack timeout must be > 0 seconds, got {timeout}")
        self._scrub = _Scrubber([webhook_url])
        self._url = _parse_url(webhook_url, "slack receiver", "the webhook URL (not shown)")
        self.target = f"slack webhook at {self._url.host}"
        self._timeout = timeout
        self._verify = verify

    def send(self, n: Notification) -> str:
        return _post_json(
            url=self._url,
            target=self.target,
            body=slack_body(n),
            headers={},
            timeout=self._timeout,
            verify=self._verify,
            scrub=self._scrub,
        )

    def __repr__(self) -> str:
        return f"SlackNotifier({self.target!r})"


# ------------------------------------------------------------------------- e-mail


def _reply_text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return _one_line(text, _ANSWER_CHARS)


class EmailNotifier:
    """Sends :func:`email_subject` / :func:`email_text` as a plain-text e-mail over SMTP.

    With ``starttls`` the connection is upgraded before anything else is said (and the
    server's certificate checked against ``ssl_context``, the system's trust store by
    default); with a ``username`` the client logs in (AUTH), after STARTTLS. The
    ``Message-ID`` is derived from the notification id, so mail systems that deduplicate
    by Message-ID drop a duplicate sent after a crash.
    """

    def __init__(
        self,
        host: str,
        port: int,
        starttls: bool,
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
        self._host = host
        self._port = port
        self._starttls = starttls
        self._username = username
        self._password = password
        self._sender = sender
        self._recipients = tuple(recipients)
        self._timeout = timeout
        self._ssl_context = ssl_context
        self._scrub = _Scrubber([password])
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
                f"{e}. Fix: use a server or port that offers it, or change starttls/username"
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
        with smtplib.SMTP(self._host, self._port, timeout=self._timeout) as smtp:
            smtp.ehlo()
            if self._starttls:
                if not smtp.has_extn("starttls"):
                    raise self._fatal(
                        "the server does not offer STARTTLS. Fix: use its submission port "
                        "(587) or set starttls = false if the network path is trusted"
                    )
                context = self._ssl_context or ssl.create_default_context()
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

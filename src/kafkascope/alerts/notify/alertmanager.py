"""Alertmanager as a receiver: alerts POSTed to its v2 API (``/api/v2/alerts``).

kafkascope then plays the part Prometheus plays for Alertmanager: it owns the alerts'
state and Alertmanager groups, silences, inhibits and routes them. What Alertmanager
expects of a sender, and how kafkascope meets it:

* **Identity is the label set.** ``alertname`` = the rule, ``severity``, and the alert's
  own labels (``cluster`` and the subject: ``group``, ``topic``, ``broker``...). Label
  names Alertmanager would refuse are rewritten (``[^A-Za-z0-9_]`` → ``_``); empty values
  are left out (in Prometheus an empty label is no label).
* **A firing alert is re-posted while it fires.** Alertmanager resolves an alert whose
  ``endsAt`` has passed. Each post of a firing alert says ``endsAt`` = the time of the
  post + ``4 × resend_interval`` (Prometheus's own rule), and the runner re-posts it every
  ``resend_interval`` (``alerts/resend``), through the outbox like every notification. So
  Alertmanager keeps it active while kafkascope says so, whatever its ``resolve_timeout``,
  and lets it lapse by itself a few minutes after kafkascope stops saying so (kafkascope
  stopped, or cannot reach it).
* **Resolution** is one more post with ``endsAt`` = when kafkascope saw it resolve.
* ``startsAt`` = when the episode began (``active_since``); ``generatorURL`` = the alert
  in kafkascope's console (``/ui/alerts``).

A post of the same labels is idempotent in Alertmanager (it merges it into the alert it
has), so the rare duplicate the outbox may send after a crash is harmless.
"""

from __future__ import annotations

import base64
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from kafkascope.alerts.alert import Notification
from kafkascope.alerts.notify.base import Scrubber, iso
from kafkascope.alerts.notify.http import parse_url, post_json, public_url

__all__ = [
    "ALERTMANAGER_PATH",
    "DEFAULT_RESEND_INTERVAL",
    "AlertmanagerNotifier",
    "alertmanager_alert",
    "am_label_name",
]

#: Where Alertmanager's v2 API takes alerts, below its base URL (and route prefix).
ALERTMANAGER_PATH = "/api/v2/alerts"
#: Prometheus re-sends firing alerts every minute (``--rules.alert.resend-delay``).
DEFAULT_RESEND_INTERVAL = 60.0
#: A firing post stays valid this many resend intervals (Prometheus uses 4).
VALID_FOR_RESENDS = 4

_BAD_LABEL_CHARS = re.compile(r"[^A-Za-z0-9_]")


def am_label_name(name: str) -> str:
    """``name`` as a label name Alertmanager accepts (``[A-Za-z_][A-Za-z0-9_]*``)."""
    clean = _BAD_LABEL_CHARS.sub("_", name) or "_"
    return "_" + clean if clean[0].isdigit() else clean


def alertmanager_alert(
    n: Notification, *, sent_at: float, resend_interval: float, console: str
) -> dict[str, Any]:
    """One postable alert of Alertmanager's v2 API for ``n``, posted at ``sent_at``.

    ``console`` is kafkascope's base URL as people reach it (``http://host:port``); the
    ``generatorURL`` points at the alert there. A firing (or repeat) is valid for
    ``VALID_FOR_RESENDS × resend_interval`` after ``sent_at``; a resolution ends at the
    alert's ``resolved_at`` (``n.at`` when it has none).
    """
    a = n.alert
    labels: dict[str, str] = {}
    for key, value in a.labels:
        if value != "":
            labels[am_label_name(key)] = value
    labels["alertname"] = a.rule
    labels["severity"] = a.severity.value
    annotations = {"summary": a.summary or a.rule, "evidence": _evidence(n)}
    starts = a.active_since if a.active_since is not None else a.fired_at
    if n.kind == "resolved":
        ends = a.resolved_at if a.resolved_at is not None else n.at
    else:
        ends = sent_at + VALID_FOR_RESENDS * resend_interval
    query = urllib.parse.urlencode({"state": "resolved" if n.kind == "resolved" else "firing"})
    generator = f"{console.rstrip('/')}/ui/alerts?{query}#alert-{a.fingerprint}"
    body: dict[str, Any] = {
        "labels": labels,
        "annotations": annotations,
        "endsAt": iso(ends),
        "generatorURL": generator,
    }
    if starts is not None:
        body["startsAt"] = iso(min(starts, ends))
    return body


def _evidence(n: Notification) -> str:
    """What was measured, since when, and why notifications are held, in one line."""
    a = n.alert
    parts = []
    if a.last_value is not None:
        parts.append(f"value {a.last_value:g}")
    if a.active_since is not None:
        parts.append(f"active since {iso(a.active_since)}")
    if n.kind == "resolved" and a.resolved_at is not None:
        parts.append(f"resolved at {iso(a.resolved_at)}")
    if a.status_note:
        parts.append(a.status_note)
    parts.append(f"kafkascope alert {a.fingerprint}")
    return "; ".join(parts)


class AlertmanagerNotifier:
    """POSTs each notification as a one-alert list to ``{url}/api/v2/alerts``.

    ``url`` is Alertmanager's base URL (with its ``--web.route-prefix`` if it has one).
    Authentication, for an Alertmanager behind a proxy: ``username`` + ``password``
    (HTTP basic) or ``bearer_token``; both are secrets, kept out of every message.
    ``resend_interval`` is how often the runner re-posts a firing alert (see the module
    doc); the runner reads it from this attribute.
    """

    def __init__(
        self,
        url: str,
        *,
        console: str,
        username: str | None = None,
        password: str | None = None,
        bearer_token: str | None = None,
        timeout: float = 10.0,
        resend_interval: float = DEFAULT_RESEND_INTERVAL,
        verify: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not timeout > 0:
            raise ValueError(f"alertmanager timeout must be > 0 seconds, got {timeout}")
        if not resend_interval > 0:
            raise ValueError(
                f"alertmanager resend_interval must be > 0 seconds, got {resend_interval}"
            )
        if bearer_token and (username or password):
            raise ValueError("alertmanager: set either username/password or bearer_token")
        base = parse_url(url, "alertmanager receiver", f"the URL {url!r}")
        if base.userinfo:
            raise ValueError(
                "alertmanager receiver: the URL has user info; give username/password instead"
            )
        self._url = base.copy_with(path=base.path.rstrip("/") + ALERTMANAGER_PATH)
        self.target = f"alertmanager {public_url(base)}"
        self._headers: dict[str, str] = {}
        if bearer_token:
            self._headers["Authorization"] = f"Bearer {bearer_token}"
        elif username is not None:
            pair = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        # The URL is no secret (credentials go in the header, never in the URL): messages
        # name it; the password, the token and the header built from them are hidden.
        self._scrub = Scrubber([password, bearer_token, self._headers.get("Authorization")])
        self.console = console
        self.resend_interval = resend_interval
        self._timeout = timeout
        self._verify = verify
        self._clock = clock

    def send(self, n: Notification) -> str:
        alert = alertmanager_alert(
            n, sent_at=self._clock(), resend_interval=self.resend_interval, console=self.console
        )
        return post_json(
            url=self._url,
            target=self.target,
            body=[alert],
            headers={**self._headers, "X-Kafkascope-Notification-Id": n.id},
            timeout=self._timeout,
            verify=self._verify,
            scrub=self._scrub,
        )

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier({self.target!r})"

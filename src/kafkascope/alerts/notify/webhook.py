"""The generic webhook: a versioned JSON body (``docs/notifications.md``) POSTed to a URL."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

from kafkascope.alerts.alert import Notification
from kafkascope.alerts.notify.base import Scrubber, cluster_of, iso
from kafkascope.alerts.notify.http import parse_url, post_json, public_url

__all__ = ["WEBHOOK_BODY_VERSION", "WebhookNotifier", "webhook_body"]

#: Version of the webhook JSON body; bumped only for incompatible changes.
WEBHOOK_BODY_VERSION = 1


def webhook_body(n: Notification) -> dict[str, Any]:
    """The generic webhook's JSON body (documented in ``docs/notifications.md``)."""
    a = n.alert
    return {
        "version": WEBHOOK_BODY_VERSION,
        "id": n.id,
        "kind": n.kind,
        "at": iso(n.at),
        "cluster": cluster_of(n),
        "alert": {
            "fingerprint": a.fingerprint,
            "rule": a.rule,
            "severity": a.severity.value,
            "state": a.state.value,
            "labels": dict(a.labels),
            "summary": a.summary,
            "value": a.last_value,
            "started_at": iso(a.active_since),
            "fired_at": iso(a.fired_at),
            "resolved_at": iso(a.resolved_at),
            "acked_by": a.acked_by,
            "note": a.status_note,
        },
    }


class WebhookNotifier:
    """POSTs :func:`webhook_body` as JSON to ``url``, with ``headers`` (secrets) added.

    Also sends ``Idempotency-Key`` and ``X-Kafkascope-Notification-Id`` headers holding the
    notification id. Redirects are not followed (a POST that is redirected is a wrong URL).
    The URL is a secret like the headers: messages name only its scheme, host and port.
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
        self._scrub = Scrubber([url, *self._headers.values()])
        self._url = parse_url(url, "webhook receiver", "the URL (not shown: it is a secret)")
        self.target = f"webhook {public_url(self._url)}"
        self._timeout = timeout
        self._verify = verify

    def send(self, n: Notification) -> str:
        headers = {
            **self._headers,
            "Idempotency-Key": n.id,
            "X-Kafkascope-Notification-Id": n.id,
        }
        return post_json(
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

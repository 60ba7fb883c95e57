"""Slack: an incoming-webhook message, coloured by severity, POSTed to the webhook URL."""

from __future__ import annotations

import ssl
from typing import Any

from kafkascope.alerts.alert import Notification
from kafkascope.alerts.notify.base import Scrubber, cluster_of, headline, iso, one_line
from kafkascope.alerts.notify.http import parse_url, post_json, public_url
from kafkascope.model import Severity

__all__ = ["SlackNotifier", "slack_body"]

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
    cluster = cluster_of(n) or "?"
    title = f"{headline(n)} {a.rule} — cluster {cluster}"
    fields = [
        f"*Severity*\n{a.severity.value}",
        f"*Cluster*\n{_slack_escape(cluster)}",
        f"*Started*\n{iso(a.active_since) or '—'}",
    ]
    if resolved:
        fields.append(f"*Resolved*\n{iso(a.resolved_at) or iso(n.at)}")
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
        "text": _slack_escape(f"{title}: {one_line(a.summary, 300)}"),
        "attachments": [{"color": colour, "fallback": title, "blocks": blocks}],
    }


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
        self._scrub = Scrubber([webhook_url])
        self._url = parse_url(webhook_url, "slack receiver", "the webhook URL (not shown)")
        self.target = f"slack webhook at {public_url(self._url)}"
        self._timeout = timeout
        self._verify = verify

    def send(self, n: Notification) -> str:
        return post_json(
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

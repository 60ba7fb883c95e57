"""Config → alerting's working objects: notifiers, rules and routes.

The one place that reads ``[alerts]`` settings into engine types, so the runner and
``kafkascope test-notify`` build receivers the same way and the engine never sees config
models.
"""

from __future__ import annotations

import socket

from kafkascope.alerts.alert import Matcher
from kafkascope.alerts.notify import (
    AlertmanagerNotifier,
    EmailNotifier,
    Notifier,
    SlackNotifier,
    WebhookNotifier,
)
from kafkascope.alerts.overrides import apply_overrides
from kafkascope.alerts.pack import BUILTIN_RULES, RuleSpec
from kafkascope.alerts.routing import Route
from kafkascope.alerts.user_rules import UserRule
from kafkascope.config import (
    AlertmanagerReceiver,
    AlertsConfig,
    EmailReceiver,
    SlackReceiver,
    WebhookReceiver,
)
from kafkascope.model import Severity

__all__ = ["build_notifiers", "build_routes", "build_rules", "console_url"]


def build_notifiers(alerts: AlertsConfig, console: str = "") -> dict[str, Notifier]:
    """One notifier per configured receiver (secrets revealed only here). ``console`` is
    kafkascope's base URL as people reach it (:func:`console_url`), for links back."""
    out: dict[str, Notifier] = {}
    for r in alerts.receivers:
        if isinstance(r, WebhookReceiver):
            out[r.name] = WebhookNotifier(
                r.url.reveal(), {k: v.reveal() for k, v in r.headers.items()}, r.timeout
            )
        elif isinstance(r, SlackReceiver):
            out[r.name] = SlackNotifier(r.webhook_url.reveal(), r.timeout)
        elif isinstance(r, EmailReceiver):
            out[r.name] = EmailNotifier(
                r.host,
                r.port,
                r.tls,
                r.username,
                r.password.reveal() if r.password else None,
                r.from_,
                list(r.to),
                r.timeout,
            )
        elif isinstance(r, AlertmanagerReceiver):
            out[r.name] = AlertmanagerNotifier(
                r.url,
                console=console or "http://127.0.0.1:8321",
                username=r.username,
                password=r.password.reveal() if r.password else None,
                bearer_token=r.bearer_token.reveal() if r.bearer_token else None,
                timeout=r.timeout,
                resend_interval=r.resend_interval,
            )
    return out


def console_url(listen: str) -> str:
    """``http://HOST:PORT`` of ``[service] listen``; a wildcard address (``0.0.0.0``,
    ``::``) becomes this machine's host name, which others can resolve."""
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}"


def build_rules(alerts: AlertsConfig) -> tuple[tuple[RuleSpec, ...], tuple[UserRule, ...]]:
    """The built-in pack with config's overrides applied, and the config's own rules."""
    overrides = {
        name: {
            k: v
            for k, v in {
                "severity": o.severity,
                "for": o.for_,
                "threshold": o.threshold,
                "critical_threshold": o.critical_threshold,
                "window": o.window,
                "enabled": o.enabled,
            }.items()
            if v is not None
        }
        for name, o in alerts.rules.items()
    }
    pack = apply_overrides(BUILTIN_RULES, overrides)
    users = tuple(
        UserRule(
            name=c.name,
            metric=c.metric,
            comparator=c.comparator,  # type: ignore[arg-type]
            threshold=c.threshold,
            for_seconds=c.for_,
            severity=c.severity,  # type: ignore[arg-type]
            selector=Matcher.all_equal(c.labels),
            summary=c.summary,
        )
        for c in alerts.custom_rules
    )
    return pack, users


def build_routes(alerts: AlertsConfig) -> list[Route]:
    """The configured routes (every matching route is used, see ``routing``)."""
    return [
        Route(r.receivers, [Severity.parse(x) for x in r.severity] or None, r.cluster, r.labels)
        for r in alerts.routes
    ]

"""``kafkascope test-notify --config FILE ROUTE``: prove a route reaches its receivers.

It sends one test notification straight to each receiver of ROUTE (not through the
outbox: the point is to see the receiver's answer now) and prints what each answered.
ROUTE is a route's ``name``, a receiver's ``name`` (that receiver alone), or ``all``
(every receiver). Exit status: 0 when every receiver took it, 1 when any refused or could
not be reached (each failure says whether the service would retry it), 2 for a bad
config or an unknown ROUTE.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from kafkascope.alerts.alert import Alert, AlertState, Notification, fingerprint
from kafkascope.alerts.setup import build_notifiers, console_url
from kafkascope.cli.options import RequiredConfigOpt
from kafkascope.config import Config, load_config
from kafkascope.errors import ConfigError, NotifyError
from kafkascope.model import Severity

__all__ = ["pick_receivers", "test_notification", "test_notify"]

TEST_RULE = "test_notification"


def pick_receivers(cfg: Config, route: str) -> list[str]:
    """The receiver names ROUTE stands for (see the module doc); ConfigError naming the
    known routes and receivers otherwise."""
    receivers = [r.name for r in cfg.alerts.receivers]
    if not receivers:
        raise ConfigError(
            "the config defines no [[alerts.receivers]]; add one (docs/notifications.md)"
        )
    for r in cfg.alerts.routes:
        if r.name == route:
            return list(dict.fromkeys(r.receivers))
    if route in receivers:
        return [route]
    if route == "all":
        return receivers
    routes = [r.name for r in cfg.alerts.routes if r.name]
    raise ConfigError(
        f"'{route}' names no route and no receiver. Fix: use a route name "
        f"({', '.join(routes) or 'no route has a name: add name = ... to one'}), "
        f"a receiver name ({', '.join(receivers)}) or 'all'"
    )


def test_notification(route: str, cluster: str, severity: Severity, now: float) -> Notification:
    """A firing notification that says plainly it is a test."""
    labels = (("cluster", cluster), ("route", route))
    alert = Alert(
        fingerprint=fingerprint(TEST_RULE, labels),
        rule=TEST_RULE,
        severity=severity,
        labels=labels,
        state=AlertState.FIRING,
        active_since=now,
        pending_since=None,
        fired_at=now,
        resolved_at=None,
        last_notified_at=None,
        last_value=None,
        summary=f"Test notification from 'kafkascope test-notify' for route '{route}'; "
        "no action needed",
    )
    return Notification("firing", alert, now)


def test_notify(
    route: Annotated[str, typer.Argument(help="A route name, a receiver name, or 'all'.")],
    config: RequiredConfigOpt,
    severity: Annotated[
        str, typer.Option("--severity", help="Severity of the test alert.")
    ] = "warning",
) -> None:
    """Send a test notification to ROUTE's receivers and show what each answered."""
    cfg = load_config(config)
    try:
        sev = Severity.parse(severity)
    except ValueError as e:
        raise ConfigError(f"--severity {e}") from e
    names = pick_receivers(cfg, route)
    notifiers = build_notifiers(cfg.alerts, console_url(cfg.service.listen))
    cluster = cfg.clusters[0].name if cfg.clusters else "kafkascope"
    n = test_notification(route, cluster, sev, time.time())
    failed = 0
    for name in names:
        try:
            answer = notifiers[name].send(n)
        except NotifyError as e:
            failed += 1
            why = (
                "retryable: the service would keep trying"
                if e.retryable
                else "permanent: fix the receiver or its config"
            )
            typer.echo(f"{name}: FAILED ({why}): {e}")
            continue
        typer.echo(f"{name}: delivered; the receiver answered: {answer or '(nothing)'}")
    if failed:
        raise typer.Exit(1)

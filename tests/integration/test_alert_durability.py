"""Alerting's promises under faults, on the real parts: the alert runner (engine, routes
from config, outbox) over a real SQLite store, delivering to real HTTP receivers on
loopback. Faults are real too: a trigger that makes SQLite refuse a write, a database
that has run out of pages. Time is a ``FakeClock`` the tests move; waits use deadlines.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkascope.alerts.alert import AlertState, Finding, make_labels
from kafkascope.alerts.runner import AlertRunner
from kafkascope.clock import FakeClock
from kafkascope.config import Config, load_config
from kafkascope.model import Severity
from kafkascope.store.db import Database
from tests.receivers import HttpReceiver

T0 = 1_700_000_000.0
REPEAT = 3600.0
RULE = "request_handler_idle"  # a built-in rule with a warning and a critical level
LABELS = make_labels(cluster="prod", broker=1)


def config(tmp_path: Path, receivers: dict[str, HttpReceiver], routes: str = "") -> Config:
    """A one-cluster config (nothing is polled here) with a webhook per receiver."""
    text = (
        f'[service]\ndata_dir = "{tmp_path}"\n\n'
        '[[clusters]]\nname = "prod"\nbootstrap = "127.0.0.1:1"\n\n'
        f'[alerts]\nrepeat_interval = "{REPEAT:g}s"\n'
        f'[alerts.rules.{RULE}]\nfor = "0s"\n'
    )
    for name, r in receivers.items():
        text += f'\n[[alerts.receivers]]\nkind = "webhook"\nname = "{name}"\nurl = "{r.url}"\n'
    path = tmp_path / "kafkascope.toml"
    path.write_text(text + routes)
    return load_config(path, env={})


def idle(severity: Severity) -> Finding:
    return Finding(RULE, severity, LABELS, 0.05, "broker 1 of prod: request handlers busy")


def kinds(receiver: HttpReceiver) -> list[tuple[str, str]]:
    """(kind, severity) of every notification the receiver got, in order."""
    return [(b["kind"], b["alert"]["severity"]) for b in receiver.bodies()]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "kafkascope.db")
    yield database
    database.close()


# ------------------------------------------------------------------ item 8: downgrades


SEVERITY_ROUTES = """
[[alerts.routes]]
severity = ["critical"]
receivers = ["pager"]

[[alerts.routes]]
severity = ["warning"]
receivers = ["team"]

[[alerts.routes]]
severity = ["info"]
receivers = ["other"]
"""


def test_a_downgraded_alert_resolves_on_every_route_that_heard_it_fire(
    tmp_path: Path, db: Database, start_http: Any
) -> None:
    """Critical at t=0 pages; it calms to warning, and the repeat an hour later goes to the
    warning route (the team now hears of it); then it clears. Both the pager (told
    "critical firing") and the team (told "warning repeat") must hear "resolved": each
    was told it fires, and nobody else was."""
    pager, team, other = start_http(), start_http(), start_http()
    cfg = config(tmp_path, {"pager": pager, "team": team, "other": other}, SEVERITY_ROUTES)
    clock = FakeClock(T0)
    runner = AlertRunner(cfg, db, clock)

    assert [n.kind for n in runner.step([idle(Severity.CRITICAL)], T0)] == ["firing"]
    assert runner.step([idle(Severity.WARNING)], T0 + 10) == []  # a downgrade says nothing
    assert [n.kind for n in runner.step([idle(Severity.WARNING)], T0 + REPEAT)] == ["repeat"]
    assert [n.kind for n in runner.step([], T0 + REPEAT + 10)] == ["resolved"]
    clock.advance(REPEAT + 20)
    runner.deliver()

    assert kinds(pager) == [("firing", "critical"), ("resolved", "warning")]
    assert kinds(team) == [("repeat", "warning"), ("resolved", "warning")]
    assert kinds(other) == []
    [alert] = runner.engine.alerts()
    assert alert.state is AlertState.RESOLVED


def test_an_escalated_alert_resolves_on_the_warning_route_too(
    tmp_path: Path, db: Database, start_http: Any
) -> None:
    """Warning firing (the team is told), then critical (the pager is told): when it
    clears, both hear it, though the alert ends critical."""
    pager, team, other = start_http(), start_http(), start_http()
    receivers = {"pager": pager, "team": team, "other": other}
    runner = AlertRunner(config(tmp_path, receivers, SEVERITY_ROUTES), db, FakeClock(T0))
    runner.step([idle(Severity.WARNING)], T0)
    runner.step([idle(Severity.CRITICAL)], T0 + 10)
    runner.step([], T0 + 20)
    runner.outbox.deliver_due(now=T0 + 30)
    assert kinds(team) == [("firing", "warning"), ("resolved", "critical")]
    assert kinds(pager) == [("firing", "critical"), ("resolved", "critical")]
    assert kinds(other) == []  # info only: never told it fires

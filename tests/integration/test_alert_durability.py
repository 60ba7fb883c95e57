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
from kafkascope.alerts.notify import WebhookNotifier
from kafkascope.alerts.outbox import DeliveryBackoff, Outbox
from kafkascope.alerts.runner import AlertRunner
from kafkascope.clock import FakeClock
from kafkascope.config import Config, load_config
from kafkascope.model import Severity
from kafkascope.store.db import Database
from tests.integration.test_notifiers import make_notification
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


# ------------------------------------------------------------------ item 17: a failed commit


def refuse_writes(db: Database, table: str) -> None:
    """Make SQLite refuse every insert and update of ``table`` (a real failed write: the
    whole transaction it is part of rolls back)."""

    def install(conn: Any) -> None:
        for op in ("INSERT", "UPDATE"):
            conn.execute(
                f"CREATE TRIGGER refuse_{table}_{op.lower()} BEFORE {op} ON {table} "
                "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
            )

    db.write(install)


def allow_writes(db: Database, table: str) -> None:
    def drop(conn: Any) -> None:
        for op in ("insert", "update"):
            conn.execute(f"DROP TRIGGER refuse_{table}_{op}")

    db.write(drop)


@pytest.mark.parametrize("table", ["outbox", "service_state"])
def test_a_failed_commit_leaves_the_alert_owed_and_it_is_delivered_after_recovery(
    tmp_path: Path, db: Database, start_http: Any, table: str
) -> None:
    """The step's commit (engine state + outbox rows, one transaction) fails, whichever of
    the two tables refuses: the engine must not believe the receivers were told. Once
    writes work again, the next step owes the same "firing", queues it and it arrives."""
    hook = start_http()
    clock = FakeClock(T0)
    runner = AlertRunner(config(tmp_path, {"hook": hook}), db, clock)

    refuse_writes(db, table)
    with pytest.raises(Exception, match="injected write failure"):
        runner.step([idle(Severity.CRITICAL)], T0)
    assert runner.engine.alerts() == []  # nothing of the failed step was applied
    assert runner.outbox.pending() == []

    allow_writes(db, table)
    [n] = runner.step([idle(Severity.CRITICAL)], T0 + 2)
    assert n.kind == "firing"
    [row] = runner.outbox.pending()
    assert row.notification_id == n.id
    clock.advance(3)
    runner.deliver()
    assert [(b["kind"], b["id"]) for b in hook.bodies()] == [("firing", n.id)]
    [alert] = runner.engine.alerts()
    assert alert.notified_severity is Severity.CRITICAL


def test_a_failed_ack_commit_leaves_the_alert_unacknowledged(
    tmp_path: Path, db: Database, start_http: Any
) -> None:
    """An acknowledgement that could not be stored did not happen: the alert keeps its
    repeats (an ack held only in memory would silently vanish at the next restart)."""
    runner = AlertRunner(config(tmp_path, {"hook": start_http()}), db, FakeClock(T0))
    [n] = runner.step([idle(Severity.CRITICAL)], T0)
    refuse_writes(db, "service_state")
    with pytest.raises(Exception, match="injected write failure"):
        runner.ack_alert(n.alert.fingerprint, "alice")
    alert = runner.engine.get(n.alert.fingerprint)
    assert alert is not None and not alert.acked
    allow_writes(db, "service_state")
    assert runner.ack_alert(n.alert.fingerprint, "alice")["acked_by"] == "alice"


# ------------------------------------------------------------------ item 20: the delivered mark


def refuse_delivered_marks(db: Database) -> None:
    """SQLite refuses to mark an outbox row delivered (everything else still works)."""
    db.write(
        lambda conn: conn.execute(
            "CREATE TRIGGER refuse_mark BEFORE UPDATE ON outbox WHEN NEW.state = 'delivered' "
            "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
        )
    )


def test_a_delivered_mark_that_cannot_commit_does_not_resend_every_cycle(
    db: Database, start_http: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The receiver accepted the notification but the store refuses the "delivered" mark.
    Delivery runs every second; the receiver must get the notification once, not once a
    second, and the mark is retried on the outbox's backoff (2 s, 4 s, 8 s...), not every
    cycle. Once the store takes writes again the mark commits and nothing more is sent.
    A restart while the mark is still unrecorded sends it once more, with the same id:
    the documented at-least-once window."""
    hook = start_http()
    notifiers = {"hook": WebhookNotifier(hook.url, timeout=5)}
    backoff = DeliveryBackoff(initial=2, factor=2, maximum=60, jitter=0)
    outbox = Outbox(db, notifiers, FakeClock(T0), backoff=backoff)
    n = make_notification()
    outbox.add([(n, ["hook"])], now=T0)
    refuse_delivered_marks(db)

    def cycle(at: float) -> object:
        """One run of the delivery job (the scheduler logs an exception and goes on)."""
        try:
            return outbox.deliver_due(now=at)
        except Exception as e:  # noqa: BLE001 - the scheduler survives any exception too
            return e

    with caplog.at_level("WARNING", logger="kafkascope.alerts.outbox"):
        results = [cycle(T0 + s) for s in range(11)]  # 11 cycles, one a second
    assert [b["id"] for b in hook.bodies()] == [n.id]
    assert not [r for r in results if isinstance(r, Exception)], results
    unrecorded = [r for r in caplog.records if "not recorded" in r.getMessage()]
    assert len(unrecorded) == 3  # at 0 s (the send), then retried at 2 s and 6 s; next 14 s
    [row] = outbox.pending()  # the store still says pending: the mark never committed
    assert row.attempts == 0

    db.write(lambda conn: conn.execute("DROP TRIGGER refuse_mark"))
    assert outbox.deliver_due(now=T0 + 13) == []  # nothing to send; the mark waits for 14 s
    assert outbox.pending() != []
    assert outbox.deliver_due(now=T0 + 14) == []  # the backed-off mark commits
    assert outbox.pending() == []
    [done] = outbox.history()
    assert (done.state, done.notification_id, done.attempts) == ("delivered", n.id, 1)
    assert outbox.deliver_due(now=T0 + 100) == []
    assert len(hook.requests) == 1


def test_a_retry_that_cannot_be_recorded_still_waits_its_backoff(
    db: Database, start_http: Any
) -> None:
    """The receiver answers 503 (retry later) and the store refuses to record the retry:
    the row must still wait its backoff (2 s, 4 s...) rather than be sent every cycle."""
    hook = start_http()
    hook.replies += [(503, "busy")] * 20
    backoff = DeliveryBackoff(initial=2, factor=2, maximum=60, jitter=0)
    outbox = Outbox(
        db, {"hook": WebhookNotifier(hook.url, timeout=5)}, FakeClock(T0), backoff=backoff
    )
    outbox.add([(make_notification(), ["hook"])], now=T0)
    db.write(
        lambda conn: conn.execute(
            "CREATE TRIGGER refuse_updates BEFORE UPDATE ON outbox "
            "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
        )
    )
    for s in range(11):
        outbox.deliver_due(now=T0 + s)
    assert len(hook.requests) == 3  # at 0 s, 2 s and 6 s; the next is due at 14 s

"""``kafkascope serve`` as a real process against store faults: a write that keeps failing,
a file that is not a database, two services on one data directory.

The service here watches a cluster that does not answer (a loopback port nobody listens
on): what is tested is the store and alerting around it, which run the same either way,
so these tests need no sandbox.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from kafkascope.alerts.alert import Alert, AlertState, Notification, make_labels
from kafkascope.alerts.notify import WebhookNotifier
from kafkascope.alerts.outbox import Outbox
from kafkascope.clock import SystemClock
from kafkascope.model import Severity
from kafkascope.sandbox.procs import free_port
from kafkascope.store.db import Database
from tests.e2e.conftest import ServiceProc
from tests.support import wait_until


def write_config(tmp_path: Path, data_dir: Path, port: int, extra: str = "") -> Path:
    """A service on ``port`` watching a cluster nobody serves, storing in ``data_dir``."""
    path = tmp_path / f"kafkascope-{port}.toml"
    path.write_text(
        f'[service]\ndata_dir = "{data_dir}"\nlisten = "127.0.0.1:{port}"\n\n'
        f'[[clusters]]\nname = "gone"\nbootstrap = "127.0.0.1:{free_port()}"\n'
        'client_interval = "1s"\nadmin_interval = "1s"\njmx_interval = "1s"\n' + extra
    )
    return path


def service(tmp_path: Path, data_dir: Path, extra: str = "") -> ServiceProc:
    port = free_port()
    return ServiceProc(
        write_config(tmp_path, data_dir, port, extra), port, tmp_path / f"{port}.log"
    )


def a_firing_notification() -> Notification:
    alert = Alert(
        fingerprint="fp-queued-before-start",
        rule="broker_down",
        severity=Severity.CRITICAL,
        labels=make_labels(cluster="gone", broker=1),
        state=AlertState.FIRING,
        active_since=1_700_000_000.0,
        pending_since=None,
        fired_at=1_700_000_000.0,
        resolved_at=None,
        last_notified_at=1_700_000_000.0,
        last_value=None,
        summary="broker 1 of cluster gone is down",
        notified_severity=Severity.CRITICAL,
    )
    return Notification("firing", alert, 1_700_000_000.0)


def test_rows_already_queued_are_delivered_while_every_evaluation_fails(
    tmp_path: Path, start_http: Any
) -> None:
    """A notification sits in the outbox; the store then refuses the alert job's every
    commit (a trigger on the engine-state table). Delivery is its own job: the queued row
    still reaches the receiver, and /health shows the failing evaluation."""
    hook = start_http()
    data = tmp_path / "data"
    db = Database(data / "kafkascope.db")
    try:
        n = a_firing_notification()
        Outbox(db, {"hook": WebhookNotifier(hook.url)}, SystemClock()).add([(n, ["hook"])])

        def refuse(conn: Any) -> None:
            for op in ("INSERT", "UPDATE"):
                conn.execute(
                    f"CREATE TRIGGER refuse_{op.lower()} BEFORE {op} ON service_state "
                    "BEGIN SELECT RAISE(ABORT, 'injected write failure'); END"
                )

        db.write(refuse)
    finally:
        db.close()

    receiver = f'\n[[alerts.receivers]]\nkind = "webhook"\nname = "hook"\nurl = "{hook.url}"\n'
    svc = service(tmp_path, data, receiver)
    svc.start()
    try:
        wait_until(
            lambda: svc.get("/api/v1/health")["jobs"]["alerts"]["failures"] >= 2,
            30,
            "the alert job to fail on the refused write",
        )
        wait_until(lambda: hook.bodies(), 30, "the queued notification at the receiver")
        assert [b["id"] for b in hook.bodies()] == [n.id]
        health = svc.get("/api/v1/health")
        assert "injected write failure" in health["jobs"]["alerts"]["last_error"]
        assert health["jobs"]["delivery"]["consecutive_failures"] == 0
    finally:
        svc.stop()


def serve_once(config: Path) -> subprocess.CompletedProcess[str]:
    """``kafkascope serve`` that is expected to refuse to start."""
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

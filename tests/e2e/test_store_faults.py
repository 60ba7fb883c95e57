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
from kafkascope.store.history import History, Point
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


def serve_refused(config: Path, timeout: float = 60) -> tuple[int, list[str]]:
    """Run ``kafkascope serve`` that should refuse to start: its exit code and the lines
    of stderr. One that starts instead is stopped, and the test fails."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "kafkascope.cli.main", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        raise AssertionError(f"serve started instead of refusing; stderr:\n{err}") from None
    return proc.returncode, err.splitlines()


def error_lines(stderr: list[str]) -> list[str]:
    """The lines a user is meant to read (log lines carry a timestamp and a level)."""
    assert not any("Traceback" in line for line in stderr), "\n".join(stderr)
    return [line for line in stderr if line.startswith("kafkascope: error:")]


def test_a_file_that_is_not_a_database_is_one_line_with_the_fix(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    store = data / "kafkascope.db"
    store.write_bytes(bytes(range(256)) * 64)  # 16 KiB that are not SQLite
    code, stderr = serve_refused(write_config(tmp_path, data, free_port()))
    assert code == 2
    [line] = error_lines(stderr)
    assert f"the store {store} is corrupt or not a kafkascope database" in line
    assert "move kafkascope.db and its -wal and -shm files" in line
    assert "restore them from a backup" in line
    assert store.read_bytes() == bytes(range(256)) * 64  # left as it was, for the user


def test_damaged_pages_are_found_by_the_start_check(tmp_path: Path) -> None:
    """A real store whose file header is intact but some pages are overwritten: SQLite
    opens it, so only the check at start (quick_check) can say so before a job trips on it
    mid-run."""
    data = tmp_path / "data"
    store = data / "kafkascope.db"
    db = Database(store)
    try:
        points = [Point(f"m{i % 40}", (("k", str(i % 7)),), 1e9 + i, i) for i in range(20_000)]
        History(db).append(points)
        page = db.read(lambda c: int(c.execute("PRAGMA page_size").fetchone()[0]))
    finally:
        db.close()  # the last connection's close checkpoints the WAL into the file
    assert not Path(f"{store}-wal").exists()
    raw = bytearray(store.read_bytes())
    for n in (3, 7, 11):  # b-tree pages of the tables (page 1 holds the header)
        raw[(n - 1) * page : (n - 1) * page + 64] = b"\xff" * 64
    store.write_bytes(bytes(raw))

    code, stderr = serve_refused(write_config(tmp_path, data, free_port()))
    assert code == 2
    [line] = error_lines(stderr)
    assert f"the store {store} is corrupt or not a kafkascope database" in line
    assert "quick_check" in line and "restore them from a backup" in line


def test_a_second_serve_on_the_same_data_dir_refuses_to_start(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = service(tmp_path, data)
    first.start()
    try:
        assert first.proc is not None
        code, stderr = serve_refused(write_config(tmp_path, data, free_port()))
        assert code == 2
        [line] = error_lines(stderr)
        assert f"{data} is in use by another kafkascope serve (pid {first.proc.pid})" in line
        assert "another --data-dir" in line
        assert first.get("/api/v1/health")["status"] in ("ok", "degraded")  # untouched

        first.kill()  # kill -9: the lock goes with the process, nothing stale is left
        again = service(tmp_path, data)
        again.start()
        again.stop()
    finally:
        first.stop()

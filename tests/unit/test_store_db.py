"""The SQLite store on a real file: migrations, the single writer, and kill -9 safety."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from kafkascope.errors import StoreError
from kafkascope.store.db import Database
from kafkascope.store.migrations import MIGRATIONS
from tests.support import wait_until


def test_migrations_apply_once_and_reopen_is_idempotent(tmp_path: Path) -> None:
    db = Database(tmp_path / "k.db")
    assert db.schema_version == len(MIGRATIONS)
    db.close()
    db = Database(tmp_path / "k.db")
    rows = db.read(lambda c: c.execute("SELECT COUNT(*) FROM schema_version").fetchone()[0])
    assert rows == len(MIGRATIONS)
    assert db.read(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    db.close()


def test_a_newer_schema_is_refused_with_a_fix(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    Database(path).close()
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (999)")
    conn.commit()
    conn.close()
    with pytest.raises(StoreError, match=r"schema version 999.*upgrade kafkascope"):
        Database(path)


def test_unwritable_path_names_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="--data-dir"):
        Database(blocker / "sub" / "k.db")


def test_writes_from_many_threads_are_serialised(tmp_path: Path) -> None:
    db = Database(tmp_path / "k.db")
    db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER)"))

    def worker(k: int) -> None:
        for i in range(50):
            v = k * 1000 + i

            def insert(c: sqlite3.Connection, v: int = v) -> None:
                c.execute("INSERT INTO t VALUES (?)", (v,))

            db.write(insert)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert db.read(lambda c: c.execute("SELECT COUNT(DISTINCT n) FROM t").fetchone()[0]) == 400
    db.close()


def test_a_failed_write_rolls_back_and_reaches_the_caller(tmp_path: Path) -> None:
    db = Database(tmp_path / "k.db")
    db.write(lambda c: c.execute("CREATE TABLE t (n INTEGER UNIQUE)"))

    def bad(c: sqlite3.Connection) -> None:
        c.execute("INSERT INTO t VALUES (1)")
        c.execute("INSERT INTO t VALUES (1)")  # violates UNIQUE: the whole batch goes

    with pytest.raises(sqlite3.IntegrityError):
        db.write(bad)
    assert db.read(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0]) == 0
    db.close()


WRITER = """
import sys
from pathlib import Path
from kafkascope.store.db import Database
db = Database(Path(sys.argv[1]))
db.write(lambda c: c.execute("CREATE TABLE IF NOT EXISTS t (n INTEGER)"))
i = 0
while True:
    db.write(lambda c, i=i: c.executemany("INSERT INTO t VALUES (?)", [(i,)] * 100))
    print(i, flush=True)
    i += 1
"""


def test_kill_9_mid_write_never_corrupts_and_keeps_acknowledged_batches(tmp_path: Path) -> None:
    path = tmp_path / "k.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    acked = -1
    try:

        def progressed() -> bool:
            nonlocal acked
            line = proc.stdout.readline() if proc.stdout else ""
            acked = int(line) if line.strip() else acked
            return acked >= 200

        wait_until(progressed, 60, "the writer to commit 200 batches", interval=0)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    batches = conn.execute("SELECT COUNT(DISTINCT n), COUNT(*) FROM t").fetchone()
    conn.close()
    # Every batch the writer reported committed is there, whole (100 rows each).
    assert batches[0] >= acked + 1 and batches[1] == batches[0] * 100


def test_series_renamed_to_base_units_keep_their_history(tmp_path: Path) -> None:
    """Migration 6 (issue 14): a store written before the rename, opened by this version,
    shows the same history under the new names, converted to the new unit (ms → s), in
    raw points and rollups alike; series that were not renamed are left as they were."""
    path = tmp_path / "k.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for version, sql in enumerate(MIGRATIONS[:5], start=1):
        conn.executescript(sql)
        conn.execute("INSERT INTO schema_version VALUES (?)", (version,))
    labels = '[["broker","1"],["cluster","c"],["target","k1:9999"]]'
    for sid, name in (
        (1, "jvm_uptime_ms"),
        (2, "kafka_broker_leaders"),
        (3, "jvm_gc_time_ms_total"),
    ):
        conn.execute("INSERT INTO series VALUES (?, ?, ?)", (sid, name, labels))
        conn.execute("INSERT INTO samples_raw VALUES (?, 100.0, 5000.0)", (sid,))
        conn.execute("INSERT INTO samples_1m VALUES (?, 60, 4000.0, 6000.0, 10000.0, 2)", (sid,))
    conn.commit()
    conn.close()

    db = Database(path)
    assert db.schema_version == len(MIGRATIONS)
    rows = db.read(
        lambda c: c.execute(
            "SELECT s.name, r.value, m.min, m.max, m.sum, m.count FROM series s "
            "JOIN samples_raw r ON r.series_id = s.id JOIN samples_1m m ON m.series_id = s.id "
            "ORDER BY s.id"
        ).fetchall()
    )
    db.close()
    assert rows == [
        ("jvm_uptime_seconds", 5.0, 4.0, 6.0, 10.0, 2),  # ms → s: 5000 ms is 5 s
        ("kafka_broker_leaders", 5000.0, 4000.0, 6000.0, 10000.0, 2),  # not renamed
        ("jvm_gc_time_seconds_total", 5.0, 4.0, 6.0, 10.0, 2),
    ]


def test_every_renamed_series_is_a_current_name() -> None:
    """Migration 6 renames into names the catalog or the series table still produce."""
    from kafkascope.monitor.series import SERIES
    from kafkascope.sources.jmx.catalog import default_catalog
    from kafkascope.store.migrations import RENAMED_SERIES

    current = {m.name for s in default_catalog().sets for _, m in s.metrics()}
    current |= {s.name for s in SERIES}
    assert {new for new, _ in RENAMED_SERIES.values()} <= current
    assert not set(RENAMED_SERIES) & current

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

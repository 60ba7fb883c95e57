"""SQLite, the embedded default store: WAL mode, versioned migrations, one writer thread.

Why one writer: SQLite allows one writer at a time; funnelling writes through one thread
(and one connection) removes "database is locked" retries, and each write batch is one
transaction, so a kill -9 loses at most the batch in flight and never corrupts the file.
Readers get their own connections (one per thread), which WAL lets run beside the writer.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar, cast

from kafkascope.errors import StoreError
from kafkascope.store.migrations import MIGRATIONS

#: The connection a write step runs in, inside the writer's transaction: how the store's
#: repositories are called without their callers importing sqlite3.
Transaction = sqlite3.Connection

T = TypeVar("T")
_STOP = object()


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


class Database:
    """An open store. ``write(fn)`` runs ``fn(conn)`` in one transaction on the writer
    thread; ``read(fn)`` runs it on the calling thread's own read connection."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._writer_conn = _connect(path)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(
                f"cannot open the store at {path}: {e}. Fix: check the --data-dir path "
                "exists and is writable"
            ) from e
        self._migrate()
        self._queue: queue.Queue[object] = queue.Queue()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # -- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        conn = self._writer_conn
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = int(row[0]) if row and row[0] is not None else 0
        if current > len(MIGRATIONS):
            raise StoreError(
                f"the store at {self.path} has schema version {current}, newer than this "
                f"kafkascope knows ({len(MIGRATIONS)}). Fix: upgrade kafkascope or use "
                "another --data-dir"
            )
        for version, sql in enumerate(MIGRATIONS[current:], start=current + 1):
            conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split(sql):
                    conn.execute(statement)
                conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
                conn.execute("COMMIT")
            except sqlite3.Error as e:
                conn.execute("ROLLBACK")
                raise StoreError(f"migration {version} failed on {self.path}: {e}") from e

    @property
    def schema_version(self) -> int:
        return int(
            self.read(lambda c: c.execute("SELECT MAX(version) FROM schema_version").fetchone()[0])
        )

    # -- writes -------------------------------------------------------------------------
    def _run(self) -> None:
        conn = self._writer_conn
        while True:
            item = self._queue.get()
            if item is _STOP:
                break
            fn, fut = cast(tuple[Callable[[sqlite3.Connection], object], cf.Future[object]], item)
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                conn.execute("BEGIN IMMEDIATE")
                result = fn(conn)
                conn.execute("COMMIT")
            except BaseException as e:  # noqa: BLE001 - handed to the caller's future
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                fut.set_exception(e)
            else:
                fut.set_result(result)
        conn.close()

    def submit(self, fn: Callable[[sqlite3.Connection], T]) -> cf.Future[T]:
        """Queue a write; the future resolves once it has committed."""
        fut: cf.Future[T] = cf.Future()
        if not self._thread.is_alive():
            raise StoreError(f"the store at {self.path} is closed")
        self._queue.put((fn, fut))
        return fut

    def write(self, fn: Callable[[sqlite3.Connection], T], timeout: float = 60) -> T:
        """Run a write transaction and wait for it."""
        return self.submit(fn).result(timeout)

    # -- reads --------------------------------------------------------------------------
    def _reader(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path)
            conn.execute("PRAGMA query_only=ON")
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return conn

    def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._reader())

    def close(self) -> None:
        """Finish queued writes, then close every connection."""
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join(timeout=60)
        with self._readers_lock:
            for c in self._readers:
                c.close()
            self._readers.clear()


def _split(sql: str) -> list[str]:
    """Statements of a migration script (they contain no semicolons inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip()]

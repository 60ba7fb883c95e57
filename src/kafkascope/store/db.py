"""SQLite, the embedded default store: WAL mode, versioned migrations, one writer thread.

Why one writer: SQLite allows one writer at a time; funnelling writes through one thread
(and one connection) removes "database is locked" retries, and each write batch is one
transaction, so a kill -9 loses at most the batch in flight and never corrupts the file.
Readers get their own connections (one per thread), which WAL lets run beside the writer.

Opening checks the file before anything reads it (``PRAGMA quick_check``, which reads every
page): a damaged store is refused at start with one line saying so and what to do, rather
than failing a job mid-run. :class:`DataDirLock` keeps a second service off a data
directory in use (two writers would each believe their alert state is the truth).
"""

from __future__ import annotations

import concurrent.futures as cf
import fcntl
import logging
import os
import queue
import sqlite3
import threading
import time
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

log = logging.getLogger(__name__)

#: SQLite's primary result codes that mean "this file is damaged or is not a database".
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
#: The lock file a service holds in its data directory.
LOCK_NAME = "kafkascope.lock"
#: What a failed ``write`` raises (SQLite's errors, a closed store, an OS error or the
#: wait timing out), for callers outside ``store/`` that must survive one.
WRITE_FAILURES: tuple[type[Exception], ...] = (sqlite3.Error, StoreError, OSError)


class CorruptStore(StoreError):
    """The store file is damaged or is not a SQLite database."""


def _corrupt(path: Path, detail: str) -> CorruptStore:
    return CorruptStore(
        f"the store {path} is corrupt or not a kafkascope database ({detail}). Fix: stop "
        f"kafkascope, move {path.name} and its -wal and -shm files out of {path.parent} "
        "(a new, empty store is made at the next start), or restore them from a backup"
    )


def _is_corruption(e: BaseException) -> bool:
    code = getattr(e, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in (_SQLITE_CORRUPT, _SQLITE_NOTADB)


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
            if _is_corruption(e):
                raise _corrupt(path, str(e)) from e
            raise StoreError(
                f"cannot open the store at {path}: {e}. Fix: check the --data-dir path "
                "exists and is writable"
            ) from e
        try:
            self._check()
            self._migrate()
        except BaseException as e:
            self._writer_conn.close()
            if _is_corruption(e):
                raise _corrupt(path, str(e)) from e
            if isinstance(e, sqlite3.Error):
                raise StoreError(f"cannot open the store at {path}: {e}") from e
            raise
        self._queue: queue.Queue[object] = queue.Queue()
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._thread.start()

    # -- schema -------------------------------------------------------------------------
    def _check(self) -> None:
        """``PRAGMA quick_check``: every page read and its structure checked (not the
        indexes against their tables: that is ``integrity_check``, much slower)."""
        started = time.monotonic()
        try:
            problems = [str(r[0]) for r in self._writer_conn.execute("PRAGMA quick_check")]
        except sqlite3.DatabaseError as e:  # pages too damaged to even walk
            if _is_corruption(e):
                raise _corrupt(self.path, f"quick_check: {e}") from e
            raise
        if problems != ["ok"]:
            more = f" and {len(problems) - 1} more" if len(problems) > 1 else ""
            raise _corrupt(self.path, f"quick_check: {problems[0]}{more}")
        log.info("store %s checked in %.1f s", self.path, time.monotonic() - started)

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
                self._roll_back(conn)
                fut.set_exception(e)
            else:
                fut.set_result(result)
        conn.close()

    def _roll_back(self, conn: sqlite3.Connection) -> None:
        """Undo a failed write. SQLite may have rolled back already (a full disk, an I/O
        error); a ROLLBACK that fails too must not end the writer thread, or every later
        write would wait for a thread that is gone."""
        try:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
        except sqlite3.Error as e:
            log.error("store %s: rolling back a failed write failed too: %s", self.path, e)

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


class DataDirLock:
    """An exclusive lock on a data directory, held while a service uses it: an advisory
    ``flock`` on ``LOCK_NAME`` in it, which the kernel drops when the process ends however
    it ends (kill -9 leaves nothing stale). The file holds the owner's pid, for the message
    a second service gets."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise :class:`StoreError` naming the directory and the pid
        that holds it."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise StoreError(
                f"cannot lock the data directory {self.directory}: {e}. Fix: check the "
                "--data-dir path exists and is writable"
            ) from e
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"{self.directory} is in use by another kafkascope serve (pid {holder}). "
                "Fix: stop that one first, or give this one another --data-dir"
            ) from e
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Let go (the file stays: removing it could race a service taking it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def _split(sql: str) -> list[str]:
    """Statements of a migration script (they contain no semicolons inside literals)."""
    return [s.strip() for s in sql.split(";") if s.strip()]

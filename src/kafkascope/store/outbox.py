"""The notification outbox's rows: the SQL behind ``kafkascope.alerts.outbox``.

One row per (notification, receiver), unique on that pair. The delivery logic (ordering,
backoff, giving up) lives with alerting; this module only reads and changes rows, each
function on the connection it is handed: a write function inside the caller's open write
transaction (``Database.write(fn)``), so enqueuing can commit with the alert state.
"""

from __future__ import annotations

import sqlite3
from typing import Literal, NamedTuple

__all__ = [
    "ItemState",
    "OutboxRow",
    "delete_finished_before",
    "insert_pending",
    "mark_delivered",
    "mark_failed",
    "mark_retry",
    "next_due",
    "requeue_failed",
    "select_by_id",
    "select_newest",
    "select_pending",
]


#: A row's state: waiting to be sent (or retried), accepted by its receiver, or given up.
ItemState = Literal["pending", "delivered", "failed"]

_COLUMNS = (
    "id, notification_id, receiver, kind, fingerprint, payload, state, attempts, "
    "next_attempt_at, last_error, response, created_at, delivered_at"
)


class OutboxRow(NamedTuple):
    """One stored row, columns in table order; ``payload`` is the JSON text as stored."""

    id: int
    notification_id: str
    receiver: str
    kind: str
    fingerprint: str
    payload: str
    state: str
    attempts: int
    next_attempt_at: float
    last_error: str | None
    response: str | None
    created_at: float
    delivered_at: float | None


def insert_pending(
    conn: sqlite3.Connection,
    *,
    notification_id: str,
    receiver: str,
    kind: str,
    fingerprint: str,
    payload: str,
    at: float,
) -> int:
    """Queue one row, due at ``at``; 1 when it is new, 0 when that (notification, receiver)
    row already exists (left as it is, whatever its state)."""
    cur = conn.execute(
        "INSERT OR IGNORE INTO outbox (notification_id, receiver, kind, "
        "fingerprint, payload, state, attempts, next_attempt_at, created_at) "
        "VALUES (?, ?, ?, ?, ?, 'pending', 0, ?, ?)",
        (notification_id, receiver, kind, fingerprint, payload, at, at),
    )
    return cur.rowcount


def mark_delivered(conn: sqlite3.Connection, item_id: int, at: float, answer: str) -> None:
    """A pending row was accepted by its receiver (one more attempt, the answer kept)."""
    conn.execute(
        "UPDATE outbox SET state = 'delivered', attempts = attempts + 1, "
        "delivered_at = ?, response = ? WHERE id = ? AND state = 'pending'",
        (at, answer, item_id),
    )


def mark_retry(
    conn: sqlite3.Connection, item_id: int, attempts: int, next_attempt_at: float, error: str
) -> None:
    """A pending row failed and is tried again at ``next_attempt_at``."""
    conn.execute(
        "UPDATE outbox SET attempts = ?, next_attempt_at = ?, last_error = ? "
        "WHERE id = ? AND state = 'pending'",
        (attempts, next_attempt_at, error, item_id),
    )


def mark_failed(conn: sqlite3.Connection, item_id: int, attempts: int, error: str) -> None:
    """A pending row is given up on, with the error that ended it."""
    conn.execute(
        "UPDATE outbox SET state = 'failed', attempts = ?, last_error = ? "
        "WHERE id = ? AND state = 'pending'",
        (attempts, error, item_id),
    )


def _select(conn: sqlite3.Connection, where: str, args: tuple[object, ...] = ()) -> list[OutboxRow]:
    rows = conn.execute(f"SELECT {_COLUMNS} FROM outbox {where}", args).fetchall()
    return [OutboxRow(*r) for r in rows]


def select_pending(conn: sqlite3.Connection) -> list[OutboxRow]:
    """Rows not yet delivered nor failed, oldest first."""
    return _select(conn, "WHERE state = 'pending' ORDER BY id")


def select_newest(
    conn: sqlite3.Connection, limit: int, state: ItemState | None = None
) -> list[OutboxRow]:
    """The newest ``limit`` rows (optionally of one state), newest first."""
    if state is None:
        return _select(conn, "ORDER BY id DESC LIMIT ?", (limit,))
    return _select(conn, "WHERE state = ? ORDER BY id DESC LIMIT ?", (state, limit))


def select_by_id(conn: sqlite3.Connection, item_id: int) -> OutboxRow | None:
    rows = _select(conn, "WHERE id = ?", (item_id,))
    return rows[0] if rows else None


def next_due(conn: sqlite3.Connection) -> float | None:
    """The earliest ``next_attempt_at`` among each receiver's oldest pending row, or None
    when nothing is pending (later rows of a receiver wait behind its head)."""
    row = conn.execute(
        "SELECT MIN(o.next_attempt_at) FROM outbox o JOIN (SELECT MIN(id) AS id "
        "FROM outbox WHERE state = 'pending' GROUP BY receiver) h ON o.id = h.id"
    ).fetchone()
    return None if row is None or row[0] is None else float(row[0])


def requeue_failed(conn: sqlite3.Connection, item_id: int, at: float) -> bool:
    """Put a failed row back in the queue, due at ``at``; False when there is no such
    failed row."""
    cur = conn.execute(
        "UPDATE outbox SET state = 'pending', next_attempt_at = ? "
        "WHERE id = ? AND state = 'failed'",
        (at, item_id),
    )
    return bool(cur.rowcount)


def delete_finished_before(conn: sqlite3.Connection, before: float) -> int:
    """Delete delivered and failed rows created before ``before`` (pending rows are kept
    whatever their age); how many were deleted."""
    cur = conn.execute("DELETE FROM outbox WHERE state != 'pending' AND created_at < ?", (before,))
    return int(cur.rowcount)

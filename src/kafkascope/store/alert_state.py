"""The alert engine's stored state and the silences: the SQL behind alerting's memory.

The engine's state is one JSON document under :data:`ENGINE_STATE_KEY` in
``service_state``; each silence is one row of ``silences``. The write functions take the
connection of an open write transaction (call them from ``Database.write(fn)``), so the
alert runner can commit the engine's state and the outbox rows it owes together.
:func:`read_engine_state_file` is for readers outside the service (``kafkascope alerts``):
it opens the file read-only and never migrates or writes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kafkascope.errors import StoreError

__all__ = [
    "ENGINE_STATE_KEY",
    "StoredEngineState",
    "delete_silence",
    "load_engine_state",
    "load_silences",
    "read_engine_state_file",
    "save_engine_state",
    "save_silence",
]

#: The ``service_state`` key the alert engine's state is stored under.
ENGINE_STATE_KEY = "alert_engine"


@dataclass(frozen=True, slots=True)
class StoredEngineState:
    """The engine's exported state as last committed, and when it was committed."""

    state: dict[str, Any]
    updated_at: float


def save_engine_state(conn: sqlite3.Connection, state: Mapping[str, Any], now: float) -> None:
    """Replace the stored engine state with ``state`` (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
        "updated_at = excluded.updated_at",
        (ENGINE_STATE_KEY, json.dumps(state), now),
    )


def load_engine_state(conn: sqlite3.Connection) -> StoredEngineState | None:
    """The stored engine state, or None before the first evaluation was committed."""
    row = conn.execute(
        "SELECT value, updated_at FROM service_state WHERE key = ?", (ENGINE_STATE_KEY,)
    ).fetchone()
    if row is None:
        return None
    return StoredEngineState(json.loads(row[0]), float(row[1]))


def load_silences(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    """Every stored silence, as the dicts :func:`save_silence` was given."""
    return [json.loads(r[0]) for r in conn.execute("SELECT data FROM silences")]


def save_silence(
    conn: sqlite3.Connection, silence_id: str, data: Mapping[str, Any], expires_at: float
) -> None:
    """Store a new silence (inside the caller's transaction)."""
    conn.execute(
        "INSERT INTO silences (id, data, expires_at) VALUES (?, ?, ?)",
        (silence_id, json.dumps(data), expires_at),
    )


def delete_silence(conn: sqlite3.Connection, silence_id: str) -> None:
    """Remove a silence; no error when there is none with that id."""
    conn.execute("DELETE FROM silences WHERE id = ?", (silence_id,))


def read_engine_state_file(path: Path) -> StoredEngineState | None:
    """:func:`load_engine_state` from the store file at ``path``, opened read-only (a
    reader never blocks the service's writer: the store runs in WAL mode).
    :class:`StoreError` when the file cannot be read."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            return load_engine_state(conn)
        finally:
            conn.close()
    except sqlite3.Error as e:
        raise StoreError(f"cannot read the kafkascope store {path}: {e}") from e

"""The lag monitor's rows: its Burrow windows, end-offset tables and when it saw each group.

Migration 1's ``lag_windows``, ``end_offset_tables`` and ``groups_seen`` tables, keyed by
cluster. The monitor (:mod:`kafkascope.monitor.lag`) encodes each window and table as one
JSON document and hands over only what changed since the last poll; this module holds the
SQL, so a poll's changes are one write transaction and a restart reads them back.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field

from kafkascope.store.db import Database

__all__ = ["LagChanges", "LagWindowStore", "SavedLag"]

#: ``(group, topic, partition, JSON document)``: one partition's commit window.
WindowRow = tuple[str, str, int, str]
#: ``(topic, partition, JSON document)``: one partition's end offsets and lag table.
EndRow = tuple[str, int, str]
#: ``(group, first_seen, last_seen, last_member_seen)``, seconds since the epoch.
SeenRow = tuple[str, float, float, float | None]


@dataclass(frozen=True)
class SavedLag:
    """One cluster's rows as stored (documents undecoded: the monitor decodes them)."""

    windows: list[WindowRow]
    ends: list[EndRow]
    seen: list[SeenRow]


@dataclass
class LagChanges:
    """What one poll changed: rows to upsert (each with its ``updated_at``) and the groups
    and topics to forget."""

    windows: list[tuple[str, str, int, str, float]] = field(default_factory=list)
    ends: list[tuple[str, int, str, float]] = field(default_factory=list)
    seen: list[SeenRow] = field(default_factory=list)
    forget_groups: list[str] = field(default_factory=list)
    forget_topics: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(
            self.windows or self.ends or self.seen or self.forget_groups or self.forget_topics
        )


class LagWindowStore:
    """The lag rows of one cluster in ``db``."""

    def __init__(self, db: Database, cluster: str) -> None:
        self.db = db
        self.cluster = cluster

    def save(self, changes: LagChanges) -> None:
        """Apply one poll's changes in one write transaction (waits for the commit)."""
        if changes:
            self.db.write(lambda conn: _apply(conn, self.cluster, changes))

    def load(self) -> SavedLag:
        """Every row of this cluster, read on the calling thread's connection."""
        cluster = self.cluster

        def read(conn: sqlite3.Connection) -> SavedLag:
            return SavedLag(
                windows=conn.execute(
                    "SELECT group_id, topic, partition, data FROM lag_windows WHERE cluster = ?",
                    (cluster,),
                ).fetchall(),
                ends=conn.execute(
                    "SELECT topic, partition, data FROM end_offset_tables WHERE cluster = ?",
                    (cluster,),
                ).fetchall(),
                seen=conn.execute(
                    "SELECT group_id, first_seen, last_seen, last_member_seen FROM groups_seen "
                    "WHERE cluster = ?",
                    (cluster,),
                ).fetchall(),
            )

        return self.db.read(read)


def _apply(conn: sqlite3.Connection, c: str, changes: LagChanges) -> None:
    conn.executemany(
        "INSERT INTO lag_windows (cluster, group_id, topic, partition, data, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (cluster, group_id, topic, partition) "
        "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        [(c, *row) for row in changes.windows],
    )
    conn.executemany(
        "INSERT INTO end_offset_tables (cluster, topic, partition, data, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster, topic, partition) "
        "DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
        [(c, *row) for row in changes.ends],
    )
    conn.executemany(
        "INSERT INTO groups_seen (cluster, group_id, first_seen, last_seen, "
        "last_member_seen) VALUES (?, ?, ?, ?, ?) ON CONFLICT (cluster, group_id) "
        "DO UPDATE SET first_seen = excluded.first_seen, last_seen = excluded.last_seen, "
        "last_member_seen = excluded.last_member_seen",
        [(c, *row) for row in changes.seen],
    )
    for group in changes.forget_groups:
        conn.execute("DELETE FROM lag_windows WHERE cluster = ? AND group_id = ?", (c, group))
        conn.execute("DELETE FROM groups_seen WHERE cluster = ? AND group_id = ?", (c, group))
    for topic in changes.forget_topics:
        conn.execute("DELETE FROM lag_windows WHERE cluster = ? AND topic = ?", (c, topic))
        conn.execute("DELETE FROM end_offset_tables WHERE cluster = ? AND topic = ?", (c, topic))

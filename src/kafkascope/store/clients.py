"""Who each client was: migration 5's ``clients`` table, one row per (target, kind, client id).

The client monitor (:mod:`kafkascope.monitor.clients`) writes a row whenever a client's
identity or verdict changes, and reads them all back at start. Without them a restarted
service would meet a dead client's JMX port with no name for it: the dead client would
vanish from ``/clients``, its ``client_dead`` alert would be sent as resolved, and a new one
would fire under other labels. ``forgotten_at`` keeps a forgotten client as a tombstone, so
a target that still fails is not shown again until the client behind it is seen alive.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from kafkascope.store.db import Database

__all__ = ["ClientRecord", "ClientStore"]

_COLUMNS = (
    "target, kind, client_id, group_id, host, member_id, first_seen, last_seen, liveness, "
    "reason, since, updated_at, forgotten_at"
)


@dataclass(frozen=True)
class ClientRecord:
    """One client as last judged. ``liveness`` is the verdict's name and ``since`` when that
    verdict began (a DEAD client's ``since`` decides when it is retired); ``first_seen`` /
    ``last_seen`` are when its MBeans were first/last read."""

    target: str
    kind: str
    client_id: str
    group: str | None
    host: str | None
    member_id: str | None
    first_seen: float | None
    last_seen: float | None
    liveness: str
    reason: str
    since: float
    updated_at: float
    forgotten_at: float | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.target, self.kind, self.client_id)


class ClientStore:
    """The client rows of one cluster in ``db``."""

    def __init__(self, db: Database, cluster: str) -> None:
        self.db = db
        self.cluster = cluster

    def save(self, records: Sequence[ClientRecord]) -> None:
        """Upsert ``records`` in one write transaction (waits for the commit)."""
        if not records:
            return
        rows = [
            (
                self.cluster,
                r.target,
                r.kind,
                r.client_id,
                r.group,
                r.host,
                r.member_id,
                r.first_seen,
                r.last_seen,
                r.liveness,
                r.reason,
                r.since,
                r.updated_at,
                r.forgotten_at,
            )
            for r in records
        ]

        def write(conn: sqlite3.Connection) -> None:
            conn.executemany(
                f"INSERT INTO clients (cluster, {_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (cluster, target, kind, client_id) DO UPDATE SET "
                "group_id = excluded.group_id, host = excluded.host, "
                "member_id = excluded.member_id, first_seen = excluded.first_seen, "
                "last_seen = excluded.last_seen, liveness = excluded.liveness, "
                "reason = excluded.reason, since = excluded.since, "
                "updated_at = excluded.updated_at, forgotten_at = excluded.forgotten_at",
                rows,
            )

        self.db.write(write)

    def load(self) -> list[ClientRecord]:
        """Every row of this cluster, tombstones included."""
        cluster = self.cluster

        def read(conn: sqlite3.Connection) -> list[ClientRecord]:
            cur = conn.execute(f"SELECT {_COLUMNS} FROM clients WHERE cluster = ?", (cluster,))
            return [ClientRecord(*row) for row in cur.fetchall()]

        return self.db.read(read)

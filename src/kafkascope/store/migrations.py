"""Versioned schema migrations. Append only: never edit a released step; each list entry
is one version, applied in one transaction."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: lag windows (per group partition) and end-offset/time tables (per partition),
    #    kept as JSON documents so a restart resumes evaluation where it left off.
    """
    CREATE TABLE lag_windows (
        cluster TEXT NOT NULL,
        group_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (cluster, group_id, topic, partition)
    );
    CREATE TABLE end_offset_tables (
        cluster TEXT NOT NULL,
        topic TEXT NOT NULL,
        partition INTEGER NOT NULL,
        data TEXT NOT NULL,
        updated_at REAL NOT NULL,
        PRIMARY KEY (cluster, topic, partition)
    );
    CREATE TABLE groups_seen (
        cluster TEXT NOT NULL,
        group_id TEXT NOT NULL,
        first_seen REAL NOT NULL,
        last_seen REAL NOT NULL,
        last_member_seen REAL,
        PRIMARY KEY (cluster, group_id)
    )
    """,
]

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
    # 2: metric history. Raw points plus 1-minute and 10-minute rollups maintained on
    #    write (min/max/sum/count), so downsampling never needs a batch job and retention
    #    is a cheap DELETE by time per table.
    """
    CREATE TABLE series (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        UNIQUE (name, labels)
    );
    CREATE INDEX series_name ON series (name);
    CREATE TABLE samples_raw (
        series_id INTEGER NOT NULL REFERENCES series (id),
        ts REAL NOT NULL,
        value REAL NOT NULL
    );
    CREATE INDEX samples_raw_series_ts ON samples_raw (series_id, ts);
    CREATE INDEX samples_raw_ts ON samples_raw (ts);
    CREATE TABLE samples_1m (
        series_id INTEGER NOT NULL REFERENCES series (id),
        ts INTEGER NOT NULL,
        min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (series_id, ts)
    ) WITHOUT ROWID;
    CREATE INDEX samples_1m_ts ON samples_1m (ts);
    CREATE TABLE samples_10m (
        series_id INTEGER NOT NULL REFERENCES series (id),
        ts INTEGER NOT NULL,
        min REAL NOT NULL, max REAL NOT NULL, sum REAL NOT NULL, count INTEGER NOT NULL,
        PRIMARY KEY (series_id, ts)
    ) WITHOUT ROWID;
    CREATE INDEX samples_10m_ts ON samples_10m (ts)
    """,
    # 3: the notification outbox (alerts/outbox.py). One row per (notification, receiver);
    #    the UNIQUE pair makes enqueuing the same notification twice a no-op. Rows are
    #    written in the same transaction as the alert state that owes them.
    """
    CREATE TABLE outbox (
        id INTEGER PRIMARY KEY,
        notification_id TEXT NOT NULL,
        receiver TEXT NOT NULL,
        kind TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        payload TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'delivered', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at REAL NOT NULL,
        last_error TEXT,
        response TEXT,
        created_at REAL NOT NULL,
        delivered_at REAL,
        UNIQUE (notification_id, receiver)
    );
    CREATE INDEX outbox_pending ON outbox (state, receiver, id);
    CREATE INDEX outbox_created ON outbox (created_at)
    """,
    # 4: alert engine state (one JSON document, written in the same transaction as the
    #    outbox rows it produced) and silences.
    """
    CREATE TABLE service_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    CREATE TABLE silences (
        id TEXT PRIMARY KEY,
        data TEXT NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    # 5: client identities (store/clients.py): who each JMX client was, its last verdict
    #    and since when, so a restart neither forgets a dead client nor renames it.
    #    ``retired_at``/``forgotten_at`` mark clients retired after long death or forgotten
    #    on request (kept as tombstones until the client is seen alive again).
    """
    CREATE TABLE clients (
        cluster TEXT NOT NULL,
        target TEXT NOT NULL,
        kind TEXT NOT NULL,
        client_id TEXT NOT NULL,
        group_id TEXT,
        host TEXT,
        member_id TEXT,
        first_seen REAL,
        last_seen REAL,
        liveness TEXT NOT NULL,
        reason TEXT NOT NULL,
        since REAL NOT NULL,
        updated_at REAL NOT NULL,
        forgotten_at REAL,
        PRIMARY KEY (cluster, target, kind, client_id)
    )
    """,
]

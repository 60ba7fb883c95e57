"""Versioned schema migrations. Append only: never edit a released step; each list entry
is one version, applied in one transaction."""

from __future__ import annotations

#: Issue 14 (/metrics by the book) renamed series whose labels stayed the same: old name →
#: (new name, factor to the new unit). Series whose labels changed too (a rate's ``window``,
#: a percentile's ``quantile``, a dropped ``status``) are not renamed: their history
#: restarts under the new name (docs/metrics.md).
RENAMED_SERIES: dict[str, tuple[str, float]] = {
    "jvm_gc_time_ms_total": ("jvm_gc_time_seconds_total", 1e-3),
    "jvm_uptime_ms": ("jvm_uptime_seconds", 1e-3),
    "jvm_start_time_ms": ("jvm_start_time_seconds", 1e-3),
    "jvm_process_cpu_load": ("jvm_process_cpu_ratio", 1.0),
    "kafka_broker_bytes_in_total": ("kafka_broker_in_bytes_total", 1.0),
    "kafka_broker_bytes_out_total": ("kafka_broker_out_bytes_total", 1.0),
    "kafka_broker_bytes_rejected_total": ("kafka_broker_rejected_bytes_total", 1.0),
    "kafka_broker_request_total_time_ms_count": ("kafka_broker_request_time_count_total", 1.0),
    "kafka_broker_request_total_time_ms_mean": ("kafka_broker_request_time_mean_seconds", 1e-3),
    "kafka_broker_metadata_last_applied_record_lag_ms": (
        "kafka_broker_metadata_last_applied_record_lag_seconds",
        1e-3,
    ),
    "kafka_controller_last_applied_record_lag_ms": (
        "kafka_controller_last_applied_record_lag_seconds",
        1e-3,
    ),
    "kafka_raft_commit_latency_avg_ms": ("kafka_raft_commit_latency_avg_seconds", 1e-3),
    "kafka_consumer_last_poll_seconds_ago": ("kafka_consumer_last_poll_age_seconds", 1.0),
    "kafka_consumer_last_heartbeat_seconds_ago": (
        "kafka_consumer_last_heartbeat_age_seconds",
        1.0,
    ),
    "kafka_consumer_last_rebalance_seconds_ago": (
        "kafka_consumer_last_rebalance_age_seconds",
        1.0,
    ),
    "kafka_consumer_time_between_poll_max_ms": (
        "kafka_consumer_time_between_poll_max_seconds",
        1e-3,
    ),
    "kafka_consumer_time_between_poll_avg_ms": (
        "kafka_consumer_time_between_poll_avg_seconds",
        1e-3,
    ),
    "kafka_consumer_records_consumed_rate": ("kafka_consumer_records_consumed_per_second", 1.0),
    "kafka_consumer_bytes_consumed_total": ("kafka_consumer_consumed_bytes_total", 1.0),
    "kafka_producer_record_send_rate": ("kafka_producer_records_sent_per_second", 1.0),
    "kafka_producer_record_error_rate": ("kafka_producer_record_errors_per_second", 1.0),
    "kafka_producer_topic_record_send_rate": (
        "kafka_producer_topic_records_sent_per_second",
        1.0,
    ),
    "kafka_producer_topic_record_error_rate": (
        "kafka_producer_topic_record_errors_per_second",
        1.0,
    ),
    "kafka_producer_request_latency_avg_ms": ("kafka_producer_request_latency_avg_seconds", 1e-3),
    "kafka_producer_request_latency_max_ms": ("kafka_producer_request_latency_max_seconds", 1e-3),
    "kafka_producer_metadata_wait_ns_total": ("kafka_producer_metadata_wait_seconds_total", 1e-9),
    "kafkascope_topic_produce_rate": ("kafkascope_topic_produced_records_per_second", 1.0),
}


def _rename_series(renamed: dict[str, tuple[str, float]]) -> str:
    """SQL that converts the stored values of each renamed series (raw points and both
    rollups) to the new unit, then renames the series: charts continue across the
    rename. Names are literals from the table above (no quoting needed: [a-z0-9_])."""
    out = []
    for old, (new, factor) in renamed.items():
        ids = f"(SELECT id FROM series WHERE name = '{old}')"
        if factor != 1.0:
            out.append(
                f"UPDATE samples_raw SET value = value * {factor!r} WHERE series_id IN {ids}"
            )
            for table in ("samples_1m", "samples_10m"):
                out.append(
                    f"UPDATE {table} SET min = min * {factor!r}, max = max * {factor!r}, "
                    f"sum = sum * {factor!r} WHERE series_id IN {ids}"
                )
        out.append(f"UPDATE series SET name = '{new}' WHERE name = '{old}'")
    return ";\n".join(out)


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
    # 6: /metrics by the book (issue 14): series renamed to base units keep their history.
    _rename_series(RENAMED_SERIES),
]

"""The service's own figures for ``/metrics``: its jobs, outbox, store, JMX reads and
telemetry receiver.

Read when ``/metrics`` is scraped, from what the parts already keep (``JobStats``, the
outbox's pending rows, the store's files, each collector's ``TargetFreshness``): measuring
kafkascope costs nothing between scrapes. :class:`OwnSources` is what a backend needs to
have for them; the API renders them when its backend has it (the service does).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from kafkascope.alerts.runner import AlertRunner
from kafkascope.clock import Clock
from kafkascope.monitor.live import LiveState
from kafkascope.monitor.series import (
    JmxFigures,
    JobFigures,
    OutboxFigures,
    OwnFigures,
    TelemetryFigures,
)
from kafkascope.scheduler import Scheduler
from kafkascope.service.builder import ClusterParts
from kafkascope.sources.telemetry_inbox import TelemetryInbox
from kafkascope.store.db import Database

__all__ = ["OwnSources", "own_figures", "store_bytes"]


@runtime_checkable
class OwnSources(Protocol):
    """What the figures are read from (``service.Service`` has all of it)."""

    clock: Clock
    live: LiveState
    scheduler: Scheduler
    parts: dict[str, ClusterParts]
    db: Database | None
    alerts: AlertRunner | None
    telemetry: dict[str, TelemetryInbox]


def store_bytes(db: Path) -> int:
    """Bytes the store takes on disk: the database and its write-ahead log."""
    total = 0
    for path in (db, db.with_name(db.name + "-wal")):
        with contextlib.suppress(FileNotFoundError):  # no WAL between checkpoints
            total += os.stat(path).st_size
    return total


def _outbox(runner: AlertRunner, now: float) -> tuple[OutboxFigures, ...]:
    """Pending rows per receiver; every configured receiver is there (0 when none waits),
    so an empty outbox reads 0 rather than nothing."""
    counts: dict[str, int] = dict.fromkeys(runner.notifiers, 0)
    oldest: dict[str, float] = dict.fromkeys(runner.notifiers, now)
    for item in runner.outbox.pending():
        counts[item.receiver] = counts.get(item.receiver, 0) + 1
        oldest[item.receiver] = min(oldest.get(item.receiver, now), item.created_at)
    return tuple(OutboxFigures(r, counts[r], max(0.0, now - oldest[r])) for r in sorted(counts))


def own_figures(src: OwnSources) -> OwnFigures:
    """Every figure, as of now."""
    now = src.clock.now()
    jobs = tuple(
        JobFigures(
            name,
            j.stats.runs,
            j.stats.failures,
            j.stats.last_duration,
            j.stats.last_success,
        )
        for name, j in sorted(src.scheduler.jobs.items())
    )
    jmx: list[JmxFigures] = []
    for cluster, parts in sorted(src.parts.items()):
        live = src.live.cluster(cluster)
        report = live.brokers if live is not None else None
        node = {b.jmx.target: str(b.id) for b in report.brokers} if report is not None else {}
        for kind, collector in (
            ("broker", parts.brokers.collector),
            ("client", parts.clients.collector),
        ):
            for f in collector.freshness():
                jmx.append(
                    JmxFigures(
                        cluster,
                        f.target,
                        kind,
                        f.last_duration,
                        f.errors,
                        node.get(f.target, "") if kind == "broker" else "",
                    )
                )
    telemetry = tuple(
        TelemetryFigures(cluster, *inbox.figures())
        for cluster, inbox in sorted(src.telemetry.items())
    )
    return OwnFigures(
        jobs=jobs,
        outbox=_outbox(src.alerts, now) if src.alerts is not None else (),
        store_bytes=store_bytes(src.db.path) if src.db is not None else None,
        jmx=tuple(jmx),
        telemetry=telemetry,
    )

"""``kafkascope serve`` as parts with a lifecycle, like Burrow's coordinators.

``Service(config)`` configures: it validates, builds each cluster's monitors and the jobs,
and touches nothing outside (no file, socket, thread or process). ``start()`` starts the
parts in order (the store, alerting, the monitors, the scheduler, then whatever the caller
added, such as the HTTP server) and, if one fails, stops the ones already started in
reverse and raises; ``stop()`` reverses ``start()``. Each monitor runs on its own scheduler
thread, so a dead or frozen target never delays the others. Reports become history through
``monitor.series``, the same table ``/metrics`` is rendered from.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from kafkascope import __version__
from kafkascope.alerts.runner import AlertRunner
from kafkascope.clock import Clock, SystemClock
from kafkascope.config import ClusterConfig, Config
from kafkascope.errors import ConfigError
from kafkascope.monitor.lag_report import LagReport
from kafkascope.monitor.live import ClusterLive, LiveState
from kafkascope.monitor.series import (
    alert_points,
    broker_points,
    broker_samples,
    client_points,
    client_samples,
    lag_points,
    sample_points,
)
from kafkascope.scheduler import Job, Scheduler
from kafkascope.service.builder import (
    ClusterParts,
    build_cluster,
    subscription_of,
    telemetry_inbox,
    telemetry_wire,
)
from kafkascope.sources.jmx import jvm
from kafkascope.store.db import Database, DataDirLock
from kafkascope.store.history import History, Retention

log = logging.getLogger(__name__)

__all__ = ["DELIVERY_INTERVAL", "Lifecycle", "Part", "Service"]

#: How often the outbox is checked for due notifications (a check is one small query).
DELIVERY_INTERVAL = 1.0
#: How often ``[clusters.telemetry] keep_subscription`` checks the subscription.
SUBSCRIPTION_CHECK = 60.0


class Part(Protocol):
    """Something the service starts and stops: ``start`` may fail; ``stop`` must not."""

    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...


class _Step:
    """A part made of two callables."""

    def __init__(self, name: str, start: Callable[[], None], stop: Callable[[], None]) -> None:
        self.name = name
        self._start = start
        self._stop = stop

    def start(self) -> None:
        self._start()

    def stop(self) -> None:
        self._stop()


class Lifecycle:
    """Starts parts in order; on a failure, stops those already started, in reverse, and
    re-raises; ``stop()`` stops what was started, in reverse, once."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self._started: list[Part] = []
        self._lock = threading.Lock()

    def add(self, part: Part) -> None:
        self.parts.append(part)

    def start(self) -> None:
        for part in self.parts:
            try:
                part.start()
            except BaseException:
                log.info(
                    "part %s failed to start; stopping the %d started",
                    part.name,
                    len(self._started),
                )
                self.stop()
                raise
            self._started.append(part)

    def stop(self) -> None:
        with self._lock:
            started, self._started = self._started, []
        for part in reversed(started):
            try:
                part.stop()
            except Exception:
                log.exception("stopping %s failed; going on with the rest", part.name)


def reads_jmx(cfg: ClusterConfig) -> bool:
    """Whether a cluster reads anything over JMX (and so needs a Java runtime): brokers
    with ``source = "jmx"``, or any client endpoints (clients are always JMX)."""
    jmx = cfg.jmx
    brokers = jmx.source == "jmx" and (jmx.broker_port is not None or bool(jmx.brokers))
    c = jmx.clients
    return brokers or bool(c.static or c.file_sd or c.probe_ports)


class Service:
    """kafkascope as a long-running monitor. Also the API's backend (``api.app.Backend``):
    ``live``, ``history``, ``alerts``, the tokens and ``health()``."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        if not config.clusters:
            raise ConfigError(
                "no [[clusters]] configured: nothing to monitor. Fix: add a "
                "[[clusters]] table with name and bootstrap"
            )
        self.config = config
        self.clock = clock or SystemClock()
        self.data_dir = Path(config.service.data_dir)
        self.live = LiveState()
        self.scheduler = Scheduler()
        self.read_tokens = [t.reveal() for t in config.service.read_tokens]
        self.admin_tokens = [t.reveal() for t in config.service.admin_tokens]
        self.db: Database | None = None
        self._dir_lock: DataDirLock | None = None
        self.history: History = None  # type: ignore[assignment]  # set when the store starts
        self.alerts: AlertRunner | None = None
        self.parts: dict[str, ClusterParts] = {}
        #: Each cluster's KIP-714 pushes, filled by the HTTP receiver (``api/telemetry``)
        #: and read by its client monitor.
        self.telemetry = {c.name: telemetry_inbox(c, self.clock) for c in config.clusters}
        #: Each cluster's lag report as polled, before its members' verdicts are joined in
        #: (``live`` holds the joined one); the lock orders the two jobs' swaps.
        self._lag_polled: dict[str, LagReport] = {}
        self._join_lock = threading.Lock()
        self.lifecycle = Lifecycle()
        for part in (
            _Step("store", self._open_store, self._close_store),
            _Step("alerts", self._start_alerts, lambda: None),
            _Step("monitors", self._start_monitors, self._close_monitors),
            _Step("scheduler", self._start_scheduler, self._stop_scheduler),
        ):
            self.lifecycle.add(part)

    def add(self, part: Part) -> None:
        """A part started after the scheduler and stopped before it (the HTTP server)."""
        self.lifecycle.add(part)

    def start(self) -> None:
        self.live.started_at = self.clock.now()
        self.lifecycle.start()

    def stop(self) -> None:
        self.lifecycle.stop()

    # -- parts ---------------------------------------------------------------------------
    def _open_store(self) -> None:
        """Lock the data directory (one service per store), then open and check the store."""
        lock = DataDirLock(self.data_dir)
        lock.acquire()
        try:
            self.db = Database(self.data_dir / "kafkascope.db")
        except BaseException:
            lock.release()
            raise
        self._dir_lock = lock
        r = self.config.service.retention
        self.history = History(self.db, Retention(r.raw, r.one_minute, r.ten_minute))

    def _close_store(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None
        if self._dir_lock is not None:
            self._dir_lock.release()
            self._dir_lock = None

    def _start_alerts(self) -> None:
        assert self.db is not None
        self.alerts = AlertRunner(self.config, self.db, self.clock)
        self.alerts.load()

    def _start_monitors(self) -> None:
        """Build each cluster's monitors (nothing connects until the first poll) and
        resume the lag windows the store holds."""
        for cfg in self.config.clusters:
            parts = build_cluster(cfg, self.clock, self.db, self.telemetry[cfg.name])
            self.parts[cfg.name] = parts
            self.live.clusters[cfg.name] = ClusterLive(cfg.name)
            restored = parts.lag.load()
            log.info("cluster %s: restored %s lag windows", cfg.name, restored)
            known = parts.clients.load()
            log.info("cluster %s: restored %s known clients", cfg.name, known)
        self._say_what_jmx_needs()

    def _say_what_jmx_needs(self) -> None:
        """A host without Java runs everything but JMX: say so once, at start, rather
        than in every target's error."""
        problem = jvm.runtime_problem()
        if problem is None:
            return
        if any(reads_jmx(c) for c in self.config.clusters):
            jvm.warn_missing(problem)
        else:
            log.info(
                "no Java runtime on this host: none is needed while no JMX is configured "
                "(JMX would need a Java runtime 11+)"
            )

    def _close_monitors(self) -> None:
        parts, self.parts = self.parts, {}
        for p in parts.values():
            p.close()

    def _start_scheduler(self) -> None:
        for name, p in self.parts.items():
            cfg = p.cfg
            for kind, interval, poll in (
                ("brokers", cfg.jmx_interval, self._poll_brokers),
                ("lag", cfg.admin_interval, self._poll_lag),
                ("clients", cfg.client_interval, self._poll_clients),
            ):
                job = self._job(name, kind, poll, p)
                self.scheduler.add(Job(f"{kind}:{name}", job, interval))
            if cfg.telemetry.keep_subscription:
                keep = self._job(name, "telemetry", self._keep_subscription, p)
                self.scheduler.add(Job(f"telemetry:{name}", keep, SUBSCRIPTION_CHECK))
        alert_interval = min(
            min(c.client_interval, c.admin_interval, c.jmx_interval) for c in self.config.clusters
        )
        self.scheduler.add(Job("alerts", self._evaluate_alerts, max(1.0, alert_interval)))
        # Delivery is a job of its own: an evaluation that fails (a refused write, a rule
        # error) must not hold back notifications already queued.
        self.scheduler.add(Job("delivery", self._deliver, DELIVERY_INTERVAL, max_backoff=30.0))
        self.scheduler.add(Job("maintenance", self._maintain, 3600.0))
        self.scheduler.start()

    def _stop_scheduler(self) -> None:
        self.scheduler.stop(timeout=30)

    # -- jobs ----------------------------------------------------------------------------
    def _job(
        self, cluster: str, kind: str, poll: Callable[[ClusterParts], None], parts: ClusterParts
    ) -> Callable[[], None]:
        def run() -> None:
            try:
                poll(parts)
            except Exception as e:
                self.live.set_error(cluster, kind, f"{type(e).__name__}: {e}")
                raise
            self.live.set_error(cluster, kind, None)

        return run

    def _poll_brokers(self, p: ClusterParts) -> None:
        r = p.brokers.poll()
        cl = self.live.clusters[p.cfg.name]
        cl.brokers = r
        samples = broker_samples(cl.name, r)
        self.history.append([*sample_points(samples), *broker_points(cl.name, r)])

    def _poll_lag(self, p: ClusterParts) -> None:
        r = p.lag.poll()
        cl = self.live.clusters[p.cfg.name]
        with self._join_lock:  # a group's status includes its members' verdicts
            self._lag_polled[cl.name] = r
            cl.lag = joined = r.with_members(cl.clients)
        self.history.append(lag_points(cl.name, joined))

    def _poll_clients(self, p: ClusterParts) -> None:
        r = p.clients.poll()
        cl = self.live.clusters[p.cfg.name]
        with self._join_lock:
            cl.clients = r
            polled = self._lag_polled.get(cl.name)
            if polled is not None:
                cl.lag = polled.with_members(r)
        # A pushed value goes to history once, with its push's time, not at every poll.
        samples = client_samples(cl.name, r, skip=r.repeated)
        self.history.append([*sample_points(samples), *client_points(cl.name, r)])

    def _keep_subscription(self, p: ClusterParts) -> None:
        """Put the CLIENT_METRICS subscription back when it is missing or differs."""
        wanted = subscription_of(p.cfg)
        wire = telemetry_wire(p.cfg)
        found = wire.subscription(wanted.name)
        if found != wanted:
            wire.alter_subscription(wanted)
            log.info(
                "cluster %s: telemetry subscription %s %s (metrics %s, every %s ms)",
                p.cfg.name,
                wanted.name,
                "created" if found is None else "put back",
                ",".join(wanted.metrics),
                wanted.interval_ms,
            )

    def _evaluate_alerts(self) -> None:
        assert self.alerts is not None
        self.alerts.evaluate(self.live)
        # Charted, not judged: the alert job does not wait behind the writer for it.
        self.history.append_later(alert_points(self.alerts.alert_counts(), self.clock.now()))

    def _deliver(self) -> None:
        assert self.alerts is not None
        self.alerts.deliver()

    def _maintain(self) -> None:
        now = self.clock.now()
        self.history.apply_retention(now)
        if self.alerts is not None:
            self.alerts.outbox.prune(now - 7 * 86400)

    # -- requests from the API -------------------------------------------------------------
    def forget_client(
        self, cluster: str, client_id: str, target: str | None
    ) -> list[dict[str, Any]]:
        """Forget a client at once: stored as forgotten, and out of the live report now
        (the next poll would drop it anyway; a person who just asked should not see it)."""
        parts = self.parts.get(cluster)
        if parts is None:
            return []
        gone = parts.clients.forget(client_id, target)
        keys = {r.key for r in gone}
        cl = self.live.clusters[cluster]
        report = cl.clients
        if report is not None and keys:
            kept = [r for r in report.clients if r.key not in keys]
            cl.clients = dataclasses.replace(report, clients=kept)
        return [
            {"client_id": r.client_id, "kind": r.kind, "target": r.target, "group": r.group}
            for r in gone
        ]

    # -- the API's health ----------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        jobs = {
            name: {
                "runs": j.stats.runs,
                "failures": j.stats.failures,
                "consecutive_failures": j.stats.consecutive_failures,
                "last_success": j.stats.last_success,
                "last_duration": j.stats.last_duration,
                "last_error": j.stats.last_error,
                "interval": j.interval,
            }
            for name, j in self.scheduler.jobs.items()
        }
        ok = all(j["consecutive_failures"] == 0 for j in jobs.values())
        return {
            "status": "ok" if ok else "degraded",
            "version": __version__,
            "started_at": self.live.started_at,
            "jobs": jobs,
        }

"""The composition root: builds every component from config, starts them in order, stops
them in reverse.

Life of a service (Burrow's pattern): ``Service(config)`` configures — validates and builds
everything, touching nothing outside; ``start()`` opens the store, resumes what it holds
(lag windows, alert state), starts the monitor jobs and then the HTTP server; ``stop()``
does the reverse and flushes the store. Each monitor runs on its own scheduler thread, so a
dead or frozen target never delays the others.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from kafkascope import __version__
from kafkascope.alerts.runner import AlertRunner
from kafkascope.clock import Clock, SystemClock
from kafkascope.config import ClusterConfig, Config, split_host_port
from kafkascope.errors import ConfigError, KafkascopeError
from kafkascope.evaluate.liveness import Thresholds
from kafkascope.model import LIVENESS_CODE
from kafkascope.monitor.brokers import BrokerMonitor, BrokerReport
from kafkascope.monitor.clients import ClientMonitor, ClientReport
from kafkascope.monitor.lag import LagMonitor, LagReport
from kafkascope.monitor.live import ClusterLive, LiveState
from kafkascope.scheduler import Job, Scheduler
from kafkascope.sources.discovery import Discovery, parse_port_range
from kafkascope.sources.jmx.collector import JmxCollector
from kafkascope.sources.jmx.connection import JmxEndpoint
from kafkascope.sources.kafka.worker import IsolatedAdmin
from kafkascope.store.db import Database
from kafkascope.store.history import History, Point, Retention

log = logging.getLogger(__name__)


@dataclass
class ClusterParts:
    """One cluster's monitors and the clients they hold."""

    cfg: ClusterConfig
    brokers: BrokerMonitor
    lag: LagMonitor
    clients: ClientMonitor
    admins: list[IsolatedAdmin] = field(default_factory=list)
    collectors: list[JmxCollector] = field(default_factory=list)


class Service:
    """kafkascope as a long-running monitor (``kafkascope serve``)."""

    def __init__(self, config: Config, clock: Clock | None = None) -> None:
        self.config = config
        self.clock = clock or SystemClock()
        self.data_dir = Path(config.service.data_dir)
        self.live = LiveState()
        self.scheduler = Scheduler()
        self.db: Database | None = None
        self.history: History = None  # type: ignore[assignment]  # set by start()
        self.alerts: AlertRunner | None = None
        self.parts: dict[str, ClusterParts] = {}
        self.read_tokens = [t.reveal() for t in config.service.read_tokens]
        self.admin_tokens = [t.reveal() for t in config.service.admin_tokens]
        self._http: Any = None
        self._http_thread: threading.Thread | None = None
        self._stopped = threading.Event()
        if not config.clusters:
            raise ConfigError(
                "no [[clusters]] configured: nothing to monitor. Fix: add a "
                "[[clusters]] table with name and bootstrap"
            )

    # -- building ------------------------------------------------------------------------
    def _build_cluster(self, cfg: ClusterConfig, db: Database) -> ClusterParts:
        props = {k: v for k, v in cfg.librdkafka_config().items() if k != "bootstrap.servers"}

        def admin() -> IsolatedAdmin:
            # librdkafka can crash on a coordinator change (see admin_worker): isolated.
            return IsolatedAdmin(cfg.bootstrap, props, timeout=max(5.0, cfg.admin_interval))

        broker_admin, lag_admin, client_admin = admin(), admin(), admin()
        broker_jmx = JmxCollector(timeout=cfg.jmx_timeout)
        client_jmx = JmxCollector(timeout=cfg.jmx_timeout, max_workers=16)
        user, password = cfg.jmx.client_credentials()
        secret = password.reveal() if password else None

        def endpoint(target: str) -> JmxEndpoint:
            return JmxEndpoint.parse(
                target,
                username=user,
                password=secret,
                ssl=cfg.jmx.ssl,
                registry_ssl=cfg.jmx.registry_ssl,
            )

        c = cfg.jmx.clients
        discovery = Discovery(
            static=list(c.static),
            file_sd=Path(c.file_sd) if c.file_sd else None,
            probe_ports=parse_port_range(c.probe_ports),
        )
        lv = cfg.liveness
        thresholds = Thresholds(
            hung_poll_seconds=lv.hung_poll_seconds,
            max_poll_interval=lv.max_poll_interval,
            producer_stuck_seconds=lv.producer_stuck_seconds,
        )
        return ClusterParts(
            cfg=cfg,
            brokers=BrokerMonitor(cfg, broker_admin, broker_jmx, self.clock),
            lag=LagMonitor(cfg.name, lag_admin, cfg.lag, db, self.clock),
            clients=ClientMonitor(
                cfg.name,
                client_jmx,
                discovery,
                client_admin,
                thresholds,
                self.clock,
                expected_members=dict(lv.expected_members),
                endpoint=endpoint,
            ),
            admins=[broker_admin, lag_admin, client_admin],
            collectors=[broker_jmx, client_jmx],
        )

    # -- jobs ----------------------------------------------------------------------------
    def _job(self, cluster: str, kind: str, fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except Exception as e:
                self.live.set_error(cluster, kind, f"{type(e).__name__}: {e}")
                raise
            self.live.set_error(cluster, kind, None)

        return run

    def _poll_brokers(self, p: ClusterParts) -> None:
        r: BrokerReport = p.brokers.poll()
        self.live.clusters[p.cfg.name].brokers = r
        c = p.cfg.name
        points = [
            Point(s.name, _labels(s.labels, c, s.target), s.timestamp, s.value) for s in r.samples
        ]
        points += [
            Point(
                "kafkascope_broker_up",
                (("broker", str(b.id)), ("cluster", c)),
                r.taken_at,
                1.0 if b.up else 0.0,
            )
            for b in r.brokers
        ]
        points += [
            Point(
                "kafkascope_topic_under_replicated_partitions",
                (("cluster", c), ("topic", t.name)),
                r.taken_at,
                float(t.under_replicated),
            )
            for t in r.topics
        ]
        self.history.append(points)

    def _poll_lag(self, p: ClusterParts) -> None:
        r: LagReport = p.lag.poll()
        self.live.clusters[p.cfg.name].lag = r
        c = p.cfg.name
        points: list[Point] = []
        for g in r.groups.values():
            labels = (("cluster", c), ("group", g.group))
            v = g.verdict
            points.append(
                Point("kafkascope_group_status", labels, r.taken_at, float(int(v.status)))
            )
            points.append(
                Point("kafkascope_group_total_lag", labels, r.taken_at, float(v.total_lag))
            )
            if g.lag_seconds is not None:
                points.append(
                    Point("kafkascope_group_lag_seconds", labels, r.taken_at, g.lag_seconds)
                )
            for pv in v.partitions:
                pl = (
                    ("cluster", c),
                    ("group", g.group),
                    ("partition", str(pv.partition)),
                    ("topic", pv.topic),
                )
                points.append(
                    Point("kafkascope_partition_lag", pl, r.taken_at, float(pv.current_lag))
                )
        self.history.append(points)

    def _poll_clients(self, p: ClusterParts) -> None:
        r: ClientReport = p.clients.poll()
        self.live.clusters[p.cfg.name].clients = r
        c = p.cfg.name
        points = [
            Point(
                "kafkascope_client_liveness",
                tuple(
                    sorted(
                        {
                            "cluster": c,
                            "client_id": row.client_id,
                            "target": row.target or row.host or "",
                            "group": row.group or "",
                        }.items()
                    )
                ),
                r.taken_at,
                float(LIVENESS_CODE[row.liveness]),
            )
            for row in r.clients
        ]
        self.history.append(points)

    def _evaluate_alerts(self) -> None:
        assert self.alerts is not None
        self.alerts.evaluate(self.live)
        self.alerts.deliver()

    def _maintain(self) -> None:
        now = self.clock.now()
        self.history.apply_retention(now)
        if self.alerts is not None:
            self.alerts.outbox.prune(now - 7 * 86400)

    # -- life ----------------------------------------------------------------------------
    def start(self, listen: tuple[str, int] | None = None) -> None:
        self.live.started_at = self.clock.now()
        self.db = Database(self.data_dir / "kafkascope.db")
        r = self.config.service.retention
        self.history = History(self.db, Retention(r.raw, r.one_minute, r.ten_minute))
        self.alerts = AlertRunner(self.config, self.db, self.clock)
        self.alerts.load()
        for cfg in self.config.clusters:
            parts = self._build_cluster(cfg, self.db)
            restored = parts.lag.load()
            log.info("cluster %s: restored %s lag windows", cfg.name, restored)
            self.parts[cfg.name] = parts
            self.live.clusters[cfg.name] = ClusterLive(cfg.name)
            for kind, interval, fn in (
                ("brokers", cfg.jmx_interval, self._poll_brokers),
                ("lag", cfg.admin_interval, self._poll_lag),
                ("clients", cfg.client_interval, self._poll_clients),
            ):
                self.scheduler.add(
                    Job(
                        f"{kind}:{cfg.name}",
                        self._job(cfg.name, kind, lambda f=fn, p=parts: f(p)),
                        interval,
                    )
                )
        alert_interval = min(
            min(c.client_interval, c.admin_interval, c.jmx_interval) for c in self.config.clusters
        )
        self.scheduler.add(Job("alerts", self._evaluate_alerts, max(1.0, alert_interval)))
        self.scheduler.add(Job("maintenance", self._maintain, 3600.0))
        self.scheduler.start()
        self._start_http(listen or _split(self.config.service.listen))

    def _start_http(self, listen: tuple[str, int]) -> None:
        import uvicorn

        from kafkascope.api.app import create_app

        app = create_app(self)
        config = uvicorn.Config(
            app,
            host=listen[0],
            port=listen[1],
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        # uvicorn installs no signal handlers off the main thread: SIGTERM stays ours.
        self._http = server
        self._http_thread = threading.Thread(target=server.run, name="http", daemon=True)
        self._http_thread.start()
        deadline = time.monotonic() + 15
        while not server.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                raise KafkascopeError(
                    f"the HTTP server could not listen on {listen[0]}:{listen[1]}. Fix: free "
                    "the port or pass another --listen HOST:PORT"
                )
            time.sleep(0.05)

    @property
    def url(self) -> str:
        host, port = _split(self.config.service.listen)
        if self._http is not None and self._http.servers:
            sock = self._http.servers[0].sockets[0]
            host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def stop(self) -> None:
        """Reverse order: HTTP, jobs, clients, store."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self._http is not None:
            self._http.should_exit = True
            if self._http_thread is not None:
                self._http_thread.join(10)
        self.scheduler.stop(timeout=30)
        for p in self.parts.values():
            p.clients.close()
            for col in p.collectors:
                col.close()
            for a in p.admins:
                a.close()
        if self.db is not None:
            self.db.close()

    def run_forever(self, listen: tuple[str, int] | None = None) -> None:
        """Start, print where it serves, and run until SIGTERM or SIGINT."""
        stop = threading.Event()

        def on_signal(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        self.start(listen)
        print(
            f"kafkascope {__version__} serving on {self.url} "
            f"(API {self.url}/api/v1, metrics {self.url}/metrics)",
            flush=True,
        )
        try:
            stop.wait()
        finally:
            self.stop()

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


def _labels(
    labels: tuple[tuple[str, str], ...], cluster: str, target: str
) -> tuple[tuple[str, str], ...]:
    d = dict(labels)
    d.setdefault("cluster", cluster)
    d.setdefault("target", target)
    return tuple(sorted(d.items()))


def _split(listen: str) -> tuple[str, int]:
    """``service.listen`` was validated at load; split it the same way."""
    return split_host_port(listen)


def with_overrides(config: Config, listen: str | None, data_dir: Path | None) -> Config:
    """``serve --listen/--data-dir`` win over the file."""
    update: dict[str, Any] = {}
    if listen is not None:
        update["listen"] = listen
    if data_dir is not None:
        update["data_dir"] = data_dir
    if not update:
        return config
    return config.model_copy(update={"service": config.service.model_copy(update=update)})

"""The one builder of a cluster's monitors, used by ``serve`` and by the CLI commands
(``clients``, ``groups``, ``lag``), so a monitor is wired the same way wherever it runs.

Every admin client runs in a worker process (``sources.kafka.worker``: librdkafka can crash
on a coordinator change, and a crash must cost one call, not the program). A monitor owns
the admin and collector built for it and releases them in ``close()``. Building touches
nothing outside: no process is spawned and no connection opened until the first poll.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

from kafkascope.clock import Clock
from kafkascope.config import ClusterConfig, LagConfig
from kafkascope.evaluate.liveness import Thresholds
from kafkascope.monitor.brokers import BrokerMonitor
from kafkascope.monitor.clients import ClientMonitor
from kafkascope.monitor.lag import LagMonitor
from kafkascope.sources.discovery import Discovery, parse_port_range
from kafkascope.sources.jmx.collector import Backoff, JmxCollector
from kafkascope.sources.jmx.connection import JmxEndpoint, JmxTls
from kafkascope.sources.kafka.client_metrics import KafkaWire, Subscription
from kafkascope.sources.kafka.worker import IsolatedAdmin
from kafkascope.sources.telemetry import subscription_metrics
from kafkascope.sources.telemetry_inbox import TelemetryInbox
from kafkascope.store.clients import ClientStore
from kafkascope.store.db import Database

__all__ = [
    "ClusterParts",
    "admin_for",
    "broker_monitor",
    "build_cluster",
    "client_monitor",
    "lag_monitor",
    "subscription_of",
    "telemetry_inbox",
    "telemetry_wire",
    "thresholds_of",
]


@dataclass
class ClusterParts:
    """One cluster's monitors. ``close()`` releases each (and what it owns) in reverse."""

    cfg: ClusterConfig
    brokers: BrokerMonitor
    lag: LagMonitor
    clients: ClientMonitor

    def close(self) -> None:
        for monitor in (self.clients, self.lag, self.brokers):
            monitor.close()


def admin_for(bootstrap: str, properties: Mapping[str, str], timeout: float) -> IsolatedAdmin:
    """An admin client in its own worker process (started at its first call)."""
    return IsolatedAdmin(bootstrap, dict(properties), timeout=timeout)


def _properties(cfg: ClusterConfig) -> dict[str, str]:
    return {k: v for k, v in cfg.librdkafka_config().items() if k != "bootstrap.servers"}


def thresholds_of(cfg: ClusterConfig) -> Thresholds:
    """The liveness bounds a cluster's config sets."""
    lv = cfg.liveness
    return Thresholds(
        hung_poll_seconds=lv.hung_poll_seconds,
        max_poll_interval=lv.max_poll_interval,
        producer_stuck_seconds=lv.producer_stuck_seconds,
        retire_after=lv.retire_after,
    )


def broker_monitor(cfg: ClusterConfig, clock: Clock) -> BrokerMonitor:
    """Brokers and topics from metadata, broker and controller metrics from their JMX (or
    the Jolokia / jmx_exporter endpoint that ``[clusters.jmx] source`` names)."""
    admin = admin_for(cfg.bootstrap, _properties(cfg), max(5.0, cfg.admin_interval))
    jmx = JmxCollector(timeout=cfg.jmx_timeout, source=cfg.jmx.source, http_auth=_http_auth(cfg))
    return BrokerMonitor(cfg, admin, jmx, clock)


def _http_auth(cfg: ClusterConfig) -> tuple[str, str] | None:
    """Basic auth for a Jolokia agent or jmx_exporter: the brokers' JMX credentials."""
    jmx = cfg.jmx
    if jmx.source == "jmx" or jmx.username is None or jmx.password is None:
        return None
    return jmx.username, jmx.password.reveal()


def lag_monitor(
    name: str,
    bootstrap: str,
    properties: Mapping[str, str],
    lag: LagConfig,
    clock: Clock,
    *,
    db: Database | None = None,
    groups: Collection[str] | None = None,
    timeout: float = 10.0,
) -> LagMonitor:
    """Burrow-style lag of one cluster; ``db`` keeps its windows across restarts."""
    admin = admin_for(bootstrap, properties, timeout)
    return LagMonitor(name, admin, lag, db, clock, groups=groups)


def client_monitor(
    cfg: ClusterConfig,
    clock: Clock,
    db: Database | None = None,
    telemetry: TelemetryInbox | None = None,
) -> ClientMonitor:
    """Every producer and consumer: JMX where reachable, KIP-714 pushes where ``telemetry``
    receives them, joined with group membership; ``db`` keeps who each client was across
    restarts.

    Failed client targets are retried at every poll (the backoff is capped below the client
    interval): a refused port costs microseconds, and a JVM that comes back must not wait
    out a minute-long backoff to read ALIVE again."""
    jmx = cfg.jmx
    user, password = jmx.client_credentials()
    secret = password.reveal() if password is not None else None

    def endpoint(target: str) -> JmxEndpoint:
        return JmxEndpoint.parse(
            target,
            username=user,
            password=secret,
            ssl=jmx.ssl,
            registry_ssl=jmx.registry_ssl,
            tls=JmxTls.of(jmx),
        )

    c = jmx.clients
    discovery = Discovery(
        static=list(c.static),
        file_sd=Path(c.file_sd) if c.file_sd else None,
        probe_ports=parse_port_range(c.probe_ports),
    )
    collector = JmxCollector(
        timeout=cfg.jmx_timeout,
        backoff=Backoff(base=0.5, cap=0.9 * cfg.client_interval),
        max_workers=16,
    )
    admin = admin_for(cfg.bootstrap, _properties(cfg), max(5.0, cfg.admin_interval))
    return ClientMonitor(
        cfg.name,
        collector,
        discovery,
        admin,
        thresholds_of(cfg),
        clock,
        expected_members=dict(cfg.liveness.expected_members),
        endpoint=endpoint,
        store=ClientStore(db, cfg.name) if db is not None else None,
        telemetry=telemetry,
    )


def telemetry_inbox(cfg: ClusterConfig, clock: Clock) -> TelemetryInbox:
    """Where the receiver puts a cluster's KIP-714 pushes, with its tokens and limits."""
    t = cfg.telemetry
    return TelemetryInbox(
        cfg.name,
        t.interval,
        tokens=[s.reveal() for s in t.tokens],
        max_push_bytes=t.max_push_bytes,
        clock=clock.now,
    )


def subscription_of(cfg: ClusterConfig, interval: float | None = None) -> Subscription:
    """The ``CLIENT_METRICS`` subscription ``[clusters.telemetry]`` asks for."""
    t = cfg.telemetry
    seconds = t.interval if interval is None else interval
    metrics = subscription_metrics(t.metrics)
    return Subscription(t.subscription, metrics, round(seconds * 1000), tuple(t.match))


def telemetry_wire(cfg: ClusterConfig) -> KafkaWire:
    """The Kafka protocol client that reads and writes the subscription."""
    return KafkaWire(cfg.bootstrap, _properties(cfg), timeout=max(5.0, cfg.admin_interval))


def build_cluster(
    cfg: ClusterConfig,
    clock: Clock,
    db: Database | None = None,
    telemetry: TelemetryInbox | None = None,
) -> ClusterParts:
    """All three monitors of one cluster, as ``serve`` runs them."""
    return ClusterParts(
        cfg=cfg,
        brokers=broker_monitor(cfg, clock),
        lag=lag_monitor(
            cfg.name,
            cfg.bootstrap,
            _properties(cfg),
            cfg.lag,
            clock,
            db=db,
            timeout=max(5.0, cfg.admin_interval),
        ),
        clients=client_monitor(cfg, clock, db, telemetry),
    )

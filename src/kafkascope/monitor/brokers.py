"""Brokers, controllers and topics: cluster metadata over the Kafka protocol joined with each
broker's JMX.

A broker that leaves the metadata (stopped, crashed, fenced) is not forgotten: once seen it
stays in the report, marked down, with its JMX endpoint still tried, because "no news" is
exactly what a dead broker sends.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from kafkascope.clock import Clock, SystemClock
from kafkascope.config import ClusterConfig
from kafkascope.errors import KafkascopeError
from kafkascope.model import Sample
from kafkascope.sources.jmx.broker_targets import BrokerNode, plan_broker_targets
from kafkascope.sources.jmx.collector import CollectResult, JmxCollector, TargetFreshness
from kafkascope.sources.jmx.connection import JmxTls
from kafkascope.sources.kafka.admin import KafkaAdmin, TopicInfo
from kafkascope.sources.kafka.worker import IsolatedAdmin

log = logging.getLogger(__name__)

# The broker metrics shown beside each broker (catalog name → short key).
KEY_METRICS: Mapping[str, str] = {
    "kafka_broker_under_replicated_partitions": "under_replicated_partitions",
    "kafka_broker_under_min_isr_partitions": "under_min_isr_partitions",
    "kafka_broker_offline_replicas": "offline_replicas",
    "kafka_broker_partitions": "partitions",
    "kafka_broker_leaders": "leaders",
    "kafka_broker_request_handler_idle_ratio": "request_handler_idle",
    "kafka_broker_network_processor_idle_ratio": "network_processor_idle",
    "kafka_broker_state": "broker_state",
    "kafka_controller_active": "active_controller",
    "kafka_controller_offline_partitions": "offline_partitions",
    "jvm_heap_used_bytes": "heap_used_bytes",
    "jvm_heap_max_bytes": "heap_max_bytes",
}


@dataclass(frozen=True)
class JmxStatus:
    target: str | None
    reachable: bool | None
    last_success: float | None
    error: str | None
    error_kind: str | None
    failures: int


@dataclass(frozen=True)
class BrokerRow:
    id: int
    host: str | None
    port: int | None
    up: bool  # listed in the cluster metadata now
    controller: bool  # the active KRaft controller (JMX ActiveControllerCount = 1)
    jmx: JmxStatus
    metrics: dict[str, float]
    samples: tuple[Sample, ...] = ()


@dataclass(frozen=True)
class PartitionRow:
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    under_replicated: bool
    offline: bool
    under_min_isr: bool | None
    start_offset: int | None
    end_offset: int | None


@dataclass(frozen=True)
class TopicRow:
    name: str
    internal: bool
    replication_factor: int
    min_insync_replicas: int | None
    partitions: tuple[PartitionRow, ...]
    produce_rate: float | None  # records/s from end-offset growth between polls

    @property
    def under_replicated(self) -> int:
        return sum(p.under_replicated for p in self.partitions)

    @property
    def offline(self) -> int:
        return sum(p.offline for p in self.partitions)

    @property
    def end_offset_sum(self) -> int:
        return sum(p.end_offset or 0 for p in self.partitions)


@dataclass(frozen=True)
class BrokerReport:
    cluster: str
    taken_at: float
    cluster_id: str | None
    brokers: tuple[BrokerRow, ...]
    topics: tuple[TopicRow, ...]
    metadata_error: str | None = None
    samples: tuple[Sample, ...] = ()

    def broker(self, broker_id: int) -> BrokerRow | None:
        return next((b for b in self.brokers if b.id == broker_id), None)


@dataclass
class BrokerMonitor:
    """One cluster's brokers and topics. ``poll`` is called by the scheduler."""

    cfg: ClusterConfig
    admin: KafkaAdmin | IsolatedAdmin
    collector: JmxCollector
    clock: Clock = field(default_factory=SystemClock)
    known: dict[int, BrokerNode] = field(default_factory=dict)
    _targets: dict[int, str] = field(default_factory=dict)
    _last_ends: dict[str, tuple[float, int]] = field(default_factory=dict)

    def close(self) -> None:
        """Release the JMX collector and admin client this monitor was built with."""
        self.collector.close()
        self.admin.close()

    def poll(self) -> BrokerReport:
        now = self.clock.now()
        metadata_error: str | None = None
        in_metadata: set[int] = set()
        cluster_id: str | None = None
        topics: list[TopicInfo] = []
        try:
            info = self.admin.cluster()
            cluster_id = info.cluster_id
            for b in info.brokers:
                self.known[b.id] = BrokerNode(b.id, b.host, b.port)
                in_metadata.add(b.id)
        except KafkascopeError as e:
            metadata_error = str(e)
            log.warning("cluster %s metadata: %s", self.cfg.name, e)
        try:
            topics = self.admin.topics(include_internal=False)
        except KafkascopeError as e:
            metadata_error = metadata_error or str(e)
            log.warning("cluster %s topics: %s", self.cfg.name, e)
        self._retarget()
        results = {r.target: r for r in self.collector.collect()}
        fresh = {f.target: f for f in self.collector.freshness()}
        brokers = tuple(
            self._row(node, node.node_id in in_metadata, results, fresh)
            for node in sorted(self.known.values(), key=lambda n: n.node_id)
        )
        ends: dict[tuple[str, int], int] = {}
        starts: dict[tuple[str, int], int] = {}
        if topics:
            tps = [(t.name, p.partition) for t in topics for p in t.partitions]
            try:
                ends = self.admin.log_offsets(tps, "latest")
                starts = self.admin.log_offsets(tps, "earliest")
            except KafkascopeError as e:
                log.warning("cluster %s log offsets: %s", self.cfg.name, e)
        rows = tuple(self._topic(t, ends, starts, now) for t in topics)
        samples = tuple(s for r in results.values() for s in r.samples)
        return BrokerReport(self.cfg.name, now, cluster_id, brokers, rows, metadata_error, samples)

    def _retarget(self) -> None:
        jmx = self.cfg.jmx
        if jmx.broker_port is None and not jmx.brokers:
            return
        user, password = jmx.username, jmx.password.reveal() if jmx.password else None
        try:
            targets = plan_broker_targets(
                list(self.known.values()),
                jmx.broker_port,
                {int(k): v for k, v in jmx.brokers.items()},
                username=user,
                password=password,
                ssl=jmx.ssl,
                registry_ssl=jmx.registry_ssl,
                tls=JmxTls.of(jmx),
            )
        except KafkascopeError as e:
            log.warning("cluster %s broker JMX targets: %s", self.cfg.name, e)
            return
        for t in targets:
            if t.node_id not in self.known and t.endpoint:
                # Known only from the override map (never in metadata yet): keep it listed.
                self.known[t.node_id] = BrokerNode(t.node_id, t.endpoint.host, 0)
        self._targets = {t.node_id: t.endpoint.target for t in targets}
        self.collector.set_targets([t.endpoint for t in targets])

    def _row(
        self,
        node: BrokerNode,
        up: bool,
        results: Mapping[str, CollectResult],
        fresh: Mapping[str, TargetFreshness],
    ) -> BrokerRow:
        target = self._targets.get(node.node_id)
        res = results.get(target) if target else None
        f = fresh.get(target) if target else None
        samples = res.samples if res is not None and res.ok else ()
        metrics = _key_metrics(samples)
        jmx = JmxStatus(
            target=target,
            reachable=None if f is None else (f.failures == 0 and f.last_success is not None),
            last_success=f.last_success if f else None,
            error=(f.last_error if f and f.failing else None),
            error_kind=(f.error_kind if f and f.failing else None),
            failures=f.failures if f else 0,
        )
        return BrokerRow(
            id=node.node_id,
            host=node.host,
            port=node.port or None,
            up=up,
            controller=metrics.get("active_controller", 0.0) >= 1.0,
            jmx=jmx,
            metrics=metrics,
            samples=tuple(samples),
        )

    def _topic(
        self,
        t: TopicInfo,
        ends: Mapping[tuple[str, int], int],
        starts: Mapping[tuple[str, int], int],
        now: float,
    ) -> TopicRow:
        parts = tuple(
            PartitionRow(
                partition=p.partition,
                leader=p.leader,
                replicas=tuple(p.replicas),
                isr=tuple(p.isr),
                under_replicated=p.under_replicated,
                offline=p.offline,
                under_min_isr=p.under_min_isr,
                start_offset=starts.get((t.name, p.partition)),
                end_offset=ends.get((t.name, p.partition)),
            )
            for p in t.partitions
        )
        total = sum(p.end_offset or 0 for p in parts)
        rate: float | None = None
        prev = self._last_ends.get(t.name)
        if prev is not None and now > prev[0] and total >= prev[1]:
            rate = (total - prev[1]) / (now - prev[0])
        if all(p.end_offset is not None for p in parts):
            self._last_ends[t.name] = (now, total)
        return TopicRow(
            name=t.name,
            internal=t.internal,
            replication_factor=t.replication_factor,
            min_insync_replicas=t.min_insync_replicas,
            partitions=parts,
            produce_rate=rate,
        )


#: Catalog name of the request-latency quantiles; only the ``quantile="0.99"`` sample of
#: ``request=Produce`` is headline (in JMX's ms, as samples are until a surface shows them).
PRODUCE_P99_METRIC = "kafka_broker_request_time_seconds"
#: Catalog name of the broker's total incoming message rate.
MESSAGES_IN_METRIC = "kafka_broker_messages_in_per_second"
#: Catalog name of the JVM's uptime (alerting waits out a broker's warm-up with it; the
#: sample is in JMX's ms).
UPTIME_METRIC = "jvm_uptime_seconds"
#: Every catalog name :func:`headline_metrics` keeps: the union of what the broker rows
#: show (:data:`KEY_METRICS`, produce p99, messages in) and what the alert rules read
#: (those plus the JVM uptime). Each caller picks its own keys from the one extraction.
HEADLINE_METRICS: frozenset[str] = frozenset(
    {*KEY_METRICS, PRODUCE_P99_METRIC, MESSAGES_IN_METRIC, UPTIME_METRIC}
)
# The short keys the broker rows (and the API's /brokers ``metrics``) use beyond KEY_METRICS.
_ROW_KEYS: Mapping[str, str] = {
    **KEY_METRICS,
    PRODUCE_P99_METRIC: "produce_p99_ms",
    MESSAGES_IN_METRIC: "messages_in_per_sec",
}


def headline_metrics(samples: Iterable[Sample]) -> dict[str, float]:
    """The headline figures of one broker by catalog name: broker totals (samples without a
    ``topic`` label) of :data:`HEADLINE_METRICS`, the p99 of Produce requests only.

    The one extraction of a broker's headline figures: the broker rows and the alert rules
    (``alerts/inputs``) both read it, so they cannot disagree on what a figure is."""
    out: dict[str, float] = {}
    for s in samples:
        if s.name not in HEADLINE_METRICS or s.label("topic"):
            continue
        if s.name == PRODUCE_P99_METRIC and (
            s.label("request") != "Produce" or s.label("quantile") != "0.99"
        ):
            continue
        if s.name == MESSAGES_IN_METRIC and s.label("window") != "1m":
            continue
        out[s.name] = s.value
    return out


def _key_metrics(samples: Iterable[Sample]) -> dict[str, float]:
    """The headline figures of one broker under the short keys its row shows."""
    return {_ROW_KEYS[k]: v for k, v in headline_metrics(samples).items() if k in _ROW_KEYS}

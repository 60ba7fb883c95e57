"""The subjects the built-in checks judge: plain dataclasses the alert inputs build from
what the monitors saw (one broker, the cluster's controllers, a consumer group, a client, a
topic), and the catalog metric names the checks read from them.

Named "subjects", not "views", so they are not confused with the API's views.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

from kafkascope.model import Liveness, Status

__all__ = [
    "BrokerMetric",
    "BrokerView",
    "ClientCounter",
    "ClientView",
    "ClusterView",
    "ControllerCounter",
    "ControllerMetric",
    "ControllerView",
    "CounterPoint",
    "GroupView",
    "TopicView",
]

#: ``(timestamp, counter value)``, one reading of a monotonically increasing counter.
CounterPoint = tuple[float, float]


class BrokerMetric:
    """Keys of :attr:`BrokerView.metrics` (gauges, latest reading): the catalog's metric
    names (``sources/catalog/broker.yaml``), so the service fills the map from samples."""

    #: ReplicaManager UnderReplicatedPartitions
    UNDER_REPLICATED: Final = "kafka_broker_under_replicated_partitions"
    #: ReplicaManager UnderMinIsrPartitionCount
    UNDER_MIN_ISR: Final = "kafka_broker_under_min_isr_partitions"
    #: KafkaRequestHandlerPool RequestHandlerAvgIdlePercent, OneMinuteRate (0-1)
    REQUEST_HANDLER_IDLE: Final = "kafka_broker_request_handler_idle_ratio"
    #: RequestMetrics TotalTimeMs 99thPercentile (ms, as JMX gives it; /metrics shows it in
    #: seconds): the sample labelled request=Produce, quantile=0.99
    PRODUCE_P99_MS: Final = "kafka_broker_request_time_seconds"
    #: java.lang Runtime Uptime (ms, as JMX gives it): how long the broker's JVM has run
    UPTIME_MS: Final = "jvm_uptime_seconds"


class ControllerMetric:
    """Keys of :attr:`ControllerView.metrics` (catalog names, ``controller.yaml``)."""

    #: KafkaController ActiveControllerCount
    ACTIVE_CONTROLLER_COUNT: Final = "kafka_controller_active"
    #: KafkaController OfflinePartitionsCount
    OFFLINE_PARTITIONS: Final = "kafka_controller_offline_partitions"


class ControllerCounter:
    """Keys of :attr:`ControllerView.counters` (catalog names)."""

    #: ControllerStats UncleanLeaderElectionsPerSec, Count
    UNCLEAN_ELECTIONS: Final = "kafka_controller_unclean_leader_elections_total"


class ClientCounter:
    """Keys of :attr:`ClientView.counters` (catalog names, ``producer.yaml``)."""

    #: producer-metrics record-error-total
    RECORD_ERRORS: Final = "kafka_producer_record_errors_total"


@dataclass(frozen=True, slots=True)
class BrokerView:
    """One broker as the monitor sees it now.

    ``in_metadata``: listed by the cluster's metadata (the service knows the expected
    brokers from config or from having seen them). ``jmx_reachable``: None when no JMX
    endpoint is configured for it (then only metadata decides "down").
    """

    cluster: str
    broker_id: int
    in_metadata: bool
    jmx_reachable: bool | None
    jmx_error: str | None = None
    jmx_target: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ControllerView:
    """One KRaft controller (or combined node) read over JMX."""

    node_id: int
    jmx_reachable: bool
    jmx_error: str | None = None
    jmx_target: str | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    counters: Mapping[str, Sequence[CounterPoint]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ClusterView:
    """Cluster-wide facts: the controllers' metrics and, when known from metadata, the
    number of partitions without a leader."""

    cluster: str
    controllers: tuple[ControllerView, ...] = ()
    leaderless_partitions: int | None = None


@dataclass(frozen=True, slots=True)
class GroupView:
    """A consumer group's evaluation (built from the lag evaluator's verdict).

    ``status`` is Burrow's group status (worst partition); ``worst`` names the partition
    behind it (e.g. ``"orders-3"``); ``reason`` is the evaluator's explanation.
    ``lag_threshold_seconds`` is the cluster's own threshold for the lag-seconds rule
    (config ``lag_seconds_threshold``), None to use the rule's.
    """

    cluster: str
    group: str
    status: Status
    lag_seconds: float | None = None
    total_lag: int | None = None
    worst: str | None = None
    reason: str = ""
    lag_threshold_seconds: float | None = None


@dataclass(frozen=True, slots=True)
class ClientView:
    """One client's liveness verdict. ``client_id`` plus ``target`` (its JMX endpoint, when
    known) identify it; ``role`` is ``"consumer"`` or ``"producer"``."""

    cluster: str
    client_id: str
    liveness: Liveness
    reason: str = ""
    group: str | None = None
    target: str | None = None
    role: str = "consumer"
    counters: Mapping[str, Sequence[CounterPoint]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TopicView:
    """A topic's producer liveness: ``producers_silent`` when the topic was being written
    to and its log end stopped moving (``reason`` says since when and what was expected)."""

    cluster: str
    topic: str
    producers_silent: bool
    reason: str = ""

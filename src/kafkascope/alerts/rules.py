"""The rule pack: Kafka's built-in alert rules as data, the checks that apply them, user rules.

Rules are data (:class:`RuleSpec`), so config can override any of them by name
(:func:`apply_overrides`) and the docs can print the table. Each built-in rule has one small
named check, a pure function of one *view*: a plain dataclass the service builds from what
the sources and evaluators saw (:class:`BrokerView`, :class:`ClusterView`,
:class:`GroupView`, :class:`ClientView`, :class:`TopicView`). A check returns a
:class:`Finding` when its condition holds *now*; durations (``for``) are the engine's job.

Conventions every check follows:

* a metric that was not read (missing key, ``None``, NaN) finds nothing: "unknown" is not
  "bad", and a target that cannot be read is its own alert (broker down);
* comparisons are strict, as the thresholds are written in the reference: "> 0", "< 0.3";
* counters ("any unclean election", "producer errors") alert on their *increase* over the
  rule's ``window_seconds``, so an old error does not alert forever and a restart of the
  process (counter back to 0) is not a negative increase;
* labels are ``cluster`` plus the subject; the summary names both, what is wrong, and the
  evidence, because it is read at 3 a.m.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from kafkascope.alerts.alert import Finding, Labels, Matcher, make_labels
from kafkascope.alerts.pack import (
    ACTIVE_CONTROLLER_COUNT,
    BROKER_DOWN,
    BUILTIN_RULES,
    CLIENT_DEAD,
    CLIENT_HUNG,
    CLIENT_UNRESPONSIVE,
    CONSUMER_GROUP_LAG_SECONDS,
    CONSUMER_GROUP_STATUS,
    CONSUMER_GROUP_WARN,
    OFFLINE_PARTITIONS,
    PRODUCE_LATENCY_P99,
    PRODUCER_ERRORS,
    REQUEST_HANDLER_IDLE,
    TOPIC_PRODUCERS_SILENT,
    UNCLEAN_LEADER_ELECTION,
    UNDER_MIN_ISR_PARTITIONS,
    UNDER_REPLICATED_PARTITIONS,
    RuleSpec,
)
from kafkascope.errors import ConfigError
from kafkascope.model import Liveness, Severity, Status

__all__ = [
    "BUILTIN_RULES",
    "LATENCY_WARMUP_SECONDS",
    "RULE_SOURCE",
    "USER_RULE_SOURCES",
    "BrokerMetric",
    "BrokerView",
    "ClientCounter",
    "ClientView",
    "ClusterView",
    "Comparator",
    "ControllerCounter",
    "ControllerMetric",
    "ControllerView",
    "CounterPoint",
    "GroupView",
    "MetricSample",
    "RuleOverride",
    "RuleSpec",
    "SampleLike",
    "TopicView",
    "UserRule",
    "apply_overrides",
    "check_active_controller_count",
    "check_broker_down",
    "check_client_dead",
    "check_client_hung",
    "check_client_unresponsive",
    "check_consumer_group_lag_seconds",
    "check_consumer_group_status",
    "check_consumer_group_warn",
    "check_offline_partitions",
    "check_produce_latency_p99",
    "check_producer_errors",
    "check_request_handler_idle",
    "check_topic_producers_silent",
    "check_unclean_leader_election",
    "check_under_min_isr_partitions",
    "check_under_replicated_partitions",
    "counter_increase",
    "evaluate_builtin",
    "evaluate_user_rule",
]


# --------------------------------------------------------------------------------------
# Overrides from config
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleOverride:
    """Config's changes to one built-in rule; ``None`` keeps the default."""

    severity: Severity | None = None
    for_seconds: float | None = None
    threshold: float | None = None
    critical_threshold: float | None = None
    window_seconds: float | None = None
    enabled: bool | None = None


_OVERRIDE_KEYS = {
    "severity": "severity",
    "for": "for_seconds",
    "for_seconds": "for_seconds",
    "threshold": "threshold",
    "critical_threshold": "critical_threshold",
    "window": "window_seconds",
    "window_seconds": "window_seconds",
    "enabled": "enabled",
}


def _override_from_mapping(name: str, data: Mapping[str, Any]) -> RuleOverride:
    kw: dict[str, Any] = {}
    for key, value in data.items():
        field_name = _OVERRIDE_KEYS.get(key)
        if field_name is None:
            valid = ", ".join(sorted(_OVERRIDE_KEYS))
            raise ConfigError(f"alerts.rules.{name}: unknown setting {key!r}; valid: {valid}")
        try:
            if field_name == "severity":
                kw[field_name] = value if isinstance(value, Severity) else Severity.parse(value)
            elif field_name == "enabled":
                if not isinstance(value, bool):
                    raise ValueError(f"expected true or false, got {value!r}")
                kw[field_name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"expected a number, got {value!r}")
                kw[field_name] = float(value)
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"alerts.rules.{name}.{key}: {exc}") from None
    return RuleOverride(**kw)


def apply_overrides(
    pack: Sequence[RuleSpec], overrides: Mapping[str, RuleOverride | Mapping[str, Any]]
) -> tuple[RuleSpec, ...]:
    """The pack with config's overrides applied, by rule name.

    ``overrides`` maps a rule name to a :class:`RuleOverride` or a mapping with any of
    ``severity``, ``for``, ``threshold``, ``critical_threshold``, ``window``, ``enabled``.
    An unknown rule name or setting raises :class:`ConfigError` naming the valid ones.
    """
    known = {r.name: r for r in pack}
    changed: dict[str, RuleSpec] = {}
    for name, raw in overrides.items():
        if name not in known:
            raise ConfigError(
                f"alerts.rules.{name}: no such built-in rule; known rules: "
                f"{', '.join(sorted(known))}"
            )
        ov = raw if isinstance(raw, RuleOverride) else _override_from_mapping(name, raw)
        updates = {
            f.name: getattr(ov, f.name)
            for f in dataclasses.fields(RuleOverride)
            if getattr(ov, f.name) is not None
        }
        try:
            changed[name] = dataclasses.replace(known[name], **updates)
        except ValueError as exc:
            raise ConfigError(f"alerts.rules.{name}: {exc}") from None
    return tuple(changed.get(r.name, r) for r in pack)


# --------------------------------------------------------------------------------------
# Views: what the service hands the checks
# --------------------------------------------------------------------------------------

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
    #: RequestMetrics TotalTimeMs 99thPercentile (ms): the sample labelled request=Produce
    PRODUCE_P99_MS: Final = "kafka_broker_request_total_time_ms_p99"
    #: java.lang Runtime Uptime (ms): how long the broker's JVM has run
    UPTIME_MS: Final = "jvm_uptime_ms"


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


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _num(x: float) -> str:
    """3.0 → "3", 0.05 → "0.05", 1234.5678 → "1234.6": short, no exponent for normal values."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}" if abs(x) < 1 else f"{x:.1f}"


def _gauge(metrics: Mapping[str, float], key: str) -> float | None:
    """The reading under ``key``, or None when it was not read (missing or NaN)."""
    value = metrics.get(key)
    return None if value is None or math.isnan(value) else value


def _plural(n: float, word: str) -> str:
    return f"{_num(n)} {word}{'' if n == 1 else 's'}"


def _duration(seconds: float) -> str:
    if seconds >= 120 and seconds % 60 == 0:
        return f"{_num(seconds / 60)} min"
    return f"{_num(seconds)} s"


def counter_increase(points: Sequence[CounterPoint], now: float, window: float) -> float | None:
    """How much a counter grew over ``(now - window, now]``, or None with too few readings.

    The baseline is the last reading at or before the window start (if any), so growth
    between it and the first reading in the window counts. A drop means the process
    restarted and the counter began again at 0: the new value is growth since then
    (Prometheus' ``increase`` does the same).
    """
    start = now - window
    ordered = sorted(p for p in points if p[0] <= now)
    before = [p for p in ordered if p[0] <= start]
    inside = [p for p in ordered if p[0] > start]
    series = ([before[-1]] if before else []) + inside
    if len(series) < 2:
        return None
    total = 0.0
    for (_, prev), (_, cur) in itertools.pairwise(series):
        total += cur - prev if cur >= prev else cur
    return total


def _escalated(spec: RuleSpec, value: float, worse: Callable[[float, float], bool]) -> Severity:
    if spec.critical_threshold is not None and worse(value, spec.critical_threshold):
        return Severity.CRITICAL
    return spec.severity


def _jmx_phrase(target: str | None, error: str | None) -> str:
    where = f"JMX {target}" if target else "JMX"
    return f"{where} {error}" if error else f"{where} unreachable"


def _finding(spec: RuleSpec, labels: Labels, value: float | None, summary: str) -> Finding:
    return Finding(spec.name, spec.severity, labels, value, summary)


# --------------------------------------------------------------------------------------
# Cluster and controller checks
# --------------------------------------------------------------------------------------


def check_offline_partitions(spec: RuleSpec, view: ClusterView) -> Finding | None:
    """Max of the controllers' OfflinePartitionsCount and the leaderless count from
    metadata > threshold. Every controller reports the figure, so the max is used."""
    sources: list[tuple[float, str]] = []
    for c in view.controllers:
        v = _gauge(c.metrics, ControllerMetric.OFFLINE_PARTITIONS)
        if c.jmx_reachable and v is not None:
            sources.append((v, f"controller {c.node_id}"))
    if view.leaderless_partitions is not None:
        sources.append((float(view.leaderless_partitions), "cluster metadata"))
    if not sources:
        return None
    value, source = max(sources, key=lambda s: s[0])
    if not value > spec.threshold:
        return None
    return _finding(
        spec,
        make_labels(cluster=view.cluster),
        value,
        f"cluster {view.cluster} has {_plural(value, 'offline partition')} (no leader): "
        f"nothing can be produced to or consumed from them (reported by {source})",
    )


def check_active_controller_count(spec: RuleSpec, view: ClusterView) -> Finding | None:
    """Sum of ActiveControllerCount over reachable controllers != threshold (1).

    Unreachable controllers are named in the summary: with a sum of 0 the active one may
    be among them, but either way no controller the monitor can see is in charge.
    """
    readings = [
        (c.node_id, v)
        for c in view.controllers
        if c.jmx_reachable
        and (v := _gauge(c.metrics, ControllerMetric.ACTIVE_CONTROLLER_COUNT)) is not None
    ]
    if not readings:
        return None
    total = sum(v for _, v in readings)
    if total == spec.threshold:
        return None
    per_node = ", ".join(f"{n}={_num(v)}" for n, v in sorted(readings))
    down = [c for c in view.controllers if not c.jmx_reachable]
    unreachable = "".join(
        f"; controller {c.node_id} unreachable ({_jmx_phrase(c.jmx_target, c.jmx_error)})"
        for c in sorted(down, key=lambda c: c.node_id)
    )
    return _finding(
        spec,
        make_labels(cluster=view.cluster),
        total,
        f"cluster {view.cluster} has {_plural(total, 'active controller')} (expected "
        f"exactly {_num(spec.threshold)}): ActiveControllerCount {per_node}{unreachable}",
    )


def check_unclean_leader_election(spec: RuleSpec, view: ClusterView, now: float) -> Finding | None:
    """Increase of UncleanLeaderElectionsPerSec Count, summed over controllers, within the
    rule's window > threshold. Each controller counts the elections it ran."""
    window = spec.window_seconds or 600.0
    increases = [
        counter_increase(c.counters.get(ControllerCounter.UNCLEAN_ELECTIONS, ()), now, window)
        for c in view.controllers
    ]
    known = [i for i in increases if i is not None]
    if not known:
        return None
    total = sum(known)
    if not total > spec.threshold:
        return None
    return _finding(
        spec,
        make_labels(cluster=view.cluster),
        total,
        f"cluster {view.cluster} had {_plural(total, 'unclean leader election')} in the last "
        f"{_duration(window)}: an out-of-sync replica became leader, committed records may "
        "have been lost",
    )


# --------------------------------------------------------------------------------------
# Broker checks
# --------------------------------------------------------------------------------------


def _broker_labels(view: BrokerView) -> Labels:
    return make_labels(cluster=view.cluster, broker=view.broker_id)


def _broker(view: BrokerView) -> str:
    return f"broker {view.broker_id} of cluster {view.cluster}"


def check_broker_down(spec: RuleSpec, view: BrokerView) -> Finding | None:
    """Down = missing from metadata, or its JMX cannot be read (when it has JMX)."""
    problems = []
    if not view.in_metadata:
        problems.append("not in metadata")
    if view.jmx_reachable is False:
        problems.append(_jmx_phrase(view.jmx_target, view.jmx_error))
    if not problems:
        return None
    if view.in_metadata:
        problems.insert(0, "in metadata but")
        text = f"{_broker(view)} cannot be monitored: {' '.join(problems)}"
    else:
        text = f"{_broker(view)} is down: {', '.join(problems)}"
    return _finding(spec, _broker_labels(view), None, text)


def _broker_gauge(
    spec: RuleSpec, view: BrokerView, key: str, what: tuple[str, str], consequence: str
) -> Finding | None:
    """``metric > threshold`` on one broker; ``what`` is the (singular, plural) noun."""
    value = _gauge(view.metrics, key)
    if value is None or not value > spec.threshold:
        return None
    noun = what[0] if value == 1 else what[1]
    text = f"{_broker(view)} has {_num(value)} {noun}: {consequence}"
    return _finding(spec, _broker_labels(view), value, text)


def check_under_min_isr_partitions(spec: RuleSpec, view: BrokerView) -> Finding | None:
    """UnderMinIsrPartitionCount > threshold (counted on the partitions' leaders)."""
    return _broker_gauge(
        spec,
        view,
        BrokerMetric.UNDER_MIN_ISR,
        ("partition under min ISR", "partitions under min ISR"),
        "acks=all producers to them fail",
    )


def check_under_replicated_partitions(spec: RuleSpec, view: BrokerView) -> Finding | None:
    """UnderReplicatedPartitions > threshold (counted on the partitions' leaders)."""
    return _broker_gauge(
        spec,
        view,
        BrokerMetric.UNDER_REPLICATED,
        ("under-replicated partition", "under-replicated partitions"),
        "a follower is down or cannot keep up",
    )


def check_request_handler_idle(spec: RuleSpec, view: BrokerView) -> Finding | None:
    """Idle fraction < threshold (warning), < critical_threshold (critical)."""
    value = _gauge(view.metrics, BrokerMetric.REQUEST_HANDLER_IDLE)
    if value is None or not value < spec.threshold:
        return None
    severity = _escalated(spec, value, operator.lt)
    limit = spec.critical_threshold if severity is Severity.CRITICAL else spec.threshold
    assert limit is not None
    return Finding(
        spec.name,
        severity,
        _broker_labels(view),
        value,
        f"{_broker(view)} request handlers are {_num(round((1 - value) * 100, 1))}% busy "
        f"(idle {_num(value)} < {_num(limit)}): requests queue up and clients time out",
    )


#: A broker's produce p99 is not judged until its JVM has run this long. Kafka's
#: percentiles come from an exponentially decaying reservoir (alpha 0.015/s, so a sample's
#: weight falls to ~1% in 5 minutes): the JIT warm-up and leader moves right after a start
#: keep p99 high for minutes after the broker is fine. Observed on the sandbox: 915 ms one
#: minute after start, under 50 ms three minutes later. A broker that is still slow after
#: 5 minutes is slow.
LATENCY_WARMUP_SECONDS = 300.0


def check_produce_latency_p99(spec: RuleSpec, view: BrokerView) -> Finding | None:
    """Produce TotalTimeMs p99 > threshold (warning), > critical_threshold (critical), once
    the broker is past its warm-up (an unknown uptime counts as warm)."""
    value = _gauge(view.metrics, BrokerMetric.PRODUCE_P99_MS)
    if value is None or not value > spec.threshold:
        return None
    uptime_ms = _gauge(view.metrics, BrokerMetric.UPTIME_MS)
    if uptime_ms is not None and uptime_ms < LATENCY_WARMUP_SECONDS * 1000:
        return None
    severity = _escalated(spec, value, operator.gt)
    limit = spec.critical_threshold if severity is Severity.CRITICAL else spec.threshold
    assert limit is not None
    return Finding(
        spec.name,
        severity,
        _broker_labels(view),
        value,
        f"{_broker(view)} produce p99 latency is {_num(value)} ms (> {_num(limit)} ms)",
    )


# --------------------------------------------------------------------------------------
# Consumer group checks
# --------------------------------------------------------------------------------------

_GROUP_ERROR_STATUSES = frozenset({Status.ERR, Status.STOP, Status.STALL, Status.REWIND})

_STATUS_MEANING = {
    Status.ERR: "lagging and not keeping up",
    Status.STOP: "commits stopped while the log moved on",
    Status.STALL: "committing the same offset with lag",
    Status.REWIND: "committed offsets went backwards",
    Status.WARN: "lag growing over the window",
}


def _group_text(view: GroupView) -> str:
    parts = [f"consumer group {view.group} of cluster {view.cluster} is {view.status.name}"]
    detail = view.reason or _STATUS_MEANING.get(view.status, "")
    if detail:
        parts.append(f": {detail}")
    evidence = []
    if view.total_lag is not None:
        evidence.append(f"lag {_plural(view.total_lag, 'message')}")
    if view.lag_seconds is not None:
        evidence.append(f"~{_num(round(view.lag_seconds))} s behind")
    if view.worst:
        evidence.append(f"worst partition {view.worst}")
    if evidence:
        parts.append(f" ({', '.join(evidence)})")
    return "".join(parts)


def _group_labels(view: GroupView) -> Labels:
    return make_labels(cluster=view.cluster, group=view.group)


def check_consumer_group_status(spec: RuleSpec, view: GroupView) -> Finding | None:
    if view.status not in _GROUP_ERROR_STATUSES:
        return None
    return _finding(spec, _group_labels(view), float(view.status.value), _group_text(view))


def check_consumer_group_warn(spec: RuleSpec, view: GroupView) -> Finding | None:
    if view.status is not Status.WARN:
        return None
    return _finding(spec, _group_labels(view), float(view.status.value), _group_text(view))


def check_consumer_group_lag_seconds(spec: RuleSpec, view: GroupView) -> Finding | None:
    """Lag in seconds > the cluster's threshold if it has one, else the rule's."""
    value = view.lag_seconds
    limit = spec.threshold if view.lag_threshold_seconds is None else view.lag_threshold_seconds
    if value is None or math.isnan(value) or not value > limit:
        return None
    worst = f", worst partition {view.worst}" if view.worst else ""
    return _finding(
        spec,
        _group_labels(view),
        value,
        f"consumer group {view.group} of cluster {view.cluster} is {_num(round(value))} s "
        f"behind (> {_num(limit)} s){worst}",
    )


# --------------------------------------------------------------------------------------
# Client and topic checks
# --------------------------------------------------------------------------------------


def _client_labels(view: ClientView) -> Labels:
    return make_labels(
        cluster=view.cluster, client_id=view.client_id, group=view.group, target=view.target
    )


def _client_text(view: ClientView, what: str) -> str:
    extra = [f"group {view.group}"] if view.group else []
    if view.target:
        extra.append(f"JMX {view.target}")
    where = f" ({', '.join(extra)})" if extra else ""
    reason = f": {view.reason}" if view.reason else ""
    return f"{view.role} {view.client_id}{where} of cluster {view.cluster} is {what}{reason}"


def _check_liveness(spec: RuleSpec, view: ClientView, liveness: Liveness) -> Finding | None:
    if view.liveness is not liveness:
        return None
    return _finding(spec, _client_labels(view), None, _client_text(view, liveness.value))


def check_client_dead(spec: RuleSpec, view: ClientView) -> Finding | None:
    return _check_liveness(spec, view, Liveness.DEAD)


def check_client_hung(spec: RuleSpec, view: ClientView) -> Finding | None:
    return _check_liveness(spec, view, Liveness.HUNG)


def check_client_unresponsive(spec: RuleSpec, view: ClientView) -> Finding | None:
    return _check_liveness(spec, view, Liveness.UNRESPONSIVE)


def check_producer_errors(spec: RuleSpec, view: ClientView, now: float) -> Finding | None:
    """record-error-total increased by > threshold within the rule's window."""
    if view.role != "producer":
        return None
    window = spec.window_seconds or 300.0
    points = view.counters.get(ClientCounter.RECORD_ERRORS, ())
    value = counter_increase(points, now, window)
    if value is None or not value > spec.threshold:
        return None
    return _finding(
        spec,
        _client_labels(view),
        value,
        _client_text(
            view, f"failing: {_plural(value, 'record')} not sent in the last {_duration(window)}"
        ),
    )


def check_topic_producers_silent(spec: RuleSpec, view: TopicView) -> Finding | None:
    if not view.producers_silent:
        return None
    reason = f": {view.reason}" if view.reason else ""
    return _finding(
        spec,
        make_labels(cluster=view.cluster, topic=view.topic),
        None,
        f"topic {view.topic} of cluster {view.cluster} receives nothing, its producers are "
        f"silent{reason}",
    )


# --------------------------------------------------------------------------------------
# The whole pack
# --------------------------------------------------------------------------------------

_CLUSTER_CHECKS: dict[str, Callable[[RuleSpec, ClusterView], Finding | None]] = {
    OFFLINE_PARTITIONS: check_offline_partitions,
    ACTIVE_CONTROLLER_COUNT: check_active_controller_count,
}
_BROKER_CHECKS: dict[str, Callable[[RuleSpec, BrokerView], Finding | None]] = {
    BROKER_DOWN: check_broker_down,
    UNDER_MIN_ISR_PARTITIONS: check_under_min_isr_partitions,
    UNDER_REPLICATED_PARTITIONS: check_under_replicated_partitions,
    REQUEST_HANDLER_IDLE: check_request_handler_idle,
    PRODUCE_LATENCY_P99: check_produce_latency_p99,
}
_GROUP_CHECKS: dict[str, Callable[[RuleSpec, GroupView], Finding | None]] = {
    CONSUMER_GROUP_STATUS: check_consumer_group_status,
    CONSUMER_GROUP_WARN: check_consumer_group_warn,
    CONSUMER_GROUP_LAG_SECONDS: check_consumer_group_lag_seconds,
}
_CLIENT_CHECKS: dict[str, Callable[[RuleSpec, ClientView], Finding | None]] = {
    CLIENT_DEAD: check_client_dead,
    CLIENT_HUNG: check_client_hung,
    CLIENT_UNRESPONSIVE: check_client_unresponsive,
}
_TOPIC_CHECKS: dict[str, Callable[[RuleSpec, TopicView], Finding | None]] = {
    TOPIC_PRODUCERS_SILENT: check_topic_producers_silent,
}


#: The monitor whose report each built-in rule judges. Until that report exists for a
#: cluster (the first poll after a (re)start), the rule knows nothing there: its alerts are
#: held as they are, neither found nor cleared (see ``AlertEngine.step``'s ``hold``).
RULE_SOURCE: Mapping[str, str] = {
    **dict.fromkeys((*_CLUSTER_CHECKS, UNCLEAN_LEADER_ELECTION, *_BROKER_CHECKS), "brokers"),
    **dict.fromkeys(_GROUP_CHECKS, "lag"),
    **dict.fromkeys((*_CLIENT_CHECKS, PRODUCER_ERRORS, *_TOPIC_CHECKS), "clients"),
}
#: User rules read broker and client samples.
USER_RULE_SOURCES = ("brokers", "clients")


def evaluate_builtin(
    pack: Iterable[RuleSpec],
    *,
    now: float,
    clusters: Iterable[ClusterView] = (),
    brokers: Iterable[BrokerView] = (),
    groups: Iterable[GroupView] = (),
    clients: Iterable[ClientView] = (),
    topics: Iterable[TopicView] = (),
) -> list[Finding]:
    """Run every enabled rule of ``pack`` over the views; the findings that hold now."""
    specs = {r.name: r for r in pack if r.enabled}
    clusters, brokers, groups = list(clusters), list(brokers), list(groups)
    clients, topics = list(clients), list(topics)
    out: list[Finding | None] = []

    def run(
        checks: Mapping[str, Callable[[RuleSpec, Any], Finding | None]], views: list[Any]
    ) -> None:
        for name, check in checks.items():
            if name in specs:
                out.extend(check(specs[name], v) for v in views)

    run(_CLUSTER_CHECKS, clusters)
    if UNCLEAN_LEADER_ELECTION in specs:
        out.extend(
            check_unclean_leader_election(specs[UNCLEAN_LEADER_ELECTION], c, now) for c in clusters
        )
    run(_BROKER_CHECKS, brokers)
    run(_GROUP_CHECKS, groups)
    run(_CLIENT_CHECKS, clients)
    if PRODUCER_ERRORS in specs:
        out.extend(check_producer_errors(specs[PRODUCER_ERRORS], c, now) for c in clients)
    run(_TOPIC_CHECKS, topics)
    return [f for f in out if f is not None]


# --------------------------------------------------------------------------------------
# User rules
# --------------------------------------------------------------------------------------


class Comparator(enum.StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    @classmethod
    def parse(cls, text: str) -> Comparator:
        try:
            return cls(text.strip())
        except ValueError:
            valid = " ".join(c.value for c in cls)
            raise ValueError(f"unknown comparator {text!r}; use one of: {valid}") from None

    def holds(self, value: float, threshold: float) -> bool:
        return _COMPARE[self](value, threshold)


_COMPARE: dict[Comparator, Callable[[float, float], bool]] = {
    Comparator.GT: operator.gt,
    Comparator.GE: operator.ge,
    Comparator.LT: operator.lt,
    Comparator.LE: operator.le,
    Comparator.EQ: operator.eq,
    Comparator.NE: operator.ne,
}


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One metric reading for user rules: name, labels (incl. ``cluster``), value, and
    optionally when it was read (older than the rule's ``stale_after`` is ignored).

    Any object with these four attributes will do (:class:`SampleLike`), so the sources'
    samples, whose labels are sorted pairs, can be passed as they are."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class UserRule:
    """A rule from config: ``metric{selector} <comparator> threshold`` held for ``for``.

    ``selector`` matchers are ANDed (equality, or anchored regex). Every matching sample is
    its own alert, labelled with the sample's labels. ``summary`` is the operator's own line
    for notifications; the evidence (sample, value, comparison) is always appended.
    ``stale_after``: samples read longer ago than this are ignored (a dead target's last
    value must not fire forever); None keeps every sample.
    """

    name: str
    metric: str
    comparator: Comparator
    threshold: float
    for_seconds: float = 0.0
    severity: Severity = Severity.WARNING
    selector: tuple[Matcher, ...] = ()
    summary: str = ""
    enabled: bool = True
    stale_after: float | None = 300.0

    def __post_init__(self) -> None:
        if not self.name or not self.metric:
            raise ValueError("a user rule needs a name and a metric")
        if self.for_seconds < 0:
            raise ValueError(f"rule {self.name}: for must be >= 0 seconds, got {self.for_seconds}")
        # Config hands plain strings: accept ">" and "critical" as well as the enums.
        if not isinstance(self.comparator, Comparator):
            object.__setattr__(self, "comparator", Comparator.parse(str(self.comparator)))
        if not isinstance(self.severity, Severity):
            object.__setattr__(self, "severity", Severity.parse(str(self.severity)))


class SampleLike(Protocol):
    """What :func:`evaluate_user_rule` reads of a sample; labels as a mapping or as pairs."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> float: ...

    @property
    def labels(self) -> Mapping[str, str] | Labels: ...

    @property
    def timestamp(self) -> float | None: ...


def _stale(sample: SampleLike, stale_after: float | None, now: float) -> bool:
    if stale_after is None or sample.timestamp is None:
        return False
    return now - sample.timestamp > stale_after


def evaluate_user_rule(rule: UserRule, samples: Iterable[SampleLike], now: float) -> list[Finding]:
    """Findings for every sample of ``rule.metric`` matching the selector and the comparison."""
    if not rule.enabled:
        return []
    findings = []
    for s in samples:
        if s.name != rule.metric or math.isnan(s.value):
            continue
        if _stale(s, rule.stale_after, now):
            continue
        by_name = dict(s.labels.items() if isinstance(s.labels, Mapping) else s.labels)
        if not all(m.matches(by_name) for m in rule.selector):
            continue
        if not rule.comparator.holds(s.value, rule.threshold):
            continue
        labels = make_labels(by_name)
        shown = ",".join(f"{k}={v}" for k, v in labels)
        where = f" of cluster {by_name['cluster']}" if "cluster" in by_name else ""
        headline = rule.summary or f"{rule.name}{where}"
        evidence = (
            f"{s.name}{{{shown}}} = {_num(s.value)} {rule.comparator.value} {_num(rule.threshold)}"
        )
        findings.append(
            Finding(
                rule.name, rule.severity, labels, s.value, f"{headline}: {evidence}", s.timestamp
            )
        )
    return findings

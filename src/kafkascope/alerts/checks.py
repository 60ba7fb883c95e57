"""The built-in rules' checks: each rule has one small named check, a pure function of one
subject (:mod:`kafkascope.alerts.subjects`) that returns a :class:`Finding` when its
condition holds *now*; durations (``for``) are the engine's job.

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

import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from kafkascope.alerts.alert import Finding, fingerprint, make_labels
from kafkascope.alerts.pack import (
    ACTIVE_CONTROLLER_COUNT,
    BROKER_DOWN,
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
from kafkascope.alerts.subjects import (
    BrokerMetric,
    BrokerView,
    ClientCounter,
    ClientView,
    ClusterView,
    ControllerCounter,
    ControllerMetric,
    CounterPoint,
    GroupView,
    TopicView,
)
from kafkascope.alerts.wording import duration, num, plural
from kafkascope.model import Labels, Liveness, Severity, Status

__all__ = [
    "LATENCY_WARMUP_SECONDS",
    "RULE_SOURCE",
    "USER_RULE_SOURCES",
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
    "resolution_reasons",
]


def _gauge(metrics: Mapping[str, float], key: str) -> float | None:
    """The reading under ``key``, or None when it was not read (missing or NaN)."""
    value = metrics.get(key)
    return None if value is None or math.isnan(value) else value


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
        f"cluster {view.cluster} has {plural(value, 'offline partition')} (no leader): "
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
    per_node = ", ".join(f"{n}={num(v)}" for n, v in sorted(readings))
    down = [c for c in view.controllers if not c.jmx_reachable]
    unreachable = "".join(
        f"; controller {c.node_id} unreachable ({_jmx_phrase(c.jmx_target, c.jmx_error)})"
        for c in sorted(down, key=lambda c: c.node_id)
    )
    return _finding(
        spec,
        make_labels(cluster=view.cluster),
        total,
        f"cluster {view.cluster} has {plural(total, 'active controller')} (expected "
        f"exactly {num(spec.threshold)}): ActiveControllerCount {per_node}{unreachable}",
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
        f"cluster {view.cluster} had {plural(total, 'unclean leader election')} in the last "
        f"{duration(window)}: an out-of-sync replica became leader, committed records may "
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
    text = f"{_broker(view)} has {num(value)} {noun}: {consequence}"
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
        f"{_broker(view)} request handlers are {num(round((1 - value) * 100, 1))}% busy "
        f"(idle {num(value)} < {num(limit)}): requests queue up and clients time out",
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
        f"{_broker(view)} produce p99 latency is {num(value)} ms (> {num(limit)} ms)",
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
    """``consumer group G of cluster C is ERR: orders-5: ... (rule: stopped) (lag ...)``.

    The reason (the partition and rule behind the verdict, members in trouble) is the
    evaluator's; without one, the status's meaning and the partition named in ``worst``.
    Never a partition beside a reason: that is how "is ERR: worst partition orders-5: OK"
    came about, quoting the partition with the most lag for a verdict another one made.
    """
    parts = [f"consumer group {view.group} of cluster {view.cluster} is {view.status.name}"]
    detail = view.reason or _STATUS_MEANING.get(view.status, "")
    if detail:
        parts.append(f": {detail}")
    evidence = []
    if view.total_lag is not None:
        evidence.append(f"lag {plural(view.total_lag, 'message')}")
    if view.lag_seconds is not None:
        evidence.append(f"~{num(round(view.lag_seconds))} s behind")
    if view.worst and not view.reason:
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
        f"consumer group {view.group} of cluster {view.cluster} is {num(round(value))} s "
        f"behind (> {num(limit)} s){worst}",
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


def resolution_reasons(clients: Iterable[ClientView]) -> dict[str, str]:
    """Why client alerts clear when the client did not come back: a RETIRED client (DEAD
    past ``retire_after``) resolves its client_dead / client_hung / client_unresponsive
    alerts, and the resolution says so instead of reading like a recovery. Keyed by the
    alerts' fingerprints."""
    out: dict[str, str] = {}
    for view in clients:
        if view.liveness is not Liveness.RETIRED:
            continue
        labels = _client_labels(view)
        text = _client_text(view, Liveness.RETIRED.value)
        for rule in (CLIENT_DEAD, CLIENT_HUNG, CLIENT_UNRESPONSIVE):
            out[fingerprint(rule, labels)] = text
    return out


def check_producer_errors(spec: RuleSpec, view: ClientView, now: float) -> Finding | None:
    """record-error-total increased by > threshold within the rule's window."""
    if view.role != "producer":
        return None
    window = spec.window_seconds or 300.0
    points = view.counters.get(ClientCounter.RECORD_ERRORS, ())
    value = counter_increase(points, now, window)
    if value is None or not value > spec.threshold:
        return None
    if view.liveness is Liveness.FAILING:
        # The verdict already names the records lost and why: one sentence, not two.
        return _finding(spec, _client_labels(view), value, _client_text(view, "FAILING"))
    what = f"failing: {plural(value, 'record')} not sent in the last {duration(window)}"
    return _finding(spec, _client_labels(view), value, _client_text(view, what))


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

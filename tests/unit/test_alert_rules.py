"""The built-in Kafka rule pack, its overrides, and user rules.

Each case says why its answer is right. Every built-in rule is pinned on both sides of its
threshold: it fires just past it and not at (or just on the healthy side of) it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import pytest

from kafkascope.alerts.alert import Finding, Matcher
from kafkascope.alerts.checks import counter_increase, evaluate_builtin
from kafkascope.alerts.overrides import RuleOverride, apply_overrides
from kafkascope.alerts.pack import BUILTIN_RULES, RuleSpec
from kafkascope.alerts.subjects import (
    BrokerMetric,
    BrokerView,
    ClientCounter,
    ClientView,
    ClusterView,
    ControllerCounter,
    ControllerMetric,
    ControllerView,
    CounterPoint,
    GroupView,
    TopicView,
)
from kafkascope.alerts.user_rules import Comparator, MetricSample, UserRule, evaluate_user_rule
from kafkascope.errors import ConfigError
from kafkascope.model import Liveness, Severity, Status

NOW = 1_700_000_000.0
PACK = {r.name: r for r in BUILTIN_RULES}


# --------------------------------------------------------------------------------------
# View builders: the smallest view that exercises one rule
# --------------------------------------------------------------------------------------


def broker(metric: str, value: float) -> BrokerView:
    return BrokerView("prod", 2, in_metadata=True, jmx_reachable=True, metrics={metric: value})


def controllers(*counts: float | None, offline: float = 0) -> ClusterView:
    """One reachable controller per count; ``None`` makes that controller unreachable."""
    views = []
    for node, count in enumerate(counts, start=1):
        if count is None:
            views.append(ControllerView(node, False, "refused", f"127.0.0.1:999{node}"))
        else:
            metrics = {
                ControllerMetric.ACTIVE_CONTROLLER_COUNT: count,
                ControllerMetric.OFFLINE_PARTITIONS: offline,
            }
            views.append(ControllerView(node, True, metrics=metrics))
    return ClusterView("prod", tuple(views))


def unclean(points: Sequence[CounterPoint]) -> ClusterView:
    c = ControllerView(
        1,
        True,
        metrics={ControllerMetric.ACTIVE_CONTROLLER_COUNT: 1},
        counters={ControllerCounter.UNCLEAN_ELECTIONS: points},
    )
    return ClusterView("prod", (c,))


def group(status: Status, lag_seconds: float | None = None) -> GroupView:
    return GroupView("prod", "orders", status, lag_seconds=lag_seconds, total_lag=1200)


def client(liveness: Liveness) -> ClientView:
    return ClientView("prod", "consumer-orders-1", liveness, "reason", "orders", "127.0.0.1:9401")


def producer(points: Sequence[CounterPoint], role: str = "producer") -> ClientView:
    return ClientView(
        "prod",
        "producer-1",
        Liveness.ALIVE,
        role=role,
        counters={ClientCounter.RECORD_ERRORS: points},
    )


def findings_for(rule: str, view: object) -> list[Finding]:
    """Run the whole pack over one view and keep the findings of ``rule``."""
    kinds = {
        ClusterView: "clusters",
        BrokerView: "brokers",
        GroupView: "groups",
        ClientView: "clients",
        TopicView: "topics",
    }
    kw = {kinds[type(view)]: [view]}
    found = evaluate_builtin(BUILTIN_RULES, now=NOW, **kw)  # type: ignore[arg-type]
    return [f for f in found if f.rule == rule]


W, C = Severity.WARNING, Severity.CRITICAL
URP, MIN_ISR = BrokerMetric.UNDER_REPLICATED, BrokerMetric.UNDER_MIN_ISR
IDLE, P99 = BrokerMetric.REQUEST_HANDLER_IDLE, BrokerMetric.PRODUCE_P99_MS
UPTIME = BrokerMetric.UPTIME_MS

THRESHOLD_CASES = [
    # ---- offline partitions (> 0, critical)
    pytest.param(
        "offline_partitions",
        controllers(1, offline=1),
        C,
        # One partition without a leader is already data nobody can reach.
        id="offline-1-fires",
    ),
    pytest.param(
        "offline_partitions",
        controllers(1, offline=0),
        None,
        # 0 is the healthy value, and the threshold is strict.
        id="offline-0-quiet",
    ),
    pytest.param(
        "offline_partitions",
        ClusterView("prod", controllers(1).controllers, leaderless_partitions=2),
        C,
        # The controllers say 0 but metadata shows leaderless partitions: the max wins.
        id="offline-from-metadata-fires",
    ),
    pytest.param(
        "offline_partitions",
        ClusterView(
            "prod",
            (ControllerView(1, False, metrics={ControllerMetric.OFFLINE_PARTITIONS: 5}),),
        ),
        None,
        # An unreachable controller's last reading is not evidence of anything now.
        id="offline-unreachable-controller-ignored",
    ),
    # ---- under min ISR (> 0, critical)
    pytest.param(
        "under_min_isr_partitions",
        broker(MIN_ISR, 1),
        C,
        # acks=all producers to that partition fail right now.
        id="min-isr-1-fires",
    ),
    pytest.param(
        "under_min_isr_partitions",
        broker(MIN_ISR, 0),
        None,
        # At the threshold: healthy.
        id="min-isr-0-quiet",
    ),
    pytest.param(
        "under_min_isr_partitions",
        broker(MIN_ISR, math.nan),
        None,
        # NaN means the value could not be read: unknown is not bad.
        id="min-isr-nan-quiet",
    ),
    # ---- under-replicated (> 0, warning)
    pytest.param(
        "under_replicated_partitions",
        broker(URP, 1),
        W,
        # One URP is past the threshold (the `for` of 60 s is the engine's business).
        id="urp-1-fires",
    ),
    pytest.param(
        "under_replicated_partitions",
        broker(URP, 0),
        None,
        # At the threshold: healthy.
        id="urp-0-quiet",
    ),
    pytest.param(
        "under_replicated_partitions",
        BrokerView("prod", 2, True, True),
        None,
        # The metric was not read at all: no finding (broker_down covers unreadable brokers).
        id="urp-missing-quiet",
    ),
    # ---- active controller count (!= 1, critical)
    pytest.param(
        "active_controller_count",
        controllers(1, 0, 0),
        None,
        # Exactly one active controller across the quorum: healthy.
        id="controllers-one-active-quiet",
    ),
    pytest.param(
        "active_controller_count",
        controllers(0, 0, 0),
        C,
        # Nobody is in charge: no metadata changes, no leader elections.
        id="controllers-none-active-fires",
    ),
    pytest.param(
        "active_controller_count",
        controllers(1, 1, 0),
        C,
        # Two think they are active: split brain.
        id="controllers-two-active-fires",
    ),
    pytest.param(
        "active_controller_count",
        controllers(0, None, 0),
        C,
        # The unreachable one may be the active one, but no controller we can see is:
        # the operator must hear about it (the summary names the unreachable node).
        id="controllers-zero-with-unreachable-fires",
    ),
    pytest.param(
        "active_controller_count",
        controllers(None, None),
        None,
        # No reading at all: nothing to sum; broker_down speaks for unreachable nodes.
        id="controllers-all-unreachable-quiet",
    ),
    # ---- broker down (critical)
    pytest.param(
        "broker_down",
        BrokerView("prod", 2, in_metadata=True, jmx_reachable=True),
        None,
        # In metadata and readable: up.
        id="broker-up-quiet",
    ),
    pytest.param(
        "broker_down",
        BrokerView("prod", 2, in_metadata=False, jmx_reachable=None),
        C,
        # Gone from metadata: the cluster itself no longer counts it.
        id="broker-not-in-metadata-fires",
    ),
    pytest.param(
        "broker_down",
        BrokerView("prod", 2, in_metadata=True, jmx_reachable=False, jmx_error="refused"),
        C,
        # In metadata but its JMX is refused: the issue counts this as down (and we are blind).
        id="broker-jmx-unreachable-fires",
    ),
    pytest.param(
        "broker_down",
        BrokerView("prod", 2, in_metadata=True, jmx_reachable=None),
        None,
        # No JMX configured for it: only metadata decides, and it is there.
        id="broker-no-jmx-configured-quiet",
    ),
    # ---- request handler idle (< 0.3 warning, < 0.1 critical)
    pytest.param(
        "request_handler_idle",
        broker(IDLE, 0.3),
        None,
        # Exactly 0.3 is still healthy: the reference says warn *below* 0.3.
        id="idle-0.3-quiet",
    ),
    pytest.param(
        "request_handler_idle",
        broker(IDLE, 0.29),
        W,
        # Just under 0.3: warning.
        id="idle-0.29-warning",
    ),
    pytest.param(
        "request_handler_idle",
        broker(IDLE, 0.1),
        W,
        # Exactly 0.1 is not yet critical (< 0.1 is).
        id="idle-0.1-warning",
    ),
    pytest.param(
        "request_handler_idle",
        broker(IDLE, 0.09),
        C,
        # Under 0.1: the request threads are saturated.
        id="idle-0.09-critical",
    ),
    # ---- produce p99 (> 100 ms warning, > 200 ms critical)
    pytest.param(
        "produce_latency_p99",
        broker(P99, 100),
        None,
        # Exactly 100 ms is at the threshold, not over it.
        id="p99-100-quiet",
    ),
    pytest.param(
        "produce_latency_p99",
        broker(P99, 100.5),
        W,
        # Over 100 ms: warning.
        id="p99-100.5-warning",
    ),
    pytest.param(
        "produce_latency_p99",
        broker(P99, 200),
        W,
        # Exactly 200 ms is still only a warning.
        id="p99-200-warning",
    ),
    pytest.param(
        "produce_latency_p99",
        broker(P99, 200.5),
        C,
        # Over 200 ms: critical (Datadog's monitor).
        id="p99-200.5-critical",
    ),
    pytest.param(
        "produce_latency_p99",
        BrokerView("prod", 2, True, True, metrics={P99: 915, UPTIME: 60_000}),
        None,
        # One minute after start: the decaying reservoir still holds the JIT warm-up.
        id="p99-915-warming-up-quiet",
    ),
    pytest.param(
        "produce_latency_p99",
        BrokerView("prod", 2, True, True, metrics={P99: 915, UPTIME: 300_000}),
        C,
        # Five minutes up and still slow: the broker is slow, not warming up.
        id="p99-915-warm-critical",
    ),
    # ---- unclean leader elections (increase > 0 within 600 s, critical)
    pytest.param(
        "unclean_leader_election",
        unclean([(NOW - 300, 4), (NOW - 10, 4)]),
        None,
        # The counter is non-zero but did not move in the window: an old event.
        id="unclean-flat-quiet",
    ),
    pytest.param(
        "unclean_leader_election",
        unclean([(NOW - 300, 4), (NOW - 10, 5)]),
        C,
        # One more unclean election in the last 10 minutes: data may be lost.
        id="unclean-increase-fires",
    ),
    pytest.param(
        "unclean_leader_election",
        unclean([(NOW - 2000, 0), (NOW - 1000, 1), (NOW - 10, 1)]),
        None,
        # The increase happened before the window: no longer news.
        id="unclean-increase-before-window-quiet",
    ),
    # ---- consumer group status
    pytest.param(
        "consumer_group_status",
        group(Status.ERR),
        C,
        # Burrow's ERR: lagging and not keeping up.
        id="group-err-critical",
    ),
    pytest.param(
        "consumer_group_status",
        group(Status.STOP),
        C,
        # STOP: the consumer stopped committing while the log moved on (dead consumer).
        id="group-stop-critical",
    ),
    pytest.param(
        "consumer_group_status",
        group(Status.STALL),
        C,
        # STALL: commits the same offset with lag (stuck consumer).
        id="group-stall-critical",
    ),
    pytest.param(
        "consumer_group_status",
        group(Status.REWIND),
        C,
        # REWIND: offsets went backwards, reprocessing.
        id="group-rewind-critical",
    ),
    pytest.param(
        "consumer_group_status",
        group(Status.WARN),
        None,
        # WARN has its own, softer rule.
        id="group-warn-not-error",
    ),
    pytest.param(
        "consumer_group_warn",
        group(Status.WARN),
        W,
        # Lag growing over the window: warning (after its `for`).
        id="group-warn-warning",
    ),
    pytest.param(
        "consumer_group_warn",
        group(Status.OK),
        None,
        # OK is OK.
        id="group-ok-quiet",
    ),
    pytest.param(
        "consumer_group_status",
        group(Status.NOTFOUND),
        None,
        # A group that no longer exists is not an error of the group.
        id="group-notfound-quiet",
    ),
    # ---- group lag seconds (> 300 s, warning)
    pytest.param(
        "consumer_group_lag_seconds",
        group(Status.OK, lag_seconds=300),
        None,
        # 300 s is the threshold itself.
        id="lag-300s-quiet",
    ),
    pytest.param(
        "consumer_group_lag_seconds",
        group(Status.OK, lag_seconds=300.5),
        W,
        # Just over 300 s behind: warning.
        id="lag-300.5s-warning",
    ),
    pytest.param(
        "consumer_group_lag_seconds",
        dataclasses.replace(group(Status.OK, lag_seconds=100.5), lag_threshold_seconds=100),
        W,
        # The cluster's own threshold (100 s) replaces the rule's 300 s.
        id="lag-cluster-threshold-fires",
    ),
    pytest.param(
        "consumer_group_lag_seconds",
        dataclasses.replace(group(Status.OK, lag_seconds=400), lag_threshold_seconds=600),
        None,
        # ...in both directions: 400 s is fine on a cluster that allows 600 s.
        id="lag-cluster-threshold-quiet",
    ),
    pytest.param(
        "consumer_group_lag_seconds",
        group(Status.OK, lag_seconds=None),
        None,
        # Lag in seconds unknown (too little history): no guess.
        id="lag-unknown-quiet",
    ),
    # ---- client liveness
    pytest.param(
        "client_dead",
        client(Liveness.DEAD),
        C,
        # A dead consumer is the field notes' real problem.
        id="client-dead-critical",
    ),
    pytest.param(
        "client_dead",
        client(Liveness.ALIVE),
        None,
        # Alive is fine.
        id="client-alive-not-dead",
    ),
    pytest.param(
        "client_hung",
        client(Liveness.HUNG),
        C,
        # The process is there but does no work: as bad as dead for the data.
        id="client-hung-critical",
    ),
    pytest.param(
        "client_hung",
        client(Liveness.DEAD),
        None,
        # DEAD is not HUNG: each liveness has one rule, so one client has one alert.
        id="client-dead-not-hung",
    ),
    pytest.param(
        "client_unresponsive",
        client(Liveness.UNRESPONSIVE),
        W,
        # We cannot read it; it may be fine: warning.
        id="client-unresponsive-warning",
    ),
    pytest.param(
        "client_unresponsive",
        client(Liveness.IDLE),
        None,
        # IDLE (nothing to do) is healthy.
        id="client-idle-quiet",
    ),
    # ---- producer errors (increase > 0 in 300 s, warning)
    pytest.param(
        "producer_errors",
        producer([(NOW - 200, 3), (NOW - 5, 3)]),
        None,
        # Old errors, none new: the threshold is on the increase.
        id="producer-errors-flat-quiet",
    ),
    pytest.param(
        "producer_errors",
        producer([(NOW - 200, 3), (NOW - 5, 4)]),
        W,
        # One record failed to send recently.
        id="producer-errors-increase-warning",
    ),
    pytest.param(
        "producer_errors",
        producer([(NOW - 200, 3), (NOW - 5, 4)], role="consumer"),
        None,
        # The rule is about producers only.
        id="producer-errors-consumer-ignored",
    ),
    # ---- topic producers silent (warning)
    pytest.param(
        "topic_producers_silent",
        TopicView("prod", "orders", True, "log end unchanged for 180 s"),
        W,
        # The topic was written to and stopped: its producers died or hang.
        id="topic-silent-warning",
    ),
    pytest.param(
        "topic_producers_silent",
        TopicView("prod", "orders", False),
        None,
        # Producers are writing.
        id="topic-active-quiet",
    ),
]


@pytest.mark.parametrize(("rule", "view", "expected"), THRESHOLD_CASES)
def test_builtin_rule_threshold(rule: str, view: object, expected: Severity | None) -> None:
    found = findings_for(rule, view)
    if expected is None:
        assert found == []
    else:
        assert len(found) == 1
        assert found[0].severity is expected
        labels = dict(found[0].labels)
        assert labels["cluster"] == "prod"
        assert "prod" in found[0].summary


def test_every_builtin_rule_has_a_firing_case() -> None:
    # A rule added to the pack without a threshold case here would go untested.
    firing = {p.values[0] for p in THRESHOLD_CASES if p.values[2] is not None}
    quiet = {p.values[0] for p in THRESHOLD_CASES if p.values[2] is None}
    assert firing == set(PACK)
    assert quiet == set(PACK)


DEFAULTS = [
    # name, severity, for (s), threshold, critical threshold — the closing note's table.
    ("offline_partitions", C, 0, 0, None),
    ("under_min_isr_partitions", C, 0, 0, None),
    ("under_replicated_partitions", W, 60, 0, None),
    ("active_controller_count", C, 30, 1, None),
    ("broker_down", C, 30, 0, None),
    ("request_handler_idle", W, 60, 0.3, 0.1),
    ("produce_latency_p99", W, 60, 100, 200),
    ("unclean_leader_election", C, 0, 0, None),
    ("consumer_group_status", C, 0, 0, None),
    ("consumer_group_warn", W, 120, 0, None),
    ("consumer_group_lag_seconds", W, 60, 300, None),
    ("client_dead", C, 0, 0, None),
    ("client_hung", C, 0, 0, None),
    ("client_unresponsive", W, 60, 0, None),
    ("producer_errors", W, 0, 0, None),
    ("topic_producers_silent", W, 120, 0, None),
]


def test_builtin_defaults_are_the_documented_ones() -> None:
    # The defaults are part of the product (the closing note lists them): pin them.
    got = [
        (r.name, r.severity, r.for_seconds, r.threshold, r.critical_threshold)
        for r in BUILTIN_RULES
    ]
    assert got == DEFAULTS
    assert all(r.enabled and r.description for r in BUILTIN_RULES)


# --------------------------------------------------------------------------------------
# What the operator reads
# --------------------------------------------------------------------------------------

SUMMARY_CASES = [
    pytest.param(
        "broker_down",
        BrokerView("prod", 2, False, False, "refused", "127.0.0.1:9999"),
        "broker 2 of cluster prod is down: not in metadata, JMX 127.0.0.1:9999 refused",
        # Names the cluster, the broker and both pieces of evidence.
        id="broker-down",
    ),
    pytest.param(
        "broker_down",
        BrokerView("prod", 1, True, False, "timed out after 5 s", "127.0.0.1:9991"),
        "broker 1 of cluster prod cannot be monitored: in metadata but JMX 127.0.0.1:9991 "
        "timed out after 5 s",
        # Serving but unreadable is said differently from gone.
        id="broker-unmonitored",
    ),
    pytest.param(
        "under_replicated_partitions",
        broker(URP, 1),
        "broker 2 of cluster prod has 1 under-replicated partition: a follower is down or "
        "cannot keep up",
        # Singular for one.
        id="urp-one",
    ),
    pytest.param(
        "active_controller_count",
        controllers(0, None),
        "cluster prod has 0 active controllers (expected exactly 1): ActiveControllerCount "
        "1=0; controller 2 unreachable (JMX 127.0.0.1:9992 refused)",
        # Shows each reading and which controller could not be read.
        id="controllers",
    ),
    pytest.param(
        "client_dead",
        client(Liveness.DEAD),
        "consumer consumer-orders-1 (group orders, JMX 127.0.0.1:9401) of cluster prod is "
        "DEAD: reason",
        # The client id, its group and where it lived.
        id="client-dead",
    ),
    pytest.param(
        "request_handler_idle",
        broker(IDLE, 0.05),
        "broker 2 of cluster prod request handlers are 95% busy (idle 0.05 < 0.1): requests "
        "queue up and clients time out",
        # The critical message names the critical threshold it crossed.
        id="idle-critical",
    ),
]


@pytest.mark.parametrize(("rule", "view", "summary"), SUMMARY_CASES)
def test_summary_reads_well(rule: str, view: object, summary: str) -> None:
    (found,) = findings_for(rule, view)
    assert found.summary == summary


def test_labels_carry_cluster_and_subject() -> None:
    # Silences and routes match on these; the fingerprint is built from them.
    (dead,) = findings_for("client_dead", client(Liveness.DEAD))
    assert dead.labels == (
        ("client_id", "consumer-orders-1"),
        ("cluster", "prod"),
        ("group", "orders"),
        ("target", "127.0.0.1:9401"),
    )
    (urp,) = findings_for("under_replicated_partitions", broker(URP, 3))
    assert urp.labels == (("broker", "2"), ("cluster", "prod"))
    assert urp.value == 3


def test_disabled_rule_finds_nothing() -> None:
    pack = apply_overrides(BUILTIN_RULES, {"under_replicated_partitions": {"enabled": False}})
    assert evaluate_builtin(pack, now=NOW, brokers=[broker(URP, 10)]) == []


# --------------------------------------------------------------------------------------
# Counters
# --------------------------------------------------------------------------------------

INCREASE_CASES = [
    pytest.param([], None, id="no-points"),  # nothing read: unknown
    pytest.param([(NOW - 10, 5)], None, id="one-point"),  # one reading has no increase
    pytest.param([(NOW - 100, 5), (NOW - 10, 7)], 2, id="simple"),  # 7 - 5
    pytest.param(
        [(NOW - 400, 5), (NOW - 100, 7), (NOW - 10, 9)],
        4,
        # The reading just before the window is the baseline: growth 5 → 9.
        id="baseline-before-window",
    ),
    pytest.param(
        [(NOW - 900, 1), (NOW - 800, 5), (NOW - 10, 5)],
        0,
        # Growth happened before the window, only the baseline at -800 and the last count.
        id="old-growth",
    ),
    pytest.param(
        [(NOW - 100, 50), (NOW - 50, 2), (NOW - 10, 3)],
        3,
        # 50 → 2 is a restart (counter began at 0): 2 since the restart, then +1.
        id="reset",
    ),
    pytest.param(
        [(NOW - 10, 9), (NOW - 100, 5)],
        4,
        # Order of the readings does not matter.
        id="unordered",
    ),
    pytest.param(
        [(NOW - 100, 5), (NOW + 50, 9)],
        None,
        # A reading from the future (clock skew) is ignored; one point is left.
        id="future-ignored",
    ),
]


@pytest.mark.parametrize(("points", "expected"), INCREASE_CASES)
def test_counter_increase(points: list[CounterPoint], expected: float | None) -> None:
    assert counter_increase(points, NOW, 300) == expected


# --------------------------------------------------------------------------------------
# Overrides
# --------------------------------------------------------------------------------------


def test_overrides_change_only_what_they_name() -> None:
    pack = apply_overrides(
        BUILTIN_RULES,
        {
            "under_replicated_partitions": {"threshold": 5, "for": 120, "severity": "critical"},
            "client_unresponsive": RuleOverride(enabled=False),
        },
    )
    by_name = {r.name: r for r in pack}
    urp = by_name["under_replicated_partitions"]
    assert (urp.threshold, urp.for_seconds, urp.severity) == (5, 120, Severity.CRITICAL)
    assert by_name["client_unresponsive"].enabled is False
    # Everything else, and the order, untouched.
    assert [r.name for r in pack] == [r.name for r in BUILTIN_RULES]
    assert by_name["broker_down"] == PACK["broker_down"]


@pytest.mark.parametrize(
    ("value", "fires"),
    [
        pytest.param(5, False, id="at-new-threshold"),  # 5 is not > 5
        pytest.param(6, True, id="over-new-threshold"),  # the override moved the line
    ],
)
def test_override_threshold_moves_the_line(value: float, fires: bool) -> None:
    pack = apply_overrides(BUILTIN_RULES, {"under_replicated_partitions": {"threshold": 5}})
    assert bool(evaluate_builtin(pack, now=NOW, brokers=[broker(URP, value)])) is fires


BAD_OVERRIDES = [
    pytest.param(
        {"under_replicated": {"for": 10}},
        "no such built-in rule; known rules: active_controller_count",
        # A typo in a rule name must not be silently ignored; the error lists the names.
        id="unknown-rule",
    ),
    pytest.param(
        {"broker_down": {"duration": 10}},
        "unknown setting 'duration'",
        # A typo in a setting, likewise.
        id="unknown-setting",
    ),
    pytest.param(
        {"broker_down": {"severity": "page"}},
        "unknown severity 'page'",
        # Severities are a closed set.
        id="bad-severity",
    ),
    pytest.param(
        {"broker_down": {"for": "30s"}},
        "expected a number",
        # Durations are seconds as numbers.
        id="bad-for-type",
    ),
    pytest.param(
        {"broker_down": {"for": -1}},
        "for must be >= 0",
        # A negative duration makes no sense.
        id="negative-for",
    ),
    pytest.param(
        {"broker_down": {"enabled": "no"}},
        "expected true or false",
        # A string is not a boolean (TOML has real booleans).
        id="bad-enabled",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), BAD_OVERRIDES)
def test_bad_overrides_are_config_errors(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")) as info:
        apply_overrides(BUILTIN_RULES, overrides)  # type: ignore[arg-type]
    assert "alerts.rules." in str(info.value)


# --------------------------------------------------------------------------------------
# User rules
# --------------------------------------------------------------------------------------


def user_rule(comparator: str, threshold: float = 10, **kw: object) -> UserRule:
    return UserRule(
        "disk_usage_high",
        "disk_used_ratio",
        Comparator.parse(comparator),
        threshold,
        **kw,  # type: ignore[arg-type]
    )


def sample(value: float, **labels: str) -> MetricSample:
    return MetricSample("disk_used_ratio", {"cluster": "prod", "broker": "1", **labels}, value)


@dataclasses.dataclass(frozen=True)
class PairSample:
    """Shaped like the sources' samples: labels as sorted pairs, a timestamp always."""

    name: str
    value: float
    labels: tuple[tuple[str, str], ...]
    timestamp: float


COMPARATOR_CASES = [
    # (comparator, value, fires) around threshold 10; each says why.
    pytest.param(">", 10, False, id="gt-equal"),  # strict: equal does not pass
    pytest.param(">", 10.5, True, id="gt-above"),
    pytest.param(">=", 10, True, id="ge-equal"),  # inclusive
    pytest.param(">=", 9.5, False, id="ge-below"),
    pytest.param("<", 10, False, id="lt-equal"),  # strict
    pytest.param("<", 9.5, True, id="lt-below"),
    pytest.param("<=", 10, True, id="le-equal"),  # inclusive
    pytest.param("<=", 10.5, False, id="le-above"),
    pytest.param("==", 10, True, id="eq-equal"),
    pytest.param("==", 10.5, False, id="eq-other"),
    pytest.param("!=", 10, False, id="ne-equal"),
    pytest.param("!=", 0, True, id="ne-other"),
]


@pytest.mark.parametrize(("comparator", "value", "fires"), COMPARATOR_CASES)
def test_user_rule_comparators(comparator: str, value: float, fires: bool) -> None:
    found = evaluate_user_rule(user_rule(comparator), [sample(value)], NOW)
    assert bool(found) is fires
    if fires:
        (f,) = found
        assert f.rule == "disk_usage_high"
        assert f.labels == (("broker", "1"), ("cluster", "prod"))
        assert f.value == value
        assert f.summary.startswith(
            "disk_usage_high of cluster prod: disk_used_ratio{broker=1,cluster=prod} = "
        )


SELECTOR_CASES = [
    pytest.param(
        (Matcher("broker", "1"),),
        [sample(20), sample(20, broker="2")],
        ["1"],
        # Equality keeps only broker 1.
        id="equality",
    ),
    pytest.param(
        (Matcher("broker", "[12]", regex=True),),
        [sample(20), sample(20, broker="2"), sample(20, broker="12")],
        ["1", "2"],
        # Regexes are anchored: "12" does not match [12].
        id="regex-anchored",
    ),
    pytest.param(
        (Matcher("cluster", "prod"), Matcher("broker", "2")),
        [sample(20), sample(20, broker="2")],
        ["2"],
        # Matchers are ANDed.
        id="and",
    ),
    pytest.param(
        (),
        [sample(20), sample(5, broker="2"), MetricSample("other", {"broker": "3"}, 99)],
        ["1"],
        # No selector: every sample of the metric; below threshold and other metrics not.
        id="no-selector",
    ),
    pytest.param(
        (),
        [
            MetricSample("disk_used_ratio", {"broker": "1"}, 20, timestamp=NOW - 301),
            MetricSample("disk_used_ratio", {"broker": "2"}, 20, timestamp=NOW - 60),
        ],
        ["2"],
        # A sample older than stale_after (300 s) is a dead target's last word: ignored.
        id="stale-ignored",
    ),
    pytest.param(
        (Matcher("broker", "2"),),
        [PairSample("disk_used_ratio", 20, (("broker", "2"), ("cluster", "prod")), NOW)],
        ["2"],
        # A sample whose labels are sorted pairs (the sources' Sample) works the same.
        id="pair-labels",
    ),
    pytest.param(
        (),
        [sample(math.nan)],
        [],
        # NaN compares false to everything and means "not read": no finding.
        id="nan",
    ),
]


@pytest.mark.parametrize(("selector", "samples", "brokers"), SELECTOR_CASES)
def test_user_rule_selector(
    selector: tuple[Matcher, ...], samples: list[MetricSample | PairSample], brokers: list[str]
) -> None:
    rule = user_rule(">", selector=selector)
    found = evaluate_user_rule(rule, samples, NOW)
    assert [f.label("broker") for f in found] == brokers


def test_user_rule_summary_is_the_operators_line_plus_evidence() -> None:
    rule = user_rule(">", summary="disk almost full on a broker")
    (f,) = evaluate_user_rule(rule, [sample(20)], NOW)
    assert f.summary == (
        "disk almost full on a broker: disk_used_ratio{broker=1,cluster=prod} = 20 > 10"
    )


def test_user_rule_disabled_and_bad_input() -> None:
    # Disabled rules find nothing; a bad comparator or regex fails at config time.
    assert evaluate_user_rule(user_rule(">", enabled=False), [sample(20)], NOW) == []
    with pytest.raises(ValueError, match="unknown comparator '=>'"):
        Comparator.parse("=>")
    with pytest.raises(ValueError, match="invalid regular expression"):
        Matcher("broker", "[", regex=True)
    rule = UserRule("r", "m", ">", 1, severity="critical")  # type: ignore[arg-type]
    assert rule.comparator is Comparator.GT  # plain strings from config are parsed
    assert rule.severity is Severity.CRITICAL
    assert Matcher.all_equal({"cluster": "prod", "broker": "1"}) == (
        Matcher("broker", "1"),
        Matcher("cluster", "prod"),
    )


def test_rule_spec_validation() -> None:
    # A pack with a negative `for` or a NaN threshold is a config bug, caught at build time.
    with pytest.raises(ValueError, match="for must be >= 0"):
        RuleSpec("x", Severity.WARNING, -1, 0, "d")
    with pytest.raises(ValueError, match="threshold must be a number"):
        dataclasses.replace(PACK["broker_down"], threshold=math.nan)

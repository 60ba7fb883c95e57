"""The built-in rule pack as data: rule names, their defaults and what each one means.

Data only (no checks, no engine), so ``config`` can validate ``[alerts.rules.NAME]``
against it without importing the rest of alerting, and the docs can print the table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from kafkascope.model import Severity

# --------------------------------------------------------------------------------------
# Rules as data
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One built-in rule and its tunables.

    ``threshold`` is what the value is compared with (the direction is the rule's, written
    in ``description``); when ``critical_threshold`` is set the finding is ``severity`` past
    ``threshold`` and CRITICAL past ``critical_threshold`` (one alert that escalates, not
    two). ``window_seconds`` is the look-back of counter-increase rules. ``for_seconds``:
    how long the condition must hold before the alert fires.
    """

    name: str
    severity: Severity
    for_seconds: float
    threshold: float
    description: str
    enabled: bool = True
    critical_threshold: float | None = None
    window_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.for_seconds < 0 or not math.isfinite(self.for_seconds):
            raise ValueError(f"rule {self.name}: for must be >= 0 seconds, got {self.for_seconds}")
        if not math.isfinite(self.threshold):
            raise ValueError(f"rule {self.name}: threshold must be a number, got {self.threshold}")
        if self.window_seconds is not None and self.window_seconds <= 0:
            raise ValueError(f"rule {self.name}: window must be > 0 s, got {self.window_seconds}")


# Rule names, one constant each, so checks and tests cannot misspell them.
OFFLINE_PARTITIONS = "offline_partitions"
UNDER_MIN_ISR_PARTITIONS = "under_min_isr_partitions"
UNDER_REPLICATED_PARTITIONS = "under_replicated_partitions"
ACTIVE_CONTROLLER_COUNT = "active_controller_count"
BROKER_DOWN = "broker_down"
REQUEST_HANDLER_IDLE = "request_handler_idle"
PRODUCE_LATENCY_P99 = "produce_latency_p99"
UNCLEAN_LEADER_ELECTION = "unclean_leader_election"
CONSUMER_GROUP_STATUS = "consumer_group_status"
CONSUMER_GROUP_WARN = "consumer_group_warn"
CONSUMER_GROUP_LAG_SECONDS = "consumer_group_lag_seconds"
CLIENT_DEAD = "client_dead"
CLIENT_HUNG = "client_hung"
CLIENT_UNRESPONSIVE = "client_unresponsive"
PRODUCER_ERRORS = "producer_errors"
TOPIC_PRODUCERS_SILENT = "topic_producers_silent"

_W, _C = Severity.WARNING, Severity.CRITICAL

#: The built-in Kafka rule pack with its defaults (thresholds from kafka-reference.md §2-4).
#: Fields in order: name, severity, for_seconds, threshold, description.
# fmt: off
BUILTIN_RULES: tuple[RuleSpec, ...] = (
    RuleSpec(
        OFFLINE_PARTITIONS, _C, 0, 0,
        "partitions without a leader (max OfflinePartitionsCount over controllers, or "
        "leaderless partitions in metadata) > threshold: nobody can produce to or consume "
        "from them",
    ),
    RuleSpec(
        UNDER_MIN_ISR_PARTITIONS, _C, 0, 0,
        "a broker's UnderMinIsrPartitionCount > threshold: acks=all producers to those "
        "partitions fail",
    ),
    RuleSpec(
        UNDER_REPLICATED_PARTITIONS, _W, 60, 0,
        "a broker's UnderReplicatedPartitions > threshold for 1 minute (rolling restarts "
        "cause short blips)",
    ),
    RuleSpec(
        ACTIVE_CONTROLLER_COUNT, _C, 30, 1,
        "sum of ActiveControllerCount over the reachable controllers != threshold (exactly "
        "one controller must be active)",
    ),
    RuleSpec(
        BROKER_DOWN, _C, 30, 0,
        "a broker missing from cluster metadata, or whose JMX cannot be read",
    ),
    RuleSpec(
        REQUEST_HANDLER_IDLE, _W, 60, 0.3,
        "RequestHandlerAvgIdlePercent (one-minute rate, 0-1) < threshold (warning) or < "
        "critical_threshold (critical): the broker's request threads are saturated",
        critical_threshold=0.1,
    ),
    RuleSpec(
        PRODUCE_LATENCY_P99, _W, 60, 100,
        "Produce TotalTimeMs 99th percentile > threshold ms (warning) or > "
        "critical_threshold ms (critical); not judged in a broker's first 5 minutes (its JIT "
        "warm-up lifts Kafka's decaying-reservoir percentiles for minutes)",
        critical_threshold=200,
    ),
    RuleSpec(
        UNCLEAN_LEADER_ELECTION, _C, 0, 0,
        "UncleanLeaderElectionsPerSec Count increased by > threshold within window: an "
        "out-of-sync replica became leader, committed records may be lost",
        window_seconds=600,
    ),
    RuleSpec(
        CONSUMER_GROUP_STATUS, _C, 0, 0,
        "consumer group status ERR, STOP, STALL or REWIND (Burrow's rules; the window "
        "already spans time, so no for)",
    ),
    RuleSpec(
        CONSUMER_GROUP_WARN, _W, 120, 0,
        "consumer group status WARN (lag growing over the window, or a member DEAD, "
        "UNRESPONSIVE or HUNG) for 2 minutes",
    ),
    RuleSpec(
        CONSUMER_GROUP_LAG_SECONDS, _W, 60, 300,
        "consumer group lag in seconds (age of the oldest unconsumed record) > threshold",
    ),
    RuleSpec(
        CLIENT_DEAD, _C, 0, 0,
        "a client's liveness is DEAD (its JMX is gone and it left, or was evicted from, its "
        "group)",
    ),
    RuleSpec(
        CLIENT_HUNG, _C, 0, 0,
        "a client's liveness is HUNG (its process answers but it stopped polling or sending)",
    ),
    RuleSpec(
        CLIENT_UNRESPONSIVE, _W, 60, 0,
        "a client's liveness is UNRESPONSIVE (its metrics cannot be read or are stale)",
    ),
    RuleSpec(
        PRODUCER_ERRORS, _W, 0, 0,
        "a producer's record-error-total increased by > threshold within window",
        window_seconds=300,
    ),
    RuleSpec(
        TOPIC_PRODUCERS_SILENT, _W, 120, 0,
        "a topic that was being written to receives nothing: its producers are silent",
    ),
)
# fmt: on

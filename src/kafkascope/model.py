"""Small shared value types. Modules keep their own richer dataclasses; only what
crosses module boundaries lives here."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Status(enum.IntEnum):
    """Consumer-lag status, Burrow's vocabulary. The integer order is severity, so the
    group status is ``max`` over partitions (before STOP/STALL/REWIND map to ERR)."""

    NOTFOUND = 0
    OK = 1
    WARN = 2
    ERR = 3
    STOP = 4
    STALL = 5
    REWIND = 6


class Liveness(enum.Enum):
    """Per-client verdict, from JMX freshness joined with group membership."""

    ALIVE = "ALIVE"
    HUNG = "HUNG"
    UNRESPONSIVE = "UNRESPONSIVE"
    DEAD = "DEAD"
    IDLE = "IDLE"
    UNKNOWN = "UNKNOWN"
    #: A producer that is trying to send and failing (record errors, metadata waits,
    #: an exhausted buffer, request timeouts): its process is fine, its data is not.
    FAILING = "FAILING"
    #: DEAD for longer than ``retire_after``: listed, no longer alerted on.
    RETIRED = "RETIRED"
    #: Closed cleanly: its last telemetry push said it was terminating. Listed, never an
    #: alert (a deploy or a scale-down is not an incident).
    DEPARTED = "DEPARTED"


# Liveness as a number for gauges and history, so "> 2" means failing. Codes are appended,
# never renumbered (stored history keeps them): FAILING is 6, and RETIRED, a client no
# longer watched, is -1, below every verdict about a client that is still there; DEPARTED,
# a client that closed cleanly, is -2.
LIVENESS_CODE: dict[Liveness, int] = {
    Liveness.DEPARTED: -2,
    Liveness.RETIRED: -1,
    Liveness.ALIVE: 0,
    Liveness.IDLE: 1,
    Liveness.UNKNOWN: 2,
    Liveness.HUNG: 3,
    Liveness.UNRESPONSIVE: 4,
    Liveness.DEAD: 5,
    Liveness.FAILING: 6,
}


class MetricKind(enum.Enum):
    """What a sample's value means. A catalog ``meter`` or ``histogram`` is expanded into
    these at load time (``Count`` → counter, rates and percentiles → gauges), so every
    consumer of samples (store, Prometheus exposition, rules) handles only three kinds."""

    GAUGE = "gauge"  # a level that goes up and down; read as is
    COUNTER = "counter"  # monotonic while the process lives; alert on deltas
    STATE = "state"  # a string state (e.g. raft current-state): value 1, label ``state``


Labels = tuple[tuple[str, str], ...]


def labels_of(mapping: dict[str, str]) -> Labels:
    """Labels in their canonical form: sorted pairs, so equal label sets compare and hash
    equal whatever order the ObjectName listed its keys in."""
    return tuple(sorted(mapping.items()))


@dataclass(frozen=True)
class Sample:
    """One value read from one monitored process at one time.

    ``target`` is the process's endpoint (``host:port`` for JMX); the client, topic,
    partition and so on are labels (``client_id`` for clients), so the pair
    (target, client_id) identifies a client without any naming convention."""

    name: str
    value: float
    labels: Labels
    target: str
    timestamp: float
    kind: MetricKind
    unit: str

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None

    @property
    def client_id(self) -> str | None:
        return self.label("client_id")


class Severity(enum.Enum):
    """How loud an alert is. ``rank`` orders them: a higher rank is worse."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"warning"`` (any case) → ``Severity.WARNING``; an error lists the valid names."""
        try:
            return cls(text.strip().lower())
        except ValueError:
            valid = ", ".join(s.value for s in cls)
            raise ValueError(f"unknown severity {text!r}; use one of: {valid}") from None


_SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


#: ``(topic, partition)``: how every per-partition map is keyed (offsets, lag, owners).
TopicPartitionKey = tuple[str, int]

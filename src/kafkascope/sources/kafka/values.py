"""What :class:`~kafkascope.sources.kafka.admin.KafkaAdmin` returns: plain frozen values.

Kept apart from the adapter so that code handling these values (the monitors, the admin
worker's parent process) does not need librdkafka to name them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from kafkascope.model import TopicPartitionKey

__all__ = [
    "Broker",
    "ClusterInfo",
    "GroupDescription",
    "GroupListing",
    "GroupMember",
    "GroupState",
    "GroupType",
    "OffsetSnapshot",
    "PartitionInfo",
    "TopicInfo",
]


class GroupState(enum.StrEnum):
    """A consumer group's state as librdkafka reports it. KIP-848 groups' ASSIGNING and
    RECONCILING have no librdkafka code yet and read as UNKNOWN."""

    STABLE = "STABLE"
    EMPTY = "EMPTY"
    DEAD = "DEAD"
    PREPARING_REBALANCE = "PREPARING_REBALANCE"
    COMPLETING_REBALANCE = "COMPLETING_REBALANCE"
    UNKNOWN = "UNKNOWN"


class GroupType(enum.StrEnum):
    """CLASSIC (JoinGroup/SyncGroup) or CONSUMER (KIP-848, ``group.protocol=consumer``)."""

    CLASSIC = "CLASSIC"
    CONSUMER = "CONSUMER"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Broker:
    id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """``controller_id`` is what DescribeCluster says: in KRaft, any live broker."""

    cluster_id: str | None
    controller_id: int | None
    brokers: tuple[Broker, ...]


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition's replica state. ``leader`` is None when the partition is offline.
    The health flags are computed from the other fields, so they can never disagree."""

    topic: str
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    #: The topic's effective ``min.insync.replicas``, None when it could not be read.
    min_isr: int | None = None
    offline: bool = field(init=False)
    under_replicated: bool = field(init=False)
    #: None when ``min_isr`` is unknown.
    under_min_isr: bool | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offline", self.leader is None)
        object.__setattr__(self, "under_replicated", len(self.isr) < len(self.replicas))
        under_min = None if self.min_isr is None else len(self.isr) < self.min_isr
        object.__setattr__(self, "under_min_isr", under_min)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    internal: bool
    partitions: tuple[PartitionInfo, ...]
    min_insync_replicas: int | None = None

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def offline_partitions(self) -> int:
        return sum(p.offline for p in self.partitions)

    @property
    def under_replicated_partitions(self) -> int:
        return sum(p.under_replicated for p in self.partitions)

    @property
    def under_min_isr_partitions(self) -> int:
        return sum(bool(p.under_min_isr) for p in self.partitions)


@dataclass(frozen=True, slots=True)
class GroupListing:
    """One entry of ListGroups. ``protocol_type`` is "consumer" for groups of subscribing
    consumers and "" for simple groups (offsets committed without membership): that is all
    librdkafka exposes (``is_simple_consumer_group``)."""

    group_id: str
    state: GroupState
    type: GroupType
    simple: bool
    protocol_type: str


@dataclass(frozen=True, slots=True)
class GroupMember:
    """``host`` without Java's leading "/" (the broker reports ``/127.0.0.1``).
    ``target_assignment`` is set only for KIP-848 (CONSUMER) groups."""

    member_id: str
    client_id: str
    host: str
    assignment: tuple[TopicPartitionKey, ...]
    group_instance_id: str | None = None
    target_assignment: tuple[TopicPartitionKey, ...] | None = None


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """What the group coordinator says about one group. ``error`` is set (and ``state`` is
    UNKNOWN) when this one group could not be described, e.g. not authorised."""

    group_id: str
    state: GroupState
    type: GroupType
    coordinator_id: int | None
    partition_assignor: str
    simple: bool
    members: tuple[GroupMember, ...]
    error: str | None = None

    @property
    def exists(self) -> bool:
        return self.state is not GroupState.DEAD and self.error is None


@dataclass(frozen=True, slots=True)
class OffsetSnapshot:
    """Committed offsets and log offsets read together (committed first, see
    :meth:`KafkaAdmin.snapshot`). ``taken_at`` is the wall time (seconds since the epoch)
    when the end offsets arrived. A group in ``group_errors`` could not be read: it is not
    the same as a group with no commits (present in ``committed`` with an empty map)."""

    taken_at: float
    committed: Mapping[str, Mapping[TopicPartitionKey, int]]
    end_offsets: Mapping[TopicPartitionKey, int]
    start_offsets: Mapping[TopicPartitionKey, int]
    group_errors: Mapping[str, str] = field(default_factory=dict)
    partition_errors: Mapping[TopicPartitionKey, str] = field(default_factory=dict)

    def lag(self, group: str, tp: TopicPartitionKey) -> int | None:
        """End offset minus committed offset, clamped at 0; None when either is unknown.

        A committed offset above the end offset is not progress: it is a transaction
        marker, a truncated log or the other read order. Clamp it; ``negative_lags``
        counts how often that happened so it can be watched."""
        committed = self.committed.get(group, {}).get(tp)
        end = self.end_offsets.get(tp)
        if committed is None or end is None:
            return None
        return max(0, end - committed)

    def lags(self, group: str) -> dict[TopicPartitionKey, int]:
        """Every partition of ``group`` with a known lag."""
        out: dict[TopicPartitionKey, int] = {}
        for tp in self.committed.get(group, {}):
            lag = self.lag(group, tp)
            if lag is not None:
                out[tp] = lag
        return out

    @property
    def negative_lags(self) -> int:
        """How many (group, partition) lags were negative before clamping."""
        return sum(
            1
            for offsets in self.committed.values()
            for tp, committed in offsets.items()
            if tp in self.end_offsets and committed > self.end_offsets[tp]
        )

"""What one lag poll returns: each group's report (the brokers' view beside Burrow's
verdict) and the cluster's, JSON-ready for the API and the CLI.

Apart from :mod:`kafkascope.monitor.lag` so readers of reports need not see the polling."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafkascope.evaluate.lag import GroupVerdict, OffsetPoint, PartitionVerdict, evaluate_group
from kafkascope.model import Status, TopicPartitionKey
from kafkascope.sources.kafka.values import GroupMember, GroupState, GroupType

__all__ = ["GroupReport", "GroupSeen", "LagReport"]


@dataclass(frozen=True, slots=True)
class GroupSeen:
    """When the monitor saw a group (seconds since the epoch): first, last listed by the
    brokers (or with committed offsets), and last with at least one member."""

    first_seen: float
    last_seen: float
    last_member_seen: float | None = None


@dataclass(frozen=True, slots=True)
class GroupReport:
    """One group at one poll: the brokers' view (state, type, coordinator, members) beside
    the lag verdict. ``lag_seconds`` is the worst partition's; ``end_offsets`` the latest log
    end of each of its partitions. ``first_seen``/``last_seen`` are None only for a group
    the monitor never saw (status NOTFOUND)."""

    group: str
    state: GroupState
    type: GroupType
    coordinator: int | None
    verdict: GroupVerdict
    lag_seconds: float | None
    members: tuple[GroupMember, ...]
    first_seen: float | None
    last_seen: float | None
    last_member_seen: float | None
    expired: bool
    end_offsets: Mapping[TopicPartitionKey, int] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        return self.verdict.status

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, Burrow-like (statuses by name, times in seconds since the epoch)."""
        v = self.verdict
        return {
            "group": self.group,
            "status": v.status.name,
            "state": self.state.value,
            "type": self.type.value,
            "coordinator": self.coordinator,
            "complete": v.complete,
            "partition_count": v.partition_count,
            "total_lag": v.total_lag,
            "lag_seconds": self.lag_seconds,
            "max_lag": _partition_dict(v.max_lag, self.end_offsets) if v.max_lag else None,
            "expired": self.expired,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "last_member_seen": self.last_member_seen,
            "members": [
                {
                    "member_id": m.member_id,
                    "client_id": m.client_id,
                    "host": m.host,
                    "assignment": [{"topic": t, "partition": p} for t, p in m.assignment],
                }
                for m in self.members
            ],
            "partitions": [_partition_dict(p, self.end_offsets) for p in v.partitions],
        }


@dataclass(frozen=True, slots=True)
class LagReport:
    """Every visible group of one cluster, judged at ``taken_at``."""

    cluster: str
    taken_at: float
    groups: dict[str, GroupReport]

    def group(self, name: str) -> GroupReport:
        """The group's report; a NOTFOUND report when the monitor has never seen it."""
        found = self.groups.get(name)
        if found is not None:
            return found
        return GroupReport(
            group=name,
            state=GroupState.DEAD,
            type=GroupType.UNKNOWN,
            coordinator=None,
            verdict=evaluate_group(name, None, self.taken_at),
            lag_seconds=None,
            members=(),
            first_seen=None,
            last_seen=None,
            last_member_seen=None,
            expired=False,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "taken_at": self.taken_at,
            "groups": [self.groups[g].to_dict() for g in sorted(self.groups)],
        }


def _point_dict(p: OffsetPoint | None) -> dict[str, Any] | None:
    return None if p is None else {"offset": p.offset, "timestamp": p.timestamp, "lag": p.lag}


def _partition_dict(v: PartitionVerdict, ends: Mapping[TopicPartitionKey, int]) -> dict[str, Any]:
    return {
        "topic": v.topic,
        "partition": v.partition,
        "status": v.status.name,
        "committed": v.end.offset if v.end is not None else None,
        "end_offset": ends.get((v.topic, v.partition)),
        "lag": v.current_lag,
        "lag_seconds": v.lag_seconds,
        "owner": v.owner,
        "client_id": v.client_id,
        "complete": v.complete,
        "fill": v.fill,
        "start": _point_dict(v.start),
        "end": _point_dict(v.end),
    }

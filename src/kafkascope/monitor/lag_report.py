"""What one lag poll returns: each group's report (the brokers' view beside Burrow's
verdict) and the cluster's, JSON-ready for the API and the CLI.

A group's status is Burrow's verdict on its offsets *and* what the client monitor says of
its consumers: a group whose member is DEAD, UNRESPONSIVE or HUNG is at least WARN, with
the member, its verdict and its reason in the group's reason and problems. Burrow's rules
alone would keep it OK until its windows show the stop (about a minute after a kill -9,
and never for a consumer that died before its first commit). The service joins the two
reports (:meth:`LagReport.with_members`) each time either is swapped in, so the API,
``/metrics`` and the alert rules read one status.

Apart from :mod:`kafkascope.monitor.lag` so readers of reports need not see the polling."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kafkascope.evaluate.lag import (
    GroupVerdict,
    OffsetPoint,
    PartitionVerdict,
    PartitionWindow,
    evaluate_group,
)
from kafkascope.model import Liveness, Status, TopicPartitionKey
from kafkascope.monitor.clients import ClientReport, ClientVerdictRow
from kafkascope.sources.kafka.values import GroupMember, GroupState, GroupType

__all__ = ["MEMBER_TROUBLE", "GroupReport", "GroupSeen", "LagReport", "MemberProblem"]

#: Consumer verdicts that keep a group from reading plain OK.
MEMBER_TROUBLE = frozenset({Liveness.DEAD, Liveness.UNRESPONSIVE, Liveness.HUNG})


@dataclass(frozen=True, slots=True)
class MemberProblem:
    """A consumer of the group that the client monitor judged DEAD, UNRESPONSIVE or HUNG:
    who (client id, member id, JMX target or host), the verdict and the monitor's reason."""

    client_id: str
    liveness: Liveness
    reason: str
    member_id: str | None = None
    target: str | None = None
    host: str | None = None

    @classmethod
    def of(cls, row: ClientVerdictRow) -> MemberProblem:
        return cls(row.client_id, row.liveness, row.reason, row.member_id, row.target, row.host)

    def text(self) -> str:
        """``member orders-1 (JMX 127.0.0.1:4242) is DEAD: JMX ... refused 3 times ...``"""
        where = (
            f" (JMX {self.target})" if self.target else f" (host {self.host})" if self.host else ""
        )
        reason = f": {self.reason}" if self.reason else ""
        return f"member {self.client_id}{where} is {self.liveness.value}{reason}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "member_id": self.member_id,
            "target": self.target,
            "host": self.host,
            "liveness": self.liveness.value,
            "reason": self.reason,
        }


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
    the monitor never saw (status NOTFOUND). ``member_problems`` are its consumers in
    trouble per the client monitor (set by :meth:`LagReport.with_members`); ``windows``
    the partition windows judged (empty for a NOTFOUND report)."""

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
    member_problems: tuple[MemberProblem, ...] = ()
    #: The windows the verdict was judged from (each partition's committed offsets, oldest
    #: first): what Burrow's consumer detail serves (``api/burrow.py``).
    windows: tuple[PartitionWindow, ...] = ()

    @property
    def status(self) -> Status:
        """Burrow's status, raised to WARN when a member is in trouble."""
        status = self.verdict.status
        if self.member_problems and status < Status.WARN:
            return Status.WARN
        return status

    @property
    def reason(self) -> str:
        """Why the status is not OK: the partition and rule behind Burrow's verdict, then
        each member in trouble; empty when OK."""
        parts = [self.verdict.reason] if self.verdict.reason else []
        parts += [p.text() for p in self.member_problems]
        return "; ".join(parts)

    @property
    def problems(self) -> list[str]:
        """Each member in trouble, one line each (the API's ``problems``)."""
        return [p.text() for p in self.member_problems]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, Burrow-like (statuses by name, times in seconds since the epoch).
        ``status`` is the group's (members included), ``lag_status`` Burrow's alone."""
        v = self.verdict
        worst = v.worst
        return {
            "group": self.group,
            "status": self.status.name,
            "lag_status": v.status.name,
            "reason": self.reason,
            "worst": f"{worst.topic}-{worst.partition}" if worst is not None else None,
            "member_problems": [p.to_dict() for p in self.member_problems],
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

    def with_members(self, clients: ClientReport | None) -> LagReport:
        """This report with each group's members in trouble (per ``clients``) joined in;
        the very same report when nothing changes (readers cache on identity).

        A consumer counts against a group when it is a member now (by member id, or per
        the client monitor), or when the group has no members at all and it was the
        group's consumer: a group whose only consumer died is not OK, before and after the
        coordinator evicts it. A dead client whose partitions other members now own does
        not count: the group is consuming (the client's own alert says it died)."""
        rows: dict[str, list[ClientVerdictRow]] = {}
        by_member: dict[str, ClientVerdictRow] = {}
        if clients is not None:
            for r in clients.clients:
                if r.liveness not in MEMBER_TROUBLE or r.kind == "producer":
                    continue
                if r.group:
                    rows.setdefault(r.group, []).append(r)
                if r.member_id:
                    by_member[r.member_id] = r
        groups = dict(self.groups)
        changed = False
        for name, g in self.groups.items():
            problems = _member_problems(g, rows.get(name, ()), by_member, clients)
            if problems != g.member_problems:
                groups[name] = dataclasses.replace(g, member_problems=problems)
                changed = True
        return LagReport(self.cluster, self.taken_at, groups) if changed else self


def _member_problems(
    g: GroupReport,
    rows: list[ClientVerdictRow] | tuple[()],
    by_member: Mapping[str, ClientVerdictRow],
    clients: ClientReport | None,
) -> tuple[MemberProblem, ...]:
    """The group's consumers in trouble, ordered by client id (see ``with_members``)."""
    ids = {m.member_id for m in g.members}
    health = clients.groups.get(g.group) if clients is not None else None
    has_members = bool(ids) or (health is not None and health.members > 0)
    found: dict[tuple[str | None, str, str | None], ClientVerdictRow] = {}
    for mid in ids:
        r = by_member.get(mid)
        if r is not None:
            found[(r.target, r.client_id, r.member_id)] = r
    for r in rows:
        if r.member_id is not None or not has_members:
            found[(r.target, r.client_id, r.member_id)] = r
    ordered = sorted(found.values(), key=lambda r: (r.client_id, r.target or "", r.member_id or ""))
    return tuple(MemberProblem.of(r) for r in ordered)


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

"""A group's verdict as people read it: which partition and rule made it, and the members
in trouble that keep it from plain OK. Pure logic over real report objects (the client
monitor's rows are plain dataclasses here, as the monitor builds them); every table case
says why its answer is right. The same joined report then feeds the three readers, the
REST view, ``/metrics`` and the alert rules, which must say the same thing.
"""

from __future__ import annotations

import pytest

from kafkascope.alerts.checks import evaluate_builtin
from kafkascope.alerts.inputs import CounterLog, build_views
from kafkascope.alerts.pack import BUILTIN_RULES, CONSUMER_GROUP_STATUS, CONSUMER_GROUP_WARN
from kafkascope.api.views import group_json
from kafkascope.evaluate.lag import OffsetPoint, PartitionWindow, evaluate_group
from kafkascope.evaluate.liveness import GroupHealth
from kafkascope.model import Liveness, Status
from kafkascope.monitor.clients import ClientReport, ClientVerdictRow
from kafkascope.monitor.lag_report import GroupReport, LagReport
from kafkascope.monitor.live import ClusterLive
from kafkascope.monitor.series import GROUP_STATUS, verdict_points
from kafkascope.sources.kafka.values import GroupMember, GroupState, GroupType

T = 1_700_000_000.0
NOW = T + 600


def healthy(partition: int, lag_now: int = 0) -> PartitionWindow:
    """Caught up at its commits, last commit 10 s ago: OK whatever its current lag."""
    points = (OffsetPoint(1000, NOW - 120, 0), OffsetPoint(2000, NOW - 10, 0))
    return PartitionWindow("orders", partition, points, ((2000 + lag_now, NOW),), 2000 + lag_now)


def stopped(partition: int, lag_now: int) -> PartitionWindow:
    """Three commits 10 s apart, then 48 s of silence while the log end moved on: STOP."""
    points = tuple(OffsetPoint(100 * i, NOW - 68 + 10 * i, 5) for i in range(3))
    return PartitionWindow("orders", partition, points, ((200 + lag_now, NOW),), 200 + lag_now)


def report(
    group: str,
    windows: list[PartitionWindow],
    members: tuple[GroupMember, ...] = (),
    *,
    stop_grace: float = 0.0,
) -> LagReport:
    verdict = evaluate_group(group, windows, NOW, stop_grace=stop_grace)
    g = GroupReport(
        group=group,
        state=GroupState.STABLE if members else GroupState.EMPTY,
        type=GroupType.CLASSIC,
        coordinator=1,
        verdict=verdict,
        lag_seconds=verdict.lag_seconds,
        members=members,
        first_seen=T,
        last_seen=NOW,
        last_member_seen=NOW if members else T,
        expired=False,
    )
    return LagReport("prod", NOW, {group: g})


def row(
    client_id: str,
    liveness: Liveness,
    *,
    group: str | None = "acc-kill",
    member_id: str | None = None,
    kind: str = "consumer",
    target: str | None = "127.0.0.1:4242",
) -> ClientVerdictRow:
    return ClientVerdictRow(
        client_id=client_id,
        kind=kind,
        group=group,
        target=target,
        liveness=liveness,
        reason=f"{client_id} says why",
        last_seen=NOW - 30,
        first_seen=T,
        host="127.0.0.1",
        member_id=member_id,
    )


def clients(*rows: ClientVerdictRow, members: int = 0) -> ClientReport:
    health = GroupHealth("acc-kill", members, None, (), 0, 0, False, ())
    return ClientReport("prod", NOW, list(rows), {"acc-kill": health}, {})


MEMBER = GroupMember("m-1", "acc-1", "127.0.0.1", (("orders", 0),))
OTHER = GroupMember("m-2", "acc-2", "127.0.0.1", (("orders", 0),))


# ---------------------------------------------------------------------------------------
# The summary names the partition and the rule behind the verdict
# ---------------------------------------------------------------------------------------


def test_the_reported_contradiction_cannot_be_written() -> None:
    """The fault run's "consumer group acc-kill is ERR: worst partition orders-5: OK, lag
    1232": the partition with the most lag (orders-5, healthy) was quoted for an ERR that
    another partition (orders-4, stopped) made. The summary must name orders-4 and the
    rule, with its evidence, and must not quote an OK partition."""
    lag = report("acc-kill", [stopped(4, lag_now=300), healthy(5, lag_now=1232)])
    live = ClusterLive("prod", lag=lag)
    [finding] = [
        f
        for f in evaluate_builtin(
            BUILTIN_RULES, now=NOW, groups=build_views(live, CounterLog(), None)[2]
        )
        if f.rule == CONSUMER_GROUP_STATUS
    ]
    assert finding.summary == (
        "consumer group acc-kill of cluster prod is ERR: orders-4: committed offset 200 has "
        "not moved for 48 s, longer than its last 3 commits span (20 s), while the log end "
        "moved on; lag now 300 (rule: stopped) (lag 1532 messages)"
    )
    assert "OK" not in finding.summary and "orders-5" not in finding.summary
    # The API says the same, and names the partition behind the verdict apart from max lag.
    body = group_json(lag.groups["acc-kill"], None, detail=False)
    assert (body["status"], body["worst"], body["max_lag"]["partition"]) == ("ERR", "orders-4", 5)
    assert body["reason"].startswith("orders-4: committed offset 200 has not moved for 48 s")


# ---------------------------------------------------------------------------------------
# Members in trouble keep a group from plain OK
# ---------------------------------------------------------------------------------------

JOIN_CASES = [
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.DEAD, member_id="m-1"), members=1),
        Status.WARN, ["acc-1"],
        # kill -9 of the only consumer: DEAD within seconds, still a member until the
        # coordinator's session timeout. Burrow's windows say OK for ~a minute more.
        id="current-member-dead",
    ),
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.HUNG, member_id="m-1"), members=1),
        Status.WARN, ["acc-1"],
        # A consumer that stopped polling with records waiting: its partitions are stuck.
        id="current-member-hung",
    ),
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.UNRESPONSIVE, member_id="m-1"), members=1),
        Status.WARN, ["acc-1"],
        # SIGSTOP: the JVM connects but does not answer; it consumes nothing meanwhile.
        id="current-member-unresponsive",
    ),
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.DEAD, group=None, member_id="m-1"), members=1),
        Status.WARN, ["acc-1"],
        # Joined by member id alone (the row carries no group name): still this group's.
        id="member-by-id",
    ),
    pytest.param(
        (), clients(row("acc-1", Liveness.DEAD)),
        Status.WARN, ["acc-1"],
        # Evicted after it died (or died before its first commit): the group has no members
        # and its consumer is DEAD. Nobody consumes: not OK.
        id="only-consumer-dead-and-evicted",
    ),
    pytest.param(
        (OTHER,),
        clients(
            row("acc-1", Liveness.DEAD), row("acc-2", Liveness.ALIVE, member_id="m-2"), members=1
        ),
        Status.OK, [],
        # A dead former member whose partitions another member now owns: the group consumes;
        # the dead client has its own alert (client_dead). A restarted consumer's old JVM
        # must not hold its group at WARN until it is retired.
        id="dead-former-member-replaced",
    ),
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.ALIVE, member_id="m-1"), members=1),
        Status.OK, [],
        # Healthy member: nothing to say.
        id="alive",
    ),
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.IDLE, member_id="m-1"), members=1),
        Status.OK, [],
        # IDLE (nothing assigned or nothing to do) and UNKNOWN (no JMX endpoint) are not
        # trouble: the issue names DEAD, UNRESPONSIVE and HUNG.
        id="idle",
    ),
    pytest.param(
        (MEMBER,), clients(row("acc-1", Liveness.UNKNOWN, member_id="m-1", target=None), members=1),
        Status.OK, [],
        id="unknown",
    ),
    pytest.param(
        (), clients(row("acc-1", Liveness.DEAD, group="other")),
        Status.OK, [],
        # Another group's consumer: not this group's problem.
        id="other-group",
    ),
    pytest.param(
        (), clients(row("p-1", Liveness.DEAD, kind="producer")),
        Status.OK, [],
        # A producer is never a group member.
        id="producer",
    ),
    pytest.param(
        (MEMBER,), None,
        Status.OK, [],
        # No client report yet (first seconds after start): Burrow's verdict alone.
        id="no-client-report",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("members", "report_", "status", "named"), JOIN_CASES)
def test_members_in_trouble_raise_the_group(
    members: tuple[GroupMember, ...],
    report_: ClientReport | None,
    status: Status,
    named: list[str],
) -> None:
    lag = report("acc-kill", [healthy(0)], members)
    assert lag.groups["acc-kill"].status is Status.OK  # Burrow's windows alone: OK
    g = lag.with_members(report_).groups["acc-kill"]
    assert g.status is status
    assert [p.client_id for p in g.member_problems] == named
    assert g.verdict.status is Status.OK  # Burrow's verdict itself is untouched
    for p in g.member_problems:
        assert f"member {p.client_id} (JMX 127.0.0.1:4242) is {p.liveness.value}" in g.reason


def test_a_worse_burrow_verdict_stays_and_both_reasons_are_given() -> None:
    lag = report("acc-kill", [stopped(4, lag_now=300)], (MEMBER,))
    g = lag.with_members(clients(row("acc-1", Liveness.DEAD, member_id="m-1"), members=1))
    group = g.groups["acc-kill"]
    assert group.status is Status.ERR  # ERR is worse than the members' WARN
    assert group.reason.startswith("orders-4: committed offset 200 has not moved")
    assert group.reason.endswith("; member acc-1 (JMX 127.0.0.1:4242) is DEAD: acc-1 says why")


def test_nothing_changed_is_the_same_report() -> None:
    # Readers cache the groups listing on the report's identity: an unchanged join must
    # not invalidate it at every client poll.
    lag = report("acc-kill", [healthy(0)], (MEMBER,))
    alive = clients(row("acc-1", Liveness.ALIVE, member_id="m-1"), members=1)
    assert lag.with_members(alive) is lag
    dead = clients(row("acc-1", Liveness.DEAD, member_id="m-1"), members=1)
    joined = lag.with_members(dead)
    assert joined is not lag and joined.with_members(dead) is joined
    assert joined.with_members(alive).groups["acc-kill"].status is Status.OK  # it recovers


def test_api_metrics_and_alerts_agree_on_a_dead_member() -> None:
    """One joined report, three readers: the REST view, ``/metrics``' group status and the
    alert rules each say WARN and name the member and its verdict."""
    dead = clients(row("acc-1", Liveness.DEAD, member_id="m-1"), members=1)
    lag = report("acc-kill", [healthy(0)], (MEMBER,)).with_members(dead)
    live = ClusterLive("prod", lag=lag, clients=dead)

    body = group_json(lag.groups["acc-kill"], dead, detail=True)
    assert body["status"] == "WARN" and body["lag_status"] == "OK"
    assert body["problems"] == ["member acc-1 (JMX 127.0.0.1:4242) is DEAD: acc-1 says why"]
    assert body["members"][0]["liveness"] == "DEAD"

    [point] = [p for p in verdict_points(live) if p.name == GROUP_STATUS.name]
    # the status is the value, never a label (a label would start a new series on change)
    assert "status" not in dict(point.labels) and point.value == float(Status.WARN)

    groups = build_views(live, CounterLog(), None)[2]
    findings = [
        f
        for f in evaluate_builtin(BUILTIN_RULES, now=NOW, groups=groups)
        if f.rule == CONSUMER_GROUP_WARN
    ]
    [finding] = findings
    assert finding.summary.startswith(
        "consumer group acc-kill of cluster prod is WARN: member acc-1 (JMX 127.0.0.1:4242) "
        "is DEAD: acc-1 says why"
    )

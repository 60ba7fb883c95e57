"""The lag monitor's own decisions, on plain values: its pure helpers (tables, one comment per
case), then whole polls against a recorded cluster (:class:`FakeCluster`, plain data, no
mocks) with a :class:`FakeClock`, and the CLI's pure parts.

The rules themselves (Burrow's statuses) are pinned in ``test_lag_rules.py``; here we pin
what the monitor feeds them: which observations become commits, against which end offset
their lag is measured, when groups expire, which record timestamps are read, and what
survives a restart.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kafkascope.cli.lag import format_seconds, parse_properties, render_table, resolve_target
from kafkascope.clock import FakeClock
from kafkascope.config import LagConfig
from kafkascope.errors import ConfigError
from kafkascope.evaluate.lag import OffsetPoint, PartitionWindow
from kafkascope.model import Status, TopicPartitionKey
from kafkascope.monitor.lag import (
    GroupSeen,
    LagMonitor,
    exact_positions,
    group_expired,
    last_activity,
    note_group,
    offset_moved,
    partition_owners,
    window_gains,
)
from kafkascope.sources.kafka.values import (
    GroupDescription,
    GroupListing,
    GroupMember,
    GroupState,
    GroupType,
    OffsetSnapshot,
)
from kafkascope.store.db import Database

T = 1_700_000_000.0
Position = tuple[str, int, int]


def pts(*rows: tuple[int, float]) -> tuple[OffsetPoint, ...]:
    return tuple(OffsetPoint(o, T + ts, 0) for o, ts in rows)


def member(
    client: str, *tps: TopicPartitionKey, target: tuple[TopicPartitionKey, ...] | None = None
) -> GroupMember:
    return GroupMember(f"{client}-id", client, "10.0.0.1", tuple(tps), None, target)


def window(*rows: tuple[int, float]) -> PartitionWindow:
    return PartitionWindow("t", 0, pts(*rows), (), 0)


# ---------------------------------------------------------------------------------------
# Pure helpers
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("committed", "offset", "moved"),
    [
        # First observation of a partition: it must be recorded.
        ((), 10, True),
        # The same offset again: a re-commit or no commit at all, indistinguishable by polling.
        (pts((10, 0)), 10, False),
        # Forward progress.
        (pts((10, 0)), 11, True),
        # Backwards (an offset reset): exactly what REWIND needs to see.
        (pts((10, 0)), 0, True),
        # Only the last point matters: back to an offset seen earlier is still a move.
        (pts((5, 0), (10, 1)), 5, True),
    ],
)
def test_offset_moved(committed: tuple[OffsetPoint, ...], offset: int, moved: bool) -> None:
    assert offset_moved(committed, offset) is moved


@pytest.mark.parametrize(
    ("committed", "offset", "end", "owned", "allowed", "gains"),
    [
        # The committed offset moved: always a point, owned or not, caught up or not.
        (pts((10, 0)), 12, 20, True, 0, True),
        (pts((10, 0)), 12, 20, False, 0, True),
        # First sight of the partition: a point (it moved from nothing).
        ((), 10, 10, False, 0, True),
        # Not moved, owned, level with the end of the last look (``end`` is the previous
        # poll's): the consumer had nothing to do and keeps re-committing (Burrow sees
        # those re-commits, each with lag 0 against its older end offsets): a point.
        # Without it an idle or quiet partition's window never fills (issue: 1 point per
        # 25 s on the demo, whose producers write one partition at a time). Records that
        # arrived since the last look do not matter: they are not in ``end``.
        (pts((10, 0)), 10, 10, True, 0, True),
        # ... within allowed_lag of the end counts as level too (allowed_lag's meaning).
        (pts((10, 0)), 10, 12, True, 2, True),
        # Not moved and records already waiting at the last look: no point. Adding one
        # would make a stopped consumer look like it committed (hiding STOP) or fake STALL.
        (pts((10, 0)), 10, 11, True, 0, False),
        # Not moved, caught up, but nobody owns the partition (the group has no members):
        # no point, or a group that emptied out would never expire.
        (pts((10, 0)), 10, 10, False, 0, False),
        # End offset unknown this poll: cannot tell it is caught up, no point.
        (pts((10, 0)), 10, None, True, 0, False),
    ],
)
def test_window_gains(
    committed: tuple[OffsetPoint, ...],
    offset: int,
    end: int | None,
    owned: bool,
    allowed: int,
    gains: bool,
) -> None:
    assert window_gains(committed, offset, end, owned=owned, allowed_lag=allowed) is gains


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        # No members: nobody owns anything.
        ((), {}),
        # Classic: each member's assignment.
        (
            (member("a", ("t", 0), ("t", 1)), member("b", ("t", 2))),
            {("t", 0): "a", ("t", 1): "a", ("t", 2): "b"},
        ),
        # KIP-848 member still reconciling: no current assignment, its target is what it
        # is about to own.
        ((member("a", target=(("t", 0),)),), {("t", 0): "a"}),
        # KIP-848 with a current assignment: that wins over the target (it owns it now).
        ((member("a", ("t", 0), target=(("t", 0), ("t", 1))),), {("t", 0): "a"}),
        # Mid-rebalance overlap: the first member listed keeps the partition, no flapping.
        ((member("a", ("t", 0)), member("b", ("t", 0))), {("t", 0): "a"}),
    ],
)
def test_partition_owners(
    members: tuple[GroupMember, ...], expected: dict[TopicPartitionKey, str]
) -> None:
    owners = partition_owners(members)
    assert {tp: m.client_id for tp, m in owners.items()} == expected


@pytest.mark.parametrize(
    ("prev", "present", "members", "expected"),
    [
        # First sight with a member: all three times are now.
        (None, True, 1, GroupSeen(T, T, T)),
        # First sight of a group with offsets but no members (a simple group).
        (None, True, 0, GroupSeen(T, T, None)),
        # Seen again with members: first_seen stays, the others move.
        (GroupSeen(T - 50, T - 10, T - 10), True, 2, GroupSeen(T - 50, T, T)),
        # Members gone: last_member_seen remembers when they were last there.
        (GroupSeen(T - 50, T - 10, T - 10), True, 0, GroupSeen(T - 50, T, T - 10)),
        # No longer listed by the brokers (deleted): last_seen stays where it was.
        (GroupSeen(T - 50, T - 10, T - 20), False, 0, GroupSeen(T - 50, T - 10, T - 20)),
    ],
)
def test_note_group(
    prev: GroupSeen | None, present: bool, members: int, expected: GroupSeen
) -> None:
    assert note_group(prev, T, present=present, members=members) == expected


@pytest.mark.parametrize(
    ("seen", "windows", "members", "expired"),
    [
        # Members present: never expired, however old the commits.
        (GroupSeen(T - 999, T, T), (window((1, -999)),), 1, False),
        # No members, last commit 99 s ago with a 100 s expiry: still visible.
        (GroupSeen(T - 500, T, T - 500), (window((1, -99)),), 0, False),
        # No members, nothing for 101 s: expired.
        (GroupSeen(T - 500, T, T - 500), (window((1, -101)),), 0, True),
        # Members left 50 s ago even though the last commit is old: the member counts.
        (GroupSeen(T - 500, T, T - 50), (window((1, -400)),), 0, False),
        # Found already silent: it gets the full period from first sight.
        (GroupSeen(T - 10, T, None), (window((1, -10)),), 0, False),
        # A group without any commit: first sight is all there is.
        (GroupSeen(T - 101, T - 101, None), (), 0, True),
        # The newest commit of any partition counts, not the first partition's.
        (GroupSeen(T - 500, T, None), (window((1, -400)), window((1, -300), (2, -5))), 0, False),
    ],
)
def test_group_expired(
    seen: GroupSeen, windows: tuple[PartitionWindow, ...], members: int, expired: bool
) -> None:
    assert group_expired(seen, windows, members, T, 100.0) is expired


def test_last_activity_is_the_latest_sign_of_life() -> None:
    seen = GroupSeen(T - 100, T, T - 60)
    assert last_activity(seen, ()) == T - 60
    assert last_activity(seen, (window((1, -70), (2, -30)),)) == T - 30


@pytest.mark.parametrize(
    ("behind", "known", "limit", "expected"),
    [
        # Nothing behind: nothing to read.
        ({}, set(), 10, []),
        # Caught-up positions (lag 0) are never read: lag seconds is 0 without a record.
        ({("t", 0, 5): 0}, set(), 10, []),
        # Already read (cached): not again; a stopped consumer's record is read once.
        ({("t", 0, 5): 3, ("t", 1, 7): 2}, {("t", 0, 5)}, 10, [("t", 1, 7)]),
        # Over the limit: the biggest lags first, they matter most.
        ({("t", 0, 5): 3, ("t", 1, 7): 900, ("t", 2, 1): 40}, set(), 2, [("t", 1, 7), ("t", 2, 1)]),
        # Equal lags: a stable order (by position), so the same ones are read every poll.
        ({("t", 1, 1): 5, ("t", 0, 1): 5}, set(), 1, [("t", 0, 1)]),
        # Limit 0: estimates only.
        ({("t", 0, 5): 3}, set(), 0, []),
    ],
)
def test_exact_positions(
    behind: dict[Position, int], known: set[Position], limit: int, expected: list[Position]
) -> None:
    assert exact_positions(behind, known, limit) == expected


# ---------------------------------------------------------------------------------------
# Whole polls against a recorded cluster
# ---------------------------------------------------------------------------------------


@dataclass
class FakeCluster:
    """A cluster as plain data, answering like KafkaAdmin. A group is listed when it has
    members or committed offsets (or is in ``extra_listed``), as on a real broker."""

    clock: FakeClock
    committed: dict[str, dict[TopicPartitionKey, int]] = field(default_factory=dict)
    ends: dict[TopicPartitionKey, int] = field(default_factory=dict)
    members: dict[str, tuple[GroupMember, ...]] = field(default_factory=dict)
    stamps: dict[Position, float] = field(default_factory=dict)
    stamp_reads: list[list[Position]] = field(default_factory=list)

    def _listed(self) -> set[str]:
        return {g for g, o in self.committed.items() if o} | {
            g for g, m in self.members.items() if m
        }

    def groups(self) -> list[GroupListing]:
        return [
            GroupListing(g, self._state(g), GroupType.CLASSIC, False, "consumer")
            for g in sorted(self._listed())
        ]

    def _state(self, group: str) -> GroupState:
        if group not in self._listed():
            return GroupState.DEAD
        return GroupState.STABLE if self.members.get(group) else GroupState.EMPTY

    def snapshot(self, groups: Iterable[str] | None = None) -> OffsetSnapshot:
        ids = [g.group_id for g in self.groups()] if groups is None else list(groups)
        committed = {g: dict(self.committed.get(g, {})) for g in ids}
        tps = {tp for offsets in committed.values() for tp in offsets}
        return OffsetSnapshot(
            taken_at=self.clock.now(),
            committed=committed,
            end_offsets={tp: self.ends[tp] for tp in tps if tp in self.ends},
            start_offsets={tp: 0 for tp in tps},
        )

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        out = {}
        for g in group_ids:
            state = self._state(g)
            kind = GroupType.UNKNOWN if state is GroupState.DEAD else GroupType.CLASSIC
            out[g] = GroupDescription(g, state, kind, 1, "range", False, self.members.get(g, ()))
        return out

    def log_offsets(
        self, partitions: Iterable[TopicPartitionKey], spec: str = "latest"
    ) -> dict[TopicPartitionKey, int]:
        return {tp: self.ends[tp] for tp in partitions if tp in self.ends}

    def record_timestamps(self, positions: Iterable[Position]) -> dict[Position, float | None]:
        wanted = list(positions)
        self.stamp_reads.append(wanted)
        return {pos: self.stamps.get(pos) for pos in wanted}


LAG = LagConfig(intervals=3, expire_group_after=100)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T)


@pytest.fixture
def kafka(clock: FakeClock) -> FakeCluster:
    return FakeCluster(clock)


def monitor(kafka: FakeCluster, db: Database | None = None, **kw: object) -> LagMonitor:
    return LagMonitor("c", kafka, LAG, db, kafka.clock, **kw)  # type: ignore[arg-type]


def step(
    kafka: FakeCluster, m: LagMonitor, *, end: int | None = None, commit: int | None = None
) -> None:
    """One second later, move the log end and/or group g's commit of t[0], then poll."""
    kafka.clock.advance(1)
    if end is not None:
        kafka.ends[("t", 0)] = end
    if commit is not None:
        kafka.committed["g"] = {("t", 0): commit}
    m.poll()


def test_lag_at_commit_is_measured_against_the_previous_poll(kafka: FakeCluster) -> None:
    """A commit seen at this poll was made after the previous one: a consumer level with the
    log as of the last look committed with lag 0 (Burrow's view). Measured against this
    poll's end, a healthy consumer on a busy topic would never show lag 0 at a commit."""
    kafka.members["g"] = (member("c1", ("t", 0)),)
    kafka.ends[("t", 0)] = 10
    kafka.committed["g"] = {("t", 0): 8}
    m = monitor(kafka)
    m.poll()  # first sight: no previous end, measured against this one
    step(kafka, m, end=20, commit=12)  # previous end 10 <= 12: caught up at that commit
    step(kafka, m, end=30, commit=25)  # previous end 20 <= 25
    step(kafka, m, end=40, commit=28)  # previous end 30: 2 behind
    [p] = m.report().groups["g"].verdict.partitions
    # intervals=3: the window holds the last three commits.
    assert p.start == OffsetPoint(12, T + 1, 0)
    assert p.end == OffsetPoint(28, T + 3, 2)
    assert p.current_lag == 12 and p.status is Status.OK


def test_a_consumer_that_stops_committing_is_stop_not_stall(kafka: FakeCluster) -> None:
    """The same committed offset poll after poll is not a new commit: the window keeps its
    last real commit and the silence grows until Burrow's STOP."""
    kafka.members["g"] = (member("c1", ("t", 0)),)
    kafka.ends[("t", 0)] = 0
    kafka.committed["g"] = {("t", 0): 0}
    m = monitor(kafka)
    m.poll()
    for i in range(1, 4):
        step(kafka, m, end=20 * i, commit=10 * i - 5)  # progressing, falling behind
    for i in range(4, 12):
        step(kafka, m, end=20 * i)  # no more commits; the producer goes on
    g = m.report().groups["g"]
    [p] = g.verdict.partitions
    assert p.start == OffsetPoint(5, T + 1, 0) and p.end == OffsetPoint(25, T + 3, 15)
    # 8 s of silence: longer than the window's 2 s span (Burrow's STOP) but within the
    # 60 s stop_grace, which keeps a consumer between two commits from reading STOP. (OK,
    # not WARN: its first commit was caught up.)
    assert p.status is Status.OK
    kafka.clock.advance(LAG.stop_grace)
    step(kafka, m, end=240)
    g = m.report().groups["g"]
    [p] = g.verdict.partitions
    assert p.status is Status.STOP and g.status is Status.ERR
    assert p.current_lag == 240 - 25  # current lag, from the latest end offset


def test_windows_gain_a_point_at_every_poll_of_a_healthy_group(kafka: FakeCluster) -> None:
    """Two partitions, one member: t-0 is written to and consumed at every poll (its commit
    moves), t-1 gets nothing for a while (its commit stays, level with the log end). Both
    windows gain one point per poll, so both are complete after ``intervals`` polls, as
    Burrow's are from the consumer's re-commits."""
    t0, t1 = ("t", 0), ("t", 1)
    kafka.members["g"] = (member("c1", t0, t1),)
    kafka.ends |= {t0: 0, t1: 50}
    kafka.committed["g"] = {t0: 0, t1: 50}
    m = monitor(kafka)
    for i in range(LAG.intervals):
        if i:
            kafka.clock.advance(10)
            kafka.ends[t0] = 10 * i
            kafka.committed["g"] = {t0: 10 * i, t1: 50}
        g = m.poll().groups["g"]
        assert [p.fill for p in g.verdict.partitions] == [(i + 1) / LAG.intervals] * 2
    assert g.verdict.complete == 1.0 and g.status is Status.OK
    p1 = g.verdict.partitions[1]
    assert p1.end == OffsetPoint(50, T + 10 * (LAG.intervals - 1), 0)  # lag 0: caught up

    # Records land in t-1 just before a poll, after the consumer's last re-commit: level
    # with the previous poll's end, so still a point (Burrow saw that re-commit, lag 0).
    # At the next poll they were already waiting at the last look: no point, and the
    # silence counts towards STOP from there.
    kafka.ends[t1] = 60
    for expected_end in (T + 10 * LAG.intervals, T + 10 * LAG.intervals):
        kafka.clock.advance(10)
        g = m.poll().groups["g"]
        assert g.verdict.partitions[1].end == OffsetPoint(50, expected_end, 0)

    # The member leaves: a quiet partition no longer gains (nobody re-commits), so the
    # window keeps its last point and the group can expire.
    kafka.ends[t1] = 50
    kafka.committed["g"] = {t0: 10 * (LAG.intervals - 1), t1: 50}
    m2 = monitor(kafka)
    m2.poll()
    kafka.members["g"] = ()
    kafka.clock.advance(10)
    g = m2.poll().groups["g"]
    assert [p.fill for p in g.verdict.partitions] == [1 / LAG.intervals] * 2


def test_unknown_group_is_notfound_and_known_group_without_partitions_is_listed(
    kafka: FakeCluster,
) -> None:
    kafka.members["joining"] = (member("c1"),)  # a member, nothing assigned or committed yet
    m = monitor(kafka)
    report = m.poll()
    assert report.group("nobody").status is Status.NOTFOUND
    assert "nobody" not in report.groups and report.group("nobody").first_seen is None
    joining = report.groups["joining"]
    assert joining.state is GroupState.STABLE and joining.verdict.partitions == ()


def test_owned_partitions_without_commits_are_shown_with_their_end(kafka: FakeCluster) -> None:
    kafka.members["g"] = (member("c1", ("t", 0)),)
    kafka.ends[("t", 0)] = 42
    g = monitor(kafka).poll().groups["g"]
    [p] = g.verdict.partitions
    assert (p.client_id, p.owner, p.end) == ("c1", "10.0.0.1", None)
    assert g.end_offsets == {("t", 0): 42}


def test_groups_without_members_stay_visible_until_they_expire(kafka: FakeCluster) -> None:
    """``deleted``: the brokers forgot it; kept with its lag and status for
    expire_group_after (100 s), then forgotten. ``quiet``: still listed (Empty, with
    offsets) after 100 s of nothing: reported, flagged expired, not dropped."""
    kafka.ends[("t", 0)] = 50
    kafka.committed["deleted"] = {("t", 0): 10}
    kafka.committed["quiet"] = {("t", 0): 50}
    m = monitor(kafka)
    m.poll()
    kafka.committed["deleted"] = {}  # e.g. kafka-consumer-groups --delete
    kafka.clock.advance(1)
    report = m.poll()
    deleted = report.groups["deleted"]
    assert deleted.state is GroupState.DEAD and deleted.verdict.total_lag == 40
    assert deleted.last_seen == T and not deleted.expired

    kafka.clock.advance(99)
    report = m.poll()
    assert "deleted" in report.groups  # 100 s since the last sign of life: not yet
    assert not report.groups["quiet"].expired

    kafka.clock.advance(2)
    report = m.poll()
    assert "deleted" not in report.groups
    assert report.group("deleted").status is Status.NOTFOUND
    quiet = report.groups["quiet"]
    assert quiet.expired and quiet.state is GroupState.EMPTY and quiet.status is Status.OK

    kafka.members["quiet"] = (member("back", ("t", 0)),)  # a member returns
    kafka.clock.advance(1)
    assert not m.poll().groups["quiet"].expired


def test_exact_lag_seconds_are_read_once_per_position(kafka: FakeCluster) -> None:
    kafka.ends |= {("t", 0): 100, ("t", 1): 10}
    kafka.committed["g"] = {("t", 0): 40, ("t", 1): 10}
    kafka.stamps[("t", 0, 40)] = T - 30  # the oldest unconsumed record is 30 s old
    m = monitor(kafka)
    g = m.poll().groups["g"]
    assert kafka.stamp_reads == [[("t", 0, 40)]]  # t-1 is caught up: nothing to read
    lag_seconds = {p.partition: p.lag_seconds for p in g.verdict.partitions}
    assert lag_seconds == {0: 30.0, 1: 0.0}

    kafka.clock.advance(5)
    kafka.ends[("t", 0)] = 120
    g = m.poll().groups["g"]
    assert len(kafka.stamp_reads) == 1  # same position: the cached timestamp, no read
    assert g.verdict.partitions[0].lag_seconds == 35.0 and g.lag_seconds == 35.0

    kafka.clock.advance(5)
    kafka.committed["g"] = {("t", 0): 60, ("t", 1): 10}
    m.poll()
    assert kafka.stamp_reads[-1] == [("t", 0, 60)]  # moved: its new record is read

    kafka.clock.advance(5)
    m.poll(exact=False)
    assert len(kafka.stamp_reads) == 2  # estimates only


def test_exact_reads_are_bounded(kafka: FakeCluster) -> None:
    kafka.ends |= {("t", 0): 100, ("t", 1): 1000, ("t", 2): 50}
    kafka.committed["g"] = {("t", 0): 0, ("t", 1): 0, ("t", 2): 0}
    monitor(kafka, exact_limit=2).poll()
    assert kafka.stamp_reads == [[("t", 1, 0), ("t", 0, 0)]]
    with pytest.raises(ValueError, match="exact_limit"):
        monitor(kafka, exact_limit=-1)


def test_filtered_monitor_follows_only_its_groups(kafka: FakeCluster) -> None:
    kafka.ends[("t", 0)] = 5
    kafka.committed |= {"g": {("t", 0): 5}, "other": {("t", 0): 1}}
    report = monitor(kafka, groups=["g", "missing"]).poll()
    assert sorted(report.groups) == ["g"]
    assert report.group("missing").status is Status.NOTFOUND


def test_a_restart_resumes_from_the_store(kafka: FakeCluster, tmp_path: Path) -> None:
    kafka.members["g"] = (member("c1", ("t", 0)),)
    kafka.ends[("t", 0)] = 0
    kafka.committed["g"] = {("t", 0): 0}
    db = Database(tmp_path / "k.db")
    try:
        m = monitor(kafka, db)
        m.poll()
        for i in range(1, 4):
            step(kafka, m, end=10 * i, commit=10 * i - 5)
        before = m.report()

        again = monitor(kafka, db)
        assert again.load() == 1
        after = again.report(now=before.taken_at)
        assert after.groups["g"].verdict.partitions == before.groups["g"].verdict.partitions
        assert after.groups["g"].first_seen == T
        # The next poll extends the restored window (no cold start).
        step(kafka, again, end=40, commit=35)
        [p] = again.report().groups["g"].verdict.partitions
        assert (p.start, p.end) == (OffsetPoint(15, T + 2, 0), OffsetPoint(35, T + 4, 0))
    finally:
        db.close()


def test_only_what_changed_is_written(kafka: FakeCluster, tmp_path: Path) -> None:
    kafka.ends |= {("t", 0): 10, ("t", 1): 10}
    kafka.committed["g"] = {("t", 0): 10, ("t", 1): 10}
    db = Database(tmp_path / "k.db")

    def updated() -> dict[int, float]:
        rows = db.read(
            lambda c: c.execute("SELECT partition, updated_at FROM lag_windows").fetchall()
        )
        return dict(rows)

    try:
        m = monitor(kafka, db)
        m.poll()
        assert updated() == {0: T, 1: T}
        kafka.clock.advance(1)
        kafka.committed["g"] = {("t", 0): 10, ("t", 1): 11}
        kafka.ends[("t", 1)] = 11
        m.poll()
        assert updated() == {0: T, 1: T + 1}  # partition 0 did not change: not rewritten
    finally:
        db.close()


def test_forgotten_groups_leave_the_store(kafka: FakeCluster, tmp_path: Path) -> None:
    kafka.ends[("t", 0)] = 10
    kafka.committed["g"] = {("t", 0): 5}
    db = Database(tmp_path / "k.db")
    try:
        m = monitor(kafka, db)
        m.poll()
        kafka.committed["g"] = {}
        kafka.clock.advance(101)
        m.poll()
        count = db.read(
            lambda c: c.execute(
                "SELECT (SELECT COUNT(*) FROM lag_windows), (SELECT COUNT(*) FROM groups_seen)"
            ).fetchone()
        )
        assert count == (0, 0)
        assert monitor(kafka, db).load() == 0
    finally:
        db.close()


def test_unreadable_saved_rows_are_skipped(
    kafka: FakeCluster, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = Database(tmp_path / "k.db")

    def corrupt(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO lag_windows VALUES ('c', 'g', 't', 0, '{not json', 0), "
            "('c', 'h', 't', 0, '{\"committed\": [[5, 1.0, 0]]}', 0)"
        )
        conn.execute("INSERT INTO end_offset_tables VALUES ('c', 't', 0, '[]', 0)")

    try:
        db.write(corrupt)
        m = monitor(kafka, db)
        with caplog.at_level(logging.WARNING):
            assert m.load() == 1  # h restored, g skipped
        assert "unreadable" in caplog.text
        assert m.report().groups["h"].verdict.partitions[0].end == OffsetPoint(5, 1.0, 0)
    finally:
        db.close()


# ---------------------------------------------------------------------------------------
# The CLI's pure parts
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),  # unknown (no history yet)
        (0.0, "0.0s"),  # caught up
        (4.26, "4.3s"),  # short lags keep a decimal: they are what a healthy group shows
        (59.6, "1m00s"),  # rounding carries into minutes
        (245, "4m05s"),
        (7380, "2h03m"),
        (3 * 86400 + 4 * 3600 + 59, "3d04h"),  # a long-dead consumer
    ],
)
def test_format_seconds(seconds: float | None, text: str) -> None:
    assert format_seconds(seconds) == text


def test_render_table_aligns_numbers_right_and_text_left() -> None:
    out = render_table(("NAME", "LAG", "OWNER"), [("a", 5, None), ("long-name", 1234, "x")])
    assert out.splitlines() == [
        "NAME        LAG  OWNER",
        "a             5  -",
        "long-name  1234  x",
    ]


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ([], {}),
        (["security.protocol=SASL_SSL"], {"security.protocol": "SASL_SSL"}),
        # The value may contain '=' (JAAS configs, base64 secrets).
        (["sasl.password=a=b=="], {"sasl.password": "a=b=="}),
        # An empty value is a value (librdkafka accepts "" for some properties).
        (["client.id="], {"client.id": ""}),
    ],
)
def test_parse_properties(items: list[str], expected: dict[str, str]) -> None:
    assert parse_properties(items) == expected


@pytest.mark.parametrize(
    ("items", "message"),
    [
        (["nonsense"], "KEY=VALUE"),  # no '='
        (["=value"], "KEY=VALUE"),  # no key
        (["bootstrap.servers=x:1"], "--bootstrap"),  # has its own option
    ],
)
def test_parse_properties_rejects(items: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_properties(items)


def test_parse_properties_never_echoes_a_value() -> None:
    with pytest.raises(ConfigError) as info:
        parse_properties(["sasl.password hunter2"])
    assert "hunter2" not in str(info.value)


def test_resolve_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKASCOPE_CONFIG", raising=False)
    config = tmp_path / "k.toml"
    config.write_text(
        '[[clusters]]\nname = "a"\nbootstrap = "k1:9092"\n'
        '[clusters.client_properties]\n"sasl.password" = "s3cret"\n'
        "[clusters.lag]\nintervals = 5\n"
        '[[clusters]]\nname = "b"\nbootstrap = "k2:9092"\n'
    )
    a = resolve_target(config, "a", None, ["client.id=x"])
    assert (a.name, a.bootstrap, a.lag.intervals) == ("a", "k1:9092", 5)
    assert a.properties == {"sasl.password": "s3cret", "client.id": "x"}
    assert "s3cret" not in repr(a)
    direct = resolve_target(None, None, " k9:1 ", [])
    assert (direct.name, direct.bootstrap, direct.lag) == ("k9:1", "k9:1", LagConfig())

    with pytest.raises(ConfigError, match="--cluster NAME"):
        resolve_target(config, None, None, [])  # two clusters: which one?
    with pytest.raises(ConfigError, match="one of a, b"):
        resolve_target(config, "c", None, [])
    with pytest.raises(ConfigError, match="either"):
        resolve_target(config, None, "k:1", [])
    with pytest.raises(ConfigError, match="--bootstrap HOST:PORT"):
        resolve_target(None, None, None, [])

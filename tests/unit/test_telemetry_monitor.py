"""The client monitor with pushes for its only source: a real ClientMonitor, a real inbox
fed real OTLP bytes, a real SQLite store, no JMX target (the collector has nothing to
read), and the group coordinator's answers as recorded values (the one fake: what a broker
would say). Each case says why."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from kafkascope.clock import FakeClock
from kafkascope.model import Liveness, TopicPartitionKey
from kafkascope.monitor.clients import ClientMonitor
from kafkascope.sources.discovery import Discovery
from kafkascope.sources.jmx.collector import JmxCollector
from kafkascope.sources.kafka.values import (
    GroupDescription,
    GroupListing,
    GroupMember,
    GroupState,
    GroupType,
    PartitionInfo,
    TopicInfo,
)
from kafkascope.sources.telemetry_inbox import TelemetryInbox
from kafkascope.store.clients import ClientStore
from kafkascope.store.db import Database

GROUP = "g"
INSTANCE = "5e1f0c3a-0000-4000-8000-000000000001"


class Brokers:
    """What the group coordinator says: one member, client py-1 on 127.0.0.1."""

    def __init__(self) -> None:
        self.members = [GroupMember("m-1", "py-1", "127.0.0.1", (("t", 0),))]
        #: What the brokers answer for offsets (a key left out: it could not be read).
        self.committed: dict[str, dict[TopicPartitionKey, int]] = {GROUP: {}}
        self.ends: dict[TopicPartitionKey, int] = {}

    def groups(self) -> list[GroupListing]:
        return [GroupListing(GROUP, GroupState.STABLE, GroupType.CLASSIC, False, "consumer")]

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        state = GroupState.STABLE if self.members else GroupState.EMPTY
        d = GroupDescription(
            GROUP, state, GroupType.CLASSIC, 1, "range", False, tuple(self.members)
        )
        return {GROUP: d}

    def committed_offsets(self, groups: Iterable[str]) -> dict[str, dict[TopicPartitionKey, int]]:
        return dict(self.committed)

    def topics(
        self, include_internal: bool = False, names: Iterable[str] | None = None
    ) -> list[TopicInfo]:
        return [TopicInfo("t", False, (PartitionInfo("t", 0, 1, (1,), (1,)),))]

    def log_offsets(
        self, partitions: Iterable[TopicPartitionKey], spec: str = "latest"
    ) -> dict[TopicPartitionKey, int]:
        return {tp: self.ends[tp] for tp in partitions if tp in self.ends}


def push(
    inbox: TelemetryInbox, *, terminating: bool = False, last_poll_ago: float | None = None
) -> None:
    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    m = metrics.add(name="org.apache.kafka.consumer.coordinator.assigned.partitions")
    m.gauge.data_points.add(as_int=0)
    if last_poll_ago is not None:
        m = metrics.add(name="org.apache.kafka.consumer.last.poll.seconds.ago")
        m.gauge.data_points.add(as_double=last_poll_ago)
    inbox.receive(
        {
            "X-Kafkascope-Client-Instance-Id": INSTANCE,
            "X-Kafkascope-Client-Id": "py-1",
            "X-Kafkascope-Software-Name": "confluent-kafka-python",
            "X-Kafkascope-Software-Version": "2.16.1",
            "X-Kafkascope-Source-Address": "127.0.0.1",
            "X-Kafkascope-Terminating": "true" if terminating else "false",
            "X-Kafkascope-Push-Interval-Ms": "2000",
        },
        req.SerializeToString(),
    )


def monitor(clock: FakeClock, db: Database, inbox: TelemetryInbox) -> ClientMonitor:
    m = ClientMonitor(
        "c",
        JmxCollector(),
        Discovery(),
        Brokers(),
        clock=clock,
        store=ClientStore(db, "c"),
        telemetry=inbox,
    )
    m.load()
    return m


def test_pushes_alone_make_a_joined_client_then_dead_across_a_restart(tmp_path: Path) -> None:
    clock = FakeClock()
    db = Database(tmp_path / "k.db")
    inbox = TelemetryInbox("c", clock=clock.now)
    m = monitor(clock, db, inbox)
    push(inbox)
    [row] = m.poll().clients
    # One row: the member and the pushing client are one consumer (client id and host).
    assert (row.liveness, row.source, row.member_id, row.group) == (
        Liveness.ALIVE,
        "telemetry",
        "m-1",
        GROUP,
    )
    assert row.client_instance_id == INSTANCE
    assert row.software == "confluent-kafka-python/2.16.1"
    # 3.9 s later (under two 2 s intervals): one push late is no verdict.
    clock.advance(3.9)
    assert m.poll().clients[0].liveness is Liveness.ALIVE
    # Past two intervals: DEAD, still joined (the coordinator has not evicted it yet).
    clock.advance(0.2)
    [row] = m.poll().clients
    assert (row.liveness, row.member_id) == (Liveness.DEAD, "m-1")
    m.close()
    # kafkascope restarts (a new inbox, nobody pushes): the stored DEAD client is judged
    # from its last push, still DEAD and joined to its member (the same alert subject).
    inbox2 = TelemetryInbox("c", interval=2.0, clock=clock.now)
    m2 = monitor(clock, db, inbox2)
    [row] = m2.poll().clients
    assert (row.liveness, row.identity, row.member_id) == (Liveness.DEAD, "restored", "m-1")
    assert "no telemetry push" in row.reason
    m2.close()
    db.close()


def test_a_terminating_push_is_a_departure(tmp_path: Path) -> None:
    clock = FakeClock()
    db = Database(tmp_path / "k.db")
    inbox = TelemetryInbox("c", clock=clock.now)
    m = monitor(clock, db, inbox)
    push(inbox)
    m.poll()
    push(inbox, terminating=True)
    assert isinstance(m.admin, Brokers)
    m.admin.members = []  # close() left the group
    clock.advance(60)  # long past two intervals: a departure is not a death
    [row] = m.poll().clients
    assert row.liveness is Liveness.DEPARTED and "closed cleanly" in row.reason
    assert not row.failing
    m.close()
    db.close()


def test_an_alive_client_gets_two_intervals_to_push_after_a_restart(tmp_path: Path) -> None:
    """Stored ALIVE, then kafkascope restarts: no verdict of DEAD before the client had two
    intervals to push (its member reads membership-only meanwhile); a push makes it ALIVE
    again, none makes it DEAD."""
    clock = FakeClock()
    db = Database(tmp_path / "k.db")
    inbox = TelemetryInbox("c", clock=clock.now)
    m = monitor(clock, db, inbox)
    push(inbox)
    assert m.poll().clients[0].liveness is Liveness.ALIVE
    m.close()
    m2 = monitor(clock, db, TelemetryInbox("c", interval=2.0, clock=clock.now))
    [row] = m2.poll().clients
    assert (row.liveness, row.source) == (Liveness.UNKNOWN, "membership")
    clock.advance(4.5)
    [row] = m2.poll().clients
    assert (row.liveness, row.source, row.member_id) == (Liveness.DEAD, "telemetry", "m-1")
    m2.close()
    db.close()


def test_a_push_goes_to_history_once(tmp_path: Path) -> None:
    """Polls come every 5 s and pushes every 10 s by default: a poll with no push since the
    last one reports the client's latest values (for /metrics and rules) but marks its
    target repeated, so history does not store the same push twice (a duplicate point
    would also count twice in the 1-minute rollup's average)."""
    clock = FakeClock()
    db = Database(tmp_path / "k.db")
    inbox = TelemetryInbox("c", clock=clock.now)
    m = monitor(clock, db, inbox)
    target = f"telemetry:{INSTANCE}"
    push(inbox)
    first = m.poll()
    assert target not in first.repeated and any(s.target == target for s in first.samples)
    clock.advance(1.0)
    again = m.poll()  # no push in between
    assert target in again.repeated and any(s.target == target for s in again.samples)
    push(inbox)
    clock.advance(1.0)
    assert target not in m.poll().repeated  # a new push: new values for history
    m.close()
    db.close()


@pytest.mark.parametrize(
    ("committed", "ends", "expected", "reason"),
    [
        # Consumed up to the end: a consumer waiting in a long poll() on an idle topic.
        ({GROUP: {("t", 0): 50}}, {("t", 0): 50}, Liveness.ALIVE, "nothing to consume"),
        # 40 records wait and it has not polled for 400 s: HUNG.
        ({GROUP: {("t", 0): 10}}, {("t", 0): 50}, Liveness.HUNG, "40 records waiting"),
        # The partition's end offset could not be read (its leader's broker is down): the
        # poll gap alone is no verdict.
        ({GROUP: {("t", 0): 50}}, {}, Liveness.ALIVE, "polled 400 s ago"),
        # The group's committed offsets could not be read (the coordinator moving): same.
        ({}, {("t", 0): 50}, Liveness.ALIVE, "polled 400 s ago"),
        # Read, and the group never committed while the log has records: unknown whether
        # records wait for it, and it says so (as before).
        ({GROUP: {}}, {("t", 0): 50}, Liveness.HUNG, "no committed offsets to tell"),
    ],
)
def test_a_long_poll_gap_is_judged_by_what_the_offsets_say(
    tmp_path: Path,
    committed: dict[str, dict[TopicPartitionKey, int]],
    ends: dict[TopicPartitionKey, int],
    expected: Liveness,
    reason: str,
) -> None:
    clock = FakeClock()
    db = Database(tmp_path / "k.db")
    inbox = TelemetryInbox("c", clock=clock.now)
    m = monitor(clock, db, inbox)
    assert isinstance(m.admin, Brokers)
    m.admin.committed, m.admin.ends = committed, ends
    push(inbox, last_poll_ago=400.0)
    [row] = m.poll().clients
    assert row.liveness is expected and reason in row.reason, row.reason
    m.close()
    db.close()

"""The Kafka admin adapter against the real sandbox cluster: brokers, topics, groups (classic,
KIP-848, dead and simple), committed and log offsets, record timestamps, and the errors an
operator sees when the cluster cannot be reached or refuses the credentials."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from kafkascope.errors import AuthFailed, ConfigError, KafkascopeError, Unreachable
from kafkascope.sandbox import cluster, procs
from kafkascope.sandbox.state import SandboxState, load
from kafkascope.sources.kafka.admin import (
    PEEK_GROUP,
    ClusterInfo,
    GroupDescription,
    GroupState,
    GroupType,
    KafkaAdmin,
    OffsetSnapshot,
    TopicInfo,
)
from tests.conftest import ClientFactory
from tests.support import wait_until

pytestmark = pytest.mark.integration

DEMO_GROUPS = ("orders-processor", "payments-auditor", "audit-reader")
QUIET = {"log_level": 2}


@pytest.fixture(scope="module")
def admin(sandbox: SandboxState) -> Iterator[KafkaAdmin]:
    with KafkaAdmin(sandbox.bootstrap, timeout=10) as a:
        yield a


def token() -> str:
    return uuid.uuid4().hex[:8]


def commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    """Commit offsets for ``group`` as a real client does, without joining it."""
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False, **QUIET}
    )
    try:
        done = c.commit(
            offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
            asynchronous=False,
        )
        assert done is not None and all(tp.error is None for tp in done), done
    finally:
        c.close()


def produce_one(bootstrap: str, topic: str, partition: int) -> int:
    """Produce one record and return its offset."""
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **QUIET})
    offsets: list[int] = []

    def delivered(err: object, msg: Message) -> None:
        offset = msg.offset()
        offsets.append(-1 if err or offset is None else offset)

    p.produce(topic, value=b"fresh", partition=partition, on_delivery=delivered)
    assert p.flush(30) == 0
    assert offsets and offsets[0] >= 0, offsets
    return offsets[0]


def timed(call: Callable[[], object]) -> tuple[KafkascopeError | None, float]:
    t0 = time.monotonic()
    try:
        call()
    except KafkascopeError as e:
        return e, time.monotonic() - t0
    return None, time.monotonic() - t0


# -- cluster and topics ---------------------------------------------------------------


def test_brokers_match_the_sandbox(admin: KafkaAdmin, sandbox: SandboxState) -> None:
    expected = {
        p.node_id: p.listener
        for p in load(Path(sandbox.dir)).processes
        if p.node_id is not None and "broker" in p.role and not p.stopped
    }

    def registered() -> ClusterInfo | None:
        info = admin.cluster()
        return info if {b.id for b in info.brokers} == set(expected) else None

    info = wait_until(registered, 60, f"brokers {sorted(expected)} to be registered")
    assert info.cluster_id == sandbox.cluster_id
    assert {b.id: b.address for b in info.brokers} == expected
    assert [b.id for b in info.brokers] == sorted(expected)
    assert info.controller_id in expected  # KRaft: whichever live broker answered


def test_demo_topics_have_leaders_replicas_and_isr(admin: KafkaAdmin) -> None:
    def healthy() -> dict[str, TopicInfo] | None:
        topics = {t.name: t for t in admin.topics()}
        demo = {n: topics[n] for n in ["orders", "payments", "audit"] if n in topics}
        ok = len(demo) == 3 and all(
            not p.offline and not p.under_replicated for t in demo.values() for p in t.partitions
        )
        return demo if ok else None

    topics = wait_until(healthy, 60, "the demo topics to be fully replicated")
    assert {n: len(t.partitions) for n, t in topics.items()} == {
        "orders": 6,
        "payments": 3,
        "audit": 1,
    }
    for topic in topics.values():
        assert not topic.internal and topic.replication_factor == 3
        assert topic.min_insync_replicas is not None and topic.min_insync_replicas >= 1
        assert [p.partition for p in topic.partitions] == list(range(len(topic.partitions)))
        for p in topic.partitions:
            assert p.topic == topic.name
            assert len(p.replicas) == 3 and set(p.replicas) == {1, 2, 3}
            assert p.leader in p.replicas and p.leader in p.isr
            assert set(p.isr) == set(p.replicas)
            assert p.under_min_isr is False and p.min_isr == topic.min_insync_replicas


def test_internal_topics_only_on_request(admin: KafkaAdmin) -> None:
    assert "__consumer_offsets" not in {t.name for t in admin.topics()}
    internal = {t.name: t for t in admin.topics(include_internal=True)}
    assert internal["__consumer_offsets"].internal
    assert [t.name for t in admin.topics(names=["audit", "no-such-topic"])] == ["audit"]


# -- groups ----------------------------------------------------------------------------


def test_demo_groups_are_listed_and_described(admin: KafkaAdmin) -> None:
    def stable() -> dict[str, GroupDescription] | None:
        descs = admin.describe_groups(DEMO_GROUPS)
        ok = all(d.state is GroupState.STABLE for d in descs.values())
        return descs if ok and len(descs["orders-processor"].members) == 2 else None

    descs = wait_until(stable, 90, "the demo groups to be Stable")
    assert list(descs) == list(DEMO_GROUPS)  # in the order asked
    listed = {g.group_id: g for g in admin.groups()}
    for group in DEMO_GROUPS:
        assert listed[group].type is GroupType.CLASSIC
        assert listed[group].protocol_type == "consumer" and not listed[group].simple
        d = descs[group]
        assert d.type is GroupType.CLASSIC and d.exists and d.error is None
        assert d.coordinator_id in (1, 2, 3) and d.partition_assignor

    orders = descs["orders-processor"]
    assert sorted(m.client_id for m in orders.members) == [
        "orders-processor-1",
        "orders-processor-2",
    ]
    assigned = [tp for m in orders.members for tp in m.assignment]
    assert sorted(assigned) == [("orders", p) for p in range(6)]  # all six, none twice
    for m in orders.members:
        assert m.host == "127.0.0.1" and m.member_id.startswith(m.client_id)
        assert m.assignment and m.target_assignment is None  # classic: no target
    [auditor] = descs["payments-auditor"].members
    assert auditor.client_id == "payments-auditor-1"
    assert auditor.assignment == (("payments", 0), ("payments", 1), ("payments", 2))
    [reader] = descs["audit-reader"].members
    assert reader.client_id == "audit-reader-1" and reader.assignment == (("audit", 0),)


def test_unknown_group_is_dead_not_an_error(admin: KafkaAdmin) -> None:
    ghost = f"no-such-group-{token()}"
    d = admin.describe_groups([ghost, "audit-reader"])[ghost]
    assert d.state is GroupState.DEAD and d.type is GroupType.UNKNOWN
    assert d.members == () and not d.exists and d.error is None
    assert admin.committed_offsets([ghost]) == {ghost: {}}
    assert ghost not in {g.group_id for g in admin.groups()}


def test_kip848_consumer_group(admin: KafkaAdmin, start_client: ClientFactory) -> None:
    group = f"g-848-{token()}"
    start_client("consumer", "payments", group=group, protocol="consumer")

    def settled() -> GroupDescription | None:
        d = admin.describe_groups([group])[group]
        full = len(d.members) == 1 and len(d.members[0].assignment) == 3
        return d if d.state is GroupState.STABLE and full else None

    d = wait_until(settled, 60, f"KIP-848 group {group} to settle")
    assert d.type is GroupType.CONSUMER
    assert d.partition_assignor == "uniform"  # the broker-side assignor
    [member] = d.members
    assert member.client_id.startswith(f"consumer-{group}-")  # Kafka's default client id
    assert member.host == "127.0.0.1"
    assert member.assignment == (("payments", 0), ("payments", 1), ("payments", 2))
    assert member.target_assignment == member.assignment
    listed = {g.group_id: g for g in admin.groups()}
    assert listed[group].type is GroupType.CONSUMER


def test_group_of_a_killed_consumer_stays_with_its_offsets(
    admin: KafkaAdmin, sandbox: SandboxState, start_client: ClientFactory
) -> None:
    group = f"g-killed-{token()}"
    # A 10 s session (default 45 s; the brokers' minimum is 6 s): the same eviction, sooner.
    proc = start_client(
        "consumer", "audit", group=group, properties={"session.timeout.ms": "10000"}
    )
    wait_until(
        lambda: ("audit", 0) in admin.committed_offsets([group]).get(group, {}),
        60,
        f"{group} to commit its offset",
    )
    live = admin.describe_groups([group])[group]
    assert live.state is GroupState.STABLE and len(live.members) == 1

    cluster.client_signal(Path(sandbox.dir), proc.name, "KILL")
    assert not procs.is_alive(proc.pid)

    # No LeaveGroup from a killed JVM: the member stays until session.timeout.ms.
    def emptied() -> GroupDescription | None:
        d = admin.describe_groups([group])[group]
        return d if d.state is GroupState.EMPTY else None

    empty = wait_until(emptied, 120, f"{group} to become Empty after its consumer was killed")
    assert empty.members == () and empty.type is GroupType.CLASSIC and empty.exists
    listed = {g.group_id: g for g in admin.groups()}
    assert listed[group].state is GroupState.EMPTY
    committed = admin.committed_offsets([group])[group]
    assert committed[("audit", 0)] >= 0
    snap = admin.snapshot([group])
    assert snap.lag(group, ("audit", 0)) is not None


# -- offsets ---------------------------------------------------------------------------


def test_committed_offsets_never_exceed_end_offsets(admin: KafkaAdmin) -> None:
    def all_committed() -> OffsetSnapshot | None:
        snap = admin.snapshot(DEMO_GROUPS)
        return snap if len(snap.committed["orders-processor"]) == 6 else None

    snap = wait_until(all_committed, 60, "the demo groups to commit every partition")
    assert snap.group_errors == {} and snap.partition_errors == {}
    assert abs(snap.taken_at - time.time()) < 30
    for group in DEMO_GROUPS:
        assert snap.committed[group], group
        for tp, committed in snap.committed[group].items():
            assert snap.start_offsets[tp] <= committed <= snap.end_offsets[tp], (group, tp)
            lag = snap.lag(group, tp)
            assert lag is not None and lag >= 0
        assert set(snap.lags(group)) == set(snap.committed[group])
    assert snap.negative_lags == 0
    assert snap.committed["audit-reader"] == {("audit", 0): snap.end_offsets[("audit", 0)]}


def test_log_offsets_latest_and_earliest(admin: KafkaAdmin, sandbox: SandboxState) -> None:
    before = admin.log_offsets([("payments", 1)])
    offset = produce_one(sandbox.bootstrap, "payments", 1)
    after = admin.log_offsets([("payments", 1), ("no-such-topic", 0)], "latest")
    assert after[("payments", 1)] > offset >= before[("payments", 1)]
    assert ("no-such-topic", 0) not in after
    assert admin.log_offsets([("payments", 1)], "earliest") == {("payments", 1): 0}
    with pytest.raises(ValueError, match="latest"):
        admin.log_offsets([("payments", 1)], "newest")


def test_negative_lag_is_clamped_and_counted(admin: KafkaAdmin, sandbox: SandboxState) -> None:
    """A commit above the log end (Kafka accepts it) must not read as negative lag."""
    group = f"ahead-{token()}"
    end = admin.log_offsets([("audit", 0)])[("audit", 0)]
    commit(sandbox.bootstrap, group, {("audit", 0): end + 100})
    snap = admin.snapshot([group])
    assert snap.committed[group] == {("audit", 0): end + 100}
    assert snap.lag(group, ("audit", 0)) == 0
    assert snap.negative_lags == 1
    assert snap.lag(group, ("orders", 0)) is None and snap.lag("nobody", ("audit", 0)) is None


def test_snapshot_lag_rules_on_plain_values() -> None:
    snap = OffsetSnapshot(
        taken_at=1.0,
        committed={"g": {("t", 0): 5, ("t", 1): 12, ("t", 2): 3}},
        end_offsets={("t", 0): 9, ("t", 1): 10},
        start_offsets={},
    )
    assert snap.lags("g") == {("t", 0): 4, ("t", 1): 0}  # t-2 has no end offset
    assert snap.negative_lags == 1


def test_many_groups_are_fetched_concurrently(admin: KafkaAdmin, sandbox: SandboxState) -> None:
    prefix = f"many-{token()}"
    expected = {
        f"{prefix}-{i:02d}": {("audit", 0): i % 15, ("payments", i % 3): i} for i in range(30)
    }
    for group, offsets in expected.items():
        commit(sandbox.bootstrap, group, offsets)

    assert admin.committed_offsets(expected) == expected
    descs = admin.describe_groups(expected)
    assert list(descs) == list(expected)
    for d in descs.values():
        # Committed without ever joining: a "simple" group, Empty, no members.
        assert d.state is GroupState.EMPTY and d.members == () and d.simple
    listed = {g.group_id: g for g in admin.groups() if g.group_id.startswith(prefix)}
    assert set(listed) == set(expected)
    assert all(g.simple and g.protocol_type == "" for g in listed.values())
    snap = admin.snapshot()  # every group of the cluster, ours among them
    assert {g: snap.committed[g] for g in expected} == expected
    assert snap.group_errors == {}
    assert all(lag >= 0 for g in expected for lag in snap.lags(g).values())


# -- record timestamps -------------------------------------------------------------------


def test_record_timestamp_of_a_fresh_record(admin: KafkaAdmin, sandbox: SandboxState) -> None:
    offset = produce_one(sandbox.bootstrap, "payments", 2)
    stamp = admin.record_timestamp("payments", 2, offset)
    assert stamp is not None and abs(stamp - time.time()) < 30
    stamps = admin.record_timestamps(
        [("payments", 2, offset), ("audit", 0, 0), ("audit", 0, 10**9), ("no-such-topic", 0, 0)]
    )
    assert stamps[("payments", 2, offset)] == stamp
    assert stamps[("audit", 0, 0)] is not None and stamps[("audit", 0, 0)] <= stamp
    assert stamps[("audit", 0, 10**9)] is None  # past the end
    assert stamps[("no-such-topic", 0, 0)] is None
    end = admin.log_offsets([("audit", 0)])[("audit", 0)]
    assert admin.record_timestamp("audit", 0, end) is None  # at the end: nothing to read
    # The peek consumer only assigns: it never shows up as a group.
    assert PEEK_GROUP not in {g.group_id for g in admin.groups()}


# -- errors ----------------------------------------------------------------------------


def test_unreachable_bootstrap_is_named_within_the_timeout() -> None:
    address = f"127.0.0.1:{procs.free_port()}"
    with KafkaAdmin(address, timeout=3) as dead:
        calls: list[tuple[str, Callable[[], object]]] = [
            ("cluster", dead.cluster),
            ("topics", dead.topics),
            ("groups", dead.groups),
            ("describe_groups", lambda: dead.describe_groups(["g"])),
            ("committed_offsets", lambda: dead.committed_offsets(["g"])),
            ("log_offsets", lambda: dead.log_offsets([("t", 0)])),
            ("snapshot", dead.snapshot),
        ]
        for name, call in calls:
            error, took = timed(call)
            assert isinstance(error, Unreachable), (name, error)
            assert took < 3 + 1.5, (name, took)
            assert address in str(error) and "is a broker listening" in str(error)
            assert "check bootstrap servers" in str(error)
        assert dead.record_timestamp("t", 0, 0) is None


@pytest.mark.parametrize(
    "properties",
    [
        {"security.protocol": "SASL_PLAINTEXT", "sasl.mechanism": "PLAIN"},
        {"security.protocol": "SSL"},
    ],
    ids=["sasl-on-plaintext-listener", "tls-on-plaintext-listener"],
)
def test_refused_security_is_auth_failed(sandbox: SandboxState, properties: dict[str, str]) -> None:
    props = properties | {"sasl.username": "kafkascope", "sasl.password": "hunter2"}
    with KafkaAdmin(sandbox.bootstrap, props, timeout=5) as a:
        assert "hunter2" not in repr(a)
        error, took = timed(a.cluster)
    assert isinstance(error, AuthFailed), error
    assert took < 5 + 1.5
    assert "security.protocol" in str(error) and "hunter2" not in str(error)


def test_bad_property_is_a_config_error_without_the_secret(sandbox: SandboxState) -> None:
    with pytest.raises(ConfigError, match=r"no\.such\.property") as info:
        KafkaAdmin(sandbox.bootstrap, {"sasl.password": "hunter2", "no.such.property": "1"})
    assert "hunter2" not in str(info.value)
    with pytest.raises(ConfigError, match="bootstrap"):
        KafkaAdmin("  ")


def test_closed_admin_refuses_calls(sandbox: SandboxState) -> None:
    a = KafkaAdmin(sandbox.bootstrap, timeout=5)
    assert a.cluster().brokers
    a.close()
    a.close()
    with pytest.raises(RuntimeError, match="closed"):
        a.groups()

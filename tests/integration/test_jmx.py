"""The JMX collection engine on a real cluster (issue 3's "done when"): broker values agree
with the cluster metadata, clients are found by wildcard with their real ids, a killed
client is unreachable at the next collection, a frozen JVM times out within its bound while
the others are read on time, JMX password authentication fails clearly, and the ``jmx`` CLI
works and fails with one clear line."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from confluent_kafka import ElectionType
from confluent_kafka.admin import AdminClient

from kafkascope.errors import AuthFailed, ConfigError, Timeout, Unreachable
from kafkascope.model import MetricKind, Sample
from kafkascope.sandbox import cluster, jars, procs
from kafkascope.sandbox.state import Proc, SandboxState, load
from kafkascope.sources.jmx.broker_targets import BrokerNode, BrokerTarget, plan_broker_targets
from kafkascope.sources.jmx.collector import Backoff, CollectResult, JmxCollector
from kafkascope.sources.jmx.connection import BeanName, JmxConnection, JmxEndpoint, Value
from kafkascope.sources.jmx.reader import Reading, TargetReader
from kafkascope.sources.kafka.admin import KafkaAdmin
from tests.conftest import ClientFactory
from tests.support import wait_jmx, wait_until

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------ helpers


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", "jmx", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def value(samples: tuple[Sample, ...] | list[Sample], name: str, **labels: str) -> float | None:
    """The value of the one sample named ``name`` whose labels are exactly ``labels``."""
    want = tuple(sorted(labels.items()))
    found = [s.value for s in samples if s.name == name and s.labels == want]
    assert len(found) <= 1, f"{name}{labels} appears {len(found)} times"
    return found[0] if found else None


def read(jmx: str, **kw: object) -> Reading:
    reader = TargetReader(JmxEndpoint.parse(jmx), **kw)  # type: ignore[arg-type]
    try:
        return reader.read()
    finally:
        reader.close()


def running_brokers(sandbox: SandboxState) -> list[Proc]:
    state = load(Path(sandbox.dir))
    return [p for p in state.processes if p.node_id is not None and not p.stopped]


def broker_targets(
    bootstrap: str, jmx_port: int | None = None, overrides: dict[int, str | int] | None = None
) -> list[BrokerTarget]:
    """Targets as the broker monitor plans them: the metadata's brokers (read with
    KafkaAdmin, as the monitor's admin does) plus the override map's."""
    with KafkaAdmin(bootstrap) as admin:
        nodes = [BrokerNode(b.id, b.host, b.port) for b in admin.cluster().brokers]
    return plan_broker_targets(nodes, jmx_port, overrides)


def metadata_counts(bootstrap: str) -> tuple[Counter[int], Counter[int]]:
    """(replicas hosted, partitions led) per broker id, from the cluster metadata."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})
    md = admin.list_topics(timeout=10)
    replicas: Counter[int] = Counter()
    leaders: Counter[int] = Counter()
    for topic in md.topics.values():
        for p in topic.partitions.values():
            replicas.update(p.replicas)
            if p.leader >= 0:
                leaders[p.leader] += 1
    return replicas, leaders


class RecordingConnection(JmxConnection):
    """A real connection that remembers what it was asked, to prove the access pattern."""

    def __init__(self, endpoint: JmxEndpoint, timeout: float = 5.0) -> None:
        super().__init__(endpoint, timeout)
        self.patterns: list[str] = []
        self.reads: list[str] = []

    def query_names(self, pattern: str) -> list[BeanName]:
        self.patterns.append(pattern)
        return super().query_names(pattern)

    def get_attributes(self, name: str, attributes: list[str]) -> dict[str, Value]:
        self.reads.append(name)
        return super().get_attributes(name, attributes)


# ------------------------------------------------------------------------------ brokers


def test_broker_values_agree_with_metadata(sandbox: SandboxState) -> None:
    """PartitionCount is the number of replicas the broker hosts and LeaderCount the
    partitions it leads, as the metadata says; a healthy cluster has no under-replicated
    partition and exactly one active controller."""
    brokers = running_brokers(sandbox)

    def agree() -> bool:
        replicas, leaders = metadata_counts(sandbox.bootstrap)
        readings = {p.node_id: read(p.jmx) for p in brokers}
        for node_id, r in readings.items():
            assert node_id is not None
            assert value(r.samples, "kafka_broker_partitions") == replicas[node_id], node_id
            assert value(r.samples, "kafka_broker_leaders") == leaders[node_id], node_id
            assert value(r.samples, "kafka_broker_under_replicated_partitions") == 0
        active = [value(r.samples, "kafka_controller_active") for r in readings.values()]
        assert sum(v or 0 for v in active) == 1, active
        return True

    wait_until(agree, 60, "JMX broker values to agree with the metadata")
    r = read(brokers[0].jmx)
    assert r.identity.role == "broker+controller"
    assert {"broker", "controller", "jvm", "partition"} <= set(r.identity.sets)
    # Values from every kind of catalog entry are there, with their labels.
    assert value(r.samples, "kafka_broker_state") == 3  # RUNNING
    assert value(r.samples, "kafka_broker_request_handler_idle_ratio") is not None
    p99 = value(r.samples, "kafka_broker_request_time_seconds", request="Produce", quantile="0.99")
    assert p99 is not None
    assert value(r.samples, "kafka_broker_messages_in_total") is not None  # broker-wide meter
    [raft_state] = [
        s for s in r.samples if s.name == "kafka_raft_current_state" and s.value == 1.0
    ]  # a state set: one state is 1, the others 0
    assert raft_state.kind is MetricKind.STATE and raft_state.label("state")
    assert value(r.samples, "jvm_heap_used_bytes") is not None
    gcs = {s.label("gc") for s in r.samples if s.name == "jvm_gc_collections_total"}
    assert "G1 Young Generation" in gcs
    # Per-partition metrics are opt-in.
    assert not any(s.name == "kafka_log_size_bytes" for s in r.samples)
    with_partitions = read(brokers[0].jmx, opt_in=("partition",))
    sizes = [s for s in with_partitions.samples if s.name == "kafka_log_size_bytes"]
    replicas, _ = metadata_counts(sandbox.bootstrap)
    assert brokers[0].node_id is not None
    # The KRaft metadata log (__cluster_metadata-0) has a Log MBean too, but is no replica
    # of a user or internal topic, so the metadata does not list it.
    topic_sizes = [s for s in sizes if s.label("topic") != "__cluster_metadata"]
    assert len(topic_sizes) == replicas[brokers[0].node_id] == len(sizes) - 1
    assert all(s.label("topic") and s.label("partition") for s in sizes)


def test_collector_never_lists_everything_and_reads_each_mbean_once(
    sandbox: SandboxState,
) -> None:
    broker = running_brokers(sandbox)[0]
    endpoint = JmxEndpoint.parse(broker.jmx)
    conn = RecordingConnection(endpoint)
    reader = TargetReader(endpoint, opt_in=("partition",), connection=conn)
    try:
        first = reader.read()
        # Only the catalog's patterns: literal domains, never *:*.
        assert conn.patterns
        assert all("*" not in p.split(":")[0] and not p.endswith(":*") for p in conn.patterns)
        conn.patterns.clear()
        conn.reads.clear()
        second = reader.read()
    finally:
        reader.close()
    assert first.beans_read > 100
    # The second cycle re-uses the cached name list: only the client-id=* discovery
    # queries run, and every MBean is read with exactly one getAttributes.
    assert all("client-id=*" in p for p in conn.patterns), conn.patterns
    assert len(conn.reads) == len(set(conn.reads)) == second.beans_read


def test_under_replicated_partitions_rise_when_a_broker_stops(sandbox: SandboxState) -> None:
    """Stop a broker that is not the active controller: the others report under-replicated
    partitions, the broker list from metadata keeps it as a target that is unreachable;
    after it restarts every broker returns to 0."""
    directory = Path(sandbox.dir)
    brokers = running_brokers(sandbox)
    overrides: dict[int, str | int] = {p.node_id: p.jmx for p in brokers if p.node_id}
    active = {
        p.node_id: value(read(p.jmx, sets=["controller"]).samples, "kafka_controller_active")
        for p in brokers
    }
    victim = next(p for p in brokers if active[p.node_id] == 0)
    assert victim.node_id is not None
    others = [p for p in brokers if p.node_id != victim.node_id]
    collector = JmxCollector(timeout=3, backoff=Backoff(base=0.5, cap=2))
    for t in broker_targets(sandbox.bootstrap, overrides=overrides):
        collector.add(t.endpoint, sets=["broker"])
    try:
        cluster.broker_stop(directory, victim.node_id)

        def urp_seen() -> float | None:
            v = value(
                read(others[0].jmx, sets=["broker"]).samples,
                "kafka_broker_under_replicated_partitions",
            )
            return v if v and v > 0 else None

        urp = wait_until(urp_seen, 90, "UnderReplicatedPartitions > 0 on a surviving broker")
        replicas, _ = metadata_counts(sandbox.bootstrap)
        assert 0 < urp <= replicas[others[0].node_id or 0]
        # Discovery keeps the stopped broker (it is in the override map) and says so.
        targets = {t.node_id: t for t in broker_targets(sandbox.bootstrap, overrides=overrides)}
        assert targets[victim.node_id].in_metadata is False
        assert all(targets[p.node_id or 0].in_metadata for p in others)
        results = {r.target: r for r in collector.collect()}
        assert isinstance(results[victim.jmx].error, Unreachable)
        assert all(results[p.jmx].ok for p in others)
        fresh = {f.target: f for f in collector.freshness()}
        assert fresh[victim.jmx].error_kind == "unreachable"
    finally:
        collector.close()
        cluster.broker_start(directory, victim.node_id)

    def healthy() -> bool:
        return all(
            value(read(p.jmx, sets=["broker"]).samples, "kafka_broker_under_replicated_partitions")
            == 0
            for p in running_brokers(sandbox)
        )

    wait_until(healthy, 180, "every broker to report 0 under-replicated partitions again")
    restore_preferred_leaders(sandbox.bootstrap)


def restore_preferred_leaders(bootstrap: str) -> None:
    """Leave the cluster as the session found it: the restarted broker leads its preferred
    partitions again now, not after leader.imbalance.check.interval.seconds (5 min), so
    later tests see leadership spread over every broker."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 2})

    def balanced() -> bool:
        # Partitions already led by their preferred replica answer ELECTION_NOT_NEEDED.
        admin.elect_leaders(ElectionType.PREFERRED, None).result(timeout=30)
        md = admin.list_topics(timeout=10)
        return all(
            p.leader == p.replicas[0] for t in md.topics.values() for p in t.partitions.values()
        )

    wait_until(balanced, 60, "every partition to be led by its preferred replica", interval=1)


def test_broker_targets_from_metadata(sandbox: SandboxState) -> None:
    brokers = running_brokers(sandbox)
    overrides: dict[int, str | int] = {p.node_id: p.jmx for p in brokers if p.node_id}
    targets = broker_targets(sandbox.bootstrap, overrides=overrides)
    assert {t.node_id: t.endpoint.target for t in targets} == overrides
    assert all(t.in_metadata and t.kafka_listener for t in targets)
    # One JMX port for every broker: each broker's advertised host with that port.
    same_port = broker_targets(sandbox.bootstrap, jmx_port=9999)
    assert [t.endpoint.target for t in same_port] == ["127.0.0.1:9999"] * len(brokers)
    # Without any JMX port the brokers that have none are named.
    nodes = [BrokerNode(1, "h1", 9092), BrokerNode(2, "h2", 9092)]
    with pytest.raises(ConfigError, match=r"no JMX port known for broker\(s\) 2"):
        plan_broker_targets(nodes, None, {1: 9999})
    assert plan_broker_targets(nodes, None, {1: 9999, 2: "jmx2:7000"})[1].endpoint.target == (
        "jmx2:7000"
    )


# ------------------------------------------------------------------------------ clients


def test_clients_found_by_wildcard_with_real_and_default_ids(
    sandbox: SandboxState, start_client: ClientFactory
) -> None:
    group = f"wild-{uuid.uuid4().hex[:6]}"
    consumer = start_client("consumer", "payments", group=group)  # no client id given
    producer = start_client("producer", "payments", rate=5)  # no client id given
    named = sandbox.find("orders-processor-1")
    collector = JmxCollector(timeout=5)
    for p in (consumer, producer, named):
        collector.add(JmxEndpoint.parse(p.jmx))
    try:

        def all_found() -> dict[str, CollectResult] | None:
            results = {r.target: r for r in collector.collect()}
            if all(r.ok and r.identity and r.identity.clients for r in results.values()):
                return results
            return None

        results = wait_until(all_found, 60, "every client to register its metrics")
        seen = {(c.target, c.role, c.client_id) for c in collector.clients()}
        producer_ids = [c for t, r, c in seen if t == producer.jmx and r == "producer"]
        assert (consumer.jmx, "consumer", f"consumer-{group}-1") in seen
        assert (named.jmx, "consumer", "orders-processor-1") in seen
        assert len(producer_ids) == 1 and producer_ids[0].startswith("producer-")
        consumer_identity = results[consumer.jmx].identity
        producer_identity = results[producer.jmx].identity
        assert consumer_identity is not None and consumer_identity.role == "consumer"
        assert producer_identity is not None and producer_identity.role == "producer"
        # Every sample carries its target, and client samples their client id.
        for target, r in results.items():
            assert all(s.target == target for s in r.samples)
        c_samples = results[consumer.jmx].samples
        cid = f"consumer-{group}-1"
        assert value(c_samples, "kafka_consumer_last_poll_age_seconds", client_id=cid) is not None
        assert (
            value(c_samples, "kafka_consumer_last_heartbeat_age_seconds", client_id=cid) is not None
        )
        assert value(c_samples, "jvm_threads") is not None
        pid = producer_ids[0]

        def sent() -> float:
            r = {x.target: x for x in collector.collect()}[producer.jmx]
            # Say why there is no value (one CI run timed out with "last: None" and
            # nothing more): the read's error, or which producer series the read gave.
            assert r.error is None, f"the producer's read failed: {r.error}"
            v = value(r.samples, "kafka_producer_records_sent_total", client_id=pid)
            assert v is not None, (
                f"no send total for {pid} among {len(r.samples)} samples: "
                f"{sorted({(s.name, s.labels) for s in r.samples if 'producer' in s.name})[:8]}"
            )
            return v

        # In a list, so that a total of 0.0 (nothing sent yet) counts as read.
        first = wait_until(lambda: [sent()], 60, "the producer's send total")[0]
        wait_until(lambda: sent() > first, 60, "sends to increase")
        topics = {
            s.label("topic")
            for s in results[producer.jmx].samples
            if s.name == "kafka_producer_topic_records_sent_total"
        }
        assert topics <= {"payments"}
        fresh = {c.client_id: c for c in collector.clients()}
        assert fresh[cid].first_seen <= fresh[cid].last_seen
    finally:
        collector.close()


def test_killed_client_is_unreachable_at_the_next_collection(
    sandbox: SandboxState, start_client: ClientFactory
) -> None:
    interval = 5.0
    p = start_client("consumer", "audit", group=f"kill-{uuid.uuid4().hex[:6]}")
    broker = running_brokers(sandbox)[0]
    collector = JmxCollector(timeout=interval)
    collector.add(JmxEndpoint.parse(p.jmx))
    collector.add(JmxEndpoint.parse(broker.jmx), sets=["jvm"])
    try:
        wait_until(
            lambda: all(r.ok for r in collector.collect()) and collector.clients(),
            60,
            "the consumer to be collected",
        )
        before = {c.client_id: c.last_seen for c in collector.clients()}
        cluster.client_signal(Path(sandbox.dir), p.name, "KILL")
        t0 = time.monotonic()
        results = {r.target: r for r in collector.collect()}
        elapsed = time.monotonic() - t0
        assert elapsed < interval, f"took {elapsed:.1f} s"
        assert isinstance(results[p.jmx].error, Unreachable), results[p.jmx].error
        assert "connection refused" in str(results[p.jmx].error)
        assert results[broker.jmx].ok
        fresh = {f.target: f for f in collector.freshness()}
        gone = fresh[p.jmx]
        assert gone.error_kind == "unreachable" and gone.failures == 1
        assert gone.failing
        assert gone.last_success is not None and gone.last_attempt is not None
        assert gone.last_success < gone.last_attempt
        # The client's "update time" stops: last_seen does not move any more.
        after = {c.client_id: c.last_seen for c in collector.clients()}
        assert after == before
    finally:
        collector.close()


def test_frozen_jvm_times_out_within_its_bound_while_others_are_on_time(
    sandbox: SandboxState, start_client: ClientFactory
) -> None:
    bound = 2.0
    frozen = start_client("consumer", "audit", group=f"frozen-{uuid.uuid4().hex[:6]}")
    others = [
        running_brokers(sandbox)[0].jmx,
        sandbox.find("orders-producer").jmx,
        sandbox.find("payments-auditor-1").jmx,
    ]
    collector = JmxCollector(timeout=bound, backoff=Backoff(base=0.5, cap=1))
    for jmx in [frozen.jmx, *others]:
        collector.add(JmxEndpoint.parse(jmx))
    directory = Path(sandbox.dir)
    try:

        def clean_cycle() -> bool:
            results = collector.collect()
            roles = {r.target: r.identity.role for r in results if r.identity}
            return all(r.ok for r in results) and roles.get(frozen.jmx) == "consumer"

        wait_until(clean_cycle, 60, "a clean cycle, with the new consumer registered")
        cluster.client_signal(directory, frozen.name, "STOP")
        t0 = time.monotonic()
        arrived: dict[str, float] = {}
        results = {
            r.target: r
            for r in collector.collect(
                on_result=lambda r: arrived.__setitem__(r.target, time.monotonic() - t0)
            )
        }
        assert isinstance(results[frozen.jmx].error, Timeout), results[frozen.jmx].error
        assert bound - 0.5 <= arrived[frozen.jmx] <= bound + 1.5, arrived
        for jmx in others:
            assert results[jmx].ok, results[jmx].error
            # On time: handed over before the frozen target's bound ran out.
            assert arrived[jmx] < bound, arrived
        # A fresh connection to the frozen JVM is bounded too (connect, not just read).
        t1 = time.monotonic()
        with pytest.raises(Timeout, match="did not answer within 2 s"):
            read(frozen.jmx, timeout=bound)
        assert time.monotonic() - t1 <= bound + 1.5
    finally:
        cluster.client_signal(directory, frozen.name, "CONT")
    try:
        # Resumed: after the backoff the collector reconnects and reads it again.
        wait_until(
            lambda: {r.target: r for r in collector.collect()}[frozen.jmx].ok,
            30,
            "the resumed JVM to be collected again",
        )
        fresh = {f.target: f for f in collector.freshness()}
        f = fresh[frozen.jmx]
        assert not f.failing and f.error_kind == "timeout"  # recovered; the record stays
        assert f.last_success is not None and f.last_error_at is not None
        assert f.last_success > f.last_error_at
    finally:
        collector.close()


# ------------------------------------------------------------------------------ auth

IDLE_JAVA = """
public class Idle {
    public static void main(String[] args) throws Exception {
        Thread.sleep(Long.MAX_VALUE);
    }
}
"""


@pytest.fixture
def secured_jvm(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A small JVM whose JMX requires a password: (HOST:PORT, a file with the password)."""
    source = tmp_path / "Idle.java"
    source.write_text(IDLE_JAVA)
    passwords = tmp_path / "jmxremote.password"
    passwords.write_text("monitor s3cret\n")
    passwords.chmod(0o600)  # the JMX agent refuses a password file others can read
    access = tmp_path / "jmxremote.access"
    access.write_text("monitor readonly\n")
    access.chmod(0o600)
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    port = procs.free_port()
    argv = [
        jars.java_bin(),
        "-Xmx32m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        f"-Dcom.sun.management.jmxremote.port={port}",
        f"-Dcom.sun.management.jmxremote.rmi.port={port}",
        "-Dcom.sun.management.jmxremote.host=127.0.0.1",
        "-Djava.rmi.server.hostname=127.0.0.1",
        "-Dcom.sun.management.jmxremote.authenticate=true",
        f"-Dcom.sun.management.jmxremote.password.file={passwords}",
        f"-Dcom.sun.management.jmxremote.access.file={access}",
        "-Dcom.sun.management.jmxremote.ssl=false",
        str(source),
    ]
    log = (tmp_path / "idle.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_jmx(f"127.0.0.1:{port}", 60, username="monitor", password="s3cret")
        yield f"127.0.0.1:{port}", secret
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()


def test_jmx_password_authentication(secured_jvm: tuple[str, Path]) -> None:
    target, secret = secured_jvm
    wrong = JmxEndpoint.parse(target, username="monitor", password="nope")
    with pytest.raises(AuthFailed, match="JMX authentication failed: check the username"):
        JmxConnection(wrong).connect()
    with pytest.raises(AuthFailed):
        JmxConnection(JmxEndpoint.parse(target)).connect()  # no credentials at all
    # The collector reports it as an auth failure, not as a dead target.
    collector = JmxCollector(timeout=5)
    collector.add(wrong)
    try:
        [result] = collector.collect()
        assert isinstance(result.error, AuthFailed)
        assert collector.freshness()[0].error_kind == "auth_failed"
    finally:
        collector.close()
    right = JmxEndpoint.parse(target, username="monitor", password="s3cret")
    r = TargetReader(right)
    try:
        reading = r.read()
    finally:
        r.close()
    assert reading.identity.role == "jvm" and reading.identity.sets == ("jvm",)
    assert value(reading.samples, "jvm_heap_max_bytes") is not None
    # The CLI: the password comes from a file; a wrong one is one clear line, exit 2.
    ok = cli("domains", target, "--user", "monitor", "--password-file", str(secret), "--json")
    assert ok.returncode == 0, ok.stderr
    assert "java.lang" in json.loads(ok.stdout)["domains"]
    bad_secret = secret.with_name("bad")
    bad_secret.write_text("wrong\n")
    bad = cli("domains", target, "--user", "monitor", "--password-file", str(bad_secret))
    assert bad.returncode == 2
    assert "JMX authentication failed" in bad.stderr and "Traceback" not in bad.stderr
    no_user = cli("domains", target, "--password-file", str(secret))
    assert no_user.returncode == 2 and "--password-file needs --user" in no_user.stderr


def test_a_port_that_is_an_rmi_registry_without_an_agent_is_unreachable(tmp_path: Path) -> None:
    """A JVM's RMI registry opens its port a moment before the JMX agent binds "jmxrmi" in
    it (a client connecting then failed CI once), and a port can be some other program's
    registry. A real ``rmiregistry`` with nothing bound is that state held still: it must
    read as Unreachable (retried, with the fix named), not as an unknown JMX error."""
    registry = Path(jars.java_bin()).resolve().parent / "rmiregistry"
    port = procs.free_port()
    log = (tmp_path / "rmiregistry.log").open("w")
    proc = subprocess.Popen(
        [str(registry), "-J-Xmx32m", str(port)], stdout=log, stderr=subprocess.STDOUT
    )
    try:
        assert procs.wait_port("127.0.0.1", port, time.monotonic() + 60), "no registry port"
        with pytest.raises(Unreachable, match="no JMX agent is bound") as raised:
            JmxConnection(JmxEndpoint.parse(f"127.0.0.1:{port}")).connect()
        assert "check the port" in str(raised.value)
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()


# ------------------------------------------------------------------------------ CLI


def test_cli_domains_query_collect(sandbox: SandboxState) -> None:
    broker = running_brokers(sandbox)[0]
    consumer = sandbox.find("orders-processor-2")

    res = cli("domains", broker.jmx, "--json")
    assert res.returncode == 0, res.stderr
    domains = json.loads(res.stdout)["domains"]
    assert "kafka.server" in domains and "kafka.consumer" not in domains
    res = cli("domains", consumer.jmx)
    assert res.returncode == 0 and "kafka.consumer" in res.stdout.split()

    res = cli(
        "query",
        consumer.jmx,
        "kafka.consumer:type=consumer-metrics,client-id=*",
        "--attr",
        "last-poll-seconds-ago",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    [row] = json.loads(res.stdout)
    assert row["keys"]["client-id"] == "orders-processor-2"
    assert isinstance(row["attributes"]["last-poll-seconds-ago"], float)
    res = cli("query", consumer.jmx, "kafka.consumer:type=consumer-metrics,*", "--attr", "x")
    assert res.returncode == 0 and "x = (no such attribute)" in res.stdout

    res = cli("collect", broker.jmx, "--set", "broker", "--set", "partition", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["role"] == "broker+controller" and out["sets_read"] == ["broker", "partition"]
    names = {s["name"] for s in out["samples"]}
    assert {"kafka_broker_under_replicated_partitions", "kafka_log_size_bytes"} <= names
    assert "jvm_heap_used_bytes" not in names  # only the sets asked for
    # as on /metrics: a name in seconds is in seconds (JMX's TotalTimeMs converted)
    timed = [s for s in out["samples"] if s["name"] == "kafka_broker_request_time_seconds"]
    assert timed and all(s["unit"] == "seconds" for s in timed)

    res = cli("collect", consumer.jmx)
    assert res.returncode == 0, res.stderr
    header, *lines = res.stdout.splitlines()
    assert header.startswith(f"# {consumer.jmx}: consumer;")
    assert "consumer orders-processor-2" in header
    assert any(
        line.startswith('kafka_consumer_last_poll_age_seconds{client_id="orders-processor-2"}')
        for line in lines
    )


def test_cli_errors_are_one_clear_line(sandbox: SandboxState) -> None:
    errors = []
    res = cli("domains", "not-an-endpoint")
    assert res.returncode == 2 and "expected HOST:PORT" in res.stderr
    errors.append(res)
    closed = procs.free_port()
    res = cli("domains", f"127.0.0.1:{closed}")
    assert res.returncode == 2 and "connection refused" in res.stderr, res.stderr
    errors.append(res)
    res = cli("collect", running_brokers(sandbox)[0].jmx, "--set", "brokr")
    assert res.returncode == 2 and "no catalog set named 'brokr'" in res.stderr
    assert "broker, consumer, controller, jvm, partition, producer" in res.stderr
    errors.append(res)
    # A port that accepts connections but never answers: a timeout, within the bound.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        t0 = time.monotonic()
        res = cli("domains", f"127.0.0.1:{port}", "--timeout", "1")
        elapsed = time.monotonic() - t0
    assert res.returncode == 2 and "did not answer within 1 s" in res.stderr, res.stderr
    assert elapsed < 15
    errors.append(res)
    for r in errors:
        assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr

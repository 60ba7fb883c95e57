"""The catalog through its two alternate sources, against the real agent jars attached to a
real one-node sandbox broker: a Jolokia agent (one bulk POST with patterns) and a
Prometheus jmx_exporter java agent running the config ``exporter_config`` writes. Read
side by side with the JMX reader they give the same metric names, label sets and kinds;
values agree where they are static and counters never go back. Bad endpoints fail with
the error a user can act on."""

from __future__ import annotations

import math
import shutil
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import yaml

from kafkascope.clock import FakeClock
from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.model import MetricKind, Sample
from kafkascope.sandbox import cluster, jars, probe, procs
from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.jmx.batching import BATCH
from kafkascope.sources.jmx.bulk import Source
from kafkascope.sources.jmx.catalog import (
    CATALOG_DIR,
    default_catalog,
    load_catalog,
)
from kafkascope.sources.jmx.collector import JmxCollector
from kafkascope.sources.jmx.connection import BeanName, JmxEndpoint, Value
from kafkascope.sources.jmx.jolokia import JolokiaReader, is_pattern, jolokia_url
from kafkascope.sources.jmx.object_name import parse_object_name
from kafkascope.sources.jmx.prometheus import (
    FAMILY,
    PrometheusReader,
    exporter_config,
    metrics_url,
    split_keys,
)
from kafkascope.sources.jmx.reader import TargetReader, read_shape

# What a monitored combined KRaft node is read for, the per-partition set included.
SETS = ("broker", "controller", "jvm", "partition")
USER, PASSWORD = "monitor", "s3cret"
#: The raft state set's states, as the catalog lists them.
RAFT_STATES = default_catalog().metric("kafka_raft_current_state").states

# Values that cannot change between three reads a second apart on an idle broker.
STATIC = (
    "kafka_broker_partitions",
    "kafka_broker_leaders",
    "kafka_broker_state",
    "kafka_broker_under_replicated_partitions",
    "kafka_broker_offline_replicas",
    "kafka_broker_offline_log_directories",
    "kafka_controller_active",
    "kafka_controller_global_partitions",
    "kafka_controller_global_topics",
    "kafka_controller_active_brokers",
    "kafka_controller_fenced_brokers",
    "kafka_raft_current_leader",
    "kafka_raft_current_epoch",
    "kafka_raft_current_state",
    "kafka_partition_under_replicated",
    "kafka_partition_in_sync_replicas",
    "jvm_heap_max_bytes",
    "jvm_start_time_seconds",
    "jvm_max_file_descriptors",
)

Key = tuple[str, tuple[tuple[str, str], ...], MetricKind, str]


def keyed(samples: list[Sample] | tuple[Sample, ...]) -> dict[Key, float]:
    out: dict[Key, float] = {}
    for s in samples:
        key = (s.name, s.labels, s.kind, s.unit)
        assert key not in out, f"{key} appears twice"
        out[key] = s.value
    return out


@dataclass(frozen=True)
class AgentBroker:
    state: SandboxState
    jmx: str
    jolokia: str  # URL
    exporter: str  # URL


@pytest.fixture(scope="module")
def agent_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AgentBroker]:
    """A one-node sandbox whose broker JVM carries both agents, with three topics that
    have seen traffic (so per-topic meters exist)."""
    directory = tmp_path_factory.mktemp("alt-sources")
    lib = jars.ensure_jars()
    config = directory / "exporter.yaml"
    config.write_text(exporter_config(default_catalog(), SETS))
    jolokia_port, exporter_port = procs.free_ports(2)
    agents = [
        f"-javaagent:{jars.agent_jar(lib, 'jolokia-agent-jvm-javaagent')}"
        f"=port={jolokia_port},host=127.0.0.1,user={USER},password={PASSWORD}",
        f"-javaagent:{jars.agent_jar(lib, 'jmx_prometheus_javaagent')}"
        f"=127.0.0.1:{exporter_port}:{config}",
    ]
    state = cluster.up(directory, brokers=1, workload=False, lib_dir=lib, agents=agents)
    try:
        deadline = time.monotonic() + 60
        for port in (jolokia_port, exporter_port):
            assert procs.wait_port("127.0.0.1", port, deadline), f"agent port {port} not open"
        topics = {"alt.orders": 3, "alt_payments": 2, "alt-audit": 1}
        probe.create_topics(state.bootstrap, topics, 1, time.monotonic() + 60)
        for topic in topics:
            probe.produce(state.bootstrap, topic, 5)
        yield AgentBroker(
            state,
            state.processes[0].jmx,
            f"http://127.0.0.1:{jolokia_port}/jolokia/",
            f"http://127.0.0.1:{exporter_port}/metrics",
        )
    finally:
        cluster.down(directory)
        pids = [p.pid for p in state.processes]
        assert not any(procs.owns(pid, state.marker) for pid in pids), "a broker survived"
        shutil.rmtree(directory, ignore_errors=True)


def read_jmx(jmx: str, **kw: object) -> tuple[Sample, ...]:
    reader = TargetReader(JmxEndpoint.parse(jmx), **kw)  # type: ignore[arg-type]
    try:
        return reader.read().samples
    finally:
        reader.close()


# ------------------------------------------------------------------------ agreement


@pytest.mark.integration
def test_jmx_jolokia_and_exporter_give_the_same_samples(agent_broker: AgentBroker) -> None:
    """Same names, label sets, kinds and units from all three; static gauges equal;
    counters read in the order JMX, Jolokia, exporter, JMX never go back."""
    with (
        JolokiaReader(agent_broker.jolokia, sets=SETS, auth=(USER, PASSWORD)) as jolokia,
        PrometheusReader(agent_broker.exporter, sets=SETS) as exporter,
    ):
        # An idle broker's MBean set is stable; retry once in case a late meter appeared.
        for _ in range(3):
            first = keyed(read_jmx(agent_broker.jmx, sets=SETS))
            via_jolokia = keyed(jolokia.read())
            via_exporter = keyed(exporter.read())
            last = keyed(read_jmx(agent_broker.jmx, sets=SETS))
            if set(first) == set(via_jolokia) == set(via_exporter) == set(last):
                break
            time.sleep(1)
        assert jolokia.posts == 1, "the whole catalog should be one bulk POST"
        assert jolokia.agent_version == "2.4.2"
    assert set(via_jolokia) == set(first), set(via_jolokia) ^ set(first)
    assert set(via_exporter) == set(first), set(via_exporter) ^ set(first)

    names = {k[0] for k in first}
    # The broker catalog really was read: per topic, per partition, composite, state.
    for name in ("kafka_broker_partitions", "kafka_log_size_bytes", "jvm_heap_used_bytes"):
        assert name in names
    topics = {dict(k[1]).get("topic") for k in first if k[0] == "kafka_broker_messages_in_total"}
    assert {"alt.orders", "alt_payments", "alt-audit"} <= topics
    # The raft state is a state set: every state present, 1 on the current one only.
    states = {
        dict(k[1])["state"]: v for k, v in first.items() if k[0] == "kafka_raft_current_state"
    }
    assert {s for s, v in states.items() if v == 1.0} == {"leader"}
    assert "follower" in states and set(states.values()) == {0.0, 1.0}
    # One replica per partition in the metadata (the readiness probe's group made
    # __consumer_offsets), plus the KRaft log __cluster_metadata, which it does not list.
    md = probe.admin(agent_broker.state.bootstrap).list_topics(timeout=10)
    hosted = sum(len(t.partitions) for t in md.topics.values())
    sizes = [k for k in first if k[0] == "kafka_log_size_bytes"]
    assert len(sizes) == hosted + 1

    for key, value in first.items():
        name, _, kind, _ = key
        seq = [value, via_jolokia[key], via_exporter[key], last[key]]
        if name in STATIC:
            assert len(set(seq)) == 1, f"{key}: {seq}"
        elif kind is MetricKind.COUNTER:
            assert seq == sorted(seq), f"counter {key} went back: {seq}"
        assert all(math.isfinite(v) for v in seq)
    partitions = first[("kafka_broker_partitions", (), MetricKind.GAUGE, "partitions")]
    assert partitions == hosted  # the metadata log is no partition of ReplicaManager


NAN_SET = """
set: nan
role: broker
detect: "kafka.server:type=raft-channel-metrics"
beans:
  # reauthentication-latency-avg is NaN on a PLAINTEXT listener (no SASL re-login ever).
  - bean: "kafka.server:type=raft-channel-metrics"
    metrics:
      - {attr: reauthentication-latency-avg, metric: t_raft_reauth_seconds,
         kind: gauge, unit: milliseconds}
      - {attr: connection-creation-total, metric: t_raft_connections_total,
         kind: counter, unit: count}
  - bean: "kafka.server:type=socket-server-metrics,listener=*,networkProcessor=*"
    metrics:
      - {attr: reauthentication-latency-avg, metric: t_reauth_seconds,
         kind: gauge, unit: milliseconds}
      - {attr: connection-creation-total, metric: t_connections_total,
         kind: counter, unit: count}
"""


@pytest.mark.integration
def test_jolokia_nan_values_cost_only_themselves(agent_broker: AgentBroker, tmp_path: Path) -> None:
    """Jolokia 2.4.2 fails a whole request on one NaN (jolokia#934). The reader re-reads
    such requests finer, so the other values of the same MBeans and patterns still arrive,
    and exactly the NaN ones are missing — as from JMX."""
    shutil.copy(CATALOG_DIR / "broker.yaml", tmp_path / "broker.yaml")
    (tmp_path / "nan.yaml").write_text(NAN_SET)
    catalog = load_catalog(tmp_path)
    sets = ("broker", "nan")
    with JolokiaReader(agent_broker.jolokia, catalog, sets=sets, auth=(USER, PASSWORD)) as jolokia:
        via_jolokia = keyed(jolokia.read())
        posts = jolokia.posts
    via_jmx = keyed(read_jmx(agent_broker.jmx, catalog=catalog, sets=sets))
    assert posts == 3  # the bulk, a search for the pattern, the per-attribute reads
    assert set(via_jolokia) == set(via_jmx), set(via_jolokia) ^ set(via_jmx)
    names = {k[0] for k in via_jolokia}
    assert {"t_raft_connections_total", "t_connections_total"} <= names
    assert not names & {"t_raft_reauth_seconds", "t_reauth_seconds"}  # NaN: no sample from either
    listeners = {dict(k[1])["listener"] for k in via_jolokia if k[0] == "t_connections_total"}
    assert listeners == {"PLAINTEXT", "CONTROLLER"}
    assert "kafka_broker_partitions" in names  # the rest of the bulk was not lost


# ------------------------------------------------------------------------ as collector targets


def agent_endpoint(url: str) -> JmxEndpoint:
    """The agent's ``host:port``, as a cluster's configuration names it."""
    parsed = httpx.URL(url)
    assert parsed.port is not None
    return JmxEndpoint(host=parsed.host, port=parsed.port)


@pytest.mark.integration
@pytest.mark.parametrize("source", ["jolokia", "prometheus"])
def test_collector_reads_a_broker_through_an_agent(
    agent_broker: AgentBroker, source: Source
) -> None:
    """``JmxCollector(source=...)`` reads the broker through its agent: one successful
    result with the broker's catalog samples, the role JMX finds, and fresh freshness —
    what the broker monitor gets from a JMX target."""
    url = agent_broker.jolokia if source == "jolokia" else agent_broker.exporter
    endpoint = agent_endpoint(url)
    auth = (USER, PASSWORD) if source == "jolokia" else None
    collector = JmxCollector(source=source, http_auth=auth, timeout=10.0)
    try:
        collector.add(endpoint, sets=SETS)
        results = collector.collect()
        fresh = collector.freshness()
    finally:
        collector.close()
    assert [r.target for r in results] == [endpoint.target]
    result = results[0]
    assert result.ok and not result.skipped, result.error
    assert result.identity is not None
    names = {s.name for s in result.samples}
    for name in (
        "kafka_broker_partitions",
        "kafka_broker_under_replicated_partitions",
        "kafka_controller_active",
        "kafka_log_size_bytes",
        "jvm_heap_used_bytes",
    ):
        assert name in names, name
    assert {s.target for s in result.samples} == {endpoint.target}
    jmx = TargetReader(JmxEndpoint.parse(agent_broker.jmx), sets=SETS)
    try:
        via_jmx = jmx.read()
    finally:
        jmx.close()
    assert result.identity.roles == via_jmx.identity.roles == ("broker", "controller")
    assert {"broker", "controller", "jvm", "partition"} <= set(result.identity.sets)
    assert result.identity.clients == ()
    partitions = ("kafka_broker_partitions", (), MetricKind.GAUGE, "partitions")
    assert keyed(result.samples)[partitions] == keyed(via_jmx.samples)[partitions]
    [f] = fresh
    assert f.target == endpoint.target and f.role == "broker+controller"
    assert f.failures == 0 and f.last_success is not None


@pytest.mark.integration
def test_collector_backs_off_an_agent_that_refuses_it(agent_broker: AgentBroker) -> None:
    """Wrong credentials: a failed result, AuthFailed, and the freshness says so."""
    endpoint = agent_endpoint(agent_broker.jolokia)
    collector = JmxCollector(source="jolokia", http_auth=(USER, "wrong"), timeout=10.0)
    try:
        collector.add(endpoint, sets=["jvm"])
        [result] = collector.collect()
        [f] = collector.freshness()
    finally:
        collector.close()
    assert isinstance(result.error, AuthFailed)
    assert f.error_kind == "auth_failed" and f.failures == 1 and f.next_attempt is not None


# ------------------------------------------------------------------------ bad input


@pytest.mark.integration
def test_jolokia_credentials_are_checked(agent_broker: AgentBroker) -> None:
    for auth in ((USER, "wrong"), None):
        with (
            JolokiaReader(agent_broker.jolokia, sets=["jvm"], auth=auth) as reader,
            pytest.raises(AuthFailed, match="rejected the credentials"),
        ):
            reader.read()


@pytest.mark.integration
def test_endpoints_that_are_not_what_they_should_be(agent_broker: AgentBroker) -> None:
    # The exporter's port answers HTTP 200 to anything, but not Jolokia's JSON.
    with (
        JolokiaReader(agent_broker.exporter.replace("/metrics", "/jolokia/")) as reader,
        pytest.raises(SourceError, match="is not a Jolokia agent"),
    ):
        reader.read()
    # Jolokia's port has no /metrics.
    with (
        PrometheusReader(agent_broker.jolokia.replace("/jolokia/", "/metrics")) as scraper,
        pytest.raises(SourceError, match="answered HTTP 404"),
    ):
        scraper.read()


def test_a_port_nobody_listens_on_is_unreachable() -> None:
    port = procs.free_port()
    with JolokiaReader(f"127.0.0.1:{port}") as reader, pytest.raises(Unreachable) as e:
        reader.read()
    assert "is the JVM running with -javaagent:jolokia" in str(e.value)
    with PrometheusReader(f"127.0.0.1:{port}") as scraper, pytest.raises(Unreachable):
        scraper.read()


def test_an_endpoint_that_never_answers_times_out_within_the_bound() -> None:
    """A listening socket nobody serves: TCP connects, HTTP never answers."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        for reader in (
            JolokiaReader(f"127.0.0.1:{port}", timeout=1.0),
            PrometheusReader(f"127.0.0.1:{port}", timeout=1.0),
        ):
            t0 = time.monotonic()
            with reader, pytest.raises(Timeout, match="did not answer within 1 s"):
                reader.read()
            assert time.monotonic() - t0 < 3.0


def test_urls_are_normalised_and_bad_ones_named() -> None:
    assert jolokia_url("127.0.0.1:8778") == "http://127.0.0.1:8778/jolokia/"
    assert jolokia_url("http://h:1/custom") == "http://h:1/custom/"
    assert metrics_url("h:9404") == "http://h:9404/metrics"
    assert metrics_url("https://h:9404/prom") == "https://h:9404/prom"
    with pytest.raises(SourceError, match="not a Jolokia URL"):
        jolokia_url("ftp://h:1/")
    with pytest.raises(SourceError, match="not an exporter URL"):
        metrics_url("http://")


# ------------------------------------------------------------------------ pure mapping


def test_exporter_config_includes_exactly_the_catalog_patterns() -> None:
    catalog = default_catalog()
    config = yaml.safe_load(exporter_config(catalog, ["broker", "controller", "jvm"]))
    expected = [
        p
        for s in catalog.select(["broker", "controller", "jvm"])
        for b in s.beans
        for p in b.query_patterns()
    ]
    assert config["includeObjectNames"] == list(dict.fromkeys(expected))
    assert all(not p.endswith(":*") and "*" not in p.split(":")[0] for p in expected)
    # Alternatives are exact names, never request=*.
    assert "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce" in expected
    assert "hostPort" not in config
    first, last = config["rules"][0], config["rules"][-1]
    assert first["name"] == "kafkascope_mbean_state" and "current" in first["pattern"]
    assert last["name"] == FAMILY
    standalone = yaml.safe_load(exporter_config(catalog, ["jvm"], host_port="127.0.0.1:9999"))
    assert standalone["hostPort"] == "127.0.0.1:9999"
    assert [r["name"] for r in standalone["rules"]] == [FAMILY]  # no state metric in jvm


FETCH = 'type=consumer-fetch-manager-metrics, client-id=\\"app,1\\", topic={}, partition=0'


def line(family: str, value: str, **labels: str) -> str:
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return f"{family}{{{text}}} {value}\n"


EXPOSITION = (
    "# TYPE kafkascope_mbean untyped\n"
    + line(FAMILY, "7.0", attr="records-lag", domain="kafka.consumer", keys=FETCH.format("a.b"))
    + line(FAMILY, "7.0", attr="records-lag", domain="kafka.consumer", keys=FETCH.format("a_b"))
    + line(
        FAMILY, "NaN", attr="records-lead-min", domain="kafka.consumer", keys=FETCH.format("a.b")
    )
    + line(
        FAMILY,
        "1024.0",
        attr="used",
        domain="java.lang",
        keys="type=Memory",
        path="HeapMemoryUsage",
    )
    + line(FAMILY, "5.0", attr="HeapMemoryUsage", domain="java.lang", keys="type=Other")
    + "# TYPE kafkascope_mbean_state untyped\n"
    + line(
        "kafkascope_mbean_state",
        "1.0",
        attr="current-state",
        domain="kafka.server",
        keys="type=raft-metrics",
        state="follower",
    )
    + "# TYPE jmx_scrape_error gauge\njmx_scrape_error 0.0\n"
)


def test_exposition_maps_back_to_catalog_samples() -> None:
    """Quoted client ids, the deprecated topic copy, NaN, CompositeData and a string
    state, as the JMX reader maps them."""
    reader = PrometheusReader("127.0.0.1:1", sets=["consumer", "jvm", "controller"])
    got = {(s.name, s.labels): s.value for s in reader.samples(EXPOSITION)}
    reader.close()
    labels = (("client_id", "app,1"), ("partition", "0"), ("topic", "a.b"))
    want: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {
        ("kafka_consumer_partition_records_lag", labels): 7.0,  # a_b copy dropped
        ("jvm_heap_used_bytes", ()): 1024.0,
    }
    # a state set: the current state 1, every other known one 0
    for st in RAFT_STATES:
        want[("kafka_raft_current_state", (("state", st),))] = 1.0 if st == "follower" else 0.0
    assert got == want
    assert split_keys('type=a, client-id="x, \\"y\\"", n=1') == [
        "type=a",
        'client-id="x, \\"y\\""',
        "n=1",
    ]


def test_scrape_errors_and_foreign_exporters_are_named() -> None:
    reader = PrometheusReader("127.0.0.1:1", sets=["jvm"])
    try:
        with pytest.raises(SourceError, match="could not read its JVM"):
            reader.samples(EXPOSITION.replace("jmx_scrape_error 0.0", "jmx_scrape_error 1.0"))
        with pytest.raises(SourceError, match="not a jmx_exporter running kafkascope's config"):
            reader.samples("# TYPE up gauge\nup 1.0\n")
        with pytest.raises(SourceError, match="not the text exposition format"):
            reader.samples("<html><body>hello</body></html>")
    finally:
        reader.close()


def test_patterns_are_told_from_names() -> None:
    assert is_pattern("kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,*")
    assert is_pattern("kafka.consumer:type=consumer-metrics,client-id=*")
    assert is_pattern("a:type=x,name=b?")
    assert not is_pattern("kafka.server:type=ReplicaManager,name=PartitionCount")
    assert not is_pattern('kafka.consumer:type=c,client-id="a*b"')
    assert not is_pattern('kafka.consumer:type=c,client-id="a,*"')


# ------------------------------------------------------ the JMX side: batches = one by one


class FakeJvm:
    """An in-memory MBean server: the MBeanServer protocol, optionally with batches."""

    def __init__(self, beans: dict[str, dict[str, object]]) -> None:
        self.beans = beans
        self.connected = True
        self.batches: list[int] = []

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def domains(self) -> list[str]:
        return sorted({n.split(":")[0] for n in self.beans})

    def query_names(self, pattern: str) -> list[BeanName]:
        domain = pattern.split(":")[0]
        out = []
        for name in self.beans:
            d, keys = parse_object_name(name)
            if d == domain:
                out.append(BeanName(name, d, keys))
        return out  # the reader filters with the catalog pattern, as for real JMX

    def get_attributes(self, name: str, attributes: list[str]) -> dict[str, Value]:
        if name not in self.beans:
            raise SourceError("fake", f"InstanceNotFoundException: {name}")
        values = self.beans[name]
        return {a: values[a] for a in attributes if a in values}  # type: ignore[misc]


class BatchingFakeJvm(FakeJvm):
    def get_attributes_many(
        self, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]:
        self.batches.append(len(reads))
        return [
            self.get_attributes(name, list(attrs)) if name in self.beans else None
            for name, attrs in reads
        ]


def fake_broker() -> dict[str, dict[str, object]]:
    beans: dict[str, dict[str, object]] = {
        "kafka.server:type=ReplicaManager,name=PartitionCount": {"Value": 300},
        "kafka.server:type=KafkaServer,name=BrokerState": {"Value": 3},
        "kafka.server:type=raft-metrics": {"current-state": "leader", "current-leader": 1},
        "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec": {
            "Count": 10,
            "OneMinuteRate": float("nan"),
        },
        'kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic="a,b"': {
            "Count": 4,
            "OneMinuteRate": 0.5,
        },
        "java.lang:type=Memory": {"HeapMemoryUsage": {"used": 5, "max": 9}},
    }
    for t in range(10):
        for p in range(30):
            keys = f"topic=t{t},partition={p}"
            beans[f"kafka.log:type=Log,name=Size,{keys}"] = {"Value": t * 1000 + p}
            beans[f"kafka.cluster:type=Partition,name=UnderReplicated,{keys}"] = {"Value": 0}
    return beans


@pytest.mark.parametrize("parallel", [1, 3, None])
def test_batched_reads_give_what_one_by_one_reads_give(parallel: int | None) -> None:
    """The collector's fast path (batches in flight, labels resolved once per listing)
    maps exactly as the plain path and ``BeanSpec.to_samples`` do; a vanished MBean is
    skipped and re-listed next time."""
    sets = ["broker", "controller", "jvm", "partition"]
    endpoint = JmxEndpoint.parse("127.0.0.1:1")
    clock = FakeClock()
    plain = FakeJvm(fake_broker())
    batching = BatchingFakeJvm(fake_broker())
    one = TargetReader(endpoint, sets=sets, connection=plain, clock=clock)
    many = TargetReader(endpoint, sets=sets, connection=batching, clock=clock, parallel=parallel)
    first, second = one.read(), many.read()
    assert keyed(second.samples) == keyed(first.samples)
    assert len(first.samples) > 600 and second.beans_read == first.beans_read
    size = BATCH if parallel is not None else read_shape(second.beans_read)[1]
    assert max(batching.batches) <= size and sum(batching.batches) == second.beans_read
    labels = {s.labels for s in second.samples if s.name == "kafka_broker_in_bytes_total"}
    assert labels == {(), (("topic", "a,b"),)}
    assert "kafka_broker_in_bytes_per_second" in {s.name for s in second.samples}  # the topic's
    # A topic deleted between listing and reading: its beans are skipped, then re-listed.
    for fake in (plain, batching):
        for name in [n for n in fake.beans if "topic=t9," in n]:
            del fake.beans[name]
    third, fourth = one.read(), many.read()
    assert keyed(fourth.samples) == keyed(third.samples)
    assert len(third.samples) == len(first.samples) - 60
    assert many.read().beans_read == second.beans_read - 60


def test_a_large_plan_is_read_in_larger_batches_two_at_a_time() -> None:
    """By default the read shape follows the plan's size (``read_shape``): 2,700 MBeans go
    two batches at a time in batches of 2,700 // 64, not ``BATCH`` (the mapping is the
    same whatever the shape: the test above)."""
    beans = fake_broker()
    for t in range(10, 80):
        for p in range(30):
            beans[f"kafka.log:type=Log,name=Size,topic=t{t},partition={p}"] = {"Value": p}
    endpoint = JmxEndpoint.parse("127.0.0.1:1")
    clock = FakeClock()
    batching = BatchingFakeJvm(beans)
    auto = TargetReader(endpoint, sets=SETS, connection=batching, clock=clock, budget=300)
    read = auto.read()
    assert read.beans_read > 2_048 and len(read.samples) >= read.beans_read
    parallel, size = read_shape(read.beans_read)
    assert (parallel, size) == (2, read.beans_read // 64) and size > BATCH
    assert max(batching.batches) == size

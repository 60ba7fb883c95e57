"""The foundation, proven on a real cluster: round trips, one JMX port per JVM, and the
field notes' first and third traps (domains per process, client-id wildcards)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from kafkascope.sandbox import cluster, jars, procs
from kafkascope.sandbox.state import SandboxState, load
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint
from tests.conftest import ClientFactory
from tests.support import wait_until

pytestmark = pytest.mark.integration


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )


def test_produce_consume_round_trip(sandbox: SandboxState) -> None:
    token = uuid.uuid4().hex.encode()
    p = Producer({"bootstrap.servers": sandbox.bootstrap, "acks": "all"})
    delivered: list[tuple[int | None, int | None]] = []
    p.produce(
        "payments",
        value=token,
        partition=0,
        on_delivery=lambda err, msg: delivered.append((msg.partition(), msg.offset())),
    )
    assert p.flush(30) == 0
    [(partition, offset)] = delivered
    assert partition is not None and offset is not None
    c = Consumer(
        {
            "bootstrap.servers": sandbox.bootstrap,
            "group.id": f"t-{token.decode()}",
            "enable.auto.commit": False,
        }
    )
    try:
        c.assign([TopicPartition("payments", partition, offset)])
        msg: Any = wait_until(
            lambda: (m := c.poll(0.5)) is not None and m.error() is None and m,
            30,
            "the produced record to come back",
        )
        assert msg.value() == token
    finally:
        c.close()


def test_every_process_answers_on_its_own_jmx_port(sandbox: SandboxState) -> None:
    # Every JVM; the Python (confluent-kafka) client of the workload has no JMX port.
    running = [
        p for p in load(Path(sandbox.dir)).processes if procs.owns(p.pid, sandbox.marker) and p.jmx
    ]
    ports = [p.jmx_port for p in running]
    assert len(ports) == len(set(ports)), "two processes share a JMX port"
    roles = {p.role for p in running}
    assert {"broker+controller", "producer", "consumer"} <= roles
    for p in running:
        with JmxConnection(JmxEndpoint.parse(p.jmx)) as conn:
            domains = conn.domains()
        assert "java.lang" in domains, p.name


def test_broker_jvm_has_no_consumer_domain_but_consumer_jvm_does(sandbox: SandboxState) -> None:
    """The mission's first trap: kafka.consumer MBeans live in the consumer's own JVM."""
    broker = next(p for p in sandbox.processes if p.node_id is not None and not p.stopped)
    consumer = sandbox.find("orders-processor-1")
    with JmxConnection(JmxEndpoint.parse(broker.jmx)) as conn:
        broker_domains = conn.domains()
    with JmxConnection(JmxEndpoint.parse(consumer.jmx)) as conn:
        consumer_domains = conn.domains()
    assert "kafka.server" in broker_domains and "kafka.controller" in broker_domains
    assert "kafka.consumer" not in broker_domains
    assert "kafka.consumer" in consumer_domains and "kafka.server" not in consumer_domains


def test_client_id_wildcard_lists_the_consumer(sandbox: SandboxState) -> None:
    """The mission's third trap: discover clients with client-id=*, not a hand-kept list."""
    consumer = sandbox.find("orders-processor-2")
    with JmxConnection(JmxEndpoint.parse(consumer.jmx)) as conn:
        names = conn.query_names("kafka.consumer:type=consumer-metrics,client-id=*")
    assert [n.keys["client-id"] for n in names] == ["orders-processor-2"]


def test_default_client_ids_are_kafkas_own(
    sandbox: SandboxState, start_client: ClientFactory
) -> None:
    """Without --client-id the clients carry Kafka's defaults, so nothing relies on a
    naming convention: consumer-<group>-<n> and producer-<n>."""
    group = f"default-ids-{uuid.uuid4().hex[:6]}"
    consumer = start_client("consumer", "payments", group=group)
    producer = start_client("producer", "payments", rate=5)

    def ids(jmx: str, pattern: str) -> list[str]:
        with JmxConnection(JmxEndpoint.parse(jmx)) as conn:
            return [n.keys["client-id"] for n in conn.query_names(pattern)]

    consumer_ids = wait_until(
        lambda: ids(consumer.jmx, "kafka.consumer:type=consumer-metrics,*"),
        30,
        "the consumer's metrics",
    )
    producer_ids = wait_until(
        lambda: ids(producer.jmx, "kafka.producer:type=producer-metrics,*"),
        30,
        "the producer's metrics",
    )
    assert consumer_ids == [f"consumer-{group}-1"]
    assert len(producer_ids) == 1 and producer_ids[0].startswith("producer-")


def test_killed_client_jmx_port_refuses(sandbox: SandboxState, start_client: ClientFactory) -> None:
    p = start_client("consumer", "audit", group=f"kill-{uuid.uuid4().hex[:6]}")
    with JmxConnection(JmxEndpoint.parse(p.jmx)) as conn:
        assert "java.lang" in conn.domains()
    res = cli("sandbox", "client", "signal", p.name, "KILL", "--dir", sandbox.dir)
    assert res.returncode == 0, res.stderr
    assert not procs.is_alive(p.pid)
    assert procs.port_refuses("127.0.0.1", p.jmx_port)
    assert load(Path(sandbox.dir)).find(p.name).stopped


def test_bad_sandbox_requests_are_refused_clearly(sandbox: SandboxState) -> None:
    res = cli("sandbox", "broker", "stop", "99", "--dir", sandbox.dir)
    assert res.returncode == 2 and "broker 99 does not exist" in res.stderr, res.stderr
    res = cli("sandbox", "client", "signal", "orders-producer", "HUP", "--dir", sandbox.dir)
    assert res.returncode == 2 and "signal 'HUP' is not allowed" in res.stderr
    assert "TERM, KILL, STOP, CONT" in res.stderr
    res = cli("sandbox", "up", "--dir", sandbox.dir)
    assert res.returncode == 2 and "already running" in res.stderr and "sandbox down" in res.stderr
    res = cli("sandbox", "client", "signal", "no-such-client", "KILL", "--dir", sandbox.dir)
    assert res.returncode == 2 and "no process named 'no-such-client'" in res.stderr
    assert "Traceback" not in res.stderr


def test_missing_java_and_maven_are_named(tmp_path: Path) -> None:
    bare_path = str(tmp_path / "bin")  # an empty PATH: no java, no mvn
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    res = cli("sandbox", "up", "--dir", str(tmp_path / "sb"), env=env | {"PATH": bare_path})
    assert res.returncode == 2 and "'java' is not on the PATH" in res.stderr, res.stderr
    # With java found but no jars and no Maven, the message names Maven and the fix.
    java_home = Path(jars.java_bin()).resolve().parent.parent
    env2 = env | {
        "PATH": bare_path,
        "JAVA_HOME": str(java_home),
        "KAFKASCOPE_KAFKA_LIB": str(tmp_path / "nolib"),
    }
    res = cli("sandbox", "up", "--dir", str(tmp_path / "sb2"), env=env2)
    assert res.returncode == 2 and "'mvn' is not on the PATH" in res.stderr, res.stderr


def test_down_leaves_no_process(tmp_path: Path) -> None:
    """A second, small sandbox: after down, none of its recorded pids is alive."""
    directory = tmp_path / "small"
    state = cluster.up(directory, brokers=1, workload=False, broker_heap="256m")
    try:
        extra = cli(
            "sandbox",
            "client",
            "start",
            "--role",
            "consumer",
            "--topic",
            "t-none",
            "--group",
            "g",
            "--dir",
            str(directory),
        )
        assert extra.returncode == 0, extra.stderr
        state = load(directory)
        pids = [p.pid for p in state.processes] + [
            p.drain_pid for p in state.processes if p.drain_pid
        ]
        assert len(pids) == 3 and all(procs.is_alive(pid) for pid in pids)
    finally:
        res = cli("sandbox", "down", "--dir", str(directory))
    assert res.returncode == 0, res.stderr
    assert [pid for pid in pids if procs.is_alive(pid)] == []

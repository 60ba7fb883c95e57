"""kafkascope's KIP-714 broker plugin in a real broker: a real Java consumer's pushes reach a
real HTTP server with the headers of docs/telemetry.md, and with that server gone the broker
keeps serving while the plugin counts the drops (read over the broker's JMX).

Uses the session sandbox when it loads the plugin (``sandbox up`` does by default);
otherwise (a reused sandbox started without it) a one-broker sandbox of its own."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from kafkascope.sandbox import cluster, probe, procs, telemetry
from kafkascope.sandbox.state import Proc, SandboxState
from kafkascope.sandbox.workload import ClientSpec
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint
from tests.support import wait_until

pytestmark = pytest.mark.integration


@dataclass
class Push:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A real HTTP server on a free loopback port, standing in for kafkascope serve."""

    server: ThreadingHTTPServer
    pushes: list[Push] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def of(self, client_id: str) -> list[Push]:
        return [
            p for p in list(self.pushes) if p.headers.get("x-kafkascope-client-id") == client_id
        ]


def _receiver() -> Receiver:
    rec: Receiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            rec.pushes.append(
                Push(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    rec = Receiver(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    threading.Thread(target=rec.server.serve_forever, daemon=True).start()
    return rec


@pytest.fixture
def receiver(plugin_sandbox: SandboxState) -> Iterator[Receiver]:
    """Points the sandbox's brokers at a fresh receiver; puts their endpoint back after."""
    directory = Path(plugin_sandbox.dir)
    before = telemetry.files(directory).endpoint.read_text().strip()
    rec = _receiver()
    telemetry.set_endpoint(directory, rec.url)
    try:
        yield rec
    finally:
        rec.server.shutdown()
        rec.server.server_close()
        telemetry.set_endpoint(directory, before)


def _consumer(state: SandboxState, topic: str) -> Proc:
    probe.create_topics(state.bootstrap, {topic: 1}, 1, time.monotonic() + 60)
    spec = ClientSpec(role="consumer", topic=topic, client_id=f"tp-{topic}", group=f"g-{topic}")
    return cluster.client_start(Path(state.dir), spec)


def _stop(state: SandboxState, p: Proc) -> None:
    if procs.owns(p.pid, state.marker):
        cluster.client_signal(Path(state.dir), p.name, "KILL")
    if p.drain_pid:
        procs.stop(p.drain_pid, state.marker, grace=1)


def _forwarders(state: SandboxState) -> dict[str, int]:
    """Every running broker's forwarder counters, summed, read over the broker's own JMX."""
    total: dict[str, int] = {}
    for p in state.processes:
        if p.node_id is None or not procs.owns(p.pid, state.marker):
            continue
        with JmxConnection(JmxEndpoint.parse(p.jmx)) as conn:
            attrs = conn.get_attributes(
                telemetry.MBEAN.format(node=p.node_id),
                ["Received", "Sent", "Dropped", "SendErrors", "QueueSize"],
            )
        for k, v in attrs.items():
            total[k] = total.get(k, 0) + int(v)  # type: ignore[arg-type]
    return total


def test_a_java_consumers_pushes_reach_kafkascope_with_the_contract_headers(
    plugin_sandbox: SandboxState, receiver: Receiver
) -> None:
    state = plugin_sandbox
    topic = f"telemetry-{uuid.uuid4().hex[:6]}"
    consumer = _consumer(state, topic)
    client_id = f"tp-{topic}"
    try:
        wait_until(lambda: receiver.of(client_id), 60, f"a push from {client_id}")
        push = receiver.of(client_id)[0]
        h = push.headers
        assert push.path == "/v1/metrics"
        assert h["content-type"] == "application/x-protobuf"
        token = telemetry.token(Path(state.dir))
        assert h["authorization"] == f"Bearer {token}"
        assert re.fullmatch(
            r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
            h["x-kafkascope-client-instance-id"],
        )
        assert h["x-kafkascope-software-name"] == "apache-kafka-java"
        assert h["x-kafkascope-software-version"] == state.kafka_version
        assert h["x-kafkascope-source-address"] == "127.0.0.1"
        assert int(h["x-kafkascope-source-port"]) > 0
        assert h["x-kafkascope-principal"] == "User:ANONYMOUS"
        assert h["x-kafkascope-terminating"] == "false"
        # The subscription's interval: the sandbox's own, unless a test changed the
        # subscription since (telemetry subscribe); KIP-714 bounds it to 100 ms .. 1 h.
        interval = int(h["x-kafkascope-push-interval-ms"])
        assert 100 <= interval <= 3_600_000
        brokers = {str(p.node_id) for p in state.processes if p.node_id is not None}
        assert h["x-kafkascope-broker-id"] in brokers
        # The body is the client's OTLP metrics, uncompressed: it decodes as the
        # ExportMetricsServiceRequest kafkascope's receiver reads.
        req = ExportMetricsServiceRequest.FromString(push.body)
        names = {
            m.name for rm in req.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
        }
        assert any(n.startswith("org.apache.kafka.consumer.") for n in names), sorted(names)[:10]

        # A clean close (SIGTERM: the console consumer closes its consumer) is a
        # terminating push from the same client instance.
        cluster.client_signal(Path(state.dir), consumer.name, "TERM")
        wait_until(
            lambda: [
                p
                for p in receiver.of(client_id)
                if p.headers["x-kafkascope-terminating"] == "true"
                and p.headers["x-kafkascope-client-instance-id"]
                == h["x-kafkascope-client-instance-id"]
            ],
            30,
            "the terminating push of the closed consumer",
        )
    finally:
        _stop(state, consumer)


def test_with_kafkascope_down_the_broker_serves_and_the_plugin_counts_drops(
    plugin_sandbox: SandboxState, receiver: Receiver
) -> None:
    state = plugin_sandbox
    topic = f"telemetry-down-{uuid.uuid4().hex[:6]}"
    consumer = _consumer(state, topic)
    client_id = f"tp-{topic}"
    try:
        wait_until(lambda: receiver.of(client_id), 60, f"a push from {client_id}")
        # kafkascope goes away: nothing listens on its port any more.
        receiver.server.shutdown()
        receiver.server.server_close()
        before = _forwarders(state)

        # Failed POSTs count as send errors; while the plugin backs off (at most 5 s) it
        # drops pushes without trying: both rise, and the broker keeps taking pushes.
        def dropping() -> dict[str, int] | None:
            now = _forwarders(state)
            more_drops = now["Dropped"] >= before["Dropped"] + 2
            return now if more_drops and now["SendErrors"] > before["SendErrors"] else None

        after = wait_until(dropping, 60, "the plugin to count dropped pushes and a failed POST")
        assert after["Received"] > before["Received"], "clients still push to the broker"
        assert after["Sent"] == before["Sent"]

        # The broker serves as before: a record produced now is consumed back.
        value = uuid.uuid4().hex.encode()
        p = Producer({"bootstrap.servers": state.bootstrap, "acks": "all", **probe.QUIET})
        p.produce(topic, value=value)
        assert p.flush(30) == 0
        c = Consumer(
            {
                "bootstrap.servers": state.bootstrap,
                "group.id": f"check-{topic}",
                "auto.offset.reset": "earliest",
                **probe.QUIET,
            }
        )
        try:
            c.subscribe([topic])
            wait_until(
                lambda: (m := c.poll(0.5)) is not None and m.error() is None and m.value() == value,
                60,
                "the record produced while kafkascope is down",
                interval=0,
            )
        finally:
            c.close()
    finally:
        _stop(state, consumer)

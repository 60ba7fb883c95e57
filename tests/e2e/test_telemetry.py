"""Client telemetry end to end: real clients push KIP-714 metrics to the sandbox's brokers,
the brokers' kafkascope plugin forwards them to a real ``kafkascope serve``, and
``/api/v1/clusters/{c}/clients`` shows them.

- a confluent-kafka consumer with no JMX: its client id, group, source ``telemetry``,
  ALIVE, joined to its group member; kill -9 → DEAD within two push intervals
- the same for a confluent-kafka producer
- a clean ``close()`` → DEPARTED, with no ``client_dead`` alert
- a Java consumer read over JMX that pushes too is listed once (``jmx+telemetry``)
- real pushes of one client are read by its layout with exactly the decoder's values

The tests' own subscription (matching only their client ids) pushes every 2 s. Uses the
session sandbox when it loads the plugin (``sandbox up`` does by default), otherwise a
one-broker sandbox of its own.
"""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from kafkascope.sandbox import cluster, probe, procs, telemetry
from kafkascope.sandbox.state import Proc, SandboxState
from kafkascope.sandbox.workload import ClientSpec
from kafkascope.sources.kafka.client_metrics import KafkaWire, Subscription
from kafkascope.sources.telemetry import PushMeta, decode_push, otlp_names
from kafkascope.sources.telemetry_layout import layout_of
from tests.e2e.conftest import ServiceProc, service_config
from tests.support import wait_until

PREFIX = f"te-{uuid.uuid4().hex[:6]}"
INTERVAL = 2.0  # the tests' subscription's push interval, seconds
#: A verdict waits for the next client poll (2 s) and the API read after it.
SLACK = 2.0 + 2.0


@pytest.fixture(scope="module")
def service(
    plugin_sandbox: SandboxState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProc]:
    """serve with the sandbox's telemetry token, the brokers pointed at it, and a 2 s
    subscription for this module's clients; all put back after."""
    sb = plugin_sandbox
    tmp = tmp_path_factory.mktemp("telemetry-e2e")
    port = procs.free_port()
    cfg = tmp / "kafkascope.toml"
    cfg.write_text(service_config(sb, tmp / "data", port))
    assert "[clusters.telemetry]" in cfg.read_text(), "the sandbox gave serve no token"
    svc = ServiceProc(cfg, port, tmp / "serve.log")
    svc.start()
    directory = Path(sb.dir)
    before = telemetry.files(directory).endpoint.read_text().strip()
    telemetry.set_endpoint(directory, svc.url)
    wire = KafkaWire(sb.bootstrap)
    sub = Subscription(
        PREFIX,
        ("org.apache.kafka.consumer.", "org.apache.kafka.producer."),
        round(INTERVAL * 1000),
        (f"client_id={PREFIX}-.*",),
    )
    wire.alter_subscription(sub)
    try:
        yield svc
    finally:
        wire.delete_subscription(PREFIX)
        telemetry.set_endpoint(directory, before)
        svc.stop()


@pytest.fixture
def clients(plugin_sandbox: SandboxState) -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        if procs.owns(p.pid, plugin_sandbox.marker):
            cluster.client_signal(Path(plugin_sandbox.dir), p.name, "KILL")
        if p.drain_pid:
            procs.stop(p.drain_pid, plugin_sandbox.marker, grace=1)


def start(
    sb: SandboxState, started: list[Proc], role: str, name: str, impl: str = "python"
) -> tuple[Proc, str]:
    topic = f"{PREFIX}-topic"
    probe.create_topics(sb.bootstrap, {topic: 1}, 1, time.monotonic() + 60)
    client_id = f"{PREFIX}-{name}"
    group = f"{PREFIX}-{name}-group" if role == "consumer" else None
    spec = ClientSpec(role, topic, client_id, group=group, rate=5, impl=impl)
    p = cluster.client_start(Path(sb.dir), spec)
    started.append(p)
    return p, client_id


def rows(svc: ServiceProc, client_id: str) -> list[dict[str, Any]]:
    body = svc.get("/api/v1/clusters/sandbox/clients")
    return [r for r in body["clients"] if r["client_id"] == client_id]


def one(svc: ServiceProc, client_id: str, **want: Any) -> dict[str, Any]:
    """The client's one row, once it has ``want`` (wait_until reports the last row seen)."""
    found = rows(svc, client_id)
    assert len(found) <= 1, found  # one client is one row
    assert found and all(found[0].get(k) == v for k, v in want.items()), found
    return found[0]


def kill_until_dead(svc: ServiceProc, sb: SandboxState, p: Proc, client_id: str) -> None:
    """kill -9, then DEAD within two push intervals (plus one poll) of the kill."""
    cluster.client_signal(Path(sb.dir), p.name, "KILL")
    killed = time.monotonic()
    dead = wait_until(
        lambda: one(svc, client_id, liveness="DEAD"),
        2 * INTERVAL + SLACK + 5,
        f"{client_id} DEAD after kill -9",
    )
    assert time.monotonic() - killed <= 2 * INTERVAL + SLACK, dead
    assert "no telemetry push for" in dead["reason"]


def test_python_consumer_alive_joined_then_dead(
    service: ServiceProc, plugin_sandbox: SandboxState, clients: list[Proc]
) -> None:
    p, client_id = start(plugin_sandbox, clients, "consumer", "pyc")
    # sandbox client start --impl python: no JVM, so no JMX port and no file_sd target.
    assert p.impl == "python" and p.jmx == ""
    targets = (Path(plugin_sandbox.dir) / "targets.json").read_text()
    assert client_id not in targets
    row = wait_until(
        lambda: one(service, client_id, liveness="ALIVE", source="telemetry"),
        60,
        f"{client_id} ALIVE from its pushes",
    )
    wait_until(lambda: one(service, client_id, group=p.group), 30, f"{client_id} in its group")
    row = wait_until(
        lambda: (r := one(service, client_id))["member_id"] and r,
        30,
        f"{client_id} joined to its member",
    )
    assert row["kind"] == "consumer"
    assert row["software"].startswith("confluent-kafka-python/")
    assert row["client_instance_id"]
    kill_until_dead(service, plugin_sandbox, p, client_id)


def test_python_producer_dead_after_kill(
    service: ServiceProc, plugin_sandbox: SandboxState, clients: list[Proc]
) -> None:
    p, client_id = start(plugin_sandbox, clients, "producer", "pyp")
    row = wait_until(
        lambda: one(service, client_id, liveness="ALIVE", source="telemetry"),
        60,
        f"{client_id} ALIVE from its pushes",
    )
    assert row["kind"] == "producer"
    kill_until_dead(service, plugin_sandbox, p, client_id)


def test_clean_close_is_a_departure_without_alert(
    service: ServiceProc, plugin_sandbox: SandboxState, clients: list[Proc]
) -> None:
    p, client_id = start(plugin_sandbox, clients, "consumer", "pyclose")
    wait_until(
        lambda: one(service, client_id, liveness="ALIVE", source="telemetry"),
        60,
        f"{client_id} ALIVE from its pushes",
    )

    # librdkafka sends its terminating push only from its "push scheduled" state, not
    # while a push is in flight: close it just after a push arrived (seen within 1.5 s;
    # the next comes at 2 s).
    def just_pushed() -> dict[str, Any]:
        r = one(service, client_id, liveness="ALIVE")
        assert time.time() - r["last_seen"] < 1.5, r
        return r

    wait_until(just_pushed, 90, f"{client_id} seen just after a push")
    cluster.client_signal(Path(plugin_sandbox.dir), p.name, "TERM")  # close()
    departed = wait_until(
        lambda: one(service, client_id, liveness="DEPARTED"), 20, f"{client_id} departed"
    )
    assert "closed cleanly" in departed["reason"]
    # Two push intervals later it is still a departure, and no client_dead alert names it.
    runs = service.get("/api/v1/health")["jobs"]["alerts"]["runs"]
    wait_until(
        lambda: service.get("/api/v1/health")["jobs"]["alerts"]["runs"] >= runs + 3,
        30,
        "three more alert evaluations",
    )
    assert one(service, client_id, liveness="DEPARTED")
    alerts = service.get("/api/v1/alerts")["alerts"]
    assert not [a for a in alerts if client_id in str(a)], alerts


def test_java_client_with_jmx_and_telemetry_is_one_client(
    service: ServiceProc, plugin_sandbox: SandboxState, clients: list[Proc]
) -> None:
    p, client_id = start(plugin_sandbox, clients, "consumer", "java", impl="java")
    row = wait_until(
        lambda: one(service, client_id, liveness="ALIVE", source="jmx+telemetry"),
        60,
        f"{client_id} seen through JMX and telemetry as one",
    )
    assert row["target"] == p.jmx  # read over JMX ...
    assert row["client_instance_id"] and row["software"].startswith("apache-kafka-java/")
    assert row["member_id"] and row["group"] == p.group
    # kafkascope's own confluent-kafka clients push nothing: the sandbox's subscription
    # (every metric, every client) would otherwise list them among the watched.
    body = service.get("/api/v1/clusters/sandbox/clients")["clients"]
    assert not [r for r in body if r["client_id"].startswith("kafkascope")], body


class _Capture(http.server.BaseHTTPRequestHandler):
    """Takes every push the brokers' plugin posts and keeps it (headers, body)."""

    pushes: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.pushes.append(({k: v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_real_pushes_are_read_by_layout_exactly_as_decoded(
    service: ServiceProc, plugin_sandbox: SandboxState, clients: list[Proc]
) -> None:
    """The layout shortcut (sources/telemetry_layout.py) is worth something only if real
    clients push the same structure again: a Java consumer and a confluent-kafka consumer
    push through the real plugin to a capturing endpoint, and each one's later pushes are
    read by the layout of its first, with exactly decode_push's values; serve's /metrics
    counts pushes read that way."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Capture)
    _Capture.pushes = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    directory = Path(plugin_sandbox.dir)
    telemetry.set_endpoint(directory, f"http://127.0.0.1:{server.server_address[1]}")
    try:
        ids = [
            start(plugin_sandbox, clients, "consumer", f"lay{impl}", impl=impl)[1]
            for impl in ("java", "python")
        ]

        def by_client() -> dict[str, list[bytes]] | None:
            got: dict[str, list[bytes]] = {}
            for headers, body in list(_Capture.pushes):
                cid = {k.lower(): v for k, v in headers.items()}.get("x-kafkascope-client-id")
                got.setdefault(str(cid), []).append(body)
            # Past the first pushes, which come while the consumer joins its group.
            return got if all(len(got.get(c, [])) >= 6 for c in ids) else None

        got = wait_until(by_client, 90, "six pushes from each consumer")
    finally:
        telemetry.set_endpoint(directory, service.url)
        server.shutdown()
        server.server_close()
    names = otlp_names()
    meta = PushMeta("x", "x")
    for cid in ids:
        bodies = got[cid][2:]  # steady state: assigned, polling
        layout = layout_of(bodies[0], names)
        assert layout is not None, cid
        read = [layout.read(b) for b in bodies[1:]]
        assert sum(r is not None for r in read) >= len(read) - 1, (cid, read)
        for b, r in zip(bodies[1:], read, strict=True):
            if r is not None:
                assert r == decode_push(b, meta, names).values, cid

    # And serve reads that way the pushes it gets (the clients push to it again now).
    def laid_out() -> float | None:
        text = httpx.get(f"{service.url}/metrics", timeout=10).text
        for line in text.splitlines():
            if line.startswith('kafkascope_telemetry_pushes_by_layout_total{cluster="sandbox"}'):
                return float(line.rsplit(" ", 1)[1]) or None
        return None

    wait_until(laid_out, 30, "serve to count pushes read by layout on /metrics")

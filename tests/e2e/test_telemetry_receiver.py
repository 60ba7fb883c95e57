"""The OTLP receiver of a real ``kafkascope serve`` on the sandbox, fed real OTLP pushes
(built with opentelemetry-proto, with the broker plugin's headers of docs/telemetry.md)
for a real confluent-kafka consumer with no JMX: it is listed with its client id, group and
source ``telemetry``, ALIVE, joined to its group member; DEAD within two push intervals of
its last push; a terminating push is a clean departure with no ``client_dead`` alert. The
tokens: a telemetry token may push and do nothing else.

(tests/e2e/test_telemetry.py runs the same through the brokers' plugin, with real pushes.)
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from kafkascope.sandbox import probe, procs
from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.kafka.client_metrics import KafkaWire, Subscription
from kafkascope.sources.telemetry import subscription_metrics
from tests.e2e.conftest import ServiceProc, service_config
from tests.support import wait_until

TELEMETRY_TOKEN = "push-" + uuid.uuid4().hex
READ_TOKEN = "read-" + uuid.uuid4().hex
ADMIN_TOKEN = "admin-" + uuid.uuid4().hex
INTERVAL = 1.0  # seconds between pushes (the header says 1000 ms)
#: The subscription serve keeps in place; it matches no client, so nobody pushes for it.
KEPT = f"ks-keep-{uuid.uuid4().hex[:8]}"


def otlp(role: str, gauges: dict[str, float]) -> bytes:
    req = ExportMetricsServiceRequest()
    metrics = req.resource_metrics.add().scope_metrics.add().metrics
    for name, value in gauges.items():
        m = metrics.add(name=f"org.apache.kafka.{role}.{name}")
        m.gauge.data_points.add(as_double=value)
    return req.SerializeToString()


def headers(instance: str, client_id: str, *, terminating: bool = False) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {TELEMETRY_TOKEN}",
        "Content-Type": "application/x-protobuf",
        "X-Kafkascope-Client-Instance-Id": instance,
        "X-Kafkascope-Client-Id": client_id,
        "X-Kafkascope-Software-Name": "confluent-kafka-python",
        "X-Kafkascope-Software-Version": "2.16.1",
        "X-Kafkascope-Source-Address": "127.0.0.1",
        "X-Kafkascope-Source-Port": "50000",
        "X-Kafkascope-Principal": "User:ANONYMOUS",
        "X-Kafkascope-Terminating": "true" if terminating else "false",
        "X-Kafkascope-Push-Interval-Ms": str(int(INTERVAL * 1000)),
        "X-Kafkascope-Broker-Id": "1",
    }


class Pusher:
    """Pushes as the plugin would for one client, every INTERVAL, until stopped."""

    def __init__(self, url: str, client_id: str, role: str, gauges: dict[str, float]) -> None:
        self.url, self.client_id, self.role, self.gauges = url, client_id, role, gauges
        self.instance = str(uuid.uuid4())
        self.stopped = threading.Event()
        self.last_push = 0.0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def push(self, *, terminating: bool = False) -> httpx.Response:
        r = httpx.post(
            f"{self.url}/v1/metrics",
            content=otlp(self.role, self.gauges),
            headers=headers(self.instance, self.client_id, terminating=terminating),
            timeout=5,
        )
        r.raise_for_status()
        self.last_push = time.time()
        return r

    def _run(self) -> None:
        while not self.stopped.is_set():
            self.push()
            self.stopped.wait(INTERVAL)

    def stop(self) -> None:
        self.stopped.set()
        self.thread.join(10)


@pytest.fixture(scope="module")
def service(
    sandbox: SandboxState, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServiceProc]:
    """One serve for the module: every test uses clients of its own."""
    tmp_path = tmp_path_factory.mktemp("telemetry-receiver")
    port = procs.free_port()
    text = service_config(sandbox, tmp_path / "data", port)
    text = text.replace(
        "[service]\n",
        f'[service]\nread_tokens = ["{READ_TOKEN}"]\nadmin_tokens = ["{ADMIN_TOKEN}"]\n',
        1,
    )
    ours = (
        f'interval = "1s"\nkeep_subscription = true\nsubscription = "{KEPT}"\n'
        f'match = ["client_id=nobody-{KEPT}"]\n'
    )
    # A sandbox with the broker plugin already gives serve a [clusters.telemetry] table (its
    # brokers' token): add this module's token and settings to it; TOML has one per cluster.
    table = re.search(r"\[clusters\.telemetry\]\ntokens = \[(.*?)\]\n", text)
    if table:
        tokens = f'tokens = [{table.group(1)}, "{TELEMETRY_TOKEN}"]\n'
        text = f"{text[: table.start()]}[clusters.telemetry]\n{tokens}{ours}{text[table.end() :]}"
    else:
        text += f'\n[clusters.telemetry]\ntokens = ["{TELEMETRY_TOKEN}"]\n{ours}'
    cfg = tmp_path / "kafkascope.toml"
    cfg.write_text(text)
    svc = ServiceProc(cfg, port, tmp_path / "serve.log")
    svc.start()
    yield svc
    svc.stop()
    KafkaWire(sandbox.bootstrap).delete_subscription(KEPT)


@pytest.fixture
def consumer(sandbox: SandboxState) -> Iterator[tuple[str, str]]:
    """A confluent-kafka consumer in a group of its own, polling on a thread (no JMX: it
    is no JVM). Its own telemetry push is off: the test pushes for it."""
    suffix = uuid.uuid4().hex[:8]
    topic, group, client_id = f"tr-{suffix}", f"tr-group-{suffix}", f"tr-py-{suffix}"
    probe.create_topics(sandbox.bootstrap, {topic: 1}, 1, time.monotonic() + 60)
    c = Consumer(
        {
            "bootstrap.servers": sandbox.bootstrap,
            "group.id": group,
            "client.id": client_id,
            "enable.metrics.push": False,
            "client.dns.lookup": "use_all_dns_ips",
        }
    )
    c.subscribe([topic])
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            c.poll(0.2)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    yield group, client_id
    stop.set()
    t.join(10)
    c.close()


def rows(svc: ServiceProc, client_id: str) -> list[dict[str, Any]]:
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}
    body = svc.get("/api/v1/clusters/sandbox/clients", headers=auth)
    return [r for r in body["clients"] if r["client_id"] == client_id]


def test_pushes_make_a_client_alive_joined_then_dead(
    service: ServiceProc, consumer: tuple[str, str]
) -> None:
    group, client_id = consumer
    pusher = Pusher(service.url, client_id, "consumer", {"last.poll.seconds.ago": 0.1})
    try:

        def alive_and_joined() -> dict[str, Any] | None:
            found = rows(service, client_id)
            assert len(found) == 1, found  # one client: the member and its pushes joined
            r = found[0]
            ok = r["liveness"] == "ALIVE" and r["member_id"] and r["source"] == "telemetry"
            return r if ok else None

        row = wait_until(alive_and_joined, 30, f"{client_id} ALIVE from pushes, joined")
        assert row["group"] == group
        assert row["kind"] == "consumer"
        assert row["client_instance_id"] == pusher.instance
        assert row["software"] == "confluent-kafka-python/2.16.1"
        assert "telemetry pushed" in row["reason"]
    finally:
        pusher.stop()
    last = pusher.last_push
    # The group still lists the member (its session has not expired): only the missing
    # pushes say it is gone. DEAD within two intervals, plus one client poll (2 s).
    dead = wait_until(
        lambda: next((r for r in rows(service, client_id) if r["liveness"] == "DEAD"), None),
        2 * INTERVAL + 2 + 3,
        f"{client_id} DEAD after its pushes stop",
    )
    assert time.time() - last <= 2 * INTERVAL + 2 + 3
    assert "no telemetry push for" in dead["reason"]
    assert dead["member_id"]  # still joined: the coordinator still lists it


def test_terminating_push_is_a_departure_without_alert(service: ServiceProc) -> None:
    client_id = f"tr-producer-{uuid.uuid4().hex[:8]}"
    pusher = Pusher(service.url, client_id, "producer", {"waiting.threads": 0.0})
    wait_until(
        lambda: any(r["liveness"] == "ALIVE" for r in rows(service, client_id)),
        30,
        f"{client_id} ALIVE",
    )
    pusher.stop()
    pusher.push(terminating=True)
    departed = wait_until(
        lambda: next((r for r in rows(service, client_id) if r["liveness"] == "DEPARTED"), None),
        10,
        f"{client_id} listed as departed",
    )
    assert "closed cleanly" in departed["reason"]
    assert departed["source"] == "telemetry"
    # Past the two intervals that would make a silent client DEAD: still a departure, and
    # no client_dead alert (the alert job runs every 2 s, so wait out a few of its runs).
    auth = {"Authorization": f"Bearer {READ_TOKEN}"}
    runs = service.get("/api/v1/health", headers=auth)["jobs"]["alerts"]["runs"]
    wait_until(
        lambda: service.get("/api/v1/health", headers=auth)["jobs"]["alerts"]["runs"] >= runs + 2,
        20,
        "two more alert evaluations",
    )
    assert [r["liveness"] for r in rows(service, client_id)] == ["DEPARTED"]
    alerts = service.get("/api/v1/alerts", headers=auth)["alerts"]
    assert not [a for a in alerts if client_id in str(a.get("labels", a))]


@pytest.mark.parametrize(
    ("method", "path", "token", "status"),
    [
        # The telemetry token pushes (the other cases show it can do nothing else).
        ("POST", "/v1/metrics", TELEMETRY_TOKEN, 200),
        ("GET", "/api/v1/clusters", TELEMETRY_TOKEN, 401),
        ("POST", "/api/v1/silences", TELEMETRY_TOKEN, 401),
        # A read token may not push; nor may no token, nor a wrong one.
        ("POST", "/v1/metrics", READ_TOKEN, 401),
        ("POST", "/v1/metrics", None, 401),
        ("POST", "/v1/metrics", "wrong", 401),
    ],
)
def test_telemetry_token_only_pushes(
    service: ServiceProc, method: str, path: str, token: str | None, status: int
) -> None:
    h = headers(str(uuid.uuid4()), "tr-auth")
    del h["Authorization"]
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    r = httpx.request(method, f"{service.url}{path}", headers=h, content=otlp("producer", {}))
    assert r.status_code == status, r.text


def test_bad_pushes_are_refused_with_the_reason(service: ServiceProc) -> None:
    h = headers(str(uuid.uuid4()), "tr-bad")
    r = httpx.post(f"{service.url}/v1/metrics", headers=h, content=b"\xff\xff\xff")
    assert r.status_code == 400 and "not OTLP metrics" in r.json()["error"]
    del h["X-Kafkascope-Client-Instance-Id"]
    r = httpx.post(f"{service.url}/v1/metrics", headers=h, content=otlp("producer", {}))
    assert r.status_code == 400 and "Client-Instance-Id is missing" in r.json()["error"]
    r = httpx.post(
        f"{service.url}/v1/metrics",
        headers=headers(str(uuid.uuid4()), "tr-big"),
        content=b"\0" * (2 << 20),
    )
    assert r.status_code == 413


def test_serve_keeps_the_subscription_in_place(service: ServiceProc, sandbox: SandboxState) -> None:
    """keep_subscription: serve creates the missing subscription at its first check."""
    wire = KafkaWire(sandbox.bootstrap)
    wanted = Subscription(
        KEPT,
        subscription_metrics(["catalog"]),  # the default: the names the catalog reads
        1000,
        (f"client_id=nobody-{KEPT}",),
    )
    wait_until(lambda: wire.subscription(KEPT) == wanted, 30, f"serve to create {KEPT}")

"""``kafkascope telemetry subscribe`` and ``status`` against the sandbox's real brokers:
the CLIENT_METRICS subscription is created, updated and read back over the Kafka protocol
(confluent-kafka has no such resource type), and status says which brokers load the
plugin. The subscription matches no client (a client id nobody has), so the sandbox's
clients are not asked to push by it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.kafka.client_metrics import KafkaWire, Subscription
from kafkascope.sources.telemetry import subscription_metrics
from tests.support import run_cli


@pytest.fixture
def config(sandbox: SandboxState, tmp_path: Path) -> Iterator[tuple[Path, str]]:
    name = f"ks-test-{uuid.uuid4().hex[:8]}"
    cfg = tmp_path / "kafkascope.toml"
    cfg.write_text(
        f'[[clusters]]\nname = "sb"\nbootstrap = "{sandbox.bootstrap}"\n'
        f'[clusters.telemetry]\nsubscription = "{name}"\ninterval = "4s"\n'
        f'match = ["client_id=nobody-{name}"]\n'
    )
    yield cfg, name
    KafkaWire(sandbox.bootstrap).delete_subscription(name)


def test_subscribe_creates_updates_and_status_reads_back(
    sandbox: SandboxState, config: tuple[Path, str]
) -> None:
    cfg, name = config
    wire = KafkaWire(sandbox.bootstrap)
    r = run_cli("telemetry", "status", "--config", str(cfg), "--json")
    assert r.returncode == 1, r.stderr  # no subscription yet: not in place
    assert json.loads(r.stdout)["subscription"] is None

    r = run_cli("telemetry", "subscribe", "--config", str(cfg))
    assert r.returncode == 0, r.stderr
    assert f"subscription {name} created" in r.stdout
    # The default asks for exactly the names the catalog reads, and says so in one word.
    metrics = subscription_metrics(["catalog"])
    assert f"metrics catalog ({len(metrics)} names)" in r.stdout
    assert "org.apache.kafka.consumer.last.poll.seconds.ago" in metrics
    assert "org.apache.kafka.producer.record.send.total" in metrics
    match = (f"client_id=nobody-{name}",)
    assert wire.subscription(name) == Subscription(name, metrics, 4000, match)

    r = run_cli("telemetry", "subscribe", "--config", str(cfg), "--interval", "2s")
    assert r.returncode == 0, r.stderr
    assert "updated" in r.stdout and "every 2000 ms" in r.stdout
    assert wire.subscription(name) == Subscription(name, metrics, 2000, match)

    r = run_cli("telemetry", "status", "--config", str(cfg), "--json")
    body = json.loads(r.stdout)
    assert body["subscription"] == {
        "name": name,
        "metrics": list(metrics),
        "interval_ms": 2000,
        "match": list(match),
    }
    # Every broker is listed with whether its metric.reporters has the plugin (exit 0
    # only when every one has it: the sandbox loads it once the plugin is built).
    assert sorted(b["id"] for b in body["brokers"]) == [1, 2, 3]
    loaded = all(b["plugin"] for b in body["brokers"])
    assert r.returncode == (0 if loaded else 1)


def test_bad_interval_is_one_line(config: tuple[Path, str]) -> None:
    cfg, _ = config
    r = run_cli("telemetry", "subscribe", "--config", str(cfg), "--interval", "soon")
    assert r.returncode == 2
    assert "--interval" in r.stderr and "not a duration" in r.stderr

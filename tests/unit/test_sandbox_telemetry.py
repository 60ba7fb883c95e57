"""The sandbox's telemetry wiring as files: what every broker's server.properties gets, the
endpoint and token files the plugin re-reads, and the token in the sandbox's
kafkascope.toml (loaded by the real config loader). The plugin in a real broker is
tests/integration/test_telemetry_plugin.py."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kafkascope.config import load_config
from kafkascope.errors import SandboxError
from kafkascope.sandbox import telemetry
from kafkascope.sandbox.cluster import _node_properties, write_service_files
from kafkascope.sandbox.state import Proc, SandboxState


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        # a base URL is kept as given; the plugin appends /v1/metrics
        ("http://127.0.0.1:8321", "http://127.0.0.1:8321"),
        # a trailing slash would give //v1/metrics
        ("https://kafkascope.example/ ", "https://kafkascope.example"),
        # a path prefix (serve behind a proxy) is kept
        ("http://proxy:80/kafkascope/", "http://proxy:80/kafkascope"),
    ],
)
def test_endpoint_urls_are_normalised(url: str, expected: str) -> None:
    assert telemetry.check_endpoint(url) == expected


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8321",  # no scheme: the plugin could not post to it
        "ftp://host/",  # not HTTP
        "http://",  # no host
    ],
)
def test_a_bad_endpoint_names_the_fix(url: str) -> None:
    with pytest.raises(SandboxError, match=r"not an http\(s\) URL. Fix: give kafkascope"):
        telemetry.check_endpoint(url)


def test_endpoint_and_token_files(tmp_path: Path) -> None:
    with pytest.raises(SandboxError, match="has no telemetry plugin"):
        telemetry.set_endpoint(tmp_path, "http://127.0.0.1:1")
    f = telemetry.prepare(tmp_path, "http://127.0.0.1:8321/")
    assert f.endpoint.read_text() == "http://127.0.0.1:8321\n"
    assert stat.S_IMODE(f.token.stat().st_mode) == 0o600, "the token is a secret"
    tok = telemetry.token(tmp_path)
    assert tok is not None and len(tok) >= 40
    assert telemetry.set_endpoint(tmp_path, "http://127.0.0.1:40123") == "http://127.0.0.1:40123"
    assert f.endpoint.read_text() == "http://127.0.0.1:40123\n"
    assert telemetry.token(tmp_path) == tok, "moving the endpoint keeps the token"
    assert not list(f.root.glob(".*.tmp")), "written by rename, no temporary left"


def test_every_node_loads_the_plugin(tmp_path: Path) -> None:
    props = _node_properties(
        1,
        {1: (9092, 9093)},
        tmp_path / "data",
        1,
        telemetry.broker_properties(tmp_path),
    )
    lines = dict(line.split("=", 1) for line in props.splitlines())
    # Kafka's JmxReporter stays: the value replaces the default, and without it the
    # Kafka-metrics MBeans (raft-metrics and others the catalog reads) leave JMX.
    assert lines["metric.reporters"] == (
        "org.apache.kafka.common.metrics.JmxReporter,"
        "dev.kafkascope.telemetry.KafkascopeTelemetryReporter"
    )
    assert lines["kafkascope.telemetry.endpoint.file"] == str(tmp_path / "telemetry/endpoint")
    assert lines["kafkascope.telemetry.token.file"] == str(tmp_path / "telemetry/token")


def _state(directory: Path) -> SandboxState:
    node = Proc(name="node-1", role="broker+controller", pid=1, jmx="127.0.0.1:40001", argv=[],
                log="", node_id=1)  # fmt: skip
    return SandboxState(
        dir=str(directory),
        marker="m",
        cluster_id="c",
        bootstrap="127.0.0.1:39092",
        kafka_version="4.3.1",
        lib_dir="/lib",
        processes=[node],
    )


def test_the_sandbox_config_accepts_the_brokers_token(tmp_path: Path) -> None:
    directory = tmp_path / "sand box"
    directory.mkdir()
    write_service_files(_state(directory))
    (plain,) = load_config(directory / "kafkascope.toml", env={}).clusters
    assert plain.telemetry.tokens == [], "no plugin, no token"

    telemetry.prepare(directory, telemetry.DEFAULT_ENDPOINT)
    write_service_files(_state(directory))
    (cluster,) = load_config(directory / "kafkascope.toml", env={}).clusters
    assert [t.reveal() for t in cluster.telemetry.tokens] == [telemetry.token(directory)]

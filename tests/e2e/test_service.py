"""``kafkascope serve`` as a real process against the real sandbox (issue 6's done-when)."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkascope.sandbox import cluster, probe
from kafkascope.sandbox.state import SandboxState
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc
from tests.integration.test_jmx import restore_preferred_leaders
from tests.support import wait_until

pytestmark = pytest.mark.integration

DEMO_GROUPS = {"orders-processor": 2, "payments-auditor": 1, "audit-reader": 1}


def groups(svc: ServiceProc) -> dict[str, dict[str, Any]]:
    return {g["group"]: g for g in svc.get("/api/v1/clusters/sandbox/groups")["groups"]}


def test_the_api_shows_the_healthy_demo_cluster(
    make_service: Callable[..., ServiceProc], sandbox: SandboxState
) -> None:
    svc = make_service()

    def brokers_up() -> list[dict[str, Any]] | None:
        rows = svc.get("/api/v1/clusters/sandbox/brokers")["brokers"]
        ok = len(rows) == 3 and all(b["up"] and b["jmx"]["reachable"] for b in rows)
        return rows if ok else None

    rows = wait_until(brokers_up, 60, "three brokers up with JMX reachable")
    assert sum(b["controller"] for b in rows) == 1  # exactly one active KRaft controller
    assert {b["id"] for b in rows} == {p.node_id for p in sandbox.processes if p.node_id}

    def demo_healthy() -> bool:
        gs = groups(svc)
        for name, n in DEMO_GROUPS.items():
            g = gs.get(name)
            if g is None or g["status"] != "OK" or len(g["members"]) != n:
                return False
            if any(m["liveness"] != "ALIVE" for m in g["members"]):
                return False
        return True

    wait_until(demo_healthy, 90, "the demo groups OK with every member ALIVE")
    topics = {t["name"]: t for t in svc.get("/api/v1/clusters/sandbox/topics")["topics"]}
    assert topics["orders"]["partition_count"] == 6 and topics["orders"]["under_replicated"] == 0
    detail = svc.get("/api/v1/clusters/sandbox/topics/orders")
    assert all(len(p["isr"]) == 3 and p["end_offset"] is not None for p in detail["partitions"])
    one = svc.get("/api/v1/clusters/sandbox/groups/orders-processor")
    assert {p["partition"] for p in one["partitions"]} == set(range(6))
    clients = svc.get("/api/v1/clusters/sandbox/clients")["clients"]
    by_id = {c["client_id"]: c for c in clients}
    assert by_id["orders-producer"]["kind"] == "producer"
    assert by_id["orders-producer"]["liveness"] == "ALIVE"


def test_a_stopped_broker_is_down_and_partitions_under_replicated_then_back(
    make_service: Callable[..., ServiceProc], sandbox: SandboxState
) -> None:
    svc = make_service()
    wait_until(
        lambda: (
            all(b["up"] for b in svc.get("/api/v1/clusters/sandbox/brokers")["brokers"])
            and len(svc.get("/api/v1/clusters/sandbox/brokers")["brokers"]) == 3
        ),
        60,
        "all brokers up",
    )
    victim = 3
    directory = Path(sandbox.dir)
    cluster.broker_stop(directory, victim)
    try:

        def down() -> bool:
            b = {x["id"]: x for x in svc.get("/api/v1/clusters/sandbox/brokers")["brokers"]}
            topics = svc.get("/api/v1/clusters/sandbox/topics")["topics"]
            return (
                not b[victim]["up"]
                and b[victim]["jmx"]["reachable"] is False
                and any(t["under_replicated"] > 0 for t in topics)
            )

        # Two intervals (2 s each) plus the time the controller takes to fence the broker
        # (its session times out after broker.session.timeout.ms, 9 s by default).
        wait_until(down, 30, "the broker shown down and partitions under-replicated")
        b = {x["id"]: x for x in svc.get("/api/v1/clusters/sandbox/brokers")["brokers"]}
        assert b[victim]["jmx"]["error"]
    finally:
        cluster.broker_start(directory, victim)

    def back() -> bool:
        b = {x["id"]: x for x in svc.get("/api/v1/clusters/sandbox/brokers")["brokers"]}
        topics = svc.get("/api/v1/clusters/sandbox/topics")["topics"]
        return b[victim]["up"] and all(t["under_replicated"] == 0 for t in topics)

    wait_until(back, 120, "the broker up again and nothing under-replicated")
    restore_preferred_leaders(sandbox.bootstrap)


def test_a_killed_consumer_changes_its_verdict_and_its_groups_status(
    make_service: Callable[..., ServiceProc], sandbox: SandboxState, start_client: ClientFactory
) -> None:
    topic = f"svc-kill-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-g"
    probe.create_topics(sandbox.bootstrap, {topic: 2}, 3, deadline_in(60))
    start_client("producer", topic, rate=20)
    consumer = start_client("consumer", topic, group=group, client_id=f"{topic}-c")
    svc = make_service()

    def ok() -> bool:
        # Working for a while: OK, its member ALIVE, and a commit seen on every partition
        # (a consumer killed before its first auto-commit leaves no offsets to judge).
        g = groups(svc).get(group)
        return bool(
            g
            and g["status"] == "OK"
            and g["members"]
            and g["members"][0]["liveness"] == "ALIVE"
            and g["partitions"]
            and all(p["committed"] is not None for p in g["partitions"])
        )

    wait_until(ok, 90, "the new group OK with its member ALIVE")
    cluster.client_signal(Path(sandbox.dir), consumer.name, "KILL")

    def dead() -> bool:
        rows = [
            c
            for c in svc.get("/api/v1/clusters/sandbox/clients")["clients"]
            if c["target"] == consumer.jmx
        ]
        return bool(rows) and all(r["liveness"] == "DEAD" for r in rows)

    wait_until(dead, 20, "the killed consumer reported DEAD")

    def not_ok() -> str | None:
        g = groups(svc).get(group)
        return g["status"] if g and g["status"] not in ("OK", "NOTFOUND") else None

    status = wait_until(not_ok, 120, "the group's status to leave OK")
    assert status in ("ERR", "WARN")


def test_kill_9_and_restart_keep_history_and_windows(
    make_service: Callable[..., ServiceProc], tmp_path: Path
) -> None:
    data = tmp_path / "persist"
    # Short windows (3 commits) so "full" is reached within a minute of 5 s auto-commits.
    svc = make_service(data_dir=data, extra="\n[clusters.lag]\nintervals = 3\n")

    def complete() -> float | None:
        g = groups(svc).get("orders-processor")
        return g["complete"] if g and g["complete"] > 0 else None

    before = wait_until(complete, 90, "orders-processor to have windows")
    t_before = svc.get("/api/v1/health")["started_at"]
    svc.kill()  # SIGKILL: no flush, no goodbye
    svc.start()
    first = svc.get("/api/v1/health")["started_at"]
    assert first > t_before

    def resumed() -> dict[str, Any] | None:
        g = groups(svc).get("orders-processor")
        return g if g else None

    g = wait_until(resumed, 30, "the first evaluation after the restart")
    assert g["status"] != "NOTFOUND"
    assert g["complete"] >= before  # the windows came back from the store, not from zero
    hist = svc.get(
        "/api/v1/metrics/query",
        params={
            "name": "kafkascope_group_total_lag",
            "labels": "group=orders-processor",
            "from": str(t_before - 60),
            "to": str(first),
        },
    )
    assert hist["series"] and hist["series"][0]["points"], "history from before the kill"


def test_metrics_parse_with_prometheus_client(make_service: Callable[..., ServiceProc]) -> None:
    svc = make_service()

    def text() -> str | None:
        t = httpx.get(f"{svc.url}/metrics", timeout=10).text
        return t if "kafkascope_group_status" in t and "kafka_broker_partitions" in t else None

    body = wait_until(text, 60, "verdicts and broker metrics on /metrics")
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert "kafkascope_group_status" in families
    # the status is the value (a code), never a label: no new series on a change
    samples = families["kafkascope_group_status"].samples
    assert all("status" not in s.labels for s in samples)
    assert {s.value for s in samples} <= {float(c) for c in range(7)}
    partitions = [s.value for s in families["kafka_broker_partitions"].samples]
    assert len(partitions) == 3 and all(v > 0 for v in partitions)


def test_bad_requests_get_clear_4xx_never_500(make_service: Callable[..., ServiceProc]) -> None:
    svc = make_service()
    cases = [
        ("/api/v1/clusters/nope/brokers", 404, "unknown cluster 'nope'"),
        ("/api/v1/clusters/sandbox/groups/no-such-group", 404, "unknown consumer group"),
        ("/api/v1/clusters/sandbox/topics/no-such-topic", 404, "unknown topic"),
        ("/api/v1/metrics/query?name=x&from=10&to=5", 422, "'from' must be a time before"),
        ("/api/v1/metrics/query?name=x&step=0", 422, ""),
        ("/api/v1/metrics/query?name=x&labels=broken", 422, "not key=value"),
        ("/api/v1/metrics/query?name=x&from=0&to=100000000&step=1", 422, "too many points"),
        ("/api/v1/alerts?state=sideways", 422, ""),
    ]
    for path, code, text in cases:
        r = httpx.get(f"{svc.url}{path}", timeout=10)
        assert r.status_code == code, (path, r.status_code, r.text)
        assert text in r.text, (path, r.text)
        assert r.headers["content-type"].startswith("application/json")


def test_openapi_fuzzing_finds_no_server_error(make_service: Callable[..., ServiceProc]) -> None:
    svc = make_service()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{svc.url}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--generation-deterministic",
            "--request-timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]


BROKEN = {
    "syntax": "[[clusters]\nname = 'x'\n",
    "unknown-key": "[[clusters]]\nname = 'x'\nbootstrp = 'a:1'\n",
    "bad-duration": "[[clusters]]\nname = 'x'\nbootstrap = 'a:1'\nadmin_interval = 'soon'\n",
    "duplicate-cluster": "[[clusters]]\nname = 'x'\nbootstrap = 'a:1'\n"
    "[[clusters]]\nname = 'x'\nbootstrap = 'b:1'\n",
    "missing-password-file": "[[clusters]]\nname = 'x'\nbootstrap = 'a:1'\n[clusters.jmx]\n"
    "username = 'u'\npassword_file = '/nonexistent/pw'\n",
}


def test_check_config_gives_five_different_clear_messages(tmp_path: Path) -> None:
    messages = {}
    for kind, text in BROKEN.items():
        f = tmp_path / f"{kind}.toml"
        f.write_text(text)
        res = subprocess.run(
            [sys.executable, "-m", "kafkascope.cli.main", "check-config", str(f)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert res.returncode == 2, (kind, res.stdout, res.stderr)
        assert str(f) in res.stderr and "Traceback" not in res.stderr, (kind, res.stderr)
        messages[kind] = res.stderr
    assert len(set(messages.values())) == 5
    assert "bootstrap" in messages["unknown-key"]  # the did-you-mean suggestion
    assert "/nonexistent/pw" in messages["missing-password-file"]


def deadline_in(seconds: float) -> float:
    import time

    return time.monotonic() + seconds

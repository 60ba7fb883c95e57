"""``/metrics`` by the book, checked by rule on every family a real ``kafkascope serve``
exposes on the session sandbox (three broker+controller nodes' JMX, the sandbox's client
JVMs, lag, alerts, the service's own figures and the process collector).

Nothing here lists the metric names: a new family that breaks a rule fails whatever it is
called. The rules are Prometheus's naming conventions (prometheus.io/docs/practices/naming)
and the issue's: base units, ``_total`` for counters only, HELP that says something, no
label whose value moves with a status, broker metrics labelled ``cluster`` and ``broker``.
The exposition is parsed with prometheus_client's own text parser.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable

import httpx
import pytest

from tests.e2e.conftest import ServiceProc
from tests.metrics_rules import Family, parse, rule_problems
from tests.support import wait_until

pytestmark = pytest.mark.integration

#: What shows that every source reported at least once (readiness, not the rule list).
READY = (
    "kafka_broker_",
    "kafka_controller_",
    "kafka_raft_",
    "jvm_",
    "kafka_consumer_",
    "kafka_producer_",
    "kafkascope_group_status",
    "kafkascope_partition_status",
    "kafkascope_client_liveness",
    "kafkascope_jmx_read_duration_seconds",
    "kafkascope_outbox_pending_notifications",
    "kafkascope_store_size_bytes",
    "kafkascope_job_runs",
    "process_cpu_seconds",
)


def families(svc: ServiceProc) -> list[Family]:
    return parse(httpx.get(f"{svc.url}/metrics", timeout=10).text)


def all_sources(svc: ServiceProc) -> list[Family]:
    fams = families(svc)
    missing = [p for p in READY if not any(n.startswith(p) and s for n, _, _, s in fams)]
    assert not missing, f"not yet on /metrics: {missing}"
    return fams


def test_every_family_follows_the_rules(make_service: Callable[..., ServiceProc]) -> None:
    # A receiver that never answers: the outbox has a receiver to report on.
    svc = make_service(
        extra='\n[[alerts.receivers]]\nkind = "webhook"\nname = "nowhere"\n'
        'url = "http://127.0.0.1:9/hook"\n'
    )
    brokers = tomllib.loads(svc.config.read_text())["clusters"][0]["jmx"]["brokers"]
    node_of = {target: node for node, target in brokers.items()}
    fams = wait_until(lambda: all_sources(svc), 120, "every source on /metrics")
    assert len(fams) > 100, [f[0] for f in fams]

    problems = rule_problems(fams, node_of)
    assert not problems, "\n".join(problems)

    # Base units in the values, not only in the names: a JVM's uptime and start time agree
    # with the clock in seconds (in ms they would be 1000 times off).
    now = time.time()
    by_name = {f[0]: f[3] for f in fams}
    started = {s.labels["target"]: s.value for s in by_name["jvm_start_time_seconds"]}
    for up in by_name["jvm_uptime_seconds"]:
        assert abs(now - started[up.labels["target"]] - up.value) < 120, (up, started)
    assert all(0 < s.value < 30 for s in by_name["kafkascope_jmx_read_duration_seconds"])

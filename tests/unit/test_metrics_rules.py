"""The ``/metrics`` rules (tests/metrics_rules.py) catch each kind of break, and what
kafkascope renders of its own (alerts, jobs, outbox, store, JMX reads, process) keeps them.

The e2e test applies the same rules to a real serve; here each rule is shown to fail on
an exposition that breaks it once (taken from what ``/metrics`` served before issue 14),
so none of them can pass by never firing.
"""

from __future__ import annotations

import pytest

from kafkascope.api.metrics import render
from kafkascope.monitor.live import LiveState
from kafkascope.monitor.series import (
    ALERTS,
    JmxFigures,
    JobFigures,
    OutboxFigures,
    OwnFigures,
    alert_points,
)
from tests.metrics_rules import parse, rule_problems

NODES = {"k1:9999": "1"}


def fam(name: str, kind: str, line: str, help_text: str = "what it measures") -> str:
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n{line}\n"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # milliseconds in a name (jvm_uptime_ms before): seconds are the base unit
        (fam("jvm_uptime_ms", "gauge", 'jvm_uptime_ms{target="c:1"} 5.0'), "non-base unit"),
        # a JMX stat as a name part (..._p99, ..._rate1m): a label says which
        (fam("x_time_seconds_p99", "gauge", "x_time_seconds_p99 1.0"), "JMX stat"),
        (fam("x_in_rate1m", "gauge", "x_in_rate1m 1.0"), "JMX stat"),
        # a histogram's count as a gauge
        (fam("x_time_count", "gauge", "x_time_count 3.0"), "never a gauge"),
        # a gauge named like a counter
        (fam("x_queue_total", "gauge", "x_queue_total 3.0"), "only counters"),
        # the unit not last (kafka_consumer_last_poll_seconds_ago before)
        (fam("x_poll_seconds_ago", "gauge", "x_poll_seconds_ago 3.0"), "last word"),
        (fam("x_bytes_in_total", "counter", "x_bytes_in_total 3.0"), "last word"),
        # HELP that is the name (the old "<name> (kafkascope catalog)")
        (fam("x_up", "gauge", "x_up 1.0", "x_up (kafkascope catalog)"), "repeats the name"),
        # a status label: a change of status starts a new series (partition_lag before)
        (
            fam("x_lag", "gauge", 'x_lag{p="0",status="OK"} 3.0\nx_lag{p="1",status="OK"} 1.0'),
            "label 'status' changes",
        ),
        (
            fam("x_st", "gauge", 'x_st{g="a",status="OK"} 1.0\nx_st{g="b",status="ERR"} 3.0'),
            "label 'status' changes",
        ),
        # a label Prometheus sets itself (job, instance): scraped as exported_job
        (fam("x_runs_total", "counter", 'x_runs_total{job="lag"} 3.0'), "target label"),
        # a broker's series without its node id
        (fam("x_leaders", "gauge", 'x_leaders{cluster="c",target="k1:9999"} 3.0'), "needs"),
        # or with the wrong one
        (
            fam("x_leaders", "gauge", 'x_leaders{broker="2",cluster="c",target="k1:9999"} 3.0'),
            "broker should be 1",
        ),
        (fam("kafka_broker_x", "gauge", 'kafka_broker_x{cluster="c"} 3.0'), "needs"),
        # alerts without their cluster
        (fam("kafkascope_alerts", "gauge", 'kafkascope_alerts{rule="r"} 1.0'), "has cluster"),
    ],
)
def test_each_rule_catches_its_break(text: str, problem: str) -> None:
    problems = rule_problems(parse(text), NODES)
    assert any(problem in p for p in problems), problems


def test_a_state_set_and_counts_by_state_keep_their_identity() -> None:
    # Every identity carries every state: a change moves values, not series (right).
    text = fam(
        "x_state",
        "gauge",
        'x_state{broker="1",cluster="c",state="leader",target="k1:9999"} 1.0\n'
        'x_state{broker="1",cluster="c",state="follower",target="k1:9999"} 0.0',
    )
    assert rule_problems(parse(text), NODES) == []


def test_alert_counts_keep_every_state_of_a_rule() -> None:
    # One firing alert: pending and resolved are there at 0, so when it resolves the
    # same three series change values (and Prometheus's `for:` and graphs continue).
    points = alert_points({("c", "r", "warning", "firing"): 2}, 0.0)
    got = {(dict(p.labels)["state"], p.value) for p in points}
    assert got == {("pending", 0.0), ("firing", 2.0), ("resolved", 0.0)}
    assert {p.name for p in points} == {ALERTS.name}


def test_what_kafkascope_renders_of_its_own_keeps_the_rules() -> None:
    own = OwnFigures(
        jobs=(JobFigures("lag:c", 5, 1, 0.2, 1.7e9),),
        outbox=(OutboxFigures("hook", 2, 30.0),),
        store_bytes=4096,
        jmx=(
            JmxFigures("c", "k1:9999", "broker", 0.3, 2, "1"),
            JmxFigures("c", "app:1", "client", None, 0),
        ),
    )
    counts = {("c", "r", "warning", "firing"): 1}
    fams = parse(render(LiveState(), lambda: counts, lambda: own).decode())
    assert rule_problems(fams, NODES) == []
    names = {f[0] for f in fams}
    # prometheus_client's family names: counters without _total
    assert {
        "kafkascope_job_runs",
        "kafkascope_job_failures",
        "kafkascope_job_last_duration_seconds",
        "kafkascope_job_last_success_timestamp_seconds",
        "kafkascope_outbox_pending_notifications",
        "kafkascope_outbox_oldest_age_seconds",
        "kafkascope_store_size_bytes",
        "kafkascope_jmx_read_duration_seconds",
        "kafkascope_jmx_read_errors",
        "kafkascope_alerts",
        "process_cpu_seconds",
    } <= names
    types = {f[0]: f[1] for f in fams}
    assert types["kafkascope_job_runs"] == "counter"
    assert types["kafkascope_jmx_read_errors"] == "counter"

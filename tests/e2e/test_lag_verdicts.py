"""Consumer-group verdicts end to end (issue 12, items 4, 5 and 6): a real ``kafkascope
serve`` on the session sandbox, the demo's real consumers, and extra real Java consumers
killed with -9.

* Windows fill at one point per admin poll on the healthy demo groups (item 5).
* A group whose only consumer is killed is not plain OK within seconds, in the API, on
  ``/metrics`` and in an alert, each naming the member and DEAD, also when that consumer
  never committed (item 6).
* When Burrow's rules then judge the abandoned group, its reason names the partition and
  the rule, the same in the API and the alert (item 4).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkascope.model import LIVENESS_CODE, Status
from kafkascope.sandbox import cluster, probe, procs
from kafkascope.sandbox.state import SandboxState
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc, service_config
from tests.e2e.test_service import deadline_in, groups
from tests.support import wait_until

pytestmark = pytest.mark.integration

#: The healthy demo groups (sandbox/workload.py): busy, steady and idle topics.
DEMO_GROUPS = ("orders-processor", "payments-auditor", "audit-reader")
#: The default window length ([clusters.lag] intervals).
# The window of the fill test: 5 points, not the default 10, so that it fills in 7 polls
# (42 s at its 6 s admin interval) rather than 12; what it checks is a point per poll.
INTERVALS = 5


def runs_of(svc: ServiceProc, job: str) -> int:
    return int(svc.get("/api/v1/health")["jobs"][job]["runs"])


def test_healthy_demo_groups_gain_a_window_point_at_every_admin_poll(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    """Item 5. Before the fix a window gained a point only when its committed offset moved,
    and the demo's producers write one partition at a time (Kafka's sticky partitioner), so
    most partitions stood still at most polls: about one point per 25 s at a 10 s poll, and
    the idle audit topic's window never filled. Now a partition a member owns gains a point
    at every poll, moved or level with the log end. The admin interval is 6 s: longer than
    the demo consumers' 5 s auto-commit, as the default 10 s is, so a busy partition's
    commit moves between any two polls."""
    port = procs.free_port()
    config = tmp_path / "fill.toml"
    text = service_config(sandbox, tmp_path / "fill-data", port)
    assert 'admin_interval = "2s"' in text, "the e2e config changed shape"
    text = text.replace('admin_interval = "2s"', 'admin_interval = "6s"')
    assert "[clusters.lag]" not in text, "the sandbox config has a lag table: join it"
    config.write_text(f"{text}\n[clusters.lag]\nintervals = {INTERVALS}\n")
    svc = ServiceProc(config, port, tmp_path / "fill.log")
    svc.start()
    try:
        # After k polls every partition holds k points (k / INTERVALS filled); allow one
        # missed.
        for k in (3, 5, INTERVALS + 2):

            def polled(k: int = k) -> bool:
                return runs_of(svc, "lag:sandbox") >= k

            wait_until(polled, 6 * k + 60, f"{k} lag polls")
            body = groups(svc)
            want = min(1.0, (k - 2) / INTERVALS)
            fills = {
                f"{name}/{p['topic']}-{p['partition']}": p["fill"]
                for name in DEMO_GROUPS
                for p in body[name]["partitions"]
            }
            assert len(fills) == 6 + 3 + 1, fills
            short = {tp: fill for tp, fill in fills.items() if fill < want - 1e-9}
            assert not short, f"after {k} polls every window should be >= {want}: {short}"
        for name in DEMO_GROUPS:
            assert body[name]["complete"] == 1.0 and body[name]["status"] == "OK", body[name]
    finally:
        svc.stop()


def group_status_samples(svc: ServiceProc, group: str) -> list[str]:
    """The group's status names, from the codes /metrics gives (docs/metrics.md)."""
    text = httpx.get(f"{svc.url}/metrics", timeout=10).text
    return [
        Status(int(s.value)).name
        for f in text_string_to_metric_families(text)
        if f.name == "kafkascope_group_status"
        for s in f.samples
        if s.labels.get("group") == group
    ]


def client_liveness_samples(svc: ServiceProc, client_id: str) -> list[dict[str, str]]:
    """The client's series' labels, with the verdict its code stands for as ``liveness``."""
    text = httpx.get(f"{svc.url}/metrics", timeout=10).text
    verdict = {code: lv.value for lv, code in LIVENESS_CODE.items()}
    return [
        s.labels | {"liveness": verdict[int(s.value)]}
        for f in text_string_to_metric_families(text)
        if f.name == "kafkascope_client_liveness"
        for s in f.samples
        if s.labels.get("client_id") == client_id
    ]


def group_alerts(svc: ServiceProc, group: str, *rules: str) -> list[dict[str, Any]]:
    return [
        a
        for a in svc.get("/api/v1/alerts")["alerts"]
        if a["rule"] in rules and a["labels"].get("group") == group
    ]


def named(text: str, client_id: str) -> bool:
    """Does ``text`` name the member and its verdict, as the group's reason words it?"""
    return f"member {client_id} " in text and " is DEAD" in text


def test_a_group_whose_consumer_is_killed_is_not_ok_and_says_who_and_why(
    make_service: Callable[..., ServiceProc], sandbox: SandboxState, start_client: ClientFactory
) -> None:
    """Items 6 and 4. Two groups on their own topics, one consumer each: ``busy`` commits
    (auto-commit), ``never`` never commits (auto-commit off), the way a consumer killed
    before its first commit leaves its group. Before the fix, after kill -9 both read DEAD
    within seconds while their groups stayed OK: ``busy`` until Burrow's windows fired,
    ``never`` for good (no commit, no window to judge). A 6 s session timeout lets the
    coordinator evict them within the test: a group with no members left and a dead
    consumer is still not OK."""
    tag = uuid.uuid4().hex[:6]
    busy, never = f"gv-busy-{tag}", f"gv-never-{tag}"  # topic names; groups are NAME-g
    probe.create_topics(sandbox.bootstrap, {busy: 2, never: 1}, 3, deadline_in(60))
    start_client("producer", busy, rate=20)
    start_client("producer", never, rate=5)
    evict = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}
    no_commit = {**evict, "enable.auto.commit": "false"}
    consumers = [
        start_client("consumer", busy, group=f"{busy}-g", client_id=f"{busy}-c", properties=evict),
        start_client(
            "consumer", never, group=f"{never}-g", client_id=f"{never}-c", properties=no_commit
        ),
    ]
    cases = {f"{t}-g": f"{t}-c" for t in (busy, never)}  # group -> its one consumer
    # Short windows and stop grace, so Burrow's STOP comes within the test (item 4).
    svc = make_service(extra='\n[clusters.lag]\nintervals = 3\nstop_grace = "10s"\n')

    def healthy() -> bool:
        body = groups(svc)
        for group in cases:
            g = body.get(group)
            if not (
                g
                and g["status"] == "OK"
                and [m["liveness"] for m in g["members"]] == ["ALIVE"]
                and g["partitions"]
            ):
                return False
        return all(p["committed"] is not None for p in body[f"{busy}-g"]["partitions"])

    wait_until(healthy, 120, "both groups OK with their one consumer ALIVE (busy committed)")
    assert all(p["committed"] is None for p in groups(svc)[f"{never}-g"]["partitions"])
    for p in consumers:
        cluster.client_signal(Path(sandbox.dir), p.name, "KILL")
    killed = time.monotonic()

    for group, cid in cases.items():

        def api_not_ok(group: str = group, cid: str = cid) -> dict[str, Any] | None:
            g = groups(svc).get(group)
            ok = g and g["status"] != "OK" and any(named(p, cid) for p in g["problems"])
            return g if ok else None

        def metrics_not_ok(group: str = group, cid: str = cid) -> bool:
            statuses = group_status_samples(svc, group)
            rows = client_liveness_samples(svc, cid)
            return (
                bool(statuses)
                and "OK" not in statuses
                and bool(rows)
                and all((r["liveness"], r["group"]) == ("DEAD", group) for r in rows)
            )

        def alerted(group: str = group, cid: str = cid) -> list[dict[str, Any]]:
            # consumer_group_warn is pending for its 2 minutes; consumer_group_status fires.
            rules = ("consumer_group_warn", "consumer_group_status")
            return [a for a in group_alerts(svc, group, *rules) if named(a["summary"], cid)]

        g = wait_until(api_not_ok, 30, f"{group} not OK in the API, naming {cid} DEAD")
        assert named(g["reason"], cid), g
        print(f"{group}: {g['status']} in the API {time.monotonic() - killed:.1f} s after kill")
        wait_until(metrics_not_ok, 15, f"/metrics: {group} not OK, {cid} DEAD in it")
        alerts = wait_until(alerted, 15, f"a group alert on {group} naming {cid} DEAD")
        assert {a["state"] for a in alerts} <= {"pending", "firing"}, alerts

    # Evicted (6 s session timeout): no members, and still not OK while its consumer is DEAD.
    def evicted() -> dict[str, Any] | None:
        g = groups(svc).get(f"{never}-g")
        return g if g and not g["members"] else None

    g = wait_until(evicted, 60, f"{never}-g without members")
    assert g["status"] == "WARN" and any(named(p, f"{never}-c") for p in g["problems"]), g

    # Item 4: the busy group's commits stopped while its producer went on: Burrow's STOP.
    # The reason names the partition and the rule; the partition named is one that is STOP
    # (not merely the one with the most lag), and the alert words it the same way.
    def stopped() -> dict[str, Any] | None:
        g = groups(svc).get(f"{busy}-g")
        return g if g and g["status"] == "ERR" else None

    g = wait_until(stopped, 90, f"{busy}-g ERR from its stopped commits")
    worst = g["worst"]
    stop = {f"{p['topic']}-{p['partition']}" for p in g["partitions"] if p["status"] == "STOP"}
    assert worst in stop, g
    assert g["reason"].startswith(f"{worst}: committed offset "), g["reason"]
    assert "(rule: stopped)" in g["reason"] and named(g["reason"], f"{busy}-c"), g["reason"]
    alerts = wait_until(
        lambda: group_alerts(svc, f"{busy}-g", "consumer_group_status"),
        15,
        "consumer_group_status for the stopped group",
    )
    summary = alerts[0]["summary"]
    assert f"is ERR: {busy}-" in summary and "(rule: stopped)" in summary, summary
    assert ": OK" not in summary and named(summary, f"{busy}-c"), summary

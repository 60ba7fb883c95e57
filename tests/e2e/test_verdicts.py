"""Client verdicts that a fault run found wrong (issue 12, items 1, 2, 3 and 7), end to end:
a real ``kafkascope serve`` on the session sandbox, real Java clients killed with -9 or
pointed at a topic that does not exist, a real webhook receiver, and a real restart.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kafkascope.sandbox import cluster, probe
from kafkascope.sandbox.state import SandboxState
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc
from tests.e2e.test_alerts import receivers_toml, sent
from tests.e2e.test_service import deadline_in, groups
from tests.receivers import HttpReceiver
from tests.support import run_cli, wait_until

pytestmark = pytest.mark.integration

#: Long enough to restart the service while the killed clients are DEAD, short enough
#: for the test to see them retired.
RETIRE_AFTER = 75.0


def client_rows(svc: ServiceProc, **match: str) -> list[dict[str, Any]]:
    rows = svc.get("/api/v1/clusters/sandbox/clients")["clients"]
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def runs_of(svc: ServiceProc, job: str) -> int:
    return int(svc.get("/api/v1/health")["jobs"][job]["runs"])


def test_a_restart_keeps_dead_clients_dead_then_retires_them(
    make_service: Callable[..., ServiceProc],
    sandbox: SandboxState,
    start_client: ClientFactory,
    start_http: Callable[..., HttpReceiver],
    tmp_path: Path,
) -> None:
    """Items 1 and 7. Before the fix, the restarted service dropped the dead consumers from
    /clients, sent their client_dead alerts as resolved, and fired new ones labelled
    ``client_id="?"`` with no group. Now the store remembers them: the same alert stays
    firing with the same labels, nobody is told anything; later they retire (resolved
    once, saying why) and `kafkascope clients forget` removes one for good."""
    topic = f"restart-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-g"
    ids = [f"{topic}-c1", f"{topic}-c2"]
    probe.create_topics(sandbox.bootstrap, {topic: 2}, 3, deadline_in(60))
    start_client("producer", topic, rate=10)
    consumers = [start_client("consumer", topic, group=group, client_id=c) for c in ids]
    hook = start_http()
    data = tmp_path / "restart-data"
    svc = make_service(
        extra=receivers_toml(hook.url)
        + f'\n[clusters.liveness]\nretire_after = "{RETIRE_AFTER:g}s"\n',
        data_dir=data,
    )
    wait_until(
        lambda: all(
            [r["liveness"] for r in client_rows(svc, client_id=c)] == ["ALIVE"] for c in ids
        ),
        90,
        "both consumers ALIVE",
    )
    for p in consumers:
        cluster.client_signal(Path(sandbox.dir), p.name, "KILL")
    killed = time.monotonic()

    def both_dead() -> list[dict[str, Any]]:
        bodies = [b for c in ids for b in sent(hook, "client_dead", client_id=c, group=group)]
        return bodies if {b["alert"]["labels"]["client_id"] for b in bodies} == set(ids) else []

    fired = wait_until(both_dead, 60, "client_dead for both killed consumers")
    before = {b["alert"]["labels"]["client_id"]: b["alert"]["labels"] for b in fired}
    targets = {c: before[c]["target"] for c in ids}

    svc.kill()  # kill -9 of the service itself
    svc.start()  # same data dir
    clients_runs = runs_of(svc, "clients:sandbox")
    wait_until(
        lambda: runs_of(svc, "clients:sandbox") >= clients_runs + 3 and runs_of(svc, "alerts") >= 3,
        60,
        "three client polls and alert evaluations after the restart",
    )
    for c in ids:
        rows = client_rows(svc, client_id=c)
        assert len(rows) == 1, rows
        (row,) = rows
        assert row["liveness"] == "DEAD", row
        assert (row["group"], row["target"]) == (group, targets[c]), row
        assert row["identity"] == "restored", row
    # No word to anyone: nothing resolved, nothing re-fired under other labels.
    assert sent(hook, "client_dead", "resolved") == []
    dead = [
        b
        for b in hook.bodies()
        if b["alert"]["rule"] == "client_dead"
        and (
            b["alert"]["labels"].get("target") in targets.values()
            or b["alert"]["labels"].get("client_id") in ids
        )
    ]
    assert sorted(b["alert"]["labels"]["client_id"] for b in dead) == sorted(ids), dead
    stored = [
        a
        for a in svc.get("/api/v1/alerts")["alerts"]
        if a["rule"] == "client_dead" and a["labels"].get("group") == group
    ]
    assert sorted(a["state"] for a in stored) == ["firing", "firing"], stored
    assert {a["labels"]["client_id"]: a["labels"] for a in stored} == before

    # Item 7: DEAD for longer than retire_after, counted across the restart.
    wait_until(
        lambda: all(
            [r["liveness"] for r in client_rows(svc, client_id=c)] == ["RETIRED"] for c in ids
        ),
        RETIRE_AFTER + 60,
        "both dead consumers RETIRED",
    )
    assert time.monotonic() - killed >= RETIRE_AFTER - 5

    def both_resolved() -> list[dict[str, Any]]:
        bodies = sent(hook, "client_dead", "resolved", group=group)
        return bodies if len(bodies) == 2 else []

    resolved = wait_until(both_resolved, 30, "client_dead resolved for both, by retirement")
    for b in resolved:
        assert "retired" in b["alert"]["summary"], b["alert"]["summary"]

    # Forget one through the CLI (which asks the service): gone, and stays gone.
    res = run_cli("clients", "forget", ids[0], "--config", str(svc.config))
    assert res.returncode == 0, res.stderr
    assert ids[0] in res.stdout
    wait_until(lambda: client_rows(svc, client_id=ids[0]) == [], 30, "the forgotten client gone")
    clients_runs = runs_of(svc, "clients:sandbox")
    wait_until(lambda: runs_of(svc, "clients:sandbox") >= clients_runs + 2, 30, "two more polls")
    assert client_rows(svc, client_id=ids[0]) == []
    assert [r["liveness"] for r in client_rows(svc, client_id=ids[1])] == ["RETIRED"]
    res = run_cli("clients", "forget", "no-such-client", "--config", str(svc.config))
    assert res.returncode == 1 and "no-such-client" in res.stderr, res


def test_a_producer_that_cannot_send_is_failing_and_a_consumer_without_partitions_says_so(
    make_service: Callable[..., ServiceProc],
    sandbox: SandboxState,
    start_client: ClientFactory,
    start_http: Callable[..., HttpReceiver],
) -> None:
    """Items 2 and 3. Before the fix the producer of a topic that does not exist read IDLE,
    "nothing to send", while producer_errors said it was failing; and a consumer subscribed
    to a missing topic read ALIVE, "its partitions are consumed up to their end"."""
    missing = f"no-such-topic-{uuid.uuid4().hex[:6]}"
    producer_id, consumer_id = f"{missing}-p", f"{missing}-c"
    group = f"{missing}-g"
    hook = start_http()
    svc = make_service(extra=receivers_toml(hook.url))
    # A short max.block.ms: each send() gives up on the missing topic's metadata in 2 s
    # (the default is a minute), so the record errors come quickly.
    start_client(
        "producer",
        missing,
        client_id=producer_id,
        rate=5,
        properties={
            "max.block.ms": "2000",
            "delivery.timeout.ms": "3000",
            "request.timeout.ms": "1000",
        },
    )
    start_client("consumer", missing, group=group, client_id=consumer_id)

    (producer,) = wait_until(
        lambda: [r for r in client_rows(svc, client_id=producer_id) if r["liveness"] == "FAILING"],
        90,
        "the producer of a missing topic FAILING",
    )
    assert "not sent" in producer["reason"], producer
    (alert,) = wait_until(
        lambda: sent(hook, "producer_errors", client_id=producer_id), 60, "producer_errors"
    )
    assert "FAILING" in alert["alert"]["summary"], alert["alert"]["summary"]
    assert "nothing to send" not in alert["alert"]["summary"]

    (consumer,) = wait_until(
        lambda: [
            r
            for r in client_rows(svc, client_id=consumer_id)
            if r["member_id"] and r["liveness"] == "IDLE"
        ],
        90,
        "the consumer of a missing topic IDLE with no partitions",
    )
    assert consumer["reason"].startswith("no partitions assigned"), consumer
    assert "consumed up to their end" not in consumer["reason"]
    assert sent(hook, "client_dead", client_id=consumer_id) == []
    problems = wait_until(
        lambda: [p for p in groups(svc).get(group, {}).get("problems", []) if "no partitions" in p],
        30,
        "the group's problem: no partitions assigned",
    )
    assert problems


def test_a_client_dead_before_the_service_first_looked_is_named_from_its_file_sd_hint(
    make_service: Callable[..., ServiceProc],
    sandbox: SandboxState,
    start_client: ClientFactory,
) -> None:
    """Item 1's last part: a target never seen alive takes its name and group from its
    ``file_sd`` labels, and says they are a hint (``identity: "hint"``), not ``"?"``."""
    topic = f"hint-{uuid.uuid4().hex[:6]}"
    group, client_id = f"{topic}-g", f"{topic}-c"
    probe.create_topics(sandbox.bootstrap, {topic: 1}, 3, deadline_in(60))
    p = start_client("consumer", topic, group=group, client_id=client_id)
    cluster.client_signal(Path(sandbox.dir), p.name, "KILL")  # dead before serve starts
    svc = make_service()
    (row,) = wait_until(
        lambda: [r for r in client_rows(svc, client_id=client_id) if r["liveness"] == "DEAD"],
        60,
        "the never-seen consumer DEAD under its file_sd name",
    )
    assert (row["group"], row["identity"]) == (group, "hint"), row
    assert "listed by file_sd" in row["reason"], row

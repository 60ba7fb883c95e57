"""The shipped rules and dashboards against a real Prometheus (issue 14, "Prometheus rules
and Grafana dashboards, shipped").

Debian's Prometheus runs on loopback with a generated config (a port of its own, a
temporary directory, killed by pid at teardown), scrapes a real ``kafkascope serve`` on the
session sandbox every second and loads contrib/prometheus/kafkascope-rules.yml as shipped
(the rule that a killed consumer fires, client_dead, has ``for: 0s`` there: no test copy
with shorter ``for`` is needed). Checked through Prometheus's own HTTP API:

* every rule evaluates without error (the rules API's health and last error, and each
  expression through the query API);
* every panel query of every dashboard in contrib/grafana returns data, with its template
  variables substituted as Grafana would: the cluster and group from the variables' own
  ``label_values`` queries (run through Prometheus's label API), the group being ours;
* killing a consumer of our own with -9 makes ``client_dead`` fire in Prometheus for it,
  with the built-in alert's labels.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkascope.sandbox import cluster, probe
from kafkascope.sandbox.state import SandboxState
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc
from tests.e2e.test_service import deadline_in
from tests.prom import RULES, Prometheus, alerting_rules, dashboards, panels, substitute, variables
from tests.support import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[list[str]], Prometheus]]:
    started: list[Prometheus] = []

    def start(targets: list[str]) -> Prometheus:
        prom = Prometheus(tmp_path / f"prometheus{len(started)}", targets, [RULES])
        started.append(prom)
        prom.start()
        return prom

    yield start
    for prom in started:
        prom.stop()


def rules_healthy(prom: Prometheus) -> list[dict[str, Any]] | None:
    """Every loaded rule once it has been evaluated on scraped data, or None before; a rule
    whose evaluation failed fails the test with Prometheus's error."""
    rules = [r for g in prom.api("rules")["groups"] for r in g["rules"]]
    bad = [(r["name"], r["lastError"]) for r in rules if r["health"] == "err"]
    assert not bad, bad
    return rules if all(r["health"] == "ok" for r in rules) else None


def variable_values(
    prom: Prometheus, dash: dict[str, Any], chosen: dict[str, str]
) -> dict[str, str]:
    """Each query variable's values as Grafana gets them (``label_values(SELECTOR,
    LABEL)`` is Prometheus's label values API), earlier variables substituted; the value
    used is ``chosen``'s, which must be among them."""
    values: dict[str, str] = {}
    for name, var in variables(dash).items():
        if var["type"] != "query":
            continue
        query = substitute(var["query"]["query"], values)
        m = re.fullmatch(r"label_values\((.+), (\w+)\)", query)
        assert m, query
        offered = prom.api(f"label/{m.group(2)}/values", **{"match[]": m.group(1)})
        assert chosen[name] in offered, (dash["uid"], name, offered)
        values[name] = chosen[name]
    return values


def every_panel_has_data(prom: Prometheus, chosen: dict[str, str]) -> bool:
    """Every dashboard panel query (variables substituted) returns data; the assertion
    names those that do not."""
    empty = []
    for dash in dashboards():
        values = variable_values(prom, dash, chosen)
        for panel in panels(dash):
            for target in panel.get("targets", ()):
                expr = substitute(target["expr"], values)
                if not prom.query(expr):
                    empty.append(f"{dash['uid']} / {panel['title']} / {target['refId']}: {expr}")
    assert not empty, empty
    return True


def test_prometheus_evaluates_the_rules_and_panels_and_fires_client_dead(
    make_service: Callable[..., ServiceProc],
    sandbox: SandboxState,
    start_client: ClientFactory,
    prometheus: Callable[[list[str]], Prometheus],
) -> None:
    topic = f"prom-{uuid.uuid4().hex[:6]}"
    group, client_id = f"{topic}-g", f"{topic}-c"
    probe.create_topics(sandbox.bootstrap, {topic: 2}, 3, deadline_in(60))
    start_client("producer", topic, rate=20)
    consumer = start_client("consumer", topic, group=group, client_id=client_id)
    started = time.monotonic()
    svc = make_service()
    prom = prometheus([f"127.0.0.1:{svc.port}"])
    print(f"serve and Prometheus up in {time.monotonic() - started:.1f} s")

    def alive_in_group() -> bool:
        """Our consumer ALIVE as a member of its group, as Prometheus scraped it."""
        rows = prom.query(f'kafkascope_client_liveness{{client_id="{client_id}"}}')
        seen = [(r["metric"].get("group"), r["value"][1]) for r in rows]
        scrapes = [(t["health"], t["lastError"]) for t in prom.api("targets")["activeTargets"]]
        rows_api = [
            (c["liveness"], c.get("reason"))
            for c in svc.get("/api/v1/clusters/sandbox/clients")["clients"]
            if c["client_id"] == client_id
        ]
        assert (group, "0") in seen, f"scrapes {scrapes}; {client_id}: {seen}, API {rows_api}"
        return True

    wait_until(alive_in_group, 90, f"{client_id} ALIVE in {group} in Prometheus")
    print(f"{client_id} ALIVE in Prometheus {time.monotonic() - started:.1f} s after start")

    rules = wait_until(lambda: rules_healthy(prom), 30, "every rule evaluated")
    assert len(rules) == len(alerting_rules())
    for rule in alerting_rules():
        prom.query(rule["expr"])  # fails with Prometheus's error if it has one

    chosen = {"cluster": "sandbox", "group": group}
    # Rates need two scrapes inside their window; give the panels a few seconds.
    wait_until(lambda: every_panel_has_data(prom, chosen), 30, "data in every dashboard panel")
    print(f"every panel has data {time.monotonic() - started:.1f} s after start")

    def firing() -> list[dict[str, Any]]:
        return [
            a
            for a in prom.api("alerts")["alerts"]
            if a["labels"].get("alertname") == "client_dead"
            and a["labels"].get("client_id") == client_id
            and a["state"] == "firing"
        ]

    assert not firing()  # alive: only the kill can make it fire
    cluster.client_signal(Path(sandbox.dir), consumer.name, "KILL")
    killed = time.monotonic()

    (alert,) = wait_until(firing, 75, f"client_dead firing in Prometheus for {client_id}")
    print(f"client_dead firing {time.monotonic() - killed:.1f} s after kill -9")
    labels = alert["labels"]
    assert labels["severity"] == "critical" and labels["cluster"] == "sandbox", labels
    assert labels["group"] == group and labels["kind"] == "consumer" and labels["target"], labels
    assert alert["annotations"]["summary"] == f"consumer {client_id} of cluster sandbox is DEAD"

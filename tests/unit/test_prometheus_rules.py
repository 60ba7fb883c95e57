"""contrib/prometheus and contrib/grafana (issue 14, "Prometheus rules and Grafana
dashboards, shipped"), checked without a running Prometheus:

* Debian's ``promtool`` accepts the rule file and passes its unit tests, which have a case
  at and past every rule's threshold and around every ``for``;
* the rules are the built-in pack: one alert per rule, named as the rule, with its
  severity (two, warning and critical, where the pack escalates), its ``for``, its
  threshold and its window, read from ``BUILTIN_RULES`` itself, so changing a default in
  the pack without the file fails here;
* every dashboard is Grafana JSON with the cluster and group variables, and every panel
  queries Prometheus through them. Whether the queries return data is the e2e test's
  (tests/e2e/test_prometheus.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from kafkascope.alerts.pack import BUILTIN_RULES, RuleSpec
from kafkascope.model import Severity
from tests.prom import (
    CHECKOUT,
    DASHBOARDS,
    RULES,
    RULES_TEST,
    alerting_rules,
    dashboards,
    panels,
    seconds,
    substitute,
    tool,
    variables,
)


def _promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=RULES.parent,
    )


def test_promtool_check_rules_passes() -> None:
    res = _promtool("check", "rules", RULES.name)
    assert res.returncode == 0, res.stdout + res.stderr
    count = sum(len(g["rules"]) for g in yaml.safe_load(RULES.read_text())["groups"])
    assert f"SUCCESS: {count} rules found" in res.stdout, res.stdout


def test_promtool_test_rules_passes() -> None:
    res = _promtool("test", "rules", RULES_TEST.name)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout, res.stdout


def test_the_alertmanager_example_passes_amtool() -> None:
    """Its inhibit rule matches what the rules label: the escalating pair has the same
    alertname, cluster and broker, and differs in severity."""
    example = RULES.parent / "alertmanager-example.yml"
    res = subprocess.run(
        [tool("amtool", "prometheus-alertmanager"), "check-config", str(example)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0 and "SUCCESS" in res.stdout, res.stdout + res.stderr
    (inhibit,) = yaml.safe_load(example.read_text())["inhibit_rules"]
    for name in ("request_handler_idle", "produce_latency_p99"):
        pair = _by_name()[name]
        assert {r["labels"]["severity"] for r in pair} == {"warning", "critical"}
    assert inhibit["equal"] == ["alertname", "cluster", "broker"]


def test_the_scrape_config_in_contrib_readme_passes_promtool(tmp_path: Path) -> None:
    """The README's Prometheus config, its files put in a temporary directory."""
    text = (RULES.parents[1] / "README.md").read_text()
    (block,) = re.findall(r"```yaml\n(.*?)```", text, re.S)
    config = yaml.safe_load(block)
    config["rule_files"] = [str(RULES)]
    token = tmp_path / "token"
    token.write_text("read-token\n")
    (job,) = config["scrape_configs"]
    job["authorization"]["credentials_file"] = str(token)
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    res = _promtool("check", "config", str(path))
    assert res.returncode == 0, res.stdout + res.stderr


def _by_name() -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rule in alerting_rules():
        out[rule["alert"]].append(rule)
    return out


def test_one_alert_per_builtin_rule_with_its_severity_and_for() -> None:
    """Names are the rule names (Alertmanager routes and silences written for kafkascope's
    own alerts then match); an escalating rule is a warning and a critical alert."""
    by_name = _by_name()
    assert set(by_name) == {r.name for r in BUILTIN_RULES}
    for spec in BUILTIN_RULES:
        rules = by_name[spec.name]
        want = {spec.severity.value}
        if spec.critical_threshold is not None:
            want.add(Severity.CRITICAL.value)
        assert sorted(r["labels"]["severity"] for r in rules) == sorted(want), spec.name
        for r in rules:
            assert seconds(r["for"]) == spec.for_seconds, (spec.name, r["for"])
            assert r["annotations"]["summary"] and r["annotations"]["description"], spec.name


#: How each threshold appears in its expression: the comparison and the factor from the
#: pack's unit to the metric's. A rule missing here has no numeric threshold (a status or
#: verdict code is compared instead).
THRESHOLDS: dict[str, tuple[str, float]] = {
    "offline_partitions": (">", 1),
    "under_min_isr_partitions": (">", 1),
    "under_replicated_partitions": (">", 1),
    "active_controller_count": ("!=", 1),
    "request_handler_idle": ("<", 1),
    "produce_latency_p99": (">", 0.001),  # the pack says ms, the metric is in seconds
    "unclean_leader_election": (">", 1),
    "consumer_group_lag_seconds": (">", 1),
    "producer_errors": (">", 1),
}


def _number(value: float) -> str:
    return f"{value:g}"


def _threshold_of(spec: RuleSpec, severity: str) -> float:
    if severity == Severity.CRITICAL.value and spec.critical_threshold is not None:
        return spec.critical_threshold
    return spec.threshold


@pytest.mark.parametrize("spec", BUILTIN_RULES, ids=lambda s: s.name)
def test_thresholds_and_windows_are_the_packs(spec: RuleSpec) -> None:
    for rule in _by_name()[spec.name]:
        expr = " ".join(rule["expr"].split())
        if spec.name in THRESHOLDS:
            op, factor = THRESHOLDS[spec.name]
            limit = _number(_threshold_of(spec, rule["labels"]["severity"]) * factor)
            assert re.search(rf"{re.escape(op)} {re.escape(limit)}(?![\d.])", expr), (
                f"{spec.name}: expected '{op} {limit}' in {expr}"
            )
        if spec.window_seconds is not None:
            windows = re.findall(r"\[(\w+)\]", expr)
            assert windows and all(seconds(w) == spec.window_seconds for w in windows), expr


def test_every_alert_has_promtool_cases_on_both_sides() -> None:
    """Each alert name has a case where it fires, a case where it does not, and each of its
    severities fires in some case."""
    doc = yaml.safe_load(RULES_TEST.read_text())
    fires: dict[str, set[str]] = defaultdict(set)
    quiet: set[str] = set()
    for test in doc["tests"]:
        for case in test.get("alert_rule_test", ()):
            name = case["alertname"]
            if case.get("exp_alerts"):
                fires[name] |= {a["exp_labels"]["severity"] for a in case["exp_alerts"]}
            else:
                quiet.add(name)
    for name, rules in _by_name().items():
        assert fires[name] == {r["labels"]["severity"] for r in rules}, name
        assert name in quiet, f"{name} has no case where it stays quiet"


PER_GROUP = {"kafkascope-consumer-groups", "kafkascope-clients"}


@pytest.mark.parametrize("dash", dashboards(), ids=lambda d: d["uid"])
def test_dashboards_are_grafana_json_with_cluster_and_group(dash: dict[str, Any]) -> None:
    """The overview is one cluster's; the groups' and clients' also choose groups."""
    assert dash["uid"].startswith("kafkascope-") and dash["title"] and dash["schemaVersion"] >= 36
    names = variables(dash)
    wanted = {"datasource", "cluster"} | ({"group"} if dash["uid"] in PER_GROUP else set())
    assert set(names) == wanted, names
    assert names["datasource"]["type"] == "datasource"
    assert names["datasource"]["query"] == "prometheus"
    for var in wanted - {"datasource"}:
        assert names[var]["type"] == "query"
        assert re.fullmatch(r"label_values\(.+, \w+\)", names[var]["query"]["query"]), var
    if "group" in names:
        assert '$cluster"' in names["group"]["query"]["query"]  # the chosen cluster's groups
        assert names["group"]["multi"] and names["group"]["includeAll"]
    ids = [p["id"] for p in panels(dash)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    uses_group = False
    for p in panels(dash):
        if p["type"] == "row":
            continue
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        grid = p["gridPos"]
        assert {"h", "w", "x", "y"} <= set(grid) and grid["x"] + grid["w"] <= 24, p["title"]
        assert p["targets"], p["title"]
        for t in p["targets"]:
            assert t["refId"] and t["expr"], p["title"]
            assert 'cluster="$cluster"' in t["expr"], (p["title"], t["expr"])
            uses_group |= 'group=~"$group"' in t["expr"]
            substitute(t["expr"], {"cluster": "c", "group": "g"})  # no unknown variable
    assert uses_group == (dash["uid"] in PER_GROUP), "the group variable filters nothing"


#: The panel types the schema check knows (tests/grafana_schema/main.go registers their
#: options' schemas; a panel of another type would pass it unchecked).
PANEL_TYPES = {"bargauge", "stat", "state-timeline", "table", "timeseries"}


def test_dashboards_pass_grafanas_schema() -> None:
    """Grafana's Foundation SDK decodes every dashboard strictly: an unknown or missing
    field, a wrong type, or panel options that are not their panel type's fail."""
    assert {p["type"] for d in dashboards() for p in panels(d)} <= PANEL_TYPES
    go = shutil.which("go")
    if go is None:
        pytest.fail("go is missing: Go 1.21+ comes with this machine kind (/usr/local/go/bin)")
    res = subprocess.run(
        [go, "run", ".", *map(str, DASHBOARDS)],
        cwd=CHECKOUT / "tests" / "grafana_schema",
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stdout.count(": ok, ") == len(DASHBOARDS), res.stdout

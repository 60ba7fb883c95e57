"""The rules ``/metrics`` follows, as checks over parsed families (prometheus_client's
text parser): Prometheus's naming conventions (prometheus.io/docs/practices/naming) and
issue 14's. Used by ``tests/e2e/test_metrics_rules.py`` on a real serve and by
``tests/unit/test_metrics_rules.py`` on expositions that break each rule once, so a
rule that cannot fail is caught too. Nothing here names a metric: the rules apply to any
family.
"""

from __future__ import annotations

import math
import re

from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

Family = tuple[str, str, str, list[Sample]]  # name, type, help, samples

#: Units that are not base units, and JMX stat names, as name parts: never in a name.
FOREIGN = re.compile(
    r"_(ms|ns|us|millis|milliseconds|nanoseconds|microseconds|percent|pct|p\d+|rate\d+m|"
    r"mean_rate|one_minute_rate)(_|$)"
)
#: Base units: the last word of a name, followed at most by _total or _per_second.
BASE_UNIT = re.compile(r"_(seconds|bytes|ratio)(_|$)")
#: Labels that name a status or a verdict: only on a series set whose identity never moves.
STATUS_LABELS = {"status", "state", "liveness", "verdict", "health"}
#: Labels Prometheus sets on every scraped series: one exported under the same name is
#: renamed exported_<name> on scrape, and queries by it silently miss.
TARGET_LABELS = {"job", "instance"}
#: Families of a broker or controller node.
BROKER_PREFIXES = ("kafka_broker_", "kafka_controller_", "kafka_raft_", "kafkascope_broker_")


def parse(text: str) -> list[Family]:
    """An exposition's families, as prometheus_client parses them."""
    return [
        (f.name, f.type, f.documentation, f.samples) for f in text_string_to_metric_families(text)
    ]


def unit_problem(name: str, kind: str) -> str | None:
    """What breaks the naming rules in one sample name of a family of ``kind``."""
    if FOREIGN.search(name):
        return "a non-base unit or a JMX stat in the name (use seconds, bytes, ratio; labels)"
    if kind == "counter" and not name.endswith("_total"):
        return "a counter's samples end in _total"
    if kind != "counter" and name.endswith("_total"):
        return "only counters end in _total"
    if kind != "counter" and name.endswith("_count"):
        return "a count is a counter (_total), never a gauge"
    m = BASE_UNIT.search(name)
    if m and name[m.end(1) :] not in ("", "_total", "_per_second"):
        return f"the unit ({m.group(1)}) is the last word (before _total or _per_second)"
    return None


def rule_problems(fams: list[Family], node_of: dict[str, str]) -> list[str]:
    """Every broken rule, one line each. ``node_of``: broker JMX target → node id."""
    problems: list[str] = []
    for name, kind, help_text, samples in fams:
        # HELP says what it is: present, not the name, not the name with words around it.
        if not help_text.strip() or name in help_text.split():
            problems.append(f"{name}: HELP {help_text!r} is empty or repeats the name")
        if kind not in ("counter", "gauge"):
            problems.append(f"{name}: type {kind} (kafkascope exposes counters and gauges)")
        for s in samples:
            problem = unit_problem(s.name, kind)
            if problem:
                problems.append(f"{s.name}: {problem}")
                break
        for s in samples:
            q = s.labels.get("quantile")
            if q is not None and not (kind == "gauge" and 0.0 < float(q) <= 1.0):
                problems.append(f"{s.name}: quantile {q!r} on a {kind}")
                break
        # No label whose value moves with a status: a label naming one is allowed only
        # where every identity carries every value (a status change moves values, never
        # which series exist), with at least two values.
        for label in STATUS_LABELS & {k for s in samples for k in s.labels}:
            every = {s.labels.get(label, "") for s in samples}
            by_identity: dict[tuple[tuple[str, str], ...], set[str]] = {}
            for s in samples:
                rest = tuple(sorted((k, v) for k, v in s.labels.items() if k != label))
                by_identity.setdefault(rest, set()).add(s.labels.get(label, ""))
            moved = [i for i, vals in by_identity.items() if vals != every]
            if len(every) < 2 or moved:
                problems.append(
                    f"{name}: label '{label}' changes with the status "
                    f"({len(moved)} of {len(by_identity)} series lack some of {sorted(every)})"
                )
        # Broker metrics: cluster and the node id, whatever the family.
        for s in samples:
            target = s.labels.get("target", "")
            broker_family = name.startswith(BROKER_PREFIXES)
            if target in node_of or broker_family:
                want = node_of.get(target)
                if not s.labels.get("cluster") or not s.labels.get("broker"):
                    problems.append(f"{s.name}{s.labels}: a broker's series needs cluster, broker")
                    break
                if want is not None and s.labels["broker"] != want:
                    problems.append(f"{s.name}{s.labels}: broker should be {want}")
                    break
        clash = TARGET_LABELS & {k for s in samples for k in s.labels}
        if clash:
            problems.append(f"{name}: label {sorted(clash)} is Prometheus's own target label")
        if name == "kafkascope_alerts" and not all(s.labels.get("cluster") for s in samples):
            problems.append("kafkascope_alerts: every series has cluster")
        for s in samples:
            if not math.isfinite(s.value):
                problems.append(f"{s.name}{s.labels}: {s.value}")
                break
    return problems

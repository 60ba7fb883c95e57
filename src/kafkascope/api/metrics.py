"""``GET /metrics``: Prometheus text exposition of the latest snapshot.

A scrape never triggers a collection: it renders what the monitors last swapped in. What
is rendered comes from ``monitor.series``, the one table that history is written from too:
catalog metrics keep their catalog names with the labels ``catalog_samples`` gives them (in
base units), with the catalog's description as HELP; kafkascope's own series are declared
there. Statuses and verdicts are numeric gauges, never labels (docs/metrics.md has the
codes), so a status change never starts a new series. The naming rules are Prometheus's and
``tests/e2e/test_metrics_rules.py`` checks every family against them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Mapping

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kafkascope.model import MetricKind, Sample
from kafkascope.monitor.live import LiveState
from kafkascope.monitor.series import (
    BY_NAME,
    OWN_SERIES,
    SERIES,
    AlertCountKey,
    OwnFigures,
    alert_points,
    catalog_samples,
    own_points,
    verdict_points,
)
from kafkascope.sources.jmx.catalog import default_catalog
from kafkascope.store.history import Point

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: How many alerts per (cluster, rule, severity, state); from the alert runner.
AlertCounts = Mapping[AlertCountKey, int]

_FIRST = ("cluster", "target")


@functools.cache
def _catalog_help() -> dict[str, str]:
    """Catalog metric name → its description (the HELP line)."""
    return {m.name: m.help for s in default_catalog().sets for _, m in s.metrics()}


def _catalog_families(samples: Iterable[Sample]) -> Iterator[Metric]:
    """Group samples by name; label names are the union in the family (missing → "")."""
    by_name: dict[str, list[Sample]] = {}
    for s in samples:
        by_name.setdefault(s.name, []).append(s)
    helps = _catalog_help()
    for name in sorted(by_name):
        rows = by_name[name]
        keys = sorted({k for s in rows for k, _ in s.labels} - set(_FIRST))
        label_names = [*_FIRST, *keys]
        text = helps.get(name) or f"read over JMX, in {rows[0].unit}"
        fam: GaugeMetricFamily | CounterMetricFamily
        if rows[0].kind == MetricKind.COUNTER and name.endswith("_total"):
            fam = CounterMetricFamily(name[: -len("_total")], text, labels=label_names)
        else:
            fam = GaugeMetricFamily(name, text, labels=label_names)
        seen: set[tuple[str, ...]] = set()
        for s in rows:
            labels = dict(s.labels)
            values = tuple(labels.get(k, "") for k in label_names)
            if values in seen:
                continue
            seen.add(values)
            fam.add_metric(list(values), s.value)
        yield fam


def _series_families(points: Iterable[Point]) -> Iterator[Metric]:
    """kafkascope's own series, one family per declared series, every cluster in it."""
    by_name: dict[str, list[Point]] = {s.name: [] for s in (*SERIES, *OWN_SERIES)}
    for p in points:
        by_name[p.name].append(p)
    for name, rows in by_name.items():
        if not rows:
            continue
        spec = BY_NAME[name]
        fam: GaugeMetricFamily | CounterMetricFamily
        if spec.kind == "counter":
            fam = CounterMetricFamily(name[: -len("_total")], spec.help, labels=list(spec.labels))
        else:
            fam = GaugeMetricFamily(name, spec.help, labels=list(spec.labels))
        for p in rows:
            labels = dict(p.labels)
            fam.add_metric([labels.get(k, "") for k in spec.labels], p.value)
        yield fam


class _LiveCollector(Collector):
    def __init__(
        self,
        live: LiveState,
        alerts: Callable[[], AlertCounts] | None,
        own: Callable[[], OwnFigures] | None,
    ) -> None:
        self.live = live
        self.alerts = alerts
        self.own = own

    def collect(self) -> Iterator[Metric]:
        clusters = list(self.live.clusters.values())
        yield from _catalog_families(s for cl in clusters for s in catalog_samples(cl))
        points = [p for cl in clusters for p in verdict_points(cl)]
        if self.alerts is not None:
            points += alert_points(self.alerts(), 0.0)
        if self.own is not None:
            points += own_points(self.own(), 0.0)
        yield from _series_families(points)


def render(
    live: LiveState,
    alerts: Callable[[], AlertCounts] | None = None,
    own: Callable[[], OwnFigures] | None = None,
) -> bytes:
    """The exposition text of the current snapshot (a fresh registry: no global state),
    with ``own`` (the service's jobs, outbox, store and JMX reads) and prometheus_client's
    process collector (``process_cpu_seconds_total``, memory, file descriptors, start)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LiveCollector(live, alerts, own))
    ProcessCollector(registry=registry)
    return generate_latest(registry)

"""``GET /metrics``: Prometheus text exposition of the latest snapshot.

A scrape never triggers a collection: it renders what the monitors last swapped in. Every
catalog metric keeps its catalog name and labels plus ``cluster`` and ``target``; verdicts
are numeric gauges that also carry the verdict as a label, so both ``== 3`` alerts and
``{status="ERR"}`` selections work.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from kafkascope.model import LIVENESS_CODE, MetricKind, Sample
from kafkascope.monitor.live import ClusterLive, LiveState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _families(samples: Iterable[tuple[str, Sample]]) -> Iterator[Metric]:
    """Group samples by name; label names are the union in the family (missing → "")."""
    by_name: dict[str, list[tuple[str, Sample]]] = {}
    for cluster, s in samples:
        by_name.setdefault(s.name, []).append((cluster, s))
    for name in sorted(by_name):
        rows = by_name[name]
        keys = sorted({k for _, s in rows for k, _ in s.labels} - {"cluster", "target"})
        label_names = ["cluster", "target", *keys]
        kind = rows[0][1].kind
        fam: GaugeMetricFamily | CounterMetricFamily
        if kind == MetricKind.COUNTER and name.endswith("_total"):
            fam = CounterMetricFamily(
                name[: -len("_total")], f"{name} (kafkascope catalog)", labels=label_names
            )
        else:
            fam = GaugeMetricFamily(name, f"{name} (kafkascope catalog)", labels=label_names)
        seen: set[tuple[str, ...]] = set()
        for cluster, s in rows:
            labels = dict(s.labels)
            values = (cluster, s.target, *(labels.get(k, "") for k in keys))
            if values in seen:
                continue
            seen.add(values)
            fam.add_metric(list(values), s.value)
        yield fam


def _gauge(name: str, doc: str, labels: list[str]) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=labels)


def _verdicts(live: ClusterLive) -> Iterator[Metric]:
    c = live.name
    if live.brokers is not None:
        up = _gauge(
            "kafkascope_broker_up",
            "1 when the broker is in the cluster metadata",
            ["cluster", "broker"],
        )
        jmx = _gauge(
            "kafkascope_broker_jmx_reachable",
            "1 when the broker's JMX answered",
            ["cluster", "broker", "target"],
        )
        for b in live.brokers.brokers:
            up.add_metric([c, str(b.id)], 1.0 if b.up else 0.0)
            if b.jmx.target:
                jmx.add_metric([c, str(b.id), b.jmx.target], 1.0 if b.jmx.reachable else 0.0)
        yield up
        yield jmx
        urp = _gauge(
            "kafkascope_topic_under_replicated_partitions",
            "partitions whose ISR is smaller than their replica set (metadata)",
            ["cluster", "topic"],
        )
        off = _gauge(
            "kafkascope_topic_offline_partitions",
            "partitions without a leader",
            ["cluster", "topic"],
        )
        rate = _gauge(
            "kafkascope_topic_produce_rate",
            "records/s from end-offset growth",
            ["cluster", "topic"],
        )
        for t in live.brokers.topics:
            urp.add_metric([c, t.name], float(t.under_replicated))
            off.add_metric([c, t.name], float(t.offline))
            if t.produce_rate is not None:
                rate.add_metric([c, t.name], t.produce_rate)
        yield from (urp, off, rate)
    if live.lag is not None:
        st = _gauge(
            "kafkascope_group_status",
            "Burrow group status (0 NOTFOUND 1 OK 2 WARN 3 ERR 4 STOP 5 STALL 6 REWIND)",
            ["cluster", "group", "status"],
        )
        tl = _gauge(
            "kafkascope_group_total_lag",
            "sum of current partition lag (records)",
            ["cluster", "group"],
        )
        ls = _gauge(
            "kafkascope_group_lag_seconds", "worst partition's lag in seconds", ["cluster", "group"]
        )
        pl = _gauge(
            "kafkascope_partition_lag",
            "current lag (records)",
            ["cluster", "group", "topic", "partition", "status"],
        )
        pls = _gauge(
            "kafkascope_partition_lag_seconds",
            "lag in seconds",
            ["cluster", "group", "topic", "partition"],
        )
        for g in live.lag.groups.values():
            v = g.verdict
            st.add_metric([c, g.group, v.status.name], float(int(v.status)))
            tl.add_metric([c, g.group], float(v.total_lag))
            if g.lag_seconds is not None:
                ls.add_metric([c, g.group], g.lag_seconds)
            for p in v.partitions:
                key = [c, g.group, p.topic, str(p.partition)]
                pl.add_metric([*key, p.status.name], float(p.current_lag))
                if p.lag_seconds is not None:
                    pls.add_metric(key, p.lag_seconds)
        yield from (st, tl, ls, pl, pls)
    if live.clients is not None:
        lv = _gauge(
            "kafkascope_client_liveness",
            "client verdict (0 ALIVE 1 IDLE 2 UNKNOWN 3 HUNG 4 UNRESPONSIVE 5 DEAD)",
            ["cluster", "client_id", "kind", "group", "target", "liveness"],
        )
        seen: set[tuple[str, ...]] = set()
        for r in live.clients.clients:
            labels = (
                c,
                r.client_id,
                r.kind,
                r.group or "",
                r.target or r.host or "",
                r.liveness.value,
            )
            if labels in seen:
                continue
            seen.add(labels)
            lv.add_metric(list(labels), float(LIVENESS_CODE[r.liveness]))
        yield lv
        silent = _gauge(
            "kafkascope_topic_producers_silent",
            "1 when a topic's steady production stopped",
            ["cluster", "topic"],
        )
        for topic in live.clients.silent_topics:
            silent.add_metric([c, topic], 1.0)
        yield silent


class _LiveCollector(Collector):
    def __init__(self, live: LiveState, extra: Callable[[], Iterable[Metric]] | None) -> None:
        self.live = live
        self.extra = extra

    def collect(self) -> Iterator[Metric]:
        clusters = list(self.live.clusters.values())
        samples = [
            (cl.name, s) for cl in clusters if cl.brokers is not None for s in cl.brokers.samples
        ]
        samples += [
            (cl.name, s) for cl in clusters if cl.clients is not None for s in cl.clients.samples
        ]
        yield from _families(samples)
        for cl in clusters:
            yield from _verdicts(cl)
        if self.extra is not None:
            yield from self.extra()


def render(live: LiveState, extra: Callable[[], Iterable[Metric]] | None = None) -> bytes:
    """The exposition text of the current snapshot (a fresh registry: no global state)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_LiveCollector(live, extra))
    return generate_latest(registry)


def alert_families(counts: dict[tuple[str, str, str], int]) -> list[Any]:
    """``kafkascope_alerts{rule,severity,state}``: how many alerts are in each state."""
    fam = _gauge(
        "kafkascope_alerts", "alerts by rule, severity and state", ["rule", "severity", "state"]
    )
    for (rule, sev, state), n in sorted(counts.items()):
        fam.add_metric([rule, sev, state], float(n))
    return [fam]

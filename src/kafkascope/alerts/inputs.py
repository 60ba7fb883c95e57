"""The live snapshot → the rule pack's views. Pure: a LiveState in, views out.

Counter rules (unclean elections, producer errors) need readings over time; the caller
keeps them in a :class:`CounterLog` and passes it in.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafkascope.alerts.rules import (
    BrokerMetric,
    BrokerView,
    ClientCounter,
    ClientView,
    ClusterView,
    ControllerCounter,
    ControllerMetric,
    ControllerView,
    CounterPoint,
    GroupView,
    TopicView,
)
from kafkascope.model import Sample
from kafkascope.monitor.live import ClusterLive

BROKER_KEYS = (
    BrokerMetric.UNDER_REPLICATED,
    BrokerMetric.UNDER_MIN_ISR,
    BrokerMetric.REQUEST_HANDLER_IDLE,
    BrokerMetric.UPTIME_MS,
)
CONTROLLER_KEYS = (ControllerMetric.ACTIVE_CONTROLLER_COUNT, ControllerMetric.OFFLINE_PARTITIONS)


@dataclass
class CounterLog:
    """Recent readings of counters, per (cluster, subject, metric), bounded in age."""

    keep_seconds: float = 3600.0
    points: dict[tuple[str, str, str], deque[CounterPoint]] = field(default_factory=dict)

    def add(self, key: tuple[str, str, str], ts: float, value: float) -> None:
        q = self.points.setdefault(key, deque())
        if q and q[-1][0] >= ts:
            return
        q.append((ts, value))
        while q and q[0][0] < ts - self.keep_seconds:
            q.popleft()

    def get(self, key: tuple[str, str, str]) -> tuple[CounterPoint, ...]:
        return tuple(self.points.get(key, ()))


def _broker_metrics(samples: Iterable[Sample]) -> dict[str, float]:
    out: dict[str, float] = {}
    for s in samples:
        if s.label("topic"):
            continue
        produce_p99 = s.name == BrokerMetric.PRODUCE_P99_MS and s.label("request") == "Produce"
        if s.name in BROKER_KEYS or s.name in CONTROLLER_KEYS or produce_p99:
            out[s.name] = s.value
    return out


def build_views(
    live: ClusterLive, counters: CounterLog, lag_threshold: float | None
) -> tuple[list[ClusterView], list[BrokerView], list[GroupView], list[ClientView], list[TopicView]]:
    """Every view the rule pack needs for one cluster, from its latest reports."""
    c = live.name
    clusters: list[ClusterView] = []
    brokers: list[BrokerView] = []
    b = live.brokers
    if b is not None:
        controllers: list[ControllerView] = []
        for row in b.brokers:
            metrics = _broker_metrics(row.samples)
            brokers.append(
                BrokerView(
                    c,
                    row.id,
                    row.up,
                    row.jmx.reachable,
                    row.jmx.error,
                    row.jmx.target,
                    {
                        k: v
                        for k, v in metrics.items()
                        if k in BROKER_KEYS or k == BrokerMetric.PRODUCE_P99_MS
                    },
                )
            )
            is_controller = any(
                s.name == ControllerMetric.ACTIVE_CONTROLLER_COUNT for s in row.samples
            )
            if is_controller or (row.jmx.reachable is False and row.jmx.target):
                for s in row.samples:
                    if s.name == ControllerCounter.UNCLEAN_ELECTIONS:
                        counters.add((c, str(row.id), s.name), s.timestamp, s.value)
                key = (c, str(row.id), ControllerCounter.UNCLEAN_ELECTIONS)
                controllers.append(
                    ControllerView(
                        row.id,
                        bool(row.jmx.reachable),
                        row.jmx.error,
                        row.jmx.target,
                        {k: v for k, v in metrics.items() if k in CONTROLLER_KEYS},
                        {ControllerCounter.UNCLEAN_ELECTIONS: counters.get(key)},
                    )
                )
        leaderless = sum(t.offline for t in b.topics) if b.metadata_error is None else None
        clusters.append(ClusterView(c, tuple(controllers), leaderless))
    groups: list[GroupView] = []
    if live.lag is not None:
        for g in live.lag.groups.values():
            if g.expired:
                continue
            v = g.verdict
            worst = f"{v.max_lag.topic}-{v.max_lag.partition}" if v.max_lag else None
            reason = (
                f"worst partition {worst}: {v.max_lag.status.name}, lag {v.max_lag.current_lag}"
                if v.max_lag
                else ""
            )
            groups.append(
                GroupView(
                    c, g.group, v.status, g.lag_seconds, v.total_lag, worst, reason, lag_threshold
                )
            )
    clients: list[ClientView] = []
    topics: list[TopicView] = []
    if live.clients is not None:
        for s in live.clients.samples:
            cid = s.label("client_id")
            if s.name == ClientCounter.RECORD_ERRORS and cid is not None:
                counters.add((c, f"{s.target}/{cid}", s.name), s.timestamp, s.value)
        for r in live.clients.clients:
            role = r.kind if r.kind in ("consumer", "producer") else "consumer"
            key = (c, f"{r.target}/{r.client_id}", ClientCounter.RECORD_ERRORS)
            clients.append(
                ClientView(
                    c,
                    r.client_id,
                    r.liveness,
                    r.reason,
                    r.group,
                    r.target,
                    role,
                    {ClientCounter.RECORD_ERRORS: counters.get(key)},
                )
            )
        for topic, reason in live.clients.silent_topics.items():
            topics.append(TopicView(c, topic, True, reason))
    return clusters, brokers, groups, clients, topics

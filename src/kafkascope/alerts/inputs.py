"""The live snapshot → what the rules read: the built-in checks' subjects, the samples
user rules select from, and when each monitor last reported. Pure: a ClusterLive in.

Counter rules (unclean elections, producer errors) need readings over time; the caller
keeps them in a :class:`CounterLog` and passes it in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from kafkascope.alerts.subjects import (
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
from kafkascope.monitor.brokers import headline_metrics
from kafkascope.monitor.live import ClusterLive
from kafkascope.monitor.series import catalog_samples

__all__ = [
    "BROKER_KEYS",
    "CONTROLLER_KEYS",
    "CounterLog",
    "build_views",
    "report_times",
    "rule_samples",
]

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
            metrics = headline_metrics(row.samples)
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
            # The partition behind the verdict when there is one, else the most lagging.
            p = v.worst or v.max_lag
            worst = f"{p.topic}-{p.partition}" if p else None
            groups.append(
                GroupView(
                    c, g.group, g.status, g.lag_seconds, v.total_lag, worst, g.reason, lag_threshold
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


def report_times(cl: ClusterLive) -> dict[str, float | None]:
    """When each monitor's latest report on ``cl`` was taken (None: none yet), by the
    source names of ``RULE_SOURCE``."""
    reports = {"brokers": cl.brokers, "lag": cl.lag, "clients": cl.clients}
    return {k: r.taken_at if r is not None else None for k, r in reports.items()}


def rule_samples(cl: ClusterLive) -> list[Sample]:
    """Every catalog sample of one cluster for user rules, labelled as in history and on
    ``/metrics`` (``monitor.series.catalog_samples``): a rule fires once per broker or
    client, not once for all of them, and can select a group's consumers."""
    return list(catalog_samples(cl))

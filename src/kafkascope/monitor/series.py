"""The one table of kafkascope's own series: every ``kafkascope_*`` series is declared here
once (name, help, unit, labels), and every report becomes named series here once.

History (``store.history``), ``/metrics`` (``api.metrics``) and user alert rules all read
what this module produces, so a series cannot be charted under one name and scraped under
another, or carry one label set in history and another on ``/metrics``. Catalog metrics
(what JMX gave) keep their catalog names; :func:`catalog_samples` is the one place that
adds the labels that say where a sample came from (``cluster``, ``target``, and ``broker``
or ``group`` where known) and converts them to base units (seconds, not JMX's ms).

No label here changes with a subject's status: a status is the value (codes in the help,
and in docs/metrics.md), so a status change never starts a new series (graphs and
Prometheus ``for:`` keep working).

To add a series: declare a :class:`SeriesSpec` in ``SERIES`` and emit it from the function
that reads its report. Both surfaces pick it up.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from kafkascope.model import LIVENESS_CODE, Labels, Sample, Status
from kafkascope.monitor.brokers import BrokerReport
from kafkascope.monitor.clients import ClientReport
from kafkascope.monitor.lag import LagReport
from kafkascope.monitor.live import ClusterLive
from kafkascope.sources.jmx.catalog import base_value
from kafkascope.store.history import Point


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One of kafkascope's own series. ``labels`` is the full label set, in the order
    ``/metrics`` prints it; a label with no value in a point is absent (Prometheus reads
    an empty label as an absent one)."""

    name: str
    help: str
    unit: str
    labels: tuple[str, ...]
    kind: str = "gauge"  # or "counter" (its name ends in _total)


def _codes(enum_items: Iterable[tuple[str, int]]) -> str:
    return " ".join(f"{code} {name}" for name, code in sorted(enum_items, key=lambda x: x[1]))


_STATUS_CODES = _codes((s.name, int(s)) for s in Status)
_LIVENESS_CODES = _codes((lv.value, code) for lv, code in LIVENESS_CODE.items())

BROKER_UP = SeriesSpec(
    "kafkascope_broker_up",
    "1 when the broker is in the cluster metadata, 0 when it left it",
    "",
    ("cluster", "broker"),
)
BROKER_JMX_REACHABLE = SeriesSpec(
    "kafkascope_broker_jmx_reachable",
    "1 when the broker's JMX answered the last read, 0 when it did not",
    "",
    ("cluster", "broker", "target"),
)
TOPIC_URP = SeriesSpec(
    "kafkascope_topic_under_replicated_partitions",
    "partitions whose ISR is smaller than their replica set (metadata)",
    "partitions",
    ("cluster", "topic"),
)
TOPIC_OFFLINE = SeriesSpec(
    "kafkascope_topic_offline_partitions",
    "partitions of the topic without a leader (metadata)",
    "partitions",
    ("cluster", "topic"),
)
TOPIC_PRODUCE_RATE = SeriesSpec(
    "kafkascope_topic_produced_records_per_second",
    "records produced per second to the topic, from its end offsets' growth",
    "records/s",
    ("cluster", "topic"),
)
GROUP_STATUS = SeriesSpec(
    "kafkascope_group_status",
    f"consumer group status: Burrow's, at least WARN with a member DEAD, UNRESPONSIVE or "
    f"HUNG ({_STATUS_CODES})",
    "",
    ("cluster", "group"),
)
GROUP_TOTAL_LAG = SeriesSpec(
    "kafkascope_group_total_lag",
    "records the group has yet to consume: its partitions' current lag, summed",
    "records",
    ("cluster", "group"),
)
GROUP_LAG_SECONDS = SeriesSpec(
    "kafkascope_group_lag_seconds",
    "how far behind the group is in time: its worst partition's lag",
    "seconds",
    ("cluster", "group"),
)
PARTITION_LAG = SeriesSpec(
    "kafkascope_partition_lag",
    "records between the group's committed offset and the partition's end",
    "records",
    ("cluster", "group", "topic", "partition"),
)
PARTITION_LAG_SECONDS = SeriesSpec(
    "kafkascope_partition_lag_seconds",
    "how long ago the partition's oldest unconsumed record was produced",
    "seconds",
    ("cluster", "group", "topic", "partition"),
)
PARTITION_STATUS = SeriesSpec(
    "kafkascope_partition_status",
    f"the group's status on the partition, Burrow's ({_STATUS_CODES})",
    "",
    ("cluster", "group", "topic", "partition"),
)
CLIENT_LIVENESS = SeriesSpec(
    "kafkascope_client_liveness",
    f"client verdict ({_LIVENESS_CODES})",
    "",
    ("cluster", "client_id", "kind", "group", "target"),
)
TOPIC_PRODUCERS_SILENT = SeriesSpec(
    "kafkascope_topic_producers_silent",
    "1 when the topic's steady production stopped",
    "",
    ("cluster", "topic"),
)
ALERTS = SeriesSpec(
    "kafkascope_alerts",
    "alerts by rule, severity and state (pending, firing, resolved; 0 when none)",
    "alerts",
    ("cluster", "rule", "severity", "state"),
)

SERIES: tuple[SeriesSpec, ...] = (
    BROKER_UP,
    BROKER_JMX_REACHABLE,
    TOPIC_URP,
    TOPIC_OFFLINE,
    TOPIC_PRODUCE_RATE,
    GROUP_STATUS,
    GROUP_TOTAL_LAG,
    GROUP_LAG_SECONDS,
    PARTITION_LAG,
    PARTITION_LAG_SECONDS,
    PARTITION_STATUS,
    CLIENT_LIVENESS,
    TOPIC_PRODUCERS_SILENT,
    ALERTS,
)

# -- the service's own figures (only on /metrics: they say how kafkascope itself is doing,
# and history is written by the jobs they measure) --------------------------------------

JOB_RUNS = SeriesSpec(
    "kafkascope_job_runs_total", "runs of the job since the service started", "runs", ("job_name",),
    "counter",
)  # fmt: skip
JOB_FAILURES = SeriesSpec(
    "kafkascope_job_failures_total", "runs of the job that raised an error", "runs", ("job_name",),
    "counter",
)  # fmt: skip
JOB_DURATION = SeriesSpec(
    "kafkascope_job_last_duration_seconds", "how long the job's last run took", "seconds",
    ("job_name",),
)  # fmt: skip
JOB_LAST_SUCCESS = SeriesSpec(
    "kafkascope_job_last_success_timestamp_seconds",
    "when the job last ran without error (Unix time)",
    "seconds",
    ("job_name",),
)
OUTBOX_PENDING = SeriesSpec(
    "kafkascope_outbox_pending_notifications",
    "notifications waiting in the outbox for the receiver (not yet delivered nor given up)",
    "notifications",
    ("receiver",),
)
OUTBOX_OLDEST_AGE = SeriesSpec(
    "kafkascope_outbox_oldest_age_seconds",
    "age of the oldest notification waiting for the receiver (0 when none waits)",
    "seconds",
    ("receiver",),
)
STORE_SIZE = SeriesSpec(
    "kafkascope_store_size_bytes",
    "size of the SQLite store on disk (database and write-ahead log)",
    "bytes",
    (),
)
JMX_READ_DURATION = SeriesSpec(
    "kafkascope_jmx_read_duration_seconds",
    "how long the last JMX read of the target took, failed or not",
    "seconds",
    ("cluster", "target", "kind", "broker"),
)
JMX_READ_ERRORS = SeriesSpec(
    "kafkascope_jmx_read_errors_total",
    "JMX reads of the target that failed (unreachable, timed out, refused, ...)",
    "reads",
    ("cluster", "target", "kind", "broker"),
    "counter",
)

TELEMETRY_PUSHES = SeriesSpec(
    "kafkascope_telemetry_pushes_total",
    "KIP-714 pushes the brokers' plugin posted for the cluster and the receiver took",
    "pushes",
    ("cluster",),
    "counter",
)
TELEMETRY_BY_LAYOUT = SeriesSpec(
    "kafkascope_telemetry_pushes_by_layout_total",
    "pushes read at the offsets learnt from the client's previous push, not decoded",
    "pushes",
    ("cluster",),
    "counter",
)
TELEMETRY_UNMAPPED = SeriesSpec(
    "kafkascope_telemetry_unmapped_metrics_total",
    "pushed metrics the catalog does not read (a subscription asking for more than needed)",
    "metrics",
    ("cluster",),
    "counter",
)
TELEMETRY_CLIENTS = SeriesSpec(
    "kafkascope_telemetry_clients",
    "clients whose pushes the receiver keeps (those silent for an hour leave)",
    "clients",
    ("cluster",),
)

#: Series the service reports about itself; rendered on /metrics only.
OWN_SERIES: tuple[SeriesSpec, ...] = (
    JOB_RUNS,
    JOB_FAILURES,
    JOB_DURATION,
    JOB_LAST_SUCCESS,
    OUTBOX_PENDING,
    OUTBOX_OLDEST_AGE,
    STORE_SIZE,
    JMX_READ_DURATION,
    JMX_READ_ERRORS,
    TELEMETRY_PUSHES,
    TELEMETRY_BY_LAYOUT,
    TELEMETRY_UNMAPPED,
    TELEMETRY_CLIENTS,
)
BY_NAME: Mapping[str, SeriesSpec] = {s.name: s for s in (*SERIES, *OWN_SERIES)}


@dataclass(frozen=True, slots=True)
class JobFigures:
    """One scheduler job's counts (``scheduler.JobStats``)."""

    job: str
    runs: int
    failures: int
    last_duration: float | None
    last_success: float | None


@dataclass(frozen=True, slots=True)
class OutboxFigures:
    """What waits in the outbox for one receiver."""

    receiver: str
    pending: int
    oldest_age: float  # seconds; 0 when nothing waits


@dataclass(frozen=True, slots=True)
class JmxFigures:
    """One JMX target's last read time and failed reads (``collector.TargetFreshness``)."""

    cluster: str
    target: str
    kind: str  # "broker" (a broker or controller node) or "client" (a client JVM)
    last_duration: float | None
    errors: int
    broker: str = ""  # the node id of a broker target, when known


@dataclass(frozen=True, slots=True)
class TelemetryFigures:
    """One cluster's telemetry receiver (``TelemetryInbox.figures``)."""

    cluster: str
    pushes: int
    by_layout: int
    unmapped: int
    clients: int


@dataclass(frozen=True, slots=True)
class OwnFigures:
    """How the service itself is doing, read when ``/metrics`` is scraped."""

    jobs: tuple[JobFigures, ...] = ()
    outbox: tuple[OutboxFigures, ...] = ()
    store_bytes: int | None = None
    jmx: tuple[JmxFigures, ...] = ()
    telemetry: tuple[TelemetryFigures, ...] = ()


def own_points(f: OwnFigures, ts: float) -> list[Point]:
    """The service's own figures as points of :data:`OWN_SERIES`."""
    out: list[Point] = []
    for j in f.jobs:
        out.append(_point(JOB_RUNS, ts, float(j.runs), job_name=j.job))
        out.append(_point(JOB_FAILURES, ts, float(j.failures), job_name=j.job))
        if j.last_duration is not None:
            out.append(_point(JOB_DURATION, ts, j.last_duration, job_name=j.job))
        if j.last_success is not None:
            out.append(_point(JOB_LAST_SUCCESS, ts, j.last_success, job_name=j.job))
    for o in f.outbox:
        out.append(_point(OUTBOX_PENDING, ts, float(o.pending), receiver=o.receiver))
        out.append(_point(OUTBOX_OLDEST_AGE, ts, o.oldest_age, receiver=o.receiver))
    if f.store_bytes is not None:
        out.append(_point(STORE_SIZE, ts, float(f.store_bytes)))
    for t in f.jmx:
        key = {"cluster": t.cluster, "target": t.target, "kind": t.kind, "broker": t.broker}
        if t.last_duration is not None:
            out.append(_point(JMX_READ_DURATION, ts, t.last_duration, **key))
        out.append(_point(JMX_READ_ERRORS, ts, float(t.errors), **key))
    for r in f.telemetry:
        out.append(_point(TELEMETRY_PUSHES, ts, float(r.pushes), cluster=r.cluster))
        out.append(_point(TELEMETRY_BY_LAYOUT, ts, float(r.by_layout), cluster=r.cluster))
        out.append(_point(TELEMETRY_UNMAPPED, ts, float(r.unmapped), cluster=r.cluster))
        out.append(_point(TELEMETRY_CLIENTS, ts, float(r.clients), cluster=r.cluster))
    return out


def _point(spec: SeriesSpec, ts: float, value: float, **labels: str) -> Point:
    """A point of ``spec``; empty label values are left out (absent, as Prometheus reads
    them), so the same subject has one identity in history and on ``/metrics``."""
    unknown = set(labels) - set(spec.labels)
    if unknown:  # a programming error: the table is the contract
        raise ValueError(f"{spec.name}: labels {sorted(unknown)} are not declared")
    return Point(spec.name, tuple(sorted((k, v) for k, v in labels.items() if v)), ts, value)


def broker_points(cluster: str, r: BrokerReport) -> list[Point]:
    """Brokers up and reachable, topics' replication and produce rate."""
    t = r.taken_at
    out: list[Point] = []
    for b in r.brokers:
        out.append(_point(BROKER_UP, t, 1.0 if b.up else 0.0, cluster=cluster, broker=str(b.id)))
        if b.jmx.target:
            out.append(
                _point(
                    BROKER_JMX_REACHABLE,
                    t,
                    1.0 if b.jmx.reachable else 0.0,
                    cluster=cluster,
                    broker=str(b.id),
                    target=b.jmx.target,
                )
            )
    for topic in r.topics:
        key = {"cluster": cluster, "topic": topic.name}
        out.append(_point(TOPIC_URP, t, float(topic.under_replicated), **key))
        out.append(_point(TOPIC_OFFLINE, t, float(topic.offline), **key))
        if topic.produce_rate is not None:
            out.append(_point(TOPIC_PRODUCE_RATE, t, topic.produce_rate, **key))
    return out


def lag_points(cluster: str, r: LagReport) -> list[Point]:
    """Group status and lag, and each partition's lag, as Burrow judged them."""
    t = r.taken_at
    out: list[Point] = []
    for g in r.groups.values():
        v = g.verdict
        key = {"cluster": cluster, "group": g.group}
        status = g.status  # Burrow's, raised to WARN by a member in trouble
        out.append(_point(GROUP_STATUS, t, float(int(status)), **key))
        out.append(_point(GROUP_TOTAL_LAG, t, float(v.total_lag), **key))
        if g.lag_seconds is not None:
            out.append(_point(GROUP_LAG_SECONDS, t, g.lag_seconds, **key))
        for p in v.partitions:
            pkey = {**key, "topic": p.topic, "partition": str(p.partition)}
            out.append(_point(PARTITION_LAG, t, float(p.current_lag), **pkey))
            out.append(_point(PARTITION_STATUS, t, float(int(p.status)), **pkey))
            if p.lag_seconds is not None:
                out.append(_point(PARTITION_LAG_SECONDS, t, p.lag_seconds, **pkey))
    return out


def client_points(cluster: str, r: ClientReport) -> list[Point]:
    """Every client's verdict, and topics whose producers went silent."""
    t = r.taken_at
    out: list[Point] = []
    seen: set[Labels] = set()
    for row in r.clients:
        p = _point(
            CLIENT_LIVENESS,
            t,
            float(LIVENESS_CODE[row.liveness]),
            cluster=cluster,
            client_id=row.client_id,
            kind=row.kind,
            group=row.group or "",
            target=row.target or row.host or "",
        )
        if p.labels not in seen:  # one subject, one series (a member seen twice)
            seen.add(p.labels)
            out.append(p)
    for topic in r.silent_topics:
        out.append(_point(TOPIC_PRODUCERS_SILENT, t, 1.0, cluster=cluster, topic=topic))
    return out


#: ``(cluster, rule, severity, state)``: what ``kafkascope_alerts`` counts.
AlertCountKey = tuple[str, str, str, str]


#: The states ``kafkascope_alerts`` counts (the alert runner's, in lower case). Each is
#: always present for a (cluster, rule, severity) with any alert, 0 when none is in it, so
#: an alert moving from pending to firing changes values, never which series exist.
ALERT_STATES = ("pending", "firing", "resolved")


def alert_points(counts: Mapping[AlertCountKey, int], ts: float) -> list[Point]:
    """``counts``: (cluster, rule, severity, state) → how many alerts are there."""
    subjects = sorted({(c, rule, sev) for c, rule, sev, _ in counts})
    states = (*ALERT_STATES, *sorted({k[3] for k in counts} - set(ALERT_STATES)))
    return [
        _point(
            ALERTS,
            ts,
            float(counts.get((c, rule, sev, state), 0)),
            cluster=c,
            rule=rule,
            severity=sev,
            state=state,
        )
        for c, rule, sev in subjects
        for state in states
    ]


def verdict_points(live: ClusterLive) -> list[Point]:
    """Every series of one cluster's latest reports (those it has)."""
    out: list[Point] = []
    if live.brokers is not None:
        out += broker_points(live.name, live.brokers)
    if live.lag is not None:
        out += lag_points(live.name, live.lag)
    if live.clients is not None:
        out += client_points(live.name, live.clients)
    return out


# -- catalog samples -------------------------------------------------------------------


def broker_samples(cluster: str, r: BrokerReport) -> Iterator[Sample]:
    """A broker report's catalog samples, labelled ``cluster``, ``target`` and ``broker``
    (the node id), so a rule fires once per broker and a chart names the broker."""
    node = {row.jmx.target: str(row.id) for row in r.brokers if row.jmx.target}
    for s in r.samples:
        yield _labelled(
            s, {"cluster": cluster, "target": s.target, "broker": node.get(s.target, "")}
        )


def client_samples(
    cluster: str, r: ClientReport, skip: frozenset[str] = frozenset()
) -> Iterator[Sample]:
    """A client report's catalog samples, labelled ``cluster``, ``target`` and, on a
    consumer's, ``group`` (from its membership), so a rule can select a group's consumers.
    Those of targets in ``skip`` are left out."""
    group = {(row.target, row.client_id): row.group for row in r.clients if row.group}
    for s in r.samples:
        if skip and s.target in skip:
            continue
        g = group.get((s.target, s.label("client_id") or ""), "") or ""
        yield _labelled(s, {"cluster": cluster, "target": s.target, "group": g})


def catalog_samples(live: ClusterLive) -> Iterator[Sample]:
    """Every catalog sample of one cluster's latest reports, labelled as above: the same
    labels in history, on ``/metrics`` and for user rules."""
    if live.brokers is not None:
        yield from broker_samples(live.name, live.brokers)
    if live.clients is not None:
        yield from client_samples(live.name, live.clients)


def _labelled(s: Sample, extra: Mapping[str, str]) -> Sample:
    """``s`` in base units (seconds, not JMX's ms), with the ``extra`` labels it does not
    already have (empty ones left out). Built in one step, not with ``in_base_units`` and
    ``dataclasses.replace``: a client poll relabels one sample per client metric (74,000
    for 2,000 telemetry clients, bench/telemetry), and ``replace`` costs 4x a constructor."""
    value, unit = base_value(s.value, s.unit)
    have = {k for k, _ in s.labels}
    add = [(k, v) for k, v in extra.items() if v and k not in have]
    if unit == s.unit and not add:
        return s
    labels = tuple(sorted((*s.labels, *add))) if add else s.labels
    return Sample(s.name, value, labels, s.target, s.timestamp, s.kind, unit)


def sample_points(samples: Iterable[Sample]) -> list[Point]:
    """Catalog samples as history points (their own name, labels and time)."""
    return [Point(s.name, s.labels, s.timestamp, s.value) for s in samples]

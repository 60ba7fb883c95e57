"""KIP-714 client telemetry: the pushes the brokers' kafkascope plugin forwards, decoded.

A push is the client's own OTLP metrics (``ExportMetricsServiceRequest`` bytes, decoded
with ``opentelemetry-proto``) plus what the broker knows about the client, sent as
``X-Kafkascope-*`` headers (the contract is docs/telemetry.md). This module turns one into
:class:`~kafkascope.model.Sample` values under the catalog's names, exactly as a JMX read of
the same client would give them, so the liveness rules read both alike.

The names: Kafka names a pushed metric ``org.apache.kafka.`` + its group with ``-metrics``
dropped + its name, dashes made dots (``TelemetryMetricNamingConvention``):
``consumer-metrics`` / ``last-poll-seconds-ago`` is
``org.apache.kafka.consumer.last.poll.seconds.ago``. The catalog names the same metric by
its MBean (``type=consumer-metrics``) and attribute, so the map is derived from the
catalog itself (:func:`otlp_names`) and a metric added there is understood here too.
librdkafka pushes KIP-714's standard subset under the same names
(``org.apache.kafka.consumer.coordinator.assigned.partitions``, ...).

:class:`TelemetryInbox` keeps the latest state of every client that pushed, per cluster:
written by the HTTP receiver's threads, read by the client monitor at each poll.
"""

from __future__ import annotations

import math
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from kafkascope.errors import KafkascopeError
from kafkascope.model import MetricKind, Sample, labels_of
from kafkascope.sources.jmx.catalog import Catalog, default_catalog

__all__ = [
    "CATALOG_METRICS",
    "HEADER_PREFIX",
    "OtlpName",
    "PushError",
    "PushMeta",
    "PushedClient",
    "TelemetryInbox",
    "decode_push",
    "otlp_name",
    "otlp_names",
    "push_meta",
    "subscription_metrics",
    "telemetry_target",
]

HEADER_PREFIX = "x-kafkascope-"
DOMAIN = "org.apache.kafka"
#: The target a telemetry-only client is known by (no JMX endpoint): its instance id.
TARGET_PREFIX = "telemetry:"
#: Clients kept per cluster; past it the one that pushed longest ago is dropped.
MAX_CLIENTS = 50_000
#: A client that has not pushed for this long leaves the inbox (the monitor's store still
#: knows it, and reads it DEAD or departed from there).
EXPIRE_AFTER = 3600.0


class PushError(KafkascopeError):
    """A push that cannot be used: a missing header or a body that is not OTLP."""


def telemetry_target(instance_id: str) -> str:
    return f"{TARGET_PREFIX}{instance_id}"


# ---------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------


def otlp_name(group: str, name: str, domain: str = DOMAIN) -> str:
    """Kafka's telemetry name of metric ``name`` in ``group`` (its MBean's ``type``)."""
    group = group.lower().replace("-", ".").replace("_", ".")
    if group.endswith(".metrics"):
        group = group[: -len(".metrics")]
    name = name.lower().replace("-", ".").replace("_", ".")
    return ".".join(p for p in (domain, group, name) if p)


@dataclass(frozen=True)
class OtlpName:
    """What a pushed metric is in the catalog: its name, kind and unit, the client role
    (catalog set) and the Kafka attribute the liveness rules speak of."""

    name: str
    role: str
    attribute: str
    kind: MetricKind
    unit: str


def otlp_names(catalog: Catalog | None = None) -> dict[str, OtlpName]:
    """OTLP name → catalog metric, for every client set of the catalog."""
    catalog = catalog or default_catalog()
    out: dict[str, OtlpName] = {}
    for s in catalog.sets:
        if not s.client_key:
            continue
        for bean, m in s.metrics():
            types = [k for k in bean.pattern.keys if k.key == "type" and k.pinned]
            if not types or m.subkey is not None:
                continue
            key = otlp_name(types[0].alternatives[0], m.attribute)
            out.setdefault(key, OtlpName(m.name, s.role, m.attribute, m.kind, m.unit))
    return out


#: In ``[clusters.telemetry] metrics``: the names the catalog reads (:func:`otlp_names`).
CATALOG_METRICS = "catalog"


def subscription_metrics(metrics: Sequence[str], catalog: Catalog | None = None) -> tuple[str, ...]:
    """The ``metrics`` of a subscription: each entry as written (a name prefix, or ``*``),
    ``catalog`` replaced by every name the catalog reads, sorted. Why the default asks for
    those only: a Java consumer pushes ~130 metrics of which the catalog reads ~20; the
    rest would cost the client, the broker, the plugin's queue and the receiver for
    nothing (bench/telemetry: 15 kB and 6x the decode time per push)."""
    out: list[str] = []
    for m in metrics:
        for name in sorted(otlp_names(catalog)) if m == CATALOG_METRICS else (m,):
            if name not in out:
                out.append(name)
    return tuple(out)


# ---------------------------------------------------------------------------------------
# One push
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushMeta:
    """What the broker said about the client that pushed (the ``X-Kafkascope-*`` headers)."""

    client_instance_id: str
    client_id: str
    software_name: str = "unknown"
    software_version: str = "unknown"
    source_address: str = ""
    source_port: int | None = None
    principal: str = ""
    terminating: bool = False
    push_interval: float | None = None  # seconds; None when the broker does not know it
    broker_id: int | None = None


def push_meta(headers: Mapping[str, str]) -> PushMeta:
    """The push's identity from its headers (names case-insensitive, values
    percent-decoded as the contract says); :class:`PushError` names what is missing."""
    h = {
        key: urllib.parse.unquote(v) if "%" in v else v
        for k, v in headers.items()
        if (key := k.lower()).startswith(HEADER_PREFIX)
    }

    def get(name: str) -> str | None:
        value = h.get(HEADER_PREFIX + name)
        return value.strip() if value is not None and value.strip() else None

    def number(name: str) -> int | None:
        value = get(name)
        if value is None:
            return None
        try:
            return int(value)
        except ValueError:
            raise PushError(
                f"header X-Kafkascope-{name} is not a whole number: {value[:40]!r}"
            ) from None

    instance = get("client-instance-id")
    if instance is None:
        raise PushError(
            "header X-Kafkascope-Client-Instance-Id is missing: pushes come from the "
            "kafkascope broker plugin (docs/telemetry.md), not from clients directly"
        )
    interval = number("push-interval-ms")
    terminating = (get("terminating") or "false").lower()
    if terminating not in ("true", "false"):
        raise PushError(
            f"header X-Kafkascope-Terminating must be true or false, not {terminating!r}"
        )
    return PushMeta(
        client_instance_id=instance.lower(),
        client_id=get("client-id") or "unknown",
        software_name=get("software-name") or "unknown",
        software_version=get("software-version") or "unknown",
        source_address=get("source-address") or "",
        source_port=number("source-port"),
        principal=get("principal") or "",
        terminating=terminating == "true",
        push_interval=interval / 1000.0 if interval is not None and interval > 0 else None,
        broker_id=number("broker-id"),
    )


class PushedValue(NamedTuple):
    """One data point of a push under its catalog name: ``delta`` for a sum the client
    pushes as deltas (the inbox adds them up into the counter JMX would show). A tuple, not
    a frozen dataclass: a push makes dozens and the receiver's budget is per push."""

    spec: OtlpName
    labels: tuple[tuple[str, str], ...]  # without client_id
    value: float
    delta: bool = False


@dataclass(frozen=True)
class DecodedPush:
    meta: PushMeta
    values: tuple[PushedValue, ...]
    role: str | None  # "consumer" | "producer" from the metric names; None when none says
    unmapped: int  # metrics whose names the catalog does not know (not read)


_CONSUMER, _PRODUCER = DOMAIN + ".consumer.", DOMAIN + ".producer."
_DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
_CLIENT_ID_KEYS = frozenset(("client_id", "client-id"))
_LABEL_KEYS: dict[str, str] = {}


def _label_key(key: str) -> str:
    """An attribute key as a label name (``node.id`` → ``node_id``), remembered: a push
    repeats a handful of keys on every point."""
    name = _LABEL_KEYS.get(key)
    if name is None:
        name = key.replace("-", "_").replace(".", "_")
        if len(_LABEL_KEYS) < 10_000:
            _LABEL_KEYS[key] = name
    return name


def _attr(v: AnyValue) -> str:
    kind = v.WhichOneof("value")
    return "" if kind is None else str(getattr(v, kind))


def _labels(attributes: Iterable[KeyValue]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for a in attributes:
        key = a.key
        if key in _CLIENT_ID_KEYS:
            continue
        v = a.value
        # Kafka's attributes are strings (node_id, topic, partition): read that field
        # first, and ask which one is set only when it is empty.
        text = v.string_value or _attr(v)
        pairs.append((_label_key(key), text))
    pairs.sort()
    return tuple(pairs)


def decode_push(body: bytes, meta: PushMeta, names: Mapping[str, OtlpName]) -> DecodedPush:
    """Decode one push's OTLP body; :class:`PushError` when it is not OTLP metrics.

    Written for the receiver's budget (bench/telemetry: >= 5,000 pushes/s on one core): a
    Java client pushes ~120 metrics of which the catalog reads ~20, so a metric is looked
    up by name before any of its data points is touched, and every field is read once."""
    request = ExportMetricsServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as e:
        raise PushError(
            f"the body is not OTLP metrics (ExportMetricsServiceRequest): {e}"
        ) from None
    values: list[PushedValue] = []
    consumer = producer = unmapped = 0
    isfinite = math.isfinite
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                name = metric.name
                if name.startswith(_CONSUMER):
                    consumer += 1
                elif name.startswith(_PRODUCER):
                    producer += 1
                spec = names.get(name)
                if spec is None:
                    unmapped += 1
                    continue
                which = metric.WhichOneof("data")
                if which == "gauge":
                    points, delta = metric.gauge.data_points, False
                elif which == "sum":
                    total = metric.sum
                    points, delta = total.data_points, total.aggregation_temporality == _DELTA
                else:
                    continue  # histograms and summaries: the catalog reads none
                for p in points:
                    number = p.WhichOneof("value")
                    if number == "as_double":
                        raw = p.as_double
                        if not isfinite(raw):
                            continue  # "no value", as a NaN average over JMX
                    elif number == "as_int":
                        raw = float(p.as_int)
                    else:
                        continue
                    attributes = p.attributes
                    labels = _labels(attributes) if attributes else ()
                    values.append(PushedValue(spec, labels, raw, delta))
    role = None
    if consumer or producer:
        role = "consumer" if consumer >= producer else "producer"
    return DecodedPush(meta, tuple(values), role, unmapped)


# ---------------------------------------------------------------------------------------
# The inbox
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushedClient:
    """One client as its pushes describe it, at the last push. ``samples`` are the catalog
    samples of its last values (counters pushed as deltas already summed up);
    ``interval`` is the push interval in seconds (the broker's, else the one configured)."""

    meta: PushMeta
    role: str
    first_push: float
    last_push: float
    interval: float
    pushes: int
    samples: tuple[Sample, ...]

    @property
    def target(self) -> str:
        return telemetry_target(self.meta.client_instance_id)

    @property
    def terminating(self) -> bool:
        return self.meta.terminating


@dataclass
class _Client:
    meta: PushMeta
    role: str
    first_push: float
    last_push: float
    interval: float
    pushes: int = 0
    # (catalog name, labels) -> (spec, value, time of the push that set it)
    values: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[OtlpName, float, float]] = field(
        default_factory=dict
    )
    samples: tuple[Sample, ...] | None = None  # built from values when asked, until a push


class TelemetryInbox:
    """Every client that pushed to one cluster's brokers, latest state only. Thread-safe:
    the receiver calls :meth:`record` from request threads, the monitor :meth:`clients`.
    ``interval`` stands in for the push interval when a push does not carry it; ``tokens``
    are the bearer tokens that name this cluster's pushes, ``max_push_bytes`` the largest
    push the receiver takes for it."""

    def __init__(
        self,
        cluster: str,
        interval: float = 10.0,
        *,
        tokens: Sequence[str] = (),
        max_push_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.time,
        max_clients: int = MAX_CLIENTS,
        expire_after: float = EXPIRE_AFTER,
    ) -> None:
        self.cluster = cluster
        self.interval = interval
        self.tokens = tuple(t.encode("utf-8") for t in tokens)
        self.max_push_bytes = max_push_bytes
        self.clock = clock
        self.max_clients = max_clients
        self.expire_after = expire_after
        self.names = otlp_names()
        self.received = 0
        self.unmapped = 0
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def receive(self, headers: Mapping[str, str], body: bytes) -> None:
        """One push as the receiver got it: decoded, then recorded now."""
        self.record(decode_push(body, push_meta(headers), self.names), self.clock())

    def record(self, push: DecodedPush, now: float) -> None:
        """Fold one push into its client's state. Samples are built when the monitor asks
        (:meth:`clients`), not here: a client pushes about once per poll, and the push is
        on the receiver's budget."""
        meta = push.meta
        with self._lock:
            self.received += 1
            self.unmapped += push.unmapped
            c = self._clients.get(meta.client_instance_id)
            interval = meta.push_interval or (c.interval if c else self.interval)
            if c is None:
                if len(self._clients) >= self.max_clients:
                    self._drop_oldest()
                role = push.role or "unknown"
                c = _Client(meta, role, now, now, interval)
                self._clients[meta.client_instance_id] = c
            c.meta, c.last_push, c.interval, c.samples = meta, now, interval, None
            if c.role == "unknown" and push.role is not None:
                c.role = push.role
            c.pushes += 1
            values = c.values
            for spec, labels, value, delta in push.values:
                key = (spec.name, labels)
                if delta:
                    old = values.get(key)
                    if old is not None:
                        value += old[1]
                values[key] = (spec, value, now)

    def clients(self, now: float) -> list[PushedClient]:
        """Every client's latest state; those silent past ``expire_after`` are dropped."""
        with self._lock:
            for iid in [
                i for i, c in self._clients.items() if now - c.last_push > self.expire_after
            ]:
                del self._clients[iid]
            return [_frozen(c) for c in self._clients.values()]

    def _drop_oldest(self) -> None:
        oldest = min(self._clients, key=lambda i: self._clients[i].last_push)
        del self._clients[oldest]


def _frozen(c: _Client) -> PushedClient:
    if c.samples is None:
        target, client_id = telemetry_target(c.meta.client_instance_id), c.meta.client_id
        c.samples = tuple(
            Sample(
                spec.name,
                value,
                labels_of(dict(labels) | {"client_id": client_id}),
                target,
                at,
                spec.kind,
                spec.unit,
            )
            for (_, labels), (spec, value, at) in c.values.items()
        )
    return PushedClient(c.meta, c.role, c.first_push, c.last_push, c.interval, c.pushes, c.samples)


def samples_of(clients: Iterable[PushedClient]) -> tuple[Sample, ...]:
    return tuple(s for c in clients for s in c.samples)

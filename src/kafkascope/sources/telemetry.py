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

:mod:`kafkascope.sources.telemetry_inbox` keeps every client's latest state;
:mod:`kafkascope.sources.telemetry_layout` reads a client's next push without decoding it.
"""

from __future__ import annotations

import math
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import AggregationTemporality

from kafkascope.errors import KafkascopeError
from kafkascope.model import MetricKind
from kafkascope.sources.jmx.catalog import Catalog, default_catalog

__all__ = [
    "CATALOG_METRICS",
    "HEADER_PREFIX",
    "OtlpName",
    "PushError",
    "PushMeta",
    "PushedValue",
    "decode_push",
    "otlp_name",
    "otlp_names",
    "point_labels",
    "push_meta",
    "push_role",
    "subscription_metrics",
    "telemetry_target",
]

HEADER_PREFIX = "x-kafkascope-"
DOMAIN = "org.apache.kafka"
#: The target a telemetry-only client is known by (no JMX endpoint): its instance id.
TARGET_PREFIX = "telemetry:"


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


CONSUMER_PREFIX, PRODUCER_PREFIX = DOMAIN + ".consumer.", DOMAIN + ".producer."
DELTA = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
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


def point_labels(attributes: Iterable[KeyValue]) -> tuple[tuple[str, str], ...]:
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
                if name.startswith(CONSUMER_PREFIX):
                    consumer += 1
                elif name.startswith(PRODUCER_PREFIX):
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
                    points, delta = total.data_points, total.aggregation_temporality == DELTA
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
                    labels = point_labels(attributes) if attributes else ()
                    values.append(PushedValue(spec, labels, raw, delta))
    return DecodedPush(meta, tuple(values), push_role(consumer, producer), unmapped)


def push_role(consumer: int, producer: int) -> str | None:
    """The client's kind from how many of its metrics are named as each; None if neither."""
    if not (consumer or producer):
        return None
    return "consumer" if consumer >= producer else "producer"

"""The declarative metric catalog: which MBeans to read and what each attribute means.

Size: the file format's loader and validator (every key, kind, stat and naming rule with
an error that names the fix) is one unit; splitting it would scatter the format's rules.

Metrics are data, not code (Datadog's lesson): ``sources/catalog/<set>.yaml`` maps an
ObjectName pattern to attributes, and each attribute to a metric name, a kind and a unit.
Every source reads the same catalog: JMX over RMI (``reader.py``), and the Jolokia and
jmx_exporter sources, which need only :meth:`BeanSpec.query_patterns`,
:meth:`BeanSpec.matches`, :meth:`BeanSpec.attributes` and :meth:`BeanSpec.to_samples`.

File format (one file per set; the file name is the set name)::

    set: broker                  # must equal the file name without .yaml
    role: broker                 # the process role this set belongs to
    detect: "kafka.server:type=ReplicaManager,name=PartitionCount"
                                 # pattern whose presence means the set applies
    opt_in: false                # true: collected only when asked for (e.g. per partition)
    client_key: client-id        # optional: ObjectName key naming the client (client sets)
    beans:
      # one line per metric when the bean has one metric (Yammer style; wrapped here) ...
      - {bean: "kafka.server:type=ReplicaManager,name=LeaderCount",
         metric: kafka_broker_leaders, kind: gauge, unit: partitions,
         help: "Partitions this broker leads"}
      # ... or one bean with one line per attribute (Kafka-metrics style)
      - bean: "kafka.consumer:type=consumer-metrics,client-id=*"
        metrics:
          - {attr: last-poll-seconds-ago, metric: kafka_consumer_last_poll_seconds_ago,
             kind: gauge, unit: seconds}

Bean keys: ``bean`` (an ObjectName pattern), ``labels`` (label name → ObjectName key;
default: every key the pattern does not pin to one literal value, snake_cased, so
``client-id=*`` gives ``client_id``), ``skip_legacy_topic_names`` (drop the deprecated
copies Kafka clients register with dots in the topic replaced by ``_``), ``metrics``.

Metric keys: ``metric`` (``[a-z_][a-z0-9_]*``), ``kind``, ``unit``, ``attr``, ``stats``,
``help`` (what it measures: the HELP line on ``/metrics``; never the name) and ``states``.
Kinds and what they read:

- ``gauge``: ``attr`` (default ``Value``), read as is.
- ``counter``: ``attr`` (default ``Count``), monotonic; rules use its deltas.
- ``meter`` (Yammer Meter): ``stats`` (default ``[count, rate1m]``) give ``<metric>_total``
  from ``Count`` (in ``unit``, what it counts) and the gauge ``<metric>_per_second`` with
  label ``window="1m"`` from ``OneMinuteRate`` (also rate5m, rate15m: ``5m``, ``15m``;
  mean_rate: ``lifetime``). A meter that is really a ratio (RequestHandlerAvgIdlePercent)
  is a ``gauge`` with ``attr: OneMinuteRate``.
- ``histogram`` (Yammer Histogram or Timer): ``stats`` (default ``[count, mean, p99]``);
  the percentiles (p50, p75, p95, p98, p99, p999) are the gauge ``<metric>`` with label
  ``quantile`` ("0.99"), the count the counter ``<stem>_count_total`` (``stem``: the name
  without its unit), mean, min, max and stddev ``<stem>_<stat>_<unit>``.
- ``state``: a string attribute (raft ``current-state``): a state set, one sample per
  value in ``states`` (label ``state``), 1 for the current value and 0 for the others.

Names follow Prometheus's rules (:func:`name_problem`, checked at load): the base unit is
the last word (``_seconds``, ``_bytes``, ``_ratio``; rates ``_per_second``), counters and
only counters end in ``_total``. ``unit`` is what JMX reports: ``milliseconds`` under a
``_seconds`` name is read as is and converted where it is shown (:func:`in_base_units`).
Units come from the closed list ``UNITS`` (a typo is an error that suggests the nearest).
Samples are never produced from NaN, infinities or non-numbers (see ``to_samples``).

``attr: HeapMemoryUsage.used`` reads one key of a CompositeData attribute. In a pattern,
``a|b|c`` as a key's value means alternatives: ``request=Produce|FetchConsumer`` is queried
as two exact patterns, never as ``request=*`` (which lists ~90 request types). ``*:*`` and
domain wildcards are refused: a broker has tens of thousands of MBeans.
"""

from __future__ import annotations

import difflib
import functools
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

import yaml

from kafkascope.errors import ConfigError
from kafkascope.model import MetricKind, Sample, labels_of
from kafkascope.sources.jmx.object_name import ObjectNamePattern, snake_case

T = TypeVar("T")

CATALOG_DIR = Path(__file__).with_name("catalog")

KINDS = ("gauge", "counter", "meter", "histogram", "state")

# Units are a closed list so dashboards and rules can rely on them; add one here if needed.
UNITS = frozenset(
    {
        "bytes",
        "bytes_per_second",
        "seconds",
        "milliseconds",
        "nanoseconds",
        "ratio",
        "percent",
        "messages",
        "messages_per_second",
        "records",
        "records_per_second",
        "requests",
        "requests_per_second",
        "partitions",
        "replicas",
        "brokers",
        "controllers",
        "topics",
        "directories",
        "errors",
        "events",
        "events_per_second",
        "elections",
        "rebalances",
        "threads",
        "files",
        "offset",
        "epoch",
        "node",
        "state",
        "timestamp_ms",
        "count",
    }
)

#: JMX's units → (the base unit kafkascope exports, the factor to it). A catalog line
#: states the unit JMX reports (``unit: milliseconds``); its metric name states the base
#: unit (``..._seconds``). Samples keep JMX's value and unit (the monitors and rules think
#: in them); every surface (history, ``/metrics``, user rules) shows :func:`in_base_units`.
BASE_UNITS: dict[str, tuple[str, float]] = {
    "milliseconds": ("seconds", 1e-3),
    "nanoseconds": ("seconds", 1e-9),
    "timestamp_ms": ("seconds", 1e-3),
    "percent": ("ratio", 1e-2),
}

#: Base units a name must end with (before ``_total``): Prometheus's naming rules.
SUFFIX_UNITS = ("seconds", "bytes", "ratio")

# Meter stats: name → (attribute, sample kind, window label or None for the count).
METER_STATS: dict[str, tuple[str, MetricKind, str | None]] = {
    "count": ("Count", MetricKind.COUNTER, None),
    "rate1m": ("OneMinuteRate", MetricKind.GAUGE, "1m"),
    "rate5m": ("FiveMinuteRate", MetricKind.GAUGE, "5m"),
    "rate15m": ("FifteenMinuteRate", MetricKind.GAUGE, "15m"),
    "mean_rate": ("MeanRate", MetricKind.GAUGE, "lifetime"),
}
# Histogram stats: name → (attribute, quantile label or None).
HISTOGRAM_STATS: dict[str, tuple[str, str | None]] = {
    "count": ("Count", None),
    "mean": ("Mean", None),
    "min": ("Min", None),
    "max": ("Max", None),
    "stddev": ("StdDev", None),
    "p50": ("50thPercentile", "0.5"),
    "p75": ("75thPercentile", "0.75"),
    "p95": ("95thPercentile", "0.95"),
    "p98": ("98thPercentile", "0.98"),
    "p99": ("99thPercentile", "0.99"),
    "p999": ("999thPercentile", "0.999"),
}
DEFAULT_STATS = {"meter": ("count", "rate1m"), "histogram": ("count", "mean", "p99")}
DEFAULT_ATTR = {"gauge": "Value", "counter": "Count"}

SET_KEYS = ("set", "role", "detect", "opt_in", "client_key", "beans")
BEAN_KEYS = ("bean", "labels", "skip_legacy_topic_names", "metrics")
METRIC_KEYS = ("metric", "attr", "kind", "unit", "stats", "help", "states")
METRIC_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class MetricSpec:
    """One sample-producing read: ``attribute`` (and CompositeData ``subkey``) → ``name``."""

    name: str
    attribute: str
    subkey: str | None
    kind: MetricKind
    unit: str  # what JMX reports; the name says the base unit (BASE_UNITS)
    #: ``quantile`` or ``window``: what this stat of a histogram or meter is
    const_labels: tuple[tuple[str, str], ...] = ()
    help: str = ""  # the HELP line on /metrics: what it measures, never the name
    states: tuple[str, ...] = ()  # a ``state`` metric's known values (a state set)

    @property
    def base_unit(self) -> str:
        return BASE_UNITS.get(self.unit, (self.unit, 1.0))[0]


@dataclass(frozen=True)
class BeanSpec:
    """One ObjectName pattern and the metrics read from every MBean it matches, in one
    ``getAttributes`` call per MBean."""

    pattern: ObjectNamePattern
    metrics: tuple[MetricSpec, ...]
    labels: tuple[tuple[str, str], ...] | None  # (label, ObjectName key); None = open keys
    skip_legacy_topic_names: bool
    source: str  # "broker.yaml, bean 3" — where errors and docs point

    def query_patterns(self) -> tuple[str, ...]:
        """What to pass to ``queryNames`` (or a Jolokia/exporter include list)."""
        return self.pattern.jmx_patterns()

    def matches(self, domain: str, keys: Mapping[str, str]) -> bool:
        return self.pattern.matches(domain, keys)

    def attributes(self) -> tuple[str, ...]:
        """Top-level attribute names to request, each once."""
        return tuple(dict.fromkeys(m.attribute for m in self.metrics))

    def labels_for(self, keys: Mapping[str, str]) -> dict[str, str]:
        if self.labels is not None:
            return {label: keys[key] for label, key in self.labels if key in keys}
        return {snake_case(k): keys[k] for k in self.pattern.open_keys(keys)}

    def to_samples(
        self, keys: Mapping[str, str], values: Mapping[str, Any], target: str, timestamp: float
    ) -> list[Sample]:
        """Samples from one MBean's attribute values. Absent, non-numeric and non-finite
        values (Kafka reports NaN for an average with no events yet) give no sample: "no
        value" is what they mean, and a NaN would poison sums and alerts downstream."""
        base = self.labels_for(keys)
        out = []
        for m in self.metrics:
            raw = values.get(m.attribute)
            if m.subkey is not None:
                raw = raw.get(m.subkey) if isinstance(raw, Mapping) else None
            if m.kind is MetricKind.STATE:
                # A state set: every known state, 1 for the current one, so a change of
                # state changes values, never which series exist.
                if raw is None:
                    continue
                current = str(raw)
                states = m.states if current in m.states else (*m.states, current)
                for st in states:
                    labels = labels_of(base | {"state": st})
                    one = 1.0 if st == current else 0.0
                    out.append(Sample(m.name, one, labels, target, timestamp, m.kind, m.unit))
                continue
            value = as_number(raw)
            if value is not None:
                labels = labels_of(base | dict(m.const_labels))
                out.append(Sample(m.name, value, labels, target, timestamp, m.kind, m.unit))
        return out


def in_base_units(s: Sample) -> Sample:
    """``s`` in the base unit its name states (seconds, ratio): what history, ``/metrics``
    and user rules show. Samples are read in JMX's units (a client's
    ``time-between-poll-max`` in ms, as the liveness rules expect); this is the one place
    they are converted."""
    value, unit = base_value(s.value, s.unit)
    return s if unit == s.unit else replace(s, value=value, unit=unit)


def base_value(value: float, unit: str) -> tuple[float, str]:
    """``value`` read in ``unit``, in its base unit: (value, unit) unchanged when the unit
    is one already."""
    conv = BASE_UNITS.get(unit)
    return (value, unit) if conv is None else (value * conv[1], conv[0])


def as_number(raw: object) -> float | None:
    """A JMX attribute value as a finite float, or None."""
    if isinstance(raw, bool):
        return 1.0 if raw else 0.0
    if isinstance(raw, int | float):
        value = float(raw)
        return value if math.isfinite(value) else None
    return None


def drop_legacy_topic_copies(
    items: Sequence[T], keys_of: Callable[[T], Mapping[str, str]]
) -> list[T]:
    """Drop the deprecated MBeans Kafka clients (up to 4.x) register a second time with the
    topic's dots replaced by underscores: ``topic=a_b`` when ``topic=a.b`` exists with the
    same other keys. Without this every per-topic client metric of a dotted topic counts
    twice."""
    real: set[tuple[tuple[str, str], ...]] = set()
    for item in items:
        keys = keys_of(item)
        topic = keys.get("topic")
        if topic is not None and "." in topic:
            real.add(tuple(sorted((dict(keys) | {"topic": topic.replace(".", "_")}).items())))
    return [i for i in items if tuple(sorted(keys_of(i).items())) not in real]


@dataclass(frozen=True)
class CatalogSet:
    """One YAML file: the metrics of one kind of process (or one opt-in slice of it)."""

    name: str
    role: str
    detect: ObjectNamePattern
    opt_in: bool
    client_key: str | None
    beans: tuple[BeanSpec, ...]
    path: str

    def metrics(self) -> Iterator[tuple[BeanSpec, MetricSpec]]:
        for bean in self.beans:
            for m in bean.metrics:
                yield bean, m


@dataclass(frozen=True)
class Catalog:
    """Every set, by name. Built once by :func:`load_catalog`; immutable."""

    sets: tuple[CatalogSet, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sets)

    def get(self, name: str) -> CatalogSet:
        for s in self.sets:
            if s.name == name:
                return s
        raise ConfigError(f"no catalog set named '{name}'; the sets are {', '.join(self.names)}")

    def select(self, names: Iterable[str]) -> tuple[CatalogSet, ...]:
        return tuple(self.get(n) for n in dict.fromkeys(names))

    def metric(self, name: str) -> MetricSpec:
        for s in self.sets:
            for _, m in s.metrics():
                if m.name == name:
                    return m
        raise KeyError(name)


# --------------------------------------------------------------------------- loading


class _Where:
    """Builds error messages that name the file, the entry and what to do."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, where: str, problem: str) -> ConfigError:
        return ConfigError(f"catalog {self.path}, {where}: {problem}")

    def check_keys(self, data: Mapping[str, Any], allowed: Sequence[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                near = difflib.get_close_matches(str(key), allowed, n=1)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise self.fail(where, f"unknown key '{key}'{hint}; allowed: {', '.join(allowed)}")


def _expand_metric(raw: Mapping[str, Any], w: _Where, where: str) -> list[MetricSpec]:
    """One catalog metric line → the sample-level specs it stands for."""
    w.check_keys(raw, METRIC_KEYS, where)
    for key in ("metric", "kind", "unit"):
        if key not in raw:
            raise w.fail(where, f"'{key}' is missing")
    name, kind, unit = raw["metric"], raw["kind"], raw["unit"]
    if not isinstance(name, str) or not METRIC_NAME.match(name):
        raise w.fail(where, f"metric name {name!r} must match [a-z_][a-z0-9_]*")
    where = f"{where} ({name})"
    if kind not in KINDS:
        raise w.fail(where, f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if unit not in UNITS:
        near = difflib.get_close_matches(str(unit), sorted(UNITS), n=1)
        hint = f" (did you mean '{near[0]}'?)" if near else ""
        raise w.fail(where, f"unit {unit!r} is not a known unit{hint}; add it to catalog.UNITS")
    text = raw.get("help", "")
    if not isinstance(text, str):
        raise w.fail(where, "help must be a string (what the metric measures)")
    text = " ".join(text.split())
    if text and (text == name or text.startswith(name)):
        raise w.fail(where, "help must say what the metric measures, not repeat its name")
    states = raw.get("states", ())
    if kind != "state" and "states" in raw:
        raise w.fail(where, f"'states' applies to kind state, not {kind}")
    if not isinstance(states, list | tuple) or not all(isinstance(x, str) for x in states):
        raise w.fail(where, "states must be a list of the attribute's string values")
    attr = raw.get("attr", DEFAULT_ATTR.get(kind))
    base = BASE_UNITS.get(unit, (unit, 1.0))[0]
    if kind in ("meter", "histogram"):
        if "attr" in raw:
            raise w.fail(
                where,
                f"a {kind} reads 'stats', not 'attr'; for one attribute use "
                "kind gauge or counter with attr",
            )
        stats = raw.get("stats", DEFAULT_STATS[kind])
        if not isinstance(stats, list | tuple) or not stats:
            raise w.fail(where, "stats must be a non-empty list")
        table = METER_STATS if kind == "meter" else HISTOGRAM_STATS
        out = []
        for stat in stats:
            if stat not in table:
                raise w.fail(where, f"stat {stat!r} is not one of {', '.join(table)}")
            spec = (
                _meter_stat(name, stat, unit, text)
                if kind == "meter"
                else _histogram_stat(name, stat, unit, text)
            )
            problem = name_problem(spec.name, spec.kind, spec.base_unit)
            if problem:
                raise w.fail(where, problem)
            out.append(spec)
        return out
    if "stats" in raw:
        raise w.fail(where, f"'stats' applies to meter and histogram, not {kind}")
    if not isinstance(attr, str) or not attr:
        raise w.fail(where, f"a {kind} needs 'attr' (the attribute to read)")
    attribute, dot, subkey = attr.partition(".")
    if dot and not subkey:
        raise w.fail(where, f"attr {attr!r}: nothing after '.' (CompositeData key expected)")
    problem = name_problem(name, MetricKind(kind), base)
    if problem:
        raise w.fail(where, problem)
    help_text = text or f"JMX attribute {attr}"
    return [
        MetricSpec(
            name,
            attribute,
            subkey or None,
            MetricKind(kind),
            unit,
            help=help_text,
            states=tuple(states),
        )
    ]


def _meter_stat(name: str, stat: str, unit: str, text: str) -> MetricSpec:
    """A Yammer Meter's ``Count`` is ``<name>_total`` (in ``unit``, what it counts); its
    rates are the gauge ``<name>_per_second`` with a ``window`` label (1m, 5m, 15m,
    lifetime): one family, the window saying which average it is."""
    attribute, kind, window = METER_STATS[stat]
    what = text or f"JMX meter {name}"
    if window is None:
        return MetricSpec(f"{name}_total", attribute, None, kind, unit, help=f"{what}, since start")
    return MetricSpec(
        f"{name}_per_second",
        attribute,
        None,
        kind,
        f"{unit}_per_second",
        const_labels=(("window", window),),
        help=f"{what}, per second (moving average over the window; lifetime: since start)",
    )


def _histogram_stat(name: str, stat: str, unit: str, text: str) -> MetricSpec:
    """A Yammer Histogram's percentiles are the gauge ``name`` with a ``quantile`` label;
    its ``Count`` the counter ``<stem>_count_total``; its mean, min, max and standard
    deviation ``<stem>_<stat>_<unit>`` (``stem`` being ``name`` without its unit)."""
    attribute, quantile = HISTOGRAM_STATS[stat]
    what = text or f"JMX histogram {name}"
    base = BASE_UNITS.get(unit, (unit, 1.0))[0]
    suffix = f"_{base}"
    stem = name[: -len(suffix)] if name.endswith(suffix) else name
    if quantile is not None:
        return MetricSpec(
            name,
            attribute,
            None,
            MetricKind.GAUGE,
            unit,
            const_labels=(("quantile", quantile),),
            help=f"{what}: quantiles over the recent past (exponentially decaying sample)",
        )
    if stat == "count":
        return MetricSpec(
            f"{stem}_count_total",
            attribute,
            None,
            MetricKind.COUNTER,
            "count",
            help=f"{what}: observations since start",
        )
    full = {"mean": "mean", "min": "minimum", "max": "maximum", "stddev": "standard deviation"}
    tail = suffix if name.endswith(suffix) else ""
    return MetricSpec(
        f"{stem}_{stat}{tail}",
        attribute,
        None,
        MetricKind.GAUGE,
        unit,
        help=f"{what}: {full[stat]} since start",
    )


#: Name parts that give a unit other than the base one (``_ms``), or a JMX stat's own
#: name (``_p99``, ``_rate1m``), which should be a label or a base unit instead.
_FOREIGN_PARTS = re.compile(
    r"_(ms|ns|us|millis|milliseconds|nanoseconds|micros|percent|pct|"
    r"p\d+|rate\d+m|mean_rate)(_|$)"
)


def name_problem(name: str, kind: MetricKind, unit: str) -> str | None:
    """What breaks Prometheus's naming rules in ``name`` (of ``kind``, in base ``unit``):
    counters and only counters end in ``_total``; seconds, bytes and ratios are the last
    word (before ``_total``); rates end in ``_per_second``; no other unit in the name.
    None when it is fine. ``api/metrics`` and the ``/metrics`` test use the same rules."""
    core = name[: -len("_total")] if name.endswith("_total") else name
    if kind is MetricKind.COUNTER and not name.endswith("_total"):
        return f"a counter's name ends in _total: '{name}_total'"
    if kind is not MetricKind.COUNTER and name.endswith("_total"):
        return f"only counters end in _total; '{name}' is a {kind.value}"
    bad = _FOREIGN_PARTS.search(name)
    if bad:
        return (
            f"'{bad.group(1)}' in '{name}' is not a base unit: name it in {unit} "
            "(a stat is a label: quantile, window)"
        )
    if unit in SUFFIX_UNITS and not core.endswith(f"_{unit}"):
        return f"a metric in {unit} ends in _{unit} (before _total): rename '{name}'"
    if unit.endswith("_per_second") and not core.endswith("_per_second"):
        return f"a rate ends in _per_second: rename '{name}'"
    return None


def _parse_bean(raw: Any, index: int, w: _Where) -> BeanSpec:
    where = f"bean {index}"
    if not isinstance(raw, Mapping):
        raise w.fail(where, "each entry of 'beans' must be a mapping with 'bean'")
    if "bean" not in raw:
        raise w.fail(where, "'bean' (the ObjectName pattern) is missing")
    text = raw["bean"]
    where = f"bean {index} ({text})"
    try:
        pattern = ObjectNamePattern.parse(str(text))
    except ValueError as e:
        raise w.fail(where, str(e)) from None
    inline = {k: v for k, v in raw.items() if k in METRIC_KEYS}
    w.check_keys(raw, (*BEAN_KEYS, *METRIC_KEYS), where)
    if inline and "metrics" in raw:
        raise w.fail(where, "give either one inline metric or a 'metrics' list, not both")
    lines: list[Any] = [inline] if inline else raw.get("metrics") or []
    if not isinstance(lines, list) or not lines:
        raise w.fail(where, "no metrics: add 'metric/kind/unit' inline or a 'metrics' list")
    metrics: list[MetricSpec] = []
    for j, line in enumerate(lines, 1):
        if not isinstance(line, Mapping):
            raise w.fail(f"{where}, metric {j}", "must be a mapping with metric, kind, unit")
        metrics.extend(_expand_metric(line, w, f"{where}, metric {j}"))
    seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
    for m in metrics:
        if (m.name, m.const_labels) in seen:
            raise w.fail(where, f"metric '{m.name}' is defined twice for this bean")
        seen.add((m.name, m.const_labels))
    labels = raw.get("labels")
    label_pairs: tuple[tuple[str, str], ...] | None = None
    if labels is not None:
        if not isinstance(labels, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
        ):
            raise w.fail(where, "labels must map label names to ObjectName keys")
        known = {k.key for k in pattern.keys}
        for label, key in labels.items():
            if not METRIC_NAME.match(label):
                raise w.fail(where, f"label name '{label}' must match [a-z_][a-z0-9_]*")
            if key not in known and not pattern.open:
                raise w.fail(
                    where,
                    f"label '{label}' takes key '{key}', which this pattern "
                    f"never has (keys: {', '.join(sorted(known))})",
                )
        label_pairs = tuple(labels.items())
    skip = raw.get("skip_legacy_topic_names", False)
    if not isinstance(skip, bool):
        raise w.fail(where, "skip_legacy_topic_names must be true or false")
    return BeanSpec(pattern, tuple(metrics), label_pairs, skip, f"{w.path}, bean {index}")


def parse_set(data: Any, path: str) -> CatalogSet:
    """Validate one parsed YAML document as a catalog set. ``path`` names it in errors."""
    w = _Where(path)
    if not isinstance(data, Mapping):
        raise w.fail("top level", "expected a mapping with set, role, detect and beans")
    w.check_keys(data, SET_KEYS, "top level")
    for key in ("set", "role", "detect", "beans"):
        if key not in data:
            raise w.fail("top level", f"'{key}' is missing")
    stem = Path(path).stem
    if data["set"] != stem:
        raise w.fail("top level", f"set '{data['set']}' must equal the file name '{stem}'")
    try:
        detect = ObjectNamePattern.parse(str(data["detect"]))
    except ValueError as e:
        raise w.fail("detect", str(e)) from None
    opt_in = data.get("opt_in", False)
    if not isinstance(opt_in, bool):
        raise w.fail("opt_in", "must be true or false")
    client_key = data.get("client_key")
    if client_key is not None and client_key not in {k.key for k in detect.keys}:
        raise w.fail("client_key", f"'{client_key}' must be a key of the detect pattern")
    beans_raw = data["beans"]
    if not isinstance(beans_raw, list) or not beans_raw:
        raise w.fail("beans", "must be a non-empty list")
    beans = _merge_same_patterns([_parse_bean(b, i, w) for i, b in enumerate(beans_raw, 1)], w)
    return CatalogSet(
        name=str(data["set"]),
        role=str(data["role"]),
        detect=detect,
        opt_in=opt_in,
        client_key=client_key,
        beans=tuple(beans),
        path=path,
    )


def _merge_same_patterns(beans: list[BeanSpec], w: _Where) -> list[BeanSpec]:
    """One-line entries for the same bean become one spec, so the MBean is read once."""
    merged: dict[str, BeanSpec] = {}
    for b in beans:
        prev = merged.get(b.pattern.text)
        if prev is None:
            merged[b.pattern.text] = b
            continue
        if (prev.labels, prev.skip_legacy_topic_names) != (b.labels, b.skip_legacy_topic_names):
            raise w.fail(
                b.source.split(", ", 1)[1],
                f"same bean as {prev.source} but with different labels or options; give them once",
            )
        names = {(m.name, m.const_labels) for m in prev.metrics}
        dup = [m.name for m in b.metrics if (m.name, m.const_labels) in names]
        if dup:
            raise w.fail(
                b.source.split(", ", 1)[1],
                f"metric '{dup[0]}' is already read from this bean in {prev.source}",
            )
        merged[b.pattern.text] = BeanSpec(
            prev.pattern,
            prev.metrics + b.metrics,
            prev.labels,
            prev.skip_legacy_topic_names,
            prev.source,
        )
    return list(merged.values())


def load_set(path: Path) -> CatalogSet:
    """Read and validate one catalog file."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as e:
        raise ConfigError(f"catalog {path}: cannot read it ({e.strerror})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"catalog {path}: not valid YAML{at}: {e}") from None
    return parse_set(data, path.name)


def check_catalog(sets: Sequence[CatalogSet]) -> Catalog:
    """Cross-file rules: set names unique, and one metric name means one kind and unit
    everywhere (the store and Prometheus key series by name)."""
    seen_sets: dict[str, str] = {}
    defined: dict[str, tuple[MetricSpec, str]] = {}
    for s in sets:
        if s.name in seen_sets:
            raise ConfigError(
                f"catalog {s.path}: set '{s.name}' is also defined in {seen_sets[s.name]}"
            )
        seen_sets[s.name] = s.path
        for bean, m in s.metrics():
            prev = defined.get(m.name)
            if prev is None:
                defined[m.name] = (m, bean.source)
            elif (prev[0].kind, prev[0].unit) != (m.kind, m.unit):
                raise ConfigError(
                    f"catalog {bean.source}: metric '{m.name}' is {m.kind.value} in {m.unit} "
                    f"but {prev[0].kind.value} in {prev[0].unit} in {prev[1]}; use one "
                    "kind and unit per name"
                )
    return Catalog(tuple(sets))


def load_catalog(directory: Path | None = None) -> Catalog:
    """Every ``*.yaml`` in ``directory`` (default: the catalog shipped with kafkascope)."""
    directory = directory or CATALOG_DIR
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ConfigError(f"catalog directory {directory} has no *.yaml files")
    return check_catalog([load_set(p) for p in paths])


@functools.cache
def default_catalog() -> Catalog:
    """The shipped catalog, loaded and validated once per process."""
    return load_catalog()

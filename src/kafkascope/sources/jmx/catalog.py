"""The declarative metric catalog: which MBeans to read and what each attribute means.

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
         metric: kafka_broker_leaders, kind: gauge, unit: partitions}
      # ... or one bean with one line per attribute (Kafka-metrics style)
      - bean: "kafka.consumer:type=consumer-metrics,client-id=*"
        metrics:
          - {attr: last-poll-seconds-ago, metric: kafka_consumer_last_poll_seconds_ago,
             kind: gauge, unit: seconds}

Bean keys: ``bean`` (an ObjectName pattern), ``labels`` (label name → ObjectName key;
default: every key the pattern does not pin to one literal value, snake_cased, so
``client-id=*`` gives ``client_id``), ``skip_legacy_topic_names`` (drop the deprecated
copies Kafka clients register with dots in the topic replaced by ``_``), ``metrics``.

Metric keys: ``metric`` (``[a-z_][a-z0-9_]*``), ``kind``, ``unit``, ``attr`` and ``stats``.
Kinds and what they read:

- ``gauge``: ``attr`` (default ``Value``), read as is.
- ``counter``: ``attr`` (default ``Count``), monotonic; rules use its deltas.
- ``meter`` (Yammer Meter): ``stats`` (default ``[count, rate1m]``) give ``<metric>_total``
  from ``Count`` (in ``unit``, what it counts) and ``<metric>_rate1m`` from
  ``OneMinuteRate`` (in ``<unit>_per_second``; also rate5m, rate15m, mean_rate). A meter
  that is really a ratio (RequestHandlerAvgIdlePercent) is a ``gauge`` with
  ``attr: OneMinuteRate``.
- ``histogram`` (Yammer Histogram or Timer): ``stats`` (default ``[count, mean, p99]``) give
  ``<metric>_count`` (observations, unit ``count``), ``<metric>_mean``, ``<metric>_p99``
  (in ``unit``; also min, max, stddev, p50, p75, p95, p98, p999).
- ``state``: a string attribute (raft ``current-state``): value 1, the string in label
  ``state``.

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
from dataclasses import dataclass
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

# stat name → (attribute, metric-name suffix, sample kind)
METER_STATS: dict[str, tuple[str, str, MetricKind]] = {
    "count": ("Count", "_total", MetricKind.COUNTER),
    "rate1m": ("OneMinuteRate", "_rate1m", MetricKind.GAUGE),
    "rate5m": ("FiveMinuteRate", "_rate5m", MetricKind.GAUGE),
    "rate15m": ("FifteenMinuteRate", "_rate15m", MetricKind.GAUGE),
    "mean_rate": ("MeanRate", "_mean_rate", MetricKind.GAUGE),
}
HISTOGRAM_STATS: dict[str, tuple[str, str, MetricKind]] = {
    "count": ("Count", "_count", MetricKind.COUNTER),
    "mean": ("Mean", "_mean", MetricKind.GAUGE),
    "min": ("Min", "_min", MetricKind.GAUGE),
    "max": ("Max", "_max", MetricKind.GAUGE),
    "stddev": ("StdDev", "_stddev", MetricKind.GAUGE),
    "p50": ("50thPercentile", "_p50", MetricKind.GAUGE),
    "p75": ("75thPercentile", "_p75", MetricKind.GAUGE),
    "p95": ("95thPercentile", "_p95", MetricKind.GAUGE),
    "p98": ("98thPercentile", "_p98", MetricKind.GAUGE),
    "p99": ("99thPercentile", "_p99", MetricKind.GAUGE),
    "p999": ("999thPercentile", "_p999", MetricKind.GAUGE),
}
DEFAULT_STATS = {"meter": ("count", "rate1m"), "histogram": ("count", "mean", "p99")}
DEFAULT_ATTR = {"gauge": "Value", "counter": "Count"}

SET_KEYS = ("set", "role", "detect", "opt_in", "client_key", "beans")
BEAN_KEYS = ("bean", "labels", "skip_legacy_topic_names", "metrics")
METRIC_KEYS = ("metric", "attr", "kind", "unit", "stats")
METRIC_NAME = re.compile(r"[a-z_][a-z0-9_]*\Z")


# --------------------------------------------------------------------------- specs


@dataclass(frozen=True)
class MetricSpec:
    """One sample-producing read: ``attribute`` (and CompositeData ``subkey``) → ``name``."""

    name: str
    attribute: str
    subkey: str | None
    kind: MetricKind
    unit: str


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
                if raw is None:
                    continue
                labels = labels_of(base | {"state": str(raw)})
                out.append(Sample(m.name, 1.0, labels, target, timestamp, m.kind, m.unit))
                continue
            value = as_number(raw)
            if value is not None:
                labels = labels_of(base)
                out.append(Sample(m.name, value, labels, target, timestamp, m.kind, m.unit))
        return out


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
    attr = raw.get("attr", DEFAULT_ATTR.get(kind))
    if kind in ("meter", "histogram"):
        if "attr" in raw:
            raise w.fail(
                where,
                f"a {kind} reads 'stats', not 'attr'; for one attribute use "
                "kind gauge or counter with attr",
            )
        table = METER_STATS if kind == "meter" else HISTOGRAM_STATS
        stats = raw.get("stats", DEFAULT_STATS[kind])
        if not isinstance(stats, list | tuple) or not stats:
            raise w.fail(where, "stats must be a non-empty list")
        out = []
        for stat in stats:
            if stat not in table:
                raise w.fail(where, f"stat {stat!r} is not one of {', '.join(table)}")
            attribute, suffix, sample_kind = table[stat]
            out.append(
                MetricSpec(
                    name + suffix, attribute, None, sample_kind, _stat_unit(kind, stat, unit)
                )
            )
        return out
    if "stats" in raw:
        raise w.fail(where, f"'stats' applies to meter and histogram, not {kind}")
    if not isinstance(attr, str) or not attr:
        raise w.fail(where, f"a {kind} needs 'attr' (the attribute to read)")
    attribute, dot, subkey = attr.partition(".")
    if dot and not subkey:
        raise w.fail(where, f"attr {attr!r}: nothing after '.' (CompositeData key expected)")
    return [MetricSpec(name, attribute, subkey or None, MetricKind(kind), unit)]


def _stat_unit(kind: str, stat: str, unit: str) -> str:
    """A meter's ``unit`` is what it counts (its rates are that per second); a histogram's
    is what it measures (its ``_count`` counts observations)."""
    if kind == "meter":
        return unit if stat == "count" else f"{unit}_per_second"
    return "count" if stat == "count" else unit


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
    seen: set[str] = set()
    for m in metrics:
        if m.name in seen:
            raise w.fail(where, f"metric '{m.name}' is defined twice for this bean")
        seen.add(m.name)
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
        names = {m.name for m in prev.metrics}
        dup = [m.name for m in b.metrics if m.name in names]
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

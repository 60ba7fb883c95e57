"""The catalog through a Prometheus jmx_exporter: its YAML config, and its scrape mapped back.

jmx_exporter (as a ``-javaagent`` or the standalone ``jmx_prometheus_httpserver``) reads
every attribute of every MBean its ``includeObjectNames`` select and turns each into a
sample through its ``rules``. :func:`exporter_config` writes that config from the catalog:
the catalog's own query patterns as ``includeObjectNames`` (so both read the same MBeans)
and two generic rules that keep the MBean's identity instead of inventing metric names::

    kafkascope_mbean{domain="kafka.log", keys="type=Log, name=Size, topic=t, partition=0",
                     path="", attr="Value"} 1234.0
    kafkascope_mbean_state{..., attr="current-state", state="leader"} 1.0

``keys`` is the exporter's key property list (registration order, quoted values as
quoted), ``path`` the CompositeData attribute a value came from (``HeapMemoryUsage`` for
``attr="used"``). :class:`PrometheusReader` scrapes, parses with prometheus_client's text
parser, rebuilds each MBean and maps it with :func:`reader.bulk_samples`, the same
catalog → sample mapping as the JMX reader — same names, labels and kinds.

jmx_exporter facts this relies on (1.0.1): a rule's input is
``domain<k1=v1, k2=v2><composite path>attribute: value``; the first matching rule wins; a
string value becomes a sample only through a rule with a fixed ``value`` (hence the state
rules, placed first); NaN is exported as ``NaN`` (dropped here, as JMX drops it); it has no
per-attribute include list, so it reads every attribute of each included MBean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import httpx
import yaml
from prometheus_client.parser import text_string_to_metric_families

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.model import MetricKind, Sample
from kafkascope.sources.jmx.catalog import Catalog, CatalogSet, default_catalog
from kafkascope.sources.jmx.connection import Value
from kafkascope.sources.jmx.jolokia import select_sets
from kafkascope.sources.jmx.object_name import parse_object_name
from kafkascope.sources.jmx.reader import BeanValues, bulk_samples

FAMILY = "kafkascope_mbean"
STATE_FAMILY = "kafkascope_mbean_state"
IDENTITY = {"domain": "$1", "keys": "$2", "path": "$3", "attr": "$4"}
# The rule input: domain<keys><composite path>attribute: value. Keys are greedy up to the
# last "><" (a path never holds one); an attribute name holds no ':'.
GENERIC_PATTERN = r"^([^<]*)<(.*)><(.*)>([^:]*): (.*)$"


def _java_quote(text: str) -> str:
    """A literal for a Java regex: every character that is not a letter or digit
    escaped (Java allows a backslash before any non-alphabetic character)."""
    return "".join(c if c.isalnum() else "\\" + c for c in text)


def exporter_config(
    catalog: Catalog | None = None,
    sets: Sequence[str] | None = None,
    *,
    opt_in: Sequence[str] = (),
    host_port: str | None = None,
) -> str:
    """The jmx_exporter YAML for the catalog sets (default: every set that is not opt-in,
    plus ``opt_in``). ``host_port`` (``host:port`` of the JVM's JMX) is for the standalone
    exporter; the java agent reads its own JVM and must not have it."""
    chosen = select_sets(catalog or default_catalog(), sets, opt_in)
    include: dict[str, None] = {}
    states: dict[tuple[str, str], None] = {}
    for s in chosen:
        for spec in s.beans:
            include.update(dict.fromkeys(spec.query_patterns()))
            for m in spec.metrics:
                if m.kind is MetricKind.STATE:
                    states[(spec.pattern.domain, m.attribute)] = None
    rules: list[dict[str, Any]] = [
        {
            "pattern": f"^({_java_quote(domain)})<(.*)><(.*)>({_java_quote(attr)}): (.*)$",
            "name": STATE_FAMILY,
            "value": 1,
            "labels": {**IDENTITY, "state": "$5"},
        }
        for domain, attr in states
    ]
    rules.append({"pattern": GENERIC_PATTERN, "name": FAMILY, "labels": IDENTITY})
    config: dict[str, Any] = {}
    if host_port is not None:
        config["hostPort"] = host_port
    config["lowercaseOutputName"] = False
    config["lowercaseOutputLabelNames"] = False
    config["includeObjectNames"] = list(include)
    config["rules"] = rules
    header = (
        "# Written by kafkascope.sources.jmx.prometheus.exporter_config from the catalog sets "
        f"{', '.join(s.name for s in chosen)}.\n"
        "# kafkascope's PrometheusReader maps these samples back to catalog metrics.\n"
    )
    return header + yaml.safe_dump(config, sort_keys=False, width=1000)


def split_keys(text: str) -> list[str]:
    """The exporter's ``k1=v1, k2="a, b"`` → ``['k1=v1', 'k2="a, b"']`` (quote-aware)."""
    parts: list[str] = []
    cur: list[str] = []
    quoted = escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    parts.append("".join(cur).strip())
    return [p for p in parts if p]


class PrometheusReader:
    """Scrapes one jmx_exporter running :func:`exporter_config`'s config and maps its
    samples to the catalog sets (default: every set that is not opt-in, plus ``opt_in``).

    ``url``: the exporter's metrics URL (``http://host:port/metrics``; ``host:port`` means
    that); ``timeout`` bounds the scrape; ``auth`` is (user, password) for an exporter with
    basic auth; ``target`` names the samples (default ``host:port``)."""

    def __init__(
        self,
        url: str,
        catalog: Catalog | None = None,
        *,
        sets: Sequence[str] | None = None,
        opt_in: Sequence[str] = (),
        timeout: float = 10.0,
        auth: tuple[str, str] | None = None,
        target: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.url = metrics_url(url)
        parsed = httpx.URL(self.url)
        self.target = target or f"{parsed.host}:{parsed.port or 80}"
        self.catalog = catalog or default_catalog()
        self.sets: tuple[CatalogSet, ...] = select_sets(self.catalog, sets, opt_in)
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self._client = httpx.Client(
            timeout=timeout,
            auth=httpx.BasicAuth(*auth) if auth is not None else None,
            follow_redirects=False,
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def scrape(self) -> str:
        """The exposition text of one scrape (what the benchmark times on its own)."""
        try:
            response = self._client.get(self.url)
        except httpx.TimeoutException:
            raise Timeout(
                self.target,
                f"jmx_exporter at {self.url} did not answer within {self.timeout:g} s "
                "(a scrape of many MBeans can be slow: raise the timeout or narrow the sets)",
            ) from None
        except httpx.ConnectError as e:
            raise Unreachable(
                self.target,
                f"cannot connect to jmx_exporter at {self.url} ({e}); is the exporter "
                "running (-javaagent:jmx_prometheus_javaagent.jar=HOST:PORT:CONFIG)?",
            ) from None
        except httpx.HTTPError as e:
            raise Unreachable(self.target, f"HTTP to {self.url} failed: {e!r}") from None
        if response.status_code in (401, 403):
            raise AuthFailed(
                self.target,
                f"jmx_exporter at {self.url} rejected the credentials "
                f"(HTTP {response.status_code}); check the user and password",
            )
        if response.status_code != 200:
            raise SourceError(
                self.target,
                f"{self.url} answered HTTP {response.status_code}; expected the exporter's "
                "metrics (is the path right? jmx_exporter serves /metrics)",
            )
        return response.text

    def read(self) -> list[Sample]:
        """One scrape mapped to catalog samples. Raises ``Unreachable``, ``Timeout``,
        ``AuthFailed``, or ``SourceError`` when the endpoint is not a jmx_exporter with
        kafkascope's config or the exporter could not read its JVM."""
        return self.samples(self.scrape())

    def read_beans(self) -> list[BeanValues]:
        """One scrape, before the catalog mapping: every MBean with its values (what
        :class:`~kafkascope.sources.jmx.bulk.BulkTargetReader` also detects roles from).
        Raises as :meth:`read`."""
        return self.beans(self.scrape())

    def samples(self, text: str) -> list[Sample]:
        """Exposition text → catalog samples."""
        return bulk_samples(self.sets, self.beans(text), self.target, self.clock.now())

    def beans(self, text: str) -> list[BeanValues]:
        """Exposition text → the MBeans it holds, with their values."""
        beans: dict[tuple[str, str], dict[str, Value]] = {}
        keys_of: dict[tuple[str, str], dict[str, str]] = {}
        scrape_error: float | None = None
        ours = False
        try:
            families = list(text_string_to_metric_families(text))
        except ValueError as e:
            raise SourceError(
                self.target,
                f"{self.url} is not a Prometheus exporter: its answer is not the text "
                f"exposition format ({e}; it starts {text[:60]!r})",
            ) from None
        for family in families:
            if family.name == "jmx_scrape_error":
                scrape_error = max((s.value for s in family.samples), default=0.0)
            if family.name not in (FAMILY, STATE_FAMILY):
                continue
            ours = True
            for sample in family.samples:
                labels = sample.labels
                domain, raw_keys = labels.get("domain", ""), labels.get("keys", "")
                ident = (domain, raw_keys)
                if ident not in keys_of:
                    try:
                        _, keys = parse_object_name(f"{domain}:{','.join(split_keys(raw_keys))}")
                    except ValueError:
                        continue  # not a name the catalog could select
                    keys_of[ident] = keys
                values = beans.setdefault(ident, {})
                attr, path = labels.get("attr", ""), labels.get("path", "")
                value: Value
                if family.name == STATE_FAMILY:
                    value = labels.get("state")
                elif math.isfinite(sample.value):
                    value = sample.value
                else:
                    continue  # NaN: no sample, as from JMX
                if path:
                    composite = values.setdefault(path, {})
                    if isinstance(composite, dict):
                        composite[attr] = value
                else:
                    values[attr] = value
        if scrape_error:
            raise SourceError(
                self.target,
                f"jmx_exporter at {self.url} could not read its JVM (jmx_scrape_error "
                f"{scrape_error:g}); for the standalone exporter check its hostPort",
            )
        if not ours:
            raise SourceError(
                self.target,
                f"{self.url} exports no {FAMILY} samples: it is not a jmx_exporter running "
                "kafkascope's config (write one with 'exporter_config')",
            )
        return [BeanValues(d, keys_of[(d, k)], v) for (d, k), v in beans.items()]


def metrics_url(text: str) -> str:
    """``host:port`` or a URL → the metrics URL (``/metrics`` when no path is given)."""
    raw = text.strip()
    if "://" not in raw:
        raw = f"http://{raw}"
    try:
        url: httpx.URL | None = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise SourceError(text, "not an exporter URL; expected e.g. http://127.0.0.1:9404/metrics")
    if url.path in ("", "/"):
        url = url.copy_with(path="/metrics")
    return str(url)

"""The catalog through a Jolokia agent: every bean of the chosen sets in one HTTP POST.

Jolokia (``-javaagent:jolokia-agent-jvm-javaagent.jar=port=P,host=H``) answers a *bulk*
request — a JSON list of requests — in one round trip, and a ``read`` request may name an
ObjectName pattern (``client-id=*``, ``,*``) and a list of attributes. So where JMX over
RMI needs one ``getAttributes`` per MBean, this reader sends one POST holding one read
request per catalog query pattern, plus a ``version`` request that proves the endpoint
is Jolokia. The answer is mapped by :func:`reader.bulk_samples`, the same catalog →
sample mapping the JMX reader uses, so both give the same names, labels and kinds.

Jolokia facts this relies on (agent 2.4.2, checked on a Kafka 4.3.1 broker):

- A pattern read answers ``{canonical name: {attribute: value}}``; a read of one exact
  name answers ``{attribute: value}``; no match is a per-request 404, not an error of the
  bulk (an absent MBean simply gives no sample, as with JMX).
- ``ignoreErrors`` turns an attribute that cannot be read into an error object in place of
  its value (JMX ``getAttributes`` leaves it out); neither gives a sample.
- Up to 2.4.2 a ``NaN`` or infinite double fails the **whole** request with HTTP 400
  ``NumberFormatException`` (jolokia/jolokia#934, fixed after 2.4.2), and Kafka reports
  NaN for every average with no events yet. Such a request is retried finer: a pattern is
  listed with ``search``, then each (MBean, attribute) is read alone, so only the NaN
  values are lost — which JMX drops too (``BeanSpec.to_samples``). That costs at most
  two more POSTs, and only while some value is NaN.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.model import Sample
from kafkascope.sources.jmx.catalog import Catalog, CatalogSet, default_catalog
from kafkascope.sources.jmx.connection import Value
from kafkascope.sources.jmx.object_name import parse_object_name
from kafkascope.sources.jmx.reader import BeanValues, bulk_samples

DEFAULT_PATH = "/jolokia/"

# Processing options sent with every read (Jolokia's "config" of a request).
READ_CONFIG = {"ignoreErrors": True, "canonicalNaming": True}


def select_sets(
    catalog: Catalog, sets: Sequence[str] | None, opt_in: Sequence[str]
) -> tuple[CatalogSet, ...]:
    """The sets a bulk source reads: ``sets`` when given, else every set that is not
    opt-in plus the opt-in ones named (a set whose MBeans are absent just gives nothing)."""
    if sets is not None:
        return catalog.select(sets)
    chosen = [s for s in catalog.sets if not s.opt_in]
    chosen.extend(s for s in catalog.select(opt_in) if s not in chosen)
    return tuple(chosen)


def jolokia_url(text: str) -> str:
    """``host:port`` or a URL → the agent URL with a trailing slash (the agent's default
    context ``/jolokia/`` when the URL has no path)."""
    raw = text.strip()
    if "://" not in raw:
        raw = f"http://{raw}"
    try:
        url: httpx.URL | None = httpx.URL(raw)
    except (httpx.InvalidURL, TypeError, ValueError):
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise SourceError(text, "not a Jolokia URL; expected e.g. http://127.0.0.1:8778/jolokia/")
    path = url.path if url.path not in ("", "/") else DEFAULT_PATH
    return str(url.copy_with(path=path.rstrip("/") + "/"))


def is_pattern(name: str) -> bool:
    """Whether an ObjectName string is a pattern (``ObjectName.isPattern``): a trailing
    ``,*`` or a ``*``/``?`` in an unquoted value. Jolokia answers the two differently."""
    props = name.partition(":")[2]
    quoted = False
    escaped = False
    for i, ch in enumerate(props):
        if escaped:
            escaped = False
        elif quoted and ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and (ch in "*?" or (ch == "," and props[i + 1 : i + 2] == "*")):
            return True
    return False


@dataclass(frozen=True)
class _Read:
    """One read request of the bulk: an ObjectName (or pattern) and the attributes."""

    mbean: str
    attributes: tuple[str, ...]

    def body(self) -> dict[str, Any]:
        return {
            "type": "read",
            "mbean": self.mbean,
            "attribute": list(self.attributes),
            "config": READ_CONFIG,
        }


def _nan_failure(response: Mapping[str, Any]) -> bool:
    """The whole request failed because a value was NaN or infinite (jolokia#934)."""
    return "NumberFormatException" in f"{response.get('error_type')} {response.get('error')}"


class JolokiaReader:
    """Reads the catalog sets from one Jolokia agent. Not thread-safe: one read at a time.

    ``url``: ``http://host:port/jolokia/`` (or ``host:port``); ``sets`` pins the catalog
    sets (default: every set that is not opt-in, plus ``opt_in``); ``timeout`` bounds
    each HTTP exchange; ``auth`` is (user, password) for an agent started with
    ``user=…,password=…``; ``target`` names the samples (default ``host:port``)."""

    def __init__(
        self,
        url: str,
        catalog: Catalog | None = None,
        *,
        sets: Sequence[str] | None = None,
        opt_in: Sequence[str] = (),
        timeout: float = 5.0,
        auth: tuple[str, str] | None = None,
        target: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.url = jolokia_url(url)
        parsed = httpx.URL(self.url)
        self.target = target or f"{parsed.host}:{parsed.port or 80}"
        self.catalog = catalog or default_catalog()
        self.sets = select_sets(self.catalog, sets, opt_in)
        self.timeout = timeout
        self.clock = clock or SystemClock()
        self.agent_version: str | None = None
        self.posts = 0  # HTTP requests made by the last read (1 unless a value was NaN)
        self._reads = self._plan(self.sets)
        self._client = httpx.Client(
            timeout=timeout,
            auth=httpx.BasicAuth(*auth) if auth is not None else None,
            follow_redirects=False,
            headers={"Content-Type": "application/json"},
        )

    @staticmethod
    def _plan(sets: Sequence[CatalogSet]) -> tuple[_Read, ...]:
        """One read per query pattern, with the union of the attributes its specs want."""
        wanted: dict[str, dict[str, None]] = {}
        for s in sets:
            for spec in s.beans:
                for pattern in spec.query_patterns():
                    wanted.setdefault(pattern, {}).update(dict.fromkeys(spec.attributes()))
        return tuple(_Read(p, tuple(attrs)) for p, attrs in wanted.items())

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> JolokiaReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self) -> list[Sample]:
        """One collection: the samples of every MBean the sets select. Raises
        ``Unreachable``, ``Timeout``, ``AuthFailed``, or ``SourceError`` when the endpoint
        is not a Jolokia agent or refuses a read."""
        return bulk_samples(self.sets, self.read_beans(), self.target, self.clock.now())

    def read_beans(self) -> list[BeanValues]:
        """One collection, before the catalog mapping: every MBean read with its values
        (what :class:`~kafkascope.sources.jmx.bulk.BulkTargetReader` also detects roles
        from). Raises as :meth:`read`."""
        self.posts = 0
        answers = self._post([{"type": "version"}, *(r.body() for r in self._reads)])
        self._check_version(answers[0])
        beans: dict[str, BeanValues] = {}
        retry: list[_Read] = []
        for read, answer in zip(self._reads, answers[1:], strict=True):
            if self._usable(read, answer):
                self._collect(read, answer["value"], beans)
            elif _nan_failure(answer):
                retry.append(read)
        if retry:
            self._read_finer(retry, beans)
        return list(beans.values())

    # -- the NaN work-around ---------------------------------------------------------------

    def _read_finer(self, failed: list[_Read], beans: dict[str, BeanValues]) -> None:
        """Re-read requests that failed on a NaN one (MBean, attribute) at a time; the
        patterns among them are listed first with ``search``."""
        patterns = [r for r in failed if is_pattern(r.mbean)]
        singles = [
            _Read(r.mbean, (attr,))
            for r in failed
            if not is_pattern(r.mbean)
            for attr in r.attributes
        ]
        if patterns:
            found = self._post([{"type": "search", "mbean": r.mbean} for r in patterns])
            for read, answer in zip(patterns, found, strict=True):
                if answer.get("status") == 200 and isinstance(answer.get("value"), list):
                    singles.extend(
                        _Read(str(name), (attr,))
                        for name in answer["value"]
                        for attr in read.attributes
                    )
        if not singles:
            return
        answers = self._post([r.body() for r in singles])
        for read, answer in zip(singles, answers, strict=True):
            if self._usable(read, answer, nan_ok=True):
                self._collect(read, answer["value"], beans)

    # -- answers ---------------------------------------------------------------------------

    def _usable(self, read: _Read, answer: Mapping[str, Any], *, nan_ok: bool = False) -> bool:
        """True for a 200 with a value; False for "no such MBean" or a NaN failure (a
        retry or a lost NaN); any other refusal is raised, naming the MBean."""
        status = answer.get("status")
        if status == 200 and "value" in answer:
            return True
        if status == 404 or _nan_failure(answer):
            return False
        if status in (401, 403):
            raise AuthFailed(
                self.target,
                f"the Jolokia agent refused to read {read.mbean} (HTTP {status}): its access "
                f"policy forbids it; allow it in the agent's policy or drop it from the sets",
            )
        raise SourceError(
            self.target,
            f"Jolokia could not read {read.mbean}: {answer.get('error') or answer!r}",
        )

    def _collect(self, read: _Read, value: Any, beans: dict[str, BeanValues]) -> None:
        if not isinstance(value, Mapping):
            return
        # A pattern answers {name: {attribute: value}}, an exact name {attribute: value}.
        items = value.items() if is_pattern(read.mbean) else [(read.mbean, value)]
        for name, attrs in items:
            if not isinstance(attrs, Mapping):
                continue
            try:
                domain, keys = parse_object_name(name)
            except ValueError:
                continue  # not a name we could have asked for
            canonical = f"{domain}:{','.join(f'{k}={v}' for k, v in sorted(keys.items()))}"
            values: dict[str, Value] = {
                str(a): _value(v) for a, v in attrs.items() if not _is_error(v)
            }
            prev = beans.get(canonical)
            if prev is not None:
                values = {**prev.values, **values}
            beans[canonical] = BeanValues(domain, keys, values)

    def _check_version(self, answer: Mapping[str, Any]) -> None:
        value = answer.get("value")
        if answer.get("status") != 200 or not isinstance(value, Mapping) or "agent" not in value:
            raise SourceError(
                self.target,
                f"{self.url} answered JSON but not as a Jolokia agent "
                f"(its version request returned {str(answer)[:200]!r})",
            )
        self.agent_version = str(value["agent"])

    # -- HTTP ------------------------------------------------------------------------------

    def _post(self, requests: list[dict[str, Any]]) -> list[Mapping[str, Any]]:
        """One bulk POST; the answers in request order. Every failure names the URL and
        what to check."""
        self.posts += 1
        try:
            response = self._client.post(self.url, content=json.dumps(requests))
        except httpx.TimeoutException:
            raise Timeout(
                self.target,
                f"Jolokia at {self.url} did not answer within {self.timeout:g} s "
                "(is the JVM frozen or overloaded?)",
            ) from None
        except httpx.ConnectError as e:
            raise Unreachable(
                self.target,
                f"cannot connect to Jolokia at {self.url} ({e}); is the JVM running with "
                "-javaagent:jolokia-agent-jvm-javaagent.jar=port=P,host=H?",
            ) from None
        except httpx.HTTPError as e:
            raise Unreachable(self.target, f"HTTP to {self.url} failed: {e!r}") from None
        if response.status_code in (401, 403):
            raise AuthFailed(
                self.target,
                f"Jolokia at {self.url} rejected the credentials (HTTP "
                f"{response.status_code}); check the user and password given to the agent",
            )
        if response.status_code != 200:
            raise SourceError(
                self.target,
                f"{self.url} answered HTTP {response.status_code}, not a Jolokia agent's 200 "
                f"(is the path right? the agent's default is {DEFAULT_PATH})",
            )
        try:
            answers = response.json()
        except ValueError:
            raise SourceError(
                self.target,
                f"{self.url} is not a Jolokia agent: it answered "
                f"{response.headers.get('content-type', 'no content type')}, not JSON "
                f"({response.text[:80]!r})",
            ) from None
        if isinstance(answers, Mapping) and "error" in answers:
            raise SourceError(self.target, f"Jolokia refused the bulk request: {answers['error']}")
        if (
            not isinstance(answers, list)
            or len(answers) != len(requests)
            or not all(isinstance(a, Mapping) and "status" in a for a in answers)
        ):
            raise SourceError(
                self.target,
                f"{self.url} is not a Jolokia agent: its answer to a bulk request is not a "
                f"list of {len(requests)} responses ({response.text[:80]!r})",
            )
        return answers


def _is_error(raw: Any) -> bool:
    """An attribute ``ignoreErrors`` replaced by an error object: no value."""
    return isinstance(raw, Mapping) and raw.get(".error") is True


def _value(raw: Any) -> Value:
    """A JSON value as an attribute value: numbers, strings and booleans as they are,
    objects (CompositeData, or an ``ignoreErrors`` error object) as dicts."""
    if raw is None or isinstance(raw, bool | int | float | str):
        return raw
    if isinstance(raw, Mapping):
        return {str(k): _value(v) for k, v in raw.items()}
    return str(raw)

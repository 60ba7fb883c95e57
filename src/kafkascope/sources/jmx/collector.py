"""JMX collection: every target (one JVM) read in parallel, through the catalog.

Per target (:class:`TargetReader`): find what the process is from its domains and a few
``detect`` MBeans (broker, controller, consumer, producer, streams, connect, plain JVM),
list the MBeans of the matching catalog sets once and cache the list (re-listed after
``names_ttl``, after a reconnect, and when an MBean has vanished), then read each MBean
once — ``getAttribute`` for one attribute, else one ``getAttributes`` — in batches of
``BATCH`` MBeans per worker hand-off (:class:`BatchingJmxConnection`; bench/jmx_scrape
has the figures). Never ``*:*``: only the catalog's patterns are queried.
Clients are found with ``client-id=*`` on every cycle (one cheap query per client set), so
a new or closed client changes the plan at once.

Across targets (:class:`JmxCollector`): a small thread pool reads the targets in
parallel; each JMX call is bounded by ``timeout`` and each target by ``budget``, so a
frozen JVM (SIGSTOP) costs its own slot that long and never delays the others. Failures
back off exponentially. The collector keeps freshness: per target the last attempt,
success and error; per client first and last seen — the field notes' "update time",
which the liveness evaluator joins with group membership.
"""

from __future__ import annotations

import concurrent.futures as cf
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.model import Sample
from kafkascope.sources.jmx.catalog import (
    BeanSpec,
    Catalog,
    CatalogSet,
    default_catalog,
    drop_legacy_topic_copies,
    parse_object_name,
    snake_case,
)
from kafkascope.sources.jmx.connection import (
    BeanName,
    JmxConnection,
    JmxEndpoint,
    Value,
    _to_python,
)

T = TypeVar("T")

# Roles with no catalog set of their own, recognised from their domain alone. A Streams
# or Connect JVM also holds consumers and producers, whose sets are collected as usual.
DOMAIN_ROLES = (("streams", "kafka.streams"), ("connect", "kafka.connect"))


class MBeanServer(Protocol):
    """What a reader needs from a connection (``JmxConnection``, or a test fake)."""

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None: ...

    def domains(self) -> list[str]: ...

    def query_names(self, pattern: str) -> list[BeanName]: ...

    def get_attributes(self, name: str, attributes: list[str]) -> dict[str, Value]: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchMBeanServer(Protocol):
    """A connection that can also read many MBeans in one bounded call (the default
    :class:`BatchingJmxConnection`). Readers use it when it is there; fakes and wrappers
    that only have ``get_attributes`` are read one MBean at a time."""

    def get_attributes_many(
        self, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]: ...


class _Java(NamedTuple):
    """The Java classes a batch needs, looked up once (each lookup costs a JNI call)."""

    object_name: Any
    string_array: Any
    not_found: Any
    attribute_failed: tuple[Any, Any]


def _java() -> _Java:
    import jpype

    return _Java(
        jpype.JClass("javax.management.ObjectName"),
        jpype.JArray(jpype.JString),
        jpype.JClass("javax.management.InstanceNotFoundException"),
        # Everything else getAttribute throws about the MBean or its attribute (not the
        # link, which is an IOException): the attribute is simply not read.
        (
            jpype.JClass("javax.management.JMException"),
            jpype.JClass("javax.management.JMRuntimeException"),
        ),
    )


def _bean_name(canonical: str) -> BeanName:
    """A canonical ObjectName string → BeanName. Unquoted values hold no ``,=:"`` so
    splitting is exact; a name with a quoted value takes the full parser."""
    if '"' in canonical:
        domain, keys = parse_object_name(canonical)
        return BeanName(canonical, domain, keys)
    domain, _, props = canonical.partition(":")
    pairs = (p.partition("=") for p in props.split(","))
    return BeanName(canonical, domain, {k: v for k, _, v in pairs})


class BatchingJmxConnection(JmxConnection):
    """A :class:`JmxConnection` that reads a batch of MBeans in one worker-thread task.

    Why (measured on a 2,000-partition broker, bench/jmx_scrape): every ``get_attributes``
    hands the call to a worker thread and waits, so the caller's bound holds even if RMI
    hangs. That costs two thread wake-ups per MBean on top of the RMI round trip — more
    than the round trip itself on a loaded machine, and such a broker has 12,000 MBeans to
    read. A batch pays the hand-off once and keeps the bound: the whole batch must answer
    within ``timeout`` (so batches stay small). The Java ``ObjectName`` and attribute
    arrays are built once per name and reused. An MBean read for one attribute (most of
    them: Yammer gauges' ``Value``) is read with ``getAttribute``, which skips the
    ``AttributeList`` on both ends of the link and costs about half the CPU; its errors
    are mapped to what ``getAttributes`` does (a failing attribute is left out).
    ``query_names`` takes each name's canonical string in one call instead of walking its
    key table through JNI. Both retry once on a fresh connection when RMI reused a socket
    the target had closed (see :meth:`_once_more`)."""

    def __init__(self, endpoint: JmxEndpoint, timeout: float = 5.0) -> None:
        super().__init__(endpoint, timeout)
        self._jnames: dict[str, Any] = {}
        self._jattrs: dict[tuple[str, ...], Any] = {}
        self._classes: _Java | None = None

    def _j(self) -> _Java:
        if self._classes is None:
            self._classes = _java()
        return self._classes

    def _once_more(self, call: Callable[[], T]) -> T:
        """RMI reuses a pooled socket without checking it when it was used a moment ago;
        if the target died or restarted meanwhile, the call fails with "Error
        unmarshaling return header" (EOF or reset) and says nothing useful. ``_call`` has
        dropped the connection by then, so one more try connects afresh and either works
        (a restarted JVM) or fails with what is really wrong (connection refused)."""
        try:
            return call()
        except SourceError as e:
            if type(e) is not SourceError or "unmarshaling return header" not in e.detail:
                raise
        return call()

    def query_names(self, pattern: str) -> list[BeanName]:
        def once() -> list[BeanName]:
            mbsc = self._mbs()

            def do() -> list[BeanName]:
                j = self._j()
                return [
                    _bean_name(str(n.getCanonicalName()))
                    for n in mbsc.queryNames(j.object_name(pattern), None)
                ]

            return self._call(do)

        return self._once_more(once)

    def get_attributes_many(
        self, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]:
        """Per (name, attributes): the values read (missing attributes absent), or None
        when the MBean has vanished since it was listed. Any other failure raises."""
        if len(self._jnames) > 200_000:  # names of deleted topics must not pile up forever
            self._jnames.clear()
        return self._once_more(lambda: self._read_many(self._mbs(), reads))

    def _read_many(
        self, mbsc: Any, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]:
        def do() -> list[dict[str, Value] | None]:
            j = self._j()
            get_attribute, get_attributes = mbsc.getAttribute, mbsc.getAttributes
            jnames = self._jnames
            out: list[dict[str, Value] | None] = []
            for name, attributes in reads:
                jname = jnames.get(name)
                if jname is None:
                    jname = jnames[name] = j.object_name(name)
                if len(attributes) == 1:
                    attribute = attributes[0]
                    try:
                        value = get_attribute(jname, attribute)
                    except j.not_found:
                        out.append(None)
                    except j.attribute_failed:
                        out.append({})
                    else:
                        out.append({attribute: _to_python(value)})
                    continue
                key = tuple(attributes)
                jattrs = self._jattrs.get(key)
                if jattrs is None:
                    jattrs = self._jattrs[key] = j.string_array(list(key))
                try:
                    result = get_attributes(jname, jattrs)
                except j.not_found:
                    out.append(None)
                    continue
                out.append({str(a.getName()): _to_python(a.getValue()) for a in result})
            return out

        return self._call(do)


# MBeans per batch: one hand-off each, and small enough that a batch answers well within
# the per-call timeout (a healthy broker answers one getAttributes in ~0.1 ms).
BATCH = 32
# Where batches wait for their answers, so the reader can map one batch while the next
# is read (and, with TargetReader.parallel > 1, send several: RMI runs concurrent calls on
# one connection over parallel sockets). Each batch is bounded by the connection's
# timeout; with JmxCollector's 8 workers and parallel=1 at most 8 are busy.
_batch_pool = cf.ThreadPoolExecutor(max_workers=16, thread_name_prefix="jmx-batch")


def role_name(roles: Iterable[str]) -> str:
    """One word for what a process is: ``broker+controller`` for a combined KRaft node,
    ``streams``/``connect`` before the clients they embed, ``jvm`` when nothing else."""
    found = set(roles)
    server = [r for r in ("broker", "controller") if r in found]
    if server:
        return "+".join(server)
    for r in ("streams", "connect"):
        if r in found:
            return r
    clients = [r for r in ("consumer", "producer") if r in found]
    return "+".join(clients) if clients else "jvm"


@dataclass(frozen=True)
class Identity:
    """What one target is, as found from its MBeans."""

    target: str
    domains: tuple[str, ...]
    roles: tuple[str, ...]  # e.g. ("broker", "controller"); never "jvm"
    sets: tuple[str, ...]  # catalog sets whose detect MBean exists (opt-in ones included)
    clients: tuple[tuple[str, str], ...]  # (role, client id), from client-id=*

    @property
    def role(self) -> str:
        return role_name(self.roles)


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff after consecutive failures: base, 2×base, 4×base … up to cap."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - 1, 30)))


@dataclass(frozen=True)
class _Bean:
    """One MBean to read: its name, keys, the specs that want it, the attributes."""

    name: str
    keys: dict[str, str]
    specs: tuple[BeanSpec, ...]
    attributes: tuple[str, ...]


@dataclass(frozen=True)
class Reading:
    """One successful collection of one target: what it is, and what it said."""

    identity: Identity
    samples: tuple[Sample, ...]
    beans_read: int


def _vanished(e: SourceError) -> bool:
    """The MBean went away between listing and reading (topic deleted, client closed)."""
    return type(e) is SourceError and "InstanceNotFoundException" in e.detail


class BeanValues(NamedTuple):
    """One MBean read in bulk by another source (Jolokia, jmx_exporter): its domain, its
    keys (values unquoted) and the attribute values it returned (CompositeData as dicts)."""

    domain: str
    keys: Mapping[str, str]
    values: Mapping[str, Value]


def bulk_samples(
    sets: Sequence[CatalogSet], beans: Iterable[BeanValues], target: str, timestamp: float
) -> list[Sample]:
    """Samples from MBeans read in bulk, mapped exactly as :class:`TargetReader` maps the
    ones it lists and reads: every bean spec of ``sets`` takes the MBeans it matches (the
    deprecated topic copies dropped where the spec says so) and turns their values into
    samples with :meth:`BeanSpec.to_samples`. So the three sources give the same samples."""
    by_domain: dict[str, list[BeanValues]] = {}
    for bean in beans:
        by_domain.setdefault(bean.domain, []).append(bean)
    out: list[Sample] = []
    for s in sets:
        for spec in s.beans:
            # A plain comparison of the pinned keys first: the glob match is the slow part,
            # and a partition-heavy broker returns thousands of beans per domain.
            pinned = [(k.key, k.alternatives[0]) for k in spec.pattern.keys if k.pinned]
            found = [
                b
                for b in by_domain.get(spec.pattern.domain, ())
                if all(b.keys.get(k) == v for k, v in pinned) and spec.matches(b.domain, b.keys)
            ]
            if spec.skip_legacy_topic_names:
                found = drop_legacy_topic_copies(found, lambda b: b.keys)
            for b in found:
                out.extend(spec.to_samples(b.keys, b.values, target, timestamp))
    return out


class TargetReader:
    """Reads one JVM through the catalog. Not thread-safe: one collection at a time.

    ``sets`` pins the catalog sets to read; by default they are the detected sets minus the
    opt-in ones, plus the opt-in sets named in ``opt_in`` (e.g. ``("partition",)``).
    ``parallel``: batches of one target in flight at once (with a batching connection).
    1, the default, keeps one JMX call in flight per target as before, and still maps a
    batch while the next one is read; more reads a large target over parallel RMI
    sockets, which pays off only with CPU to spare on both ends."""

    def __init__(
        self,
        endpoint: JmxEndpoint,
        catalog: Catalog | None = None,
        *,
        sets: Sequence[str] | None = None,
        opt_in: Sequence[str] = (),
        timeout: float = 5.0,
        budget: float | None = None,
        names_ttl: float = 300.0,
        clock: Clock | None = None,
        connection: MBeanServer | None = None,
        parallel: int = 1,
    ) -> None:
        self.endpoint = endpoint
        self.catalog = catalog or default_catalog()
        if sets is not None:
            self.catalog.select(sets)  # unknown names fail here, naming the known ones
        self.catalog.select(opt_in)
        self.sets = tuple(sets) if sets is not None else None
        self.opt_in = tuple(opt_in)
        self.timeout = timeout
        self.budget = budget if budget is not None else 3 * timeout
        self.names_ttl = names_ttl
        self.clock = clock or SystemClock()
        self.parallel = max(1, parallel)
        self._conn: MBeanServer = connection or BatchingJmxConnection(endpoint, timeout=timeout)
        self._identity: Identity | None = None
        self._plan: list[_Bean] = []
        self._planned_at = 0.0
        self._stale = True

    @property
    def target(self) -> str:
        return self.endpoint.target

    def close(self) -> None:
        self._conn.close()

    def invalidate(self) -> None:
        """Re-identify and re-list on the next read."""
        self._stale = True

    def identify(self) -> Identity:
        """Connect if needed and detect what the target is (not cached)."""
        self._ensure_connected()
        return self._identify()

    def read(self) -> Reading:
        """One collection. Raises ``SourceError`` (Unreachable, Timeout, AuthFailed)."""
        deadline = time.monotonic() + self.budget
        self._ensure_connected()
        identity = self._identity
        if (
            identity is None
            or self._stale
            or time.monotonic() - self._planned_at > self.names_ttl
            or self._clients_changed(identity)
        ):
            identity = self._identity = self._identify()
            self._plan = self._list(self._selected(identity), deadline)
            self._planned_at = time.monotonic()
            self._stale = False
        if isinstance(self._conn, BatchMBeanServer):
            samples = self._read_batched(self._conn, deadline)
        else:
            samples = self._read_each(deadline)
        return Reading(identity, tuple(samples), len(self._plan))

    def _read_each(self, deadline: float) -> list[Sample]:
        """One ``get_attributes`` per MBean (connections without batches)."""
        samples: list[Sample] = []
        for bean in self._plan:
            self._check(deadline)
            try:
                values = self._conn.get_attributes(bean.name, list(bean.attributes))
            except SourceError as e:
                if not _vanished(e):
                    raise
                self._stale = True
                continue
            self._map(bean, values, samples, self.clock.now())
        return samples

    def _read_batched(self, conn: BatchMBeanServer, deadline: float) -> list[Sample]:
        """The same reads in batches of ``BATCH``, up to ``parallel`` batches in flight.
        A finished batch is mapped to samples (in plan order) after the next one has been
        sent, so the mapping overlaps the round trips."""
        plan = self._plan
        batches = [plan[i : i + BATCH] for i in range(0, len(plan), BATCH)]
        pending: list[cf.Future[list[dict[str, Value] | None]]] = []
        samples: list[Sample] = []
        target = self.target
        sent = 0

        def send() -> None:
            nonlocal sent
            while sent < len(batches) and len(pending) < self.parallel:
                reads = [(b.name, b.attributes) for b in batches[sent]]
                pending.append(_batch_pool.submit(conn.get_attributes_many, reads))
                sent += 1

        try:
            for batch in batches:
                send()
                self._check(deadline)
                answers = pending.pop(0).result()  # each batch is bounded by its timeout
                send()
                ts = self.clock.now()
                for bean, values in zip(batch, answers, strict=True):
                    if values is None:
                        self._stale = True  # vanished: re-list next time
                    else:
                        for spec in bean.specs:
                            samples.extend(spec.to_samples(bean.keys, values, target, ts))
        finally:
            for fut in pending:  # after an error the rest is not wanted
                fut.cancel()
        return samples

    def _map(self, bean: _Bean, values: dict[str, Value], out: list[Sample], ts: float) -> None:
        for spec in bean.specs:
            out.extend(spec.to_samples(bean.keys, values, self.target, ts))

    # -- steps -------------------------------------------------------------------------

    def _ensure_connected(self) -> None:
        if not self._conn.connected:
            self._conn.connect()
            self._stale = True  # a new connection may reach a restarted JVM

    def _check(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            self._stale = True
            raise Timeout(
                self.target,
                f"collection took longer than its {self.budget:g} s budget "
                "(is the JVM overloaded, or the catalog selection too large?)",
            )

    def _detect(self, s: CatalogSet, cache: dict[str, list[BeanName]]) -> list[BeanName]:
        found: list[BeanName] = []
        for pattern in s.detect.jmx_patterns():
            if pattern not in cache:
                cache[pattern] = self._conn.query_names(pattern)
            found.extend(cache[pattern])
        return found

    def _identify(self) -> Identity:
        domains = tuple(self._conn.domains())
        cache: dict[str, list[BeanName]] = {}
        matched: list[str] = []
        clients: list[tuple[str, str]] = []
        roles: list[str] = []
        for s in self.catalog.sets:
            if s.detect.domain not in domains:
                continue
            names = self._detect(s, cache)
            if not names:
                continue
            matched.append(s.name)
            if s.role != "jvm" and s.role not in roles:
                roles.append(s.role)
            if s.client_key:
                ids = sorted({n.keys[s.client_key] for n in names if s.client_key in n.keys})
                clients.extend((s.role, cid) for cid in ids)
        roles.extend(r for r, d in DOMAIN_ROLES if d in domains)
        return Identity(self.target, domains, tuple(roles), tuple(matched), tuple(clients))

    def _clients_changed(self, identity: Identity) -> bool:
        """client-id=* on every cycle (one query per client set, an empty answer when the
        domain is absent): a client that appeared or closed re-plans at once instead of
        after ``names_ttl``."""
        cache: dict[str, list[BeanName]] = {}
        now: list[tuple[str, str]] = []
        for s in self.catalog.sets:
            if s.client_key:
                key = s.client_key
                ids = sorted({n.keys[key] for n in self._detect(s, cache) if key in n.keys})
                now.extend((s.role, cid) for cid in ids)
        return tuple(now) != identity.clients

    def _selected(self, identity: Identity) -> tuple[CatalogSet, ...]:
        if self.sets is not None:
            return self.catalog.select(self.sets)
        chosen = [
            s
            for s in self.catalog.sets
            if s.name in identity.sets and (not s.opt_in or s.name in self.opt_in)
        ]
        return tuple(chosen)

    def _list(self, sets: Sequence[CatalogSet], deadline: float) -> list[_Bean]:
        """The MBeans to read, each once with the union of the attributes its specs want."""
        wanted: dict[str, tuple[BeanName, list[BeanSpec]]] = {}
        memo: dict[tuple[int, tuple[str, ...]], BeanSpec] = {}
        for s in sets:
            for spec in s.beans:
                found: list[BeanName] = []
                matches = _matcher(spec)
                for pattern in spec.query_patterns():
                    self._check(deadline)
                    found.extend(n for n in self._conn.query_names(pattern) if matches(n))
                if spec.skip_legacy_topic_names:
                    found = drop_legacy_topic_copies(found, lambda n: n.keys)
                for n in found:
                    wanted.setdefault(n.canonical, (n, []))[1].append(_resolved(spec, n.keys, memo))
        plan = []
        for name, (bean_name, specs) in sorted(wanted.items()):
            attrs = tuple(dict.fromkeys(a for spec in specs for a in spec.attributes()))
            plan.append(_Bean(name, bean_name.keys, tuple(specs), attrs))
        return plan


def _matcher(spec: BeanSpec) -> Callable[[BeanName], bool]:
    """``spec.matches`` as a predicate on listed names, without a regex per key when the
    pattern's open keys are all plain ``*`` (``topic=*,partition=*``: the per-partition
    beans, thousands per broker); ``*`` is any value without a line break."""
    pinned = [(k.key, k.alternatives[0]) for k in spec.pattern.keys if k.pinned]
    rest = [k for k in spec.pattern.keys if not k.pinned]
    if any(k.quoted or k.alternatives != ("*",) for k in rest):
        return lambda n: spec.matches(n.domain, n.keys)
    domain, size, is_open = spec.pattern.domain, len(spec.pattern.keys), spec.pattern.open
    stars = [k.key for k in rest]

    def matches(n: BeanName) -> bool:
        keys = n.keys
        return (
            n.domain == domain
            and (is_open or len(keys) == size)
            and all(keys.get(k) == v for k, v in pinned)
            and all(k in keys and "\n" not in keys[k] for k in stars)
        )

    return matches


def _resolved(
    spec: BeanSpec, keys: Mapping[str, str], memo: dict[tuple[int, tuple[str, ...]], BeanSpec]
) -> BeanSpec:
    """``spec`` with its default labels (every open key, snake_cased) written out for this
    MBean's key set. ``to_samples`` then gives the same samples through its explicit-labels
    path, without snake-casing the keys again on every read: the catalog mapping stays the
    one mapping, and half its cost is paid once per listing instead of once per read."""
    if spec.labels is not None:
        return spec
    open_keys = tuple(spec.pattern.open_keys(keys))
    found = memo.get((id(spec), open_keys))
    if found is None:
        labels = tuple((snake_case(k), k) for k in open_keys)
        found = memo[(id(spec), open_keys)] = replace(spec, labels=labels)
    return found


# ------------------------------------------------------------------------ many targets


@dataclass(frozen=True)
class CollectResult:
    """One target's collection. ``skipped``: not attempted (backing off after failures,
    or the previous collection still running); ``error`` then repeats the last error."""

    target: str
    started: float  # wall clock, when the attempt began
    duration: float  # seconds
    samples: tuple[Sample, ...] = ()
    identity: Identity | None = None
    error: SourceError | None = None
    skipped: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class TargetFreshness:
    """When a target was last tried and last answered, and its last error. Whether it is
    failing *now* is ``failures > 0``; the last error stays for the record."""

    target: str
    role: str | None
    last_attempt: float | None
    last_success: float | None
    last_error: str | None  # the most recent error, kept after recovery for the record
    last_error_at: float | None
    error_kind: str | None  # of the last error: unreachable | timeout | auth_failed | error
    failures: int  # consecutive; 0 = the last attempt succeeded
    next_attempt: float | None  # backing off until then

    @property
    def failing(self) -> bool:
        return self.failures > 0


@dataclass(frozen=True)
class ClientFreshness:
    """A client found in a target by ``client-id=*``: first and last time its MBeans were
    read. ``last_seen`` stops when its JVM dies or hangs, or the client closes."""

    target: str
    role: str
    client_id: str
    first_seen: float
    last_seen: float


def error_kind(e: SourceError) -> str:
    if isinstance(e, AuthFailed):
        return "auth_failed"
    if isinstance(e, Timeout):
        return "timeout"
    if isinstance(e, Unreachable):
        return "unreachable"
    return "error"


@dataclass
class _TargetState:
    reader: TargetReader
    busy: bool = False
    freshness: TargetFreshness = field(init=False)
    last_exc: SourceError | None = None

    def __post_init__(self) -> None:
        self.freshness = TargetFreshness(
            self.reader.target, None, None, None, None, None, None, 0, None
        )


class JmxCollector:
    """Collects many targets in parallel and remembers their freshness.

    The caller (the scheduler, a CLI, a test) decides when: :meth:`collect` reads every
    due target once and returns when each has answered or hit its bound."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        timeout: float = 5.0,
        budget: float | None = None,
        names_ttl: float = 300.0,
        backoff: Backoff | None = None,
        max_workers: int = 8,
        clock: Clock | None = None,
    ) -> None:
        self.catalog = catalog or default_catalog()
        self.timeout = timeout
        self.budget = budget if budget is not None else 3 * timeout
        self.names_ttl = names_ttl
        self.backoff = backoff or Backoff()
        self.clock = clock or SystemClock()
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="collect")
        self._lock = threading.Lock()
        self._targets: dict[str, _TargetState] = {}
        self._clients: dict[tuple[str, str, str], ClientFreshness] = {}

    # -- targets -----------------------------------------------------------------------

    def add(
        self,
        endpoint: JmxEndpoint,
        *,
        sets: Sequence[str] | None = None,
        opt_in: Sequence[str] = (),
        connection: MBeanServer | None = None,
    ) -> None:
        """Start collecting ``endpoint`` (replacing an earlier entry for the same target)."""
        reader = TargetReader(
            endpoint,
            self.catalog,
            sets=sets,
            opt_in=opt_in,
            timeout=self.timeout,
            budget=self.budget,
            names_ttl=self.names_ttl,
            clock=self.clock,
            connection=connection,
        )
        with self._lock:
            old = self._targets.pop(endpoint.target, None)
            self._targets[endpoint.target] = _TargetState(reader)
        if old is not None:
            old.reader.close()

    def remove(self, target: str) -> None:
        """Stop collecting ``target`` and forget its freshness and clients."""
        with self._lock:
            state = self._targets.pop(target, None)
            for key in [k for k in self._clients if k[0] == target]:
                del self._clients[key]
        if state is not None:
            state.reader.close()

    def set_targets(
        self,
        endpoints: Iterable[JmxEndpoint],
        *,
        sets: Sequence[str] | None = None,
        opt_in: Sequence[str] = (),
    ) -> None:
        """Reconcile with a discovered list: add the new, drop the gone, keep the rest
        (with their connections, caches and freshness)."""
        wanted = {e.target: e for e in endpoints}
        for target in [t for t in self.targets if t not in wanted]:
            self.remove(target)
        known = set(self.targets)
        for target, endpoint in wanted.items():
            if target not in known:
                self.add(endpoint, sets=sets, opt_in=opt_in)

    @property
    def targets(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(self._targets)

    # -- collection --------------------------------------------------------------------

    def collect(
        self, on_result: Callable[[CollectResult], None] | None = None
    ) -> list[CollectResult]:
        """Read every due target once, in parallel. ``on_result`` is called on the
        caller's thread as each target finishes, so fast targets are stored before a
        frozen one has timed out."""
        with self._lock:
            states = list(self._targets.values())
        now = self.clock.now()
        results: list[CollectResult] = []
        futures: dict[cf.Future[CollectResult], _TargetState] = {}
        for state in states:
            skipped = self._skip(state, now)
            if skipped is not None:
                results.append(skipped)
                if on_result:
                    on_result(skipped)
                continue
            state.busy = True
            futures[self._pool.submit(self._run, state)] = state
        bound = self.timeout + self.budget + 2.0  # each read is bounded; this is a backstop
        try:
            for fut in cf.as_completed(futures, timeout=bound):
                result = fut.result()
                results.append(result)
                if on_result:
                    on_result(result)
        except cf.TimeoutError:
            for fut, state in futures.items():
                if not fut.done():
                    err = Timeout(state.reader.target, f"collection did not end within {bound:g} s")
                    result = CollectResult(state.reader.target, now, bound, error=err)
                    results.append(result)
                    if on_result:
                        on_result(result)
        return results

    def _skip(self, state: _TargetState, now: float) -> CollectResult | None:
        target = state.reader.target
        if state.busy:
            err = Timeout(target, "the previous collection is still running")
            return CollectResult(target, now, 0.0, error=err, skipped=True)
        nxt = state.freshness.next_attempt
        if nxt is not None and now < nxt and state.last_exc is not None:
            return CollectResult(target, now, 0.0, error=state.last_exc, skipped=True)
        return None

    def _run(self, state: _TargetState) -> CollectResult:
        reader = state.reader
        started = self.clock.now()
        t0 = time.monotonic()
        try:
            reading = reader.read()
        except SourceError as e:
            return self._failed(state, started, time.monotonic() - t0, e)
        except Exception as e:  # noqa: BLE001 - one target's surprise must not stop the rest
            err = SourceError(reader.target, f"unexpected error while collecting: {e!r}")
            return self._failed(state, started, time.monotonic() - t0, err)
        finally:
            state.busy = False
        return self._succeeded(state, started, time.monotonic() - t0, reading)

    def _succeeded(
        self, state: _TargetState, started: float, duration: float, reading: Reading
    ) -> CollectResult:
        done = self.clock.now()
        with self._lock:
            state.last_exc = None
            state.freshness = replace(
                state.freshness,
                role=reading.identity.role,
                last_attempt=started,
                last_success=done,
                failures=0,
                next_attempt=None,
            )
            for role, cid in reading.identity.clients:
                key = (state.reader.target, role, cid)
                prev = self._clients.get(key)
                first = prev.first_seen if prev else done
                self._clients[key] = ClientFreshness(key[0], role, cid, first, done)
        return CollectResult(
            state.reader.target, started, duration, reading.samples, reading.identity
        )

    def _failed(
        self, state: _TargetState, started: float, duration: float, e: SourceError
    ) -> CollectResult:
        with self._lock:
            failures = state.freshness.failures + 1
            state.last_exc = e
            state.freshness = replace(
                state.freshness,
                last_attempt=started,
                last_error=str(e),
                last_error_at=started,
                error_kind=error_kind(e),
                failures=failures,
                next_attempt=started + self.backoff.delay(failures),
            )
        return CollectResult(state.reader.target, started, duration, error=e)

    # -- freshness ---------------------------------------------------------------------

    def freshness(self) -> list[TargetFreshness]:
        with self._lock:
            return [s.freshness for s in self._targets.values()]

    def clients(self) -> list[ClientFreshness]:
        with self._lock:
            return sorted(self._clients.values(), key=lambda c: (c.target, c.role, c.client_id))

    def close(self) -> None:
        with self._lock:
            states = list(self._targets.values())
            self._targets.clear()
        for s in states:
            s.reader.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

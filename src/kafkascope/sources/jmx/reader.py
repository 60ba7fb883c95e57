"""One JVM read through the catalog, and the catalog → sample mapping every source shares.

:class:`TargetReader` finds what the process is from its domains and a few ``detect``
MBeans (broker, controller, consumer, producer, streams, connect, plain JVM), lists the
MBeans of the matching catalog sets once and caches the list (re-listed after
``names_ttl``, after a reconnect, and when an MBean has vanished), then reads each MBean
once — ``getAttribute`` for one attribute, else one ``getAttributes`` — in batches per
worker hand-off, each read by the helper jar in one call (:mod:`kafkascope.sources.jmx.batching`),
shaped by the plan's size (:func:`read_shape`). Never
``*:*``: only the catalog's patterns are queried. Clients are found with ``client-id=*``
on every cycle (one cheap query per client set), so a new or closed client changes the
plan at once.

:func:`bulk_samples` and :func:`identify_beans` do the same mapping and detection for
MBeans another source read in bulk (Jolokia, jmx_exporter), so all sources agree.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import NamedTuple, Protocol

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import SourceError, Timeout
from kafkascope.model import Sample
from kafkascope.sources.jmx.batching import (
    BATCH,
    BATCH_POOL,
    BatchingJmxConnection,
    BatchMBeanServer,
    MBeanServer,
)
from kafkascope.sources.jmx.catalog import (
    BeanSpec,
    Catalog,
    CatalogSet,
    default_catalog,
    drop_legacy_topic_copies,
)
from kafkascope.sources.jmx.connection import BeanName, JmxEndpoint, Value
from kafkascope.sources.jmx.object_name import snake_case

# Roles with no catalog set of their own, recognised from their domain alone. A Streams
# or Connect JVM also holds consumers and producers, whose sets are collected as usual.
DOMAIN_ROLES = (("streams", "kafka.streams"), ("connect", "kafka.connect"))


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


def identify_beans(catalog: Catalog, beans: Sequence[BeanValues], target: str) -> Identity:
    """What a target is, from MBeans read in bulk, as :meth:`TargetReader.identify` finds it
    by querying: a set is detected when an MBean matching its ``detect`` pattern was read,
    its clients are that MBean's ``client_key`` values, the roles follow the sets. Only what
    was read can be seen: a set whose detect MBean no selected set reads is not detected
    (the catalog's own sets all read theirs), and ``domains`` are the domains read."""
    domains = tuple(sorted({b.domain for b in beans}))
    matched: list[str] = []
    clients: list[tuple[str, str]] = []
    roles: list[str] = []
    for s in catalog.sets:
        found = [b for b in beans if s.detect.matches(b.domain, b.keys)]
        if not found:
            continue
        matched.append(s.name)
        if s.role != "jvm" and s.role not in roles:
            roles.append(s.role)
        if s.client_key:
            key = s.client_key
            ids = sorted({b.keys[key] for b in found if key in b.keys})
            clients.extend((s.role, cid) for cid in ids)
    roles.extend(r for r, d in DOMAIN_ROLES if d in domains)
    return Identity(target, domains, tuple(roles), tuple(matched), tuple(clients))


class SourceReader(Protocol):
    """One target as :class:`~kafkascope.sources.jmx.collector.JmxCollector` drives it:
    :class:`TargetReader` over JMX, or
    :class:`~kafkascope.sources.jmx.bulk.BulkTargetReader` over Jolokia or jmx_exporter.
    Not thread-safe: the collector runs one read per target at a time."""

    @property
    def target(self) -> str: ...

    def read(self) -> Reading: ...

    def identify(self) -> Identity: ...

    def invalidate(self) -> None: ...

    def close(self) -> None: ...


#: Batches in flight that :func:`read_shape` chooses for a large plan (the connection a
#: reader makes allows as many).
AUTO_PARALLEL = 2
#: The largest batch :func:`read_shape` makes (a batch must answer within the call timeout:
#: a healthy broker answers one MBean in ~0.1 ms, so 256 take ~25 ms).
MAX_BATCH = 256
#: Plans up to this many MBeans are read one batch at a time.
SMALL_PLAN = 4 * BATCH


def read_shape(beans: int) -> tuple[int, int]:
    """(batches in flight, MBeans per batch) for reading a plan of ``beans`` MBeans.

    Measured on the 2,000-partition broker of ``bench/jmx_scrape`` (README there): a small
    plan (a client, a broker's 111 base MBeans) gains nothing from a second call in flight
    and is read in ``BATCH``-sized batches, one at a time; a large one (12,000 MBeans with
    the ``partition`` set) is read two batches at a time, in batches of about 1/64 of the
    plan (at most ``MAX_BATCH``), so the per-batch hand-offs stay few and the RMI round
    trips of one batch overlap the next one's and the mapping of the last."""
    if beans <= SMALL_PLAN:
        return 1, BATCH
    return AUTO_PARALLEL, max(BATCH, min(MAX_BATCH, beans // 64))


class TargetReader:
    """Reads one JVM through the catalog. Not thread-safe: one collection at a time.

    ``sets`` pins the catalog sets to read; by default they are the detected sets minus the
    opt-in ones, plus the opt-in sets named in ``opt_in`` (e.g. ``("partition",)``).
    ``parallel``: batches of one target in flight at once (with a batching connection).
    None, the default, adapts it and the batch size to the plan's size
    (:func:`read_shape`): a small plan is one call at a time, a large one (a broker with
    thousands of partitions) two batches in flight of up to ``MAX_BATCH`` MBeans. A number
    pins it (batches of ``BATCH`` then); 1 keeps one JMX call in flight per target, and
    still maps a batch while the next one is read."""

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
        parallel: int | None = None,
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
        self.parallel = None if parallel is None else max(1, parallel)
        self._conn: MBeanServer = connection or BatchingJmxConnection(
            endpoint, timeout=timeout, max_in_flight=self.parallel or AUTO_PARALLEL
        )
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
        if self.parallel is None:
            parallel, size = read_shape(len(plan))
        else:
            parallel, size = self.parallel, BATCH
        batches = [plan[i : i + size] for i in range(0, len(plan), size)]
        pending: list[cf.Future[list[dict[str, Value] | None]]] = []
        samples: list[Sample] = []
        target = self.target
        sent = 0

        def send() -> None:
            nonlocal sent
            while sent < len(batches) and len(pending) < parallel:
                reads = [(b.name, b.attributes) for b in batches[sent]]
                pending.append(
                    BATCH_POOL.submit(functools.partial(conn.get_attributes_many, reads))
                )
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

"""JMX collection: every target (one JVM) read in parallel, through the catalog.

Per target (:class:`TargetReader`): find what the process is from its domains and a few
``detect`` MBeans (broker, controller, consumer, producer, streams, connect, plain JVM),
list the MBeans of the matching catalog sets once and cache the list (re-listed after
``names_ttl``, after a reconnect, and when an MBean has vanished), then read each MBean
with one ``getAttributes``. Never ``*:*``: only the catalog's patterns are queried.
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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.model import Sample
from kafkascope.sources.catalog import (
    BeanSpec,
    Catalog,
    CatalogSet,
    default_catalog,
    drop_legacy_topic_copies,
)
from kafkascope.sources.jmx import BeanName, JmxConnection, JmxEndpoint, Value

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


class TargetReader:
    """Reads one JVM through the catalog. Not thread-safe: one collection at a time.

    ``sets`` pins the catalog sets to read; by default they are the detected sets minus the
    opt-in ones, plus the opt-in sets named in ``opt_in`` (e.g. ``("partition",)``)."""

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
        self._conn: MBeanServer = connection or JmxConnection(endpoint, timeout=timeout)
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
            ts = self.clock.now()
            for spec in bean.specs:
                samples.extend(spec.to_samples(bean.keys, values, self.target, ts))
        return Reading(identity, tuple(samples), len(self._plan))

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
        for s in sets:
            for spec in s.beans:
                found: list[BeanName] = []
                for pattern in spec.query_patterns():
                    self._check(deadline)
                    found.extend(
                        n for n in self._conn.query_names(pattern) if spec.matches(n.domain, n.keys)
                    )
                if spec.skip_legacy_topic_names:
                    found = drop_legacy_topic_copies(found, lambda n: n.keys)
                for n in found:
                    wanted.setdefault(n.canonical, (n, []))[1].append(spec)
        plan = []
        for name, (bean_name, specs) in sorted(wanted.items()):
            attrs = tuple(dict.fromkeys(a for spec in specs for a in spec.attributes()))
            plan.append(_Bean(name, bean_name.keys, tuple(specs), attrs))
        return plan


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

"""Many targets collected in parallel, with their freshness.

A small thread pool reads the targets in parallel, those that answered last time first;
each read is bounded by ``timeout`` per call and ``budget`` per target, so a frozen JVM
(SIGSTOP) costs its own slot that long and never delays the others. Targets that are failing
are retried on threads of their own (:mod:`~kafkascope.sources.jmx.threads`), not in that
pool: a retry mostly waits for a connect to time out, and however many hosts are dead, they
neither take a healthy target's worker nor make a cycle last one timeout per wave of them.
Failures back off exponentially. The collector keeps freshness:
per target the last attempt, success and error; per client first and last seen — the
field notes' "update time", which the liveness evaluator joins with group membership.

A target is read by a :class:`~kafkascope.sources.jmx.reader.SourceReader` chosen by the
collector's ``source``: JMX over RMI (:class:`~kafkascope.sources.jmx.reader.TargetReader`,
the default), a Jolokia agent or a jmx_exporter
(:class:`~kafkascope.sources.jmx.bulk.BulkTargetReader`). Everything here and downstream
is the same for the three.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import AuthFailed, EnvironmentProblem, SourceError, Timeout, Unreachable
from kafkascope.model import Sample
from kafkascope.sources.jmx import jvm
from kafkascope.sources.jmx.batching import MBeanServer
from kafkascope.sources.jmx.bulk import BulkTargetReader, Source
from kafkascope.sources.jmx.catalog import Catalog, default_catalog
from kafkascope.sources.jmx.connection import JmxEndpoint
from kafkascope.sources.jmx.reader import Identity, Reading, SourceReader, TargetReader
from kafkascope.sources.jmx.threads import CachedThreads

__all__ = [
    "Backoff",
    "ClientFreshness",
    "CollectResult",
    "Identity",
    "JmxCollector",
    "Reading",
    "Source",
    "TargetFreshness",
    "TargetReader",
    "error_kind",
]


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff after consecutive failures: base, 2×base, 4×base … up to cap."""

    base: float = 1.0
    cap: float = 60.0

    def delay(self, failures: int) -> float:
        if failures <= 0:
            return 0.0
        return float(min(self.cap, self.base * 2 ** min(failures - 1, 30)))


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
    last_duration: float | None = None  # seconds the last read took (failed or not)
    errors: int = 0  # failed reads since the target was added (kafkascope's /metrics)

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
    reader: SourceReader
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
    due target once and returns when each has answered or hit its bound. ``source``
    says what an endpoint's ``host:port`` is: a JMX port (``"jmx"``), a Jolokia agent
    (``"jolokia"``, read at ``http://HOST:PORT/jolokia/``) or a jmx_exporter
    (``"prometheus"``, ``http://HOST:PORT/metrics``); ``http_auth`` is (user, password)
    for the latter two. ``names_ttl`` applies to JMX only."""

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
        source: Source = "jmx",
        http_auth: tuple[str, str] | None = None,
    ) -> None:
        if source not in ("jmx", "jolokia", "prometheus"):
            raise ValueError(f"source must be jmx, jolokia or prometheus (got {source!r})")
        self.source: Source = source
        self.http_auth = http_auth
        self.catalog = catalog or default_catalog()
        self.timeout = timeout
        self.budget = budget if budget is not None else 3 * timeout
        self.names_ttl = names_ttl
        self.backoff = backoff or Backoff()
        self.clock = clock or SystemClock()
        self._pool = cf.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="collect")
        self._retries = CachedThreads("collect-retry")
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
        """Start collecting ``endpoint`` (replacing an earlier entry for the same target).
        ``connection`` (JMX only) replaces the JMX connection, e.g. with a test fake."""
        reader: SourceReader
        if self.source == "jmx":
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
        else:
            if connection is not None:
                raise ValueError(f"a connection is for JMX targets, not {self.source}")
            reader = BulkTargetReader(
                self.source,
                endpoint,
                self.catalog,
                sets=sets,
                opt_in=opt_in,
                timeout=self.timeout,
                auth=self.http_auth,
                clock=self.clock,
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
            # Those that answered last time first, then the new ones: the pool is FIFO.
            states = sorted(self._targets.values(), key=lambda s: s.freshness.last_success is None)
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
            run = functools.partial(self._run, state)
            lane = self._retries.submit if state.freshness.failing else self._pool.submit
            futures[lane(run)] = state
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
        except EnvironmentProblem as e:  # no Java runtime: its own words, with the fix
            if isinstance(e, jvm.MissingRuntime):
                jvm.warn_missing(e)  # and once per process on stderr, not per target
            return self._failed(
                state, started, time.monotonic() - t0, SourceError(reader.target, str(e))
            )
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
                last_duration=duration,
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
                last_duration=duration,
                errors=state.freshness.errors + 1,
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
        self._retries.close()

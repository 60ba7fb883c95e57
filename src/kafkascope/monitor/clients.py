"""Client liveness, polled: every producer and consumer, and every group member, judged.

One :meth:`ClientMonitor.poll` is one round, with the I/O at its edges and every judgement
left to :mod:`kafkascope.evaluate.liveness`:

1. list and describe the consumer groups: members (client id, host, assignment);
2. refresh discovery (static list, the ``file_sd`` file, and probing the member hosts just
   seen) and hand every endpoint ever found to the collector, so a killed client stays a
   target and reads DEAD instead of vanishing;
3. read every client JVM's JMX once (in parallel, each read bounded);
4. read committed offsets of every group and end offsets of every topic;
5. build one observation per JMX client (target health, whether its MBeans are still
   there, its metrics, the partitions it fetches, when its producer send total last moved,
   its longest recent poll gap, the records waiting for it), join them with the members,
   and judge clients, members, groups and topics at one ``now``.

What it remembers between polls, and why:

* **Per target**: when the current run of failures began ("refused 3 times since
  10:02:11") and when a failing target answered again (a consumer thawed after SIGSTOP
  needs a moment to rejoin its group: it must not read "left its group" meanwhile).
* **Per client**: the last ``record-send-total`` and when it changed (a producer that
  stopped sending), its longest ``time-between-poll-max`` over the last
  ``2 × max.poll.interval`` (the metric itself is windowed and reads NaN while a consumer
  makes no poll at all, which is exactly when the HUNG bound needs it), its
  ``rebalance-total`` over the storm window, and the group it was last seen in and when.
* **Per group**: member counts (to learn the usual count when none is configured) and the
  member ids seen in the storm window (churn as the brokers saw it).
* **Per topic**: the sum of its end offsets over time, compressed to the first and last
  point of each flat stretch, for "producers silent" (this needs no producer JMX at all).
* **End offsets of the previous poll**: a consumer's backlog is measured against them, so
  records that arrived a moment ago are not mistaken for work a stuck consumer ignores.

Not thread-safe: one poll at a time (the scheduler or a CLI loop calls it). Inside a poll
the offsets are read on a helper thread while the JVMs are read; :meth:`close` stops it.

Size: one concept, the poll above with the memory it keeps between polls; each step feeds
the next, so splitting it would scatter one round over several files.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import KafkascopeError, SourceError
from kafkascope.evaluate.liveness import (
    ClientObservation,
    GroupHealth,
    MemberObservation,
    Pairing,
    ProducerTrouble,
    PushState,
    TargetHealth,
    Thresholds,
    Verdict,
    group_health,
    join,
    judge_client,
    judge_member,
    judge_unclaimed,
    learned_member_count,
    normalize_host,
    producers_silent,
    unassigned_reason,
)
from kafkascope.model import Liveness, Sample, TopicPartitionKey
from kafkascope.sources.discovery import ClientTarget
from kafkascope.sources.jmx.collector import (
    ClientFreshness,
    CollectResult,
    JmxCollector,
    TargetFreshness,
)
from kafkascope.sources.jmx.connection import JmxEndpoint
from kafkascope.sources.kafka.rdkafka import PEEK_GROUP
from kafkascope.sources.kafka.values import GroupDescription, GroupListing, TopicInfo
from kafkascope.sources.telemetry import TARGET_PREFIX
from kafkascope.sources.telemetry_inbox import PushedClient, TelemetryInbox
from kafkascope.store.clients import ClientRecord, ClientStore

__all__ = [
    "SEVERITY",
    "ClientMonitor",
    "ClientReport",
    "ClientVerdictRow",
]

log = logging.getLogger(__name__)

ClientKey = tuple[str, str, str]  # (target, role, client id)

#: Worst first: how rows are ordered for people, and how a CLI picks its exit status.
SEVERITY: Mapping[Liveness, int] = {
    Liveness.DEAD: 0,
    Liveness.UNRESPONSIVE: 1,
    Liveness.HUNG: 2,
    Liveness.FAILING: 3,
    Liveness.UNKNOWN: 4,
    Liveness.IDLE: 5,
    Liveness.RETIRED: 6,
    Liveness.ALIVE: 7,
    Liveness.DEPARTED: 8,
}
#: The catalog's per-partition consumer metric: which partitions a consumer fetches.
PARTITION_LAG = "kafka_consumer_partition_records_lag"
#: How many per-poll member counts are kept to learn a group's usual size.
MEMBER_COUNT_HISTORY = 720
#: Points kept per topic for "producers silent" (flat stretches are compressed).
TOPIC_HISTORY = 240
#: Seconds after which JMX ports found closed on member hosts are probed again.
PROBE_REFRESH = 600.0
#: A producer's counters that say it is trying and failing (see ``ProducerTrouble``).
TROUBLE_COUNTERS = (
    "record-error-total",
    "record-retry-total",
    "metadata-wait-time-ns-total",
    "buffer-exhausted-total",
)
#: A client's stored row is rewritten at least this often while its verdict holds (its
#: ``last_seen`` and reason move); a change of verdict or identity is written at once.
RECORD_REFRESH = 60.0
#: Appended to a restored client's stored reason until its target has been read.
NOT_READ = " (as judged before kafkascope restarted; not read since)"


# ---------------------------------------------------------------------------------------
# What it needs from its sources (KafkaAdmin and Discovery, or fakes)
# ---------------------------------------------------------------------------------------


class ClusterReader(Protocol):
    """The admin calls the monitor makes (:class:`~kafkascope.sources.kafka.admin.KafkaAdmin`)."""

    def groups(self) -> list[GroupListing]: ...

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]: ...

    def committed_offsets(
        self, groups: Iterable[str]
    ) -> dict[str, dict[TopicPartitionKey, int]]: ...

    def topics(
        self, include_internal: bool = False, names: Iterable[str] | None = None
    ) -> list[TopicInfo]: ...

    def log_offsets(
        self, partitions: Iterable[TopicPartitionKey], spec: str = "latest"
    ) -> dict[TopicPartitionKey, int]: ...


class EndpointFinder(Protocol):
    """Where client JMX endpoints are (:class:`~kafkascope.sources.discovery.Discovery`)."""

    @property
    def known(self) -> dict[str, ClientTarget]: ...

    def refresh(self, member_hosts: Iterable[str] = ()) -> list[ClientTarget]: ...

    def forget_probe_misses(self) -> None: ...


# ---------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClientVerdictRow:
    """One client (a JMX target + client id) or group member, with its verdict.

    A consumer seen both ways is one row with ``target`` and ``member_id`` set; a member
    with no JMX endpoint known has ``target`` None (UNKNOWN); a JMX client no member claims
    has ``member_id`` None (producers always). ``last_seen``/``first_seen`` are when its
    MBeans were last/first read (seconds since the epoch)."""

    client_id: str
    kind: str  # "consumer" | "producer" | "unknown" (a target that never answered)
    group: str | None
    target: str | None
    liveness: Liveness
    reason: str
    last_seen: float | None
    first_seen: float | None
    host: str | None
    member_id: str | None
    #: How its name is known: ``observed`` (read from its JMX or group membership),
    #: ``restored`` (stored before a restart; not read since) or ``hint`` (never seen:
    #: the labels its ``file_sd`` entry gives).
    identity: str = "observed"
    #: How it is seen: ``jmx``, ``telemetry`` (KIP-714 pushes only), ``jmx+telemetry``
    #: (one client seen both ways) or ``membership`` (a group member, nothing else).
    source: str = "jmx"
    #: Its KIP-714 client instance id and software (``name/version``), when it pushes.
    client_instance_id: str | None = None
    software: str | None = None

    @property
    def key(self) -> ClientKey | None:
        """(target, kind, client id) for a JMX client; None for a membership-only row."""
        if self.target is None or self.kind not in ("consumer", "producer"):
            return None
        return (self.target, self.kind, self.client_id)

    @property
    def failing(self) -> bool:
        """DEAD, UNRESPONSIVE, HUNG or FAILING: what an operator is woken for."""
        return self.liveness in (
            Liveness.DEAD,
            Liveness.UNRESPONSIVE,
            Liveness.HUNG,
            Liveness.FAILING,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "client_id": self.client_id,
            "kind": self.kind,
            "group": self.group,
            "target": self.target,
            "liveness": self.liveness.value,
            "reason": self.reason,
            "last_seen": self.last_seen,
            "first_seen": self.first_seen,
            "host": self.host,
            "member_id": self.member_id,
            "identity": self.identity,
            "source": self.source,
            "client_instance_id": self.client_instance_id,
            "software": self.software,
        }


@dataclass(frozen=True)
class ClientReport:
    """One poll's verdicts. ``silent_topics`` maps a topic to why its producers look
    silent; ``errors`` says which source could not be read this time (the verdicts then
    rest on what remains, e.g. JMX only when the brokers did not answer)."""

    cluster: str
    taken_at: float
    clients: list[ClientVerdictRow]
    groups: dict[str, GroupHealth]
    silent_topics: dict[str, str]
    errors: list[str] = field(default_factory=list)
    #: This poll's catalog samples from every client JVM that answered (for /metrics,
    #: counter rules such as producer errors, and user rules).
    samples: tuple[Sample, ...] = ()
    #: Telemetry targets whose latest push an earlier report already carried: their
    #: samples are in ``samples`` (the latest values) but history has them already.
    repeated: frozenset[str] = frozenset()

    @functools.cached_property
    def by_member(self) -> dict[str, ClientVerdictRow]:
        """Rows of group members by member id, built once per report (the API joins every
        group's members to these; rebuilding the map per group was quadratic)."""
        return {r.member_id: r for r in self.clients if r.member_id}

    def rows(
        self,
        client_id: str | None = None,
        *,
        group: str | None = None,
        target: str | None = None,
        prefix: str | None = None,
    ) -> list[ClientVerdictRow]:
        """Rows matching every criterion given (``prefix`` matches the client id's start)."""
        return [
            r
            for r in self.clients
            if (client_id is None or r.client_id == client_id)
            and (group is None or r.group == group)
            and (target is None or r.target == target)
            and (prefix is None or r.client_id.startswith(prefix))
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "cluster": self.cluster,
            "taken_at": self.taken_at,
            "clients": [r.to_dict() for r in self.clients],
            "groups": {name: _group_dict(h) for name, h in self.groups.items()},
            "silent_topics": dict(self.silent_topics),
            "errors": list(self.errors),
        }


def _group_dict(h: GroupHealth) -> dict[str, Any]:
    return {
        "group": h.group,
        "members": h.members,
        "expected": h.expected,
        "unowned": [{"topic": t, "partition": p} for t, p in h.unowned],
        "rebalances": h.rebalances,
        "churn": h.churn,
        "storm": h.storm,
        "problems": list(h.problems),
    }


# ---------------------------------------------------------------------------------------
# Small pure helpers
# ---------------------------------------------------------------------------------------


def error_word(f: TargetFreshness) -> str | None:
    """The collector's error kind in the liveness rules' words: ``refused`` means nothing
    listens (the JVM is gone), ``timeout`` that it connects but does not answer."""
    if not f.failing:
        return None
    kind = f.error_kind or "error"
    if kind == "unreachable":
        return "refused" if "refused" in (f.last_error or "").lower() else "unreachable"
    if kind == "auth_failed":
        return "auth"
    return kind


def client_metric_names(collector: JmxCollector) -> dict[str, tuple[str, str]]:
    """Catalog metric name → (client role, Kafka attribute), for the client sets: the rules
    speak Kafka's attribute names (``last-poll-seconds-ago``), samples carry the catalog's."""
    out: dict[str, tuple[str, str]] = {}
    for s in collector.catalog.sets:
        if s.client_key:
            for _, m in s.metrics():
                out.setdefault(m.name, (s.role, m.attribute))
    return out


def backlog_of(
    partitions: Iterable[TopicPartitionKey],
    committed: Mapping[TopicPartitionKey, int] | None,
    ends: Mapping[TopicPartitionKey, int],
) -> int | None:
    """Records waiting in ``partitions``: end offset minus committed offset, summed; None
    when a needed offset is unknown. A partition never committed counts as empty only when
    its log is empty (otherwise where the consumer starts depends on its reset policy)."""
    if committed is None:
        return None
    total = 0
    for tp in partitions:
        end = ends.get(tp)
        if end is None:
            return None
        done = committed.get(tp)
        if done is None:
            if end > 0:
                return None
            continue
        total += max(0, end - done)
    return total


def _offsets_unread(
    partitions: Iterable[TopicPartitionKey],
    committed: Mapping[TopicPartitionKey, int] | None,
    ends: Mapping[TopicPartitionKey, int],
) -> bool:
    """The group's committed offsets, or an end offset of ``partitions``, were not read this
    poll (an error, not a group that never committed: that reads as an empty mapping)."""
    return committed is None or any(tp not in ends for tp in partitions)


def _unclaimed_offsets(
    obs: ClientObservation,
    group: str | None,
    committed: Mapping[str, Mapping[TopicPartitionKey, int]],
    ends: Mapping[TopicPartitionKey, int],
) -> tuple[int | None, bool]:
    """The backlog of a consumer no member claims (its group as last seen), and whether
    the offsets could not be read. No group known (an assign()-mode consumer): unknown,
    and not for want of a read. Its own JMX records-lag is no substitute: a consumer
    blocked while processing what it already fetched reports lag 0 (its position is past
    those records), exactly like an idle one."""
    if group is None:
        return None, False
    done = committed.get(group)
    return backlog_of(obs.assigned, done, ends), _offsets_unread(obs.assigned, done, ends)


def compress_append(history: list[tuple[float, int]], t: float, value: int) -> None:
    """Append (t, value), keeping only the first and last point of a flat stretch and at
    most :data:`TOPIC_HISTORY` points."""
    if len(history) >= 2 and history[-1][1] == value and history[-2][1] == value:
        history[-1] = (t, value)
    else:
        history.append((t, value))
    del history[:-TOPIC_HISTORY]


def _window_delta(points: deque[tuple[float, float]], since: float) -> int:
    while len(points) > 1 and points[0][0] < since:
        points.popleft()
    if len(points) < 2:
        return 0
    return max(0, round(points[-1][1] - points[0][1]))


# ---------------------------------------------------------------------------------------
# Memory between polls
# ---------------------------------------------------------------------------------------


@dataclass
class _ClientMemory:
    metrics: dict[str, float] = field(default_factory=dict)
    partition_lag: dict[TopicPartitionKey, float] = field(default_factory=dict)
    send_total: float | None = None
    send_total_since: float | None = None
    gaps: deque[tuple[float, float]] = field(default_factory=deque)
    rebalances: deque[tuple[float, float]] = field(default_factory=deque)
    group: str | None = None
    member_seen: float | None = None
    counters: dict[str, deque[tuple[float, float]]] = field(default_factory=dict)


@dataclass
class _TargetMemory:
    failing_since: float | None = None
    recovered_at: float | None = None
    present: set[tuple[str, str]] = field(default_factory=set)


@dataclass
class _GroupMemory:
    counts: deque[int] = field(default_factory=lambda: deque(maxlen=MEMBER_COUNT_HISTORY))
    member_ids: dict[str, float] = field(default_factory=dict)


@dataclass
class _Cluster:
    """What the brokers said this poll; ``groups_ok`` False when they could not be read."""

    descriptions: dict[str, GroupDescription] = field(default_factory=dict)
    members: list[MemberObservation] = field(default_factory=list)
    groups_ok: bool = False
    committed: dict[str, dict[TopicPartitionKey, int]] = field(default_factory=dict)
    ends: dict[TopicPartitionKey, int] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------
# The monitor
# ---------------------------------------------------------------------------------------


class ClientMonitor:
    """Polls one cluster's clients and judges their liveness.

    ``collector`` reads client JVMs: its ``timeout`` is what turns a frozen JVM into
    UNRESPONSIVE; give it a ``Backoff`` capped below the poll interval, or a failed target
    is retried only every minute and a thawed JVM stays UNRESPONSIVE that long.
    ``discovery`` finds their endpoints, ``admin`` reads groups and offsets.
    ``expected_members`` pins a group's member count (otherwise it is learned);
    ``endpoint`` turns ``host:port`` into a JMX endpoint (with credentials); ``sets`` are
    the catalog sets read from client JVMs."""

    def __init__(
        self,
        cluster: str,
        collector: JmxCollector,
        discovery: EndpointFinder,
        admin: ClusterReader,
        thresholds: Thresholds | None = None,
        clock: Clock | None = None,
        *,
        expected_members: Mapping[str, int] | None = None,
        endpoint: Callable[[str], JmxEndpoint] = JmxEndpoint.parse,
        sets: Sequence[str] = ("consumer", "producer"),
        topics_ttl: float = 30.0,
        store: ClientStore | None = None,
        telemetry: TelemetryInbox | None = None,
    ) -> None:
        self.cluster = cluster
        self.collector = collector
        self.discovery = discovery
        self.admin = admin
        self.thresholds = thresholds or Thresholds()
        self.clock = clock or SystemClock()
        self.expected_members = dict(expected_members or {})
        self._endpoint = endpoint
        self._sets = tuple(sets)
        self._topics_ttl = topics_ttl
        self._names = client_metric_names(collector)
        self._clients: dict[ClientKey, _ClientMemory] = {}
        self._targets: dict[str, _TargetMemory] = {}
        self._groups: dict[str, _GroupMemory] = {}
        self._topic_history: dict[str, list[tuple[float, int]]] = {}
        self._partitions: dict[str, tuple[TopicPartitionKey, ...]] = {}
        self._partitions_at: float | None = None
        self._prev_ends: dict[TopicPartitionKey, int] = {}
        self._member_hosts: set[str] = set()
        self._pool: cf.ThreadPoolExecutor | None = None
        self._probed_at = float("-inf")
        self._store = store
        #: KIP-714 pushes (the receiver fills it): clients seen without JMX.
        self.telemetry = telemetry
        self._started_at = self.clock.now()
        self._pushed: dict[ClientKey, PushedClient] = {}  # by row key, this poll
        self._folded: dict[str, int] = {}  # telemetry target -> pushes folded into memory
        self._repeated: set[str] = set()  # targets with no push since the last poll
        #: Every JMX client ever judged (restored from the store at start), by key; the
        #: lock guards it against :meth:`forget`, called from the API's threads.
        self._known: dict[ClientKey, ClientRecord] = {}
        self._known_lock = threading.Lock()

    # -- memory across restarts ---------------------------------------------------------

    def load(self) -> int:
        """Restore every client the store knows (returns how many): until its target
        answers again, a client is reported under the name, kind and group it had."""
        if self._store is None:
            return 0
        records = self._store.load()
        with self._known_lock:
            self._known = {r.key: r for r in records}
        return len(records)

    def forget(self, client_id: str, target: str | None = None) -> list[ClientRecord]:
        """Forget the clients with ``client_id`` (on ``target`` when given): they leave the
        report at the next poll and stay away until seen alive again. Returns what was
        forgotten (stored as tombstones at once). Safe to call from another thread."""
        now = self.clock.now()
        with self._known_lock:
            hits = [
                replace(r, forgotten_at=now, updated_at=now)
                for r in self._known.values()
                if r.client_id == client_id
                and (target is None or r.target == target)
                and r.forgotten_at is None
            ]
            for r in hits:
                self._known[r.key] = r
        if self._store is not None:
            self._store.save(hits)
        return hits

    # -- one round ---------------------------------------------------------------------

    def poll(self) -> ClientReport:
        """Read everything once and judge every client, member, group and topic."""
        errors: list[str] = []
        state = self._read_groups(errors)
        self._discover(state, errors)
        # Offsets are read while the JVMs are: a frozen JVM holds the collection for the
        # whole JMX timeout, and the verdict should not wait for the brokers on top of it.
        offset_errors: list[str] = []
        offsets = self._offsets_pool().submit(self._read_offsets, state, offset_errors)
        try:
            results = self.collector.collect()
        finally:
            offsets.result()
        errors += offset_errors
        now = self.clock.now()
        observations = self._with_telemetry(self._observe(results, now), now)
        restored, unread = self._restored(observations)
        rows = self._judge({**observations, **restored}, state, now) + unread
        rows = [replace(r, identity="restored") if r.key in restored else r for r in rows]
        rows = self._remembered([self._decorated(r) for r in rows], now)
        groups = self._group_health(state, now) if state.groups_ok else {}
        silent = self._silent_topics(state, now)
        self._prev_ends = dict(state.ends) or self._prev_ends
        rows.sort(key=lambda r: (r.kind, r.group or "", r.client_id, r.target or ""))
        samples = tuple(s for r in results if r.ok for s in r.samples)
        samples += tuple(s for c in self._pushed.values() for s in c.samples)
        return ClientReport(
            self.cluster, now, rows, groups, silent, errors, samples, frozenset(self._repeated)
        )

    def close(self) -> None:
        """Stop the offset-reading thread, then release the collector and admin this
        monitor was built with (idempotent)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        self.collector.close()
        close = getattr(self.admin, "close", None)  # recorded answers hold nothing
        if callable(close):
            close()

    def _offsets_pool(self) -> cf.ThreadPoolExecutor:
        if self._pool is None:
            self._pool = cf.ThreadPoolExecutor(max_workers=1, thread_name_prefix="client-offsets")
        return self._pool

    # -- I/O -----------------------------------------------------------------------------

    def _read_groups(self, errors: list[str]) -> _Cluster:
        state = _Cluster()
        try:
            ids = [g.group_id for g in self.admin.groups() if not g.simple]
            ids = [g for g in ids if g != PEEK_GROUP]
            state.descriptions = self.admin.describe_groups(ids)
        except SourceError as e:
            errors.append(f"groups not read: {e}")
            return state
        state.groups_ok = True
        for desc in state.descriptions.values():
            if desc.error is not None:
                errors.append(f"group {desc.group_id} not described: {desc.error}")
            for m in desc.members:
                state.members.append(
                    MemberObservation(
                        desc.group_id,
                        m.member_id,
                        m.client_id,
                        m.host,
                        frozenset(m.assignment),
                    )
                )
        return state

    def _discover(self, state: _Cluster, errors: list[str]) -> None:
        hosts = {normalize_host(m.host) for m in state.members if m.host}
        now = self.clock.now()
        if hosts - self._member_hosts or now - self._probed_at > PROBE_REFRESH:
            # A port found closed is re-probed when the member hosts change, and every
            # PROBE_REFRESH seconds (a client restarted on a known host may open it).
            self.discovery.forget_probe_misses()
            self._probed_at = now
        self._member_hosts |= hosts
        try:
            found = self.discovery.refresh(hosts)
        except KafkascopeError as e:  # e.g. a malformed file_sd: the known targets still count
            errors.append(f"client discovery failed: {e}")
            found = list(self.discovery.known.values())
        endpoints = []
        targets = [(t.target, t.source) for t in found]
        listed = {t for t, _ in targets}
        with self._known_lock:
            restored = {
                r.target
                for r in self._known.values()
                if r.forgotten_at is None and not r.target.startswith(TARGET_PREFIX)
            }
        targets += [(t, "restored") for t in sorted(restored - listed)]
        for target, source in targets:
            try:
                endpoints.append(self._endpoint(target))
            except SourceError as e:
                errors.append(f"client target {target} ({source}) ignored: {e.detail}")
        self.collector.set_targets(endpoints, sets=self._sets)

    def _read_offsets(self, state: _Cluster, errors: list[str]) -> None:
        if state.groups_ok and state.descriptions:
            try:
                state.committed = self.admin.committed_offsets(list(state.descriptions))
            except SourceError as e:
                errors.append(f"committed offsets not read: {e}")
        try:
            partitions = self._topic_partitions(state)
            if partitions:
                state.ends = self.admin.log_offsets(partitions)
        except SourceError as e:
            errors.append(f"end offsets not read: {e}")

    def _topic_partitions(self, state: _Cluster) -> list[TopicPartitionKey]:
        """Every partition of every topic (cached for ``topics_ttl``; re-read at once when
        a group names a topic the cache does not know)."""
        now = self.clock.now()
        named = {tp[0] for m in state.members for tp in m.assignment}
        named |= {tp[0] for offsets in state.committed.values() for tp in offsets}
        stale = self._partitions_at is None or now - self._partitions_at > self._topics_ttl
        if stale or not named <= set(self._partitions):
            self._partitions = {
                t.name: tuple((t.name, p.partition) for p in t.partitions)
                for t in self.admin.topics()
            }
            self._partitions_at = now
        return [tp for tps in self._partitions.values() for tp in tps]

    # -- observations ----------------------------------------------------------------------

    def _observe(
        self, results: Sequence[CollectResult], now: float
    ) -> dict[ClientKey, ClientObservation]:
        fresh = {f.target: f for f in self.collector.freshness()}
        for target, tf in fresh.items():
            tmem = self._targets.setdefault(target, _TargetMemory())
            if tf.failing:
                if tmem.failing_since is None:
                    tmem.failing_since = tf.last_error_at or tf.last_attempt or now
            elif tmem.failing_since is not None:
                tmem.failing_since = None
                tmem.recovered_at = now
        samples: dict[str, list[Sample]] = {}
        for r in results:
            if r.ok and r.identity is not None:
                self._targets.setdefault(r.target, _TargetMemory()).present = set(
                    r.identity.clients
                )
                samples[r.target] = list(r.samples)
        by_client = self._samples_by_client(samples)
        out: dict[ClientKey, ClientObservation] = {}
        for c in self.collector.clients():
            f = fresh.get(c.target)
            if f is None or c.role not in ("consumer", "producer"):
                continue
            key: ClientKey = (c.target, c.role, c.client_id)
            mem = self._clients.setdefault(key, _ClientMemory())
            if c.target in samples:
                self._remember(mem, by_client.get(key, []), now)
            out[key] = self._observation(c, f, mem, now)
        return out

    def _samples_by_client(
        self, samples: Mapping[str, list[Sample]]
    ) -> dict[ClientKey, list[Sample]]:
        out: dict[ClientKey, list[Sample]] = {}
        for target, found in samples.items():
            for s in found:
                cid = s.client_id
                spec = self._names.get(s.name)
                if cid is None or spec is None:
                    continue
                out.setdefault((target, spec[0], cid), []).append(s)
        return out

    def _remember(self, mem: _ClientMemory, samples: Sequence[Sample], now: float) -> None:
        """Fold one successful read of a client into its memory."""
        metrics: dict[str, float] = {}
        lags: dict[TopicPartitionKey, float] = {}
        for s in samples:
            if s.name == PARTITION_LAG:
                topic, partition = s.label("topic"), s.label("partition")
                if topic is not None and partition is not None and partition.isdigit():
                    lags[(topic, int(partition))] = s.value
            elif len(s.labels) == 1:  # client-level: only the client_id label
                metrics[self._names[s.name][1]] = s.value
        mem.metrics, mem.partition_lag = metrics, lags
        th = self.thresholds
        total = metrics.get("record-send-total")
        if total is not None and total != mem.send_total:
            mem.send_total, mem.send_total_since = total, now
        gap = metrics.get("time-between-poll-max")
        if gap is not None:
            mem.gaps.append((now, gap))
        while mem.gaps and mem.gaps[0][0] < now - 2 * th.max_poll_interval:
            mem.gaps.popleft()
        for attr in TROUBLE_COUNTERS:
            value = metrics.get(attr)
            if value is None:
                continue
            points = mem.counters.setdefault(attr, deque())
            if points and value < points[-1][1]:
                points.clear()  # the counter restarted with its client
            points.append((now, value))
            while len(points) > 1 and points[1][0] <= now - th.failing_window:
                points.popleft()
        rebalances = metrics.get("rebalance-total")
        if rebalances is not None:
            if mem.rebalances and rebalances < mem.rebalances[-1][1]:
                mem.rebalances.clear()  # the counter restarted with its client
            mem.rebalances.append((now, rebalances))

    def _observation(
        self, c: ClientFreshness, f: TargetFreshness, mem: _ClientMemory, now: float
    ) -> ClientObservation:
        tmem = self._targets.get(c.target, _TargetMemory())
        health = TargetHealth(
            c.target,
            last_attempt=f.last_attempt,
            last_success=f.last_success,
            error=error_word(f),
            failures=f.failures,
            failing_since=tmem.failing_since if f.failing else None,
            detail=f.last_error if f.failing else None,
        )
        return ClientObservation(
            target=c.target,
            client_id=c.client_id,
            kind=c.role,
            health=health,
            present=(c.role, c.client_id) in tmem.present,
            first_seen=c.first_seen,
            last_seen=c.last_seen,
            metrics=dict(mem.metrics),
            assigned=frozenset(mem.partition_lag),
            send_total_since=mem.send_total_since if c.role == "producer" else None,
            poll_gap_max_ms=max((g for _, g in mem.gaps), default=None),
            trouble=self._trouble(mem) if c.role == "producer" else None,
        )

    def _trouble(self, mem: _ClientMemory) -> ProducerTrouble:
        """How much each trouble counter grew over the failing window (only growth seen
        by this monitor counts: errors from before it started watching are history)."""

        def grew(attr: str) -> float:
            points = mem.counters.get(attr)
            return max(0.0, points[-1][1] - points[0][1]) if points else 0.0

        return ProducerTrouble(
            self.thresholds.failing_window,
            errors=grew("record-error-total"),
            retries=grew("record-retry-total"),
            metadata_wait=grew("metadata-wait-time-ns-total") / 1e9,
            buffer_exhausted=grew("buffer-exhausted-total"),
        )

    # -- verdicts ----------------------------------------------------------------------------

    def _judge(
        self,
        observations: Mapping[ClientKey, ClientObservation],
        state: _Cluster,
        now: float,
    ) -> list[ClientVerdictRow]:
        th = self.thresholds
        keys = {(o.target, o.kind, o.client_id): k for k, o in observations.items()}
        pairings, unclaimed = join(state.members, list(observations.values()))
        by_group: dict[str, list[MemberObservation]] = {}
        for m in state.members:
            by_group.setdefault(m.group, []).append(m)
        rows: list[ClientVerdictRow] = []
        ends = self._ends(state)  # once per poll: it copies every partition's end offset
        for p in pairings:
            paired = p
            if p.client is not None:
                key = keys[(p.client.target, p.client.kind, p.client.client_id)]
                mem = self._clients[key]
                mem.group, mem.member_seen = p.member.group, now
                committed = state.committed.get(p.member.group)
                backlog = backlog_of(p.member.assignment, committed, ends)
                unread = _offsets_unread(p.member.assignment, committed, ends)
                client = replace(p.client, backlog=backlog, offsets_unread=unread)
                paired = Pairing(p.member, client, p.ambiguous)
            first = p.client.first_seen if p.client is not None else None
            unassigned = unassigned_reason(p.member, by_group[p.member.group])
            rows.append(_row(judge_member(paired, now, th, unassigned), first))
        for obs in unclaimed:
            key = keys[(obs.target, obs.kind, obs.client_id)]
            mem = self._clients[key]
            if obs.kind == "consumer":
                backlog, unread = _unclaimed_offsets(obs, mem.group, state.committed, ends)
                obs = replace(obs, backlog=backlog, offsets_unread=unread)
            seen = mem.member_seen if state.groups_ok else None
            recovered = self._targets.get(obs.target, _TargetMemory()).recovered_at
            if seen is not None and recovered is not None:
                seen = max(seen, recovered)  # a thawed JVM gets a rebalance's time to rejoin
            rows.append(_row(judge_unclaimed(obs, mem.group, seen, now, th), obs.first_seen))
        rows += self._silent_targets(observations)
        return rows

    def _restored(
        self, observations: Mapping[ClientKey, ClientObservation]
    ) -> tuple[dict[ClientKey, ClientObservation], list[ClientVerdictRow]]:
        """Clients the store knows that this process has not read yet, as observations
        under the name, kind and group they had, judged like every other (joined to their
        group member, if the coordinator still lists it): a dead consumer stays the same
        subject across a restart, so its alert neither resolves nor re-fires. A client
        whose target was not even tried yet keeps its stored verdict (the second list)."""
        fresh = {f.target: f for f in self.collector.freshness()}
        with self._known_lock:
            records = [r for k, r in self._known.items() if k not in observations]
        out: dict[ClientKey, ClientObservation] = {}
        rows = []
        for r in records:
            if r.forgotten_at is not None:
                continue
            if r.target.startswith(TARGET_PREFIX):
                restored = self._restored_pusher(r)
                if restored is not None:
                    out[r.key] = restored
                    mem = self._clients.setdefault(r.key, _ClientMemory())
                    mem.group = mem.group or r.group
                continue
            f = fresh.get(r.target)
            if f is None or f.last_attempt is None:
                rows.append(_restored_row(r, f"{r.reason}{NOT_READ}"))
                continue
            tmem = self._targets.get(r.target, _TargetMemory())
            obs = ClientObservation(
                target=r.target,
                client_id=r.client_id,
                kind=r.kind,
                health=TargetHealth(
                    r.target,
                    last_attempt=f.last_attempt,
                    last_success=f.last_success,
                    error=error_word(f),
                    failures=f.failures,
                    failing_since=tmem.failing_since if f.failing else None,
                    detail=f.last_error if f.failing else None,
                ),
                present=False,
                first_seen=r.first_seen,
                last_seen=r.last_seen,
            )
            out[r.key] = obs
            mem = self._clients.setdefault(r.key, _ClientMemory())
            mem.group = mem.group or r.group
        return out, rows

    # -- telemetry ------------------------------------------------------------------------

    def _with_telemetry(
        self, observations: dict[ClientKey, ClientObservation], now: float
    ) -> dict[ClientKey, ClientObservation]:
        """Add the clients that push KIP-714 telemetry. One that JMX also reads (same client
        id, kind and host) stays one client, its source ``jmx+telemetry``: JMX judges it,
        as it reads more. The others are judged from their pushes."""
        pushed = self.telemetry.clients(now) if self.telemetry is not None else []
        self._pushed = {}
        folded, self._folded = self._folded, {}
        self._repeated = set()
        by_jmx = {(o.client_id, o.kind, o.host): k for k, o in observations.items()}
        out = dict(observations)
        for c in pushed:
            jmx_key = by_jmx.get((c.meta.client_id, c.role, normalize_host(c.meta.source_address)))
            if jmx_key is not None:
                out[jmx_key] = replace(out[jmx_key], source="jmx+telemetry")
                self._pushed[jmx_key] = c
                continue
            key: ClientKey = (c.target, c.role, c.meta.client_id)
            mem = self._clients.setdefault(key, _ClientMemory())
            if folded.get(c.target) == c.pushes:
                # No push since the last poll: its values are in memory (folding them again
                # would count one reading twice) and in history.
                self._repeated.add(c.target)
            else:
                by_client = self._samples_by_client({c.target: list(c.samples)})
                self._remember(mem, by_client.get(key, []), now)
            self._folded[c.target] = c.pushes
            self._pushed[key] = c
            out[key] = ClientObservation(
                target=c.target,
                client_id=c.meta.client_id,
                kind=c.role,
                health=TargetHealth(c.target, last_attempt=c.last_push, last_success=c.last_push),
                first_seen=c.first_push,
                last_seen=c.last_push,
                metrics=dict(mem.metrics),
                assigned=frozenset(mem.partition_lag),
                send_total_since=mem.send_total_since if c.role == "producer" else None,
                poll_gap_max_ms=max((g for _, g in mem.gaps), default=None),
                trouble=self._trouble(mem) if c.role == "producer" else None,
                push=PushState(c.last_push, c.interval, c.terminating),
                address=c.meta.source_address or None,
                source="telemetry",
            )
        return out

    def _restored_pusher(self, r: ClientRecord) -> ClientObservation | None:
        """A telemetry client the store knows that has not pushed since kafkascope started,
        judged from its last push (joined to its member like any other): one stored DEAD
        stays DEAD (the same alert subject across a restart), a departed one stays
        departed (not listed once an hour old). One stored alive is left out until it has
        had two intervals to push (meanwhile its member reads membership-only); then,
        without a push, it is DEAD."""
        interval = self.telemetry.interval if self.telemetry is not None else 10.0
        now = self.clock.now()
        last = r.last_seen if r.last_seen is not None else r.updated_at
        departed = r.liveness == Liveness.DEPARTED.value
        dead = r.liveness in (Liveness.DEAD.value, Liveness.RETIRED.value)
        if departed and now - last > 3600.0:
            return None
        if not (departed or dead) and now - self._started_at <= 2 * interval:
            return None
        return ClientObservation(
            target=r.target,
            client_id=r.client_id,
            kind=r.kind,
            health=TargetHealth(r.target, last_attempt=last, last_success=last),
            first_seen=r.first_seen,
            last_seen=last,
            push=PushState(last, interval, departed),
            address=r.host,
            source="telemetry",
        )

    def _decorated(self, row: ClientVerdictRow) -> ClientVerdictRow:
        """A pushing client's row gets its instance id and software."""
        c = self._pushed.get(row.key) if row.key is not None else None
        if c is None:
            return row
        return replace(
            row,
            client_instance_id=c.meta.client_instance_id,
            software=f"{c.meta.software_name}/{c.meta.software_version}",
        )

    def _remembered(self, rows: list[ClientVerdictRow], now: float) -> list[ClientVerdictRow]:
        """Fold this poll's rows into the known clients: drop forgotten ones (until seen
        alive again), retire the long dead, and store what changed."""
        retire_after = self.thresholds.retire_after
        out: list[ClientVerdictRow] = []
        changed: list[ClientRecord] = []
        with self._known_lock:
            for row in rows:
                key = row.key
                if key is None:
                    out.append(row)
                    continue
                old = self._known.get(key)
                if old is not None and old.forgotten_at is not None:
                    seen_since = row.last_seen is not None and row.last_seen > old.forgotten_at
                    if not (seen_since and row.identity == "observed"):
                        continue  # forgotten: stays away until it is seen alive again
                    old = None
                dead = row.liveness is Liveness.DEAD
                same = old is not None and _streak(old.liveness) == _streak(row.liveness.value)
                since = old.since if old is not None and same else now
                if dead and now - since >= retire_after:
                    row = replace(
                        row,
                        liveness=Liveness.RETIRED,
                        reason=(
                            f"retired: DEAD since {_clock(since)} (over "
                            f"{_duration(retire_after)}); last: {row.reason}"
                        ),
                    )
                out.append(row)
                record = ClientRecord(
                    target=key[0],
                    kind=key[1],
                    client_id=key[2],
                    group=row.group,
                    host=row.host,
                    member_id=row.member_id,
                    first_seen=row.first_seen
                    if row.first_seen is not None
                    else (old.first_seen if old else None),
                    last_seen=row.last_seen
                    if row.last_seen is not None
                    else (old.last_seen if old else None),
                    liveness=row.liveness.value,
                    reason=row.reason,
                    since=since,
                    updated_at=now,
                )
                unread = row.identity == "restored" and row.reason.endswith(NOT_READ)
                if not unread and (old is None or _moved(old, record)):
                    changed.append(record)
                    self._known[key] = record
        if self._store is not None and changed:
            self._store.save(changed)
        return out

    def _ends(self, state: _Cluster) -> dict[TopicPartitionKey, int]:
        """End offsets as of the previous poll where known: records that arrived since are
        not yet a sign of a consumer ignoring its work."""
        return {**state.ends, **{tp: e for tp, e in self._prev_ends.items() if tp in state.ends}}

    def _silent_targets(
        self, observations: Mapping[ClientKey, ClientObservation]
    ) -> list[ClientVerdictRow]:
        """Targets that failed and never showed a client: listed (file_sd, static) but
        never answered. Reported so a client that died before we first looked is seen."""
        with_clients = {o.target for o in observations.values()}
        with self._known_lock:
            with_clients |= {r.target for r in self._known.values()}
        rows = []
        for f in self.collector.freshness():
            if f.target in with_clients or not f.failing or f.last_success is not None:
                continue
            ct = self.discovery.known.get(f.target)
            labels = dict(ct.labels) if ct is not None else {}
            role = labels.get("role", "")
            kind = role if role in ("consumer", "producer") else "unknown"
            tmem = self._targets.get(f.target, _TargetMemory())
            obs = ClientObservation(
                target=f.target,
                client_id=labels.get("client_id", "?"),
                kind=kind,
                health=TargetHealth(
                    f.target,
                    last_attempt=f.last_attempt,
                    error=error_word(f),
                    failures=f.failures,
                    failing_since=tmem.failing_since,
                    detail=f.last_error,
                ),
            )
            v = judge_client(obs, self.clock.now(), self.thresholds)
            listed = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
            listed = f"; listed by {ct.source} as {listed}" if ct is not None and listed else ""
            reason = f"{v.reason} (never answered since kafkascope began watching it{listed})"
            row = _row(replace(v, reason=reason, group=labels.get("group")), None)
            rows.append(replace(row, identity="hint") if "client_id" in labels else row)
        return rows

    # -- groups and topics -----------------------------------------------------------------

    def _group_health(self, state: _Cluster, now: float) -> dict[str, GroupHealth]:
        th = self.thresholds
        since = now - th.storm_window
        members_by_group: dict[str, list[MemberObservation]] = {}
        for m in state.members:
            members_by_group.setdefault(m.group, []).append(m)
        out: dict[str, GroupHealth] = {}
        for group, desc in state.descriptions.items():
            if desc.error is not None:
                continue
            members = members_by_group.get(group, [])
            gm = self._groups.setdefault(group, _GroupMemory())
            gm.counts.append(len(members))
            for m in members:
                gm.member_ids[m.member_id] = now
            for mid in [mid for mid, t in gm.member_ids.items() if t < since]:
                del gm.member_ids[mid]
            # The group's topics are those its members are assigned now: old commits of a
            # topic it no longer reads would otherwise show as unowned forever.
            topics = {tp[0] for m in members for tp in m.assignment}
            partitions = {tp for t in topics for tp in self._partitions.get(t, ())}
            expected = self.expected_members.get(group) or learned_member_count(gm.counts)
            rebalances = max(
                (
                    _window_delta(mem.rebalances, since)
                    for mem in self._clients.values()
                    if mem.group == group
                ),
                default=0,
            )
            out[group] = group_health(
                group,
                members,
                partitions,
                expected,
                rebalances,
                len(gm.member_ids),
                th.storm_threshold,
            )
        return out

    def _silent_topics(self, state: _Cluster, now: float) -> dict[str, str]:
        if not state.ends:
            return {}
        for gone in [t for t in self._topic_history if t not in self._partitions]:
            del self._topic_history[gone]  # deleted topics are not "silent"
        out: dict[str, str] = {}
        for topic, tps in self._partitions.items():
            if not tps or any(tp not in state.ends for tp in tps):
                continue  # a partial read must not look like a drop
            history = self._topic_history.setdefault(topic, [])
            compress_append(history, now, sum(state.ends[tp] for tp in tps))
            reason = producers_silent(history, now, self.thresholds.silent_after)
            if reason is not None:
                out[topic] = reason
        return out


def _streak(liveness: str) -> str:
    """RETIRED continues a DEAD streak: retirement must not restart the clock."""
    return Liveness.DEAD.value if liveness == Liveness.RETIRED.value else liveness


def _moved(old: ClientRecord, new: ClientRecord) -> bool:
    """Whether ``new`` is worth a write: a different verdict or identity at once, and the
    moving parts (reason, last seen) at most every :data:`RECORD_REFRESH` seconds."""
    identity = (old.group, old.host, old.member_id, old.first_seen, old.liveness, old.since)
    if identity != (new.group, new.host, new.member_id, new.first_seen, new.liveness, new.since):
        return True
    stale = new.updated_at - old.updated_at >= RECORD_REFRESH
    return stale and (old.reason != new.reason or old.last_seen != new.last_seen)


def _clock(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    return f"{seconds:g} s"


def _restored_row(r: ClientRecord, reason: str) -> ClientVerdictRow:
    telemetry = r.target.startswith(TARGET_PREFIX)
    return ClientVerdictRow(
        client_id=r.client_id,
        kind=r.kind,
        group=r.group,
        target=r.target,
        liveness=Liveness(r.liveness),
        reason=reason,
        last_seen=r.last_seen,
        first_seen=r.first_seen,
        host=r.host,
        member_id=None,
        identity="restored",
        source="telemetry" if telemetry else "jmx",
    )


def _row(v: Verdict, first_seen: float | None) -> ClientVerdictRow:
    return ClientVerdictRow(
        client_id=v.client_id,
        kind=v.kind,
        group=v.group,
        target=v.target,
        liveness=v.liveness,
        reason=v.reason,
        last_seen=v.last_seen,
        first_seen=first_seen,
        host=v.host,
        member_id=v.member_id,
        source=v.source,
    )

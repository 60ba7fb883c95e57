"""Cluster state over the Kafka protocol: a thin adapter over confluent-kafka's AdminClient.

Everything it returns is a plain frozen dataclass, a dict or a tuple, so the evaluators, the
CLI and the service never touch a librdkafka object. Facts this module relies on:

* librdkafka retries forever on its own, so every public method here is bounded by
  ``timeout`` seconds in total, and an unreachable bootstrap is reported as soon as a
  direct TCP probe confirms nothing listens (``Unreachable``), not after the full bound.
* ``list_consumer_group_offsets`` takes exactly one group per call and
  ``describe_consumer_groups`` sends one request per group: all futures are issued at once
  and gathered together. ``list_offsets`` is batched per partition leader by the client.
* A group that does not exist is described by the broker as state DEAD (librdkafka falls
  back from KIP-848's ConsumerGroupDescribe to the classic DescribeGroups and reports type
  CLASSIC): here it comes back as ``GroupState.DEAD`` with ``GroupType.UNKNOWN``, never as an
  exception.
* In KRaft the "controller" of DescribeCluster is a random live broker (controllers are not
  reachable by clients); read ``ActiveControllerCount`` over JMX for the real one.
* librdkafka's log is quiet by default (``log_level`` 2) and routed to the
  ``kafkascope.librdkafka`` logger; connection errors reach us through ``error_cb`` and end
  up in the exceptions raised here.
"""

from __future__ import annotations

import concurrent.futures as cf
import enum
import logging
import re
import socket
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeVar

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicCollection,
    TopicPartition,
)
from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ConfigResource,
    OffsetSpec,
    ResourceType,
)

from kafkascope.clock import Clock, SystemClock
from kafkascope.errors import AuthFailed, ConfigError, SourceError, Timeout, Unreachable

__all__ = [
    "Broker",
    "ClusterInfo",
    "GroupDescription",
    "GroupListing",
    "GroupMember",
    "GroupState",
    "GroupType",
    "KafkaAdmin",
    "OffsetSnapshot",
    "PartitionInfo",
    "TopicInfo",
    "TopicPartitionKey",
]

log = logging.getLogger(__name__)
#: librdkafka's own log lines (only those at or above the client's ``log_level``).
rdkafka_log = logging.getLogger("kafkascope.librdkafka")

#: ``(topic, partition)``: how every offset map here is keyed.
TopicPartitionKey = tuple[str, int]
TP = TopicPartitionKey
K = TypeVar("K")

#: librdkafka's OFFSET_INVALID: the group never committed this partition.
OFFSET_INVALID = -1001
#: The throwaway group id of the short-lived consumer that reads record timestamps. It only
#: ever ``assign``s (no join, no commit), so it never appears as a group on the brokers.
PEEK_GROUP = "kafkascope-peek"

_AUTHN = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL}
_AUTHZ = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
_TRANSPORT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}
#: Errors about the connection or the whole cluster, as opposed to one group or partition.
_CLUSTER_WIDE = (
    _AUTHN
    | _TRANSPORT
    | {KafkaError._TIMED_OUT, KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError._DESTROY}
)
#: OffsetSpec's factories are untyped in confluent-kafka 2.16.
_SPECS: dict[str, Any] = {
    "latest": OffsetSpec.latest(),  # type: ignore[no-untyped-call]
    "earliest": OffsetSpec.earliest(),  # type: ignore[no-untyped-call]
}
_SECRET_KEY = re.compile(r"password|secret|token|credential|key", re.IGNORECASE)


# ---------------------------------------------------------------------------------------
# Plain values
# ---------------------------------------------------------------------------------------


class GroupState(enum.StrEnum):
    """A consumer group's state as librdkafka reports it. KIP-848 groups' ASSIGNING and
    RECONCILING have no librdkafka code yet and read as UNKNOWN."""

    STABLE = "STABLE"
    EMPTY = "EMPTY"
    DEAD = "DEAD"
    PREPARING_REBALANCE = "PREPARING_REBALANCE"
    COMPLETING_REBALANCE = "COMPLETING_REBALANCE"
    UNKNOWN = "UNKNOWN"


class GroupType(enum.StrEnum):
    """CLASSIC (JoinGroup/SyncGroup) or CONSUMER (KIP-848, ``group.protocol=consumer``)."""

    CLASSIC = "CLASSIC"
    CONSUMER = "CONSUMER"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Broker:
    id: int
    host: str
    port: int
    rack: str | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class ClusterInfo:
    """``controller_id`` is what DescribeCluster says: in KRaft, any live broker."""

    cluster_id: str | None
    controller_id: int | None
    brokers: tuple[Broker, ...]


@dataclass(frozen=True, slots=True)
class PartitionInfo:
    """One partition's replica state. ``leader`` is None when the partition is offline.
    The health flags are computed from the other fields, so they can never disagree."""

    topic: str
    partition: int
    leader: int | None
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    #: The topic's effective ``min.insync.replicas``, None when it could not be read.
    min_isr: int | None = None
    offline: bool = field(init=False)
    under_replicated: bool = field(init=False)
    #: None when ``min_isr`` is unknown.
    under_min_isr: bool | None = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "offline", self.leader is None)
        object.__setattr__(self, "under_replicated", len(self.isr) < len(self.replicas))
        under_min = None if self.min_isr is None else len(self.isr) < self.min_isr
        object.__setattr__(self, "under_min_isr", under_min)


@dataclass(frozen=True, slots=True)
class TopicInfo:
    name: str
    internal: bool
    partitions: tuple[PartitionInfo, ...]
    min_insync_replicas: int | None = None

    @property
    def replication_factor(self) -> int:
        return max((len(p.replicas) for p in self.partitions), default=0)

    @property
    def offline_partitions(self) -> int:
        return sum(p.offline for p in self.partitions)

    @property
    def under_replicated_partitions(self) -> int:
        return sum(p.under_replicated for p in self.partitions)

    @property
    def under_min_isr_partitions(self) -> int:
        return sum(bool(p.under_min_isr) for p in self.partitions)


@dataclass(frozen=True, slots=True)
class GroupListing:
    """One entry of ListGroups. ``protocol_type`` is "consumer" for groups of subscribing
    consumers and "" for simple groups (offsets committed without membership): that is all
    librdkafka exposes (``is_simple_consumer_group``)."""

    group_id: str
    state: GroupState
    type: GroupType
    simple: bool
    protocol_type: str


@dataclass(frozen=True, slots=True)
class GroupMember:
    """``host`` without Java's leading "/" (the broker reports ``/127.0.0.1``).
    ``target_assignment`` is set only for KIP-848 (CONSUMER) groups."""

    member_id: str
    client_id: str
    host: str
    assignment: tuple[TP, ...]
    group_instance_id: str | None = None
    target_assignment: tuple[TP, ...] | None = None


@dataclass(frozen=True, slots=True)
class GroupDescription:
    """What the group coordinator says about one group. ``error`` is set (and ``state`` is
    UNKNOWN) when this one group could not be described, e.g. not authorised."""

    group_id: str
    state: GroupState
    type: GroupType
    coordinator_id: int | None
    partition_assignor: str
    simple: bool
    members: tuple[GroupMember, ...]
    error: str | None = None

    @property
    def exists(self) -> bool:
        return self.state is not GroupState.DEAD and self.error is None


@dataclass(frozen=True, slots=True)
class OffsetSnapshot:
    """Committed offsets and log offsets read together (committed first, see
    :meth:`KafkaAdmin.snapshot`). ``taken_at`` is the wall time (seconds since the epoch)
    when the end offsets arrived. A group in ``group_errors`` could not be read: it is not
    the same as a group with no commits (present in ``committed`` with an empty map)."""

    taken_at: float
    committed: Mapping[str, Mapping[TP, int]]
    end_offsets: Mapping[TP, int]
    start_offsets: Mapping[TP, int]
    group_errors: Mapping[str, str] = field(default_factory=dict)
    partition_errors: Mapping[TP, str] = field(default_factory=dict)

    def lag(self, group: str, tp: TP) -> int | None:
        """End offset minus committed offset, clamped at 0; None when either is unknown.

        A committed offset above the end offset is not progress: it is a transaction
        marker, a truncated log or the other read order. Clamp it; ``negative_lags``
        counts how often that happened so it can be watched."""
        committed = self.committed.get(group, {}).get(tp)
        end = self.end_offsets.get(tp)
        if committed is None or end is None:
            return None
        return max(0, end - committed)

    def lags(self, group: str) -> dict[TP, int]:
        """Every partition of ``group`` with a known lag."""
        out: dict[TP, int] = {}
        for tp in self.committed.get(group, {}):
            lag = self.lag(group, tp)
            if lag is not None:
                out[tp] = lag
        return out

    @property
    def negative_lags(self) -> int:
        """How many (group, partition) lags were negative before clamping."""
        return sum(
            1
            for offsets in self.committed.values()
            for tp, committed in offsets.items()
            if tp in self.end_offsets and committed > self.end_offsets[tp]
        )


# ---------------------------------------------------------------------------------------
# The adapter
# ---------------------------------------------------------------------------------------


@dataclass
class _Call:
    """One bounded public call: its deadline and what the connection said meanwhile."""

    what: str
    deadline: float
    transport: list[str] = field(default_factory=list)
    next_probe: float = 0.0

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    @property
    def request_timeout(self) -> float:
        """librdkafka's own bound for a request issued now."""
        return max(0.1, self.remaining())


class KafkaAdmin:
    """Reads brokers, topics, groups and offsets from one Kafka cluster.

    ``properties`` are passed to librdkafka as they are (``security.protocol``,
    ``sasl.*``, ``ssl.*`` ...); they are never logged. Every public method returns or
    raises within about ``timeout`` seconds: ``Unreachable`` when nothing answers at the
    bootstrap servers, ``AuthFailed`` when credentials or ACLs are refused, ``Timeout``
    when it connected but got no answer in time. Safe to share between threads.
    """

    def __init__(
        self,
        bootstrap: str,
        properties: Mapping[str, str] | None = None,
        timeout: float = 10.0,
        *,
        clock: Clock | None = None,
    ) -> None:
        if not bootstrap.strip():
            raise ConfigError("no Kafka bootstrap servers given. Fix: pass HOST:PORT[,HOST:PORT]")
        if timeout <= 0:
            raise ConfigError(f"the Kafka admin timeout must be positive (got {timeout})")
        self.bootstrap = bootstrap.strip()
        self.timeout = float(timeout)
        self._properties = {str(k): str(v) for k, v in (properties or {}).items()}
        self._clock = clock or SystemClock()
        self._lock = threading.Lock()
        self._errors: list[KafkaError] = []
        self._last_auth: tuple[float, KafkaError] | None = None
        self._pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="kafka-admin")
        self._admin: AdminClient | None = self._build(AdminClient, {})

    def __repr__(self) -> str:  # never the properties: they hold credentials
        protocol = self._properties.get("security.protocol", "PLAINTEXT")
        return f"KafkaAdmin({self.bootstrap}, {protocol}, timeout={self.timeout:g})"

    def __enter__(self) -> KafkaAdmin:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Drop the client (librdkafka stops its threads). Idempotent."""
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._admin = None

    # -- cluster and topics -------------------------------------------------------------

    def cluster(self) -> ClusterInfo:
        """Cluster id, the controller id and every registered broker, from a Metadata
        request. Not DescribeCluster: librdkafka routes that to "the controller", and when
        the broker it picked stops, the call times out until its metadata refreshes, so
        the one poll that matters (a broker just died) would see no brokers at all."""
        call = self._begin("describe the cluster")
        md = self._one(self._pool.submit(self._list_topics, call.request_timeout), call)
        brokers = sorted(
            (Broker(int(b.id), str(b.host), int(b.port), None) for b in md.brokers.values()),
            key=lambda b: b.id,
        )
        controller = (
            md.controller_id if md.controller_id is not None and md.controller_id >= 0 else None
        )
        return ClusterInfo(md.cluster_id, controller, tuple(brokers))

    def topics(
        self, include_internal: bool = False, names: Iterable[str] | None = None
    ) -> list[TopicInfo]:
        """Topics (all, or ``names``) with each partition's leader, replicas and ISR, sorted
        by name. ``min.insync.replicas`` comes from one batched DescribeConfigs; when it
        cannot be read (e.g. no DescribeConfigs ACL) ``under_min_isr`` is None."""
        call = self._begin("describe topics")
        if names is None:
            md = self._one(self._pool.submit(self._list_topics, call.request_timeout), call)
            wanted = sorted(md.topics)
        else:
            wanted = sorted(set(names))
        if not wanted:
            return []
        futs = self._client.describe_topics(
            TopicCollection(wanted), request_timeout=call.request_timeout
        )
        self._wait(futs.values(), call)
        descs, failed = self._split(futs, call)
        for name, reason in failed.items():
            log.debug("topic %s vanished or cannot be described: %s", name, reason)
        kept = [d for d in descs.values() if include_internal or not d.is_internal]
        min_isr = self._min_isr([d.name for d in kept], call)
        return sorted((_topic(d, min_isr.get(d.name)) for d in kept), key=lambda t: t.name)

    def _list_topics(self, timeout: float) -> Any:
        return self._client.list_topics(timeout=timeout)

    def _min_isr(self, names: Sequence[str], call: _Call) -> dict[str, int | None]:
        if not names or call.remaining() <= 0:
            return {}
        resources = [ConfigResource(ResourceType.TOPIC, n) for n in names]
        futs = self._client.describe_configs(resources, request_timeout=call.request_timeout)
        try:
            self._wait(futs.values(), call)
        except Timeout:
            log.warning("min.insync.replicas not read in time: under-min-ISR unknown")
            return {}
        configs, failed = self._split(futs, call, strict=False)
        if failed:
            log.warning(
                "min.insync.replicas unreadable for %d topics (%s)",
                len(failed),
                next(iter(failed.values())),
            )
        out: dict[str, int | None] = {}
        for resource, entries in configs.items():
            entry = entries.get("min.insync.replicas")
            value = getattr(entry, "value", None)
            out[resource.name] = int(value) if value is not None and value.isdigit() else None
        return out

    # -- groups -------------------------------------------------------------------------

    def groups(self) -> list[GroupListing]:
        """Every consumer group the brokers know (classic, KIP-848 and simple), by id."""
        return self._list_groups(self._begin("list consumer groups"))

    def _list_groups(self, call: _Call) -> list[GroupListing]:
        fut = self._client.list_consumer_groups(request_timeout=call.request_timeout)
        result = self._one(fut, call)
        errors = list(result.errors or [])
        valid = list(result.valid or [])
        if errors and not valid:
            raise self._fail(call, errors[0])
        if errors:
            log.warning("some brokers did not list their groups: %s", _reason(errors[0]))
        return sorted((_listing(g) for g in valid), key=lambda g: g.group_id)

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        """Members, assignments, coordinator and state of each group, in the order given.
        Requests for all groups are in flight at once. A group that does not exist comes
        back as state DEAD; one that cannot be described has ``error`` set."""
        ids = list(dict.fromkeys(group_ids))
        if not ids:
            return {}
        call = self._begin("describe consumer groups")
        futs = self._client.describe_consumer_groups(ids, request_timeout=call.request_timeout)
        self._wait(futs.values(), call)
        ok, failed = self._split(futs, call)
        out: dict[str, GroupDescription] = {}
        for group in ids:
            if group in ok:
                out[group] = _description(ok[group])
            else:
                out[group] = _undescribed(group, failed[group])
        return out

    # -- offsets ------------------------------------------------------------------------

    def committed_offsets(self, groups: Iterable[str]) -> dict[str, dict[TP, int]]:
        """``{group: {(topic, partition): offset}}``; partitions never committed are left
        out. A group whose offsets could not be fetched is left out too (and logged): use
        :meth:`snapshot` to see why."""
        committed, errors = self._committed(list(groups), self._begin("fetch committed offsets"))
        for group, reason in errors.items():
            log.warning("committed offsets of group %s not read: %s", group, reason)
        return committed

    def _committed(
        self, groups: Sequence[str], call: _Call
    ) -> tuple[dict[str, dict[TP, int]], dict[str, str]]:
        futs: dict[str, cf.Future[Any]] = {}
        for group in dict.fromkeys(groups):
            # One group per request is all the API accepts: issue every one, then gather.
            request = [ConsumerGroupTopicPartitions(group)]
            futs |= self._client.list_consumer_group_offsets(
                request, request_timeout=call.request_timeout
            )
        if not futs:
            return {}, {}
        self._wait(futs.values(), call)
        ok, failed = self._split(futs, call)
        committed = {group: _offsets_of(result) for group, result in ok.items()}
        return committed, {group: reason for group, reason in failed.items()}

    def log_offsets(self, partitions: Iterable[TP], spec: str = "latest") -> dict[TP, int]:
        """The log end (``latest``, the high watermark) or start (``earliest``) offset of
        each partition; partitions that could not be read are left out and logged."""
        call = self._begin(f"list {spec} offsets")
        futs = self._issue_offsets(list(partitions), spec, call)
        self._wait(futs.values(), call)
        offsets, failed = self._offsets_split(futs, call)
        for tp, reason in failed.items():
            log.warning("%s offset of %s[%d] not read: %s", spec, tp[0], tp[1], reason)
        return offsets

    def _issue_offsets(
        self, partitions: Sequence[TP], spec: str, call: _Call
    ) -> dict[Any, cf.Future[Any]]:
        if spec not in _SPECS:
            raise ValueError(f"offset spec must be 'latest' or 'earliest' (got {spec!r})")
        if not partitions:
            return {}
        request = {TopicPartition(t, p): _SPECS[spec] for t, p in dict.fromkeys(partitions)}
        futs: dict[Any, cf.Future[Any]] = self._client.list_offsets(
            request, request_timeout=call.request_timeout
        )
        return futs

    def _offsets_split(
        self, futs: Mapping[Any, cf.Future[Any]], call: _Call
    ) -> tuple[dict[TP, int], dict[TP, str]]:
        ok, failed = self._split(futs, call)
        offsets = {(tp.topic, tp.partition): int(r.offset) for tp, r in ok.items()}
        return offsets, {(tp.topic, tp.partition): reason for tp, reason in failed.items()}

    def snapshot(self, groups: Iterable[str] | None = None) -> OffsetSnapshot:
        """Committed offsets of ``groups`` (default: every listed group), then the end and
        start offsets of every partition they committed, all within one ``timeout``."""
        call = self._begin("take an offset snapshot")
        ids = [g.group_id for g in self._list_groups(call)] if groups is None else list(groups)
        # Committed offsets FIRST, end offsets second. Offsets only grow, so an end offset
        # read after the commit is >= the end offset at commit time: the lag computed from
        # the pair can only be overstated by what arrived in between, never understated. The
        # other order would let a commit made after the end-offset read hide real lag (and
        # show up as negative lag). This is DataDog's kafka_consumer rule.
        committed, group_errors = self._committed(ids, call)
        tps = sorted({tp for offsets in committed.values() for tp in offsets})
        end_futs = self._issue_offsets(tps, "latest", call)
        start_futs = self._issue_offsets(tps, "earliest", call)
        self._wait([*end_futs.values(), *start_futs.values()], call)
        end, end_errors = self._offsets_split(end_futs, call)
        start, _ = self._offsets_split(start_futs, call)
        return OffsetSnapshot(
            taken_at=self._clock.now(),
            committed=committed,
            end_offsets=end,
            start_offsets=start,
            group_errors=group_errors,
            partition_errors=end_errors,
        )

    # -- record timestamps --------------------------------------------------------------

    def record_timestamp(self, topic: str, partition: int, offset: int) -> float | None:
        """Timestamp (seconds since the epoch) of the record at ``offset``, or of the next
        readable one after it (a transaction marker has none). None when ``offset`` is at
        or past the end, fell off retention, or nothing could be read within ``timeout``."""
        return self.record_timestamps([(topic, partition, offset)])[(topic, partition, offset)]

    def record_timestamps(
        self, positions: Iterable[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], float | None]:
        """:meth:`record_timestamp` for many ``(topic, partition, offset)`` with one
        short-lived consumer, all within one ``timeout``."""
        wanted: dict[TP, list[int]] = {}
        for topic, partition, offset in dict.fromkeys(positions):
            wanted.setdefault((topic, partition), []).append(offset)
        if not wanted:
            return {}
        out: dict[tuple[str, int, int], float | None] = {
            (t, p, o): None for (t, p), offsets in wanted.items() for o in offsets
        }
        call = self._begin("read record timestamps")
        try:
            md = self._one(self._pool.submit(self._list_topics, call.request_timeout), call)
        except SourceError as e:
            log.warning("record timestamps not read: %s", e)
            return out
        # A partition that does not exist or has no leader would be waited for until the
        # deadline: skip it. (The consumer's own list_topics would do too, but delays its
        # first fetch by a second.)
        readable = {
            (t, p): offsets
            for (t, p), offsets in wanted.items()
            if t in md.topics
            and p in md.topics[t].partitions
            and md.topics[t].partitions[p].leader >= 0
        }
        if not readable:
            return out
        consumer = self._build(Consumer, _PEEK_CONFIG)
        try:
            out.update(_read_timestamps(consumer, readable, call.deadline))
        finally:
            consumer.close()
        return out

    # -- plumbing -----------------------------------------------------------------------

    @property
    def _client(self) -> AdminClient:
        if self._admin is None:
            raise RuntimeError(f"{self!r} is closed")
        return self._admin

    def _build(self, factory: Any, forced: Mapping[str, Any]) -> Any:
        """A librdkafka client: our defaults, then the user's properties, then what this
        client cannot work without (``forced``), the bootstrap and our callbacks."""
        ms = int(self.timeout * 1000)
        conf: dict[str, Any] = {
            "client.id": "kafkascope",
            "log_level": 2,
            "socket.timeout.ms": min(max(ms, 10), 300_000),
            "socket.connection.setup.timeout.ms": max(ms, 1000),
            **self._properties,
            **forced,
            "bootstrap.servers": self.bootstrap,
            "error_cb": self._on_error,
            "logger": rdkafka_log,
        }
        try:
            return factory(conf)
        except (KafkaException, ValueError, TypeError) as e:
            raise ConfigError(
                f"Kafka client properties for {self.bootstrap} are invalid: "
                f"{self._redact(str(e))}. Fix: correct or remove that property"
            ) from e

    def _redact(self, text: str) -> str:
        for key, value in self._properties.items():
            if value and _SECRET_KEY.search(key):
                text = text.replace(value, "***")
        return text

    def _on_error(self, error: KafkaError) -> None:
        """librdkafka's error_cb, served by ``poll``: connection and auth trouble."""
        with self._lock:
            self._errors.append(error)
            del self._errors[:-100]
            if _rejects_credentials(error):
                self._last_auth = (time.monotonic(), error)

    def _take_errors(self) -> list[KafkaError]:
        with self._lock:
            errors, self._errors = self._errors, []
        return errors

    def _recent_auth_error(self) -> KafkaError | None:
        """An authentication error error_cb saw lately (maybe served by another call)."""
        with self._lock:
            last = self._last_auth
        if last is not None and time.monotonic() - last[0] < self.timeout + 1:
            return last[1]
        return None

    def _begin(self, what: str) -> _Call:
        if self._admin is not None:
            self._admin.poll(0)  # serve old callbacks so they are not blamed on this call
        self._take_errors()
        return _Call(what, time.monotonic() + self.timeout)

    def _one(self, fut: cf.Future[Any], call: _Call) -> Any:
        self._wait([fut], call)
        exc = fut.exception()
        if exc is not None:
            raise self._fail(call, exc)
        return fut.result()

    def _wait(self, futures: Iterable[cf.Future[Any]], call: _Call) -> None:
        """Until every future is done; serves callbacks meanwhile, fails fast when the
        bootstrap servers refuse connections or credentials are rejected."""
        pending = set(futures)
        # librdkafka fails its own requests at the deadline; give its error a moment to land.
        hard_deadline = call.deadline + 0.25
        while pending:
            if self._admin is not None:
                self._admin.poll(0)
            self._check_connection(call)
            remaining = hard_deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail(call, None)
            _, pending = cf.wait(pending, timeout=min(0.05, remaining))

    def _check_connection(self, call: _Call) -> None:
        for error in self._take_errors():
            if _rejects_credentials(error):
                raise self._fail(call, KafkaException(error))
            if error.code() in _TRANSPORT:
                call.transport.append(error.str())
        if call.transport and time.monotonic() >= call.next_probe:
            call.next_probe = time.monotonic() + 1.0
            reason = self._bootstrap_refuses(min(1.0, max(0.1, call.remaining())))
            if reason is not None:
                raise self._unreachable(reason)

    def _bootstrap_refuses(self, budget: float) -> str | None:
        """None when some bootstrap server accepts a TCP connection, else why none did."""
        addresses = _addresses(self.bootstrap)
        if not addresses:
            return "no HOST:PORT in the bootstrap list"
        per = max(0.05, budget / len(addresses))
        reason = ""
        for host, port in addresses:
            try:
                with socket.create_connection((host, port), timeout=per):
                    return None
            except OSError as e:
                reason = e.strerror or type(e).__name__
        return reason

    def _unreachable(self, reason: str) -> Unreachable:
        return Unreachable(
            self.bootstrap,
            f"cannot connect to Kafka ({reason}). "
            "Fix: is a broker listening? check bootstrap servers",
        )

    def _fail(self, call: _Call, exc: BaseException | None) -> SourceError:
        """Turn a failed or timed-out call into the error the user should see."""
        error = _kafka_error(exc)
        code = error.code() if error is not None else None
        detail = _reason(exc) if exc is not None else f"no answer within {self.timeout:g} s"
        if error is not None and _rejects_credentials(error):
            rejected: KafkaError | None = error
        elif code in (None, KafkaError._TIMED_OUT):
            rejected = self._recent_auth_error()
        else:
            rejected = None
        if rejected is not None:
            return AuthFailed(
                self.bootstrap,
                f"could not {call.what}: {rejected.str()}. "
                "Fix: check security.protocol, sasl.* and ssl.* properties",
            )
        if code in _AUTHZ:
            return AuthFailed(
                self.bootstrap,
                f"authenticated but not authorised to {call.what}: {detail}. "
                "Fix: grant kafkascope's principal DESCRIBE on the cluster, topics and groups",
            )
        if code is None or code in _TRANSPORT or code == KafkaError._TIMED_OUT:
            reason = self._bootstrap_refuses(1.0)
            if reason is not None:
                return self._unreachable(reason)
            hint = f"; last connection error: {call.transport[-1]}" if call.transport else ""
            return Timeout(
                self.bootstrap,
                f"could not {call.what}: {detail}{hint}. Fix: check the brokers are healthy "
                "and their advertised.listeners are reachable from here",
            )
        return SourceError(self.bootstrap, f"could not {call.what}: {detail}")

    def _split(
        self, futs: Mapping[K, cf.Future[Any]], call: _Call, strict: bool = True
    ) -> tuple[dict[K, Any], dict[K, str]]:
        """Done futures → (results, reasons for the failed ones). When every one failed
        for a cluster-wide reason (and ``strict``), raise that instead."""
        ok: dict[K, Any] = {}
        failed: dict[K, BaseException] = {}
        for key, fut in futs.items():
            exc = fut.exception()
            if exc is None:
                ok[key] = fut.result()
            else:
                failed[key] = exc
        if strict and failed and not ok:
            first = next(iter(failed.values()))
            error = _kafka_error(first)
            if error is None or error.code() in _CLUSTER_WIDE:
                raise self._fail(call, first)
        return ok, {key: _reason(exc) for key, exc in failed.items()}


# ---------------------------------------------------------------------------------------
# Converting librdkafka objects to plain values (pure functions)
# ---------------------------------------------------------------------------------------

_PEEK_CONFIG = {
    "group.id": PEEK_GROUP,
    "client.id": PEEK_GROUP,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "enable.partition.eof": True,
    # An offset before the log start or past the end is an error to report, not a seek.
    "auto.offset.reset": "error",
    # We want one record per partition, not librdkafka's default of 64 MB of prefetch; but
    # once its queue is "full" it waits fetch.queue.backoff.ms (1 s) before fetching again,
    # which a seek to the next wanted offset would pay.
    "fetch.max.bytes": 1 << 20,
    "max.partition.fetch.bytes": 64 << 10,
    "queued.max.messages.kbytes": 1024,
    "fetch.queue.backoff.ms": 20,
    "fetch.wait.max.ms": 100,
}


def _read_timestamps(
    consumer: Any, wanted: Mapping[TP, Sequence[int]], deadline: float
) -> dict[tuple[str, int, int], float | None]:
    """Read forward from each wanted offset (ascending, per partition) until a record, the
    end of the partition or an error answers it, or ``deadline`` passes.

    The first record at or after a wanted offset answers it (compaction and transaction
    markers leave gaps). Each partition is assigned once and moved on with ``seek``:
    unassigning and re-assigning a partition costs librdkafka about a second."""
    queues = {tp: sorted(set(offsets)) for tp, offsets in wanted.items()}
    out: dict[tuple[str, int, int], float | None] = {
        (t, p, o): None for (t, p), offsets in queues.items() for o in offsets
    }
    consumer.assign([TopicPartition(t, p, offsets[0]) for (t, p), offsets in queues.items()])
    while queues and (remaining := deadline - time.monotonic()) > 0:
        msg = consumer.poll(min(0.2, remaining))
        key = (msg.topic(), msg.partition()) if msg is not None else None
        offsets = queues.get(key) if key is not None else None
        if msg is None or key is None or not offsets:
            continue
        error = msg.error()
        if error is None:
            if msg.offset() < offsets[0]:
                continue
            stamp = _timestamp_seconds(msg.timestamp())
            while offsets and offsets[0] <= msg.offset():
                out[(*key, offsets.pop(0))] = stamp
        elif error.code() == KafkaError._PARTITION_EOF:
            offsets.clear()  # the rest are at or past the end too: None
        else:  # e.g. the offset fell off retention, or no READ permission
            log.debug("no record at %s[%d]@%d: %s", *key, offsets.pop(0), error.str())
        if offsets:
            if error is not None or offsets[0] != msg.offset() + 1:
                consumer.seek(TopicPartition(*key, offsets[0]))
        else:
            del queues[key]
            consumer.pause([TopicPartition(*key)])  # answered: stop fetching it
    return out


def _timestamp_seconds(stamp: tuple[int, int]) -> float | None:
    kind, ms = stamp
    return None if kind == TIMESTAMP_NOT_AVAILABLE or ms < 0 else ms / 1000.0


def _addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``[proto://]host:port,...`` → [(host, port)]; entries without a port are skipped."""
    out = []
    for entry in bootstrap.split(","):
        host, sep, port = entry.strip().split("://")[-1].rpartition(":")
        if sep and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


def _rejects_credentials(error: KafkaError) -> bool:
    """SASL or TLS refused. librdkafka reports a failed TLS handshake (e.g. SSL against a
    PLAINTEXT listener) as a plain transport error; only its text tells."""
    return error.code() in _AUTHN or (
        error.code() == KafkaError._TRANSPORT and "SSL handshake failed" in error.str()
    )


def _kafka_error(exc: BaseException | None) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def _reason(exc: BaseException) -> str:
    error = _kafka_error(exc)
    if error is not None:
        return f"{error.name()}: {error.str()}"
    return str(exc) or type(exc).__name__


def _enum_name(value: Any) -> str:
    return str(getattr(value, "name", value or "UNKNOWN")).upper()


def _group_state(value: Any) -> GroupState:
    name = _enum_name(value).replace("REBALANCING", "REBALANCE")
    return GroupState(name) if name in GroupState.__members__ else GroupState.UNKNOWN


def _group_type(value: Any) -> GroupType:
    name = _enum_name(value)
    return GroupType(name) if name in GroupType.__members__ else GroupType.UNKNOWN


def _tps(items: Iterable[Any] | None) -> tuple[TP, ...]:
    return tuple(sorted((tp.topic, tp.partition) for tp in items or ()))


def _topic(desc: Any, min_isr: int | None) -> TopicInfo:
    partitions = tuple(
        PartitionInfo(
            topic=desc.name,
            partition=p.id,
            leader=p.leader.id if p.leader is not None and p.leader.id >= 0 else None,
            replicas=tuple(n.id for n in p.replicas),
            isr=tuple(n.id for n in p.isr),
            min_isr=min_isr,
        )
        for p in sorted(desc.partitions, key=lambda p: p.id)
    )
    return TopicInfo(desc.name, bool(desc.is_internal), partitions, min_isr)


def _listing(g: Any) -> GroupListing:
    simple = bool(g.is_simple_consumer_group)
    return GroupListing(
        group_id=g.group_id,
        state=_group_state(getattr(g, "state", None)),
        type=_group_type(getattr(g, "type", None)),
        simple=simple,
        protocol_type="" if simple else "consumer",
    )


def _member(m: Any) -> GroupMember:
    target = getattr(m, "target_assignment", None)
    return GroupMember(
        member_id=m.member_id,
        client_id=m.client_id,
        host=(m.host or "").lstrip("/"),
        assignment=_tps(m.assignment.topic_partitions if m.assignment else None),
        group_instance_id=m.group_instance_id or None,
        target_assignment=_tps(target.topic_partitions) if target is not None else None,
    )


def _description(d: Any) -> GroupDescription:
    state = _group_state(getattr(d, "state", None))
    # A group that does not exist is DEAD; librdkafka labels it CLASSIC only because it
    # fell back to the classic DescribeGroups after ConsumerGroupDescribe said "not found".
    kind = GroupType.UNKNOWN if state is GroupState.DEAD else _group_type(d.type)
    return GroupDescription(
        group_id=d.group_id,
        state=state,
        type=kind,
        coordinator_id=d.coordinator.id if d.coordinator is not None else None,
        partition_assignor=d.partition_assignor or "",
        simple=bool(d.is_simple_consumer_group),
        members=tuple(sorted((_member(m) for m in d.members), key=lambda m: m.member_id)),
    )


def _undescribed(group: str, reason: str) -> GroupDescription:
    if reason.startswith("GROUP_ID_NOT_FOUND"):
        return GroupDescription(group, GroupState.DEAD, GroupType.UNKNOWN, None, "", False, ())
    return GroupDescription(
        group, GroupState.UNKNOWN, GroupType.UNKNOWN, None, "", False, (), error=reason
    )


def _offsets_of(result: Any) -> dict[TP, int]:
    """A group's committed offsets; -1001 (never committed) and failed partitions left out."""
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in sorted(result.topic_partitions or (), key=lambda tp: (tp.topic, tp.partition))
        if tp.error is None and tp.offset >= 0
    }

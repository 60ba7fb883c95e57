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
from kafkascope.model import TopicPartitionKey
from kafkascope.sources.kafka.rdkafka import (
    AUTHZ,
    CLUSTER_WIDE,
    PEEK_CONFIG,
    PEEK_GROUP,
    TRANSPORT,
    bootstrap_addresses,
    committed_of,
    group_description,
    group_listing,
    kafka_error,
    read_timestamps,
    reason_of,
    rejects_credentials,
    topic_info,
    undescribed_group,
)

# The values it returns live in values.py; they are named here too, for callers that
# only deal with the adapter.
from kafkascope.sources.kafka.values import (
    Broker,
    ClusterInfo,
    GroupDescription,
    GroupListing,
    GroupMember,
    GroupState,
    GroupType,
    OffsetSnapshot,
    PartitionInfo,
    TopicInfo,
)

__all__ = [
    "PEEK_GROUP",
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
]

log = logging.getLogger(__name__)
#: librdkafka's own log lines (only those at or above the client's ``log_level``).
rdkafka_log = logging.getLogger("kafkascope.librdkafka")

K = TypeVar("K")

#: OffsetSpec's factories are untyped in confluent-kafka 2.16.
_SPECS: dict[str, Any] = {
    "latest": OffsetSpec.latest(),  # type: ignore[no-untyped-call]
    "earliest": OffsetSpec.earliest(),  # type: ignore[no-untyped-call]
}
_SECRET_KEY = re.compile(r"password|secret|token|credential|key", re.IGNORECASE)


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
        return sorted((topic_info(d, min_isr.get(d.name)) for d in kept), key=lambda t: t.name)

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
            log.warning("some brokers did not list their groups: %s", reason_of(errors[0]))
        return sorted((group_listing(g) for g in valid), key=lambda g: g.group_id)

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
                out[group] = group_description(ok[group])
            else:
                out[group] = undescribed_group(group, failed[group])
        return out

    # -- offsets ------------------------------------------------------------------------

    def committed_offsets(self, groups: Iterable[str]) -> dict[str, dict[TopicPartitionKey, int]]:
        """``{group: {(topic, partition): offset}}``; partitions never committed are left
        out. A group whose offsets could not be fetched is left out too (and logged): use
        :meth:`snapshot` to see why."""
        committed, errors = self._committed(list(groups), self._begin("fetch committed offsets"))
        for group, reason in errors.items():
            log.warning("committed offsets of group %s not read: %s", group, reason)
        return committed

    def _committed(
        self, groups: Sequence[str], call: _Call
    ) -> tuple[dict[str, dict[TopicPartitionKey, int]], dict[str, str]]:
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
        committed = {group: committed_of(result) for group, result in ok.items()}
        return committed, {group: reason for group, reason in failed.items()}

    def log_offsets(
        self, partitions: Iterable[TopicPartitionKey], spec: str = "latest"
    ) -> dict[TopicPartitionKey, int]:
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
        self, partitions: Sequence[TopicPartitionKey], spec: str, call: _Call
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
    ) -> tuple[dict[TopicPartitionKey, int], dict[TopicPartitionKey, str]]:
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
        wanted: dict[TopicPartitionKey, list[int]] = {}
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
        consumer = self._build(Consumer, PEEK_CONFIG)
        try:
            out.update(read_timestamps(consumer, readable, call.deadline))
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
            # No KIP-714 pushes of our own: librdkafka >= 2.5 pushes by default, and
            # kafkascope's clients would be listed among the ones it watches.
            "enable.metrics.push": False,
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
            if rejects_credentials(error):
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
            if rejects_credentials(error):
                raise self._fail(call, KafkaException(error))
            if error.code() in TRANSPORT:
                call.transport.append(error.str())
        if call.transport and time.monotonic() >= call.next_probe:
            call.next_probe = time.monotonic() + 1.0
            reason = self._bootstrap_refuses(min(1.0, max(0.1, call.remaining())))
            if reason is not None:
                raise self._unreachable(reason)

    def _bootstrap_refuses(self, budget: float) -> str | None:
        """None when some bootstrap server accepts a TCP connection, else why none did."""
        addresses = bootstrap_addresses(self.bootstrap)
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
        error = kafka_error(exc)
        code = error.code() if error is not None else None
        detail = reason_of(exc) if exc is not None else f"no answer within {self.timeout:g} s"
        if error is not None and rejects_credentials(error):
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
        if code in AUTHZ:
            return AuthFailed(
                self.bootstrap,
                f"authenticated but not authorised to {call.what}: {detail}. "
                "Fix: grant kafkascope's principal DESCRIBE on the cluster, topics and groups",
            )
        if code is None or code in TRANSPORT or code == KafkaError._TIMED_OUT:
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
            error = kafka_error(first)
            if error is None or error.code() in CLUSTER_WIDE:
                raise self._fail(call, first)
        return ok, {key: reason_of(exc) for key, exc in failed.items()}

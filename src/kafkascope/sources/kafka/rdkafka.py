"""librdkafka's objects and errors as plain values: pure functions, and the read loop of
the short-lived consumer that peeks at record timestamps.

Split from :mod:`kafkascope.sources.kafka.admin` so the adapter holds only the bounded
calls; everything here is testable without a cluster.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, KafkaException, TopicPartition

from kafkascope.model import TopicPartitionKey
from kafkascope.sources.kafka.values import (
    GroupDescription,
    GroupListing,
    GroupMember,
    GroupState,
    GroupType,
    PartitionInfo,
    TopicInfo,
)

# The adapter's logger: these lines are part of its calls.
log = logging.getLogger("kafkascope.sources.kafka.admin")

#: The throwaway group id of the short-lived consumer that reads record timestamps. It only
#: ever ``assign``s (no join, no commit), so it never appears as a group on the brokers.
PEEK_GROUP = "kafkascope-peek"

AUTHN = {KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED, KafkaError._SSL}
AUTHZ = {
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
    KafkaError.GROUP_AUTHORIZATION_FAILED,
    KafkaError.CLUSTER_AUTHORIZATION_FAILED,
}
TRANSPORT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE}
#: Errors about the connection or the whole cluster, as opposed to one group or partition.
CLUSTER_WIDE = (
    AUTHN
    | TRANSPORT
    | {KafkaError._TIMED_OUT, KafkaError.CLUSTER_AUTHORIZATION_FAILED, KafkaError._DESTROY}
)

PEEK_CONFIG = {
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


def read_timestamps(
    consumer: Any, wanted: Mapping[TopicPartitionKey, Sequence[int]], deadline: float
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
            stamp = timestamp_seconds(msg.timestamp())
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


def timestamp_seconds(stamp: tuple[int, int]) -> float | None:
    kind, ms = stamp
    return None if kind == TIMESTAMP_NOT_AVAILABLE or ms < 0 else ms / 1000.0


def bootstrap_addresses(bootstrap: str) -> list[tuple[str, int]]:
    """``[proto://]host:port,...`` → [(host, port)]; entries without a port are skipped."""
    out = []
    for entry in bootstrap.split(","):
        host, sep, port = entry.strip().split("://")[-1].rpartition(":")
        if sep and port.isdigit():
            out.append((host.strip("[]"), int(port)))
    return out


def rejects_credentials(error: KafkaError) -> bool:
    """SASL or TLS refused. librdkafka reports a failed TLS handshake (e.g. SSL against a
    PLAINTEXT listener) as a plain transport error; only its text tells."""
    return error.code() in AUTHN or (
        error.code() == KafkaError._TRANSPORT and "SSL handshake failed" in error.str()
    )


def kafka_error(exc: BaseException | None) -> KafkaError | None:
    if isinstance(exc, KafkaException) and exc.args and isinstance(exc.args[0], KafkaError):
        return exc.args[0]
    return None


def reason_of(exc: BaseException) -> str:
    error = kafka_error(exc)
    if error is not None:
        return f"{error.name()}: {error.str()}"
    return str(exc) or type(exc).__name__


def enum_name(value: Any) -> str:
    return str(getattr(value, "name", value or "UNKNOWN")).upper()


def group_state(value: Any) -> GroupState:
    name = enum_name(value).replace("REBALANCING", "REBALANCE")
    return GroupState(name) if name in GroupState.__members__ else GroupState.UNKNOWN


def group_type(value: Any) -> GroupType:
    name = enum_name(value)
    return GroupType(name) if name in GroupType.__members__ else GroupType.UNKNOWN


def partition_keys(items: Iterable[Any] | None) -> tuple[TopicPartitionKey, ...]:
    return tuple(sorted((tp.topic, tp.partition) for tp in items or ()))


def topic_info(desc: Any, min_isr: int | None) -> TopicInfo:
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


def group_listing(g: Any) -> GroupListing:
    simple = bool(g.is_simple_consumer_group)
    return GroupListing(
        group_id=g.group_id,
        state=group_state(getattr(g, "state", None)),
        type=group_type(getattr(g, "type", None)),
        simple=simple,
        protocol_type="" if simple else "consumer",
    )


def group_member(m: Any) -> GroupMember:
    target = getattr(m, "target_assignment", None)
    return GroupMember(
        member_id=m.member_id,
        client_id=m.client_id,
        host=(m.host or "").lstrip("/"),
        assignment=partition_keys(m.assignment.topic_partitions if m.assignment else None),
        group_instance_id=m.group_instance_id or None,
        target_assignment=partition_keys(target.topic_partitions) if target is not None else None,
    )


def group_description(d: Any) -> GroupDescription:
    state = group_state(getattr(d, "state", None))
    # A group that does not exist is DEAD; librdkafka labels it CLASSIC only because it
    # fell back to the classic DescribeGroups after ConsumerGroupDescribe said "not found".
    kind = GroupType.UNKNOWN if state is GroupState.DEAD else group_type(d.type)
    return GroupDescription(
        group_id=d.group_id,
        state=state,
        type=kind,
        coordinator_id=d.coordinator.id if d.coordinator is not None else None,
        partition_assignor=d.partition_assignor or "",
        simple=bool(d.is_simple_consumer_group),
        members=tuple(sorted((group_member(m) for m in d.members), key=lambda m: m.member_id)),
    )


def undescribed_group(group: str, reason: str) -> GroupDescription:
    if reason.startswith("GROUP_ID_NOT_FOUND"):
        return GroupDescription(group, GroupState.DEAD, GroupType.UNKNOWN, None, "", False, ())
    return GroupDescription(
        group, GroupState.UNKNOWN, GroupType.UNKNOWN, None, "", False, (), error=reason
    )


def committed_of(result: Any) -> dict[TopicPartitionKey, int]:
    """A group's committed offsets; -1001 (never committed) and failed partitions left out."""
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in sorted(result.topic_partitions or (), key=lambda tp: (tp.topic, tp.partition))
        if tp.error is None and tp.offset >= 0
    }

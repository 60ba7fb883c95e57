"""Readiness checks over the Kafka protocol: the sandbox is ready only when every broker is
registered and a record makes a real produce/consume round trip."""

from __future__ import annotations

import time
import uuid

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from kafkascope.errors import SandboxError

# librdkafka logs every refused connection while brokers start; readiness is judged here.
# These short-lived probes are not workload: they push no KIP-714 telemetry (librdkafka
# >= 2.5 would, once the sandbox's subscription exists), or each would show up in
# kafkascope as a client that came and went.
QUIET = {"log_level": 2, "enable.metrics.push": False}


def admin(bootstrap: str) -> AdminClient:
    return AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 5000, **QUIET})


def wait_brokers(bootstrap: str, expected: set[int], deadline: float) -> None:
    """Until the cluster metadata lists exactly ``expected`` broker ids."""
    client = admin(bootstrap)
    seen: set[int] = set()
    while time.monotonic() < deadline:
        try:
            md = client.list_topics(timeout=3)
            seen = set(md.brokers)
            if seen == expected:
                return
        except KafkaException:
            pass
        time.sleep(0.3)
    raise SandboxError(f"brokers {sorted(expected)} did not all register (saw {sorted(seen)})")


def create_topics(bootstrap: str, topics: dict[str, int], rf: int, deadline: float) -> None:
    """Create topics (idempotently) and wait until each has a leader for every partition."""
    client = admin(bootstrap)
    new = [NewTopic(t, num_partitions=n, replication_factor=rf) for t, n in topics.items()]
    for name, fut in client.create_topics(new, operation_timeout=30).items():
        try:
            fut.result()
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise SandboxError(f"could not create topic {name}: {e}") from e
    while time.monotonic() < deadline:
        md = client.list_topics(timeout=3)
        if all(
            t in md.topics
            and len(md.topics[t].partitions) == n
            and all(p.leader >= 0 for p in md.topics[t].partitions.values())
            for t, n in topics.items()
        ):
            return
        time.sleep(0.2)
    raise SandboxError(f"topics {sorted(topics)} did not get leaders in time")


def delete_topic(bootstrap: str, topic: str) -> None:
    client = admin(bootstrap)  # keep a reference: a destroyed handle fails its futures
    for fut in client.delete_topics([topic], operation_timeout=30).values():
        fut.result()


def produce(bootstrap: str, topic: str, count: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **QUIET})
    for i in range(count):
        p.produce(topic, value=f"seed-{i}".encode())
    if p.flush(30) != 0:
        raise SandboxError(f"could not deliver {count} seed records to {topic}")


def round_trip(bootstrap: str, rf: int, deadline: float) -> None:
    """Create a scratch topic, produce one record, read it back, delete the topic."""
    topic = f"_kafkascope_ready_{uuid.uuid4().hex[:8]}"
    create_topics(bootstrap, {topic: 1}, rf, deadline)
    token = uuid.uuid4().hex.encode()
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **QUIET})
    p.produce(topic, value=token)
    if p.flush(30) != 0:
        raise SandboxError("the readiness record was not acknowledged")
    c = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": topic, "enable.auto.commit": False, **QUIET}
    )
    try:
        c.assign([TopicPartition(topic, 0, 0)])
        while time.monotonic() < deadline:
            msg = c.poll(0.5)
            if msg is not None and msg.error() is None and msg.value() == token:
                break
        else:
            raise SandboxError("the readiness record could not be consumed back")
    finally:
        c.close()
    delete_topic(bootstrap, topic)


def wait_group_members(bootstrap: str, group: str, members: int, deadline: float) -> None:
    """Until ``group`` is Stable with ``members`` members, each holding an assignment."""
    client = admin(bootstrap)
    last = ""
    while time.monotonic() < deadline:
        try:
            desc = client.describe_consumer_groups([group])[group].result()
            state = str(desc.state).rsplit(".", 1)[-1]
            assigned = [m for m in desc.members if m.assignment.topic_partitions]
            last = f"state {state}, {len(desc.members)} members, {len(assigned)} assigned"
            if state == "STABLE" and len(desc.members) == members == len(assigned):
                return
        except KafkaException as e:
            last = str(e)
        time.sleep(0.3)
    raise SandboxError(f"group {group} did not settle with {members} members ({last})")

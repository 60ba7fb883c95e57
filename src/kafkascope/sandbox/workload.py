"""The demo workload: real Java clients from kafka-tools, each its own JVM with its own JMX
port, and one confluent-kafka consumer with no JMX (``impl="python"``, seen through its
group and its KIP-714 pushes). Topics: ``orders`` (busy, 2 consumers), ``payments`` (a Java
consumer and a Python one, in groups of their own), ``audit`` (idle after a few seeded
records, with a caught-up group)."""

from __future__ import annotations

from dataclasses import dataclass

PRODUCER_MAIN = "org.apache.kafka.tools.VerifiableProducer"
CONSUMER_MAIN = "org.apache.kafka.tools.consumer.ConsoleConsumer"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    seed_records: int = 0


@dataclass(frozen=True)
class ClientSpec:
    role: str  # "producer" | "consumer"
    topic: str
    client_id: str | None
    group: str | None = None
    rate: float = 0.0
    protocol: str = "classic"
    #: Extra client properties, last word (e.g. a short ``max.block.ms`` for a fault test).
    properties: tuple[tuple[str, str], ...] = ()
    #: ``java`` (a kafka-tools JVM with JMX) or ``python`` (confluent-kafka, no JMX:
    #: :mod:`kafkascope.sandbox.pyclient`).
    impl: str = "java"


DEMO_TOPICS = (
    TopicSpec("orders", 6),
    TopicSpec("payments", 3),
    TopicSpec("audit", 1, seed_records=20),
)

DEMO_CLIENTS = (
    ClientSpec("producer", "orders", "orders-producer", rate=40),
    ClientSpec("consumer", "orders", "orders-processor-1", group="orders-processor"),
    ClientSpec("consumer", "orders", "orders-processor-2", group="orders-processor"),
    ClientSpec("producer", "payments", "payments-producer", rate=10),
    ClientSpec("consumer", "payments", "payments-auditor-1", group="payments-auditor"),
    ClientSpec("consumer", "audit", "audit-reader-1", group="audit-reader"),
    ClientSpec("consumer", "payments", "payments-py-1", group="payments-py", impl="python"),
)


def client_properties(bootstrap: str, spec: ClientSpec) -> dict[str, str]:
    """The client's config file. Without ``--client-id`` the client must get Kafka's real
    default id: VerifiableProducer sets none, so KafkaProducer picks ``producer-<n>``;
    ConsoleConsumer puts "console-consumer" when client.id is absent, but an empty value
    makes KafkaConsumer pick ``consumer-<group>-<n>`` (KafkaProducer would keep it empty)."""
    props = {"bootstrap.servers": bootstrap}
    if spec.role == "producer":
        props |= {"linger.ms": "5"}
        if spec.client_id:
            props["client.id"] = spec.client_id
    else:
        props |= {
            "auto.offset.reset": "earliest",
            "group.protocol": spec.protocol,
            "client.id": spec.client_id or "",
        }
    return props | dict(spec.properties)


def python_args(bootstrap: str, spec: ClientSpec) -> list[str]:
    """The arguments of :mod:`kafkascope.sandbox.pyclient` for ``spec``."""
    args = ["--role", spec.role, "--bootstrap", bootstrap, "--topic", spec.topic]
    if spec.group:
        args += ["--group", spec.group]
    if spec.client_id:
        args += ["--client-id", spec.client_id]
    if spec.role == "producer":
        args += ["--rate", str(spec.rate if spec.rate > 0 else 10)]
    return args + [f"--property={k}={v}" for k, v in spec.properties]


def producer_args(bootstrap: str, spec: ClientSpec, config_file: str) -> list[str]:
    """VerifiableProducer at a steady rate, forever (it prints one JSON line per ack, which
    the sandbox throws away)."""
    return [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        spec.topic,
        "--max-messages",
        "-1",
        "--throughput",
        str(max(1, round(spec.rate)) if spec.rate > 0 else 10),
        "--acks",
        "-1",
        "--command-config",
        config_file,
    ]


def consumer_args(bootstrap: str, spec: ClientSpec, config_file: str) -> list[str]:
    """ConsoleConsumer in a group. It prints every record to stdout, which the sandbox
    routes through a drain process: pausing the drain blocks processing (HUNG) while the
    JVM still answers JMX."""
    return [
        "--bootstrap-server",
        bootstrap,
        "--topic",
        spec.topic,
        "--group",
        spec.group or "",
        "--command-config",
        config_file,
    ]

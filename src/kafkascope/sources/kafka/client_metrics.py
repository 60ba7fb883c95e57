"""The ``CLIENT_METRICS`` subscription (KIP-714) and the brokers' ``metric.reporters``, over
the Kafka protocol itself.

confluent-kafka's admin API has no ``CLIENT_METRICS`` resource type (its ``ResourceType``
stops at ``TRANSACTIONAL_ID``, and librdkafka refuses any other number), so the two
requests are written here by hand, in their oldest versions that Kafka 4.x still serves
(non-flexible, no tagged fields): IncrementalAlterConfigs v0 (api key 44) to create or
update the subscription, DescribeConfigs v1 (api key 32) to read it back and to read each
broker's ``metric.reporters``. Both take one small request and answer on the same
connection. PLAINTEXT and SSL listeners are supported (``security.protocol``,
``ssl.ca.location``, ``ssl.certificate.location``/``ssl.key.location``); SASL is not: for a
SASL listener, create the subscription with ``kafka-configs.sh`` (docs/telemetry.md).
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import ssl
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from kafkascope.errors import SourceError

__all__ = [
    "BROKER",
    "CLIENT_METRICS",
    "ConfigSet",
    "KafkaWire",
    "Subscription",
    "subscription_configs",
]

CLIENT_METRICS = 16
BROKER = 4
_INCREMENTAL_ALTER_CONFIGS = 44
_DESCRIBE_CONFIGS = 32
_SET, _DELETE = 0, 1
#: Kafka error codes worth a word of their own.
_ERRORS = {
    29: "TOPIC_AUTHORIZATION_FAILED",
    31: "CLUSTER_AUTHORIZATION_FAILED: the principal needs AlterConfigs and "
    "DescribeConfigs on the cluster",
    35: "UNSUPPORTED_VERSION: the brokers are older than Kafka 3.7 (no KIP-714)",
    40: "INVALID_CONFIG",
    42: "INVALID_REQUEST",
}


@dataclass(frozen=True)
class Subscription:
    """What a subscription asks of the clients it matches: metric name prefixes ("*" for
    all), the push interval in ms, and client selectors (``client_id=...``; none: all)."""

    name: str
    metrics: tuple[str, ...]
    interval_ms: int
    match: tuple[str, ...] = ()


def subscription_configs(s: Subscription) -> dict[str, str | None]:
    """The subscription as config values; None deletes the key (no selectors: every
    client matches)."""
    return {
        "metrics": ",".join(s.metrics),
        "interval.ms": str(s.interval_ms),
        "match": ",".join(s.match) if s.match else None,
    }


ConfigSet = dict[str, str | None]


# ---------------------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------------------


def _string(value: str | None) -> bytes:
    if value is None:
        return struct.pack(">h", -1)
    raw = value.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> int:
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += struct.calcsize(fmt)
        return int(value)

    def string(self) -> str | None:
        n = self.take(">h")
        if n < 0:
            return None
        raw = self.data[self.pos : self.pos + n]
        self.pos += n
        return raw.decode("utf-8")


# ---------------------------------------------------------------------------------------
# The connection
# ---------------------------------------------------------------------------------------


class KafkaWire:
    """A few admin requests to the brokers of ``bootstrap``, one connection per request."""

    def __init__(
        self,
        bootstrap: str,
        properties: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.bootstrap = [b.strip() for b in bootstrap.split(",") if b.strip()]
        self.properties = dict(properties or {})
        self.timeout = timeout
        self._ids = itertools.count(1)
        protocol = self.properties.get("security.protocol", "PLAINTEXT").upper()
        if protocol not in ("PLAINTEXT", "SSL"):
            raise SourceError(
                bootstrap,
                f"security.protocol {protocol} is not supported for the CLIENT_METRICS "
                "subscription (PLAINTEXT and SSL are). Fix: create it with kafka-configs.sh "
                "--entity-type client-metrics (docs/telemetry.md)",
            )
        self._tls = protocol == "SSL"

    def alter_subscription(self, s: Subscription) -> None:
        """Create or update the subscription (only the keys it sets change)."""
        self._alter(s.name, subscription_configs(s))

    def delete_subscription(self, name: str) -> None:
        """Remove the subscription (every key deleted: Kafka then forgets it)."""
        self._alter(name, {"metrics": None, "interval.ms": None, "match": None})

    def brokers(self) -> dict[int, str]:
        """Every broker's id and ``host:port``, from the cluster's metadata."""
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import AdminClient

        props = {k: v for k, v in self.properties.items() if not k.startswith("_")}
        admin = AdminClient(
            {
                "enable.metrics.push": False,  # kafkascope's own clients push nothing
                **props,
                "bootstrap.servers": ",".join(self.bootstrap),
            }
        )
        try:
            md = admin.list_topics(timeout=self.timeout)
        except KafkaException as e:  # the cluster did not answer
            raise SourceError(",".join(self.bootstrap), f"metadata not read: {e}") from None
        return {b.id: f"{b.host}:{b.port}" for b in md.brokers.values()}

    def _alter(self, name: str, configs: Mapping[str, str | None]) -> None:
        body = struct.pack(">i", 1) + struct.pack(">b", CLIENT_METRICS) + _string(name)
        body += struct.pack(">i", len(configs))
        for key, value in configs.items():
            op = _SET if value is not None else _DELETE
            body += _string(key) + struct.pack(">b", op) + _string(value)
        body += struct.pack(">b", 0)  # validate_only
        r = _Reader(self._request(self.bootstrap, _INCREMENTAL_ALTER_CONFIGS, 0, body))
        r.take(">i")  # throttle
        for _ in range(r.take(">i")):
            code, message = r.take(">h"), r.string()
            r.take(">b")
            r.string()
            if code != 0:
                raise SourceError(self.bootstrap[0], _error(code, message, f"subscription {name}"))

    def describe(self, resource_type: int, name: str, at: Sequence[str] | None = None) -> ConfigSet:
        """A resource's configs (DescribeConfigs v1), asked of the brokers ``at`` (a
        broker's own configs must be asked of that broker)."""
        body = struct.pack(">i", 1) + struct.pack(">b", resource_type) + _string(name)
        body += struct.pack(">i", -1)  # every key
        body += struct.pack(">b", 0)  # no synonyms
        r = _Reader(self._request(list(at or self.bootstrap), _DESCRIBE_CONFIGS, 1, body))
        r.take(">i")
        out: ConfigSet = {}
        for _ in range(r.take(">i")):
            code, message = r.take(">h"), r.string()
            r.take(">b")
            r.string()
            if code != 0:
                raise SourceError(self.bootstrap[0], _error(code, message, name))
            for _ in range(r.take(">i")):
                key, value = r.string(), r.string()
                r.take(">b")  # read only
                r.take(">b")  # source
                r.take(">b")  # sensitive
                for _ in range(r.take(">i")):
                    r.string()
                    r.string()
                    r.take(">b")
                if key is not None:
                    out[key] = value
        return out

    def subscription(self, name: str) -> Subscription | None:
        """The subscription as the brokers have it; None when it does not exist (no
        ``metrics`` key: a subscription that asks for nothing pushes nothing)."""
        c = self.describe(CLIENT_METRICS, name)
        metrics = c.get("metrics")
        if not metrics:
            return None
        interval = c.get("interval.ms") or "300000"
        match = tuple(m for m in (c.get("match") or "").split(",") if m)
        return Subscription(name, tuple(metrics.split(",")), int(interval), match)

    # -- the wire ---------------------------------------------------------------------

    def _request(self, brokers: Sequence[str], api: int, version: int, body: bytes) -> bytes:
        problems = []
        for broker in brokers:
            try:
                with self._connect(broker) as sock:
                    correlation = next(self._ids)
                    header = struct.pack(">hhi", api, version, correlation)
                    header += _string("kafkascope")
                    payload = header + body
                    sock.sendall(struct.pack(">i", len(payload)) + payload)
                    size = struct.unpack(">i", _read(sock, 4))[0]
                    answer = _read(sock, size)
                    if struct.unpack_from(">i", answer)[0] != correlation:
                        raise OSError("the broker answered another request")
                    return answer[4:]
            except OSError as e:
                problems.append(f"{broker}: {e}")
        raise SourceError(",".join(brokers), "no broker answered: " + "; ".join(problems))

    @contextlib.contextmanager
    def _connect(self, broker: str) -> Iterator[socket.socket]:
        host, _, port = broker.rpartition(":")
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=self.timeout)
        try:
            if self._tls:
                ctx = ssl.create_default_context(cafile=self.properties.get("ssl.ca.location"))
                cert = self.properties.get("ssl.certificate.location")
                if cert:
                    ctx.load_cert_chain(cert, self.properties.get("ssl.key.location"))
                verify = self.properties.get("ssl.endpoint.identification.algorithm", "https")
                ctx.check_hostname = verify.lower() == "https"
                sock = ctx.wrap_socket(sock, server_hostname=host.strip("[]"))
            yield sock
        finally:
            sock.close()


def _read(sock: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise OSError("the broker closed the connection")
        out += chunk
    return out


def _error(code: int, message: str | None, what: str) -> str:
    name = _ERRORS.get(code, f"Kafka error {code}")
    return f"{what}: {name}" + (f" ({message})" if message else "")

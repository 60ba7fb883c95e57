"""Broker JMX endpoints from cluster metadata, so nobody keeps a list of brokers by hand.

The user names bootstrap servers and either one JMX port used by every broker, or a map of
per-broker overrides (node id → ``host:port`` or a port), or both. The brokers themselves
come from the cluster metadata, read by the caller through the isolated admin worker
(:mod:`kafkascope.monitor.brokers`); the JMX host is the broker's advertised host unless
an override says otherwise. This module only plans: it opens no connection.

Two facts shape this: a broker that is down vanishes from the metadata, so every broker
named in the override map stays a target (``in_metadata=False``) and is reported
unreachable instead of silently dropped; and KRaft controller-only nodes are not in the
broker metadata at all, so their JMX endpoints must be configured explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kafkascope.errors import ConfigError, SourceError
from kafkascope.sources.jmx.connection import JmxEndpoint

Override = str | int


@dataclass(frozen=True)
class BrokerNode:
    """A broker as the cluster metadata lists it."""

    node_id: int
    host: str
    port: int


@dataclass(frozen=True)
class BrokerTarget:
    """Where one broker's JMX answers. ``in_metadata`` is False for a broker known only
    from the override map (stopped, or not yet registered)."""

    node_id: int
    endpoint: JmxEndpoint
    kafka_listener: str | None
    in_metadata: bool = True


def _override_endpoint(
    node_id: int, value: Override, host: str | None, credentials: Mapping[str, Any]
) -> JmxEndpoint:
    """An override is ``host:port``, or a bare port (int or digits) on the broker's host."""
    text = str(value).strip()
    if text.isdigit():
        if host is None:
            raise ConfigError(
                f"JMX override for broker {node_id} is only a port ({text}), and the broker is "
                "not in the cluster metadata, so its host is unknown. Fix: give host:port"
            )
        text = f"{host}:{text}"
    try:
        return JmxEndpoint.parse(text, **credentials)
    except SourceError as e:  # a configured value is wrong: a config problem
        raise ConfigError(
            f"JMX override for broker {node_id} is '{value}': not HOST:PORT or a port"
        ) from e


def plan_broker_targets(
    nodes: list[BrokerNode],
    jmx_port: int | None = None,
    overrides: Mapping[int, Override] | None = None,
    **credentials: Any,
) -> list[BrokerTarget]:
    """Pure: brokers from metadata + the JMX settings → one target per broker, sorted by
    node id. ``credentials`` (username, password, ssl, registry_ssl) go to every endpoint."""
    overrides = dict(overrides or {})
    if jmx_port is not None and not 0 < jmx_port < 65536:
        raise ConfigError(f"JMX port {jmx_port} is not a TCP port (1-65535)")
    targets: dict[int, BrokerTarget] = {}
    missing: list[int] = []
    for node in nodes:
        listener = f"{node.host}:{node.port}"
        if node.node_id in overrides:
            ep = _override_endpoint(node.node_id, overrides[node.node_id], node.host, credentials)
        elif jmx_port is not None:
            ep = JmxEndpoint(host=node.host, port=jmx_port, **credentials)
        else:
            missing.append(node.node_id)
            continue
        targets[node.node_id] = BrokerTarget(node.node_id, ep, listener)
    if missing:
        raise ConfigError(
            f"no JMX port known for broker(s) {', '.join(map(str, sorted(missing)))}: "
            "set a JMX port used by every broker, or add them to the per-broker overrides"
        )
    for node_id, value in overrides.items():
        if node_id not in targets:
            ep = _override_endpoint(node_id, value, None, credentials)
            targets[node_id] = BrokerTarget(node_id, ep, None, in_metadata=False)
    return [targets[i] for i in sorted(targets)]

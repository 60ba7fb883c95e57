"""``kafkascope telemetry``: the KIP-714 ``CLIENT_METRICS`` subscription and the brokers'
plugin.

``subscribe`` creates or updates the subscription ``[clusters.telemetry]`` describes
(``--interval`` overrides its push interval); ``status`` shows the subscription as the
brokers have it and, per broker, whether kafkascope's plugin is in its
``metric.reporters``. Both speak the Kafka protocol directly
(``sources/kafka/client_metrics.py``: confluent-kafka has no CLIENT_METRICS resource).
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from kafkascope.cli.options import JsonOpt, RequiredConfigOpt, pick_cluster
from kafkascope.config import ClusterConfig, load_config
from kafkascope.config.values import parse_duration
from kafkascope.errors import SourceError
from kafkascope.service.builder import subscription_of, telemetry_wire
from kafkascope.sources.kafka.client_metrics import BROKER
from kafkascope.sources.telemetry import CATALOG_METRICS, subscription_metrics

app = typer.Typer(help="KIP-714 client telemetry: the subscription and the brokers' plugin.")

#: The plugin's reporter classes (docs/telemetry.md).
PLUGIN_CLASSES = (
    "dev.kafkascope.telemetry.KafkascopeTelemetryReporter",
    "dev.kafkascope.telemetry.LegacyKafkascopeTelemetryReporter",
)

#: How long the update may take to reach the broker it is read back from.
READ_BACK = 10.0

WhichClusterOpt = Annotated[
    str | None,
    typer.Option("--cluster", help="The cluster's name, when the file defines several."),
]


def _cluster(config: Path, name: str | None) -> ClusterConfig:
    return pick_cluster(load_config(config).clusters, name)


def _interval(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--interval") from None
    if not 0.1 <= seconds <= 3600:
        raise typer.BadParameter("give 100ms to 1h", param_hint="--interval")
    return seconds


@app.command()
def subscribe(
    config: RequiredConfigOpt,
    interval: Annotated[
        str | None,
        typer.Option("--interval", help="Push interval, e.g. 10s (default: the config's)."),
    ] = None,
    cluster: WhichClusterOpt = None,
) -> None:
    """Create or update the CLIENT_METRICS subscription ([clusters.telemetry])."""
    cfg = _cluster(config, cluster)
    wanted = subscription_of(cfg, _interval(interval))
    wire = telemetry_wire(cfg)
    before = wire.subscription(wanted.name)
    wire.alter_subscription(wanted)
    # The controller applies it, then every broker learns it from the metadata log: read
    # it back until the broker asked has it too (a second or so).
    deadline = time.monotonic() + READ_BACK
    while (after := wire.subscription(wanted.name)) != wanted:
        if time.monotonic() > deadline:
            raise SourceError(
                cfg.bootstrap, f"the brokers still hold {after} {READ_BACK:g} s after the update"
            )
        time.sleep(0.2)
    verb = "created" if before is None else ("unchanged" if before == wanted else "updated")
    match = ", ".join(wanted.match) or "every client"
    typer.echo(
        f"subscription {wanted.name} {verb} on {cfg.name}: metrics {_metrics(wanted.metrics)}, "
        f"every {wanted.interval_ms} ms, matching {match}"
    )


def _metrics(metrics: tuple[str, ...]) -> str:
    """The metrics as one word when they are the catalog's (32 names on one line say
    nothing); ``--json`` has the list."""
    catalog = subscription_metrics([CATALOG_METRICS])
    if metrics == catalog:
        return f"{CATALOG_METRICS} ({len(catalog)} names)"
    return ",".join(metrics)


@app.command()
def status(
    config: RequiredConfigOpt, cluster: WhichClusterOpt = None, json_out: JsonOpt = False
) -> None:
    """The subscription as the brokers have it, and which brokers load the plugin."""
    cfg = _cluster(config, cluster)
    wire = telemetry_wire(cfg)
    name = cfg.telemetry.subscription
    sub = wire.subscription(name)
    brokers: list[dict[str, Any]] = []
    for node, address in sorted(wire.brokers().items()):
        try:
            reporters = wire.describe(BROKER, str(node), at=[address]).get("metric.reporters") or ""
            loaded = any(c in reporters.split(",") for c in PLUGIN_CLASSES)
            brokers.append(
                {"id": node, "address": address, "plugin": loaded, "reporters": reporters}
            )
        except SourceError as e:
            brokers.append({"id": node, "address": address, "plugin": None, "error": e.detail})
    body = {
        "cluster": cfg.name,
        "subscription": None
        if sub is None
        else {
            "name": sub.name,
            "metrics": list(sub.metrics),
            "interval_ms": sub.interval_ms,
            "match": list(sub.match),
        },
        "brokers": brokers,
    }
    if json_out:
        typer.echo(json.dumps(body, indent=2))
    else:
        if sub is None:
            typer.echo(
                f"subscription {name}: none on {cfg.name} (clients push nothing). "
                f"Fix: kafkascope telemetry subscribe --config {config}"
            )
        else:
            match = ", ".join(sub.match) or "every client"
            typer.echo(
                f"subscription {sub.name}: metrics {_metrics(sub.metrics)}, every "
                f"{sub.interval_ms} ms, matching {match}"
            )
        for b in brokers:
            if b["plugin"] is None:
                word = f"unknown ({b['error']})"
            else:
                word = "plugin loaded" if b["plugin"] else "no plugin (metric.reporters: "
                word += "" if b["plugin"] else f"{b['reporters'] or 'none'})"
            typer.echo(f"broker {b['id']} {b['address']}: {word}")
    if sub is None or not all(b["plugin"] for b in brokers):
        raise typer.Exit(1)

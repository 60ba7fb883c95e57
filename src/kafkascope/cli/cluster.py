"""``kafkascope brokers`` and ``kafkascope topics``: the cluster's brokers (up, controller,
JMX reachability) and topics (partitions, replication, under-replicated and offline
partitions, produce rate), as text tables or ``--json``.

Like ``groups``, they ask a running service first (``--url``, or the config's ``[service]
listen``) and read the cluster themselves only when none answers: one metadata request
and, with a config naming broker JMX targets, one JMX read per broker. Without history a
direct read has no produce rate. stderr says which.

Exit status: 0 with a listing; 2 for a kafkascope error (printed as one line).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from kafkascope.api import views
from kafkascope.cli.clients import choose_cluster
from kafkascope.cli.lag import (
    BootstrapOpt,
    ClusterOpt,
    PropertyOpt,
    TargetConfigOpt,
    render_table,
)
from kafkascope.cli.options import JsonOpt, TokenFileOpt, TokenOpt, UrlOpt
from kafkascope.cli.service import ask_first
from kafkascope.clock import SystemClock
from kafkascope.monitor.brokers import BrokerReport
from kafkascope.service.builder import broker_monitor

__all__ = ["brokers", "brokers_text", "topics", "topics_text"]


def _read(
    config: Path | None,
    cluster: str | None,
    bootstrap: str | None,
    properties: list[str] | None,
    url: str | None,
    token: str | None,
    token_file: Path | None,
    path: str,
) -> dict[str, Any]:
    """The service's answer for ``path`` (brokers or topics), else a direct read in the
    same shape (the API's)."""
    if bootstrap is None or url is not None:  # --bootstrap alone: no service to ask
        answer = ask_first(config, url, token, token_file, cluster, "brokers", path)
        if answer is not None and answer.status == 200:
            return dict(answer.body)
    chosen = choose_cluster(config, cluster, bootstrap, properties or [])
    monitor = broker_monitor(chosen, SystemClock())
    try:
        report: BrokerReport = monitor.poll()
    finally:
        monitor.close()
    return {
        "cluster": chosen.name,
        "taken_at": report.taken_at,
        "error": report.metadata_error,
        "brokers": [views.broker_json(b) for b in report.brokers],
        "topics": [views.topic_json(t, detail=False) for t in report.topics],
    }


def brokers_text(body: dict[str, Any]) -> str:
    """One row per broker: id, address, UP/DOWN, controller, JMX reachability."""
    rows = [
        (
            b["id"],
            f"{b['host']}:{b['port']}" if b.get("host") else "-",
            "UP" if b["up"] else "DOWN",
            "yes" if b["controller"] else "-",
            b["jmx"]["target"] or "-",
            ("ok" if b["jmx"]["reachable"] else (b["jmx"]["error"] or "unreachable"))
            if b["jmx"]["target"]
            else "-",
        )
        for b in sorted(body["brokers"], key=lambda b: b["id"])
    ]
    table = render_table(("ID", "ADDRESS", "STATE", "CONTROLLER", "JMX", "JMX STATE"), rows, 2)
    if body.get("error"):
        table += f"\nwarning: metadata: {body['error']}"
    return table if rows else f"no brokers known on {body['cluster']}"


def topics_text(body: dict[str, Any]) -> str:
    """One row per topic, internal ones last."""
    rows = [
        (
            t["name"],
            t["partition_count"],
            t["replication_factor"],
            t["min_insync_replicas"],
            t["under_replicated"],
            t["offline"],
            None if t["produce_rate"] is None else round(t["produce_rate"], 1),
            t["end_offset"],
        )
        for t in sorted(body["topics"], key=lambda t: (t["internal"], t["name"]))
    ]
    if not rows:
        return f"no topics on {body['cluster']}"
    return render_table(
        ("TOPIC", "PARTITIONS", "RF", "MIN ISR", "UNDER-REPL", "OFFLINE", "MSG/S", "END OFFSETS"),
        rows,
    )


def brokers(
    as_json: JsonOpt = False,
    config: TargetConfigOpt = None,
    cluster: ClusterOpt = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Every broker: address, up or down, the active controller and its JMX state."""
    body = _read(config, cluster, bootstrap, properties, url, token, token_file, "/brokers")
    body.pop("topics", None)
    typer.echo(json.dumps(body, indent=2) if as_json else brokers_text(body))


def topics(
    as_json: JsonOpt = False,
    config: TargetConfigOpt = None,
    cluster: ClusterOpt = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Every topic: partitions, replication, under-replicated and offline partitions,
    produce rate and the sum of its end offsets."""
    body = _read(config, cluster, bootstrap, properties, url, token, token_file, "/topics")
    body.pop("brokers", None)
    body.pop("error", None)
    typer.echo(json.dumps(body, indent=2) if as_json else topics_text(body))

"""``kafkascope clients``: every producer, consumer and group member, and whether it lives.

It reads the cluster's ``[[clusters]]`` entry (``--config FILE [--cluster NAME]``): client
JMX discovery (``[clusters.jmx.clients]``: static list, ``file_sd`` file, ``probe_ports``),
JMX credentials, ``client_interval``, ``jmx_timeout`` and ``[clusters.liveness]``.

Liveness needs a little history (did the producer's send total move? is a consumer's
poll gap growing?), so with no service running it polls every ``client_interval`` for
``--sample`` seconds (saying so on stderr) and prints the last poll's verdicts: worst
first, then by group and client id. ``--json`` prints the report as one JSON object.

Exit status: 0 with a report, whatever the verdicts. A source that could not be read
(the brokers, the ``file_sd`` file) does not stop the report: the verdicts rest on what
remains (JMX alone when the brokers are down) and each problem is a ``warning:`` line (an
``errors`` list in JSON). 2 for a kafkascope error such as a bad configuration, printed as
one line by the entry point.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from pathlib import Path
from typing import Annotated

import typer

from kafkascope.clock import SystemClock
from kafkascope.config import ClusterConfig, load_config
from kafkascope.errors import ConfigError
from kafkascope.monitor.clients import SEVERITY, ClientReport
from kafkascope.service.builder import client_monitor

__all__ = [
    "DEFAULT_SAMPLE",
    "choose_cluster",
    "clients",
    "render",
]

DEFAULT_SAMPLE = 10.0


def choose_cluster(config: Path | None, name: str | None) -> ClusterConfig:
    """The ``[[clusters]]`` entry named ``name``, or the only one."""
    env_clusters = any(k.startswith("KAFKASCOPE_CLUSTERS__") for k in os.environ)
    if config is None and not os.environ.get("KAFKASCOPE_CONFIG") and not env_clusters:
        raise ConfigError(
            "no configuration given. Fix: pass --config FILE (or set KAFKASCOPE_CONFIG)"
        )
    loaded = load_config(config)
    names = [c.name for c in loaded.clusters]
    if name is None:
        if len(names) > 1:
            raise ConfigError(
                f"the configuration defines {len(names)} clusters ({', '.join(names)}). "
                "Fix: choose one with --cluster NAME"
            )
        return loaded.clusters[0]
    for c in loaded.clusters:
        if c.name == name:
            return c
    raise ConfigError(
        f"no cluster named '{name}' in the configuration. Fix: use one of {', '.join(names)}"
    )


def _clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


def render(report: ClientReport) -> str:
    """The report as a table for people: worst verdicts first."""
    rows = sorted(
        report.clients,
        key=lambda r: (SEVERITY[r.liveness], r.group or "~", r.client_id, r.target or ""),
    )
    table = [("VERDICT", "KIND", "CLIENT", "GROUP", "TARGET", "LAST SEEN", "REASON")]
    table += [
        (
            r.liveness.value,
            r.kind,
            r.client_id,
            r.group or "-",
            r.target or "-",
            _clock(r.last_seen),
            r.reason,
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row[:6], widths, strict=True)) + "  " + row[6]
        for row in table
    ]
    lines.append("")
    lines.append(f"cluster {report.cluster}, {_clock(report.taken_at)} UTC")
    for name, h in sorted(report.groups.items()):
        expected = f" of {h.expected} expected" if h.expected is not None else ""
        state = "; ".join(h.problems) if h.problems else "ok"
        members = f"{h.members} member{'s' if h.members != 1 else ''}"
        lines.append(f"group {name}: {members}{expected}: {state}")
    for topic, why in sorted(report.silent_topics.items()):
        lines.append(f"topic {topic}: producers silent: {why}")
    for error in report.errors:
        lines.append(f"warning: {error}")
    return "\n".join(lines)


def clients(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="kafkascope TOML file (default: $KAFKASCOPE_CONFIG)."),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="The cluster's name, when the file defines several."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    sample: Annotated[
        float,
        typer.Option(
            "--sample",
            min=0,
            help="Seconds to watch the clients before judging (polls every client_interval).",
        ),
    ] = DEFAULT_SAMPLE,
) -> None:
    """Every producer, consumer and group member: ALIVE, HUNG, UNRESPONSIVE, DEAD, IDLE or
    UNKNOWN, with the reason, group, JMX target and when it was last seen."""
    chosen = choose_cluster(config, cluster)
    monitor = client_monitor(chosen, SystemClock())
    interval = chosen.client_interval
    polls = int(sample // interval) + 1
    typer.echo(
        f"sampling {chosen.name} clients for {sample:g} s "
        f"({polls} poll{'s' if polls != 1 else ''}, every {interval:g} s)...",
        err=True,
    )
    try:
        start = time.monotonic()
        report = monitor.poll()
        for k in range(1, polls):
            # Pacing the sample window on a fixed grid, as the service's scheduler does.
            time.sleep(max(0.0, start + k * interval - time.monotonic()))
            report = monitor.poll()
    finally:
        monitor.close()
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        typer.echo(render(report))

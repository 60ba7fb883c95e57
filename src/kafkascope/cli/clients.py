"""``kafkascope clients``: every producer, consumer and group member, and whether it lives.

It reads the cluster's ``[[clusters]]`` entry (``--config FILE [--cluster NAME]``): client
JMX discovery (``[clusters.jmx.clients]``: static list, ``file_sd`` file, ``probe_ports``),
JMX credentials, ``client_interval``, ``jmx_timeout`` and ``[clusters.liveness]``.

Liveness needs a little history (did the producer's send total move? is a consumer's
poll gap growing?), so with no service running it polls every ``client_interval`` for
``--sample`` seconds (saying so on stderr) and prints the last poll's verdicts: worst
first, then by group and client id. ``--json`` prints the report as one JSON object.

``kafkascope clients forget ID`` asks the running service (``--url``, or the config's
``[service] listen``, with an admin token) to forget a client: it leaves ``/clients`` and
its alert resolves; it comes back only if it is seen alive again. Exit 1 when the service
knows no such client.

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
import urllib.parse
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from kafkascope.cli.lag import BootstrapOpt, PropertyOpt, resolve_target
from kafkascope.cli.options import (
    ConfigOpt,
    JsonOpt,
    TokenFileOpt,
    TokenOpt,
    UrlOpt,
    fail_on_option,
    parse_fail_on,
    pick_cluster,
    resolve_token,
)
from kafkascope.cli.service import ask_first, service_url
from kafkascope.cli.style import paint, use_colour
from kafkascope.clock import SystemClock
from kafkascope.config import ClusterConfig, load_config
from kafkascope.errors import ConfigError, KafkascopeError
from kafkascope.model import Liveness
from kafkascope.monitor.clients import SEVERITY, ClientReport
from kafkascope.service.builder import client_monitor

__all__ = [
    "DEFAULT_SAMPLE",
    "app",
    "choose_cluster",
    "clients",
    "forget",
    "render",
]

DEFAULT_SAMPLE = 10.0


def choose_cluster(
    config: Path | None,
    name: str | None,
    bootstrap: str | None = None,
    properties: Sequence[str] = (),
) -> ClusterConfig:
    """The ``[[clusters]]`` entry named ``name``, or the only one; with ``bootstrap``, a
    cluster of that address with default settings (``--property`` for its client)."""
    if bootstrap is not None:
        target = resolve_target(config, name, bootstrap, properties)
        return ClusterConfig.model_validate(
            {"name": "cli", "bootstrap": target.bootstrap, "client_properties": target.properties},
            context={"env": os.environ, "base_dir": Path.cwd()},
        )
    env_clusters = any(k.startswith("KAFKASCOPE_CLUSTERS__") for k in os.environ)
    if config is None and not os.environ.get("KAFKASCOPE_CONFIG") and not env_clusters:
        raise ConfigError(
            "no configuration given. Fix: pass --config FILE (or set KAFKASCOPE_CONFIG), "
            "or --bootstrap HOST:PORT"
        )
    return pick_cluster(load_config(config).clusters, name)


def _clock(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


def render(report: Mapping[str, Any]) -> str:
    """The report (``ClientReport.to_dict()``, or the API's clients answer) as a table for
    people: worst verdicts first."""
    rows = sorted(
        report["clients"],
        key=lambda r: (
            SEVERITY[Liveness(r["liveness"])],
            r["group"] or "~",
            r["client_id"],
            r["target"] or "",
        ),
    )
    table = [("VERDICT", "KIND", "CLIENT", "GROUP", "TARGET", "LAST SEEN", "REASON")]
    table += [
        (
            r["liveness"],
            r["kind"],
            r["client_id"],
            r["group"] or "-",
            r["target"] or "-",
            _clock(r["last_seen"]),
            r["reason"],
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(6)]
    on = use_colour()
    lines = []
    for n, row in enumerate(table):
        cells = [cell.ljust(w) for cell, w in zip(row[:6], widths, strict=True)]
        if n > 0:
            cells[0] = paint(cells[0], on)
        lines.append("  ".join(cells) + "  " + row[6])
    lines.append("")
    lines.append(f"cluster {report['cluster']}, {_clock(report['taken_at'])} UTC")
    for name, h in sorted(report.get("groups", {}).items()):
        expected = f" of {h['expected']} expected" if h["expected"] is not None else ""
        state = "; ".join(h["problems"]) if h["problems"] else "ok"
        members = f"{h['members']} member{'s' if h['members'] != 1 else ''}"
        lines.append(f"group {name}: {members}{expected}: {state}")
    for topic, why in sorted(report.get("silent_topics", {}).items()):
        lines.append(f"topic {topic}: producers silent: {why}")
    for error in report.get("errors", ()):
        lines.append(f"warning: {error}")
    return "\n".join(lines)


app = typer.Typer(
    invoke_without_command=True,
    help="Every producer, consumer and group member, and whether it lives.",
)


#: Every verdict a client can have.
VERDICTS = tuple(v.value for v in Liveness)


@app.callback()
def clients(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            "-c",
            help="kafkascope TOML file (default: $KAFKASCOPE_CONFIG unless --bootstrap is given).",
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="The cluster's name, when the file defines several."),
    ] = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    fail_on: Annotated[str | None, fail_on_option(VERDICTS, "any client")] = None,
    as_json: JsonOpt = False,
    sample: Annotated[
        float,
        typer.Option(
            "--sample",
            min=0,
            help="Seconds to watch the clients before judging, when no service answers "
            "(polls every client_interval).",
        ),
    ] = DEFAULT_SAMPLE,
) -> None:
    """Every producer, consumer and group member: ALIVE, HUNG, UNRESPONSIVE, DEAD, IDLE or
    UNKNOWN, with the reason, group, JMX target and when it was last seen. From a running
    service when one answers, else sampled. Exit 1 when a client has a --fail-on verdict."""
    if ctx.invoked_subcommand is not None:
        return
    failing = parse_fail_on(fail_on, VERDICTS)
    answer = None
    if bootstrap is None or url is not None:  # --bootstrap alone: no service to ask
        answer = ask_first(config, url, token, token_file, cluster, "clients", "/clients")
    report: dict[str, Any]
    if answer is not None and answer.status == 200:
        report = {**answer.body, "groups": {}, "silent_topics": {}, "errors": []}
    else:
        chosen = choose_cluster(config, cluster, bootstrap, properties or [])
        report = _sample(chosen, sample).to_dict()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
    else:
        typer.echo(render(report))
    hits = [f"{c['client_id']} {c['liveness']}" for c in report["clients"]]
    hits = [h for h, c in zip(hits, report["clients"], strict=True) if c["liveness"] in failing]
    if hits:
        typer.echo(
            f"kafkascope: --fail-on: {len(hits)} client(s): {', '.join(hits[:10])}", err=True
        )
        raise typer.Exit(1)


def _sample(chosen: ClusterConfig, sample: float) -> ClientReport:
    """Poll every ``client_interval`` for ``sample`` seconds; the last poll's report."""
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
    return report


@app.command("forget")
def forget(
    client_id: Annotated[str, typer.Argument(help="The client id to forget.")],
    config: ConfigOpt = None,
    cluster: Annotated[
        str | None,
        typer.Option("--cluster", help="The cluster's name, when the file defines several."),
    ] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Only the client on this JMX target.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", help="A running service's base URL (default: the config's listen)."),
    ] = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """Forget a client the service remembers (a retired or dead one): it leaves the list
    and its alert resolves, until it is seen alive again."""
    if config is None and url is None and not os.environ.get("KAFKASCOPE_CONFIG"):
        raise ConfigError("give --config FILE (the service's config) or --url URL")
    cfg = load_config(config) if config is not None or url is None else None
    name = cluster or (choose_cluster(config, None).name if cfg is not None else None)
    if name is None:
        raise ConfigError("with --url, name the cluster with --cluster NAME")
    base = url if url is not None else service_url(cfg) if cfg is not None else None
    assert base is not None  # --url, or a config (checked above)
    admin = cfg.service.admin_tokens if cfg is not None else ()
    secret = resolve_token(token, token_file) or (admin[0].reveal() if admin else None)
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    path = f"/api/v1/clusters/{urllib.parse.quote(name, safe='')}/clients/"
    path += urllib.parse.quote(client_id, safe="")
    try:
        r = httpx.delete(
            f"{base.rstrip('/')}{path}",
            params={"target": target} if target else {},
            headers=headers,
            timeout=10,
        )
    except httpx.TransportError as e:
        raise KafkascopeError(
            f"no service answers at {base} ({type(e).__name__}). Fix: start 'kafkascope serve', "
            "or point --url at it"
        ) from e
    if r.status_code == 404:
        typer.echo(f"kafkascope: {_error_text(r)}", err=True)
        raise typer.Exit(1)
    if r.status_code in (401, 403):
        raise KafkascopeError(
            f"the service at {base} refused ({r.status_code}: {_error_text(r)}). Fix: give an "
            "admin token with --token-file or KAFKASCOPE_TOKEN, or put one in [service] "
            "admin_tokens of the config"
        )
    if r.status_code != 200:
        raise KafkascopeError(f"the service at {base} answered {r.status_code}: {_error_text(r)}")
    for c in r.json()["forgotten"]:
        group = f" (group {c['group']})" if c.get("group") else ""
        typer.echo(f"forgot {c['kind']} {c['client_id']} on {c['target']}{group}")


def _error_text(r: httpx.Response) -> str:
    try:
        return str(r.json().get("error") or r.json().get("detail") or r.text)
    except ValueError:
        return r.text[:200]

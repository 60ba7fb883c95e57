"""``kafkascope groups`` and ``kafkascope lag GROUP``: consumer lag as an operator asks for it.

Both commands take a cluster either from a configuration file (``--config FILE [--cluster
NAME]``, the same file ``serve`` reads, so its client properties and ``[clusters.lag]``
settings apply) or from ``--bootstrap SERVERS`` plus ``--property KEY=VALUE`` client
properties (SASL, TLS ...). A secret property stays off the command line the way it stays
out of the TOML: ``KEY=env:VAR`` reads an environment variable, ``KEY_file=PATH`` a file.

Where the verdicts come from is one seam, :class:`ReportSource`. Today it is
:class:`SampledSource`: with no service running, lag status needs history, so it polls the
cluster every ``--interval`` seconds for ``--sample`` seconds (saying so on stderr) and
judges at the end. A source that reads a running service's API implements the same
one-method protocol and the commands stay as they are.

Exit status: 0 with a report; 1 when ``lag GROUP`` names a group the cluster does not know
(NOTFOUND); 2 for any kafkascope error (unreachable cluster, bad option), printed as one
line by the ``kafkascope`` entry point.
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from kafkascope.cli.options import (
    JsonOpt,
    TokenFileOpt,
    TokenOpt,
    UrlOpt,
    fail_on_option,
    parse_fail_on,
    pick_cluster,
    read_secret_file,
    warn,
)
from kafkascope.cli.service import ask_first
from kafkascope.cli.style import paint, use_colour
from kafkascope.clock import Clock, SystemClock
from kafkascope.config import LagConfig, load_config
from kafkascope.config.schema import is_secret_property
from kafkascope.errors import ConfigError
from kafkascope.model import Status
from kafkascope.monitor.lag import LagReport
from kafkascope.service.builder import lag_monitor

__all__ = [
    "ReportSource",
    "SampledSource",
    "Target",
    "format_seconds",
    "groups",
    "lag",
    "parse_properties",
    "register",
    "render_table",
    "resolve_target",
]

DEFAULT_SAMPLE = 20.0
DEFAULT_INTERVAL = 2.0


# ---------------------------------------------------------------------------------------
# Which cluster
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One cluster to read: its name, bootstrap servers, librdkafka properties (secrets
    revealed: only for the client, never printed) and lag settings."""

    name: str
    bootstrap: str
    properties: dict[str, str] = field(repr=False)
    lag: LagConfig


def parse_properties(items: Sequence[str], env: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``["security.protocol=SASL_SSL", ...]`` → a dict; the value may contain ``=``.

    As in ``[clusters.client_properties]``: ``KEY=env:VAR`` takes the value from the
    environment and ``KEY_file=PATH`` from a file, so that a secret need not be on the
    command line, where other users can read it. A secret property given there anyway
    (:func:`~kafkascope.config.schema.is_secret_property`) is used, with a warning."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            shown = (key.split() or [""])[0]  # never the rest: it may be a secret
            raise ConfigError(
                f"--property '{shown}…' is not KEY=VALUE. "
                "Fix: write it like --property security.protocol=SASL_SSL"
            )
        target = key.removesuffix("_file")
        if target == "bootstrap.servers":
            raise ConfigError("--property bootstrap.servers is not allowed. Fix: use --bootstrap")
        if target in out:
            raise ConfigError(
                f"--property {target} is given twice (as {target} or {target}_file). "
                "Fix: keep one of them"
            )
        if key.endswith("_file"):
            out[target] = read_secret_file(Path(value), f"--property {key}")
        elif value.startswith("env:"):
            out[key] = _from_env(key, value.removeprefix("env:").strip(), env)
        else:
            if is_secret_property(key):
                warn(
                    f"--property {key}=… puts a secret on the command line, where other "
                    f"users can read it. Fix: use --property {key}=env:VAR or "
                    f"--property {key}_file=PATH"
                )
            out[key] = value
    return out


def _from_env(key: str, name: str, env: Mapping[str, str]) -> str:
    if not name:
        raise ConfigError(f"--property {key}=env: names no variable. Fix: write {key}=env:NAME")
    if name not in env:
        raise ConfigError(
            f"--property {key}=env:{name}: environment variable {name} is not set. "
            f"Fix: export {name}, or use --property {key}_file=PATH"
        )
    if not env[name]:
        raise ConfigError(
            f"--property {key}=env:{name}: environment variable {name} is empty. "
            f"Fix: give {name} a value"
        )
    return env[name]


def resolve_target(
    config: Path | None, cluster: str | None, bootstrap: str | None, properties: Sequence[str]
) -> Target:
    """The cluster the options name. ``--property`` values override the file's."""
    extra = parse_properties(properties)
    if bootstrap is not None:
        if config is not None or cluster is not None:
            raise ConfigError(
                "--bootstrap cannot be combined with --config/--cluster. "
                "Fix: give either --bootstrap SERVERS or --config FILE [--cluster NAME]"
            )
        if not bootstrap.strip():
            raise ConfigError("--bootstrap is empty. Fix: give HOST:PORT[,HOST:PORT]")
        return Target(bootstrap.strip(), bootstrap.strip(), extra, LagConfig())
    if config is None and cluster is None and not _env_config():
        raise ConfigError(
            "no cluster given. Fix: pass --bootstrap HOST:PORT, or --config FILE "
            "(or set KAFKASCOPE_CONFIG)"
        )
    chosen = pick_cluster(load_config(config).clusters, cluster)
    props = chosen.librdkafka_config()
    servers = props.pop("bootstrap.servers")
    return Target(chosen.name, servers, {**props, **extra}, chosen.lag)


def _env_config() -> bool:
    return bool(os.environ.get("KAFKASCOPE_CONFIG"))


# ---------------------------------------------------------------------------------------
# Where the report comes from
# ---------------------------------------------------------------------------------------


class ReportSource(Protocol):
    """Anything that can produce a lag report of the target cluster: all groups, or only
    ``groups``. A service-backed source implements this one method too."""

    def report(self, groups: Sequence[str] | None) -> LagReport: ...


class SampledSource:
    """Poll the cluster for ``sample`` seconds, every ``interval``, then judge.

    Lag status needs history (Burrow's rules compare commits over a window), so without a
    service we build a short one. Polls are scheduled on a fixed grid, so a slow poll does
    not stretch the window. Exact lag seconds (a record read per lagging partition) are
    read on the last poll only. When only named groups are asked for and none of them
    exists after the first poll, there is nothing to sample: it returns at once.
    """

    def __init__(
        self,
        target: Target,
        sample: float,
        interval: float,
        timeout: float = 10.0,
        *,
        clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] | None = None,
    ) -> None:
        if sample < 0 or interval <= 0:
            raise ConfigError(
                f"--sample must be >= 0 and --interval > 0 (got {sample:g} and {interval:g})"
            )
        self.target = target
        self.sample = sample
        self.interval = interval
        self.timeout = timeout
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._say = say or (lambda text: typer.echo(text, err=True))

    def report(self, groups: Sequence[str] | None) -> LagReport:
        polls = int(self.sample // self.interval) + 1
        # A sample shorter than stop_grace could never call a dead consumer STOP: the
        # sample itself is the evidence, so half of it is the grace (a consumer silent for
        # the second half of the sample while its log moved on has stopped).
        grace = min(self.target.lag.stop_grace, self.sample / 2)
        lag = self.target.lag.model_copy(update={"stop_grace": grace})
        monitor = lag_monitor(
            self.target.name,
            self.target.bootstrap,
            self.target.properties,
            lag,
            self._clock,
            groups=groups,
            timeout=self.timeout,
        )
        try:
            start = time.monotonic()
            report = monitor.poll(exact=polls == 1)
            if groups is not None and not any(g in report.groups for g in groups):
                return report
            if polls > 1:
                self._say(
                    f"sampling {self.target.name} for {self.sample:g} s "
                    f"(a poll every {self.interval:g} s) before judging…"
                )
            for i in range(1, polls):
                delay = start + i * self.interval - time.monotonic()
                if delay > 0:
                    self._sleep(delay)
                report = monitor.poll(exact=i == polls - 1)
            return report
        finally:
            monitor.close()


# ---------------------------------------------------------------------------------------
# Rendering (pure)
# ---------------------------------------------------------------------------------------


def format_seconds(seconds: float | None) -> str:
    """A lag in seconds for a table: ``-`` unknown, ``0.4s``, ``12s``, ``4m05s``, ``2h03m``,
    ``3d04h``."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    if whole < 86400:
        return f"{whole // 3600}h{whole % 3600 // 60:02d}m"
    return f"{whole // 86400}d{whole % 86400 // 3600:02d}h"


def render_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    status_column: int | None = None,
    colour: bool | None = None,
) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned. The
    ``status_column`` is coloured by its word on a terminal (:mod:`kafkascope.cli.style`)."""
    on = use_colour() if colour is None else colour
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]
    lines = []
    for n, row in enumerate(cells):
        parts = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ]
        if status_column is not None and n > 0:
            parts[status_column] = paint(parts[status_column], on)
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def groups_text(cluster: str, rows: Sequence[Mapping[str, Any]]) -> str:
    """The :func:`groups_json` rows as a table."""
    if not rows:
        return f"no consumer groups on {cluster}"
    table = [
        (
            g["group"],
            g["state"],
            g["type"],
            g["members"],
            f"{g['status']} (expired)" if g.get("expired") else g["status"],
            g["partition_count"],
            g["total_lag"],
            format_seconds(g["lag_seconds"]),
        )
        for g in rows
    ]
    return render_table(
        ("GROUP", "STATE", "TYPE", "MEMBERS", "STATUS", "PARTITIONS", "LAG", "LAG TIME"),
        table,
        status_column=4,
    )


def group_row(g: Mapping[str, Any]) -> dict[str, Any]:
    """A group as ``groups --json`` lists it, from the API's group object (whose
    ``members`` is a list) or from this module's own rows."""
    members = g["members"]
    return {
        "group": g["group"],
        "state": g["state"],
        "type": g["type"],
        "members": len(members) if isinstance(members, list) else members,
        "status": g["status"],
        "partition_count": g["partition_count"],
        "complete": g["complete"],
        "total_lag": g["total_lag"],
        "lag_seconds": g["lag_seconds"],
        "expired": g["expired"],
    }


def groups_json(report: LagReport) -> dict[str, Any]:
    """The report's groups as ``groups --json`` lists them, by name."""
    return {
        "cluster": report.cluster,
        "taken_at": report.taken_at,
        "groups": [
            {
                "group": g.group,
                "state": g.state.value,
                "type": g.type.value,
                "members": len(g.members),
                "status": g.status.name,
                "partition_count": g.verdict.partition_count,
                "complete": g.verdict.complete,
                "total_lag": g.verdict.total_lag,
                "lag_seconds": g.lag_seconds,
                "expired": g.expired,
            }
            for g in (report.groups[name] for name in sorted(report.groups))
        ],
    }


def lag_text(g: Mapping[str, Any]) -> str:
    """One group (``GroupReport.to_dict()``, or the API's group object) as a head line and
    a table of its partitions."""
    n = len(g["members"])
    members = f"{n} member" + ("" if n == 1 else "s")
    status = f"{g['status']} (expired)" if g.get("expired") else g["status"]
    head = (
        f"group {g['group']}: {status} ({g['state']}, {str(g['type']).lower()}, {members}; "
        f"total lag {g['total_lag']}, lag time {format_seconds(g['lag_seconds'])}, "
        f"window {g['complete']:.0%} complete)"
    )
    rows = [
        (
            p["topic"],
            p["partition"],
            p["committed"],
            p.get("end_offset", p.get("end")),
            p["lag"],
            format_seconds(p["lag_seconds"]),
            p["status"],
            f"{p['client_id']}@{p['owner']}" if p.get("client_id") else "-",
        )
        for p in g.get("partitions", ())
    ]
    table = render_table(
        ("TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG TIME", "STATUS", "OWNER"),
        rows,
        status_column=6,
    )
    return f"{head}\n{table}" if rows else head


# ---------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------

TargetConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="kafkascope TOML file naming the cluster (as for serve; default: "
        "$KAFKASCOPE_CONFIG unless --bootstrap is given).",
    ),
]
ClusterOpt = Annotated[
    str | None, typer.Option("--cluster", help="Which [[clusters]] of --config (by name).")
]
BootstrapOpt = Annotated[
    str | None,
    typer.Option("--bootstrap", help="Bootstrap servers HOST:PORT[,HOST:PORT] (no --config)."),
]
PropertyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--property",
        help="librdkafka client property KEY=VALUE (repeatable), e.g. security.protocol=SSL. "
        "Keep secrets off the command line (other users can read it): KEY=env:VAR reads an "
        "environment variable, KEY_file=PATH a file, as in the TOML's client_properties.",
    ),
]
SampleOpt = Annotated[
    float,
    typer.Option(
        "--sample",
        min=0,
        help="Seconds to watch the offsets before judging (when no service answers).",
    ),
]
IntervalOpt = Annotated[
    float, typer.Option("--interval", min=0.1, help="Seconds between polls while sampling.")
]
KafkaTimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.5, help="Seconds each Kafka request may take.")
]
#: Every lag status a group or partition can have (Burrow's names).
STATUSES = tuple(s.name for s in Status)
GroupsFailOn = Annotated[str | None, fail_on_option(STATUSES, "any group")]
LagFailOn = Annotated[str | None, fail_on_option(STATUSES, "the group or any of its partitions")]


def _source(
    config: Path | None,
    cluster: str | None,
    bootstrap: str | None,
    properties: list[str] | None,
    sample: float,
    interval: float,
    timeout: float,
) -> ReportSource:
    target = resolve_target(config, cluster, bootstrap, properties or [])
    return SampledSource(target, sample, interval, timeout)


def _ask(
    config: Path | None,
    url: str | None,
    token: str | None,
    token_file: Path | None,
    cluster: str | None,
    bootstrap: str | None,
    path: str,
) -> Any:
    """The running service's answer for ``path`` (see :func:`~kafkascope.cli.service.
    ask_first`), or None: then the command samples the cluster itself, and says so."""
    if bootstrap is not None and url is None:
        return None  # no service to ask: --bootstrap names the cluster itself
    return ask_first(config, url, token, token_file, cluster, "lag", path)


def groups(
    as_json: JsonOpt = False,
    config: TargetConfigOpt = None,
    cluster: ClusterOpt = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    fail_on: GroupsFailOn = None,
    sample: SampleOpt = DEFAULT_SAMPLE,
    interval: IntervalOpt = DEFAULT_INTERVAL,
    timeout: KafkaTimeoutOpt = 10.0,
) -> None:
    """Every consumer group: state, members, lag status, total lag and lag time. From a
    running service when one answers, else sampled from the cluster. Exit 1 when a group
    has a --fail-on status."""
    failing = parse_fail_on(fail_on, STATUSES)
    answer = _ask(config, url, token, token_file, cluster, bootstrap, "/groups")
    if answer is not None and answer.status == 200:
        body = answer.body
        name, taken_at = answer.cluster, body["taken_at"]
        rows = [group_row(g) for g in body["groups"]]
    else:
        source = _source(config, cluster, bootstrap, properties, sample, interval, timeout)
        report = source.report(None)
        name, taken_at = report.cluster, report.taken_at
        rows = groups_json(report)["groups"]
    if as_json:
        doc = {"cluster": name, "taken_at": taken_at, "groups": rows}
        typer.echo(json.dumps(doc, indent=2))
    else:
        typer.echo(groups_text(name, rows))
    _fail_if(failing, [(g["group"], g["status"]) for g in rows], "group")


def _fail_if(failing: frozenset[str], found: Sequence[tuple[str, str]], what: str) -> None:
    """Exit 1 naming what has a --fail-on status (for cron and Nagios-style checks)."""
    hits = [f"{name} {status}" for name, status in found if status in failing]
    if hits:
        shown = ", ".join(hits[:10]) + (f" and {len(hits) - 10} more" if len(hits) > 10 else "")
        typer.echo(f"kafkascope: --fail-on: {len(hits)} {what}(s) matched: {shown}", err=True)
        raise typer.Exit(1)


def lag(
    group: Annotated[str, typer.Argument(help="The consumer group id.")],
    as_json: JsonOpt = False,
    config: TargetConfigOpt = None,
    cluster: ClusterOpt = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    fail_on: LagFailOn = None,
    sample: SampleOpt = DEFAULT_SAMPLE,
    interval: IntervalOpt = DEFAULT_INTERVAL,
    timeout: KafkaTimeoutOpt = 10.0,
) -> None:
    """One group per partition: committed and end offsets, lag, lag time, status and the
    owning client (client id @ host). Exit 1 when the group does not exist, or when it or
    a partition has a --fail-on status."""
    failing = parse_fail_on(fail_on, STATUSES)
    path = f"/groups/{urllib.parse.quote(group, safe='')}"
    answer = _ask(config, url, token, token_file, cluster, bootstrap, path)
    if answer is not None:
        name = answer.cluster
        missing = answer.status == 404
        found: dict[str, Any] = (
            {"group": group, "status": Status.NOTFOUND.name} if missing else answer.body
        )
        for p in found.get("partitions", ()):
            p["end_offset"] = p.pop("end", None)
    else:
        source = _source(config, cluster, bootstrap, properties, sample, interval, timeout)
        report = source.report([group])
        name = report.cluster
        found = report.group(group).to_dict()
        missing = group not in report.groups
    if as_json:
        typer.echo(json.dumps({"cluster": name, **found}, indent=2))
    elif not missing:
        typer.echo(lag_text(found))
    if missing:
        print(
            f"kafkascope: group '{group}' not found on {name} (NOTFOUND): it has no "
            "members and no committed offsets. Fix: check the name with 'kafkascope groups'",
            file=sys.stderr,
        )
        raise typer.Exit(1)
    parts = [(f"{p['topic']}-{p['partition']}", p["status"]) for p in found.get("partitions", ())]
    _fail_if(failing, [(group, found["status"]), *parts], "group or partition")


def register(app: typer.Typer) -> None:
    """Add ``groups`` and ``lag`` to the ``kafkascope`` command."""
    app.command("groups")(groups)
    app.command("lag")(lag)

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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Protocol

import typer

from kafkascope.cli.options import JsonOpt, read_secret_file, warn
from kafkascope.clock import Clock, SystemClock
from kafkascope.config import LagConfig, load_config
from kafkascope.config.schema import is_secret_property
from kafkascope.errors import ConfigError
from kafkascope.monitor.lag import GroupReport, LagReport
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
    loaded = load_config(config)
    names = [c.name for c in loaded.clusters]
    if cluster is None:
        if len(loaded.clusters) > 1:
            raise ConfigError(
                f"the configuration defines {len(names)} clusters ({', '.join(names)}). "
                "Fix: choose one with --cluster NAME"
            )
        chosen = loaded.clusters[0]
    else:
        matches = [c for c in loaded.clusters if c.name == cluster]
        if not matches:
            raise ConfigError(
                f"no cluster named '{cluster}' in the configuration. "
                f"Fix: use one of {', '.join(names)}"
            )
        chosen = matches[0]
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


def render_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; numbers right-aligned, text left-aligned."""
    cells = [[str(h) for h in headers]] + [["-" if c is None else str(c) for c in r] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    numeric = [
        bool(rows) and all(isinstance(r[i], int | float) or r[i] is None for r in rows)
        for i in range(len(headers))
    ]
    lines = []
    for row in cells:
        parts = [
            cell.rjust(w) if num else cell.ljust(w)
            for cell, w, num in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  ".join(parts).rstrip())
    return "\n".join(lines)


def _status(g: GroupReport) -> str:
    return f"{g.status.name} (expired)" if g.expired else g.status.name


def groups_text(report: LagReport) -> str:
    if not report.groups:
        return f"no consumer groups on {report.cluster}"
    rows = [
        (
            g.group,
            g.state.value,
            g.type.value,
            len(g.members),
            _status(g),
            g.verdict.partition_count,
            g.verdict.total_lag,
            format_seconds(g.lag_seconds),
        )
        for g in (report.groups[name] for name in sorted(report.groups))
    ]
    return render_table(
        ("GROUP", "STATE", "TYPE", "MEMBERS", "STATUS", "PARTITIONS", "LAG", "LAG TIME"), rows
    )


def groups_json(report: LagReport) -> dict[str, Any]:
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


def lag_text(g: GroupReport) -> str:
    v = g.verdict
    members = f"{len(g.members)} member" + ("" if len(g.members) == 1 else "s")
    head = (
        f"group {g.group}: {_status(g)} ({g.state.value}, {g.type.value.lower()}, {members}; "
        f"total lag {v.total_lag}, lag time {format_seconds(g.lag_seconds)}, "
        f"window {v.complete:.0%} complete)"
    )
    rows = [
        (
            p.topic,
            p.partition,
            p.end.offset if p.end is not None else None,
            g.end_offsets.get((p.topic, p.partition)),
            p.current_lag,
            format_seconds(p.lag_seconds),
            p.status.name,
            f"{p.client_id}@{p.owner}" if p.client_id else "-",
        )
        for p in v.partitions
    ]
    table = render_table(
        ("TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG TIME", "STATUS", "OWNER"), rows
    )
    return f"{head}\n{table}" if rows else head


# ---------------------------------------------------------------------------------------
# The commands
# ---------------------------------------------------------------------------------------

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="kafkascope TOML file naming the cluster (as for serve)."),
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
    typer.Option("--sample", min=0, help="Seconds to watch the offsets before judging."),
]
IntervalOpt = Annotated[
    float, typer.Option("--interval", min=0.1, help="Seconds between polls while sampling.")
]
KafkaTimeoutOpt = Annotated[
    float, typer.Option("--timeout", min=0.5, help="Seconds each Kafka request may take.")
]


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


def groups(
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    cluster: ClusterOpt = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    sample: SampleOpt = DEFAULT_SAMPLE,
    interval: IntervalOpt = DEFAULT_INTERVAL,
    timeout: KafkaTimeoutOpt = 10.0,
) -> None:
    """Every consumer group: state, members, lag status, total lag and lag time."""
    source = _source(config, cluster, bootstrap, properties, sample, interval, timeout)
    report = source.report(None)
    if as_json:
        typer.echo(json.dumps(groups_json(report), indent=2))
    else:
        typer.echo(groups_text(report))


def lag(
    group: Annotated[str, typer.Argument(help="The consumer group id.")],
    as_json: JsonOpt = False,
    config: ConfigOpt = None,
    cluster: ClusterOpt = None,
    bootstrap: BootstrapOpt = None,
    properties: PropertyOpt = None,
    sample: SampleOpt = DEFAULT_SAMPLE,
    interval: IntervalOpt = DEFAULT_INTERVAL,
    timeout: KafkaTimeoutOpt = 10.0,
) -> None:
    """One group per partition: committed and end offsets, lag, lag time, status and the
    owning client (client id @ host). Exit 1 when the group does not exist."""
    source = _source(config, cluster, bootstrap, properties, sample, interval, timeout)
    report = source.report([group])
    found = report.group(group)
    missing = group not in report.groups
    if as_json:
        typer.echo(json.dumps({"cluster": report.cluster, **found.to_dict()}, indent=2))
    elif not missing:
        typer.echo(lag_text(found))
    if missing:
        print(
            f"kafkascope: group '{group}' not found on {report.cluster} (NOTFOUND): it has no "
            "members and no committed offsets. Fix: check the name with 'kafkascope groups'",
            file=sys.stderr,
        )
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add ``groups`` and ``lag`` to the ``kafkascope`` command."""
    app.command("groups")(groups)
    app.command("lag")(lag)

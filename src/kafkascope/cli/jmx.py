"""``kafkascope jmx …``: look into any Kafka JVM like jmxterm, and through the catalog.

``domains`` answers the field notes' first question (is this the JVM that holds the
metrics I want?), ``query`` lists MBeans by pattern (``client-id=*`` finds every client)
and reads attributes, ``collect`` runs the catalog exactly as the service does. Every
command takes ``--json``. Errors are kafkascope errors, which the CLI prints as one line
and exit status 2.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from kafkascope.cli.options import JsonOpt
from kafkascope.errors import ConfigError
from kafkascope.model import Sample
from kafkascope.sources.jmx.catalog import default_catalog, in_base_units
from kafkascope.sources.jmx.collector import TargetReader
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint

app = typer.Typer(
    help="Read JMX from one JVM (HOST:PORT): its domains, MBeans by pattern, or the catalog.",
    no_args_is_help=True,
)

EndpointArg = Annotated[str, typer.Argument(metavar="HOST:PORT", help="The JVM's JMX endpoint.")]
UserOpt = Annotated[str | None, typer.Option("--user", help="JMX username (with --password-file).")]
PasswordFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        help="File whose first line is the JMX password (kept out of argv and history).",
    ),
]
SslOpt = Annotated[bool, typer.Option("--ssl", help="Use SSL for JMX, including the RMI registry.")]
JmxTimeoutOpt = Annotated[
    float,
    typer.Option("--timeout", help="Seconds to wait for each JMX call before giving up.", min=0.1),
]


def endpoint_from_options(
    target: str, user: str | None, password_file: Path | None, ssl: bool
) -> JmxEndpoint:
    """HOST:PORT and the login options → an endpoint; each mistake named with its fix."""
    password: str | None = None
    if password_file is not None:
        if user is None:
            raise ConfigError("--password-file needs --user (the JMX username)")
        try:
            lines = password_file.read_text().splitlines()
        except OSError as e:
            raise ConfigError(
                f"cannot read --password-file {password_file}: {e.strerror}"
            ) from None
        if not lines or not lines[0]:
            raise ConfigError(
                f"--password-file {password_file} is empty; put the password on line 1"
            )
        password = lines[0]
    elif user is not None:
        raise ConfigError(f"--user {user} needs --password-file (a file holding the password)")
    return JmxEndpoint.parse(target, username=user, password=password, ssl=ssl, registry_ssl=ssl)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, default=str))


@app.command()
def domains(
    target: EndpointArg,
    as_json: JsonOpt = False,
    user: UserOpt = None,
    password_file: PasswordFileOpt = None,
    ssl: SslOpt = False,
    timeout: JmxTimeoutOpt = 5.0,
) -> None:
    """List the JVM's MBean domains (kafka.server on a broker, kafka.consumer on a consumer)."""
    endpoint = endpoint_from_options(target, user, password_file, ssl)
    with JmxConnection(endpoint, timeout=timeout) as conn:
        found = conn.domains()
    if as_json:
        _echo_json({"target": endpoint.target, "domains": found})
        return
    for d in found:
        typer.echo(d)


@app.command()
def query(
    target: EndpointArg,
    pattern: Annotated[
        str,
        typer.Argument(help="ObjectName pattern, e.g. 'kafka.consumer:type=consumer-metrics,*'."),
    ],
    attrs: Annotated[
        list[str] | None,
        typer.Option("--attr", help="Attribute to read from every match (repeatable)."),
    ] = None,
    as_json: JsonOpt = False,
    user: UserOpt = None,
    password_file: PasswordFileOpt = None,
    ssl: SslOpt = False,
    timeout: JmxTimeoutOpt = 5.0,
) -> None:
    """List the MBeans matching PATTERN, and read --attr attributes of each (one call per
    MBean)."""
    endpoint = endpoint_from_options(target, user, password_file, ssl)
    rows: list[dict[str, Any]] = []
    with JmxConnection(endpoint, timeout=timeout) as conn:
        for name in sorted(conn.query_names(pattern), key=lambda n: n.canonical):
            values = conn.get_attributes(name.canonical, list(attrs)) if attrs else {}
            rows.append({"name": name.canonical, "keys": name.keys, "attributes": values})
    if as_json:
        _echo_json(rows)
        return
    if not rows:
        typer.echo(f"no MBean matches {pattern}", err=True)
    for row in rows:
        typer.echo(row["name"])
        for attr in attrs or []:
            value = row["attributes"].get(attr, "(no such attribute)")
            typer.echo(f"  {attr} = {value}")


def _sample_line(s: Sample) -> str:
    """One sample as on /metrics: in the base unit its name states (seconds, not ms)."""
    s = in_base_units(s)
    labels = ",".join(f'{k}="{v}"' for k, v in s.labels)
    return (
        f"{s.name}{{{labels}}} {s.value:g} {s.unit}" if labels else f"{s.name} {s.value:g} {s.unit}"
    )


def _sample_json(s: Sample) -> dict[str, Any]:
    s = in_base_units(s)
    return {
        "name": s.name,
        "value": s.value,
        "labels": dict(s.labels),
        "kind": s.kind.value,
        "unit": s.unit,
        "timestamp": s.timestamp,
    }


@app.command()
def collect(
    target: EndpointArg,
    sets: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Catalog set to read (repeatable): broker, controller, consumer, producer, "
            "jvm, partition. Default: every set the JVM's MBeans match, minus partition.",
        ),
    ] = None,
    as_json: JsonOpt = False,
    user: UserOpt = None,
    password_file: PasswordFileOpt = None,
    ssl: SslOpt = False,
    timeout: JmxTimeoutOpt = 5.0,
) -> None:
    """Detect what the JVM is and read the catalog from it, as the service does."""
    endpoint = endpoint_from_options(target, user, password_file, ssl)
    if sets:
        default_catalog().select(sets)  # an unknown set fails before connecting
    reader = TargetReader(endpoint, sets=sets or None, timeout=timeout)
    try:
        reading = reader.read()
    finally:
        reader.close()
    ident = reading.identity
    read_sets = list(sets) if sets else [s for s in ident.sets if s != "partition"]
    if as_json:
        _echo_json(
            {
                "target": ident.target,
                "role": ident.role,
                "roles": list(ident.roles),
                "domains": list(ident.domains),
                "sets_detected": list(ident.sets),
                "sets_read": read_sets,
                "clients": [{"role": r, "client_id": c} for r, c in ident.clients],
                "mbeans_read": reading.beans_read,
                "samples": [_sample_json(s) for s in reading.samples],
            }
        )
        return
    clients = ", ".join(f"{r} {c}" for r, c in ident.clients) or "none"
    typer.echo(
        f"# {ident.target}: {ident.role}; sets read: {', '.join(read_sets) or 'none'}; "
        f"clients: {clients}; {reading.beans_read} MBeans, {len(reading.samples)} samples"
    )
    unmatched = [s for s in read_sets if s not in ident.sets]
    if unmatched:
        typer.echo(
            f"note: this JVM has no MBeans of set(s) {', '.join(unmatched)} (it is a {ident.role})",
            err=True,
        )
    for s in reading.samples:
        typer.echo(_sample_line(s))

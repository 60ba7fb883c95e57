"""``kafkascope sandbox …``: bring a real local Kafka cluster up and down, and kill, freeze
and resume its brokers and clients for tests and demos."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TextIO

import typer

from kafkascope.sandbox import cluster, jars, telemetry
from kafkascope.sandbox.state import load
from kafkascope.sandbox.workload import ClientSpec

app = typer.Typer(
    help="A real local Kafka (KRaft) cluster with a demo workload.", no_args_is_help=True
)
broker_app = typer.Typer(help="Stop and start one broker.", no_args_is_help=True)
client_app = typer.Typer(help="Start clients and send them signals.", no_args_is_help=True)
app.add_typer(broker_app, name="broker")
app.add_typer(client_app, name="client")

DirOpt = Annotated[
    Path,
    typer.Option(
        "--dir",
        help="Sandbox directory (holds sandbox.json, data and logs).",
        default_factory=cluster.default_dir,
        show_default=".sandbox in a checkout, else ~/.local/state/kafkascope/sandbox",
    ),
]


class Progress:
    """Steps of a long start, on ``stream``: on a terminal one status line, rewritten in
    place (``\\r`` and erase-line) and cleared at the end; elsewhere (a pipe, a log file,
    CI) one plain line per step, which a log keeps readable. Each shows the seconds since
    the start."""

    def __init__(self, stream: TextIO, clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.clock = clock
        self.t0 = clock()
        try:
            self.tty = stream.isatty() and os.environ.get("TERM") != "dumb"
        except (AttributeError, ValueError):
            self.tty = False
        self.shown = False

    def __call__(self, step: str) -> None:
        text = f"sandbox: [{self.clock() - self.t0:5.1f}s] {step}"
        if self.tty:
            width = shutil.get_terminal_size().columns - 1
            self.stream.write(f"\r\x1b[K{text[:width]}")
            self.shown = True
        else:
            self.stream.write(f"{text}\n")
        self.stream.flush()

    def done(self) -> None:
        """Clear the status line (a terminal), so the result starts on a clean line."""
        if self.tty and self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self.shown = False


@app.command()
def up(
    directory: DirOpt,
    brokers: Annotated[int, typer.Option("--brokers", help="Broker+controller nodes.")] = 3,
    workload: Annotated[
        bool,
        typer.Option("--workload/--no-workload", help="Start the demo producers and consumers."),
    ] = True,
    broker_heap: Annotated[str, typer.Option("--broker-heap", help="-Xmx of each node.")] = "512m",
    jmx_tls: Annotated[
        bool,
        typer.Option(
            "--jmx-tls",
            help="Every JVM's JMX over TLS with a password (a self-signed certificate made "
            "now); kafkascope.toml gets the truststore and the login.",
        ),
    ] = False,
    telemetry_plugin: Annotated[
        bool,
        typer.Option(
            "--telemetry/--no-telemetry",
            help="Load kafkascope's KIP-714 plugin on every broker and subscribe every "
            "client to push its metrics (docs/telemetry.md).",
        ),
    ] = True,
    telemetry_endpoint: Annotated[
        str,
        typer.Option(
            "--telemetry-endpoint",
            help="kafkascope serve's base URL the plugin posts pushes to; change it later "
            "with 'sandbox telemetry-endpoint URL'.",
        ),
    ] = telemetry.DEFAULT_ENDPOINT,
    telemetry_interval_ms: Annotated[
        int,
        typer.Option(
            "--telemetry-interval-ms",
            help="Push interval of the sandbox's CLIENT_METRICS subscription.",
        ),
    ] = telemetry.DEFAULT_INTERVAL_MS,
) -> None:
    """Format KRaft storage and start the cluster; return when it is ready. Progress goes
    to stderr: one status line rewritten in place on a terminal, plain lines otherwise."""
    show = Progress(sys.stderr)
    try:
        state = cluster.up(
            directory,
            brokers=brokers,
            workload=workload,
            broker_heap=broker_heap,
            secure_jmx=jmx_tls,
            telemetry_plugin=telemetry_plugin,
            telemetry_endpoint=telemetry_endpoint,
            telemetry_interval_ms=telemetry_interval_ms,
            progress=show,
        )
    finally:
        show.done()
    typer.echo(json.dumps(state.to_json() | {"processes": cluster.status(directory)}, indent=2))
    typer.echo(
        f"sandbox ready in {state.startup_seconds} s; bootstrap {state.bootstrap}; "
        f"description {Path(state.dir) / 'sandbox.json'}",
        err=True,
    )
    if telemetry_plugin and not state.telemetry_plugin:
        typer.echo(
            "no telemetry plugin: the brokers run without KIP-714 telemetry. Fix: run from a "
            "checkout ('make telemetry-plugin'), or set KAFKASCOPE_TELEMETRY_PLUGIN=JAR",
            err=True,
        )


@app.command("telemetry-endpoint")
def telemetry_endpoint(
    url: Annotated[str, typer.Argument(help="kafkascope serve's base URL.")],
    directory: DirOpt,
) -> None:
    """Point the brokers' telemetry plugin at another kafkascope serve; they follow
    within a second, without a restart."""
    typer.echo(f"telemetry pushes now go to {telemetry.set_endpoint(directory.resolve(), url)}")


@app.command()
def fetch(
    cache_dir: Annotated[
        Path | None,
        typer.Option(
            "--cache-dir",
            envvar="KAFKASCOPE_CACHE",
            help="Where the jars are kept: DIR/kafka-VERSION.",
            show_default="~/.cache/kafkascope, or $XDG_CACHE_HOME/kafkascope",
        ),
    ] = None,
) -> None:
    """Resolve Apache Kafka's jars with Maven into the cache, so 'sandbox up' works
    outside a checkout. Needs Java 17+ and Maven; a second run finds them there."""
    lib = jars.cache_lib_dir(cache_dir)
    if jars.complete(lib):
        typer.echo(f"Kafka {jars.KAFKA_VERSION} jars already in {lib}")
        return
    jars.fetch_tools()
    typer.echo(f"resolving Kafka {jars.KAFKA_VERSION} with Maven into {lib} ...", err=True)
    typer.echo(f"Kafka {jars.KAFKA_VERSION} jars in {jars.fetch(lib)}")


@app.command()
def status(
    directory: DirOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Show every process the sandbox started and whether it runs."""
    rows = cluster.status(directory)
    if as_json:
        state = load(directory.resolve())
        typer.echo(json.dumps({"bootstrap": state.bootstrap, "processes": rows}, indent=2))
        return
    for r in rows:
        ident = r["node_id"] if r["node_id"] is not None else (r["client_id"] or "(default id)")
        typer.echo(
            f"{r['name']:<24} {r['role']:<18} pid {r['pid']:<8} jmx {r['jmx']:<16} "
            f"{r['state']:<8} {ident}"
        )


@app.command()
def down(directory: DirOpt) -> None:
    """Stop everything the sandbox started, by pid."""
    state = cluster.down(directory)
    typer.echo(f"stopped {len(state.processes)} processes in {state.dir}")


@broker_app.command("stop")
def broker_stop(node_id: int, directory: DirOpt) -> None:
    """Stop broker NODE_ID (SIGTERM, then SIGKILL after a grace period)."""
    p = cluster.broker_stop(directory, node_id)
    typer.echo(json.dumps({"name": p.name, "pid": p.pid, "state": "stopped"}))


@broker_app.command("start")
def broker_start(node_id: int, directory: DirOpt) -> None:
    """Start broker NODE_ID again, as it ran before; return when it has registered."""
    p = cluster.broker_start(directory, node_id)
    typer.echo(json.dumps({"name": p.name, "pid": p.pid, "state": "running"}))


@client_app.command("start")
def client_start(
    directory: DirOpt,
    role: Annotated[str, typer.Option("--role", help="consumer or producer.")],
    topic: Annotated[str, typer.Option("--topic")],
    group: Annotated[str | None, typer.Option("--group", help="Consumer group.")] = None,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", help="Explicit client.id; omit to get Kafka's default id."),
    ] = None,
    rate: Annotated[float, typer.Option("--rate", help="Producer records per second.")] = 10.0,
    protocol: Annotated[
        str,
        typer.Option("--protocol", help="Consumer group protocol: classic or consumer (KIP-848)."),
    ] = "classic",
    impl: Annotated[
        str,
        typer.Option(
            "--impl",
            help="java (a kafka-tools JVM with JMX) or python (confluent-kafka, no JMX; "
            "seen through its group and KIP-714 telemetry).",
        ),
    ] = "java",
) -> None:
    """Start one more real client (Java, or Python with --impl python); print its JSON entry."""
    spec = ClientSpec(
        role=role,
        topic=topic,
        client_id=client_id,
        group=group,
        rate=rate,
        protocol=protocol,
        impl=impl,
    )
    p = cluster.client_start(directory, spec)
    typer.echo(json.dumps({k: v for k, v in p.__dict__.items() if k != "argv"}, indent=2))


@client_app.command("signal")
def client_signal(
    name: str,
    sig: Annotated[
        str,
        typer.Argument(
            metavar="SIGNAL",
            help="TERM, KILL, STOP, CONT; or BLOCK/UNBLOCK a consumer's processing.",
        ),
    ],
    directory: DirOpt,
) -> None:
    """Send a signal to client NAME (as named in sandbox.json)."""
    p = cluster.client_signal(directory, name, sig)
    typer.echo(json.dumps({"name": p.name, "pid": p.pid, "signal": sig.upper()}))

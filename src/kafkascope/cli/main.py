"""The ``kafkascope`` command. Every error a user can cause ends with one clear line on
stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from kafkascope import __version__
from kafkascope.cli.alerts import alerts as alerts_command
from kafkascope.cli.clients import app as clients_app
from kafkascope.cli.cluster import brokers as brokers_command
from kafkascope.cli.cluster import topics as topics_command
from kafkascope.cli.config import check_config
from kafkascope.cli.jmx import app as jmx_app
from kafkascope.cli.lag import register as register_lag_commands
from kafkascope.cli.notify import test_notify
from kafkascope.cli.serve import serve
from kafkascope.cli.silence import ack as ack_command
from kafkascope.cli.silence import app as silence_app
from kafkascope.cli.telemetry import app as telemetry_app
from kafkascope.errors import KafkascopeError
from kafkascope.sandbox.cli import app as sandbox_app

app = typer.Typer(
    help="kafkascope: Kafka monitoring that reaches people.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
app.add_typer(sandbox_app, name="sandbox")
app.command("check-config")(check_config)
app.command("serve")(serve)
app.add_typer(jmx_app, name="jmx")
app.add_typer(clients_app, name="clients")
app.command("alerts")(alerts_command)
app.add_typer(silence_app, name="silence")
app.command("ack")(ack_command)
app.command("test-notify")(test_notify)
register_lag_commands(app)
app.command("brokers")(brokers_command)
app.command("topics")(topics_command)
app.add_typer(telemetry_app, name="telemetry")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"kafkascope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """Brokers, controllers, clients and consumer lag, from JMX and the Kafka protocol."""


def main() -> None:
    code: int = 0
    try:
        app()
    except KafkascopeError as e:
        print(f"kafkascope: error: {e}", file=sys.stderr)
        code = 2
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    leave(code)


def leave(code: int) -> None:
    """Exit with ``code``. Once the JMX reader's JVM runs, skip interpreter teardown: its
    threads are still attached, and finalising Python under them aborts the process now
    and then ("FATAL: exception not rethrown") or blocks it; nothing is left to flush."""
    if "jpype" in sys.modules:
        import jpype

        if jpype.isJVMStarted():
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()

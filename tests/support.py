"""Test-only helpers: waiting for a condition with a deadline (never sleeping blindly), and
running the ``kafkascope`` command as a real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def wait_until(
    check: Callable[[], T | None], timeout: float, what: str, interval: float = 0.25
) -> T:
    """Call ``check`` until it returns something truthy; fail naming ``what`` and the last
    value seen when ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            last = check()
        except AssertionError as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise AssertionError(
                f"timed out after {timeout:g} s waiting for {what}; last: {last!r}"
            )
        time.sleep(interval)


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``kafkascope ARGS...`` in a child process, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def wait_jmx(target: str, timeout: float = 60, **credentials: str) -> None:
    """Until a JMX connection to ``target`` succeeds. An open port is not yet a JMX agent:
    the RMI registry listens a moment before the agent binds "jmxrmi" in it."""
    from kafkascope.errors import Unreachable
    from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint

    def connects() -> bool:
        try:
            with JmxConnection(JmxEndpoint.parse(target, **credentials), timeout=5):
                return True
        except Unreachable:
            return False

    wait_until(connects, timeout, f"a JMX agent at {target}")


def parse_cli(argv: list[str]) -> dict[str, Any]:
    """The parameters the real ``kafkascope`` command line gives ``argv``'s command,
    without running it: an unknown option or a missing or extra argument raises click's
    usage error. For commands printed in guides and shipped in unit files."""
    import typer

    from kafkascope.cli.main import app

    cmd: Any = typer.main.get_command(app)  # typer's own click: groups resolve commands
    ctx = cmd.make_context("kafkascope", list(argv))
    while hasattr(cmd, "resolve_command"):
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, sub, rest = cmd.resolve_command(ctx, rest)
        assert name is not None and sub is not None, argv
        ctx = sub.make_context(name, rest, parent=ctx)
        cmd = sub
    return dict(ctx.params)

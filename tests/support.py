"""Test-only helpers: waiting for a condition with a deadline (never sleeping blindly), and
running the ``kafkascope`` command as a real process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import TypeVar

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

"""The guide ``make demo`` ends with: its commands are real. Each parses with the real CLI
(every option and argument accepted, the names those of processes that run); the kill and
the block are run for real, as printed, on consumers this test starts in the session
sandbox. The broker stop is only parsed: the session's brokers are shared."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from kafkascope.cli import demo
from kafkascope.sandbox import procs
from kafkascope.sandbox.state import SandboxState, load
from tests.conftest import ClientFactory
from tests.support import parse_cli as parse
from tests.support import wait_until

pytestmark = pytest.mark.integration


def test_guide_shows_where_to_look_what_runs_and_how_to_stop(sandbox: SandboxState) -> None:
    text = demo.guide(sandbox, "http://127.0.0.1:8321", ".venv/bin/kafkascope")
    assert "{" not in text  # a guide, not a JSON dump
    for wanted in (
        "console    http://127.0.0.1:8321/",
        "API        http://127.0.0.1:8321/api/v1/clusters/sandbox",
        "make demo-down",
        "orders-processor: orders-processor-1, orders-processor-2",
        "payments-producer (10/s)",
        "none (20 seeded records, then idle)",
    ):
        assert wanted in text, wanted
    # The check can fail: an option the command does not have, or a missing argument.
    for wrong in (["sandbox", "broker", "stop", "3", "--force"], ["sandbox", "client", "signal"]):
        with pytest.raises(Exception, match=r"No such option|Missing parameter"):
            parse(wrong)
    faults = demo.faults(sandbox)
    assert [f.argv[:3] for f in faults] == [
        ["sandbox", "client", "signal"],
        ["sandbox", "client", "signal"],
        ["sandbox", "broker", "stop"],
    ]
    running = {p.name for p in sandbox.processes if not p.stopped}
    nodes = {p.node_id for p in sandbox.processes if p.node_id is not None}
    for fault in faults:
        # Printed exactly as parsed, with the executable in front.
        assert f".venv/bin/kafkascope {' '.join(fault.argv)}" in text
        for argv in (fault.argv, fault.undo):
            if argv is None:
                continue
            params = parse(argv)
            assert params["directory"] == Path(sandbox.dir)
            if "name" in params:
                assert params["name"] in running and params["sig"] in {"KILL", "BLOCK", "UNBLOCK"}
            else:
                assert params["node_id"] in nodes


def test_the_kill_and_the_block_do_what_the_guide_says(
    sandbox: SandboxState, start_client: ClientFactory
) -> None:
    tag = uuid.uuid4().hex[:6]
    killed, blocked = f"guide-kill-{tag}", f"guide-block-{tag}"
    start_client("consumer", "orders", group=killed, client_id=f"{killed}-1")
    start_client("consumer", "payments", group=blocked, client_id=f"{blocked}-1")
    faults = demo.faults(load(Path(sandbox.dir)), kill_group=killed, block_group=blocked)
    kill, block = faults[0], faults[1]
    assert kill.argv[3] == f"{killed}-1" and block.argv[3] == f"{blocked}-1"
    assert block.undo is not None

    def run(argv: list[str]) -> None:
        res = subprocess.run(
            [sys.executable, "-m", "kafkascope.cli.main", *argv],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert res.returncode == 0, res.stderr

    def proc(name: str) -> Any:
        return load(Path(sandbox.dir)).find(name)

    victim = proc(f"{killed}-1")
    run(kill.argv)
    assert not procs.is_alive(victim.pid) and proc(victim.name).stopped

    drain = proc(f"{blocked}-1").drain_pid
    assert drain is not None
    run(block.argv)  # the consumer's output reader is stopped: its processing stalls
    wait_until(lambda: _state(drain) == "T", 10, "the blocked consumer's reader stopped")
    assert procs.is_alive(proc(f"{blocked}-1").pid)  # the JVM itself runs on
    run(block.undo)
    wait_until(lambda: _state(drain) in {"S", "R"}, 10, "the reader running again")


def _state(pid: int) -> str:
    """The process state letter from /proc (T: stopped)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0]

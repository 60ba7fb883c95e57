"""``make demo``: a real local Kafka cluster with the demo workload, watched by kafkascope
(the service, started as ``kafkascope serve`` starts it), then a short guide: where to look,
what runs, three faults to try with the exact commands, and how to stop.

Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started. The guide is
built from the sandbox as it runs (:func:`guide`), so its names and commands are real;
``tests/integration/test_demo_guide.py`` runs them."""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import textwrap
import threading
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from kafkascope.cli.serve import start_service
from kafkascope.config import load_config
from kafkascope.errors import KafkascopeError
from kafkascope.sandbox import cluster, procs
from kafkascope.sandbox.state import Proc, SandboxState
from kafkascope.sandbox.workload import DEMO_CLIENTS, DEMO_TOPICS
from kafkascope.service.service import Service

CLUSTER = "sandbox"  # the cluster's name in the kafkascope.toml the sandbox writes


@dataclass(frozen=True)
class Fault:
    """One thing to break: the command (``kafkascope`` arguments), what to watch for,
    and the command that undoes it (None: a killed client stays dead)."""

    title: str
    argv: list[str]
    expect: str
    undo: list[str] | None = None


def _consumers(state: SandboxState, group: str) -> list[Proc]:
    return [
        p
        for p in state.processes
        if p.role == "consumer" and p.group == group and not p.stopped and p.drain_pid
    ]


def _dir_args(directory: Path) -> list[str]:
    """``--dir DIR`` unless DIR is where the sandbox commands look by default."""
    same = directory.resolve() == cluster.default_dir().resolve()
    return [] if same else ["--dir", str(directory)]


def faults(
    state: SandboxState,
    kill_group: str = "orders-processor",
    block_group: str = "payments-auditor",
) -> list[Fault]:
    """Kill a consumer of ``kill_group``, block one of ``block_group``, stop a broker."""
    where = _dir_args(Path(state.dir))
    out: list[Fault] = []
    killable = _consumers(state, kill_group)
    if killable:
        victim = killable[-1].name
        out.append(
            Fault(
                "kill a consumer (kill -9)",
                ["sandbox", "client", "signal", victim, "KILL", *where],
                f"{victim} turns DEAD within a client interval (its JMX port is gone) and "
                f"client_dead fires; {kill_group} is WARN (a member DEAD) until the brokers "
                "drop the member (session.timeout.ms, 45 s)",
            )
        )
    blockable = _consumers(state, block_group)
    if blockable:
        victim = blockable[0].name
        out.append(
            Fault(
                "block a consumer (it stops processing, its JVM still answers JMX)",
                ["sandbox", "client", "signal", victim, "BLOCK", *where],
                f"once records wait for it, {victim} turns HUNG in about 30 s and "
                f"client_hung fires; the lag of {block_group} grows",
                ["sandbox", "client", "signal", victim, "UNBLOCK", *where],
            )
        )
    nodes = sorted(p.node_id for p in state.processes if p.node_id is not None and not p.stopped)
    if nodes:
        node = str(nodes[-1])
        out.append(
            Fault(
                f"stop broker {node}",
                ["sandbox", "broker", "stop", node, *where],
                "it leaves the metadata and its JMX stops answering: broker_down fires "
                "after 30 s, and the partitions it replicated turn under-replicated",
                ["sandbox", "broker", "start", node, *where],
            )
        )
    return out


def workload_rows(state: SandboxState) -> list[tuple[str, str, str, str]]:
    """(topic, partitions, producers, group: members) for each demo topic, from what runs."""
    rate = {c.client_id: c.rate for c in DEMO_CLIENTS}
    rows = []
    for topic in DEMO_TOPICS:
        running = [p for p in state.processes if p.topic == topic.name and not p.stopped]
        producers = [
            f"{p.name} ({rate.get(p.name, 0):g}/s)" for p in running if p.role == "producer"
        ]
        if not producers and topic.seed_records:
            producers = [f"none ({topic.seed_records} seeded records, then idle)"]
        groups: dict[str, list[str]] = {}
        for p in running:
            if p.role == "consumer" and p.group:
                # A confluent-kafka client has no JMX: kafkascope sees it by its pushes.
                impl = " (Python, no JMX: telemetry)" if p.impl == "python" else ""
                groups.setdefault(p.group, []).append(p.name + impl)
        consumers = "; ".join(f"{g}: {', '.join(m)}" for g, m in groups.items())
        rows.append((topic.name, str(topic.partitions), ", ".join(producers), consumers))
    return rows


def program() -> str:
    """How to call ``kafkascope`` from here: the script next to this interpreter (shown
    relative to the working directory when below it, as ``.venv/bin/kafkascope``)."""
    script = Path(sys.executable).parent / "kafkascope"
    if not script.exists():
        return "kafkascope"
    try:
        return str(script.relative_to(Path.cwd()))
    except ValueError:
        return str(script)


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    ]


def guide(state: SandboxState, url: str, exe: str = "kafkascope") -> str:
    """What ``make demo`` prints once everything runs."""
    brokers = sum(1 for p in state.processes if p.node_id is not None)
    api = f"{url}/api/v1/clusters/{CLUSTER}"
    lines = [
        f"kafkascope is watching a {brokers}-broker Kafka {state.kafka_version} sandbox "
        f"(ready in {state.startup_seconds:g} s).",
        f"  bootstrap  {state.bootstrap}",
        f"  console    {url}/",
        f"  API        {api}  (/groups, /clients, /brokers, /topics)",
        f"  alerts     {url}/api/v1/alerts",
        f"  OpenAPI    {url}/docs      Prometheus  {url}/metrics",
        "",
        "The workload: real Java clients, each its own JVM with its own JMX port.",
        *_table(
            [("topic", "partitions", "producer", "consumer group: members"), *workload_rows(state)]
        ),
        "",
        "Three faults to try from another terminal; watch the clients, groups and alerts:",
    ]
    for n, fault in enumerate(faults(state), start=1):
        lines.append(f"  {n}. {fault.title}")
        lines.append(f"     {exe} {' '.join(fault.argv)}")
        lines += textwrap.wrap(
            fault.expect + ".", width=92, initial_indent="     ", subsequent_indent="     "
        )
        if fault.undo:
            lines.append(f"     undo: {exe} {' '.join(fault.undo)}")
    down = "make demo-down" + (f" SANDBOX_DIR={state.dir}" if _dir_args(Path(state.dir)) else "")
    lines += [
        "",
        "Ctrl-C here stops kafkascope and the sandbox. A sandbox left running (this terminal",
        f"closed) is stopped by: {down}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkascope-demo")
    parser.add_argument("--dir", type=Path, default=cluster.default_dir())
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--port", type=int, default=8321, help="preferred HTTP port")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"starting a {args.brokers}-broker Kafka sandbox in {args.dir} ...", flush=True)
        state = cluster.up(args.dir, brokers=args.brokers)
    except KafkascopeError as e:
        print(f"kafkascope: error: {e}", file=sys.stderr)
        return 2
    service: Service | None = None
    try:
        config = load_config(Path(state.dir) / "kafkascope.toml")
        service, url = start_service(config, ("127.0.0.1", _port(args.port)))
        print("\n" + guide(state, url, program()), flush=True)
        stop.wait()
    except KafkascopeError as e:
        print(f"kafkascope: error: {e}", file=sys.stderr)
        return 2
    finally:
        if service is not None:
            print("stopping kafkascope ...", flush=True)
            service.stop()
        print("stopping the sandbox ...", flush=True)
        cluster.down(args.dir)
    return 0


def _port(wanted: int) -> int:
    """``wanted`` when it is free on loopback, otherwise any free port (never assume)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", wanted))
        except OSError:
            return procs.free_port()
    return wanted


if __name__ == "__main__":
    from kafkascope.cli.main import leave

    leave(main())

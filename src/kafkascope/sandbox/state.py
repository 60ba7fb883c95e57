"""``DIR/sandbox.json``: the machine-readable description of a running sandbox that the
CLI, the tests and the service all read. Written atomically, under a lock."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kafkascope.errors import SandboxError

STATE_FILE = "sandbox.json"
ROLES = ("controller", "broker", "broker+controller", "producer", "consumer")


@dataclass
class Proc:
    """One process the sandbox started. ``argv`` is kept so a stopped broker restarts
    exactly as it ran; ``drain_pid`` is a consumer's stdout reader (pausing it blocks the
    consumer's processing while its JVM keeps answering JMX)."""

    name: str
    role: str
    pid: int
    jmx: str
    argv: list[str]
    log: str
    node_id: int | None = None
    listener: str | None = None
    client_id: str | None = None
    group: str | None = None
    topic: str | None = None
    protocol: str | None = None
    drain_pid: int | None = None
    stopped: bool = False
    #: ``java``, or ``python`` for a confluent-kafka client (no JMX: ``jmx`` is empty).
    impl: str = "java"

    @property
    def jmx_port(self) -> int:
        return int(self.jmx.rsplit(":", 1)[1])


@dataclass
class SandboxState:
    dir: str
    marker: str
    cluster_id: str
    bootstrap: str
    kafka_version: str
    lib_dir: str
    started_at: str = ""
    startup_seconds: float = 0.0
    jmx_tls: bool = False  # every JVM's JMX uses TLS and a password (see jmx_tls.py)
    # The KIP-714 plugin jar every node loads ("" without one) and the subscription's
    # push interval (see telemetry.py).
    telemetry_plugin: str = ""
    telemetry_interval_ms: int = 0
    processes: list[Proc] = field(default_factory=list)

    def find(self, name: str) -> Proc:
        for p in self.processes:
            if p.name == name:
                return p
        names = ", ".join(p.name for p in self.processes)
        raise SandboxError(f"no process named '{name}' in this sandbox (known: {names})")

    def broker(self, node_id: int) -> Proc:
        for p in self.processes:
            if p.node_id == node_id and "broker" in p.role:
                return p
        ids = sorted(p.node_id for p in self.processes if p.node_id is not None)
        raise SandboxError(
            f"broker {node_id} does not exist in this sandbox; its node ids are {ids}"
        )

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SandboxState:
        procs = [Proc(**p) for p in data.get("processes", [])]
        rest = {k: v for k, v in data.items() if k != "processes"}
        return cls(processes=procs, **rest)


def state_path(directory: Path) -> Path:
    return directory / STATE_FILE


def load(directory: Path) -> SandboxState:
    path = state_path(directory)
    if not path.exists():
        raise SandboxError(
            f"no sandbox in {directory} ({path} does not exist). "
            "Fix: run 'kafkascope sandbox up' first, or pass the --dir it was started with"
        )
    try:
        return SandboxState.from_json(json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as e:
        raise SandboxError(f"{path} is not a valid sandbox description: {e}") from e


def save(state: SandboxState) -> None:
    path = state_path(Path(state.dir))
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state.to_json(), indent=2) + "\n")
    os.replace(tmp, path)


@contextlib.contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Serialise CLI invocations that change the same sandbox."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)

"""The service's lifecycle on the real sandbox: a part that fails to start unwinds every
part started before it (issue 11, property 4).

The service runs in this process, so what it leaves behind can be seen directly: its
scheduler threads, the admin worker processes it spawned, and TCP connections from this
process to the brokers' JMX ports.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkascope.api.server import HttpServer
from kafkascope.config import load_config
from kafkascope.errors import KafkascopeError
from kafkascope.sandbox import procs
from kafkascope.sandbox.state import SandboxState
from kafkascope.service.service import Service
from tests.e2e.conftest import service_config
from tests.support import wait_until

pytestmark = pytest.mark.integration

WORKER = "kafkascope.sources.kafka.worker"


def worker_children() -> list[int]:
    """Admin worker processes whose parent is this process."""
    me = os.getpid()
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == me and WORKER in cmd:
            out.append(int(entry.name))
    return out


def connections_to(ports: set[int]) -> list[tuple[str, int]]:
    """Established TCP connections of this process to any of ``ports`` on loopback."""
    inodes = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    found = []
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            port = int(remote.rpartition(":")[2], 16)
            if state == "01" and inode in inodes and port in ports:
                found.append((remote, port))
    return found


def job_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("job-") and t.is_alive()]


class FirstPolls:
    """A part that waits until the monitors have polled once, so the parts before it
    have really connected (JMX, admin workers) when the next part fails."""

    name = "first-polls"

    def __init__(self, service: Service) -> None:
        self.service = service

    def start(self) -> None:
        def polled() -> bool:
            cl = self.service.live.clusters["sandbox"]
            return cl.brokers is not None and cl.clients is not None and cl.lag is not None

        wait_until(polled, 90, "the first broker, lag and client polls")

    def stop(self) -> None:
        pass


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


def test_a_busy_http_port_unwinds_every_part(
    sandbox: SandboxState, tmp_path: Path, busy_port: int
) -> None:
    config_file = tmp_path / "kafkascope.toml"
    config_file.write_text(service_config(sandbox, tmp_path / "data", procs.free_port()))
    jmx_ports = {int(p.jmx.rpartition(":")[2]) for p in sandbox.processes if p.jmx}
    workers, threads = set(worker_children()), set(job_threads())  # other tests' leftovers

    service = Service(load_config(config_file))
    # Constructing touches nothing outside: no thread, no process, no store.
    assert set(job_threads()) <= threads and set(worker_children()) <= workers
    assert service.db is None
    service.add(FirstPolls(service))
    service.add(HttpServer(service, ("127.0.0.1", busy_port)))
    with pytest.raises(KafkascopeError, match=f"could not listen on 127.0.0.1:{busy_port}"):
        service.start()

    assert set(job_threads()) <= threads, "scheduler threads left running"
    assert set(worker_children()) <= workers, "admin worker processes left behind"
    assert service.db is None, "the store was left open"
    # A closed JMXConnector's socket may idle in the RMI transport's pool for its
    # connection timeout (15 s by default) before the JVM drops it.
    wait_until(lambda: not connections_to(jmx_ports), 60, "JMX connections to close")

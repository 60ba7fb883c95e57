"""Process plumbing for the sandbox: free loopback ports, detached spawns, and signals
that only ever reach processes this sandbox started (checked by a marker in argv)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
from collections.abc import Sequence
from pathlib import Path

ALLOWED_SIGNALS = {
    "TERM": signal.SIGTERM,
    "KILL": signal.SIGKILL,
    "STOP": signal.SIGSTOP,
    "CONT": signal.SIGCONT,
}


def free_port() -> int:
    """A port the kernel says is free on loopback now (never assume 9092)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def free_ports(n: int) -> list[int]:
    """``n`` distinct free ports, held open together so the kernel cannot repeat one."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def spawn(
    argv: Sequence[str],
    log_path: Path | None,
    stdout_fd: int | None = None,
    stdin_fd: int | None = None,
) -> int:
    """Start a detached process (its own session, so it outlives the CLI that started it and
    a Ctrl-C in the terminal does not reach it); return its pid.

    posix_spawn rather than Popen: nobody waits on these processes through a Popen object,
    and the pid is the only handle the sandbox keeps (in sandbox.json)."""
    actions: list[tuple[int, ...] | tuple[int, int, str, int, int]] = []
    if stdin_fd is None:
        actions.append((os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0))
    else:
        actions.append((os.POSIX_SPAWN_DUP2, stdin_fd, 0))
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        actions.append((os.POSIX_SPAWN_OPEN, 2, str(log_path), flags, 0o644))
    else:
        actions.append((os.POSIX_SPAWN_OPEN, 2, os.devnull, os.O_WRONLY, 0))
    if stdout_fd is not None:
        actions.append((os.POSIX_SPAWN_DUP2, stdout_fd, 1))
    else:
        actions.append((os.POSIX_SPAWN_DUP2, 2, 1))
    return os.posix_spawnp(argv[0], list(argv), dict(os.environ), file_actions=actions, setsid=True)


def is_alive(pid: int) -> bool:
    """True while any thread of ``pid`` is running (not a zombie). The main thread of a
    JVM turns zombie before its other threads have exited, and its sockets stay open until
    the last one has: a port then still accepts, then resets. Dead means all threads gone."""
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except (FileNotFoundError, ProcessLookupError):
        return False
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if state not in ("Z", "X"):
            return True
    return False


def is_stopped(pid: int) -> bool:
    """True when the process is frozen by SIGSTOP (state T)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "T"
    except (FileNotFoundError, IndexError):
        return False


def owns(pid: int, marker: str) -> bool:
    """True when ``pid`` is alive and its command line carries ``marker``: a recycled pid
    that now belongs to someone else is never signalled."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read().decode(errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        return False
    return marker in cmdline and is_alive(pid)


def send(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def reap(pid: int) -> None:
    """Collect a child's exit status if it is ours, so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def stop(pid: int, marker: str, grace: float = 15.0) -> None:
    """TERM, wait up to ``grace`` seconds, then KILL. A frozen process is thawed first so
    it can act on the TERM."""
    if not owns(pid, marker):
        return
    send(pid, signal.SIGCONT)
    send(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap(pid)
        if not is_alive(pid):
            return
        time.sleep(0.1)
    send(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and is_alive(pid):
        reap(pid)
        time.sleep(0.05)


def wait_port(host: str, port: int, deadline: float) -> bool:
    """Poll until something accepts TCP on host:port or the monotonic deadline passes."""
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def port_refuses(host: str, port: int) -> bool:
    """True when a connection to host:port is actively refused (nothing listens)."""
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False

"""The service as a real process (``kafkascope serve``) against the session sandbox."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kafkascope.sandbox import procs
from kafkascope.sandbox.state import SandboxState
from tests.support import wait_until


@dataclass
class ServiceProc:
    """A running ``kafkascope serve`` and how to reach, kill and restart it."""

    config: Path
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        log = open(self.log, "ab")  # noqa: SIM115 - the child writes it; closed below
        try:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "kafkascope.cli.main",
                    "serve",
                    "--config",
                    str(self.config),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        wait_until(self._healthy, 60, f"the service to answer on {self.url}")

    def _healthy(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")
        try:
            return httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def get(self, path: str, **kw: Any) -> Any:
        try:
            r = httpx.get(f"{self.url}{path}", timeout=10, **kw)
        except httpx.TransportError as e:
            code = self.proc.poll() if self.proc else None
            raise RuntimeError(
                f"GET {path} failed ({e}); serve exit code {code}; log:\n"
                f"{self.log.read_text()[-3000:]}"
            ) from e
        r.raise_for_status()
        return r.json()

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(30)
        self.proc = None

    def stop(self) -> None:
        self.kill(signal.SIGTERM)


def service_config(sandbox: SandboxState, data_dir: Path, port: int, extra: str = "") -> str:
    """The sandbox's own kafkascope.toml with a private data dir, the service's own listen
    address (so CLI commands given this file find it) and 2 s intervals."""
    text = (Path(sandbox.dir) / "kafkascope.toml").read_text()
    text = text.replace(
        f'data_dir = "{Path(sandbox.dir) / "data"}"',
        f'data_dir = "{data_dir}"\nlisten = "127.0.0.1:{port}"',
    )
    assert f'data_dir = "{data_dir}"' in text, "the sandbox config changed shape"
    text = text.replace(
        'client_interval = "2s"',
        'client_interval = "2s"\nadmin_interval = "2s"\njmx_interval = "2s"\njmx_timeout = "3s"',
    )
    return text + extra


@pytest.fixture
def make_service(sandbox: SandboxState, tmp_path: Path) -> Iterator[Callable[..., ServiceProc]]:
    started: list[ServiceProc] = []

    def make(extra: str = "", data_dir: Path | None = None) -> ServiceProc:
        d = data_dir or tmp_path / f"data{len(started)}"
        cfg = tmp_path / f"kafkascope{len(started)}.toml"
        port = procs.free_port()
        cfg.write_text(service_config(sandbox, d, port, extra))
        svc = ServiceProc(cfg, port, tmp_path / f"serve{len(started)}.log")
        svc.start()
        started.append(svc)
        return svc

    yield make
    for svc in started:
        svc.stop()
    if os.environ.get("KAFKASCOPE_SHOW_SERVICE_LOG"):
        for svc in started:
            print(svc.log.read_text())

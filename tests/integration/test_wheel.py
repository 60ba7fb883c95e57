"""kafkascope outside its checkout: ``python -m build`` makes an sdist and, from it, a
wheel; the wheel goes into a fresh virtualenv (pip, from PyPI and the machine's pip cache),
and every command below runs from a directory outside the checkout, against the session
sandbox. The sandbox itself is then fetched (real Maven, into a temporary cache) and run
from the installed package, as someone without a checkout would.

About 1.5 minutes: the build and the install are most of it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kafkascope.sandbox import jars, procs
from kafkascope.sandbox.state import SandboxState
from tests.support import wait_until

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Installed:
    wheel: Path
    sdist: Path
    venv: Path
    elsewhere: Path  # the working directory: no checkout above it

    @property
    def kafkascope(self) -> str:
        return str(self.venv / "bin" / "kafkascope")

    def env(self, **extra: str) -> dict[str, str]:
        """The environment without anything that points into the checkout."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKASCOPE_")}
        env.pop("PYTHONPATH", None)
        env.pop("VIRTUAL_ENV", None)
        env["PATH"] = os.pathsep.join(
            [str(self.venv / "bin")]
            + [p for p in env.get("PATH", "").split(os.pathsep) if ".venv" not in p]
        )
        return env | extra

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.kafkascope, *args],
            cwd=self.elsewhere,
            env=env if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def _copy_sources(into: Path) -> Path:
    """What the build reads, copied away from the checkout: a stale ``build/`` or
    ``*.egg-info`` there cannot leak into the wheel, and parallel builds do not collide."""
    into.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(CHECKOUT / name, into / name)
    shutil.copytree(
        CHECKOUT / "src",
        into / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "*.pyc"),
    )
    return into


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Installed]:
    root = tmp_path_factory.mktemp("wheel")
    source = _copy_sources(root / "source")
    dist = root / "dist"
    built = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(dist), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    # The build's own warnings (a deprecated license table, say) are the project's to fix.
    assert "WARNING" not in built.stdout + built.stderr, built.stdout + built.stderr
    (wheel,) = dist.glob("kafkascope-*.whl")
    (sdist,) = dist.glob("kafkascope-*.tar.gz")
    venv = root / "venv"
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, check=False
    )
    assert made.returncode == 0, made.stderr
    pip = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    elsewhere = root / "elsewhere"
    elsewhere.mkdir()
    yield Installed(wheel, sdist, venv, elsewhere)


def test_the_wheel_holds_every_data_file(installed: Installed) -> None:
    """Every file the package reads at run time: the catalog YAMLs, the JMX helper jar, the
    sandbox's log4j2.xml and pom.xml, the console's templates and assets."""
    tracked = subprocess.run(
        ["git", "ls-files", "src/kafkascope"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    data = {p.removeprefix("src/") for p in tracked if not p.endswith(".py")}
    assert {"kafkascope/sandbox/pom.xml", "kafkascope/sandbox/log4j2.xml"} <= data
    assert any(p.startswith("kafkascope/sources/jmx/catalog/") for p in data)
    # The JMX helper jar is built by make setup (git-ignored), not tracked.
    data.add("kafkascope/sources/jmx/java/kafkascope-jmx.jar")
    present = {p for p in data if (CHECKOUT / "src" / p).exists()}  # not deleted meanwhile
    with zipfile.ZipFile(installed.wheel) as z:
        in_wheel = set(z.namelist())
    assert present - in_wheel == set()
    assert "kafkascope/sources/jmx/java/kafkascope-jmx.jar" in in_wheel


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_installed_commands_work_outside_the_checkout(
    installed: Installed, sandbox: SandboxState
) -> None:
    where = subprocess.run(
        [
            str(installed.venv / "bin" / "python"),
            "-c",
            "import kafkascope; print(kafkascope.__file__)",
        ],
        cwd=installed.elsewhere,
        env=installed.env(),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(str(installed.venv)), where  # the wheel's copy, not src/
    helped = installed.run("--help")
    assert helped.returncode == 0 and "sandbox" in helped.stdout, helped.stderr
    if "--version" in helped.stdout:
        version = installed.run("--version")
        assert version.returncode == 0 and "0.1.0" in version.stdout, version.stderr

    # The sandbox's config: broker JMX and the clients' file_sd, so JMX is read through the
    # wheel's helper jar and catalogs.
    config = installed.elsewhere / "kafkascope.toml"
    text = (Path(sandbox.dir) / "kafkascope.toml").read_text()
    data_dir = installed.elsewhere / "data"
    config.write_text(text.replace(f'"{Path(sandbox.dir) / "data"}"', f'"{data_dir}"'))
    checked = installed.run("check-config", str(config))
    assert checked.returncode == 0, checked.stderr

    groups = installed.run("groups", "--bootstrap", sandbox.bootstrap, "--sample", "2", "--json")
    assert groups.returncode == 0, groups.stderr
    assert "orders-processor" in groups.stdout

    clients = installed.run("clients", "--config", str(config), "--sample", "4", "--json")
    assert clients.returncode == 0, clients.stderr
    rows = json.loads(clients.stdout)
    rows = rows if isinstance(rows, list) else rows["clients"]
    alive = {r["client_id"] for r in rows if r["liveness"] == "ALIVE"}
    assert "orders-processor-1" in alive, rows

    port = procs.free_port()
    serve = subprocess.Popen(
        [installed.kafkascope, "serve", "-c", str(config), "--listen", f"127.0.0.1:{port}"],
        cwd=installed.elsewhere,
        env=installed.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    api = f"http://127.0.0.1:{port}/api/v1"
    try:

        def health() -> Any:
            assert serve.poll() is None, "serve exited"
            try:
                return _get(f"{api}/health")
            except OSError:
                return None

        assert wait_until(health, 60, "the installed serve's health")["status"] == "ok"

        def broker_metrics() -> Any:
            brokers = _get(f"{api}/clusters/sandbox/brokers")["brokers"]
            return [b for b in brokers if b["jmx"]["reachable"] and b["metrics"]]

        assert wait_until(broker_metrics, 60, "a broker's JMX metrics from the installed serve")
    finally:
        serve.send_signal(signal.SIGTERM)
        _out, err = serve.communicate(timeout=60)
    assert serve.returncode == 0, err
    assert "Traceback" not in err


def test_sandbox_fetch_and_up_without_a_checkout(installed: Installed, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    state = tmp_path / "state"
    env = installed.env(XDG_STATE_HOME=str(state))
    fetched = installed.run("sandbox", "fetch", "--cache-dir", str(cache), env=env, timeout=300)
    assert fetched.returncode == 0, fetched.stderr
    lib = cache / f"kafka-{jars.KAFKA_VERSION}"
    assert jars.complete(lib) and str(lib) in fetched.stdout
    assert [p.name for p in cache.iterdir()] == [lib.name]  # no half-made folder left
    # Twice is a no-op, and KAFKASCOPE_CACHE is the same place as --cache-dir.
    env["KAFKASCOPE_CACHE"] = str(cache)
    again = installed.run("sandbox", "fetch", env=env)
    assert again.returncode == 0 and "already in" in again.stdout, again.stderr

    # 'up' with no --dir: the sandbox lives under $XDG_STATE_HOME, its jars from the cache.
    up = installed.run("sandbox", "up", "--brokers", "1", "--no-workload", env=env, timeout=300)
    try:
        assert up.returncode == 0, up.stderr
        # Progress on a pipe: plain lines, one per step, no status-line control codes.
        steps = [line for line in up.stderr.splitlines() if line.startswith("sandbox: [")]
        assert any("waiting for every broker to register" in line for line in steps), up.stderr
        assert "\r" not in up.stderr and "\x1b[" not in up.stderr
        described = json.loads((state / "kafkascope" / "sandbox" / "sandbox.json").read_text())
        assert described["lib_dir"] == str(lib)
        status = installed.run("sandbox", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        assert [p["state"] for p in json.loads(status.stdout)["processes"]] == ["running"]
    finally:
        down = installed.run("sandbox", "down", env=env)
    assert down.returncode == 0, down.stderr


def test_missing_java_or_maven_is_one_line(installed: Installed, tmp_path: Path) -> None:
    bare = tmp_path / "bin"
    bare.mkdir()
    env = installed.env(KAFKASCOPE_CACHE=str(tmp_path / "cache"), PATH=str(bare))
    env.pop("JAVA_HOME", None)
    res = installed.run("sandbox", "fetch", env=env)
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "'java' is not on the PATH" in res.stderr and "Fix:" in res.stderr
    # Java found, Maven not: the same for 'fetch' and for an 'up' that needs the jars.
    env["JAVA_HOME"] = str(Path(jars.java_bin()).resolve().parents[1])
    for args in (["sandbox", "fetch"], ["sandbox", "up", "--dir", str(tmp_path / "sb")]):
        res = installed.run(*args, env=env)
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert "'mvn' is not on the PATH" in res.stderr
        assert "Fix: install Maven (apt-get install maven)" in res.stderr

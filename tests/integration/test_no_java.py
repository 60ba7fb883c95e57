"""A monitoring host without Java: only JMX needs one. ``serve``, ``groups`` and ``lag``
work against the real sandbox, and kafkascope says once, on one line, what JMX needs.

"Without Java" is made real for the child process: when this machine allows a private
mount namespace (``unshare -m``, root here), the JVM directories JPype searches are hidden
under an empty tmpfs, so no runtime exists at all; otherwise ``JAVA_HOME`` names an empty
directory, which kafkascope takes as the only place to look. ``PATH`` has no ``java``
either way."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kafkascope.sandbox import procs
from kafkascope.sandbox.state import SandboxState
from tests.support import wait_until

pytestmark = pytest.mark.integration

# Where JPype looks on Linux; each is covered by an empty tmpfs, then the command runs.
HIDE_JVMS = (
    "for d in /usr/lib/jvm /usr/java /opt/sun; do "
    'if [ -d "$d" ]; then "$0" -t tmpfs none "$d" || exit 1; fi; done; exec "$@"'
)


def hidden(argv: list[str]) -> list[str]:
    """``argv`` in a private mount namespace where no JVM directory has anything in it
    (tools by absolute path: the child's PATH is empty)."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    assert unshare and mount
    return [unshare, "-m", "--propagation", "private", "/bin/sh", "-c", HIDE_JVMS, mount, *argv]


def _can_hide() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(hidden(["true"]), capture_output=True, check=False)
    return probe.returncode == 0


def without_java(argv: list[str], tmp_path: Path) -> tuple[list[str], dict[str, str]]:
    """``argv`` run with no Java runtime to be found, and the environment for it."""
    bare = tmp_path / "bin"
    bare.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PATH")}
    env["PATH"] = str(bare)
    if _can_hide():
        return hidden(argv), env
    (tmp_path / "no-java").mkdir(exist_ok=True)
    return argv, env | {"JAVA_HOME": str(tmp_path / "no-java")}


def kafkascope(*args: str) -> list[str]:
    return [sys.executable, "-m", "kafkascope.cli.main", *args]


def get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def test_nothing_finds_java_in_the_child(tmp_path: Path) -> None:
    """The premise: in that environment JPype finds no JVM and there is no java."""
    code = (
        "import jpype, shutil, sys\n"
        "from kafkascope.sources.jmx import jvm\n"
        "p = jvm.runtime_problem()\n"
        "print(p.cause if p else 'found', shutil.which('java'))\n"
    )
    argv, env = without_java([sys.executable, "-c", code], tmp_path)
    res = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("JMX needs a Java runtime, and ") and "None" in res.stdout


def test_serve_without_java_monitors_groups_and_says_what_jmx_needs(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    # The sandbox's own config: broker JMX ports and the clients' file_sd, i.e. JMX wanted.
    config = tmp_path / "kafkascope.toml"
    text = (Path(sandbox.dir) / "kafkascope.toml").read_text()
    text = text.replace(f'data_dir = "{Path(sandbox.dir) / "data"}"', f'data_dir = "{tmp_path}"')
    config.write_text(text)
    port = procs.free_port()
    argv, env = without_java(
        kafkascope("serve", "-c", str(config), "--listen", f"127.0.0.1:{port}"), tmp_path
    )
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}/api/v1"
    try:

        def health() -> Any:
            assert proc.poll() is None, "serve exited"
            try:
                return get(f"{url}/health")
            except OSError:
                return None

        assert wait_until(health, 60, "serve's health")["status"] == "ok"

        def demo_group() -> Any:
            groups = get(f"{url}/clusters/sandbox/groups")
            rows = groups if isinstance(groups, list) else groups.get("groups", [])
            found = [g for g in rows if g["group"] == "orders-processor" and g["members"]]
            return found[0] if found else None

        # Groups, members and lag come over the Kafka protocol: no Java needed.
        group = wait_until(demo_group, 60, "orders-processor with its members")
        assert group["total_lag"] is not None

        def broker_jmx() -> Any:
            brokers = get(f"{url}/clusters/sandbox/brokers")["brokers"]
            errors = [b["jmx"]["error"] for b in brokers if b["jmx"]["error"]]
            return errors if len(errors) == len(brokers) else None

        for error in wait_until(broker_jmx, 60, "every broker's JMX error"):
            assert "JMX needs a Java runtime" in error and "Fix: install a Java runtime" in error
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    said = [line for line in err.splitlines() if "Java runtime" in line]
    # Once, on one line, at start: what JMX needs, what is not read, what still works.
    assert len(said) == 1, err
    assert "broker, controller and client metrics are not read" in said[0]
    assert "cluster state, consumer groups and lag work without it" in said[0]
    assert "Traceback" not in err


def test_groups_lag_and_jmx_commands_without_java(sandbox: SandboxState, tmp_path: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        argv, env = without_java(kafkascope(*args), tmp_path)
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)

    res = run("groups", "--bootstrap", sandbox.bootstrap, "--sample", "2")
    assert res.returncode == 0 and "orders-processor" in res.stdout, res.stderr
    assert "Java" not in res.stderr  # nothing here needs it, so nothing is said
    res = run("lag", "payments-auditor", "--bootstrap", sandbox.bootstrap, "--sample", "2")
    assert res.returncode == 0 and "payments" in res.stdout, res.stderr
    # Clients: members from the group protocol, each JMX target unreadable with the fix,
    # and the one line on stderr, once for all targets.
    config = tmp_path / "kafkascope.toml"
    config.write_text((Path(sandbox.dir) / "kafkascope.toml").read_text())
    res = run("clients", "--config", str(config), "--sample", "2", "--json")
    assert res.returncode == 0, res.stderr
    rows = json.loads(res.stdout)
    rows = rows if isinstance(rows, list) else rows["clients"]
    assert any(r["group"] == "orders-processor" for r in rows), rows
    assert [r for r in rows if r["target"] and "JMX needs a Java runtime" in r["reason"]]
    said = [line for line in res.stderr.splitlines() if "Java runtime" in line]
    assert len(said) == 1 and "are not read" in said[0], res.stderr
    # A command that is nothing but JMX ends with the one line and its fix.
    node = next(p for p in sandbox.processes if p.node_id is not None)
    res = run("jmx", "domains", node.jmx)
    assert res.returncode == 2, res.stdout
    assert res.stderr.count("\n") == 1 and "JMX needs a Java runtime" in res.stderr
    assert "Fix: install a Java runtime 11+" in res.stderr

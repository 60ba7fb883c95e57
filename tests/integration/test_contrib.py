"""What ships for running kafkascope as a service: the systemd unit (checked by systemd's
own ``systemd-analyze verify``, with the config its comment shows read from a credentials
directory) and the container image (``make image``: built where a container engine
answers, else a one-line refusal before anything is built)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import parse_cli

pytestmark = pytest.mark.integration

CHECKOUT = Path(__file__).resolve().parents[2]
UNIT = CHECKOUT / "contrib" / "systemd" / "kafkascope.service"
CONTAINERFILE = CHECKOUT / "Containerfile"
CREDENTIALS = "/run/credentials/kafkascope.service"


def directives(text: str) -> list[tuple[str, str]]:
    """``Key=Value`` lines in order (a key may repeat: LoadCredential)."""
    out = []
    for line in text.splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, value = line.split("=", 1)
            out.append((key.strip(), value.strip()))
    return out


def _analyze(tmp_path: Path) -> str:
    """systemd-analyze, or skip naming why it cannot run here: it must verify a unit that
    is certainly right before its verdict on ours means anything."""
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.fail("systemd-analyze is missing. Fix: make system-deps (apt-get install systemd)")
    probe = tmp_path / "probe.service"
    probe.write_text("[Service]\nExecStart=/bin/true\n")
    res = subprocess.run(
        [tool, "verify", str(probe)], capture_output=True, text=True, timeout=60, check=False
    )
    if res.returncode != 0 or res.stderr:
        pytest.skip(
            "systemd-analyze cannot run in this container (it rejects a one-line unit "
            f"running /bin/true): {res.stderr.strip()}"
        )
    return tool


def test_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = _analyze(tmp_path)
    text = UNIT.read_text()
    (exec_start,) = [v for k, v in directives(text) if k == "ExecStart"]
    program, *args = exec_start.split()
    assert program == "/opt/kafkascope/bin/kafkascope"
    # verify checks that ExecStart's program exists: point it at this machine's kafkascope.
    here = Path(sys.executable).parent / "kafkascope"
    unit = tmp_path / "kafkascope.service"
    unit.write_text(text.replace(f"ExecStart={program} ", f"ExecStart={here} "))
    res = subprocess.run(
        [tool, "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    # Any line is a finding: verify only warns (exit 0) on an unknown key or a bad value.
    assert res.returncode == 0 and res.stderr == "" and res.stdout == "", res.stderr
    # A misspelt directive is caught the same way, so the check above can fail.
    bad = tmp_path / "bad.service"
    bad.write_text(unit.read_text().replace("ProtectSystem=strict", "ProtectSystem=strictest"))
    res = subprocess.run([tool, "verify", str(bad)], capture_output=True, text=True, check=False)
    assert "Failed to parse protect system value, ignoring: strictest" in res.stderr
    # The command line it runs is one the real CLI takes (%S is /var/lib).
    params = parse_cli([a.replace("%S", "/var/lib") for a in args])
    assert params["config"] == Path("/etc/kafkascope/kafkascope.toml")
    assert params["data_dir"] == Path("/var/lib/kafkascope")


def test_systemd_unit_is_hardened() -> None:
    found = directives(UNIT.read_text())
    settings = dict(found)
    for key, value in {
        "DynamicUser": "yes",
        "StateDirectory": "kafkascope",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
        "SystemCallFilter": "@system-service",
    }.items():
        assert settings.get(key) == value, key
    assert "%S/kafkascope" in settings["ExecStart"]  # its data in the StateDirectory
    assert [v for k, v in found if k == "LoadCredential"], "secrets come as credentials"


def test_the_units_config_reads_its_secrets_from_the_credentials_directory(
    tmp_path: Path,
) -> None:
    """The config the unit's comment shows, with the credentials directory systemd would
    make (one file per LoadCredential= id), passes check-config, every secret from a file."""
    text = UNIT.read_text()
    ids = [v.split(":", 1)[0] for k, v in directives(text) if k == "LoadCredential"]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line == "#   [service]")
    snippet = []
    for line in lines[start:]:
        if not line.startswith("#   "):
            break
        snippet.append(line.removeprefix("#   "))
    config_text = "\n".join(snippet) + "\n"
    named = set(re.findall(re.escape(CREDENTIALS) + r"/([\w.-]+)", config_text))
    assert named and named <= set(ids), (named, ids)  # each has its LoadCredential=
    creds = tmp_path / "credentials"
    creds.mkdir(mode=0o700)
    for cred in ids:
        (creds / cred).write_text(f"{cred}-value-0123456789abcdef\n")
    config = tmp_path / "kafkascope.toml"
    config.write_text(config_text.replace(CREDENTIALS, str(creds)))
    res = subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", "check-config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "1 admin" in res.stdout
    assert f"sasl.password=*** (from file:{creds}/kafka-password)" in res.stdout
    assert "-value-" not in res.stdout + res.stderr


def test_containerfile_installs_the_wheel_as_a_non_root_user() -> None:
    text = CONTAINERFILE.read_text()
    steps = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert steps[0].startswith("FROM docker.io/library/python:3.11-slim")
    assert re.search(r"apt-get install .*openjdk-\d+-jre-headless", text)
    # Its kafkascope is the wheel from the build context, never one from an index.
    assert "COPY *.whl /tmp/wheel/" in text
    assert "pip install --no-cache-dir /tmp/wheel/*.whl" in text
    assert not re.search(r"pip install [^/]*kafkascope", text)
    (user,) = [s.split()[1] for s in steps if s.startswith("USER ")]
    assert int(user.split(":")[0]) != 0
    (cmd,) = [s for s in steps if s.startswith("CMD ")]
    args = re.findall(r'"([^"]*)"', cmd)
    params = parse_cli(args)
    assert params["listen"] == "0.0.0.0:8321" and params["data_dir"] == Path("/var/lib/kafkascope")


def _engine() -> str | None:
    """podman or docker, when one answers (a docker client with no daemon does not)."""
    for name in ("podman", "docker"):
        path = shutil.which(name)
        answered = path and subprocess.run([path, "info"], capture_output=True, check=False)
        if answered and answered.returncode == 0:
            return name
    return None


def test_make_image_builds_or_says_why_not() -> None:
    engine = _engine()
    res = subprocess.run(
        ["make", "-s", "image", "IMAGE=kafkascope:test"],
        cwd=CHECKOUT,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    if engine is None:
        # One line naming what is missing and the fix, before anything is built.
        assert res.returncode != 0
        said = [line for line in res.stderr.splitlines() if line.startswith("make image:")]
        assert len(said) == 1 and "no container engine answers here" in said[0], res.stderr
        assert "Fix: install podman or start docker" in said[0]
        assert "Successfully built" not in res.stdout + res.stderr
        return
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    run = subprocess.run(
        [
            engine,
            "run",
            "--rm",
            "--entrypoint",
            "sh",
            "kafkascope:test",
            "-c",
            "id -u && java -version 2>&1 | head -1 && kafkascope --help >/dev/null && echo ok",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    uid, java, ok = run.stdout.split("\n")[:3]
    assert uid != "0" and "openjdk" in java.lower() and ok == "ok"

"""KIP-714 client telemetry in the sandbox: kafkascope's broker plugin on every node, and
the ``CLIENT_METRICS`` subscription that makes clients push (docs/telemetry.md).

The brokers start before any ``kafkascope serve`` whose URL they could be given, so the
plugin reads its endpoint and token from two files in the sandbox directory, and re-reads
them within a second when they change: ``DIR/telemetry/endpoint`` (serve's base URL) and
``DIR/telemetry/token`` (a random token made at ``up``). Pointing the brokers at another
serve is one atomic file write (:func:`set_endpoint`), with no broker restart.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from kafkascope.errors import EnvironmentProblem, SandboxError
from kafkascope.sandbox import jars

REPORTER = "dev.kafkascope.telemetry.KafkascopeTelemetryReporter"
JAR_NAME = "kafkascope-telemetry-plugin.jar"
#: serve's default listen address (config: [service] listen).
DEFAULT_ENDPOINT = "http://127.0.0.1:8321"
SUBSCRIPTION = "kafkascope"
DEFAULT_INTERVAL_MS = 10_000
MBEAN = "dev.kafkascope.telemetry:type=TelemetryForwarder,broker={node}"


@dataclass(frozen=True)
class Files:
    """Where a sandbox keeps its telemetry endpoint and token."""

    root: Path

    @property
    def endpoint(self) -> Path:
        return self.root / "endpoint"

    @property
    def token(self) -> Path:
        return self.root / "token"


def files(directory: Path) -> Files:
    return Files(directory / "telemetry")


def plugin_source() -> Path | None:
    """The plugin's Maven module in the checkout this package runs from, else None."""
    root = jars.checkout()
    module = root / "kafka" / "telemetry-plugin" if root is not None else None
    return module if module is not None and (module / "pom.xml").is_file() else None


def plugin_jar(build: bool = True) -> Path | None:
    """The plugin jar: ``KAFKASCOPE_TELEMETRY_PLUGIN`` when set (it must exist), else the
    checkout's build output (built here with Maven when missing and ``build``), else None
    (an installed kafkascope without a checkout has no plugin to load)."""
    env = os.environ.get("KAFKASCOPE_TELEMETRY_PLUGIN")
    if env:
        path = Path(env).expanduser()
        if not path.is_file():
            raise EnvironmentProblem(
                f"KAFKASCOPE_TELEMETRY_PLUGIN names {path}, which does not exist. Fix: "
                "build it ('make telemetry-plugin') or unset the variable"
            )
        return path
    module = plugin_source()
    if module is None:
        return None
    jar = module / "target" / JAR_NAME
    if not jar.is_file() and build:
        _build(module)
    return jar if jar.is_file() else None


def _build(module: Path) -> None:
    """``mvn package`` without the tests (``make telemetry-plugin`` runs them)."""
    java, mvn = jars.fetch_tools()
    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(Path(java).resolve().parents[1]))
    proc = subprocess.run(
        [
            mvn,
            "-B",
            "-q",
            "-Dstyle.color=never",
            "-DskipTests",
            "-f",
            str(module / "pom.xml"),
            "package",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"Maven could not build the telemetry plugin in {module} (exit "
            f"{proc.returncode}): {jars._maven_error(proc.stdout + proc.stderr)}. "
            "Fix: run 'make telemetry-plugin' and read its output"
        )


def check_endpoint(url: str) -> str:
    """An http(s) base URL with a host, without a trailing slash; else a SandboxError."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SandboxError(
            f"telemetry endpoint '{url}' is not an http(s) URL. Fix: give kafkascope "
            "serve's base URL, e.g. http://127.0.0.1:8321"
        )
    return url.strip().rstrip("/")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    """Atomically (the plugin may read at any moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def prepare(directory: Path, endpoint: str) -> Files:
    """A fresh token (mode 0600) and the endpoint file, before the brokers start."""
    f = files(directory)
    _write(f.token, secrets.token_urlsafe(32), 0o600)
    _write(f.endpoint, check_endpoint(endpoint))
    return f


def set_endpoint(directory: Path, url: str) -> str:
    """Point a sandbox's brokers at another kafkascope; they follow within a second."""
    f = files(directory)
    if not f.token.parent.is_dir():
        raise SandboxError(
            f"the sandbox in {directory} has no telemetry plugin. Fix: 'kafkascope sandbox "
            "up' again from a checkout ('make telemetry-plugin' builds the plugin)"
        )
    url = check_endpoint(url)
    _write(f.endpoint, url)
    return url


def token(directory: Path) -> str | None:
    """The token the sandbox's brokers send, or None without telemetry."""
    try:
        return files(directory).token.read_text().strip() or None
    except FileNotFoundError:
        return None


#: Kafka's own JMX reporter: the default of ``metric.reporters``, which a value replaces.
#: Left out, every Kafka-metrics MBean (raft-metrics, socket-server-metrics, the clients'
#: quota and request metrics) vanishes from the broker's JMX.
JMX_REPORTER = "org.apache.kafka.common.metrics.JmxReporter"


def broker_properties(directory: Path) -> dict[str, str]:
    """The plugin's lines in every node's server.properties."""
    f = files(directory)
    return {
        "metric.reporters": f"{JMX_REPORTER},{REPORTER}",
        "kafkascope.telemetry.endpoint.file": str(f.endpoint),
        "kafkascope.telemetry.token.file": str(f.token),
    }


def subscribe(
    java: str,
    classpath: str,
    bootstrap: str,
    interval_ms: int,
    name: str = SUBSCRIPTION,
) -> None:
    """Create or update the ``CLIENT_METRICS`` subscription ``name`` (every metric, every
    client) with Kafka's own ConfigCommand: confluent-kafka's Admin API has no
    ``CLIENT_METRICS`` resource type."""
    if not 100 <= interval_ms <= 3_600_000:
        raise SandboxError(
            f"--telemetry-interval-ms must be between 100 and 3600000 (got {interval_ms})"
        )
    argv = [
        java,
        "-Xmx128m",
        "-XX:TieredStopAtLevel=1",
        "-XX:+UseSerialGC",
        "-Dlog4j2.level=warn",
        "-cp",
        classpath,
        "kafka.admin.ConfigCommand",
        "--bootstrap-server",
        bootstrap,
        "--alter",
        "--entity-type",
        "client-metrics",
        "--entity-name",
        name,
        "--add-config",
        f"metrics=*,interval.ms={interval_ms}",
    ]
    res = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120)
    if res.returncode != 0:
        out = (res.stderr or res.stdout).strip().splitlines()
        raise SandboxError(
            f"could not create the CLIENT_METRICS subscription '{name}': "
            f"{out[-1] if out else 'exit ' + str(res.returncode)}"
        )

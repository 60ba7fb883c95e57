"""Finds (and if needed resolves) the Apache Kafka jars the sandbox runs.

The jars are never committed nor shipped: ``pom.xml`` (package data, next to this module)
resolves Apache Kafka and the JMX agents from Maven Central, and Maven's ``~/.m2`` cache
makes the next resolution offline-fast. Where they are looked for, in order:

1. ``KAFKASCOPE_KAFKA_LIB``, when set (resolved into when it is incomplete);
2. the checkout's ``kafka/lib`` (``make kafka-jars``), when running from a checkout;
3. the cache, ``$KAFKASCOPE_CACHE/kafka-4.3.1`` (default ``~/.cache/kafkascope``, or
   ``$XDG_CACHE_HOME/kafkascope``), filled by ``kafkascope sandbox fetch``.

A directory holds ``kafka/`` (the broker, tools and their dependencies) and ``agents/``
(jmx_exporter and Jolokia, for the alternate sources).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from kafkascope.errors import EnvironmentProblem

KAFKA_VERSION = "4.3.1"
POM = Path(__file__).with_name("pom.xml")
MAVEN_FIX = "install Maven (apt-get install maven), then run 'kafkascope sandbox fetch'"


def repo_root() -> Path:
    """Where a checkout would be if this package ran from one (src layout: three up)."""
    return Path(__file__).resolve().parents[3]


def checkout() -> Path | None:
    """The git checkout this package runs from, or None when it is installed (a wheel):
    only a checkout has ``src/kafkascope`` under a ``pyproject.toml``."""
    here = Path(__file__).resolve()
    root = here.parents[3]
    if here.parents[2].name == "src" and (root / "pyproject.toml").is_file():
        return root
    return None


def cache_root() -> Path:
    """``KAFKASCOPE_CACHE``, else ``$XDG_CACHE_HOME/kafkascope``, else ``~/.cache/kafkascope``."""
    env = os.environ.get("KAFKASCOPE_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kafkascope"


def cache_lib_dir(cache: Path | None = None) -> Path:
    """The jars' directory in the cache: ``CACHE/kafka-4.3.1``."""
    return (cache or cache_root()) / f"kafka-{KAFKA_VERSION}"


def state_root() -> Path:
    """Where an installed kafkascope keeps the sandbox: ``$XDG_STATE_HOME/kafkascope``,
    else ``~/.local/state/kafkascope`` (a checkout uses its own ``.sandbox``)."""
    xdg = os.environ.get("XDG_STATE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".local" / "state") / "kafkascope"


def default_sandbox_dir() -> Path:
    """``.sandbox`` in the checkout; ``~/.local/state/kafkascope/sandbox`` when installed."""
    root = checkout()
    return root / ".sandbox" if root is not None else state_root() / "sandbox"


def complete(lib: Path) -> bool:
    """Whether ``lib`` holds the Kafka jars and the agents' folder."""
    return (lib / "kafka" / f"kafka_2.13-{KAFKA_VERSION}.jar").is_file() and (
        lib / "agents"
    ).is_dir()


def candidates() -> list[Path]:
    """Where the jars are looked for, in order (see the module docstring)."""
    env = os.environ.get("KAFKASCOPE_KAFKA_LIB")
    if env:
        return [Path(env)]
    root = checkout()
    return ([root / "kafka" / "lib"] if root is not None else []) + [cache_lib_dir()]


def default_lib_dir() -> Path:
    """The first complete candidate; else where they would be resolved into (the first)."""
    found = candidates()
    return next((lib for lib in found if complete(lib)), found[0])


def require_tool(name: str, purpose: str, fix: str) -> str:
    """Return the path of an executable or explain which one is missing and how to get it."""
    path = shutil.which(name)
    if path is None:
        raise EnvironmentProblem(f"'{name}' is not on the PATH; it is needed {purpose}. Fix: {fix}")
    return path


def java_bin(purpose: str = "to run the Kafka sandbox") -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return require_tool(
        "java",
        purpose,
        "install a JDK 17+ (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME",
    )


def fetch_tools() -> tuple[str, str]:
    """Java and Maven, the two things a fetch needs, or the one line naming what is missing."""
    java = java_bin("to run Maven and the Kafka sandbox")
    purpose = f"to resolve Apache Kafka {KAFKA_VERSION} from Maven Central"
    return java, require_tool("mvn", purpose, MAVEN_FIX)


def kafka_classpath(lib_dir: Path) -> str:
    """The classpath for brokers and Kafka's own Java clients."""
    kafka_dir = lib_dir / "kafka"
    marker = kafka_dir / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if not marker.exists():
        raise EnvironmentProblem(
            f"Kafka {KAFKA_VERSION} jars are missing from {kafka_dir}. "
            "Fix: run 'kafkascope sandbox fetch' (in a checkout: 'make kafka-jars')"
        )
    return str(kafka_dir / "*")


def agent_jar(lib_dir: Path, name: str) -> Path:
    """One of the comparison agents (jmx_prometheus_javaagent, jmx_prometheus_httpserver,
    jolokia-agent-jvm-javaagent)."""
    path = lib_dir / "agents" / f"{name}.jar"
    if not path.exists():
        raise EnvironmentProblem(
            f"{path} is missing. Fix: run 'kafkascope sandbox fetch' (in a checkout: "
            "'make kafka-jars')"
        )
    return path


def ensure_jars(lib_dir: Path | None = None) -> Path:
    """The jars' directory: ``lib_dir`` or the first complete candidate; when there is
    none, resolve them with Maven (into ``lib_dir``, else the first candidate)."""
    if lib_dir is not None:
        return lib_dir if complete(lib_dir) else fetch(lib_dir)
    lib = default_lib_dir()
    return lib if complete(lib) else fetch(lib)


def fetch(lib: Path) -> Path:
    """Resolve the jars into ``lib`` with Maven and return it.

    A new directory is filled under a temporary name and renamed when Maven succeeded, so
    an interrupted fetch never leaves a half-filled one that looks complete. Maven runs on
    a copy of the pom in a temporary directory: nothing is written next to the package
    (an installed package may be read-only)."""
    java, mvn = fetch_tools()
    lib = lib.expanduser().absolute()
    lib.parent.mkdir(parents=True, exist_ok=True)
    into = lib if lib.exists() else lib.with_name(f".{lib.name}.partial-{os.getpid()}")
    env = dict(os.environ)
    env.setdefault("JAVA_HOME", str(Path(java).resolve().parents[1]))
    with tempfile.TemporaryDirectory(prefix="kafkascope-mvn-") as work:
        pom = Path(work) / "pom.xml"
        shutil.copyfile(POM, pom)
        proc = subprocess.run(
            [
                mvn,
                "-B",
                "-q",
                "-Dstyle.color=never",
                "-f",
                str(pom),
                f"-Dkafkascope.lib={into}",
                "package",
            ],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
    if proc.returncode != 0 or not complete(into):
        if into != lib:
            shutil.rmtree(into, ignore_errors=True)
        raise EnvironmentProblem(
            f"Maven could not resolve Apache Kafka {KAFKA_VERSION} into {lib} (exit "
            f"{proc.returncode}): {_maven_error(proc.stdout + proc.stderr)}. Fix: let this "
            "machine reach Maven Central (repo.maven.apache.org), or name a mirror in "
            "~/.m2/settings.xml; then run 'kafkascope sandbox fetch'"
        )
    if into != lib:
        try:
            os.replace(into, lib)
        except OSError:
            # Another fetch finished first (the target is a non-empty directory now).
            shutil.rmtree(into, ignore_errors=True)
            if not complete(lib):
                raise
    return lib


def _maven_error(output: str) -> str:
    """The first ``[ERROR]`` line of Maven's output (the one that names the cause), else
    its last line: the rest is a stack of advice that would bury it."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    errors = [ln.removeprefix("[ERROR]").strip() for ln in lines if ln.startswith("[ERROR]")]
    picked = next((e for e in errors if e), lines[-1] if lines else "no output")
    return picked[:400]

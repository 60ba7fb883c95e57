"""Finds (and if needed resolves) the Kafka jars that Maven copies into ``kafka/lib``.

The jars are never committed: ``kafka/pom.xml`` resolves Apache Kafka from Maven Central
and Maven's ``~/.m2`` cache makes the next resolution offline-fast.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from kafkascope.errors import EnvironmentProblem

KAFKA_VERSION = "4.3.1"


def repo_root() -> Path:
    """The checkout this package runs from (src layout: three levels up)."""
    return Path(__file__).resolve().parents[3]


def default_lib_dir() -> Path:
    env = os.environ.get("KAFKASCOPE_KAFKA_LIB")
    return Path(env) if env else repo_root() / "kafka" / "lib"


def require_tool(name: str, purpose: str, fix: str) -> str:
    """Return the path of an executable or explain which one is missing and how to get it."""
    path = shutil.which(name)
    if path is None:
        raise EnvironmentProblem(f"'{name}' is not on the PATH; it is needed {purpose}. Fix: {fix}")
    return path


def java_bin() -> str:
    java_home = os.environ.get("JAVA_HOME")
    if java_home and (Path(java_home) / "bin" / "java").exists():
        return str(Path(java_home) / "bin" / "java")
    return require_tool(
        "java",
        "to run the Kafka sandbox",
        "install a JDK 17+ (apt-get install openjdk-17-jdk-headless) or set JAVA_HOME",
    )


def kafka_classpath(lib_dir: Path) -> str:
    """The classpath for brokers and Kafka's own Java clients."""
    kafka_dir = lib_dir / "kafka"
    marker = kafka_dir / f"kafka_2.13-{KAFKA_VERSION}.jar"
    if not marker.exists():
        raise EnvironmentProblem(
            f"Kafka {KAFKA_VERSION} jars are missing from {kafka_dir}. "
            "Fix: run 'make kafka-jars' (mvn -f kafka/pom.xml package) or "
            "'kafkascope sandbox up', which resolves them"
        )
    return str(kafka_dir / "*")


def agent_jar(lib_dir: Path, name: str) -> Path:
    """One of the comparison agents (jmx_prometheus_javaagent, jmx_prometheus_httpserver,
    jolokia-agent-jvm-javaagent)."""
    path = lib_dir / "agents" / f"{name}.jar"
    if not path.exists():
        raise EnvironmentProblem(f"{path} is missing. Fix: run 'make kafka-jars'")
    return path


def ensure_jars(lib_dir: Path | None = None) -> Path:
    """Resolve the jars with Maven when they are not there yet; return the lib dir."""
    lib = lib_dir or default_lib_dir()
    if (lib / "kafka" / f"kafka_2.13-{KAFKA_VERSION}.jar").exists() and (lib / "agents").is_dir():
        return lib
    pom = repo_root() / "kafka" / "pom.xml"
    if not pom.exists():
        raise EnvironmentProblem(
            f"no jars in {lib} and no {pom} to resolve them with. "
            "Fix: set KAFKASCOPE_KAFKA_LIB to a directory holding kafka/ and agents/ jar folders"
        )
    mvn = require_tool("mvn", "to resolve Apache Kafka from Maven Central", "apt-get install maven")
    proc = subprocess.run(
        [mvn, "-B", "-q", "-f", str(pom), "package"], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise EnvironmentProblem(
            f"Maven could not resolve the Kafka jars (exit {proc.returncode}):\n"
            f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return repo_root() / "kafka" / "lib"

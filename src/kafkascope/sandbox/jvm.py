"""Command lines for every sandbox JVM. Each JVM gets its own JMX port, with the RMI port
equal to it and the RMI hostname pinned to loopback: the field notes' first lesson is that
every process must be reached on its own port."""

from __future__ import annotations

from pathlib import Path

LOG4J2 = Path(__file__).with_name("log4j2.xml")


def jmx_flags(port: int) -> list[str]:
    return [
        f"-Dcom.sun.management.jmxremote.port={port}",
        f"-Dcom.sun.management.jmxremote.rmi.port={port}",
        "-Dcom.sun.management.jmxremote.host=127.0.0.1",
        "-Djava.rmi.server.hostname=127.0.0.1",
        "-Dcom.sun.management.jmxremote.authenticate=false",
        "-Dcom.sun.management.jmxremote.ssl=false",
        "-Dcom.sun.management.jmxremote.local.only=false",
    ]


def java_argv(
    java: str,
    marker: str,
    classpath: str,
    main: str,
    args: list[str],
    *,
    jmx_port: int | None,
    log_file: Path,
    heap: str,
    client: bool,
    extra: list[str] | None = None,
) -> list[str]:
    """A JVM command line. Clients use the small, quick-starting settings (C1 only, serial
    GC) so a whole workload fits two cores; brokers keep Kafka's G1 defaults."""
    gc = (
        ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k"]
        if client
        else ["-XX:+UseG1GC", "-XX:MaxGCPauseMillis=20"]
    )
    argv = [
        java,
        marker,
        f"-Xmx{heap}",
        *gc,
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={LOG4J2}",
        f"-Dkafkascope.logfile={log_file}",
        *(jmx_flags(jmx_port) if jmx_port is not None else []),
        *(extra or []),
        "-cp",
        classpath,
        main,
        *args,
    ]
    return argv

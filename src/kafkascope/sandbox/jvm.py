"""Command lines for every sandbox JVM. Each JVM gets its own JMX port, with the RMI port
equal to it and the RMI hostname pinned to loopback: the field notes' first lesson is that
every process must be reached on its own port."""

from __future__ import annotations

from pathlib import Path

LOG4J2 = Path(__file__).with_name("log4j2.xml")


def jmx_flags(port: int, secure: list[str] | None = None, rmi_port: int | None = None) -> list[str]:
    """JMX on ``port``: open, or with ``secure``'s flags (TLS and a password, see
    :func:`kafkascope.sandbox.jmx_tls.agent_flags`). The RMI server shares the registry's
    port unless ``rmi_port`` is given; a TLS agent with a plain registry needs its own
    (two socket factories cannot share one port: "Port already in use")."""
    return [
        f"-Dcom.sun.management.jmxremote.port={port}",
        f"-Dcom.sun.management.jmxremote.rmi.port={rmi_port or port}",
        "-Dcom.sun.management.jmxremote.host=127.0.0.1",
        "-Djava.rmi.server.hostname=127.0.0.1",
        *(
            secure
            if secure is not None
            else [
                "-Dcom.sun.management.jmxremote.authenticate=false",
                "-Dcom.sun.management.jmxremote.ssl=false",
            ]
        ),
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
    jmx_secure: list[str] | None = None,
    jmx_rmi_port: int | None = None,
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
        *(jmx_flags(jmx_port, jmx_secure, jmx_rmi_port) if jmx_port is not None else []),
        *(extra or []),
        "-cp",
        classpath,
        main,
        *args,
    ]
    return argv

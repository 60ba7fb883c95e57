"""The one in-process JVM (JPype) that reads JMX. Started lazily, once, with small settings.

Facts this relies on: a JPype JVM cannot be restarted and is unusable in a forked child, so
it is started on first use (after any fork a server does) and the pid is remembered; RMI's
read timeout defaults to infinite, so it is set here, before the JVM loads RMI.
"""

from __future__ import annotations

import os
import threading

import jpype
import jpype.config

from kafkascope.errors import EnvironmentProblem

_lock = threading.Lock()
_started_pid: int | None = None
_response_timeout_ms = 5000


def configure(response_timeout_s: float) -> None:
    """Set the RMI read timeout used when the JVM starts (no effect once it runs)."""
    global _response_timeout_ms
    _response_timeout_ms = max(100, int(response_timeout_s * 1000))


def ensure_started() -> None:
    """Start the JVM if this process has not; refuse to use one inherited through fork."""
    global _started_pid
    with _lock:
        if jpype.isJVMStarted():
            if _started_pid is not None and _started_pid != os.getpid():
                raise EnvironmentProblem(
                    "the JMX reader's JVM was started before this process forked; a JVM does "
                    "not survive fork. Fix: start JMX collection only in the final process"
                )
            return
        try:
            jvm_path = jpype.getDefaultJVMPath()
        except jpype.JVMNotFoundException as e:
            raise EnvironmentProblem(
                "no Java runtime found for reading JMX. Fix: install a JDK 17+ "
                "(apt-get install openjdk-17-jdk-headless) or set JAVA_HOME"
            ) from e
        jpype.startJVM(
            jvm_path,
            "-Xmx128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Xss512k",
            # Reduce signal usage: without it the JVM owns SIGINT/SIGTERM and halts the
            # process, so `serve` could never shut down in order (flush the store, stop
            # clients). Python's handlers stay in charge.
            "-Xrs",
            f"-Dsun.rmi.transport.tcp.responseTimeout={_response_timeout_ms}",
            f"-Dsun.rmi.transport.connectionTimeout={_response_timeout_ms}",
            "-Dsun.rmi.transport.tcp.handshakeTimeout=" + str(_response_timeout_ms),
            # RMI's distributed GC would otherwise ping every target each hour and keep
            # threads for dead targets alive.
            "-Dsun.rmi.dgc.client.gcInterval=3600000",
            "-Djava.awt.headless=true",
            convertStrings=True,
            interrupt=False,
        )
        # Destroying the JVM at exit waits for every non-daemon Java thread, and RMI's
        # connection threads to a live target are such threads: the process would hang
        # at exit. Nothing in the JVM needs an orderly shutdown, so skip it.
        jpype.config.destroy_jvm = False
        _started_pid = os.getpid()

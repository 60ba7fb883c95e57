"""The one in-process JVM (JPype) that reads JMX. Started lazily, once, with small settings.

Facts this relies on: a JPype JVM cannot be restarted and is unusable in a forked child, so
it is started on first use (after any fork a server does) and the pid is remembered. What
must be fixed before the JVM starts is fixed here:

* the helper jar (``java/kafkascope-jmx.jar``, see :mod:`~kafkascope.sources.jmx.javajar`)
  on the class path; right after start it replaces RMI's socket factories, so every socket
  RMI opens has a connect timeout and a read timeout (RMI has neither by default);
* RMI's JVM-wide timeouts (``sun.rmi.transport.tcp.responseTimeout`` and
  ``handshakeTimeout``) as a second bound; each target's own bound is applied by the
  helper on its sockets. (``sun.rmi.transport.connectionTimeout`` is not a connect timeout:
  it is how long an idle pooled connection is kept, and stays at its default.)
* ``jdk.serialFilter``: what a JMX target may make this process deserialize (see
  :data:`SERIAL_FILTER`).

Only JMX needs Java: cluster state, groups and lag come over the Kafka protocol. So a host
without a Java runtime runs kafkascope all the same; the first thing that needs one
(``serve`` at start, or a JMX read) says so on one line (:func:`warn_missing`), and each JMX
target reads as unreadable, naming the fix. ``JAVA_HOME``, when set, is the only place
looked in (JPype alone would silently fall back to ``/usr/lib/jvm``).
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

import jpype
import jpype.config

from kafkascope.errors import EnvironmentProblem
from kafkascope.sources.jmx.javajar import JAR

log = logging.getLogger(__name__)
_lock = threading.Lock()
_started_pid: int | None = None
_response_timeout_ms = 5000
_warned = False

#: What JMX needs, and what works without it (the one line a host without Java gets).
JAVA_FIX = (
    "install a Java runtime 11+ (apt-get install openjdk-17-jre-headless) or set JAVA_HOME to one"
)
WITHOUT_JMX = "cluster state, consumer groups and lag work without it"

# What a JMX target may make this process deserialize: the classes JMX reads need (RMI's
# stubs, ObjectName, the boxed numbers and strings, open types, JMX exceptions and their
# stack traces, the collections those use), then "!*" — anything else, a gadget chain's
# URL, PriorityQueue or proxy handler for instance, is rejected before it is built. The
# limits bound what an allowed answer may cost: reads of a broker with 12,000 MBeans went
# to depth 12, 17,000 references, 2,048 array elements and 0.2 MB per answer.
SERIAL_FILTER = ";".join(
    [
        "maxdepth=40",
        "maxrefs=1000000",
        "maxbytes=33554432",
        "maxarray=1000000",
        "!javax.management.BadAttributeValueExpException",  # a known gadget entry
        "java.lang.*",  # String, Number and the boxed types, Enum, exceptions, stack frames
        "java.math.BigInteger",
        "java.math.BigDecimal",
        "java.util.ArrayList",
        "java.util.Arrays$ArrayList",
        "java.util.LinkedList",
        "java.util.HashMap",
        "java.util.LinkedHashMap",
        "java.util.TreeMap",
        "java.util.HashSet",
        "java.util.LinkedHashSet",
        "java.util.TreeSet",
        "java.util.Collections$*",
        "java.util.ImmutableCollections$*",
        "java.util.CollSer",
        "java.util.Map$Entry",
        "java.util.Date",
        "java.util.concurrent.TimeUnit",
        "javax.management.*",
        "javax.management.openmbean.*",
        "javax.management.remote.*",
        "javax.management.remote.rmi.*",
        "java.rmi.*",
        "java.rmi.dgc.*",
        "java.rmi.server.RemoteObject",
        "java.rmi.server.RemoteStub",
        "java.rmi.server.RemoteObjectInvocationHandler",
        "java.rmi.server.UID",
        "java.rmi.server.ObjID",
        "java.lang.reflect.Proxy",
        "javax.rmi.ssl.SslRMIClientSocketFactory",
        "javax.security.auth.login.*",  # why a login failed, and its superclasses
        "java.security.GeneralSecurityException",
        "java.io.IOException",
        "java.io.InterruptedIOException",
        "java.io.EOFException",
        "!*",
    ]
)


def configure(response_timeout_s: float) -> None:
    """Set the JVM-wide RMI read bound used when the JVM starts (no effect once it runs)."""
    global _response_timeout_ms
    _response_timeout_ms = max(100, int(response_timeout_s * 1000))


class MissingRuntime(EnvironmentProblem):
    """No Java runtime for JMX; ``cause`` is the message without its fix."""

    def __init__(self, cause: str) -> None:
        super().__init__(f"{cause}. Fix: {JAVA_FIX}")
        self.cause = cause


def find_runtime() -> str:
    """The JVM library JPype would start: under ``JAVA_HOME`` when it is set (and only
    there), else wherever JPype finds one. Raises :class:`MissingRuntime` when none."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home:
        found = sorted(Path(java_home).glob("lib/server/libjvm.*"))
        if found:
            return str(found[0])
        cause = f"JMX needs a Java runtime, and JAVA_HOME={java_home} holds none"
    else:
        try:
            return str(jpype.getDefaultJVMPath())
        except (jpype.JVMNotFoundException, jpype.JVMNotSupportedException):
            cause = "JMX needs a Java runtime, and none was found on this host"
    raise MissingRuntime(cause)


def runtime_problem() -> MissingRuntime | None:
    """Why JMX cannot be read on this host (no Java runtime), or None when it can."""
    if jpype.isJVMStarted():
        return None
    try:
        find_runtime()
    except MissingRuntime as e:
        return e
    return None


def warn_missing(problem: MissingRuntime) -> None:
    """Say once per process, on one line, what JMX needs and what works without it."""
    global _warned
    if _warned:
        return
    _warned = True
    log.warning(
        "%s: broker, controller and client metrics are not read (%s). Fix: %s",
        problem.cause,
        WITHOUT_JMX,
        JAVA_FIX,
    )


def helper() -> Any:
    """The helper class ``kafkascope.jmx.KafkascopeJmx`` (the JVM must be running)."""
    return jpype.JClass("kafkascope.jmx.KafkascopeJmx")


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
        if not JAR.is_file():
            raise EnvironmentProblem(
                f"the JMX helper jar {JAR} is missing. Fix: reinstall kafkascope, or in a "
                "checkout run: .venv/bin/python -m kafkascope.sources.jmx.javajar"
            )
        jvm_path = find_runtime()
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
            f"-Djdk.serialFilter={SERIAL_FILTER}",
            f"-Dsun.rmi.transport.tcp.responseTimeout={_response_timeout_ms}",
            f"-Dsun.rmi.transport.tcp.handshakeTimeout={_response_timeout_ms}",
            # RMI's distributed GC would otherwise ping every target each hour and keep
            # threads for dead targets alive.
            "-Dsun.rmi.dgc.client.gcInterval=3600000",
            "-Djava.awt.headless=true",
            classpath=[str(JAR)],
            convertStrings=True,
            interrupt=False,
        )
        # Destroying the JVM at exit waits for every non-daemon Java thread, and RMI's
        # connection threads to a live target are such threads: the process would hang
        # at exit. Nothing in the JVM needs an orderly shutdown, so skip it.
        jpype.config.destroy_jvm = False
        _started_pid = os.getpid()
        # Before any RMI or TLS use: RMI's sockets get timeouts (these are the fallback for
        # sockets to an address no connection has named, e.g. RMI's own DGC renewals).
        helper().install(_response_timeout_ms, _response_timeout_ms)

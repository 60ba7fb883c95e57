"""JMX over RMI through JPype: one connection per target, every call bounded in time.

RMI has no deadline of its own (its read timeout is set when the JVM starts, see
``jvm.py``); on top of it every call runs on a worker thread and the caller waits at most
``timeout`` seconds, so a frozen target costs its own reader that long and nobody else.
Errors are mapped to ``Unreachable`` (refused / no listener), ``Timeout`` (connected, no
answer) and ``AuthFailed`` (credentials rejected), each naming the target.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.sources.jmx import jvm

T = TypeVar("T")

# Calls wait here; threads stuck on a frozen target are released by RMI's read timeout.
_pool = cf.ThreadPoolExecutor(max_workers=32, thread_name_prefix="jmx")

Value = float | int | str | bool | dict[str, Any] | None


@dataclass(frozen=True)
class JmxEndpoint:
    """Where one JVM's JMX answers, and how to log in."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    registry_ssl: bool = False

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str, **kw: Any) -> JmxEndpoint:
        """``host:port`` → endpoint; the error says what a valid one looks like."""
        host, sep, port = text.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SourceError(text, "not a JMX endpoint; expected HOST:PORT, e.g. 127.0.0.1:9999")
        return cls(host=host.strip("[]"), port=int(port), **kw)

    def __repr__(self) -> str:  # never print the password
        return f"JmxEndpoint({self.target}, user={self.username!r}, ssl={self.ssl})"


@dataclass(frozen=True)
class BeanName:
    """An ObjectName split into its domain and key properties (values unquoted)."""

    canonical: str
    domain: str
    keys: dict[str, str]


def _unquote(v: str) -> str:
    if len(v) >= 2 and v[0] == '"' and v[-1] == '"':
        out, i = [], 1
        while i < len(v) - 1:
            if v[i] == "\\" and i + 1 < len(v) - 1:
                out.append(v[i + 1])
                i += 2
            else:
                out.append(v[i])
                i += 1
        return "".join(out)
    return v


def _causes(exc: BaseException) -> Iterable[str]:
    """Class names and messages along a Java (or Python) exception's cause chain."""
    seen = 0
    cur: Any = exc
    while cur is not None and seen < 12:
        name = type(cur).__name__
        with contextlib.suppress(Exception):  # Python exceptions have no getClass
            name = str(cur.getClass().getName())
        msg = ""
        try:
            msg = str(cur.getMessage())
        except Exception:  # noqa: BLE001
            msg = str(cur)
        yield f"{name}: {msg}"
        try:
            nxt = cur.getCause()
        except Exception:  # noqa: BLE001
            nxt = getattr(cur, "__cause__", None)
        if nxt is cur:
            break
        cur = nxt
        seen += 1


def map_error(target: str, exc: BaseException, timeout: float) -> SourceError:
    """Turn whatever JPype/RMI raised into one of our errors with a fix in the message."""
    chain = list(_causes(exc))
    text = " | ".join(chain)
    if any("SecurityException" in c or "Authentication failed" in c for c in chain):
        return AuthFailed(
            target,
            "JMX authentication failed: check the username and password "
            f"configured for this target ({chain[0]})",
        )
    if any("SocketTimeoutException" in c or "Read timed out" in c for c in chain):
        return Timeout(
            target, f"JMX did not answer within {timeout:g} s (is the JVM frozen or overloaded?)"
        )
    if any("ConnectException" in c or "Connection refused" in c for c in chain):
        return Unreachable(
            target,
            "JMX connection refused: nothing listens on that port "
            "(is the process running, with -Dcom.sun.management.jmxremote.port?)",
        )
    if any("NameNotFoundException" in c and "jmxrmi" in c for c in chain):
        # The RMI registry opens its port before the agent binds "jmxrmi" into it, so a JVM
        # that is still starting answers this way; so does a port that is some other RMI
        # registry. Both are "no JMX agent here yet": retry later, or fix the port.
        return Unreachable(
            target,
            "an RMI registry answers on this port but no JMX agent is bound in it: the JVM is "
            "still starting (retry), or the port belongs to another program (check the port)",
        )
    if any("SSL" in c or "ssl" in c for c in chain):
        return Unreachable(target, f"JMX SSL handshake failed; check the ssl settings ({text})")
    if any("UnknownHostException" in c for c in chain):
        return Unreachable(target, "unknown host")
    return SourceError(target, f"JMX error: {text}")


def _to_python(v: Any) -> Value:
    """Java values to plain Python: numbers, strings, booleans, CompositeData as dicts."""
    if v is None or isinstance(v, bool | int | float | str):
        return v
    import jpype

    if isinstance(v, jpype.JBoolean) or str(type(v)) == "<java class 'java.lang.Boolean'>":
        return bool(v)
    cls = str(v.getClass().getName())
    if cls in ("java.lang.Double", "java.lang.Float"):
        return float(v)
    if cls in ("java.lang.Long", "java.lang.Integer", "java.lang.Short", "java.lang.Byte"):
        return int(v)
    if cls == "java.lang.Boolean":
        return bool(v.booleanValue())
    if cls == "java.lang.String":
        return str(v)
    if cls.startswith("javax.management.openmbean.CompositeData"):
        return {str(k): _to_python(v.get(k)) for k in v.getCompositeType().keySet()}
    return str(v)


class JmxConnection:
    """One live JMX connection to one JVM. Not shared between threads concurrently."""

    def __init__(self, endpoint: JmxEndpoint, timeout: float = 5.0) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self._connector: Any = None
        self._mbsc: Any = None
        self._lock = threading.Lock()

    @property
    def target(self) -> str:
        return self.endpoint.target

    @property
    def connected(self) -> bool:
        return self._mbsc is not None

    def _call(self, fn: Callable[[], T]) -> T:
        fut = _pool.submit(fn)
        try:
            return fut.result(timeout=self.timeout)
        except cf.TimeoutError:
            self._drop()
            raise Timeout(
                self.target,
                f"JMX did not answer within {self.timeout:g} s (is the JVM frozen or overloaded?)",
            ) from None
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001 - any Java error becomes a SourceError
            err = map_error(self.target, e, self.timeout)
            # Only a broken link needs a new connection; an MBean that vanished between
            # listing and reading (InstanceNotFoundException) leaves it perfectly usable.
            if isinstance(err, Unreachable | Timeout | AuthFailed) or not self._link_ok(e):
                self._drop()
            raise err from None

    @staticmethod
    def _link_ok(exc: BaseException) -> bool:
        """True for errors about a bean or attribute, which say nothing about the link."""
        chain = " ".join(_causes(exc))
        return any(
            k in chain
            for k in (
                "InstanceNotFoundException",
                "AttributeNotFound",
                "MalformedObjectName",
                "ReflectionException",
            )
        )

    def connect(self) -> None:
        """Open the connection (idempotent)."""
        if self._mbsc is not None:
            return
        jvm.configure(self.timeout)
        jvm.ensure_started()
        ep = self.endpoint

        def do() -> tuple[Any, Any]:
            import jpype

            HashMap = jpype.JClass("java.util.HashMap")
            env = HashMap()
            if ep.username is not None:
                creds = jpype.JArray(jpype.JString)([ep.username, ep.password or ""])
                env.put("jmx.remote.credentials", creds)
            if ep.ssl or ep.registry_ssl:
                factory = jpype.JClass("javax.rmi.ssl.SslRMIClientSocketFactory")()
                env.put("com.sun.jndi.rmi.factory.socket", factory)
            url = jpype.JClass("javax.management.remote.JMXServiceURL")(
                f"service:jmx:rmi:///jndi/rmi://{ep.host}:{ep.port}/jmxrmi"
            )
            connector = jpype.JClass("javax.management.remote.JMXConnectorFactory").connect(
                url, env
            )
            return connector, connector.getMBeanServerConnection()

        with self._lock:
            self._connector, self._mbsc = self._call(do)

    def _drop(self) -> None:
        conn, self._connector, self._mbsc = self._connector, None, None
        if conn is not None:
            _pool.submit(_quiet_close, conn)

    def close(self) -> None:
        self._drop()

    def _mbs(self) -> Any:
        if self._mbsc is None:
            self.connect()
        return self._mbsc

    def domains(self) -> list[str]:
        mbsc = self._mbs()
        return sorted(self._call(lambda: [str(d) for d in mbsc.getDomains()]))

    def query_names(self, pattern: str) -> list[BeanName]:
        """Every MBean name matching ``pattern`` (wildcards allowed, e.g. ``client-id=*``)."""
        mbsc = self._mbs()

        def do() -> list[BeanName]:
            import jpype

            ObjectName = jpype.JClass("javax.management.ObjectName")
            out = []
            for n in mbsc.queryNames(ObjectName(pattern), None):
                props = n.getKeyPropertyList()
                keys = {str(k): _unquote(str(props.get(k))) for k in props.keySet()}
                out.append(BeanName(str(n.getCanonicalName()), str(n.getDomain()), keys))
            return out

        return self._call(do)

    def get_attributes(self, name: str, attributes: list[str]) -> dict[str, Value]:
        """All requested attributes of one MBean in one round trip; missing ones are absent."""
        mbsc = self._mbs()

        def do() -> dict[str, Value]:
            import jpype

            ObjectName = jpype.JClass("javax.management.ObjectName")
            arr = jpype.JArray(jpype.JString)(attributes)
            result = mbsc.getAttributes(ObjectName(name), arr)
            return {str(a.getName()): _to_python(a.getValue()) for a in result.asList()}

        return self._call(do)

    def __enter__(self) -> JmxConnection:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quiet_close(connector: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail
        connector.close()

"""JMX over RMI through JPype: one connection per target, every call bounded in time.

RMI has no deadline of its own. The helper jar (``jvm.py``) gives every socket RMI opens
for a target that target's connect and read timeouts, so the Java side of a call to a dead
host or a frozen JVM ends by itself; on top of that every call runs on a thread of its own
(:mod:`~kafkascope.sources.jmx.threads`) and the caller waits at most ``timeout`` seconds
(plus a little, so Java's more precise error arrives first). A connection has at most one
call in flight: while an abandoned call has not returned, the next one is refused at once
rather than stacked behind it, so a dead host holds one thread, never a pool.

TLS (``ssl``: the agent's RMI connection; ``registry_ssl``: its registry too — usually
not) uses the target's :class:`JmxTls` truststore and keystore, or the JDK's default trust.

Errors are mapped to ``Unreachable`` (refused, no listener, no TCP answer), ``Timeout``
(connected, no answer) and ``AuthFailed`` (credentials rejected, or the agent's certificate
not trusted), each naming the target and the fix.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from kafkascope.errors import AuthFailed, SourceError, Timeout, Unreachable
from kafkascope.sources.jmx import jvm
from kafkascope.sources.jmx.threads import CachedThreads

T = TypeVar("T")

# Every JMX call runs here, on a thread of its own: a call stuck on a dead target never
# makes another target's call wait for a thread.
_threads = CachedThreads("jmx")

# How much longer than ``timeout`` the caller waits, so the Java side's own timeout (which
# says whether the TCP connect or the answer failed) is what the caller sees.
GRACE = 0.5

Value = float | int | str | bool | dict[str, Any] | None


class _Revealed(Protocol):
    def reveal(self) -> str: ...


class TlsSettings(Protocol):
    """Where a configuration keeps a target's TLS files (``[clusters.jmx]`` does)."""

    @property
    def truststore(self) -> Path | None: ...
    @property
    def truststore_password(self) -> _Revealed | None: ...
    @property
    def truststore_type(self) -> str: ...
    @property
    def keystore(self) -> Path | None: ...
    @property
    def keystore_password(self) -> _Revealed | None: ...
    @property
    def keystore_type(self) -> str: ...


@dataclass(frozen=True)
class JmxTls:
    """A target's TLS material: the truststore holding the agent's certificate (or its CA)
    and, for agents that require client certificates, a keystore whose key has the
    keystore's password. Types are ``PKCS12`` or ``JKS``."""

    truststore: str | None = None
    truststore_password: str | None = field(default=None, repr=False)
    truststore_type: str = "PKCS12"
    keystore: str | None = None
    keystore_password: str | None = field(default=None, repr=False)
    keystore_type: str = "PKCS12"

    @classmethod
    def of(cls, s: TlsSettings) -> JmxTls | None:
        """From configured settings; None when neither store is set (the JDK's trust)."""
        if s.truststore is None and s.keystore is None:
            return None
        return cls(
            truststore=str(s.truststore) if s.truststore is not None else None,
            truststore_password=s.truststore_password.reveal() if s.truststore_password else None,
            truststore_type=s.truststore_type,
            keystore=str(s.keystore) if s.keystore is not None else None,
            keystore_password=s.keystore_password.reveal() if s.keystore_password else None,
            keystore_type=s.keystore_type,
        )

    def describe(self) -> str:
        """Which files, for error messages (never the passwords)."""
        parts = [f"truststore {self.truststore}" if self.truststore else "the JDK's trust"]
        if self.keystore:
            parts.append(f"keystore {self.keystore}")
        return ", ".join(parts)


@dataclass(frozen=True)
class JmxEndpoint:
    """Where one JVM's JMX answers, and how to log in."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    ssl: bool = False
    registry_ssl: bool = False
    tls: JmxTls | None = None

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
        return (
            f"JmxEndpoint({self.target}, user={self.username!r}, ssl={self.ssl}, "
            f"registry_ssl={self.registry_ssl})"
        )


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


def _has(chain: list[str], *needles: str) -> bool:
    return any(n in c for c in chain for n in needles)


def map_error(
    target: str, exc: BaseException, timeout: float, endpoint: JmxEndpoint | None = None
) -> SourceError:
    """Turn whatever JPype/RMI raised into one of our errors with a fix in the message."""
    chain = list(_causes(exc))
    text = " | ".join(chain)
    tls = endpoint.tls.describe() if endpoint and endpoint.tls else "the JDK's default trust"
    if _has(chain, "filter status: REJECTED"):
        return SourceError(
            target,
            "the JMX answer was rejected by the deserialization filter (jdk.serialFilter): "
            "it held a class, a nesting depth or an array size that reading JMX never needs "
            f"({chain[0]})",
        )
    if _has(chain, "Expecting a javax.rmi.ssl.SslRMIClientSocketFactory"):
        return SourceError(
            target,
            "ssl = true, but this JMX agent does not use TLS "
            "(com.sun.management.jmxremote.ssl=false): set ssl = false, or enable TLS on it",
        )
    if _has(chain, "truststore ", "keystore ") and _has(chain, "(PKCS12)", "(JKS)", "its key"):
        store = next(c for c in chain if "truststore " in c or "keystore " in c)
        detail = store.split(": ", 1)[1] if ": " in store else store
        hint = (
            "the password is wrong (truststore_password / keystore_password)"
            if _has(chain, "password was incorrect", "UnrecoverableKey", "final block")
            else "the file is missing or unreadable (check the path)"
            if _has(chain, "FileNotFoundException", "NoSuchFile", "Permission denied")
            else "the file is not of that type (truststore_type / keystore_type)"
        )
        return SourceError(target, f"cannot load the JMX TLS {detail}: {hint}")
    if _has(chain, "PKIX", "certification path", "CertificateException", "certificate_unknown"):
        if endpoint is not None and not (endpoint.ssl or endpoint.registry_ssl):
            return AuthFailed(
                target,
                "this JMX agent uses TLS: set ssl = true, with a truststore holding its "
                "certificate (the JDK's default trust does not hold it)",
            )
        return AuthFailed(
            target,
            f"the JMX agent's TLS certificate is not trusted by {tls}: add the agent's "
            "certificate, or the CA that signed it, to the truststore",
        )
    if _has(chain, "SecurityException", "Authentication failed"):
        return AuthFailed(
            target,
            "JMX authentication failed: check the username and password "
            f"configured for this target ({chain[0]})",
        )
    if _has(chain, "Connect timed out", "connect timed out"):
        return Unreachable(
            target,
            f"did not accept a TCP connection within {timeout:g} s: the host is down, or a "
            "firewall drops the packets (check the host and port)",
        )
    if _has(chain, "SocketTimeoutException", "Read timed out"):
        if _has(chain, "JRMP connection establishment"):
            return Timeout(
                target,
                f"accepted the TCP connection but did not answer within {timeout:g} s: the "
                "JVM is frozen or overloaded, or the port is not a JMX port",
            )
        return Timeout(
            target, f"JMX did not answer within {timeout:g} s (is the JVM frozen or overloaded?)"
        )
    if _has(chain, "ConnectException", "Connection refused"):
        return Unreachable(
            target,
            "JMX connection refused: nothing listens on that port "
            "(is the process running, with -Dcom.sun.management.jmxremote.port?)",
        )
    if _has(chain, "NotBoundException", "NameNotFoundException") and "jmxrmi" in text:
        # The RMI registry opens its port before the agent binds "jmxrmi" into it (and for
        # a moment before the registry object itself is exported), so a JVM that is still
        # starting answers this way; so does a port that is some other RMI registry. Both
        # are "no JMX agent here yet": retry later, or fix the port.
        return Unreachable(
            target,
            "an RMI registry answers on this port but no JMX agent is bound in it: the JVM is "
            "still starting (retry), or the port belongs to another program (check the port)",
        )
    if _has(chain, "non-JRMP server"):
        return Unreachable(
            target,
            "the port does not answer as a plain RMI registry: if the agent's registry uses "
            "TLS (com.sun.management.jmxremote.registry.ssl=true) set registry_ssl = true; "
            "otherwise it is not a JMX port",
        )
    if (
        endpoint is not None
        and endpoint.registry_ssl
        and _has(chain, "Unsupported or unrecognized SSL message", "Remote host terminated")
    ):
        return Unreachable(
            target,
            "registry_ssl = true, but the agent's RMI registry does not speak TLS: set "
            "registry_ssl = false (the usual setup: only jmxremote.ssl=true)",
        )
    if _has(chain, "SSL", "ssl", "TLS"):
        return Unreachable(target, f"JMX TLS handshake failed; check the ssl settings ({text})")
    if _has(chain, "UnknownHostException"):
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
    """One live JMX connection to one JVM, with at most ``max_in_flight`` calls in flight
    (a call abandoned at its timeout counts until it returns). Not meant to be shared
    between threads, except by a reader sending ``max_in_flight`` batches at once."""

    def __init__(self, endpoint: JmxEndpoint, timeout: float = 5.0, max_in_flight: int = 1) -> None:
        self.endpoint = endpoint
        self.timeout = timeout
        self.max_in_flight = max(1, max_in_flight)
        self._connector: Any = None
        self._mbsc: Any = None
        self._lock = threading.Lock()
        self._guard = threading.Lock()
        self._in_flight: dict[cf.Future[Any], float] = {}  # → monotonic time sent

    @property
    def target(self) -> str:
        return self.endpoint.target

    @property
    def connected(self) -> bool:
        return self._mbsc is not None

    def _send(self, fn: Callable[[], T]) -> cf.Future[T]:
        """Hand ``fn`` to a thread, unless this target already has its calls in flight."""
        with self._guard:
            now = time.monotonic()
            self._in_flight = {f: t for f, t in self._in_flight.items() if not f.done()}
            if len(self._in_flight) >= self.max_in_flight:
                age = now - min(self._in_flight.values())
                raise Timeout(
                    self.target,
                    f"the JMX call sent {age:.1f} s ago has not returned yet (timeout "
                    f"{self.timeout:g} s); not sending another to the same target",
                )
            fut = _threads.submit(fn)
            self._in_flight[fut] = now
            return fut

    def _call(self, fn: Callable[[], T]) -> T:
        fut = self._send(fn)
        try:
            return fut.result(timeout=self.timeout + GRACE)
        except cf.TimeoutError:
            self._drop()
            raise Timeout(
                self.target,
                f"JMX did not answer within {self.timeout:g} s (is the JVM frozen or overloaded?)",
            ) from None
        except SourceError:
            raise
        except Exception as e:  # noqa: BLE001 - any Java error becomes a SourceError
            err = map_error(self.target, e, self.timeout, self.endpoint)
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
        ms = max(1, int(self.timeout * 1000))

        def do() -> tuple[Any, Any]:
            tls = _tls_factory(ep.tls) if ep.tls is not None else None
            connector = jvm.helper().connect(
                ep.host, ep.port, ep.username, ep.password, ep.ssl, ep.registry_ssl, tls, ms, ms
            )
            return connector, connector.getMBeanServerConnection()

        with self._lock:
            self._connector, self._mbsc = self._call(do)

    def _drop(self) -> None:
        conn, self._connector, self._mbsc = self._connector, None, None
        if conn is None:
            return
        # Closing talks to the target too (bounded by the same socket timeouts); it is sent
        # once the call that was abandoned, if any, has returned, and does not hold back
        # the next connect (a restarted JVM is reconnected at once).
        with self._guard:
            pending = next((f for f in self._in_flight if not f.done()), None)

        def close(_: object = None) -> None:
            _threads.submit(lambda: _quiet_close(conn))

        if pending is None:
            close()
        else:
            pending.add_done_callback(close)

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


_tls_lock = threading.Lock()
_tls_cache: dict[tuple[JmxTls, tuple[float, ...]], Any] = {}


def _tls_factory(tls: JmxTls) -> Any:
    """The Java TLS socket factory for ``tls``, built once per content of its files (a
    renewed truststore is read again). Load errors name the store; see :func:`map_error`."""
    stamps = tuple(
        os.stat(p).st_mtime if os.path.exists(p) else -1.0
        for p in (tls.truststore, tls.keystore)
        if p is not None
    )
    key = (tls, stamps)
    with _tls_lock:
        found = _tls_cache.get(key)
    if found is None:
        found = jvm.helper().tlsFactory(
            tls.truststore,
            tls.truststore_password,
            tls.truststore_type,
            tls.keystore,
            tls.keystore_password,
            tls.keystore_type,
        )
        with _tls_lock:
            for old in [k for k in _tls_cache if k[0] == tls]:
                del _tls_cache[old]
            _tls_cache[key] = found
    return found


def _quiet_close(connector: Any) -> None:
    with contextlib.suppress(Exception):  # closing a broken connection may fail
        connector.close()

"""JMX reads in batches: one worker-thread hand-off for many MBeans, each batch bounded.

What :class:`~kafkascope.sources.jmx.reader.TargetReader` needs from a connection
(:class:`MBeanServer`), and the connection it uses by default
(:class:`BatchingJmxConnection`), which reads a batch of MBeans per hand-off, in one call
of the helper jar (``KafkascopeJmx.readMany``: one JPype crossing per batch, numbers back
in primitive arrays); readers wait for batches on ``BATCH_POOL`` (bench/jmx_scrape has the
figures).
"""

from __future__ import annotations

import array
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar, runtime_checkable

from kafkascope.errors import SourceError
from kafkascope.sources.jmx.connection import (
    BeanName,
    JmxConnection,
    JmxEndpoint,
    Value,
    _to_python,
)
from kafkascope.sources.jmx.object_name import parse_object_name
from kafkascope.sources.jmx.threads import CachedThreads

T = TypeVar("T")


class MBeanServer(Protocol):
    """What a reader needs from a connection (``JmxConnection``, or a test fake)."""

    @property
    def connected(self) -> bool: ...

    def connect(self) -> None: ...

    def domains(self) -> list[str]: ...

    def query_names(self, pattern: str) -> list[BeanName]: ...

    def get_attributes(self, name: str, attributes: list[str]) -> dict[str, Value]: ...

    def close(self) -> None: ...


@runtime_checkable
class BatchMBeanServer(Protocol):
    """A connection that can also read many MBeans in one bounded call (the default
    :class:`BatchingJmxConnection`). Readers use it when it is there; fakes and wrappers
    that only have ``get_attributes`` are read one MBean at a time."""

    def get_attributes_many(
        self, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]: ...


class _Java(NamedTuple):
    """The Java classes a batch needs, looked up once (each lookup costs a JNI call)."""

    object_name: Any
    string_array: Any
    object_name_array: Any
    string_matrix: Any
    object_array: Any
    not_found: Any
    attribute_failed: tuple[Any, Any]


def _java() -> _Java:
    import jpype

    return _Java(
        jpype.JClass("javax.management.ObjectName"),
        jpype.JArray(jpype.JString),
        jpype.JArray(jpype.JClass("javax.management.ObjectName")),
        jpype.JArray(jpype.JString, 2),
        jpype.JArray(jpype.JObject),
        jpype.JClass("javax.management.InstanceNotFoundException"),
        # Everything else getAttribute throws about the MBean or its attribute (not the
        # link, which is an IOException): the attribute is simply not read.
        (
            jpype.JClass("javax.management.JMException"),
            jpype.JClass("javax.management.JMRuntimeException"),
        ),
    )


def _bean_name(canonical: str) -> BeanName:
    """A canonical ObjectName string → BeanName. Unquoted values hold no ``,=:"`` so
    splitting is exact; a name with a quoted value takes the full parser."""
    if '"' in canonical:
        domain, keys = parse_object_name(canonical)
        return BeanName(canonical, domain, keys)
    domain, _, props = canonical.partition(":")
    pairs = (p.partition("=") for p in props.split(","))
    return BeanName(canonical, domain, {k: v for k, _, v in pairs})


class BatchingJmxConnection(JmxConnection):
    """A :class:`JmxConnection` that reads a batch of MBeans in one worker-thread task.

    Why (measured on a 2,000-partition broker, bench/jmx_scrape): every ``get_attributes``
    hands the call to a worker thread and waits, so the caller's bound holds even if RMI
    hangs. That costs two thread wake-ups per MBean on top of the RMI round trip — more
    than the round trip itself on a loaded machine, and such a broker has 12,000 MBeans to
    read. A batch pays the hand-off once and keeps the bound: the whole batch must answer
    within ``timeout`` (so batches stay small). The Java ``ObjectName`` and attribute
    arrays are built once per name and reused. An MBean read for one attribute (most of
    them: Yammer gauges' ``Value``) is read with ``getAttribute``, which skips the
    ``AttributeList`` on both ends of the link and costs about half the CPU; its errors
    are mapped to what ``getAttributes`` does (a failing attribute is left out).
    ``query_names`` takes each name's canonical string in one call instead of walking its
    key table through JNI. Both retry once on a fresh connection when RMI reused a socket
    the target had closed (see :meth:`_once_more`)."""

    def __init__(self, endpoint: JmxEndpoint, timeout: float = 5.0, max_in_flight: int = 1) -> None:
        super().__init__(endpoint, timeout, max_in_flight)
        self._jnames: dict[str, Any] = {}
        self._jattrs: dict[tuple[str, ...], Any] = {}
        self._classes: _Java | None = None

    def _j(self) -> _Java:
        if self._classes is None:
            self._classes = _java()
        return self._classes

    def _once_more(self, call: Callable[[], T]) -> T:
        """RMI reuses a pooled socket without checking it when it was used a moment ago;
        if the target died or restarted meanwhile, the call fails with "Error
        unmarshaling return header" (EOF or reset) and says nothing useful. ``_call`` has
        dropped the connection by then, so one more try connects afresh and either works
        (a restarted JVM) or fails with what is really wrong (connection refused)."""
        try:
            return call()
        except SourceError as e:
            if type(e) is not SourceError or "unmarshaling return header" not in e.detail:
                raise
        return call()

    def query_names(self, pattern: str) -> list[BeanName]:
        def once() -> list[BeanName]:
            mbsc = self._mbs()

            def do() -> list[BeanName]:
                j = self._j()
                helper = _names_helper()
                if helper is not None:
                    count, *names = str(helper.queryNames(mbsc, j.object_name(pattern))).split("\n")
                    if int(count) == len(names):
                        return [_bean_name(n) for n in names]
                return [
                    _bean_name(str(n.getCanonicalName()))
                    for n in mbsc.queryNames(j.object_name(pattern), None)
                ]

            return self._call(do)

        return self._once_more(once)

    def get_attributes_many(
        self, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]:
        """Per (name, attributes): the values read (missing attributes absent), or None
        when the MBean has vanished since it was listed. Any other failure raises."""
        if len(self._jnames) > 200_000:  # names of deleted topics must not pile up forever
            self._jnames.clear()
        return self._once_more(lambda: self._read_many(self._mbs(), reads))

    def _read_many(
        self, mbsc: Any, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]:
        helper = _batch_helper()
        if helper is not None:
            return self._call(lambda: self._read_many_in_java(helper, mbsc, reads))

        def do() -> list[dict[str, Value] | None]:
            j = self._j()
            get_attribute, get_attributes = mbsc.getAttribute, mbsc.getAttributes
            jnames = self._jnames
            out: list[dict[str, Value] | None] = []
            for name, attributes in reads:
                jname = jnames.get(name)
                if jname is None:
                    jname = jnames[name] = j.object_name(name)
                if len(attributes) == 1:
                    attribute = attributes[0]
                    try:
                        value = get_attribute(jname, attribute)
                    except j.not_found:
                        out.append(None)
                    except j.attribute_failed:
                        out.append({})
                    else:
                        out.append({attribute: _to_python(value)})
                    continue
                key = tuple(attributes)
                jattrs = self._jattrs.get(key)
                if jattrs is None:
                    jattrs = self._jattrs[key] = j.string_array(list(key))
                try:
                    result = get_attributes(jname, jattrs)
                except j.not_found:
                    out.append(None)
                    continue
                out.append({str(a.getName()): _to_python(a.getValue()) for a in result})
            return out

        return self._call(do)

    def _read_many_in_java(
        self, helper: Any, mbsc: Any, reads: Sequence[tuple[str, Sequence[str]]]
    ) -> list[dict[str, Value] | None]:
        """The batch read by the helper jar's ``readMany``: one JPype crossing for the
        batch, numbers handed back in primitive arrays (copied in bulk), so only values that
        are not plain numbers (and multi-attribute MBeans) cross one by one."""
        import jpype

        j = self._j()
        n = len(reads)
        names = j.object_name_array(n)
        attributes = j.string_matrix(n)
        jnames, jattrs_cache = self._jnames, self._jattrs
        for i, (name, attrs) in enumerate(reads):
            jname = jnames.get(name)
            if jname is None:
                jname = jnames[name] = j.object_name(name)
            names[i] = jname
            key = tuple(attrs)
            jattrs = jattrs_cache.get(key)
            if jattrs is None:
                jattrs = jattrs_cache[key] = j.string_array(list(key))
            attributes[i] = jattrs
        status = jpype.JArray(jpype.JByte)(n)
        doubles = jpype.JArray(jpype.JDouble)(n)
        longs = jpype.JArray(jpype.JLong)(n)
        objects = j.object_array(n)
        helper.readMany(mbsc, names, attributes, status, doubles, longs, objects)
        codes = memoryview(status).tobytes()
        numbers = array.array("d", memoryview(doubles).tobytes()).tolist()
        wholes = array.array("q", memoryview(longs).tobytes()).tolist()
        out: list[dict[str, Value] | None] = []
        for i, (_, attrs) in enumerate(reads):
            code = codes[i]
            if code == _NUMBER:
                out.append({attrs[0]: numbers[i]})
            elif code == _WHOLE:
                out.append({attrs[0]: wholes[i]})
            elif code == _OTHER:
                out.append({attrs[0]: _to_python(objects[i])})
            elif code == _LIST:
                out.append({str(a.getName()): _to_python(a.getValue()) for a in objects[i]})
            elif code == _VANISHED:
                out.append(None)
            else:
                out.append({})
        return out


# The status codes of the helper's readMany (KafkascopeJmx.NUMBER...).
_NUMBER, _WHOLE, _OTHER, _LIST, _VANISHED = 0, 1, 2, 3, 4
_HELPER: list[Any] = []


def _batch_helper() -> Any:
    """The helper class when its jar has ``readMany`` (it always has once built from this
    source; None keeps the per-MBean loop working with an older jar)."""
    if not _HELPER:
        from kafkascope.sources.jmx.jvm import helper

        cls = helper()
        _HELPER.append(cls if hasattr(cls, "readMany") else None)
    return _HELPER[0]


def _names_helper() -> Any:
    """The helper class when its jar has ``queryNames`` (one string per pattern), else None."""
    cls = _batch_helper()
    return cls if cls is not None and hasattr(cls, "queryNames") else None


# MBeans per batch: one hand-off each, and small enough that a batch answers well within
# the per-call timeout (a healthy broker answers one getAttributes in ~0.1 ms).
BATCH = 32
# Where batches wait for their answers, so the reader can map one batch while the next
# is read (and, with TargetReader.parallel > 1, send several: RMI runs concurrent calls on
# one connection over parallel sockets). Each wait is bounded by the connection's timeout,
# and threads are not shared through a queue, so a slow target's batch never holds back
# another target's.
BATCH_POOL = CachedThreads("jmx-batch")

"""A client's layout: its next KIP-714 push read without decoding it.

A client pushes the same metrics with the same attributes every time; only numbers
change. In OTLP every number of a data point is a fixed-width field (timestamps fixed64,
``as_double`` double, ``as_int`` sfixed64), so two pushes of one structure have the same
length and differ only inside those 8-byte payloads, which take no part in the framing.
A :class:`Layout` remembers where the payloads sit in one push: a later push whose every
other byte is the same is read with two ``struct`` calls (compare the bytes around the
numbers, unpack the numbers), ~4x cheaper than decoding it (bench/telemetry), and gives
exactly what :func:`~kafkascope.sources.telemetry.decode_push` would. Any other push (a new
partition, a new metric) is decoded in full and gets a new layout.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterable, Mapping, Sequence

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from kafkascope.sources.telemetry import (
    CONSUMER_PREFIX,
    DELTA,
    PRODUCER_PREFIX,
    OtlpName,
    PushedValue,
    point_labels,
    push_role,
)

__all__ = ["Layout", "layout_of"]

_I64, _LEN, _VARINT, _I32 = 1, 2, 0, 5
#: NumberDataPoint's fixed64 fields: start_time_unix_nano, time_unix_nano, as_double, as_int.
_POINT_NUMBERS = frozenset((2, 3, 4, 6))
_AS_DOUBLE, _AS_INT = 4, 6


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    shift = result = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def _fields(buf: bytes, start: int, end: int) -> Iterable[tuple[int, int, int, int]]:
    """(field number, wire type, payload start, payload end) of each field in [start, end)."""
    i = start
    while i < end:
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == _VARINT:
            _, j = _varint(buf, i)
        elif wire == _I64:
            j = i + 8
        elif wire == _LEN:
            size, i = _varint(buf, i)
            j = i + size
        elif wire == _I32:
            j = i + 4
        else:  # groups: not in OTLP
            raise ValueError(f"wire type {wire}")
        if j > end:
            raise ValueError("field runs past its message")
        yield number, wire, i, j
        i = j


def _point_numbers(body: bytes) -> list[tuple[list[int], int | None, int]]:
    """Every gauge and sum data point, in order: the offsets of its fixed64 payloads, the
    field number of its value (None if it has none) and that value's offset."""
    points: list[tuple[list[int], int | None, int]] = []
    for f, w, a, b in _fields(body, 0, len(body)):
        if (f, w) != (1, _LEN):
            continue
        for f2, w2, a2, b2 in _fields(body, a, b):  # ResourceMetrics
            if (f2, w2) != (2, _LEN):
                continue
            for f3, w3, a3, b3 in _fields(body, a2, b2):  # ScopeMetrics
                if (f3, w3) != (2, _LEN):
                    continue
                for f4, w4, a4, b4 in _fields(body, a3, b3):  # Metric
                    if f4 not in (5, 7) or w4 != _LEN:  # gauge, sum
                        continue
                    for f5, w5, a5, b5 in _fields(body, a4, b4):
                        if (f5, w5) != (1, _LEN):  # data_points
                            continue
                        offsets: list[int] = []
                        which: int | None = None
                        at = 0
                        for f6, w6, a6, _ in _fields(body, a5, b5):
                            if w6 == _I64 and f6 in _POINT_NUMBERS:
                                offsets.append(a6)
                                if f6 in (_AS_DOUBLE, _AS_INT):
                                    if which is not None:
                                        raise ValueError("a point with two values")
                                    which, at = f6, a6
                        points.append((offsets, which, at))
    return points


class Layout:
    """Where the numbers of one client's pushes sit (see above). ``read`` gives the push's
    values, or None when the push does not have this layout."""

    def __init__(
        self,
        body: bytes,
        offsets: Sequence[int],
        slots: Sequence[tuple[int, OtlpName, tuple[tuple[str, str], ...], bool, bool]],
        role: str | None,
        unmapped: int,
    ) -> None:
        self.size = len(body)
        gaps, numbers = ["<"], ["<"]
        doubles = {at: double for at, _, _, _, double in slots}  # value offset -> double?
        pos = 0
        for at in sorted(offsets):
            gaps.append(f"{at - pos}s8x")
            double = doubles.get(at)
            numbers.append(f"{at - pos}x" + ("8x" if double is None else "d" if double else "q"))
            pos = at + 8
        gaps.append(f"{self.size - pos}s")
        self.gaps = struct.Struct("".join(gaps))
        self.numbers = struct.Struct("".join(numbers))
        self.around = self.gaps.unpack(body)
        order = sorted(range(len(slots)), key=lambda i: slots[i][0])
        self.slots = tuple((slots[i][1], slots[i][2], slots[i][3], slots[i][4]) for i in order)
        self.role = role
        self.unmapped = unmapped

    def numbers_of(self, body: bytes) -> tuple[float | int, ...] | None:
        """The push's numbers, one per slot (doubles may be NaN), or None when the push
        does not have this layout."""
        if len(body) != self.size or self.gaps.unpack(body) != self.around:
            return None
        return self.numbers.unpack_from(body)

    def read(self, body: bytes) -> tuple[PushedValue, ...] | None:
        """What :func:`decode_push` would give as values, or None."""
        numbers = self.numbers_of(body)
        if numbers is None:
            return None
        return tuple(
            PushedValue(spec, labels, float(raw), delta)
            for (spec, labels, delta, double), raw in zip(self.slots, numbers, strict=True)
            if not double or math.isfinite(raw)  # as decode_push: NaN is "no value"
        )


def layout_of(body: bytes, names: Mapping[str, OtlpName]) -> Layout | None:
    """The layout of ``body`` (a push :func:`decode_push` accepted), or None when its
    points cannot be told apart by position (then every push is decoded)."""
    try:
        points = _point_numbers(body)
    except (ValueError, IndexError):
        return None
    request = ExportMetricsServiceRequest()
    request.ParseFromString(body)
    slots: list[tuple[int, OtlpName, tuple[tuple[str, str], ...], bool, bool]] = []
    consumer = producer = unmapped = 0
    n = 0
    offsets: list[int] = []
    for rm in request.resource_metrics:
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                name = metric.name
                consumer += name.startswith(CONSUMER_PREFIX)
                producer += name.startswith(PRODUCER_PREFIX)
                spec = names.get(name)
                unmapped += spec is None
                which = metric.WhichOneof("data")
                if which == "gauge":
                    data, delta = metric.gauge.data_points, False
                elif which == "sum":
                    data, delta = (
                        metric.sum.data_points,
                        (metric.sum.aggregation_temporality == DELTA),
                    )
                else:
                    continue
                for p in data:
                    if n >= len(points):
                        return None
                    point_offsets, field, at = points[n]
                    n += 1
                    offsets += point_offsets
                    number = p.WhichOneof("value")
                    expected = {"as_double": _AS_DOUBLE, "as_int": _AS_INT}.get(number or "")
                    if expected != field:
                        return None  # the wire and the parse disagree: no shortcut
                    if spec is not None and field is not None:
                        labels = point_labels(p.attributes) if p.attributes else ()
                        slots.append((at, spec, labels, delta, field == _AS_DOUBLE))
    if n != len(points):
        return None
    return Layout(body, offsets, slots, push_role(consumer, producer), unmapped)

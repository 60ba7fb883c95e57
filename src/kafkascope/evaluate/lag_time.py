"""Consumer lag in seconds, the way kafka-lag-exporter estimates it, with its known holes fixed.

Offsets say *how many* records a consumer is behind; operators ask *how long*. Every poll we
record ``(end_offset, wall_time)`` per partition in a small bounded table. The time at which
the log end reached the consumer's committed offset is read off that table by linear
interpolation, and ``lag_seconds = now - that_time``: how long ago the consumer's position
was the head of the log. (The unread record at that offset was written after that moment,
at most one poll later, so on a slow topic this errs high by up to one poll interval.)

Differences from kafka-lag-exporter, each because its users hit the problem:

* caught up (``committed >= latest end``) is 0, not only ``committed == latest end``;
* a table that is entirely flat (an idle topic) with the consumer behind it gives the lower
  bound ``now - oldest_time`` instead of dividing by zero (an infinite lag);
* the result is clamped at 0, so producer clock skew or a ``now`` slightly older than the
  newest point never yields a negative age;
* when the caller could read the record at the committed offset, its timestamp gives the
  exact age and is preferred over any estimate (:func:`best_lag_seconds`).

Everything here is pure: no I/O, and ``now`` is always an argument.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "DEFAULT_TABLE_LIMIT",
    "LagPoint",
    "LagTable",
    "add_point",
    "best_lag_seconds",
    "estimate_time",
    "exact_lag_seconds",
    "lag_seconds",
    "lag_seconds_from_points",
]

#: kafka-lag-exporter's default ``lookup-table-size``: 60 polls of history per partition.
DEFAULT_TABLE_LIMIT = 60

#: ``(end_offset, wall_time_seconds)``, one poll of a partition's log-end offset.
LagPoint = tuple[int, float]


def add_point(
    points: tuple[LagPoint, ...], offset: int, wall_time: float, limit: int = DEFAULT_TABLE_LIMIT
) -> tuple[LagPoint, ...]:
    """Return ``points`` with one more poll folded in, kafka-lag-exporter's way.

    * a point not strictly newer than the last is dropped (out of order or a duplicate poll:
      it adds nothing and would make a zero-width segment);
    * a point whose offset is below the last is dropped (the table must stay monotonic for
      interpolation to mean anything);
    * a third point on a flat stretch replaces the second, so an idle topic keeps just the
      first and the latest time it was seen at that offset, instead of filling the table;
    * otherwise append, evicting the oldest point when the table is at ``limit``.
    """
    if limit < 2:
        raise ValueError(f"lag table limit must be at least 2 to interpolate, got {limit}")
    if points:
        last_offset, last_time = points[-1]
        if wall_time <= last_time or offset < last_offset:
            return points
        if offset == last_offset and len(points) > 1 and points[-2][0] == offset:
            return (*points[:-1], (offset, wall_time))
    if len(points) >= limit:
        return (*points[len(points) - limit + 1 :], (offset, wall_time))
    return (*points, (offset, wall_time))


def estimate_time(points: Sequence[LagPoint], offset: int) -> float | None:
    """Wall time at which the log end reached ``offset``, or None with fewer than two points.

    Searches newest segment first (as kafka-lag-exporter does) so that, on a flat stretch,
    the *latest* time the end sat at ``offset`` is used: the record at ``offset`` was
    written after that, so this is the tightest bound the table can give. Below the oldest
    point we extrapolate along the whole table's trend; if the whole table is flat there
    is no trend, and the oldest time is returned as a lower bound on the age. An offset
    beyond the newest point had not been reached yet: the newest time is returned.
    """
    n = len(points)
    if n < 2:
        return None
    if offset > points[-1][0]:
        return points[-1][1]
    right_offset, right_time = points[-1]
    for i in range(n - 2, -1, -1):
        left_offset, left_time = points[i]
        if left_offset <= offset <= right_offset:
            span = right_offset - left_offset
            if span <= 0:
                return right_time
            return right_time - (right_offset - offset) * (right_time - left_time) / span
        right_offset = left_offset
        right_time = left_time
    first_offset, first_time = points[0]
    last_offset, last_time = points[-1]
    span = last_offset - first_offset
    if span <= 0 or offset >= first_offset:
        # No trend to follow (flat or non-monotonic input): the record is at least as old
        # as the oldest observation.
        return first_time
    return last_time - (last_offset - offset) * (last_time - first_time) / span


def lag_seconds_from_points(
    points: Sequence[LagPoint], committed_offset: int, now: float
) -> float | None:
    """Seconds the consumer at ``committed_offset`` is behind, from raw ``(offset, time)`` points.

    0.0 when caught up with the newest point (even from a single point); None when there is
    no point at all, or fewer than two and the consumer is behind.
    """
    if not points:
        return None
    if committed_offset >= points[-1][0]:
        return 0.0
    at = estimate_time(points, committed_offset)
    if at is None:
        return None
    age = now - at
    return age if age > 0.0 else 0.0


class LagTable:
    """A bounded, monotonic table of log-end polls for one partition (mutable holder).

    Keep one per topic-partition and feed it every end-offset poll; it is shared by every
    group consuming that partition. ``to_dict``/``from_dict`` let the store persist it.
    """

    __slots__ = ("_points", "limit")

    def __init__(self, limit: int = DEFAULT_TABLE_LIMIT, points: Sequence[LagPoint] = ()) -> None:
        if limit < 2:
            raise ValueError(f"lag table limit must be at least 2 to interpolate, got {limit}")
        self.limit = limit
        self._points: tuple[LagPoint, ...] = ()
        for offset, wall_time in points:
            self.add(offset, wall_time)

    def add(self, offset: int, wall_time: float) -> bool:
        """Fold in one poll; False when the point was dropped (older, or offset went back)."""
        before = self._points
        self._points = add_point(before, int(offset), float(wall_time), self.limit)
        return self._points is not before

    @property
    def points(self) -> tuple[LagPoint, ...]:
        """The points, oldest first."""
        return self._points

    @property
    def latest_offset(self) -> int | None:
        """The newest end offset seen, or None before the first poll."""
        return self._points[-1][0] if self._points else None

    def clear(self) -> None:
        """Forget the history (the topic was deleted and re-created: offsets restarted)."""
        self._points = ()

    def __len__(self) -> int:
        return len(self._points)

    def __repr__(self) -> str:
        return f"LagTable(limit={self.limit}, points={list(self._points)!r})"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form: ``{"limit": int, "points": [[offset, time], ...]}``."""
        return {"limit": self.limit, "points": [[o, t] for o, t in self._points]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LagTable:
        """Rebuild from :meth:`to_dict` output, re-applying the table's rules to every point."""
        try:
            limit = int(data.get("limit", DEFAULT_TABLE_LIMIT))
            raw = data.get("points", [])
            points = [(int(p[0]), float(p[1])) for p in raw]
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise ValueError(
                f"malformed lag table data ({exc}): expected {{limit, points}}"
            ) from exc
        return cls(limit, points)


def lag_seconds(
    table: LagTable | Sequence[LagPoint], committed_offset: int, now: float
) -> float | None:
    """Estimated seconds behind for ``committed_offset`` at ``now`` (never negative).

    0.0 when caught up (``committed >= latest end``); None with no points, or with a single
    point while behind (no rate to interpolate from).
    """
    points = table.points if isinstance(table, LagTable) else table
    return lag_seconds_from_points(points, committed_offset, now)


def exact_lag_seconds(record_timestamp: float, now: float) -> float:
    """Age of the record at the committed offset: ``now - its timestamp``, clamped at 0.

    This is the consumer's lag exactly (the oldest record it has not processed), when the
    caller could read that record. Producer clocks (CreateTime) can run ahead, so clamp.
    """
    age = now - record_timestamp
    return age if age > 0.0 else 0.0


def best_lag_seconds(
    table: LagTable | Sequence[LagPoint],
    committed_offset: int,
    now: float,
    record_timestamp: float | None = None,
) -> float | None:
    """The best lag-in-seconds available: the exact age if the record was read, else the estimate.

    A record that exists at the committed offset proves the consumer is behind, even when
    our last end-offset poll (older than that record) says it was caught up, so the exact
    age wins over everything.
    """
    if record_timestamp is not None:
        return exact_lag_seconds(record_timestamp, now)
    return lag_seconds(table, committed_offset, now)

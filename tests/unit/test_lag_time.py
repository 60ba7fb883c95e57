"""Lag in seconds: kafka-lag-exporter's lookup table and interpolation, and where we differ.

Each case says why its answer is right. Times are plain seconds; ``now`` is always explicit.
"""

from __future__ import annotations

import itertools
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkascope.evaluate.lag_time import (
    DEFAULT_TABLE_LIMIT,
    LagPoint,
    LagTable,
    add_point,
    best_lag_seconds,
    estimate_time,
    exact_lag_seconds,
    lag_seconds,
    lag_seconds_from_points,
)


def fold(polls: list[LagPoint], limit: int = DEFAULT_TABLE_LIMIT) -> tuple[LagPoint, ...]:
    """The table after feeding it ``polls`` in order."""
    points: tuple[LagPoint, ...] = ()
    for offset, t in polls:
        points = add_point(points, offset, t, limit)
    return points


# --------------------------------------------------------------------------------------
# Building the table
# --------------------------------------------------------------------------------------

ADD_CASES = [
    pytest.param(
        [(100, 10.0)],
        3,
        ((100, 10.0),),
        # The first poll always goes in: there is nothing to compare it with.
        id="first-point-appended",
    ),
    pytest.param(
        [(100, 10.0), (90, 20.0)],
        3,
        ((100, 10.0),),
        # The end offset went back: interpolation needs a monotonic table, so it is dropped.
        id="offset-going-back-dropped",
    ),
    pytest.param(
        [(100, 10.0), (120, 5.0)],
        3,
        ((100, 10.0),),
        # The poll is older than the newest point (out of order): dropped.
        id="time-going-back-dropped",
    ),
    pytest.param(
        [(100, 10.0), (120, 10.0)],
        3,
        ((100, 10.0),),
        # Same wall time as the newest point: a zero-width segment would divide by zero.
        id="same-time-dropped",
    ),
    pytest.param(
        [(100, 10.0), (100, 20.0)],
        3,
        ((100, 10.0), (100, 20.0)),
        # The second point of a flat stretch is kept: it marks when the end was last seen there.
        id="flat-second-point-kept",
    ),
    pytest.param(
        [(100, 10.0), (100, 20.0), (100, 30.0), (100, 40.0)],
        3,
        ((100, 10.0), (100, 40.0)),
        # A flat stretch keeps only its first point and its latest one, however long it lasts.
        id="flat-stretch-compressed",
    ),
    pytest.param(
        [(50, 0.0), (100, 10.0), (100, 20.0), (100, 30.0), (130, 40.0)],
        10,
        ((50, 0.0), (100, 10.0), (100, 30.0), (130, 40.0)),
        # Compression only touches the flat run; movement afterwards appends normally.
        id="flat-then-moving",
    ),
    pytest.param(
        [(10, 1.0), (20, 2.0), (30, 3.0), (40, 4.0)],
        3,
        ((20, 2.0), (30, 3.0), (40, 4.0)),
        # Bounded: at the limit the oldest point is evicted (a sliding window).
        id="limit-evicts-oldest",
    ),
]


@pytest.mark.parametrize(("polls", "limit", "expected"), ADD_CASES)
def test_add_point(polls: list[LagPoint], limit: int, expected: tuple[LagPoint, ...]) -> None:
    assert fold(polls, limit) == expected


def test_limit_below_two_is_refused() -> None:
    # One point can never interpolate; a table that small is a configuration mistake.
    with pytest.raises(ValueError, match="at least 2"):
        add_point((), 1, 1.0, limit=1)
    with pytest.raises(ValueError, match="at least 2"):
        LagTable(limit=1)


def test_lag_table_add_reports_dropped_points() -> None:
    # The caller learns a poll was ignored (e.g. to log a topic re-creation).
    table = LagTable(limit=5)
    assert table.add(100, 10.0) is True
    assert table.add(90, 20.0) is False  # offset went back
    assert table.add(110, 5.0) is False  # time went back
    assert table.add(110, 20.0) is True
    assert table.points == ((100, 10.0), (110, 20.0))
    assert table.latest_offset == 110
    assert len(table) == 2
    table.clear()
    assert len(table) == 0 and table.latest_offset is None


def test_lag_table_round_trips_through_json() -> None:
    # The store persists tables as JSON; what comes back must answer identically.
    table = LagTable(limit=4, points=[(10, 1.0), (10, 2.0), (10, 3.0), (40, 4.0), (70, 5.5)])
    restored = LagTable.from_dict(json.loads(json.dumps(table.to_dict())))
    assert restored.limit == 4
    assert restored.points == table.points == ((10, 1.0), (10, 3.0), (40, 4.0), (70, 5.5))
    assert lag_seconds(restored, 25, 10.0) == lag_seconds(table, 25, 10.0)


@pytest.mark.parametrize(
    "data",
    [
        {"limit": "x", "points": []},
        {"limit": 5, "points": [[1]]},
        {"limit": 5, "points": 7},
    ],
    ids=["bad-limit", "short-point", "points-not-a-list"],
)
def test_lag_table_from_malformed_data_says_so(data: dict[str, object]) -> None:
    # Corrupt persisted state must fail loudly and name the problem, not half-load.
    with pytest.raises(ValueError, match="malformed lag table"):
        LagTable.from_dict(data)


# --------------------------------------------------------------------------------------
# Reading lag in seconds off the table
# --------------------------------------------------------------------------------------

LAG_CASES = [
    pytest.param(
        (),
        100,
        50.0,
        None,
        # Never polled: nothing is known, not even whether the consumer is behind.
        id="no-points-unknown",
    ),
    pytest.param(
        ((100, 10.0),),
        100,
        50.0,
        0.0,
        # One poll is enough to know a consumer level with the end is caught up.
        id="single-point-caught-up",
    ),
    pytest.param(
        ((100, 10.0),),
        90,
        50.0,
        None,
        # Behind, with one point there is no rate: kafka-lag-exporter's "too few points".
        id="single-point-behind-unknown",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        200,
        50.0,
        0.0,
        # Committed == latest end: caught up.
        id="caught-up-equal",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        250,
        50.0,
        0.0,
        # Committed beyond our last poll (the poll is older than the commit): caught up,
        # where kafka-lag-exporter would extrapolate into the future.
        id="caught-up-ahead-of-poll",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        150,
        30.0,
        15.0,
        # Halfway between (100 @ 10 s) and (200 @ 20 s): the end passed 150 at 15 s; 30 - 15.
        id="interpolate-midpoint",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0), (300, 40.0)),
        200,
        50.0,
        30.0,
        # Exactly on a point: the end reached 200 at 20 s, so the lag is 50 - 20.
        id="exact-point",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0), (400, 30.0)),
        300,
        40.0,
        15.0,
        # Uses the neighbours (200 @ 20) and (400 @ 30), not the whole-table trend: 300 at 25 s.
        id="interpolate-uses-neighbours",
    ),
    pytest.param(
        ((100, 0.0), (100, 50.0), (110, 60.0)),
        100,
        70.0,
        20.0,
        # Idle topic then a burst: the end still sat at 100 at 50 s, so the unread record
        # was written after that; the age is at most 70 - 50 = 20, not 70 - 0.
        id="flat-stretch-uses-latest-time",
    ),
    pytest.param(
        ((200, 100.0), (300, 200.0)),
        100,
        250.0,
        250.0,
        # Older than the table: extrapolate the 1 offset/s trend back to 0 s; 250 - 0.
        id="extrapolate-below-table",
    ),
    pytest.param(
        ((500, 0.0), (500, 100.0)),
        400,
        150.0,
        150.0,
        # Whole table flat (idle topic) and the consumer is behind it: no trend to follow,
        # so the lower bound now - oldest time (kafka-lag-exporter divides by zero: inf).
        id="flat-table-lower-bound-not-infinite",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        150,
        12.0,
        0.0,
        # ``now`` earlier than the estimated time (clock skew between pollers): clamp to 0.
        id="clamped-never-negative",
    ),
]


@pytest.mark.parametrize(("points", "committed", "now", "expected"), LAG_CASES)
def test_lag_seconds(
    points: tuple[LagPoint, ...], committed: int, now: float, expected: float | None
) -> None:
    got = lag_seconds(points, committed, now)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)
    # The LagTable front door and the raw-points function answer the same.
    table = LagTable(points=points)
    assert table.points == points
    assert lag_seconds(table, committed, now) == got
    assert lag_seconds_from_points(points, committed, now) == got


def test_estimate_time_beyond_newest_point_is_newest_time() -> None:
    # The end had not reached 999 by the last poll; the best bound is that poll's time.
    assert estimate_time(((100, 10.0), (200, 20.0)), 999) == 20.0
    assert estimate_time(((100, 10.0),), 50) is None


def test_estimate_time_tolerates_non_monotonic_raw_points() -> None:
    # Raw end-offset windows (not built by add_point) can step back after a topic is
    # re-created; the estimate must still be a time from the table, never garbage.
    t = estimate_time(((500, 0.0), (100, 10.0), (300, 20.0)), 50)
    assert t == 0.0


@pytest.mark.parametrize(
    ("record_ts", "now", "expected"),
    [
        pytest.param(100.0, 130.0, 30.0, id="record-30s-old"),
        # A producer clock ahead of ours (CreateTime) must not give a negative age.
        pytest.param(140.0, 130.0, 0.0, id="future-timestamp-clamped"),
        pytest.param(130.0, 130.0, 0.0, id="just-written"),
    ],
)
def test_exact_lag_seconds(record_ts: float, now: float, expected: float) -> None:
    assert exact_lag_seconds(record_ts, now) == expected


BEST_CASES = [
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        150,
        100.0,
        90.0,
        10.0,
        # The record at the committed offset was read: its age is exact and preferred
        # over the interpolated 100 - 15 = 85.
        id="exact-preferred-over-estimate",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        200,
        100.0,
        95.0,
        5.0,
        # Our last poll said "caught up" but a record exists at the committed offset:
        # it arrived after the poll, so the consumer is 5 s behind, not 0.
        id="exact-beats-stale-caught-up",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        150,
        100.0,
        None,
        85.0,
        # No record read: fall back to the interpolation (150 reached at 15 s).
        id="estimate-without-record",
    ),
    pytest.param(
        ((100, 10.0), (200, 20.0)),
        200,
        100.0,
        None,
        0.0,
        # Caught up and no record to say otherwise.
        id="caught-up-without-record",
    ),
]


@pytest.mark.parametrize(("points", "committed", "now", "record_ts", "expected"), BEST_CASES)
def test_best_lag_seconds(
    points: tuple[LagPoint, ...],
    committed: int,
    now: float,
    record_ts: float | None,
    expected: float,
) -> None:
    assert best_lag_seconds(points, committed, now, record_ts) == pytest.approx(expected)


# --------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------

polls = st.lists(
    st.tuples(st.integers(0, 10_000), st.floats(0, 10_000, allow_nan=False)), max_size=40
)


@given(polls, st.integers(2, 12), st.integers(-100, 11_000), st.floats(-1e4, 1e5))
def test_lag_seconds_is_never_negative(
    raw: list[LagPoint], limit: int, committed: int, now: float
) -> None:
    got = lag_seconds(fold(raw, limit), committed, now)
    assert got is None or (got >= 0.0 and not math.isnan(got))


@given(polls, st.integers(2, 12))
def test_table_invariants(raw: list[LagPoint], limit: int) -> None:
    # Bounded; strictly increasing times; non-decreasing offsets; no three equal offsets
    # in a row (flat stretches are compressed).
    points = fold(raw, limit)
    assert len(points) <= limit
    for (o1, t1), (o2, t2) in itertools.pairwise(points):
        assert t2 > t1
        assert o2 >= o1
    for a, b, c in zip(points, points[1:], points[2:], strict=False):
        assert not (a[0] == b[0] == c[0])


@given(polls, st.integers(2, 12), st.integers(0, 11_000), st.integers(0, 11_000))
def test_further_behind_is_never_less_lag(
    raw: list[LagPoint], limit: int, c1: int, c2: int
) -> None:
    # A consumer at a lower offset has an older unread record: its lag is at least as big.
    points = fold(raw, limit)
    lo, hi = min(c1, c2), max(c1, c2)
    now = (points[-1][1] if points else 0.0) + 5.0
    a, b = lag_seconds(points, lo, now), lag_seconds(points, hi, now)
    if a is not None and b is not None:
        assert a >= b - 1e-6


@given(
    st.integers(1, 1000),
    st.lists(st.integers(1, 100), min_size=2, max_size=30),
    st.data(),
)
def test_constant_rate_producer_is_exact(rate: int, gaps: list[int], data: st.DataObject) -> None:
    # If the producer writes exactly ``rate`` records/s, interpolation is exact: the end
    # reached offset c at c / rate seconds, wherever c falls inside the table.
    times: list[float] = [0.0]
    for gap in gaps:
        times.append(times[-1] + gap)
    points = fold([(int(rate * t), t) for t in times], limit=len(times))
    committed = data.draw(st.integers(0, int(rate * times[-1]) - 1))
    now = times[-1] + 7.0
    expected = now - committed / rate
    assert lag_seconds(points, committed, now) == pytest.approx(expected, abs=1e-6)

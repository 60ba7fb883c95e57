"""Burrow's consumer-lag rules, pinned by tables: Burrow's own cases first, then ours.

Every case says why its answer is right. Burrow's cases come from
``core/internal/evaluator/caching_test.go`` (timestamps there are milliseconds; here they
are seconds) and ``core/internal/storage/inmemory_test.go``.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kafkascope.evaluate.lag import (
    DEFAULT_INTERVALS,
    EndOffset,
    GroupVerdict,
    OffsetPoint,
    PartitionVerdict,
    PartitionWindow,
    WindowRecorder,
    append_commit,
    append_end_offset,
    commits_stopped,
    current_lag,
    evaluate_group,
    evaluate_partition,
    explain_partition,
    group_level,
    group_status,
    is_lagging,
    is_rewind,
    is_stalled,
    is_stopped,
    lag_always_above,
    partition_status,
    recently_caught_up,
)
from kafkascope.model import Status

T = 1_700_000_000.0


def pts(*rows: tuple[int, float, int]) -> tuple[OffsetPoint, ...]:
    """Committed points from ``(offset, timestamp_seconds, lag)`` rows, oldest first."""
    return tuple(OffsetPoint(o, float(ts), lag) for o, ts, lag in rows)


def ends(*offsets: int, at: float = T) -> tuple[EndOffset, ...]:
    """An end-offset window; Burrow's rules read only the offsets, so times are 1 s apart."""
    return tuple((o, at + i) for i, o in enumerate(offsets))


def window(
    committed: tuple[OffsetPoint, ...],
    end_offsets: tuple[EndOffset, ...] = (),
    current_end: int | None = None,
    *,
    topic: str = "orders",
    partition: int = 0,
    intervals: int = DEFAULT_INTERVALS,
    owner: str | None = None,
    client_id: str | None = None,
) -> PartitionWindow:
    """A window; ``current_end`` defaults to the newest end poll (what the recorder does)."""
    if current_end is None:
        current_end = end_offsets[-1][0] if end_offsets else committed[-1].offset
    return PartitionWindow(
        topic, partition, committed, end_offsets, current_end, owner, client_id, intervals
    )


# ======================================================================================
# 1. Burrow's rule table, case for case (caching_test.go, TestCachingEvaluator_CheckRules)
# ======================================================================================


@dataclass(frozen=True)
class BurrowCase:
    """One row of Burrow's table; ``true`` names the rule predicates that hold for it."""

    committed: tuple[OffsetPoint, ...]
    end_offsets: tuple[EndOffset, ...]
    current_lag: int
    now: float
    true: frozenset[str]
    status: Status


def burrow(
    committed: tuple[OffsetPoint, ...],
    end_offsets: tuple[EndOffset, ...],
    current_lag: int,
    now: float,
    true: str,
    status: Status,
) -> BurrowCase:
    return BurrowCase(committed, end_offsets, current_lag, now, frozenset(true.split()), status)


RULES = ("always_above", "rewind", "stopped", "stalled", "lagging", "recent_caught_up")

RISING_FROM_ZERO = pts(
    (1000, 100, 0), (2000, 200, 50), (3000, 300, 100), (4000, 400, 150), (5000, 500, 200)
)
RISING_NEVER_ZERO = pts(
    (1000, 100, 50), (2000, 200, 100), (3000, 300, 150), (4000, 400, 200), (5000, 500, 250)
)
STUCK_FROM_ZERO = pts(
    (1000, 100, 0), (1000, 200, 50), (1000, 300, 100), (1000, 400, 150), (1000, 500, 200)
)
STUCK_NEVER_ZERO = pts(
    (1000, 100, 100), (1000, 200, 150), (1000, 300, 200), (1000, 400, 250), (1000, 500, 300)
)
STUCK_CONSTANT_LAG = pts(
    (1000, 100, 100), (1000, 200, 100), (1000, 300, 100), (1000, 400, 100), (1000, 500, 100)
)
REWOUND = pts(
    (1000, 100, 100), (2000, 200, 150), (3000, 300, 200), (2000, 400, 1250), (4000, 500, 300)
)
# Burrow tests 9 and 10: a real consumer, caught up at every commit, one commit a second.
BUSY_CAUGHT_UP = tuple(
    OffsetPoint(792748079 + i, ts, 0)
    for i, ts in enumerate(
        [
            1512224618.356, 1512224619.362, 1512224620.366, 1512224621.367, 1512224622.370,
            1512224623.373, 1512224624.378, 1512224625.379, 1512224626.383, 1512224627.383,
            1512224628.383, 1512224629.388, 1512224630.391, 1512224631.394, 1512224632.397,
        ]
    )
)  # fmt: skip

BURROW_CASES = [
    pytest.param(
        burrow(RISING_FROM_ZERO, ends(5200), 200, 600, "lagging", Status.OK),
        # 0: OK because the lag was zero at one commit in the window, although it then
        # never decreased (the "lagging" rule alone is true).
        id="burrow-00-zero-lag-in-window",
    ),
    pytest.param(
        burrow(RISING_FROM_ZERO, ends(5200), 200, 900, "lagging", Status.OK),
        # 1: not STOP: the 400 s since the last commit equals the window's 400 s span, and
        # the rule needs strictly greater.
        id="burrow-01-silence-equal-to-span-not-stop",
    ),
    pytest.param(
        burrow(RISING_FROM_ZERO, ends(5200), 200, 1000, "stopped lagging", Status.STOP),
        # 2: STOP: 500 s of silence > 400 s span, even with a zero lag early in the window
        # (Burrow #290: STOP is checked before the zero-lag shortcut).
        id="burrow-02-stop-despite-zero-lag-early",
    ),
    pytest.param(
        burrow(RISING_NEVER_ZERO, ends(5250), 250, 1000, "always_above stopped lagging",
               Status.STOP),
        # 3: STOP when the lag was never zero as well.
        id="burrow-03-stop-never-zero",
    ),
    pytest.param(
        burrow(STUCK_FROM_ZERO, ends(1200), 200, 600, "stalled lagging", Status.OK),
        # 4: the offsets are stuck (stall rule true) but the first commit had zero lag, so
        # the window is OK; one more commit pushes that zero out and it becomes STALL.
        id="burrow-04-stuck-but-zero-lag-in-window",
    ),
    pytest.param(
        burrow(STUCK_NEVER_ZERO, ends(1300), 300, 600, "always_above stalled lagging",
               Status.STALL),
        # 5: the same offset committed over and over while the lag grows: STALL.
        id="burrow-05-stall",
    ),
    pytest.param(
        burrow(STUCK_CONSTANT_LAG, ends(1100), 100, 600, "always_above stalled lagging",
               Status.STALL),
        # 6: still STALL when the lag stays constant (stuck is stuck, data or not).
        id="burrow-06-stall-constant-lag",
    ),
    pytest.param(
        burrow(REWOUND, ends(4300), 300, 600, "always_above rewind", Status.REWIND),
        # 7: REWIND: 3000 → 2000 went backwards; that later commits climb past it again and
        # that the lag fell somewhere do not matter (rewind is the worse finding).
        id="burrow-07-rewind-then-climbs-back",
    ),
    pytest.param(
        burrow(RISING_NEVER_ZERO, ends(5250), 0, 1000, "always_above stopped lagging",
               Status.OK),
        # 8: current lag 0 → OK, even though the timestamps alone would say stopped.
        id="burrow-08-current-lag-zero-wins",
    ),
    pytest.param(
        burrow(BUSY_CAUGHT_UP, ends(792749024, 792749000, 792748800, 792748600, 792748500),
               931, 1512224650, "stopped lagging", Status.STOP),
        # 9: commits stopped 17.6 s ago after a 14 s window, and 931 records arrived; no end
        # offset in the window is at or below the last commit → STOP (#290).
        id="burrow-09-stop-caught-up-consumer-with-new-data",
    ),
    pytest.param(
        burrow(BUSY_CAUGHT_UP, ends(792748094, 792748093, 792748093, 792748093),
               1, 1512224650, "stopped lagging recent_caught_up", Status.OK),
        # 10: same silence, but the end window shows the log end at the last commit
        # (792748093) moments ago: the consumer had nothing to commit → not STOP (#303).
        id="burrow-10-recently-caught-up-not-stop",
    ),
    pytest.param(
        burrow(RISING_FROM_ZERO, ends(5700), 200, 600, "lagging", Status.OK),
        # 11: Burrow's case 0 with commits of unknown (nil) lag interleaved, the newest
        # being 5500 @ 550 s. Our points always carry a lag, so those commits are absent;
        # every rule (and the stop arithmetic: 100 s silence vs 400 s span, where Burrow
        # has 50 vs 450) gives case 0's answer: OK.
        id="burrow-11-unknown-lags-dropped",
    ),
]  # fmt: skip


@pytest.mark.parametrize("case", BURROW_CASES)
def test_burrow_rule_table(case: BurrowCase) -> None:
    assert case.true <= set(RULES)  # a typo in a case must not pass silently
    c = case.committed
    got = {
        "always_above": lag_always_above(c),
        "rewind": is_rewind(c),
        "stopped": commits_stopped(c, case.now),  # Burrow's checkIfOffsetsStopped
        "stalled": is_stalled(c),
        "lagging": is_lagging(c),
        "recent_caught_up": recently_caught_up(c, case.end_offsets),
    }
    assert {name for name, value in got.items() if value} == case.true
    assert is_stopped(c, case.end_offsets, case.now) is (
        "stopped" in case.true and "recent_caught_up" not in case.true
    )
    assert partition_status(c, case.end_offsets, case.current_lag, case.now) is case.status
    # The evaluator's one-pass hot path must agree, with current lag taken from the end.
    w = window(c, case.end_offsets, c[-1].offset + case.current_lag)
    assert evaluate_partition(w, case.now).status is case.status


# ======================================================================================
# 2. Beyond Burrow, and the edges Burrow's table does not pin
# ======================================================================================

TEN_RISING = pts(*((1000 + 100 * i, T + 60 * i, 100 + 10 * i) for i in range(10)))
TEN_STUCK = pts(*((1000, T + 60 * i, 100 + 10 * i) for i in range(10)))
TEN_IDLE = pts(*((5000, T + 60 * i, 0) for i in range(10)))
LAST_TS = T + 540

PARTITION_CASES = [
    pytest.param(
        window(TEN_IDLE, ends(5000, at=T + 36000), 5000), T + 36000, 0, 0.0, Status.OK,
        # Idle topic, caught-up consumer that stopped committing 10 h ago: lag is 0 now,
        # so OK. Silence alone is never STOP.
        id="idle-topic-caught-up-hours-silent",
    ),
    pytest.param(
        window(TEN_IDLE, ends(5000, 5000, 5003, at=T + 35980)), T + 36000, 0, 0.0, Status.OK,
        # Same consumer, 3 records just landed: silence > span, but the end sat at the last
        # commit seconds ago (recently caught up) and the window had zero lag → OK.
        id="idle-topic-burst-recently-caught-up",
    ),
    pytest.param(
        window(TEN_RISING, ends(2000, 2100, 2200, at=T + 36000)), T + 36000, 0, 0.0,
        Status.STOP,
        # Commits stopped 10 h ago; every recent end offset is past the last commit (1900):
        # the consumer was not caught up, it is gone → STOP.
        id="stopped-not-recently-caught-up",
    ),
    pytest.param(
        window(TEN_RISING, ends(2000), 2000), LAST_TS + 540, 0, 0.0, Status.WARN,
        # Silence of exactly the window's span (540 s) is not yet STOP (strict >); the lag
        # rose at every commit → WARN.
        id="stop-boundary-equal-is-not-stop",
    ),
    pytest.param(
        window(TEN_RISING, ends(2000), 2000), LAST_TS + 541, 0, 0.0, Status.STOP,
        # One second more silence than the window's span → STOP.
        id="stop-boundary-one-second-over",
    ),
    pytest.param(
        window(pts((1000, T, 50)), ends(1050, at=T)), T + 1, 0, 0.0, Status.STOP,
        # A lone commit with lag spans 0 s, so any silence exceeds it; the end was never at
        # 1000 → STOP (Burrow's rule, kept).
        id="single-commit-with-lag-is-stop",
    ),
    pytest.param(
        window(pts((1000, T, 50)), ((1000, T - 10), (1050, T))), T + 30, 0, 0.0, Status.OK,
        # Same lone commit, but the end window saw the log end at 1000: recently caught up,
        # not STOP. Burrow then says STALL (one offset "equals itself"); one commit shows no
        # trend, so we say OK.
        id="single-commit-caught-up-in-end-window-not-stop",
    ),
    pytest.param(
        window(pts((1000, T, 50)), ends(1050, at=T)), T, 0, 0.0, Status.OK,
        # Evaluated at the instant of the lone commit: no silence yet, no trend → OK
        # (Burrow: STALL).
        id="single-commit-no-silence-no-trend",
    ),
    pytest.param(
        window(pts((1000, T, 50), (1000, T + 60, 60)), ends(1060, at=T + 60)), T + 90, 0, 0.0,
        Status.STALL,
        # Two commits of the same offset with lag: the smallest window that shows a stall.
        id="two-commits-stuck-is-stall",
    ),
    pytest.param(
        window(TEN_RISING, ends(1903)), LAST_TS + 30, 5, 0.0, Status.OK,
        # WARN-shaped window, but the consumer is 3 records behind now and 5 are allowed.
        id="allowed-lag-absorbs-current-lag",
    ),
    pytest.param(
        window(TEN_RISING, ends(2000), 2000), LAST_TS + 30, 130, 0.0, Status.OK,
        # Commit lags 100..190; with 130 allowed, some commits were "caught up" → OK.
        id="allowed-lag-some-commits-within",
    ),
    pytest.param(
        window(TEN_RISING, ends(2000), 2000), LAST_TS + 30, 99, 0.0, Status.WARN,
        # Every commit lag (100..190) is above 99 allowed and never fell → WARN.
        id="allowed-lag-all-commits-above",
    ),
    pytest.param(
        window(
            pts(*((1000 + 100 * i, T + 60 * i, 200 - 10 * i) for i in range(10))),
            ends(1904, 1950, at=T + 36000),
        ),
        T + 36000, 5, 0.0, Status.OK,
        # Silent for hours, but an end poll (1904) was within the 5 allowed of the last
        # commit (1900): caught up recently, not STOP; the lag fell in the window → OK.
        id="allowed-lag-applies-to-recent-catch-up",
    ),
    pytest.param(
        window(TEN_RISING, ends(1800)), LAST_TS + 30, 0, 0.0, Status.OK,
        # The end poll (1800) is older than the last commit (1900): the consumer is ahead of
        # what we saw, which is zero lag, not negative lag.
        id="commit-ahead-of-stale-end-poll",
    ),
    pytest.param(
        window(TEN_STUCK, ends(2000, at=T + 36000)), T + 36000, 0, 0.0, Status.STOP,
        # Stuck offsets and silent for hours: STOP is checked first, so STOP, not STALL.
        id="stop-before-stall",
    ),
    pytest.param(
        window(
            pts(*((1000 + 100 * i - (500 if i == 5 else 0), T + 60 * i, 100) for i in range(10))),
            ends(2100, at=T + 36000),
        ),
        T + 36000, 0, 0.0, Status.STOP,
        # A rewound window that has also gone silent: STOP is checked first.
        id="stop-before-rewind",
    ),
    pytest.param(
        window(
            pts((1000, T, 100), (2000, T + 60, 0), (1500, T + 120, 600), (2500, T + 180, 500)),
            ends(3000, at=T + 180),
        ),
        T + 200, 0, 0.0, Status.OK,
        # Offsets went back (2000 → 1500), but one commit in the window was caught up, and
        # Burrow only looks for REWIND when none was → OK.
        id="rewind-ignored-when-window-had-zero-lag",
    ),
    pytest.param(
        window(pts(*((1000 + 100 * i, T + 60 * i, 100) for i in range(10))), ends(2000)),
        LAST_TS + 30, 0, 0.0, Status.WARN,
        # Offsets advance but the lag stays at 100: it never went *down* → WARN.
        id="flat-lag-is-warn",
    ),
    pytest.param(
        window(
            pts(*((1000 + 100 * i, T + 60 * i, 100 + 10 * i - (50 if i == 7 else 0))
                  for i in range(10))),
            ends(2000),
        ),
        LAST_TS + 30, 0, 0.0, Status.OK,
        # The lag fell once (between commits 6 and 7): the consumer gained ground → OK.
        id="lag-fell-once-is-ok",
    ),
    pytest.param(
        window((), ends(5000), 5000), T, 0, 0.0, Status.OK,
        # Partition known (e.g. assigned) but never committed: nothing to judge.
        id="empty-window",
    ),
    pytest.param(
        window(TEN_RISING[:3], ends(2000)), T + 150, 0, 0.5, Status.OK,
        # 3 of 10 slots filled < minimum_complete 0.5: too little history, report OK.
        id="minimum-complete-not-met",
    ),
    pytest.param(
        window(TEN_RISING[:3], ends(2000)), T + 150, 0, 0.3, Status.WARN,
        # 3 of 10 = 0.3 meets minimum_complete 0.3 (>=): judged, and the lag only rose.
        id="minimum-complete-met",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("w", "now", "allowed", "min_complete", "expected"), PARTITION_CASES)
def test_partition_cases(
    w: PartitionWindow, now: float, allowed: int, min_complete: float, expected: Status
) -> None:
    verdict = evaluate_partition(w, now, allowed_lag=allowed, minimum_complete=min_complete)
    assert verdict.status is expected
    if min_complete == 0.0:
        # The readable rule composition and the hot path agree on every case.
        assert (
            partition_status(w.committed, w.end_offsets, current_lag(w), now, allowed) is expected
        )


def test_current_lag_is_from_latest_end_not_lag_at_commit() -> None:
    # A consumer that committed 1900 with 190 lag and died: the log has since grown to
    # 7000, so it is 5100 behind now. The lag stored with the commit (190) is history, for
    # the window rules only; reporting it as "the lag" is the stale-lag complaint.
    w = window(TEN_RISING, ends(2090, 4000, 7000, at=T + 3600))
    v = evaluate_partition(w, T + 3600)
    assert v.current_lag == 5100
    assert v.status is Status.STOP
    assert v.end == TEN_RISING[-1] and v.end.lag == 190


def test_verdict_fields() -> None:
    # Every field in place (this also pins the hot path's fast verdict construction to the
    # dataclass's field order): 4 of 10 slots, lag 150 now, lag seconds from the end polls.
    committed = pts((1000, T, 300), (1100, T + 10, 250), (1200, T + 20, 200), (1300, T + 30, 150))
    end_polls = ((1300, T), (1350, T + 10), (1400, T + 20), (1450, T + 30))
    w = window(committed, end_polls, topic="payments", partition=7, owner="/10.0.0.5",
               client_id="billing-1")  # fmt: skip
    v = evaluate_partition(w, T + 40)
    # The log end was at 1300 at T (first poll): the consumer has been behind for 40 s.
    assert v == PartitionVerdict(
        topic="payments",
        partition=7,
        status=Status.OK,
        current_lag=150,
        complete=False,
        start=committed[0],
        end=committed[-1],
        lag_seconds=40.0,
        owner="/10.0.0.5",
        client_id="billing-1",
        fill=0.4,
    )


def test_verdict_is_an_ordinary_frozen_dataclass() -> None:
    # Verdicts are shared with the API and alerting: nobody may edit one in place, and the
    # usual dataclass tools (asdict for JSON, replace, pickle for caches) must work on the
    # verdicts the hot path builds exactly as on hand-made ones.
    v = evaluate_partition(window(TEN_RISING, ends(2000)), LAST_TS)
    assert type(v) is PartitionVerdict
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.status = Status.ERR  # type: ignore[misc]
    d = dataclasses.asdict(v)
    assert d["status"] is Status.WARN and d["end"] == {
        "offset": 1900,
        "timestamp": LAST_TS,
        "lag": 190,
    }
    assert dataclasses.replace(v, status=Status.OK).status is Status.OK
    assert pickle.loads(pickle.dumps(v)) == v
    assert hash(v) == hash(
        PartitionVerdict(**{f.name: getattr(v, f.name) for f in dataclasses.fields(v)})
    )


@pytest.mark.parametrize(
    ("w", "override", "expected"),
    [
        pytest.param(
            window(TEN_RISING, ends(1900)), None, 0.0,
            # Caught up (lag 0): 0 s without consulting anything.
            id="caught-up-zero",
        ),
        pytest.param(
            window(TEN_RISING, ((1800, T), (2000, T + 100))), None, LAST_TS + 60 - (T + 50),
            # Estimated from the window's end polls: 1900 reached halfway, at T + 50.
            id="estimated-from-end-window",
        ),
        pytest.param(
            window(TEN_RISING, ((2000, T),)), None, None,
            # Behind with a single end poll: no rate, unknown.
            id="unknown-with-one-end-poll",
        ),
        pytest.param(
            window(TEN_RISING, ((1800, T), (2000, T + 100))), 12.5, 12.5,
            # The caller's figure (exact record age, or a LagTable) wins.
            id="caller-figure-wins",
        ),
        pytest.param(
            window((), ends(5000), 5000), None, None,
            # No commit: no lag in seconds.
            id="no-commit-unknown",
        ),
    ],
)  # fmt: skip
def test_verdict_lag_seconds(
    w: PartitionWindow, override: float | None, expected: float | None
) -> None:
    v = evaluate_partition(w, LAST_TS + 60, lag_seconds=override)
    if expected is None:
        assert v.lag_seconds is None
    else:
        assert v.lag_seconds == pytest.approx(expected)


# ======================================================================================
# 3. Groups
# ======================================================================================

OK_W = window(TEN_RISING[:1] + pts((1100, T + 60, 0)), ends(1100))  # caught up at a commit
WARN_W = window(TEN_RISING, ends(2000), 2000)
STALL_W = window(TEN_STUCK, ends(1200), 1200)
REWIND_W = window(
    pts(
        (1000, LAST_TS - 180, 100),
        (2000, LAST_TS - 120, 100),
        (1500, LAST_TS - 60, 600),
        (2500, LAST_TS, 500),
    ),
    ends(3000, at=LAST_TS),
)
NOW = LAST_TS + 30
STOP_W = window(TEN_RISING, ends(2500, at=NOW), 2500)


def test_fixture_windows_have_the_status_their_names_say() -> None:
    # The group cases below rely on these; make the dependency explicit.
    got = [
        evaluate_partition(w, NOW + (20000 if w is STOP_W else 0)).status
        for w in (OK_W, WARN_W, STALL_W, REWIND_W, STOP_W)
    ]
    assert got == [Status.OK, Status.WARN, Status.STALL, Status.REWIND, Status.STOP]


GROUP_CASES = [
    pytest.param([OK_W, OK_W], Status.OK, id="all-ok"),  # nothing wrong anywhere
    pytest.param([OK_W, WARN_W], Status.WARN, id="warn-wins-over-ok"),  # worst partition
    pytest.param([OK_W, STALL_W], Status.ERR, id="stall-is-err"),  # STALL counts as ERR
    pytest.param([REWIND_W, OK_W], Status.ERR, id="rewind-is-err"),  # REWIND counts as ERR
    pytest.param([WARN_W, STALL_W, REWIND_W], Status.ERR, id="err-wins-over-warn"),
    pytest.param([STOP_W, OK_W], Status.ERR, id="stop-is-err"),  # STOP counts as ERR
]


@pytest.mark.parametrize(("windows", "expected"), GROUP_CASES)
def test_group_status_maps_partition_errors_to_err(
    windows: list[PartitionWindow], expected: Status
) -> None:
    now = NOW + (20000 if STOP_W in windows else 0)
    g = evaluate_group("orders-processor", windows, now)
    assert g.status is expected
    # Partitions keep their own, finer status; only the group level is mapped.
    assert [p.status for p in g.partitions] == [evaluate_partition(w, now).status for w in windows]


def test_group_not_found() -> None:
    # Unknown group: NOTFOUND with Burrow's not-found shape (complete 1.0, no partitions).
    g = evaluate_group("ghost", None, NOW)
    assert g == GroupVerdict("ghost", Status.NOTFOUND, 1.0, 0, 0, None, None, ())


def test_group_without_partitions_is_not_found() -> None:
    # Known but with no partitions left (its topics were deleted): Burrow says OK with
    # complete 0 and calls that a bug in its own test; we say NOTFOUND.
    g = evaluate_group("orphan", [], NOW)
    assert g.status is Status.NOTFOUND
    assert g.complete == 0.0 and g.partition_count == 0 and g.max_lag is None


def test_group_from_burrow_fixtures() -> None:
    # Burrow's evaluator tests use a broker offset of 4321 with commits 1000, 1100, ...:
    # "testgroup" has 10 commits up to 1900 → OK, complete 1.0, total lag 4321 - 1900;
    # "testgroup2" has 5 commits up to 1400 long ago → partition STOP, fill 0.5, group
    # ERR with complete 0.0, total lag 4321 - 1400 = 2921, maxlag start 1000 / end 1400.
    now = T + 1000
    recent = pts(*((1000 + 100 * i, now - 100 + 10 * i, 4321 - 1000 - 100 * i) for i in range(10)))
    g1 = evaluate_group("testgroup", [window(recent, ends(4321, at=now - 5))], now)
    assert (g1.status, g1.complete, g1.partition_count, g1.total_lag) == (Status.OK, 1.0, 1, 2421)

    old = pts(*((1000 + 100 * i, now - 5000 + 10 * i, 4321 - 1000 - 100 * i) for i in range(5)))
    g2 = evaluate_group("testgroup2", [window(old, ends(4321, at=now - 5))], now)
    assert (g2.status, g2.complete, g2.total_lag) == (Status.ERR, 0.0, 2921)
    assert g2.partitions[0].status is Status.STOP and g2.partitions[0].fill == 0.5
    assert g2.max_lag is not None and g2.max_lag.start is not None and g2.max_lag.end is not None
    assert (g2.max_lag.start.offset, g2.max_lag.end.offset) == (1000, 1400)


def test_group_totals_complete_and_max_lag() -> None:
    full = window(TEN_RISING, ends(2000), 2000, partition=0)  # lag 100, full window
    half = window(TEN_RISING[:5], ends(1700), 1700, partition=1)  # lag 300, half window
    tie = window(TEN_RISING[:5], ends(1700), 1700, partition=2)  # lag 300 too, later
    zero = window(TEN_RISING, ends(1900), 1900, partition=3)  # lag 0, full
    g = evaluate_group("g", [full, half, tie, zero], NOW, lag_seconds={("orders", 2): 99.0})
    # Sum of current lags: 100 + 300 + 300 + 0.
    assert g.total_lag == 700
    # 2 of 4 partitions have a full window.
    assert g.complete == 0.5
    assert g.partition_count == 4
    # Max lag: the first partition with the largest lag (Burrow replaces only on >).
    assert g.max_lag is g.partitions[1]
    # Worst lag in seconds over partitions, including the caller's override for p2.
    assert g.partitions[2].lag_seconds == 99.0
    assert g.lag_seconds == max(p.lag_seconds for p in g.partitions if p.lag_seconds is not None)


def test_group_max_lag_set_even_when_all_caught_up() -> None:
    # Burrow's maxlag is the first partition when every lag is 0 (it is never null then).
    a = window(TEN_RISING, ends(1900), 1900, partition=0)
    b = window(TEN_RISING, ends(1900), 1900, partition=1)
    g = evaluate_group("g", [a, b], NOW)
    assert g.max_lag is g.partitions[0]
    assert g.lag_seconds == 0.0


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        pytest.param([], Status.NOTFOUND, id="none"),  # no partitions: nothing found
        pytest.param([Status.OK], Status.OK, id="ok"),
        pytest.param([Status.OK, Status.WARN], Status.WARN, id="warn"),  # worst wins
        pytest.param([Status.WARN, Status.STOP], Status.ERR, id="stop-err"),  # mapped
        pytest.param([Status.STALL], Status.ERR, id="stall-err"),
        pytest.param([Status.REWIND, Status.OK], Status.ERR, id="rewind-err"),
        pytest.param([Status.ERR], Status.ERR, id="err"),
    ],
)
def test_group_status_function(statuses: list[Status], expected: Status) -> None:
    assert group_status(statuses) is expected


# ======================================================================================
# 4. Windows: coalescing, bounds, recording, persistence
# ======================================================================================


def test_recorder_lag_at_commit_against_latest_end() -> None:
    # Burrow storage case 0: end offset 5000, commits 1000..5000 → lags 4000..0.
    rec = WindowRecorder()
    rec.record_end_offset("t", 0, 5000, T)
    for i in range(5):
        rec.record_commit("g", "t", 0, 1000 * (i + 1), T + 100 * (i + 1))
    ws = rec.windows("g")
    assert ws is not None
    assert [(p.offset, p.lag) for p in ws[0].committed] == [
        (1000, 4000), (2000, 3000), (3000, 2000), (4000, 1000), (5000, 0)
    ]  # fmt: skip


def test_recorder_window_is_bounded() -> None:
    # Burrow storage case 4 (append path): an 11th commit pushes the oldest out.
    rec = WindowRecorder(intervals=10)
    rec.record_end_offset("t", 0, 10000, T)
    for i in range(11):
        rec.record_commit("g", "t", 0, 1000 * (i + 1), T + 100 * (i + 1))
    ws = rec.windows("g")
    assert ws is not None
    assert [p.offset for p in ws[0].committed] == [1000 * (i + 1) for i in range(1, 11)]


def test_min_distance_replaces_last_keeping_its_timestamp() -> None:
    # Burrow storage case 5: with min-distance 1 s, a commit 1 ms after the last one
    # replaces it, keeping the earlier timestamp and taking the new offset and lag.
    rec = WindowRecorder(min_distance=1.0)
    rec.record_end_offset("t", 0, 10000, T)
    for i in range(5):
        rec.record_commit("g", "t", 0, 1000 * (i + 1), T + 100 * (i + 1))
    stored = rec.record_commit("g", "t", 0, 6000, T + 500.001)
    assert stored == OffsetPoint(6000, T + 500, 4000)
    ws = rec.windows("g")
    assert ws is not None
    assert [p.offset for p in ws[0].committed] == [1000, 2000, 3000, 4000, 6000]


def test_min_distance_burrow_storage_test() -> None:
    # TestInMemoryStorage_addConsumerOffset_MinDistance: a full ring of commits 10 s apart
    # (1000..1900) against end 4321, then 2000 at +90.001 s: the ring does not advance;
    # the last slot becomes offset 2000, lag 2321, still stamped +90 s.
    rec = WindowRecorder(min_distance=1.0)
    rec.record_end_offset("testtopic", 0, 4321, T)
    for i in range(10):
        rec.record_commit("testgroup", "testtopic", 0, 1000 + 100 * i, T + 10 * i)
    rec.record_commit("testgroup", "testtopic", 0, 2000, T + 90.001)
    ws = rec.windows("testgroup")
    assert ws is not None
    expected = [OffsetPoint(1000 + 100 * i, T + 10 * i, 4321 - 1000 - 100 * i) for i in range(9)]
    assert list(ws[0].committed) == [*expected, OffsetPoint(2000, T + 90, 2321)]


@pytest.mark.parametrize(
    ("commit_times", "expected_times", "expected_offsets"),
    [
        pytest.param(
            [0.0, 0.4, 0.8, 1.2], [0.0, 1.2], [3, 4],
            # Commits every 0.4 s with min-distance 1 s: 0.4 and 0.8 replace the slot opened
            # at 0 (keeping its time), so 1.2 is 1.2 s after it and opens a new slot. Keeping
            # the new time instead would mean the window never advances.
            id="fast-committer-still-advances",
        ),
        pytest.param(
            [0.0, 1.0, 2.0], [0.0, 1.0, 2.0], [1, 2, 3],
            # Exactly min-distance apart is not "closer than": append.
            id="exactly-min-distance-appends",
        ),
        pytest.param(
            [0.0, 5.0, 3.0], [0.0, 5.0], [1, 2],
            # A commit older than the last is dropped (no back-fill without commit order).
            id="out-of-order-dropped",
        ),
    ],
)  # fmt: skip
def test_append_commit_coalescing(
    commit_times: list[float], expected_times: list[float], expected_offsets: list[int]
) -> None:
    window_points: tuple[OffsetPoint, ...] = ()
    for i, ts in enumerate(commit_times, start=1):
        window_points = append_commit(window_points, OffsetPoint(i, ts, 0), 10, min_distance=1.0)
    assert [p.timestamp for p in window_points] == expected_times
    assert [p.offset for p in window_points] == expected_offsets


def test_default_min_distance_never_coalesces() -> None:
    # Burrow's default min-distance is 0: two commits at the same instant are both kept.
    w = append_commit(append_commit((), OffsetPoint(1, T, 0)), OffsetPoint(2, T, 0))
    assert [p.offset for p in w] == [1, 2]


def test_end_offset_window_bounded_and_ordered() -> None:
    e: tuple[EndOffset, ...] = ()
    for i in range(12):
        e = append_end_offset(e, 100 * i, T + i, intervals=10)
    e2 = append_end_offset(e, 5, T - 1, intervals=10)  # an older poll arrives late: dropped
    assert e2 == e
    assert [o for o, _ in e] == [100 * i for i in range(2, 12)]


def test_commit_without_end_offset_is_dropped() -> None:
    # Burrow drops commits for partitions whose end offset it has not seen: the lag at
    # commit would be unknown. The group is not created by such a commit.
    rec = WindowRecorder()
    assert rec.record_commit("g", "t", 0, 100, T) is None
    assert rec.windows("g") is None and rec.groups() == []


def test_commit_ahead_of_end_has_zero_lag() -> None:
    # End polls are periodic; a commit past the last poll is caught up, not negative lag.
    rec = WindowRecorder()
    rec.record_end_offset("t", 0, 100, T)
    assert rec.record_commit("g", "t", 0, 150, T + 1) == OffsetPoint(150, T + 1, 0)


def test_recorder_windows_owners_and_forgetting() -> None:
    rec = WindowRecorder(intervals=5)
    rec.record_end_offset("b", 1, 500, T)
    rec.record_end_offset("a", 0, 300, T)
    rec.record_commit("g", "b", 1, 400, T + 1, owner="/10.0.0.1", client_id="c1")
    rec.record_commit("g", "a", 0, 300, T + 1)
    rec.set_owner("g", "a", 3, "/10.0.0.2", "c2")  # assigned, never committed
    ws = rec.windows("g")
    assert ws is not None
    # Sorted by (topic, partition); current end from the latest poll; intervals carried.
    assert [(w.topic, w.partition, w.current_end, w.owner, w.intervals) for w in ws] == [
        ("a", 0, 300, None, 5),
        ("a", 3, 0, "/10.0.0.2", 5),
        ("b", 1, 500, "/10.0.0.1", 5),
    ]
    verdict = evaluate_group("g", ws, T + 2)
    assert verdict.total_lag == 100 and verdict.partitions[1].status is Status.OK
    rec.clear_owners("g")
    ws = rec.windows("g")
    assert ws is not None and all(w.owner is None and w.client_id is None for w in ws)
    rec.forget_topic("a")
    ws = rec.windows("g")
    assert ws is not None and [w.topic for w in ws] == ["b"]
    assert rec.end_offsets("a", 0) == ()
    rec.forget_group("g")
    assert rec.windows("g") is None


def test_recorder_round_trips_through_json() -> None:
    # The store persists the recorder as JSON; the restored one yields identical windows.
    rec = WindowRecorder(intervals=4, min_distance=2.5)
    for i in range(6):
        rec.record_end_offset("t", 0, 1000 + 50 * i, T + 30 * i)
        rec.record_commit("g", "t", 0, 990 + 40 * i, T + 30 * i + 1, owner="/h", client_id="c")
    rec.set_owner("g2", "u", 2, None, None)
    restored = WindowRecorder.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert (restored.intervals, restored.min_distance) == (4, 2.5)
    assert restored.groups() == rec.groups() == ["g", "g2"]
    assert restored.windows("g") == rec.windows("g")
    assert restored.windows("g2") == rec.windows("g2")


def test_recorder_restore_trims_to_smaller_intervals() -> None:
    # Restoring under a smaller configured window must not exceed it.
    rec = WindowRecorder(intervals=10)
    rec.record_end_offset("t", 0, 100, T)
    for i in range(10):
        rec.record_commit("g", "t", 0, i, T + i)
    data = rec.to_dict()
    data["intervals"] = 3
    ws = WindowRecorder.from_dict(data).windows("g")
    assert ws is not None and [p.offset for p in ws[0].committed] == [7, 8, 9]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param({"version": 99}, "version 99", id="unknown-version"),
        pytest.param(
            {"version": 1, "intervals": 10, "min_distance": 0, "end_offsets": [{}], "groups": []},
            "malformed", id="missing-keys",
        ),
        pytest.param(
            {"version": 1, "intervals": 10, "min_distance": 0, "end_offsets": [],
             "groups": [{"group": "g", "partitions": [
                 {"topic": "t", "partition": 0, "committed": [[1, 2.0]]}]}]},
            "malformed", id="short-point",
        ),
        pytest.param(
            {"version": 1, "intervals": 0, "min_distance": 0, "end_offsets": [], "groups": []},
            "malformed", id="zero-intervals",
        ),
    ],
)  # fmt: skip
def test_recorder_from_malformed_data_says_so(data: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        WindowRecorder.from_dict(data)


# ======================================================================================
# 5. Properties
# ======================================================================================

small_times = st.integers(0, 600)


@st.composite
def windows(draw: st.DrawFn) -> PartitionWindow:
    """Small, collision-prone windows: equal offsets, zero lags and ties are likely."""
    n = draw(st.integers(0, 12))
    t = 0
    committed = []
    for _ in range(n):
        t += draw(small_times)
        committed.append(OffsetPoint(draw(st.integers(0, 40)), T + t, draw(st.integers(0, 15))))
    end_count = draw(st.integers(0, 10))
    end_polls = tuple((draw(st.integers(0, 60)), T + i) for i in range(end_count))
    return PartitionWindow(
        "t",
        draw(st.integers(0, 3)),
        tuple(committed),
        end_polls,
        draw(st.integers(0, 60)),
        intervals=draw(st.integers(1, 12)),
    )


@given(windows(), st.integers(0, 20_000), st.integers(0, 10), st.sampled_from([0.0, 30.0, 60.0]))
def test_hot_path_agrees_with_named_rules(
    w: PartitionWindow, dt: int, allowed: int, grace: float
) -> None:
    now = T + dt
    fast = evaluate_partition(w, now, allowed_lag=allowed, stop_grace=grace).status
    slow = partition_status(w.committed, w.end_offsets, current_lag(w), now, allowed, grace)
    assert fast is slow


# A lone commit with lag, first seen at T (a fresh service), the log end far ahead.
LONE = PartitionWindow("t", 0, (OffsetPoint(100, T, 50),), ((150, T), (160, T + 5)), 170)


@pytest.mark.parametrize(
    ("grace", "dt", "expected"),
    [
        # Burrow (grace 0): the window spans 0 s, so 5 s of silence is already STOP.
        (0.0, 5, Status.STOP),
        # 5 s after the first commit seen: a consumer committing every 5-30 s has simply not
        # committed again yet. Not evidence of a stop.
        (60.0, 5, Status.OK),
        # Exactly the grace is not yet longer than it (strictly greater, as Burrow's rule).
        (60.0, 60, Status.OK),
        # Silent for longer than the grace while the log moved on: it stopped.
        (60.0, 61, Status.STOP),
    ],
)
def test_stop_grace_on_a_lone_commit(grace: float, dt: int, expected: Status) -> None:
    assert evaluate_partition(LONE, T + dt, stop_grace=grace).status is expected


@given(windows(), st.integers(0, 20_000), st.integers(0, 10))
def test_caught_up_now_is_never_an_error(w: PartitionWindow, dt: int, allowed: int) -> None:
    # Whatever the history, a consumer within the allowed lag right now is OK: in
    # particular an idle topic's caught-up consumer is never STOP.
    if current_lag(w) <= allowed:
        assert evaluate_partition(w, T + dt, allowed_lag=allowed).status is Status.OK


@given(windows(), st.integers(0, 20_000))
def test_any_caught_up_commit_rules_out_window_errors(w: PartitionWindow, dt: int) -> None:
    # REWIND, STALL and WARN need every commit in the window to be behind.
    status = evaluate_partition(w, T + dt).status
    if any(p.lag == 0 for p in w.committed):
        assert status in (Status.OK, Status.STOP)


@given(windows(), st.integers(0, 20_000), st.integers(-(10**6), 10**6))
def test_status_depends_on_elapsed_time_only(w: PartitionWindow, dt: int, shift: int) -> None:
    # Moving every timestamp and ``now`` by the same amount changes nothing.
    moved = PartitionWindow(
        w.topic,
        w.partition,
        tuple(OffsetPoint(p.offset, p.timestamp + shift, p.lag) for p in w.committed),
        tuple((o, ts + shift) for o, ts in w.end_offsets),
        w.current_end,
        intervals=w.intervals,
    )
    assert evaluate_partition(moved, T + dt + shift).status is evaluate_partition(w, T + dt).status


@given(st.lists(windows(), max_size=8), st.integers(0, 20_000))
def test_group_is_worst_mapped_partition(ws: list[PartitionWindow], dt: int) -> None:
    g = evaluate_group("g", ws, T + dt)
    if not ws:
        assert g.status is Status.NOTFOUND
        return
    assert g.status in (Status.OK, Status.WARN, Status.ERR)
    for p in g.partitions:
        assert g.status >= group_level(p.status)
    assert g.status is max(group_level(p.status) for p in g.partitions)
    assert g.total_lag == sum(p.current_lag for p in g.partitions)
    assert 0.0 <= g.complete <= 1.0
    assert g.complete == sum(p.complete for p in g.partitions) / len(g.partitions)
    assert g.max_lag is not None
    assert g.max_lag.current_lag == max(p.current_lag for p in g.partitions)


@given(
    st.lists(
        st.tuples(st.integers(0, 100), st.integers(-5, 30), st.integers(0, 50)),
        max_size=40,
    ),
    st.integers(1, 6),
    st.sampled_from([0.0, 1.0, 7.5]),
)
def test_recorder_invariants_and_round_trip(
    ops: list[tuple[int, int, int]], intervals: int, min_distance: float
) -> None:
    # Arbitrary interleavings of end polls and commits, with jittery clocks: windows stay
    # bounded and time-ordered, lags are never negative, and JSON round-trips exactly.
    rec = WindowRecorder(intervals, min_distance)
    clock = 0
    for offset, step, kind in ops:
        clock += step
        if kind % 3 == 0:
            rec.record_end_offset("t", kind % 2, offset, T + clock)
        else:
            rec.record_commit(f"g{kind % 2}", "t", kind % 2, offset, T + clock)
    for g in rec.groups():
        ws = rec.windows(g)
        assert ws is not None
        for w in ws:
            assert len(w.committed) <= intervals and len(w.end_offsets) <= intervals
            stamps = [p.timestamp for p in w.committed]
            assert stamps == sorted(stamps)
            assert all(p.lag >= 0 for p in w.committed)
    restored = WindowRecorder.from_dict(json.loads(json.dumps(rec.to_dict())))
    assert all(restored.windows(g) == rec.windows(g) for g in rec.groups())


# ======================================================================================
# 6. Which partition and which rule made a group's verdict (the group summary)
# ======================================================================================


def at(w: PartitionWindow, partition: int) -> PartitionWindow:
    return dataclasses.replace(w, partition=partition)


def big_ok(now: float, partition: int = 0) -> PartitionWindow:
    """A healthy partition with more lag than any judged one: current lag 5000, but it was
    caught up at its commits and committed 10 s ago (its window spans 110 s), so Burrow's
    rules call it OK. It used to be quoted as the group's reason ("is ERR: worst partition
    orders-5: OK, lag 1232") because it has the most lag."""
    return window(
        pts((1000, now - 120, 0), (6000, now - 10, 0)), ends(11000), 11000, partition=partition
    )


REASON_CASES = [
    pytest.param(
        [at(OK_W, 0), at(OK_W, 1)], NOW, None, "",
        # Nothing wrong: no partition is blamed, and OK needs no explanation.
        id="ok-no-reason",
    ),
    pytest.param(
        [big_ok(NOW, 0), at(WARN_W, 1)], NOW, 1,
        "orders-1: lag at commit never went down over its last 10 commits (100 to 190 in "
        "9 min); lag now 100 (rule: lagging)",
        # WARN_W's commits carry lag 100, 110, ... 190 over 540 s: Burrow's "lagging" rule.
        # big_ok has the most lag (5000) but is OK: it must not be named.
        id="warn-names-lagging-partition-not-max-lag",
    ),
    pytest.param(
        [big_ok(NOW + 20000, 5), at(STOP_W, 4)], NOW + 20000, 4,
        "orders-4: committed offset 1900 has not moved for 5.6 h, longer than its last 10 "
        "commits span (9 min), while the log end moved on; lag now 600 (rule: stopped)",
        # The reported contradiction: max lag is the OK orders-5; the ERR comes from the
        # STOP of orders-4 (20,030 s of silence > its 540 s window, end never level).
        id="err-names-stopped-partition",
    ),
    pytest.param(
        [at(OK_W, 0), at(STALL_W, 2)], NOW, 2,
        "orders-2: committed offset stuck at 1000 over its last 10 commits (9 min), never "
        "caught up; lag now 200 (rule: stalled)",
        # TEN_STUCK commits 1000 ten times with lag 100..190: Burrow's "stalled" rule.
        id="err-names-stalled-partition",
    ),
    pytest.param(
        [at(REWIND_W, 3), at(OK_W, 0)], NOW, 3,
        "orders-3: committed offset went back from 2000 to 1500 within its last 4 commits; "
        "lag now 500 (rule: rewind)",
        # REWIND_W steps back from 2000 to 1500 (its third commit): Burrow's "rewind" rule.
        id="err-names-rewound-partition",
    ),
    pytest.param(
        [at(WARN_W, 1), at(STALL_W, 2)], NOW, 2,
        "orders-2: committed offset stuck at 1000 over its last 10 commits (9 min), never "
        "caught up; lag now 200 (rule: stalled)",
        # ERR (from STALL) outranks WARN: the group's status comes from orders-2, not from
        # the first partition with a problem.
        id="err-outranks-warn",
    ),
    pytest.param(
        [at(REWIND_W, 3), at(STALL_W, 2)], NOW, 3,
        "orders-3: committed offset went back from 2000 to 1500 within its last 4 commits; "
        "lag now 500 (rule: rewind)",
        # Both count as ERR at group level: the one with more lag (500 > 200) is named.
        id="same-level-most-lag",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("windows", "now", "worst", "reason"), REASON_CASES)
def test_group_verdict_names_the_partition_and_rule_behind_it(
    windows: list[PartitionWindow], now: float, worst: int | None, reason: str
) -> None:
    g = evaluate_group("acc-kill", windows, now)
    assert g.reason == reason
    if worst is None:
        assert g.worst is None
        return
    assert g.worst is not None and g.worst.partition == worst
    # The blamed partition's own status is the one the group reports (at group level).
    assert group_level(g.worst.status) is g.status
    assert g.worst.status is not Status.OK


def test_ok_partitions_are_never_explained() -> None:
    # explain_partition says nothing for OK, whatever the lag: an OK partition can never
    # be quoted as the reason for a verdict.
    w = big_ok(NOW, 5)
    v = evaluate_partition(w, NOW)
    assert v.status is Status.OK and v.current_lag == 5000
    assert explain_partition(w, v, NOW) == ""

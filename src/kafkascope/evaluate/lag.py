"""Consumer-group lag status: Burrow's window rules, faithfully, then a little better.

Burrow (``core/internal/evaluator/caching.go``, v1.9) keeps the last ``intervals`` committed
offsets of every partition, each with the lag measured when it was committed, plus a window
of log-end offsets. When the partition's *current* lag is above the allowed lag it applies,
in this order:

1. **STOP** - ``now - last_commit > last_commit - first_commit`` (the silence is longer than
   the whole window took) *and* no end offset in the end window is within the allowed lag of
   the last commit (the consumer was not level with the log end recently);
2. only when *every* commit in the window had lag above the allowed lag:
   **REWIND** if an offset is lower than its predecessor, else **STALL** if all offsets are
   equal, else **WARN** if the lag never went down from one commit to the next;
3. otherwise **OK**.

So in Burrow a lone commit with lag is STOP as soon as any time passes, unless the end
window shows the consumer was level with the log end (Burrow #303).

A group is its worst partition, with STOP, STALL and REWIND reported as ERR at group level.
The verdict names that partition (``GroupVerdict.worst``: the worst group-level status,
then the most lag) and says which rule judged it on what evidence (``reason``), so a
summary never pairs a group's ERR with some other, healthy partition.

Beyond Burrow, by construction:

* current lag is always latest end offset minus last commit (``PartitionWindow.current_end``),
  never the lag recorded with the last commit, so a stopped consumer's lag keeps growing
  (lag-at-commit feeds only the window rules, as in Burrow);
* a consumer that is caught up now (current lag within ``allowed_lag``) is OK whatever its
  commit history says, so an idle topic with a caught-up, quiet consumer is never STOP;
* STOP also needs the silence to last ``stop_grace`` seconds (the service's default: 60 s):
  a window of one commit, or of two a second apart, spans almost no time, and Burrow's
  rule alone calls a healthy consumer STOP between its first and second commit seen (every
  group, at every service start). A consumer that really stopped is STOP ``stop_grace``
  after its last commit was first seen; 0 gives Burrow's behaviour;
* STALL and WARN need at least two commits: Burrow calls a lone commit that is not STOP
  "stalled" (its one offset equals itself), which is an artefact, not evidence;
* ``allowed_lag`` (default 0, Burrow's behaviour) lets a partition run a few records behind
  without being judged, and applies consistently to every "is it caught up" test;
* every verdict carries lag in seconds (see :mod:`kafkascope.evaluate.lag_time`).

Everything here is pure and in memory; ``now`` (seconds since the epoch) is always passed in.

Size: one concept, Burrow's evaluator with its window recorder, whose rules and the state
they read must be read together to be checked against Burrow's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafkascope.evaluate.lag_time import lag_seconds_from_points
from kafkascope.model import Status

__all__ = [
    "DEFAULT_INTERVALS",
    "DEFAULT_MIN_DISTANCE",
    "RULE_NAMES",
    "EndOffset",
    "GroupVerdict",
    "OffsetPoint",
    "PartitionVerdict",
    "PartitionWindow",
    "WindowRecorder",
    "append_commit",
    "append_end_offset",
    "commits_stopped",
    "current_lag",
    "evaluate_group",
    "evaluate_partition",
    "explain_partition",
    "group_level",
    "group_status",
    "is_lagging",
    "is_rewind",
    "is_stalled",
    "is_stopped",
    "lag_always_above",
    "partition_status",
    "recently_caught_up",
]

#: Burrow's default window length (``storage.intervals``).
DEFAULT_INTERVALS = 10
#: Burrow's default ``min-distance``: 0 seconds, i.e. never coalesce commits.
DEFAULT_MIN_DISTANCE = 0.0

#: ``(log_end_offset, observed_at_seconds)``: one poll of a partition's end offset.
EndOffset = tuple[int, float]

_OK = Status.OK
_WARN = Status.WARN
_ERR = Status.ERR
_STOP = Status.STOP
_STALL = Status.STALL
_REWIND = Status.REWIND
_NOTFOUND = Status.NOTFOUND


@dataclass(frozen=True, slots=True)
class OffsetPoint:
    """One committed offset: where, when (seconds), and the lag against the end offset then."""

    offset: int
    timestamp: float
    lag: int


@dataclass(frozen=True, slots=True)
class PartitionWindow:
    """Everything the rules look at for one partition of one group.

    ``committed`` is oldest first and holds at most ``intervals`` points; ``end_offsets`` is
    the recent log-end polls for the topic-partition, oldest first; ``current_end`` is the
    latest log-end offset (normally ``end_offsets[-1][0]``), from which current lag is taken.
    """

    topic: str
    partition: int
    committed: tuple[OffsetPoint, ...]
    end_offsets: tuple[EndOffset, ...]
    current_end: int
    owner: str | None = None
    client_id: str | None = None
    intervals: int = DEFAULT_INTERVALS


@dataclass(frozen=True, slots=True)
class PartitionVerdict:
    """The status of one partition, shaped after Burrow's ``PartitionStatus``.

    ``complete`` is True when the window is full; ``fill`` is the fraction of the window
    that is filled (Burrow's per-partition ``complete`` number, for API compatibility).
    ``lag_seconds`` is None when it cannot be known (no commit, or too little history).
    """

    topic: str
    partition: int
    status: Status
    current_lag: int
    complete: bool
    start: OffsetPoint | None
    end: OffsetPoint | None
    lag_seconds: float | None
    owner: str | None
    client_id: str | None
    fill: float


@dataclass(frozen=True, slots=True)
class GroupVerdict:
    """The status of a consumer group, shaped after Burrow's ``ConsumerGroupStatus``.

    ``complete`` is the fraction of partitions whose window is full; ``max_lag`` is the
    first partition with the largest current lag; ``lag_seconds`` is the worst known
    partition figure (None if no partition has one). ``worst`` is the partition that made
    a status other than OK (worst group-level status, then most lag; None when OK) and
    ``reason`` names it, the rule and its evidence (:func:`explain_partition`). ``max_lag``
    and ``worst`` differ when the partition with the most lag is healthy.
    """

    group: str
    status: Status
    complete: float
    partition_count: int
    total_lag: int
    max_lag: PartitionVerdict | None
    lag_seconds: float | None
    partitions: tuple[PartitionVerdict, ...]
    worst: PartitionVerdict | None = None
    reason: str = ""


# --------------------------------------------------------------------------------------
# Burrow's rules: small named predicates over the committed window, Burrow's order.
# Each takes the window oldest first; none is meaningful on an empty window (they return
# False there, so an empty window is never an error).
# --------------------------------------------------------------------------------------


def commits_stopped(committed: Sequence[OffsetPoint], now: float, stop_grace: float = 0.0) -> bool:
    """Burrow rule 3: the time since the last commit exceeds the time the window spans
    (and, beyond Burrow, ``stop_grace``).

    Strictly greater: a silence exactly as long as the window is not yet a stop. With a
    single commit the window spans 0 s, so any silence longer than ``stop_grace`` counts.
    """
    if not committed:
        return False
    last_ts = committed[-1].timestamp
    silence = now - last_ts
    return silence > (last_ts - committed[0].timestamp) and silence > stop_grace


def recently_caught_up(
    committed: Sequence[OffsetPoint], end_offsets: Sequence[EndOffset], allowed_lag: int = 0
) -> bool:
    """Burrow's ``checkIfRecentLagZero``: some recent end offset was level with the last commit.

    If the log end was at (or within ``allowed_lag`` of) the last committed offset during the
    end-offset window, the consumer was caught up minutes ago and silence is not yet a stop:
    it had nothing to commit. This is what stops a quiet consumer on a slow topic being
    called STOP the moment a new record lands.
    """
    if not committed:
        return False
    limit = committed[-1].offset + allowed_lag
    return any(end <= limit for end, _ in end_offsets)


def is_stopped(
    committed: Sequence[OffsetPoint],
    end_offsets: Sequence[EndOffset],
    now: float,
    allowed_lag: int = 0,
    stop_grace: float = 0.0,
) -> bool:
    """STOP: commits have stopped, and the consumer was not caught up recently."""
    return commits_stopped(committed, now, stop_grace) and not recently_caught_up(
        committed, end_offsets, allowed_lag
    )


def lag_always_above(committed: Sequence[OffsetPoint], allowed_lag: int = 0) -> bool:
    """Burrow rule 1 (``isLagAlwaysNotZero``): no commit in the window was caught up.

    If the consumer was caught up at any commit in the window, the window is healthy and
    REWIND/STALL/WARN are not considered.
    """
    return all(point.lag > allowed_lag for point in committed)


def is_rewind(committed: Sequence[OffsetPoint]) -> bool:
    """Burrow rule 2: some committed offset is lower than the one before it.

    Any step back counts, even if later commits climb past it again (Burrow's own test 7).
    """
    return any(committed[i].offset < committed[i - 1].offset for i in range(1, len(committed)))


def is_stalled(committed: Sequence[OffsetPoint]) -> bool:
    """Burrow rule 4: the consumer keeps committing the same offset (it is not progressing).

    Needs two commits: one commit shows no trend (Burrow calls a lone commit "stalled").
    """
    if len(committed) < 2:
        return False
    first = committed[0].offset
    return all(point.offset == first for point in committed)


def is_lagging(committed: Sequence[OffsetPoint]) -> bool:
    """Burrow rule 5 (WARN): the lag never went down from one commit to the next.

    The consumer is moving but not gaining on the producer anywhere in the window. Needs
    two commits: one commit shows no trend (Burrow calls a lone commit "lagging").
    """
    if len(committed) < 2:
        return False
    return all(committed[i].lag >= committed[i - 1].lag for i in range(1, len(committed)))


def partition_status(
    committed: Sequence[OffsetPoint],
    end_offsets: Sequence[EndOffset],
    current_lag: int,
    now: float,
    allowed_lag: int = 0,
    stop_grace: float = 0.0,
) -> Status:
    """Burrow's ``calculatePartitionStatus``, with ``allowed_lag`` in place of "zero" and
    ``stop_grace`` as the shortest silence that is a STOP.

    Caught up now → OK before anything else; then STOP; then, only if no commit in the
    window was caught up, REWIND, STALL, WARN; otherwise OK.
    """
    if current_lag <= allowed_lag or not committed:
        return _OK
    if is_stopped(committed, end_offsets, now, allowed_lag, stop_grace):
        return _STOP
    if lag_always_above(committed, allowed_lag):
        if is_rewind(committed):
            return _REWIND
        if is_stalled(committed):
            return _STALL
        if is_lagging(committed):
            return _WARN
    return _OK


def current_lag(window: PartitionWindow) -> int:
    """Records behind *now*: latest end offset minus last commit, never negative.

    End offsets are polled, so a commit can be seen ahead of the last poll; that is zero
    lag, not negative lag (Burrow does the same).
    """
    if not window.committed:
        return 0
    lag = window.current_end - window.committed[-1].offset
    return lag if lag > 0 else 0


def group_level(status: Status) -> Status:
    """How a partition status counts at group level: STOP, STALL and REWIND become ERR."""
    return _ERR if status > _ERR else status


def group_status(statuses: Iterable[Status]) -> Status:
    """Worst partition status after :func:`group_level`; NOTFOUND when there are none."""
    worst = _NOTFOUND
    for status in statuses:
        level = _ERR if status > _ERR else status
        if level > worst:
            worst = level
    return worst


# --------------------------------------------------------------------------------------
# Explanations: which rule judged a partition, on what evidence
# --------------------------------------------------------------------------------------

#: The rule behind each status other than OK, by the name Burrow's evaluator gives it.
RULE_NAMES: Mapping[Status, str] = {
    _STOP: "stopped",
    _STALL: "stalled",
    _REWIND: "rewind",
    _WARN: "lagging",
}


def _span(seconds: float) -> str:
    """48 s, 9 min, 5.6 h: short enough for a one-line summary."""
    if seconds < 120:
        return f"{max(seconds, 0.0):.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _commits(n: int) -> str:
    return "its one commit" if n == 1 else f"its last {n} commits"


def explain_partition(window: PartitionWindow, verdict: PartitionVerdict, now: float) -> str:
    """One line: the partition, what its window shows, current lag, and the rule.

    Empty for OK: there is nothing to explain, and an OK partition must never be quoted
    as the reason for a group's WARN or ERR.
    """
    rule = RULE_NAMES.get(verdict.status)
    committed = window.committed
    if rule is None or not committed:
        return ""
    first, last = committed[0], committed[-1]
    n = len(committed)
    span = _span(last.timestamp - first.timestamp)
    where = f"{window.topic}-{window.partition}"
    lag = f"lag now {verdict.current_lag}"
    if verdict.status is _STOP:
        evidence = (
            f"committed offset {last.offset} has not moved for {_span(now - last.timestamp)}, "
            f"longer than {_commits(n)} span ({span}), while the log end moved on"
        )
    elif verdict.status is _STALL:
        evidence = (
            f"committed offset stuck at {last.offset} over {_commits(n)} ({span}), never caught up"
        )
    elif verdict.status is _REWIND:
        back = next(
            (committed[i - 1], committed[i])
            for i in range(1, n)
            if committed[i].offset < committed[i - 1].offset
        )
        evidence = (
            f"committed offset went back from {back[0].offset} to {back[1].offset} within "
            f"{_commits(n)}"
        )
    else:
        evidence = (
            f"lag at commit never went down over {_commits(n)} ({first.lag} to {last.lag} "
            f"in {span})"
        )
    return f"{where}: {evidence}; {lag} (rule: {rule})"


# --------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------


def _fused_status(
    committed: tuple[OffsetPoint, ...],
    end_offsets: tuple[EndOffset, ...],
    now: float,
    allowed_lag: int,
    stop_grace: float,
) -> Status:
    """:func:`partition_status` for a lagging, non-empty window, in one pass over the window.

    Same answers as the named rules (a property test holds the two together); it exists
    because calling five predicates that each rescan the window was most of the cost of a
    lagging partition in ``bench/lag_eval``.
    """
    first = committed[0]
    last = committed[-1]
    last_ts = last.timestamp
    silence = now - last_ts
    if silence > last_ts - first.timestamp and silence > stop_grace:
        limit = last.offset + allowed_lag
        for end, _ in end_offsets:
            if end <= limit:
                break
        else:
            return _STOP
    prev_offset = first.offset
    prev_lag = first.lag
    if prev_lag <= allowed_lag:
        return _OK
    rewound = moved = gained = False
    for point in committed:
        offset = point.offset
        lag = point.lag
        if lag <= allowed_lag:
            return _OK
        if offset != prev_offset:
            moved = True
            if offset < prev_offset:
                rewound = True
        if lag < prev_lag:
            gained = True
        prev_offset = offset
        prev_lag = lag
    if rewound:
        return _REWIND
    if len(committed) < 2:
        return _OK
    if not moved:
        return _STALL
    if not gained:
        return _WARN
    return _OK


@dataclass(slots=True)
class _VerdictBuilder:
    """A mutable twin of :class:`PartitionVerdict`: same slots, same order.

    A frozen slotted dataclass's ``__init__`` pays one ``object.__setattr__`` per field
    (about 1 us for 11 fields, the biggest single cost at 500k partitions in
    ``bench/lag_eval``). The hot loop fills this twin with plain slot stores and then
    re-labels it ``PartitionVerdict`` (``__class__`` assignment between identical slot
    layouts), which costs a quarter of that; from then on it is an ordinary frozen verdict.
    """

    topic: str
    partition: int
    status: Status
    current_lag: int
    complete: bool
    start: OffsetPoint | None
    end: OffsetPoint | None
    lag_seconds: float | None
    owner: str | None
    client_id: str | None
    fill: float


if _VerdictBuilder.__slots__ != PartitionVerdict.__slots__:  # pragma: no cover - edit guard
    raise RuntimeError("_VerdictBuilder must declare exactly PartitionVerdict's fields, in order")

_new_object = object.__new__


def _evaluate_windows(
    windows: Iterable[PartitionWindow],
    now: float,
    allowed_lag: int,
    minimum_complete: float,
    overrides: Mapping[tuple[str, int], float | None] | None,
    stop_grace: float = 0.0,
) -> tuple[
    list[PartitionVerdict],
    Status,
    int,
    int,
    PartitionVerdict | None,
    float | None,
    tuple[PartitionWindow, PartitionVerdict] | None,
]:
    """The one hot loop: judge each window and fold the group figures in as it goes.

    Returns (verdicts, worst group-level status, total lag, full windows, max-lag verdict,
    worst lag seconds, and the window and verdict of the partition behind a status other
    than OK: worst group level, then most lag). Everything stays in locals: per-partition
    calls and re-reading the verdicts' fields were measurable at 500k partitions.
    """
    verdicts: list[PartitionVerdict] = []
    append = verdicts.append
    worst = _OK
    worst_lag = -1
    worst_at = -1
    worst_window: PartitionWindow | None = None
    total = 0
    full = 0
    max_lag: PartitionVerdict | None = None
    max_lag_value = -1
    worst_seconds: float | None = None
    first: OffsetPoint | None
    last: OffsetPoint | None
    seconds: float | None
    for w in windows:
        if overrides is not None and (w.topic, w.partition) in overrides:
            seconds = overrides[(w.topic, w.partition)]
            estimate = False
        else:
            seconds = None
            estimate = True
        committed = w.committed
        n = len(committed)
        if n:
            first = committed[0]
            last = committed[-1]
            lag = w.current_end - last.offset
            if lag < 0:
                lag = 0
            intervals = w.intervals
            if n >= intervals:
                complete = True
                fill = 1.0
                full += 1
            else:
                complete = False
                fill = n / intervals
            if lag <= allowed_lag or fill < minimum_complete:
                status = _OK
            else:
                status = _fused_status(committed, w.end_offsets, now, allowed_lag, stop_grace)
                if status is not _OK:
                    level = _ERR if status > _ERR else status
                    if level > worst or (level == worst and lag > worst_lag):
                        worst = level
                        worst_lag = lag
                        worst_at = len(verdicts)
                        worst_window = w
            if estimate:
                if lag == 0:
                    seconds = 0.0
                else:
                    seconds = lag_seconds_from_points(w.end_offsets, last.offset, now)
        else:
            first = last = None
            lag = 0
            complete = False
            fill = 0.0
            status = _OK
        v: Any = _new_object(_VerdictBuilder)
        v.topic = w.topic
        v.partition = w.partition
        v.status = status
        v.current_lag = lag
        v.complete = complete
        v.start = first
        v.end = last
        v.lag_seconds = seconds
        v.owner = w.owner
        v.client_id = w.client_id
        v.fill = fill
        v.__class__ = PartitionVerdict
        append(v)
        total += lag
        if lag > max_lag_value:
            max_lag = v
            max_lag_value = lag
        if seconds is not None and (worst_seconds is None or seconds > worst_seconds):
            worst_seconds = seconds
    culprit = None
    if worst_window is not None:
        culprit = (worst_window, verdicts[worst_at])
    return verdicts, worst, total, full, max_lag, worst_seconds, culprit


def evaluate_partition(
    window: PartitionWindow,
    now: float,
    *,
    allowed_lag: int = 0,
    minimum_complete: float = 0.0,
    lag_seconds: float | None = None,
    stop_grace: float = 0.0,
) -> PartitionVerdict:
    """Judge one partition at ``now``.

    ``minimum_complete`` is Burrow's knob: a window filled below that fraction is reported OK
    (too little history to judge). ``lag_seconds`` is the caller's better figure (a
    :class:`~kafkascope.evaluate.lag_time.LagTable` estimate or an exact record age); when
    None it is estimated from the window's own end-offset polls.
    """
    overrides = None if lag_seconds is None else {(window.topic, window.partition): lag_seconds}
    verdicts = _evaluate_windows(
        (window,), now, allowed_lag, minimum_complete, overrides, stop_grace
    )[0]
    return verdicts[0]


def evaluate_group(
    group: str,
    windows: Sequence[PartitionWindow] | None,
    now: float,
    *,
    allowed_lag: int = 0,
    minimum_complete: float = 0.0,
    lag_seconds: Mapping[tuple[str, int], float | None] | None = None,
    stop_grace: float = 0.0,
) -> GroupVerdict:
    """Judge a group from its partitions' windows (``None`` means the group is unknown).

    Unknown, or known with no partitions (e.g. all its topics were deleted) → NOTFOUND.
    ``lag_seconds`` optionally maps ``(topic, partition)`` to the caller's better figure
    (partitions not in it are estimated from their end-offset window).
    """
    if not windows:
        return GroupVerdict(group, _NOTFOUND, 1.0 if windows is None else 0.0, 0, 0, None, None, ())
    verdicts, worst, total, full, max_lag, worst_seconds, culprit = _evaluate_windows(
        windows, now, allowed_lag, minimum_complete, lag_seconds, stop_grace
    )
    count = len(verdicts)
    if culprit is None:
        return GroupVerdict(
            group, worst, full / count, count, total, max_lag, worst_seconds, tuple(verdicts)
        )
    w, v = culprit
    return GroupVerdict(
        group,
        worst,
        full / count,
        count,
        total,
        max_lag,
        worst_seconds,
        tuple(verdicts),
        v,
        explain_partition(w, v, now),
    )


# --------------------------------------------------------------------------------------
# Windows: how observations become PartitionWindows (pure, in memory, serialisable).
# --------------------------------------------------------------------------------------


def append_commit(
    committed: tuple[OffsetPoint, ...],
    point: OffsetPoint,
    intervals: int = DEFAULT_INTERVALS,
    min_distance: float = DEFAULT_MIN_DISTANCE,
) -> tuple[OffsetPoint, ...]:
    """Return the window with ``point`` added, Burrow's way.

    A commit less than ``min_distance`` seconds after the last one *replaces* it, keeping the
    earlier timestamp: the window then keeps its time span instead of being flushed by a
    fast committer, and a consumer committing more often than ``min_distance`` still moves
    the window forward once ``min_distance`` has passed since the slot was opened. A commit
    older than the last one is dropped (Burrow back-fills by ``__consumer_offsets`` order,
    which polled offsets do not have). The oldest point falls off past ``intervals``.
    """
    if committed:
        last = committed[-1]
        if point.timestamp < last.timestamp:
            return committed
        if point.timestamp - last.timestamp < min_distance:
            return (*committed[:-1], OffsetPoint(point.offset, last.timestamp, point.lag))
        if len(committed) >= intervals:
            return (*committed[len(committed) - intervals + 1 :], point)
    return (*committed, point)


def append_end_offset(
    end_offsets: tuple[EndOffset, ...],
    offset: int,
    timestamp: float,
    intervals: int = DEFAULT_INTERVALS,
) -> tuple[EndOffset, ...]:
    """Return the end-offset window with one more poll; polls older than the last are dropped."""
    if end_offsets:
        if timestamp < end_offsets[-1][1]:
            return end_offsets
        if len(end_offsets) >= intervals:
            return (*end_offsets[len(end_offsets) - intervals + 1 :], (offset, timestamp))
    return (*end_offsets, (offset, timestamp))


@dataclass(slots=True)
class _Slot:
    """Mutable per (group, topic, partition) state inside the recorder."""

    committed: tuple[OffsetPoint, ...] = ()
    owner: str | None = None
    client_id: str | None = None


_FORMAT_VERSION = 1


class WindowRecorder:
    """Keeps Burrow's windows for every group: the last ``intervals`` commits per partition
    and the last ``intervals`` end-offset polls per topic-partition (shared by all groups).

    Feed it end-offset polls and commit observations (with their observation time); ask it
    for :class:`PartitionWindow` s to evaluate. A commit is recorded only once an end offset
    is known for its partition, because its lag-at-commit must be known (Burrow drops such
    commits too). Per poll cycle, fetch committed offsets *before* end offsets (so lag is
    never understated) but record the end offsets first (so each commit's lag is measured
    against this cycle's end). ``to_dict``/``from_dict`` give a plain, JSON-ready form for
    persistence.
    """

    __slots__ = ("_ends", "_groups", "intervals", "min_distance")

    def __init__(
        self, intervals: int = DEFAULT_INTERVALS, min_distance: float = DEFAULT_MIN_DISTANCE
    ) -> None:
        if intervals < 1:
            raise ValueError(f"intervals must be at least 1, got {intervals}")
        if min_distance < 0:
            raise ValueError(f"min_distance must be >= 0 seconds, got {min_distance}")
        self.intervals = intervals
        self.min_distance = float(min_distance)
        self._ends: dict[tuple[str, int], tuple[EndOffset, ...]] = {}
        self._groups: dict[str, dict[tuple[str, int], _Slot]] = {}

    # -- observations ------------------------------------------------------------------

    def record_end_offset(self, topic: str, partition: int, offset: int, timestamp: float) -> None:
        """Record one poll of a partition's log-end offset."""
        key = (topic, partition)
        self._ends[key] = append_end_offset(
            self._ends.get(key, ()), offset, timestamp, self.intervals
        )

    def record_commit(
        self,
        group: str,
        topic: str,
        partition: int,
        offset: int,
        timestamp: float,
        *,
        owner: str | None = None,
        client_id: str | None = None,
    ) -> OffsetPoint | None:
        """Record a committed offset seen at ``timestamp``; return the stored point.

        None when dropped: no end offset known yet for the partition, or older than the last
        commit. The lag stored with the point is against the latest end offset, clamped at 0.
        """
        ends = self._ends.get((topic, partition))
        if not ends:
            return None
        lag = ends[-1][0] - offset
        point = OffsetPoint(offset, timestamp, lag if lag > 0 else 0)
        slot = self._slot(group, topic, partition)
        before = slot.committed
        slot.committed = append_commit(before, point, self.intervals, self.min_distance)
        if owner is not None:
            slot.owner = owner
        if client_id is not None:
            slot.client_id = client_id
        return None if slot.committed is before else slot.committed[-1]

    def set_owner(
        self, group: str, topic: str, partition: int, owner: str | None, client_id: str | None
    ) -> None:
        """Record which member owns a partition (creates the partition if it is new)."""
        slot = self._slot(group, topic, partition)
        slot.owner = owner
        slot.client_id = client_id

    def clear_owners(self, group: str) -> None:
        """Forget every owner of a group (it is rebalancing, or its members left)."""
        for slot in self._groups.get(group, {}).values():
            slot.owner = None
            slot.client_id = None

    def forget_group(self, group: str) -> None:
        """Drop a group entirely (deleted, or expired by retention)."""
        self._groups.pop(group, None)

    def forget_topic(self, topic: str) -> None:
        """Drop a topic everywhere: its end offsets and every group's partitions of it."""
        for key in [k for k in self._ends if k[0] == topic]:
            del self._ends[key]
        for slots in self._groups.values():
            for key in [k for k in slots if k[0] == topic]:
                del slots[key]

    def _slot(self, group: str, topic: str, partition: int) -> _Slot:
        slots = self._groups.get(group)
        if slots is None:
            slots = self._groups[group] = {}
        slot = slots.get((topic, partition))
        if slot is None:
            slot = slots[(topic, partition)] = _Slot()
        return slot

    # -- reading -----------------------------------------------------------------------

    def groups(self) -> list[str]:
        """Known group names, sorted."""
        return sorted(self._groups)

    def end_offsets(self, topic: str, partition: int) -> tuple[EndOffset, ...]:
        """The end-offset window of one topic-partition, oldest first."""
        return self._ends.get((topic, partition), ())

    def windows(self, group: str) -> tuple[PartitionWindow, ...] | None:
        """The group's partition windows sorted by (topic, partition); None if unknown.

        Without any end-offset poll for a partition its current end is taken as the last
        commit (lag 0: unknown is not reported as lag).
        """
        slots = self._groups.get(group)
        if slots is None:
            return None
        out: list[PartitionWindow] = []
        for key in sorted(slots):
            slot = slots[key]
            ends = self._ends.get(key, ())
            if ends:
                current_end = ends[-1][0]
            elif slot.committed:
                current_end = slot.committed[-1].offset
            else:
                current_end = 0
            out.append(
                PartitionWindow(
                    key[0],
                    key[1],
                    slot.committed,
                    ends,
                    current_end,
                    slot.owner,
                    slot.client_id,
                    self.intervals,
                )
            )
        return tuple(out)

    # -- persistence -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-ready state (lists and scalars only), stable order."""
        return {
            "version": _FORMAT_VERSION,
            "intervals": self.intervals,
            "min_distance": self.min_distance,
            "end_offsets": [
                {"topic": t, "partition": p, "points": [[o, ts] for o, ts in self._ends[(t, p)]]}
                for t, p in sorted(self._ends)
            ],
            "groups": [
                {
                    "group": g,
                    "partitions": [
                        {
                            "topic": t,
                            "partition": p,
                            "owner": slot.owner,
                            "client_id": slot.client_id,
                            "committed": [
                                [pt.offset, pt.timestamp, pt.lag] for pt in slot.committed
                            ],
                        }
                        for (t, p), slot in sorted(self._groups[g].items())
                    ],
                }
                for g in sorted(self._groups)
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> WindowRecorder:
        """Rebuild from :meth:`to_dict` output; raise ValueError naming what is malformed.

        Windows longer than ``intervals`` are trimmed to their newest points, so a recorder
        restored with a smaller configured window stays within bounds.
        """
        version = data.get("version")
        if version != _FORMAT_VERSION:
            raise ValueError(
                f"window state has version {version!r}; this kafkascope reads version "
                f"{_FORMAT_VERSION}: discard the saved windows (they refill in "
                f"'intervals' polls)"
            )
        try:
            rec = cls(int(data["intervals"]), float(data["min_distance"]))
            keep = rec.intervals
            for entry in data["end_offsets"]:
                points = tuple((int(o), float(ts)) for o, ts in entry["points"])
                rec._ends[(str(entry["topic"]), int(entry["partition"]))] = points[-keep:]
            for group_entry in data["groups"]:
                slots = rec._groups.setdefault(str(group_entry["group"]), {})
                for part in group_entry["partitions"]:
                    committed = tuple(
                        OffsetPoint(int(o), float(ts), int(lag)) for o, ts, lag in part["committed"]
                    )
                    slots[(str(part["topic"]), int(part["partition"]))] = _Slot(
                        committed[-keep:], part.get("owner"), part.get("client_id")
                    )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"malformed window state: {exc!r}") from exc
        return rec

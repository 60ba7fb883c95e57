"""``/api/v1/metrics/query``: how many points one answer may carry.

Without a step the store returns raw points, and 30 series over an hour came to 300,000
points (8.4 MB). So a query always has a step: the caller's, or by default the range over
:data:`DEFAULT_POINTS` (whole seconds). The cap, :data:`MAX_TOTAL_POINTS`, counts points
over all series together, since that is what the response costs. Over it, a default step
is made coarser to fit (the caller asked for no particular resolution); a step the caller
chose is refused with 422 naming both fixes, a larger step or fewer series, never
silently truncated.
"""

from __future__ import annotations

import math
from typing import Any

from kafkascope.store.history import History, Series

DEFAULT_POINTS = 500  # per series, by default: about one per pixel of a wide chart
MAX_POINTS_PER_SERIES = 11_000  # refused before reading: (to - from) / step over this
MAX_TOTAL_POINTS = 50_000  # over all series of one answer, about 1.5 MB of JSON


class TooManyPoints(ValueError):
    """The answer would exceed a cap; the message names the fix."""


def default_step(start: float, end: float) -> float:
    """About :data:`DEFAULT_POINTS` per series over [start, end], in whole seconds."""
    return float(max(1, math.ceil((end - start) / DEFAULT_POINTS)))


def run_query(
    history: History,
    name: str,
    selector: dict[str, str],
    start: float,
    end: float,
    step: float | None,
    now: float,
) -> dict[str, Any]:
    """The JSON answer, with ``step`` the step actually used and ``points`` the total."""
    chosen = step is not None
    use = step if step is not None else default_step(start, end)
    if (end - start) / use > MAX_POINTS_PER_SERIES:
        raise TooManyPoints(
            f"too many points: (to-from)/step exceeds {MAX_POINTS_PER_SERIES} per series. "
            f"Fix: use a step of at least {math.ceil((end - start) / MAX_POINTS_PER_SERIES)} s"
        )
    series = history.query(name, selector, start, end, use, now)
    total = _total(series)
    if total > MAX_TOTAL_POINTS and not chosen:
        use = float(math.ceil(use * total / MAX_TOTAL_POINTS))
        series = history.query(name, selector, start, end, use, now)
        total = _total(series)
    if total > MAX_TOTAL_POINTS:
        need = math.ceil(use * total / MAX_TOTAL_POINTS)
        raise TooManyPoints(
            f"too many points: {total} in {len(series)} series at a {use:g} s step, over "
            f"the limit of {MAX_TOTAL_POINTS} in total. Fix: give a step of at least "
            f"{need} s, or narrow 'labels' to fewer series"
        )
    return {
        "name": name,
        "from": start,
        "to": end,
        "step": use,
        "points": total,
        "series": [
            {
                "labels": s.labels,
                "resolution": s.resolution,
                "points": [[t, v] for t, v in s.points],
            }
            for s in series
        ],
    }


def _total(series: list[Series]) -> int:
    return sum(len(s.points) for s in series)

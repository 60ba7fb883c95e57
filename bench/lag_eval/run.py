"""Benchmark: one full lag-evaluation pass over 10,000 groups x 50 partitions x 10-slot windows.

Builds the windows synthetically (a deterministic mix of healthy, lagging, stopped, stalled
and rewound partitions), then times ``evaluate_group`` over every group, best of N, with
``time.perf_counter`` on one core. Memory is measured two ways: tracemalloc on a sample of
windows (exact Python allocations per window) and the RSS growth of building them all.
Prints one JSON object. See README.md in this folder for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import functools
import gc
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence

from kafkascope.evaluate.lag import (
    GroupVerdict,
    OffsetPoint,
    PartitionWindow,
    evaluate_group,
)

T0 = 1_700_000_000.0
STEP = 60.0  # seconds between commits and between end-offset polls

# Share of partitions in each shape for the default "realistic" mix: most consumers are
# caught up; a minority is behind, and a few are in each error state.
REALISTIC_MIX: dict[str, float] = {
    "caught_up": 0.80,
    "behind_ok": 0.10,
    "warn": 0.04,
    "stop": 0.03,
    "stall": 0.02,
    "rewind": 0.01,
}
# Worst case for time: every partition is behind and gaining, so every rule scans the whole
# window and lag-seconds is interpolated for every partition.
ALL_BEHIND_MIX: dict[str, float] = {"behind_ok": 1.0}
MIXES = {"realistic": REALISTIC_MIX, "all-behind": ALL_BEHIND_MIX}


# A poller stamps every partition it reads in one cycle with the same clock reading, and a
# member owns many partitions: share those objects the way a real recorder would.
OWNERS = [f"/10.0.{i}.1" for i in range(250)]


@functools.cache
def poll_times(intervals: int) -> tuple[list[float], list[float], list[float]]:
    """Commit times, the same an hour earlier (for stopped consumers), and end-poll times."""
    commits = [T0 + i * STEP for i in range(intervals)]
    return commits, [t - 3600.0 for t in commits], [t + 1.0 for t in commits]


def make_window(
    kind: str, topic: str, partition: int, base: int, intervals: int
) -> PartitionWindow:
    """One synthetic partition window of the given shape, ending at T0 + (intervals-1)*STEP."""
    recent, hour_ago, end_times = poll_times(intervals)
    # Stopped consumers: same commits, an hour older, so the silence outlasts the window.
    times = hour_ago if kind == "stop" else recent
    if kind == "caught_up":
        offsets = [base + 1000 * i for i in range(intervals)]
        lags = [0] * intervals
    elif kind == "behind_ok":
        offsets = [base + 1000 * i for i in range(intervals)]
        lags = [5000 - 100 * i for i in range(intervals)]
    elif kind in ("warn", "stop"):
        offsets = [base + 1000 * i for i in range(intervals)]
        lags = [1000 + 100 * i for i in range(intervals)]
    elif kind == "stall":
        offsets = [base] * intervals
        lags = [1000 + 100 * i for i in range(intervals)]
    elif kind == "rewind":
        offsets = [base + 1000 * i for i in range(intervals)]
        offsets[intervals // 2] = base
        lags = [1000 + 10 * i for i in range(intervals)]
    else:
        raise ValueError(f"unknown window kind {kind!r}")
    committed = tuple(
        OffsetPoint(o, t, lag) for o, t, lag in zip(offsets, times, lags, strict=True)
    )
    if kind == "stop":
        # The log kept growing after the consumer's last commit, an hour ago.
        last = offsets[-1]
        ends = tuple((last + 1000 + 100 * i, t) for i, t in enumerate(end_times))
    else:
        ends = tuple((o + lag, t) for o, lag, t in zip(offsets, lags, end_times, strict=True))
    current_end = ends[-1][0]
    owner = None if kind == "stop" else OWNERS[partition % len(OWNERS)]
    return PartitionWindow(topic, partition, committed, ends, current_end, owner, None, intervals)


def build(
    groups: int, partitions: int, intervals: int, mix: dict[str, float], seed: int
) -> list[tuple[str, tuple[PartitionWindow, ...]]]:
    """All groups' windows; each group consumes its own topic, so no end-offset window is
    shared between groups (the worst case for memory)."""
    rng = random.Random(seed)
    kinds = list(mix)
    weights = [mix[k] for k in kinds]
    out = []
    for g in range(groups):
        topic = f"topic-{g:05d}"
        chosen = rng.choices(kinds, weights, k=partitions)
        windows = tuple(
            make_window(kind, topic, p, 1_000_000 + rng.randrange(1_000_000_000), intervals)
            for p, kind in enumerate(chosen)
        )
        out.append((f"group-{g:05d}", windows))
    return out


def evaluate_all(
    data: Sequence[tuple[str, tuple[PartitionWindow, ...]]], now: float
) -> list[GroupVerdict]:
    """One full pass: every group evaluated at the same ``now``."""
    return [evaluate_group(name, windows, now) for name, windows in data]


def rss_bytes() -> int:
    """Resident set size from /proc (Linux), 0 elsewhere."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0


def traced_bytes(fn: Callable[[], object]) -> tuple[int, object]:
    """Bytes allocated and still held after ``fn()`` (its result kept alive), via tracemalloc."""
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = fn()
    gc.collect()
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return after - before, result


def measure_sample(
    groups: int, partitions: int, intervals: int, mix: dict[str, float], seed: int, now: float
) -> tuple[int, int]:
    """Bytes held by a sample's windows, and by one evaluation pass's verdicts over them."""
    window_bytes, sample = traced_bytes(lambda: build(groups, partitions, intervals, mix, seed))
    assert isinstance(sample, list)
    verdict_bytes, _ = traced_bytes(lambda: evaluate_all(sample, now))
    return window_bytes, verdict_bytes


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--partitions", type=int, default=50)
    parser.add_argument("--intervals", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--mix", choices=sorted(MIXES), default="realistic")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--sample-groups", type=int, default=200, help="groups traced for memory")
    parser.add_argument(
        "--gc",
        choices=["default", "freeze"],
        default="default",
        help="freeze: gc.freeze() the built windows before timing (no full-collection spikes)",
    )
    args = parser.parse_args(argv)
    mix = MIXES[args.mix]
    load_at_start = round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None
    now = T0 + (args.intervals - 1) * STEP + 30.0

    # Exact allocation per window (and per verdict) on a sample, with tracemalloc.
    sample_windows = args.sample_groups * args.partitions
    sample_bytes, verdict_bytes = measure_sample(
        args.sample_groups, args.partitions, args.intervals, mix, args.seed + 1, now
    )

    # Full build: RSS growth.
    gc.collect()
    rss0 = rss_bytes()
    t_build = time.perf_counter()
    data = build(args.groups, args.partitions, args.intervals, mix, args.seed)
    build_s = time.perf_counter() - t_build
    gc.collect()
    rss1 = rss_bytes()
    total = args.groups * args.partitions

    # What any process holding these windows pays now and then: one full cyclic-GC pass.
    t_gc = time.perf_counter()
    gc.collect()
    full_gc_s = time.perf_counter() - t_gc

    if args.gc == "freeze":
        # CPython's advice for big long-lived heaps: move them out of the collector's sight.
        gc.freeze()
    collections: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            collections[info["generation"]].append(time.perf_counter() - started[0])

    runs: list[float] = []
    cpu_runs: list[float] = []
    gc_runs: list[dict[str, float]] = []
    result: list[GroupVerdict] = []
    gc.callbacks.append(on_gc)
    for _ in range(args.repeat):
        result = []  # drop the previous pass's verdicts before timing the next
        for times in collections.values():
            times.clear()
        c = time.process_time()
        t = time.perf_counter()
        result = evaluate_all(data, now)
        runs.append(time.perf_counter() - t)
        cpu_runs.append(time.process_time() - c)
        gc_runs.append({f"gen{g}": round(sum(v), 3) for g, v in collections.items()})
    gc.callbacks.remove(on_gc)
    best = min(runs)

    group_counts = Counter(v.status.name for v in result)
    partition_counts = Counter(p.status.name for v in result for p in v.partitions)
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "implementation": platform.python_implementation(),
                "machine": platform.machine(),
                "mix": args.mix,
                "gc": args.gc,
                "groups": args.groups,
                "partitions_per_group": args.partitions,
                "intervals": args.intervals,
                "partitions_total": total,
                "cpus": os.cpu_count(),
                "loadavg_1m_at_start": load_at_start,
                "build_seconds": round(build_s, 3),
                "full_gc_seconds": round(full_gc_s, 3),
                "eval_seconds_best": round(best, 4),
                "eval_seconds_runs": [round(r, 4) for r in runs],
                "eval_cpu_seconds_runs": [round(r, 4) for r in cpu_runs],
                "gc_seconds_in_runs": gc_runs,
                "eval_us_per_partition": round(best / total * 1e6, 3),
                "goal_seconds": 1.0,
                "within_goal": best < 1.0,
                "window_bytes_tracemalloc": round(sample_bytes / sample_windows, 1),
                "verdict_bytes_tracemalloc": round(verdict_bytes / sample_windows, 1),
                "window_bytes_rss_delta": round((rss1 - rss0) / total, 1) if rss0 else None,
                "rss_delta_mib": round((rss1 - rss0) / 2**20, 1) if rss0 else None,
                "group_status": dict(sorted(group_counts.items())),
                "partition_status": dict(sorted(partition_counts.items())),
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

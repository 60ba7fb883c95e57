"""Metric history on a real SQLite file: rollups, resolution choice, retention."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkascope.store.db import Database
from kafkascope.store.history import History, Point

NOW = 1_800_000_000.0
L1 = (("broker", "1"), ("cluster", "c"))
L2 = (("broker", "2"), ("cluster", "c"))


@pytest.fixture
def hist(tmp_path: Path) -> Iterator[History]:
    db = Database(tmp_path / "h.db")
    yield History(db)
    db.close()


def test_raw_points_come_back_filtered_by_labels(hist: History) -> None:
    hist.append(
        [
            Point("urp", L1, NOW - 20, 0),
            Point("urp", L1, NOW - 10, 3),
            Point("urp", L2, NOW - 10, 7),
        ]
    )
    [s] = hist.query("urp", {"broker": "1"}, NOW - 60, NOW, None, NOW)
    assert (s.resolution, s.points) == ("raw", [(NOW - 20, 0.0), (NOW - 10, 3.0)])
    assert s.labels == {"broker": "1", "cluster": "c"}
    assert len(hist.query("urp", {"cluster": "c"}, NOW - 60, NOW, None, NOW)) == 2
    assert hist.query("urp", {"broker": "9"}, NOW - 60, NOW, None, NOW) == []


def test_nan_is_not_stored(hist: History) -> None:
    # A metric that is NaN (e.g. a latency with no requests yet) is not a measurement.
    assert hist.append([Point("lat", L1, NOW, float("nan"))]) == 0


def test_rollups_average_per_minute_and_are_used_for_old_ranges(hist: History) -> None:
    base = NOW - 2 * 86400 + 40  # 40 s into a minute, two days before NOW
    hist.append([Point("idle", L1, base + i * 5, float(i)) for i in range(4)])  # 0,1,2,3
    # Older than the raw retention (24 h): served from the 1-minute rollup, one averaged
    # point per minute (the first 4 points: 40 s, 45 s, 50 s, 55 s → one bucket, mean 1.5).
    [s] = hist.query("idle", None, base - 60, base + 60, 60, NOW)
    assert s.resolution == "1m"
    assert s.points == [(base - 40, 1.5)]


def test_step_buckets_raw_points(hist: History) -> None:
    hist.append([Point("m", L1, NOW - 30 + i, float(i)) for i in range(20)])
    [s] = hist.query("m", None, NOW - 60, NOW, 10, NOW)
    # 20 points one second apart starting at NOW-30 fall into two 10 s buckets.
    assert [p[1] for p in s.points] == [4.5, 14.5]


def test_retention_drops_each_resolution_at_its_own_age(hist: History) -> None:
    hist.append([Point("m", L1, NOW - 2 * 86400, 1.0), Point("m", L1, NOW - 60, 2.0)])
    deleted = hist.apply_retention(NOW)
    # The 2-day-old raw point goes (raw keeps 24 h); its rollups stay (7 and 90 days).
    assert deleted == {"samples_raw": 1, "samples_1m": 0, "samples_10m": 0}
    [s] = hist.query("m", None, NOW - 3 * 86400, NOW, 600, NOW)
    assert s.resolution == "10m" and len(s.points) == 2

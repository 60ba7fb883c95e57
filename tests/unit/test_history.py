"""Metric history on a real SQLite file: rollups, resolution choice, retention."""

from __future__ import annotations

import sqlite3
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


def test_rollups_of_separate_writes_add_up_as_one(hist: History) -> None:
    # SQLite aggregates each write's new raw rows into the rollups (GROUP BY series and
    # bucket, then upsert). Three writes into one minute must give exactly the row one
    # write of the same points gives: min 1, max 9, sum 1+9+4+2 = 16, count 4. The point at
    # 59.9 s belongs to the minute that starts at 0 s and the one at 60.0 s to the next:
    # buckets are floor(ts / 60) * 60, not rounded.
    minute = 1_800_000_000.0 - 1_800_000_000.0 % 600  # a 10-minute (and minute) boundary
    hist.append([Point("m", L1, minute + 1, 1.0), Point("m", L1, minute + 2, 9.0)])
    hist.append([Point("m", L1, minute + 30.5, 4.0)])
    hist.append([Point("m", L1, minute + 59.9, 2.0), Point("m", L1, minute + 60.0, 5.0)])
    hist.append([Point("m", L2, minute + 3, 7.0)])  # another series: a row of its own

    def rows(table: str) -> list[tuple[object, ...]]:
        return hist.db.read(
            lambda c: c.execute(
                f"SELECT s.labels, r.ts, r.min, r.max, r.sum, r.count FROM {table} r "
                "JOIN series s ON s.id = r.series_id ORDER BY s.labels, r.ts"
            ).fetchall()
        )

    b1, b2 = '[["broker","1"],["cluster","c"]]', '[["broker","2"],["cluster","c"]]'
    m = int(minute)
    assert rows("samples_1m") == [
        (b1, m, 1.0, 9.0, 16.0, 4),
        (b1, m + 60, 5.0, 5.0, 5.0, 1),
        (b2, m, 7.0, 7.0, 7.0, 1),
    ]
    # The 10-minute bucket holds all five points of series 1.
    assert rows("samples_10m") == [(b1, m, 1.0, 9.0, 21.0, 5), (b2, m, 7.0, 7.0, 7.0, 1)]


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


def fill_to_the_limit(db: Database, spare_pages: int) -> None:
    """A real "disk full": the writer's connection may grow the file by ``spare_pages``
    pages only (SQLite then fails writes with SQLITE_FULL, as on a full disk)."""
    pages = db.read(lambda c: int(c.execute("PRAGMA page_count").fetchone()[0]))
    db.write(lambda c: c.execute(f"PRAGMA max_page_count = {pages + spare_pages}"))


def no_limit(db: Database) -> None:
    db.write(lambda c: c.execute("PRAGMA max_page_count = 1073741823"))


@pytest.mark.parametrize("new_series_first", [False, True])
def test_a_disk_full_append_leaves_every_later_point_under_its_own_series(
    tmp_path: Path, new_series_first: bool
) -> None:
    """A batch whose series row was inserted but whose points did not fit is rolled back
    whole. Its series id must not outlive that rollback: after recovery the same series
    must get a real id (not a FOREIGN KEY error), and a series created in between (which
    SQLite may give the rolled-back id) must not receive the other one's points."""
    db = Database(tmp_path / "h.db")
    hist = History(db)
    try:
        hist.append([Point("urp", L1, NOW - 30, 1)])
        fill_to_the_limit(db, spare_pages=4)
        big = [Point("lag", L2, NOW - 20 + i / 10_000, float(i)) for i in range(20_000)]
        with pytest.raises(sqlite3.OperationalError, match="full"):
            hist.append(big)
        no_limit(db)

        if new_series_first:
            hist.append([Point("isr", L1, NOW - 10, 5)])
        hist.append([Point("lag", L2, NOW - 5, 42)])
        if not new_series_first:
            hist.append([Point("isr", L1, NOW - 10, 5)])

        def points(name: str, labels: tuple[tuple[str, str], ...]) -> list[tuple[float, float]]:
            return [
                p
                for s in hist.query(name, dict(labels), NOW - 60, NOW, None, NOW)
                for p in s.points
            ]

        assert points("urp", L1) == [(NOW - 30, 1.0)]
        assert points("lag", L2) == [(NOW - 5, 42.0)]
        assert points("isr", L1) == [(NOW - 10, 5.0)]
        orphans = db.read(
            lambda c: c.execute(
                "SELECT COUNT(*) FROM samples_raw WHERE series_id NOT IN (SELECT id FROM series)"
            ).fetchone()[0]
        )
        assert orphans == 0
    finally:
        db.close()

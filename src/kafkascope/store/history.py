"""Metric history: every collected metric, lag figure and verdict, as time series.

Points go to a raw table and, in the same transaction, into 1-minute and 10-minute rollups
(min/max/sum/count), so downsampling costs nothing extra and retention is a DELETE by time
per resolution (defaults: raw 24 h, 1 minute 7 days, 10 minutes 90 days). Queries pick the
finest resolution that still covers the requested range.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from kafkascope.model import Labels
from kafkascope.store.db import Database

log = logging.getLogger(__name__)


def _log_failure(fut: cf.Future[int]) -> None:
    if fut.exception() is not None:
        log.warning("history write failed: %s", fut.exception())


class Point(NamedTuple):
    """One value of one series. A tuple, not a frozen dataclass: a client poll makes one
    per client metric (72,000 for 2,000 telemetry clients; bench/telemetry)."""

    name: str
    labels: Labels
    ts: float
    value: float


@dataclass(frozen=True)
class Retention:
    """Seconds each resolution is kept; named as config's ``[retention]`` keys."""

    raw: float = 24 * 3600
    one_minute: float = 7 * 86400
    ten_minute: float = 90 * 86400


@dataclass(frozen=True)
class Series:
    name: str
    labels: dict[str, str]
    points: list[tuple[float, float]]
    resolution: str


ROLLUPS = (("samples_1m", 60), ("samples_10m", 600))


def _labels_key(labels: Labels | Mapping[str, str]) -> str:
    items = labels.items() if isinstance(labels, Mapping) else labels
    return json.dumps(sorted((str(k), str(v)) for k, v in items), separators=(",", ":"))


class History:
    """Append points, query ranges, apply retention. Writes go through the store's writer."""

    def __init__(self, db: Database, retention: Retention | None = None) -> None:
        self.db = db
        self.retention = retention or Retention()
        #: (name, labels as points carry them) -> series id, for series committed.
        self._ids: dict[tuple[str, Labels], int] = {}
        self._ids_lock = threading.Lock()

    def _series_ids(
        self, conn: sqlite3.Connection, batch: list[Point], new: dict[tuple[str, Labels], int]
    ) -> list[int]:
        """The series id of every point, creating series as needed. Known ids are looked up
        by (name, labels) as given, without encoding the labels. An id created in this
        transaction goes to ``new``, not to the cache: it is cached only once the
        transaction commits (a rolled-back series row takes its id with it, and SQLite
        may hand that id to the next series created)."""
        with self._ids_lock:
            known = self._ids
            ids = [known.get((p.name, p.labels)) for p in batch]
        out: list[int] = []
        for p, sid in zip(batch, ids, strict=True):
            if sid is None:
                key = (p.name, p.labels)
                sid = new.get(key)
                if sid is None:
                    sid = self._create(conn, p.name, _labels_key(p.labels))
                    new[key] = sid
            out.append(sid)
        return out

    @staticmethod
    def _create(conn: sqlite3.Connection, name: str, key: str) -> int:
        conn.execute("INSERT OR IGNORE INTO series (name, labels) VALUES (?, ?)", (name, key))
        row = conn.execute(
            "SELECT id FROM series WHERE name = ? AND labels = ?", (name, key)
        ).fetchone()
        return int(row[0])

    def append(self, points: Iterable[Point]) -> int:
        """Store points (NaN and infinities are skipped: they are not measurements)."""
        return self._submit(points).result(60)

    def append_later(self, points: Iterable[Point]) -> None:
        """Queue points for the writer without waiting: for callers whose own latency
        matters more than the chart (the alert job). A failed write is logged."""
        self._submit(points).add_done_callback(_log_failure)

    def _submit(self, points: Iterable[Point]) -> cf.Future[int]:
        """Queue the write; the series ids it found are cached when (and only if) it
        commits. The callback runs on the writer thread as the result is set, so the
        cache is up to date before the next write starts."""
        new: dict[tuple[str, Labels], int] = {}
        fut = self.db.submit(self._writer(points, new))

        def remember(done: cf.Future[int]) -> None:
            if not done.cancelled() and done.exception() is None:
                with self._ids_lock:
                    self._ids.update(new)

        fut.add_done_callback(remember)
        return fut

    def _writer(
        self, points: Iterable[Point], new: dict[tuple[str, Labels], int]
    ) -> Callable[[sqlite3.Connection], int]:
        batch = [p for p in points if math.isfinite(p.value)]
        if not batch:
            return lambda conn: 0

        def write(conn: sqlite3.Connection) -> int:
            new.clear()  # (a write function runs once; this keeps it honest if not)
            ids = self._series_ids(conn, batch, new)
            before = conn.execute("SELECT max(rowid) FROM samples_raw").fetchone()[0] or 0
            conn.executemany(
                "INSERT INTO samples_raw (series_id, ts, value) VALUES (?, ?, ?)",
                zip(ids, [p.ts for p in batch], [p.value for p in batch], strict=True),
            )
            # The rollups from the rows just written, aggregated by SQLite itself: one
            # statement per table instead of one upsert per point built in Python. The
            # bucket is floor(ts / width) * width, as integers (ts is never negative).
            for table, width in ROLLUPS:
                conn.execute(
                    f"INSERT INTO {table} (series_id, ts, min, max, sum, count) "
                    f"SELECT series_id, (CAST(ts AS INTEGER) / {width}) * {width}, "
                    "MIN(value), MAX(value), SUM(value), COUNT(*) FROM samples_raw "
                    "WHERE rowid > ? GROUP BY 1, 2 "
                    "ON CONFLICT (series_id, ts) DO UPDATE SET "
                    "min = MIN(min, excluded.min), max = MAX(max, excluded.max), "
                    "sum = sum + excluded.sum, count = count + excluded.count",
                    (before,),
                )
            return len(batch)

        return write

    def apply_retention(self, now: float) -> dict[str, int]:
        """Drop what is older than each resolution keeps; return rows deleted per table."""
        r = self.retention

        def write(conn: sqlite3.Connection) -> dict[str, int]:
            out = {}
            for table, keep in (
                ("samples_raw", r.raw),
                ("samples_1m", r.one_minute),
                ("samples_10m", r.ten_minute),
            ):
                out[table] = conn.execute(
                    f"DELETE FROM {table} WHERE ts < ?", (now - keep,)
                ).rowcount
            return out

        return self.db.write(write)

    def names(self) -> list[str]:
        return self.db.read(
            lambda c: [r[0] for r in c.execute("SELECT DISTINCT name FROM series ORDER BY name")]
        )

    def query(
        self,
        name: str,
        labels: Mapping[str, str] | None,
        start: float,
        end: float,
        step: float | None,
        now: float,
    ) -> list[Series]:
        """Series of ``name`` whose labels include ``labels``, over [start, end], averaged
        into ``step``-second buckets (None: raw points when available)."""
        want = dict(labels or {})
        resolution, table, width = self._resolution(start, step, now)

        def read(conn: sqlite3.Connection) -> list[Series]:
            out = []
            for sid, lab in conn.execute("SELECT id, labels FROM series WHERE name = ?", (name,)):
                ldict = dict(json.loads(lab))
                if any(ldict.get(k) != v for k, v in want.items()):
                    continue
                if table == "samples_raw":
                    rows = conn.execute(
                        "SELECT ts, value FROM samples_raw WHERE series_id = ? "
                        "AND ts BETWEEN ? AND ? ORDER BY ts",
                        (sid, start, end),
                    ).fetchall()
                else:
                    rows = conn.execute(
                        f"SELECT ts, sum / count FROM {table} WHERE "
                        "series_id = ? AND ts BETWEEN ? AND ? ORDER BY ts",
                        (sid, start - width, end),
                    ).fetchall()
                pts = _bucket(rows, step) if step else [(float(t), float(v)) for t, v in rows]
                if pts:
                    out.append(Series(name, ldict, pts, resolution))
            return out

        return self.db.read(read)

    def _resolution(self, start: float, step: float | None, now: float) -> tuple[str, str, int]:
        r = self.retention
        if (step is None or step < 60) and start >= now - r.raw:
            return "raw", "samples_raw", 0
        if (step is None or step < 600) and start >= now - r.one_minute:
            return "1m", "samples_1m", 60
        return "10m", "samples_10m", 600


def _bucket(rows: list[tuple[float, float]], step: float) -> list[tuple[float, float]]:
    """Average points into ``step``-second buckets keyed by bucket start."""
    sums: dict[float, list[float]] = {}
    for ts, v in rows:
        b = math.floor(ts / step) * step
        acc = sums.setdefault(b, [0.0, 0.0])
        acc[0] += v
        acc[1] += 1
    return [(b, s / n) for b, (s, n) in sorted(sums.items())]

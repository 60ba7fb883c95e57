"""The console's tables: rows from the live reports, filtered and sorted by query-string
parameters, so every view of a list is a permalink.

Pure functions of a report and a :class:`Query`; the pages only render what they return.
Unknown sort keys and filter values are not errors: a stale bookmark still opens, showing
the default order and saying which parameter it ignored.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from kafkascope.model import Liveness, Status
from kafkascope.monitor.clients import ClientReport
from kafkascope.monitor.lag import GroupReport, LagReport

#: Status and verdict → (icon, CSS class): colour is never the only signal, the icon and
#: the word are always shown beside it.
STATUS_LOOK: dict[str, tuple[str, str]] = {
    "OK": ("✓", "ok"),
    "ALIVE": ("✓", "ok"),
    "IDLE": ("○", "idle"),
    "NOTFOUND": ("?", "unknown"),
    "UNKNOWN": ("?", "unknown"),
    "RETIRED": ("–", "idle"),
    "WARN": ("▲", "warn"),
    "UNRESPONSIVE": ("▲", "warn"),
    "FAILING": ("▲", "warn"),
    "ERR": ("✖", "bad"),
    "STOP": ("■", "bad"),
    "STALL": ("■", "bad"),
    "REWIND": ("↺", "bad"),
    "HUNG": ("■", "bad"),
    "DEAD": ("✖", "bad"),
}

GROUP_SORTS = ("group", "status", "lag", "lag_seconds", "members", "partitions")
#: The groups table's numeric filters: query-string name -> (row column, at least?).
GROUP_BOUNDS: dict[str, tuple[str, bool]] = {
    "min_lag": ("lag", True),
    "min_lag_seconds": ("lag_seconds", True),
    "min_members": ("members", True),
    "max_members": ("members", False),
}
CLIENT_SORTS = ("client_id", "kind", "group", "liveness", "last_seen")
LIVENESS_ORDER = {
    lv: i
    for i, lv in enumerate(
        ("DEAD", "HUNG", "UNRESPONSIVE", "FAILING", "UNKNOWN", "IDLE", "ALIVE", "RETIRED")
    )
}


@dataclass(frozen=True)
class Query:
    """A list's filters and order, as read from the query string."""

    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    text: str = ""
    sort: str = ""
    desc: bool = False
    ignored: tuple[str, ...] = ()
    #: Numeric bounds (``min_lag=1000``, ``max_members=0``): each a number >= 0.
    bounds: Mapping[str, float] = field(default_factory=dict)


def parse_query(
    params: Mapping[str, str],
    *,
    filters: Mapping[str, Iterable[str]],
    sorts: Sequence[str],
    default_sort: str,
    default_desc: bool = False,
    bounds: Sequence[str] = (),
) -> Query:
    """Read ``filters`` (each a comma list of allowed values), ``bounds`` (each a number
    >= 0), ``q``, ``sort`` and ``order`` from ``params``; values not allowed are dropped
    and named in ``ignored``."""
    chosen: dict[str, frozenset[str]] = {}
    ignored: list[str] = []
    limits: dict[str, float] = {}
    for name in bounds:
        raw = params.get(name, "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if math.isfinite(value) and value >= 0:
            limits[name] = value
        else:
            ignored.append(f"{name}={raw[:40]}")
    for name, allowed_values in filters.items():
        raw = params.get(name, "")
        if not raw:
            continue
        allowed = set(allowed_values)
        wanted = {v.strip().upper() for v in raw.split(",") if v.strip()}
        bad = sorted(wanted - allowed)
        if bad:
            ignored.append(f"{name}={','.join(bad)}")
        if wanted & allowed:
            chosen[name] = frozenset(wanted & allowed)
    sort = params.get("sort", "") or default_sort
    if sort not in sorts:
        ignored.append(f"sort={sort}")
        sort = default_sort
    order = params.get("order", "")
    desc = default_desc if not order else order == "desc"
    if order and order not in ("asc", "desc"):
        ignored.append(f"order={order}")
        desc = default_desc
    return Query(chosen, params.get("q", "").strip()[:200], sort, desc, tuple(ignored), limits)


def _none_last(value: float | None, desc: bool) -> tuple[int, float]:
    """A sort key putting unknown values last in either direction."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return (1, 0.0)
    return (0, -value if desc else value)


def group_rows(lag: LagReport | None, query: Query) -> list[dict[str, Any]]:
    """One row per group: status, state, lag, lag in seconds, members, partitions."""
    rows: list[dict[str, Any]] = []
    statuses = query.filters.get("status")
    text = query.text.lower()
    for g in lag.groups.values() if lag else ():
        status = g.status.name
        if statuses and status not in statuses:
            continue
        if text and text not in g.group.lower():
            continue
        rows.append(
            {
                "group": g.group,
                "status": status,
                "severity": int(g.status),
                "state": g.state.value,
                "lag": g.verdict.total_lag,
                "lag_seconds": g.lag_seconds,
                "members": len(g.members),
                "partitions": g.verdict.partition_count,
                "reason": g.reason,
            }
        )
    rows = [r for r in rows if within(r, query.bounds)]
    return sort_rows(rows, query, numeric={"lag", "lag_seconds", "members", "partitions"})


def within(row: Mapping[str, Any], bounds: Mapping[str, float]) -> bool:
    """Does ``row`` meet every bound? An unknown value (lag seconds not known yet) meets
    none: a filter for "at least 60 s behind" must not list groups nobody can time."""
    for name, limit in bounds.items():
        column, at_least = GROUP_BOUNDS[name]
        value = row[column]
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        if (value < limit) if at_least else (value > limit):
            return False
    return True


def sort_rows(
    rows: list[dict[str, Any]],
    query: Query,
    *,
    numeric: set[str],
    rank: Mapping[str, Callable[[dict[str, Any]], float]] | None = None,
) -> list[dict[str, Any]]:
    """Sort by ``query.sort`` (ties by the first column, always ascending), unknown
    numbers last whichever the direction."""
    key = query.sort
    first = next(iter(rows[0])) if rows else key
    rows.sort(key=lambda r: str(r[first]))
    if rank and key in rank:
        by = rank[key]
        rows.sort(key=lambda r: -by(r) if query.desc else by(r))
    elif key == "status":
        rows.sort(key=lambda r: -r["severity"] if query.desc else r["severity"])
    elif key in numeric:
        rows.sort(key=lambda r: _none_last(r[key], query.desc))
    elif key != first or query.desc:
        rows.sort(key=lambda r: str(r[key] or ""), reverse=query.desc)
    return rows


def client_rows(clients: ClientReport | None, query: Query) -> list[dict[str, Any]]:
    """One row per client (JMX target + client id, or member), filtered by verdict and
    kind (and ``q`` over id, group and target)."""
    verdicts = query.filters.get("liveness")
    kinds = query.filters.get("kind")
    text = query.text.lower()
    rows: list[dict[str, Any]] = []
    for r in clients.clients if clients else ():
        if verdicts and r.liveness.value not in verdicts:
            continue
        if kinds and r.kind.upper() not in kinds:
            continue
        hay = " ".join(x or "" for x in (r.client_id, r.group, r.target, r.host)).lower()
        if text and text not in hay:
            continue
        rows.append(
            {
                "client_id": r.client_id,
                "kind": r.kind,
                "group": r.group,
                "target": r.target,
                "host": r.host,
                "member_id": r.member_id,
                "liveness": r.liveness.value,
                "reason": r.reason,
                "last_seen": r.last_seen,
                "identity": r.identity,
            }
        )
    return sort_rows(
        rows,
        query,
        numeric={"last_seen"},
        rank={"liveness": lambda r: LIVENESS_ORDER.get(r["liveness"], 99)},
    )


STATUS_VALUES = tuple(s.name for s in Status)
LIVENESS_VALUES = tuple(lv.value for lv in Liveness)
KIND_VALUES = ("CONSUMER", "PRODUCER", "UNKNOWN")


def link(base: str, params: Mapping[str, str], **change: str) -> str:
    """``base`` with ``params`` changed by ``change`` (empty values dropped): the href of a
    sort header or filter button, so the current filters survive a click."""
    merged = {**params, **change}
    kept = {k: v for k, v in merged.items() if v}
    return f"{base}?{urlencode(kept)}" if kept else base


def burrow_window(g: GroupReport) -> dict[str, Any] | None:
    """The window the verdict was judged from, for the partition that decided it: the
    worst one (as the reason names it), else the one with the most lag, else the first.

    ``commits`` are the committed offsets Burrow's rules read ([time, offset], oldest
    first) and ``ends`` the log-end offsets polled beside them: drawn together they show
    what the rules saw (a flat commit line under a rising end is STOP or STALL). None when
    the group has no partition window yet."""
    if not g.windows:
        return None
    v = g.verdict
    chosen = v.worst or v.max_lag
    by_key = {(w.topic, w.partition): w for w in g.windows}
    w = by_key.get((chosen.topic, chosen.partition)) if chosen else None
    w = w or g.windows[0]
    status = next(
        (p.status.name for p in v.partitions if (p.topic, p.partition) == (w.topic, w.partition)),
        "UNKNOWN",
    )
    return {
        "topic": w.topic,
        "partition": w.partition,
        "status": status,
        "commits": [[c.timestamp, c.offset] for c in w.committed],
        "ends": [[t, o] for o, t in w.end_offsets],
        "lags": [c.lag for c in w.committed],
        "intervals": w.intervals,
    }

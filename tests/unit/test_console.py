"""The console's pure logic: query-string filters and sorting (permalinks), sign-in
sessions, where a sign-in may send the browser, and the guard leaving /ui to the console.

Table-driven; each case says why its answer is right. The pages themselves are tested in
a real browser against a real service (tests/e2e/test_console.py).
"""

from __future__ import annotations

import pytest

from kafkascope.api.console.session import Sessions, safe_next, same_token
from kafkascope.api.console.tables import (
    GROUP_SORTS,
    STATUS_VALUES,
    Query,
    link,
    parse_query,
    sort_rows,
)
from kafkascope.api.guard import Tokens, is_console


@pytest.mark.parametrize(
    ("params", "filters", "sort", "desc", "ignored"),
    [
        # No parameters: the page's default order (status, worst first).
        ({}, {}, "status", True, ()),
        # A comma list is several values; case does not matter in a hand-typed URL.
        ({"status": "ok,Warn"}, {"status": {"OK", "WARN"}}, "status", True, ()),
        # An unknown status is dropped and named, the known one kept.
        ({"status": "OK,NOPE"}, {"status": {"OK"}}, "status", True, ("status=NOPE",)),
        # An explicit order wins over the default direction.
        ({"sort": "lag", "order": "asc"}, {}, "lag", False, ()),
        # A stale bookmark's sort key falls back to the default, saying so.
        ({"sort": "colour"}, {}, "status", True, ("sort=colour",)),
        ({"order": "sideways"}, {}, "status", True, ("order=sideways",)),
    ],
)
def test_parse_query(
    params: dict[str, str],
    filters: dict[str, set[str]],
    sort: str,
    desc: bool,
    ignored: tuple[str, ...],
) -> None:
    q = parse_query(
        params,
        filters={"status": STATUS_VALUES},
        sorts=GROUP_SORTS,
        default_sort="status",
        default_desc=True,
    )
    assert {k: set(v) for k, v in q.filters.items()} == filters
    assert (q.sort, q.desc, q.ignored) == (sort, desc, ignored)


ROWS = [
    {"group": "b", "severity": 1, "lag": 5, "lag_seconds": None},
    {"group": "a", "severity": 3, "lag": 50, "lag_seconds": 2.0},
    {"group": "c", "severity": 1, "lag": None, "lag_seconds": 9.0},
]


@pytest.mark.parametrize(
    ("sort", "desc", "order"),
    [
        # By name: plain alphabetical.
        ("group", False, ["a", "b", "c"]),
        ("group", True, ["c", "b", "a"]),
        # By lag: an unknown lag is last in both directions (it is not "0" nor "infinite").
        ("lag", False, ["b", "a", "c"]),
        ("lag", True, ["a", "b", "c"]),
        ("lag_seconds", True, ["c", "a", "b"]),
        # By status: severity, ties by name (b before c, both OK).
        ("status", True, ["a", "b", "c"]),
        ("status", False, ["b", "c", "a"]),
    ],
)
def test_sort_rows(sort: str, desc: bool, order: list[str]) -> None:
    rows = sort_rows(
        [dict(r) for r in ROWS], Query(sort=sort, desc=desc), numeric={"lag", "lag_seconds"}
    )
    assert [r["group"] for r in rows] == order


def test_link_keeps_filters_and_drops_empty_values() -> None:
    # A sort header keeps the filters in the URL (the permalink) and drops empty ones.
    assert (
        link("/ui/c/x/groups", {"status": "OK,WARN", "q": ""}, sort="lag", order="desc")
        == "/ui/c/x/groups?status=OK%2CWARN&sort=lag&order=desc"
    )
    assert link("/ui/c/x/groups", {}) == "/ui/c/x/groups"


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/c/prod/groups?status=ERR", "/ui/c/prod/groups?status=ERR"),  # inside: kept
        ("https://evil.example/", "/ui/"),  # another site: refused
        ("//evil.example/ui/", "/ui/"),  # protocol-relative: another site
        ("/api/v1/alerts", "/ui/"),  # outside the console
        ("/ui/\\evil", "/ui/"),  # backslash: some browsers read it as //
        ("/ui/x\r\nSet-Cookie: a=b", "/ui/"),  # header injection
        (None, "/ui/"),
    ],
)
def test_safe_next(target: str | None, expected: str) -> None:
    assert safe_next(target, "/ui/") == expected


def test_sessions_sign_in_expire_and_sign_out() -> None:
    now = [1000.0]
    sessions = Sessions(Tokens.of(["read-tok"], ["admin-tok"]), ttl=60, clock=lambda: now[0])
    assert sessions.required
    assert sessions.sign_in("wrong") is None
    made = sessions.sign_in("admin-tok")
    assert made is not None
    sid, s = made
    assert s.access == "admin" and "admin-tok" not in sid  # the cookie is not the token
    read = sessions.sign_in("read-tok")
    assert read is not None and read[1].access == "read"
    now[0] += 59
    assert sessions.get(sid) is s  # used within the idle time: kept, timer restarted
    now[0] += 59
    assert sessions.get(sid) is s
    now[0] += 61
    assert sessions.get(sid) is None  # idle too long
    sid2, _ = sessions.sign_in("admin-tok") or ("", None)
    sessions.sign_out(sid2)
    assert sessions.get(sid2) is None


def test_open_console_needs_no_sign_in() -> None:
    assert not Sessions(Tokens.of([], [])).required


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("x", "x", True), ("x", "y", False), ("", "", False), (None, "x", False)],
)
def test_same_token(a: str | None, b: str | None, same: bool) -> None:
    # A missing CSRF token never matches, not even another missing one.
    assert same_token(a, b) is same


@pytest.mark.parametrize(
    ("path", "console"),
    [
        ("/", True),  # a redirect to /ui/
        ("/ui", True),
        ("/ui/c/prod", True),
        ("/uix", False),  # not the console: the API's rules apply
        ("/api/v1/alerts", False),
        ("/metrics", False),
    ],
)
def test_the_guard_leaves_only_the_console_to_it(path: str, console: bool) -> None:
    assert is_console(path) is console


def test_every_chart_reads_a_series_the_service_records() -> None:
    """A chart asks history for a series by name; a name nothing records (a rename in the
    series table or the JMX catalog) would draw an empty chart forever. Each name in the
    templates must be a series the service writes (monitor/series.py) or a catalog metric
    (sources/jmx/catalog/*.yaml), which the service stores under its own name."""
    import re
    from pathlib import Path

    from kafkascope.monitor import series
    from kafkascope.sources.jmx.catalog import default_catalog

    templates = Path(series.__file__).parents[1] / "api" / "console" / "templates"
    names: set[str] = set()
    for page in templates.glob("*.html"):
        names |= set(re.findall(r'chart\("[^"]*", "([a-z_0-9]+)"', page.read_text()))
    assert len(names) >= 10, names  # the overview, broker, topic, group and client charts
    recorded = {v.name for v in vars(series).values() if isinstance(v, series.SeriesSpec)}
    catalog = default_catalog()
    for set_ in catalog.sets:
        recorded |= {m.name for _, m in set_.metrics()}
    assert sorted(names - recorded) == []


@pytest.mark.parametrize(
    ("params", "bounds", "ignored"),
    [
        # Numbers, integer or not, are kept as given.
        ({"min_lag": "1000", "max_members": "0"}, {"min_lag": 1000.0, "max_members": 0.0}, ()),
        ({"min_lag_seconds": "2.5"}, {"min_lag_seconds": 2.5}, ()),
        # An empty box (the form sends every field) is no bound, not an error.
        ({"min_lag": ""}, {}, ()),
        # Not a number, negative, or infinite: dropped and named.
        ({"min_lag": "lots"}, {}, ("min_lag=lots",)),
        ({"min_members": "-1"}, {}, ("min_members=-1",)),
        ({"min_lag": "inf"}, {}, ("min_lag=inf",)),
    ],
)
def test_parse_query_bounds(
    params: dict[str, str], bounds: dict[str, float], ignored: tuple[str, ...]
) -> None:
    from kafkascope.api.console.tables import GROUP_BOUNDS

    q = parse_query(
        params,
        filters={},
        sorts=GROUP_SORTS,
        default_sort="status",
        bounds=tuple(GROUP_BOUNDS),
    )
    assert dict(q.bounds) == bounds
    assert q.ignored == ignored


@pytest.mark.parametrize(
    ("row", "bounds", "kept"),
    [
        # At least: equal is in, below is out.
        ({"lag": 1000, "lag_seconds": 5.0, "members": 2}, {"min_lag": 1000}, True),
        ({"lag": 999, "lag_seconds": 5.0, "members": 2}, {"min_lag": 1000}, False),
        # At most: "max_members=0" lists the groups nobody consumes.
        ({"lag": 0, "lag_seconds": 0.0, "members": 0}, {"max_members": 0}, True),
        ({"lag": 0, "lag_seconds": 0.0, "members": 1}, {"max_members": 0}, False),
        # Lag seconds not known yet meets no bound (it is not "0 s behind").
        ({"lag": 10, "lag_seconds": None, "members": 1}, {"min_lag_seconds": 0}, False),
        # Every bound must hold.
        (
            {"lag": 10, "lag_seconds": 60.0, "members": 3},
            {"min_lag_seconds": 30, "min_members": 4},
            False,
        ),
        ({"lag": 10, "lag_seconds": 60.0, "members": 3}, {}, True),
    ],
)
def test_group_bounds(row: dict[str, float | None], bounds: dict[str, float], kept: bool) -> None:
    from kafkascope.api.console.tables import within

    assert within(row, bounds) is kept

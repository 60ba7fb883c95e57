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

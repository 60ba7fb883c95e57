"""Lists built once per report and served as bytes (the JSON API and the console's groups
table), and the group page's Burrow window: a real HTTP server (``HttpServer``, uvicorn)
around the real app, over the example cluster of ``test_burrow_api`` (no Kafka needed).

Reports are swapped the way the service swaps them (a new object in ``ClusterLive``), so
what is checked is what a poll between two reports and a poll after a swap each get.
"""

from __future__ import annotations

import dataclasses
import gzip
import html
import json
import re
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import pytest

from kafkascope.api import views
from kafkascope.api.backend import AlertsBackend
from kafkascope.api.console import tables
from kafkascope.api.console.tables import burrow_window
from kafkascope.api.server import HttpServer
from kafkascope.monitor.lag_report import GroupReport
from kafkascope.monitor.live import LiveState
from kafkascope.store.history import History
from tests.unit.test_burrow_api import (
    HEALTHY_WITH_DEAD_MEMBER,
    NO_COMMITS,
    NOW,
    STOPPED,
    example_live,
)


@dataclasses.dataclass
class Backend:
    """The API's backend over the example cluster; no tokens (the console then lets
    anyone in as admin, the API anyone read), no history or alerting read here."""

    live: LiveState = dataclasses.field(default_factory=example_live)
    history: History = None  # type: ignore[assignment]
    alerts: AlertsBackend | None = None
    read_tokens: Sequence[str] = ()
    admin_tokens: Sequence[str] = ()

    def health(self) -> dict[str, Any]:
        return {"status": "ok", "jobs": {}}

    def forget_client(self, cluster: str, client_id: str, target: str | None) -> list[Any]:
        return []


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[Backend, str]]:
    backend = Backend()
    http = HttpServer(backend, ("127.0.0.1", 0))
    http.start()
    try:
        yield backend, http.url
    finally:
        http.stop()


@pytest.fixture
def served(server: tuple[Backend, str]) -> tuple[Backend, str]:
    """The module's server with a fresh copy of the example state (tests swap reports)."""
    backend, url = server
    backend.live = example_live()
    live = backend.live.clusters["prod"]
    # New report objects: nothing cached by an earlier test is found again.
    live.lag = dataclasses.replace(live.lag)  # type: ignore[type-var]
    live.brokers = dataclasses.replace(live.brokers)  # type: ignore[type-var]
    return backend, url


def swap_lag(backend: Backend) -> None:
    """A new lag report, as a poll makes one (a new object; the old one is not touched)."""
    live = backend.live.clusters["prod"]
    assert live.lag is not None
    live.lag = dataclasses.replace(live.lag, taken_at=live.lag.taken_at + 10)


def test_json_lists_are_encoded_once_per_report_and_answer_304_on_a_match(
    served: tuple[Backend, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, url = served
    built: list[str] = []
    real = views.group_json

    def counted(g: GroupReport, *a: Any, **k: Any) -> dict[str, Any]:
        built.append(g.group)
        return real(g, *a, **k)

    monkeypatch.setattr(views, "group_json", counted)
    with httpx.Client(base_url=f"{url}/api/v1/clusters/prod", timeout=10) as http:
        first, second = http.get("/groups"), http.get("/groups")
        assert first.status_code == second.status_code == 200
        assert first.headers["content-type"] == "application/json"
        # httpx asks for gzip: it gets the body compressed once, decoded to the same JSON.
        assert first.headers["content-encoding"] == "gzip"
        plain = http.get("/groups", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers and plain.content == first.content
        # The same bytes, built once: three groups, each rendered one time for two GETs.
        assert first.content == second.content
        assert sorted(built) == ["audit", "billing", "fresh"]
        live = backend.live.clusters["prod"]
        assert first.json() == {
            "cluster": "prod",
            "taken_at": NOW,
            "groups": [
                real(g, live.clients, detail=True)
                for g in sorted(live.lag.groups.values(), key=lambda g: g.group)  # type: ignore[union-attr]
            ],
        }
        etag = first.headers["etag"]
        assert second.headers["etag"] == etag
        # A client holding the body is told it is unchanged, without the 3.7 MB again.
        unchanged = http.get("/groups", headers={"if-none-match": etag})
        assert (unchanged.status_code, unchanged.content) == (304, b"")
        # A swapped report is a new body, a new tag, one more build per group.
        swap_lag(backend)
        third = http.get("/groups", headers={"if-none-match": etag})
        assert third.status_code == 200 and third.headers["etag"] != etag
        assert third.json()["taken_at"] == NOW + 10
        assert len(built) == 6
        # The other lists: bytes with a tag, 304 on a match.
        for path in ("/brokers", "/topics", "/clients"):
            r = http.get(path)
            assert r.status_code == 200 and r.json()["cluster"] == "prod", path
            again = http.get(path, headers={"if-none-match": r.headers["etag"]})
            assert again.status_code == 304, path
        topics = http.get("/topics").json()["topics"]
        assert [t["name"] for t in topics] == ["orders", "payments", "__consumer_offsets"]


def test_console_groups_table_is_rendered_once_per_report_and_query(
    served: tuple[Backend, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    backend, url = served
    calls: list[str] = []
    real = tables.group_rows

    def counted(lag: Any, q: tables.Query) -> list[dict[str, Any]]:
        calls.append(q.sort)
        return real(lag, q)

    monkeypatch.setattr(tables, "group_rows", counted)
    with httpx.Client(base_url=f"{url}/ui/c/prod", timeout=10) as http:
        pages = [http.get("/groups?sort=lag&order=desc") for _ in range(3)]
        assert [p.status_code for p in pages] == [200, 200, 200]
        assert calls == ["lag"], "three requests of one query between two reports: one render"
        rows = re.findall(r'<tr data-group="([^"]+)"', pages[0].text)
        assert rows == ["billing", "audit", "fresh"]  # lag 500, 0, 0 (ties by name)
        # A live poll (htmx) of the same view reuses the same table.
        poll = http.get("/groups?sort=lag&order=desc", headers={"hx-request": "true"})
        assert re.findall(r'<tr data-group="([^"]+)"', poll.text) == rows
        assert "<html" not in poll.text and calls == ["lag"]
        # Another query is another table; a new report renders again.
        only_warn = http.get("/groups?status=WARN")  # audit: OK raised by its DEAD member
        assert re.findall(r'<tr data-group="([^"]+)"', only_warn.text) == ["audit"]
        assert calls == ["lag", "status"]
        swap_lag(backend)
        http.get("/groups?sort=lag&order=desc")
        assert calls == ["lag", "status", "lag"]


#: Table-driven over the example groups; the expected windows are the example's own
#: numbers (test_burrow_api.WINDOWS), NOW - seconds ago.
@pytest.mark.parametrize(
    ("report", "expected"),
    [
        # billing is STOP because of orders-1: its 3 commits (0, 100, 200, 68/58/48 s ago)
        # are drawn beside the one log-end poll (700, now): the gap is the stopped consumer.
        (
            STOPPED,
            {
                "topic": "orders",
                "partition": 1,
                "status": "STOP",
                "commits": [[NOW - 68, 0], [NOW - 58, 100], [NOW - 48, 200]],
                "ends": [[NOW, 700]],
                "lags": [5, 5, 5],
                "intervals": 10,
            },
        ),
        # audit is OK by Burrow's rules (no worst partition): the partition with the most
        # lag is shown, orders-0 (the only one), caught up.
        (
            HEALTHY_WITH_DEAD_MEMBER,
            {
                "topic": "orders",
                "partition": 0,
                "status": "OK",
                "commits": [[NOW - 120, 1000], [NOW - 10, 2000]],
                "ends": [[NOW, 2000]],
                "lags": [0, 0],
                "intervals": 10,
            },
        ),
        # No window at all (never committed): nothing to draw.
        (NO_COMMITS, None),
    ],
)
def test_burrow_window_is_the_deciding_partition(
    report: GroupReport, expected: dict[str, Any] | None
) -> None:
    assert burrow_window(report) == expected


def test_group_page_embeds_the_worst_partitions_window(served: tuple[Backend, str]) -> None:
    _, url = served
    page = httpx.get(f"{url}/ui/c/prod/groups/billing", timeout=10)
    assert page.status_code == 200
    found = re.search(r"<figure class=\"window\" data-window='([^']*)'", page.text)
    assert found, "the group page has a Burrow window figure"
    assert json.loads(html.unescape(found.group(1))) == burrow_window(STOPPED)
    assert "Burrow window of orders-1" in page.text
    fresh = httpx.get(f"{url}/ui/c/prod/groups/fresh", timeout=10)
    assert "No partition window yet" in fresh.text and "data-window" not in fresh.text


def test_group_bounds_are_a_permalink(served: tuple[Backend, str]) -> None:
    _, url = served
    page = httpx.get(f"{url}/ui/c/prod/groups?min_lag=100&sort=group", timeout=10)
    assert re.findall(r'<tr data-group="([^"]+)"', page.text) == ["billing"]  # lag 500
    assert 'name="min_lag" inputmode="numeric" size="8" value="100"' in page.text
    # The sort headers keep the bound, so a click does not lose the filter.
    assert "min_lag=100" in re.search(r'<th scope="col"[^>]*><a href="([^"]+)">lag', page.text)[1]  # type: ignore[index]
    bad = httpx.get(f"{url}/ui/c/prod/groups?min_lag=lots", timeout=10)
    assert "Ignored: min_lag=lots" in bad.text
    assert len(re.findall(r"<tr data-group=", bad.text)) == 3


def test_stale_banner_names_what_is_old_and_what_is_missing(
    served: tuple[Backend, str],
) -> None:
    """The example's lag report was taken long ago (2023) and it has no clients report:
    the page says both, on every page of the cluster; a fresh lag report clears that part."""
    backend, url = served
    page = httpx.get(f"{url}/ui/c/prod", timeout=10).text
    banner = re.search(r'<p class="banner warn stale"[^>]*>(.*?)</p>', page, re.S)
    assert banner, "a stale banner"
    assert re.search(r"groups and lag data is \d+ s old \(every 30 s expected\)", banner[1])
    assert "no clients report yet" in banner[1]
    live = backend.live.clusters["prod"]
    assert live.lag is not None
    live.lag = dataclasses.replace(live.lag, taken_at=time.time())
    live.brokers = dataclasses.replace(live.brokers, taken_at=time.time())  # type: ignore[type-var]
    groups = httpx.get(f"{url}/ui/c/prod/groups", timeout=10).text
    banner = re.search(r'<p class="banner warn stale"[^>]*>(.*?)</p>', groups, re.S)
    assert banner and "no clients report yet" in banner[1]
    assert "groups and lag data is" not in banner[1] and "brokers data" not in banner[1]


def test_groups_page_gzip_splices_the_cached_table(served: tuple[Backend, str]) -> None:
    """The page is one gzip stream whose middle (the table) was compressed once: it must
    decode, by a plain gzip decoder, to the very page the plain request gets."""
    _, url = served

    def unstamped(text: str) -> str:  # the "Updated HH:MM:SS" line is per request
        return re.sub(r'<p class="fresh">.*?</p>', "", text)

    with httpx.Client(base_url=f"{url}/ui/c/prod", timeout=10) as http:
        plain = http.get("/groups?sort=group&order=asc", headers={"accept-encoding": "identity"})
        assert "content-encoding" not in plain.headers
        with http.stream(
            "GET", "/groups?sort=group&order=asc", headers={"accept-encoding": "gzip"}
        ) as r:
            assert r.headers["content-encoding"] == "gzip"
            assert r.headers["content-type"].startswith("text/html")
            raw = b"".join(r.iter_raw())
    page = gzip.decompress(raw).decode("utf-8")
    assert unstamped(page) == unstamped(plain.text)
    assert re.findall(r'<tr data-group="([^"]+)"', page) == ["audit", "billing", "fresh"]
    assert "kafkascope:spliced" not in page


def test_per_report_is_by_identity_and_keeps_the_newest_entries() -> None:
    from kafkascope.api.cached import PerReport

    cache: PerReport[str] = PerReport(max_entries=2)
    report = {"taken_at": 1}
    assert cache.get("a", (report,), lambda: "built") == "built"
    assert cache.get("a", (report,), lambda: "again") == "built"  # the same object: a hit
    # An equal report that is another object is a new report (a poll makes a new one).
    assert cache.get("a", ({"taken_at": 1},), lambda: "new") == "new"
    cache.get("b", (report,), lambda: "b")
    cache.get("c", (report,), lambda: "c")  # over two entries: "a", the oldest, goes
    assert cache.get("a", ({"taken_at": 1},), lambda: "rebuilt") == "rebuilt"
    assert cache.builds == 5


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [
        ("gzip, deflate, br", True),  # a browser
        ("identity", False),
        ("gzip;q=0, identity", False),  # gzip explicitly refused
        ("*", True),  # anything goes
        (None, False),  # no header: plain
    ],
)
def test_json_bytes_gzip_only_when_accepted(accept: str | None, gzipped: bool) -> None:
    from kafkascope.api.cached import JsonBytes

    body = JsonBytes.of({"groups": ["g"] * 1000})
    assert gzip.decompress(body.gzipped or b"") == body.body
    assert (body.packed_for(accept) is not None) is gzipped
    assert body.matches(body.etag) and body.matches(f'W/{body.etag}, "other"')
    assert not body.matches('"other"') and not body.matches(None)

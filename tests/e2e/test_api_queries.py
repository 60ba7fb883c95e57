"""History queries and awkward names through the real HTTP server (issue 12, items 11, 16).

The query test serves a real SQLite history through the HTTP server part (uvicorn) with
the issue's shape: 30 series of 10,000 raw points within the last hour. The group-name
test runs ``kafkascope serve`` against the shared sandbox with a real consumer group.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from kafkascope.api.backend import AlertsBackend
from kafkascope.api.server import HttpServer
from kafkascope.monitor.live import LiveState
from kafkascope.sandbox.state import SandboxState
from kafkascope.store.db import Database
from kafkascope.store.history import History, Point
from tests.e2e.conftest import ServiceProc
from tests.integration.test_kafka_admin import commit
from tests.support import wait_until

pytestmark = pytest.mark.integration

SERIES, PER_SERIES = 30, 10_000  # the query: 300,000 points for 30 series
MANY = 120  # series of a second metric, 600 points each: more series than the cap allows


@dataclass
class HistoryOnly:
    """The API's backend with nothing but a history: live state empty, no tokens, no
    alerting (the query endpoint reads only the history)."""

    history: History
    live: LiveState = field(default_factory=LiveState)
    read_tokens: Sequence[str] = ()
    admin_tokens: Sequence[str] = ()
    alerts: AlertsBackend | None = None

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def forget_client(self, cluster: str, client_id: str, target: str | None) -> list[Any]:
        return []


@pytest.fixture(scope="module")
def history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, float]]:
    db = Database(tmp_path_factory.mktemp("hist") / "kafkascope.db")
    now = time.time()
    start = now - 3500
    history = History(db)
    history.append(
        Point("kafkascope_test_value", (("series", str(s)),), start + i * 0.35, float(i))
        for s in range(SERIES)
        for i in range(PER_SERIES)
    )
    history.append(
        Point("kafkascope_test_many", (("series", str(s)),), start + i * 5.8, 1.0)
        for s in range(MANY)
        for i in range(600)
    )
    http = HttpServer(HistoryOnly(history), ("127.0.0.1", 0))
    http.start()
    try:
        yield http.url, now
    finally:
        http.stop()
        db.close()


def total_points(body: dict[str, Any]) -> int:
    return sum(len(s["points"]) for s in body["series"])


def test_a_query_without_step_gets_a_default_step(history_server: tuple[str, float]) -> None:
    url, _ = history_server
    r = httpx.get(f"{url}/api/v1/metrics/query", params={"name": "kafkascope_test_value"})
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert len(body["series"]) == SERIES
    # Default: about 500 points per series over the range asked for (1 h -> an 8 s step).
    assert body["step"] == 8, body["step"]
    assert total_points(body) <= SERIES * 501, total_points(body)
    assert body["points"] == total_points(body)


def test_the_cap_counts_points_across_all_series(history_server: tuple[str, float]) -> None:
    url, _ = history_server
    # 30 series x 3,600 points (108,000) at a 1 s step: each series alone is under every
    # per-series limit, together they are over the total cap.
    r = httpx.get(
        f"{url}/api/v1/metrics/query", params={"name": "kafkascope_test_value", "step": 1}
    )
    assert r.status_code == 422, r.text[:300]
    error = r.json()["error"]
    assert "50000" in error and "30 series" in error, error
    assert "step" in error and "labels" in error, error  # names both ways to fix it
    # The fix it names works: one series at the same step.
    r = httpx.get(
        f"{url}/api/v1/metrics/query",
        params={"name": "kafkascope_test_value", "step": 1, "labels": "series=7"},
    )
    assert r.status_code == 200, r.text[:300]
    assert len(r.json()["series"]) == 1 and 3000 < total_points(r.json()) <= 3601


def test_a_default_step_coarsens_to_fit_many_series(history_server: tuple[str, float]) -> None:
    """Without a step the caller asked for nothing in particular: when the default step
    (8 s for 1 h) would give 120 series x 450 points, over the cap, the step is made
    coarser instead of refusing."""
    url, now = history_server
    r = httpx.get(
        f"{url}/api/v1/metrics/query",
        params={"name": "kafkascope_test_many", "from": now - 3600, "to": now},
    )
    assert r.status_code == 200, r.text[:300]
    body = r.json()
    assert len(body["series"]) == MANY
    assert body["step"] > 8 and 0 < total_points(body) <= 50_000, (body["step"], body["points"])


# -- item 16: a group name with '/' and other characters URLs treat specially ------------


def test_a_group_named_with_url_special_characters_can_be_fetched(
    sandbox: SandboxState, make_service: Callable[..., ServiceProc]
) -> None:
    group = f"team/a b/{uuid.uuid4().hex[:6]}?x=1#frag%20+&"
    commit(sandbox.bootstrap, group, {("orders", 0): 0})
    svc = make_service()

    def listed() -> bool:
        body = svc.get("/api/v1/clusters/sandbox/groups")
        return group in {g["group"] for g in body["groups"]}

    wait_until(listed, 60, f"group {group!r} in the listing")
    encoded = quote(group, safe="")
    r = httpx.get(f"{svc.url}/api/v1/clusters/sandbox/groups/{encoded}", timeout=10)
    assert r.status_code == 200, r.text[:300]
    assert r.json()["group"] == group
    # '/' left as it is (only the characters that must be are encoded) works too.
    r = httpx.get(f"{svc.url}/api/v1/clusters/sandbox/groups/{quote(group, safe='/')}")
    assert r.status_code == 200 and r.json()["group"] == group, r.text
    # An unknown name with a '/' is still a clear 404 of the API, not a routing miss.
    r = httpx.get(f"{svc.url}/api/v1/clusters/sandbox/groups/{quote('no/such', safe='')}")
    assert r.status_code == 404 and "unknown consumer group 'no/such'" in r.json()["error"]

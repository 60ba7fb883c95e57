"""Burrow's v3 API over real HTTP (issue 14, "Burrow's HTTP API").

* Through the real HTTP server (uvicorn, the service's own part) around a stand-in
  backend holding the example cluster of tests/unit/test_burrow_api.py: every endpoint's
  full answer and status code, and who may read them (the API's tokens, a token as the
  basic-auth password, and with ``burrow_unauthenticated_on_loopback`` no token from
  loopback, for Burrow's endpoints only).
* A real ``kafkascope serve`` on the session sandbox: a demo group's ``/status`` and
  ``/lag`` in Burrow's shape from live polls, and a consumer of our own killed with -9
  makes its group's ``/status`` not OK, listing exactly the partitions that are not.
"""

from __future__ import annotations

import base64
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from kafkascope.api.backend import AlertsBackend
from kafkascope.api.burrow import HOST
from kafkascope.api.server import HttpServer
from kafkascope.config import Config
from kafkascope.monitor.live import LiveState
from kafkascope.sandbox import cluster, probe
from kafkascope.sandbox.state import SandboxState
from kafkascope.store.history import History
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc
from tests.e2e.test_service import deadline_in
from tests.support import wait_until
from tests.unit.test_burrow_api import (
    ORDERS_0,
    ORDERS_1,
    PAYMENTS_0,
    example_live,
    offset,
)

pytestmark = pytest.mark.integration

READ, ADMIN = "burrow-read-token", "burrow-admin-token"
PARTITION_KEYS = {
    "topic",
    "partition",
    "owner",
    "client_id",
    "status",
    "start",
    "end",
    "current_lag",
    "complete",
}
STATUS_KEYS = {
    "cluster",
    "group",
    "status",
    "complete",
    "partitions",
    "partition_count",
    "maxlag",
    "totallag",
}
ADDED_STATUS_KEYS = {"lag_seconds", "kafkascope_status", "reason", "worst", "member_problems"}


@dataclass
class StandIn:
    """The API's backend with the example cluster and a real configuration (tokens, the
    loopback option, the cluster's bootstrap); no history or alerting is read here."""

    config: Config
    live: LiveState = field(default_factory=example_live)
    history: History = None  # type: ignore[assignment]  # not read by these endpoints
    alerts: AlertsBackend | None = None

    @property
    def read_tokens(self) -> Sequence[str]:
        return [t.reveal() for t in self.config.service.read_tokens]

    @property
    def admin_tokens(self) -> Sequence[str]:
        return [t.reveal() for t in self.config.service.admin_tokens]

    def health(self) -> dict[str, Any]:
        return {"status": "ok"}

    def forget_client(self, cluster: str, client_id: str, target: str | None) -> list[Any]:
        return []


def serve(loopback_open: bool) -> HttpServer:
    config = Config.model_validate(
        {
            "service": {
                "read_tokens": [READ],
                "admin_tokens": [ADMIN],
                "burrow_unauthenticated_on_loopback": loopback_open,
            },
            "clusters": [{"name": "prod", "bootstrap": "k1:9092,k2:9092"}],
        }
    )
    http = HttpServer(StandIn(config), ("127.0.0.1", 0))
    http.start()
    return http


@pytest.fixture(scope="module")
def closed() -> Iterator[str]:
    http = serve(loopback_open=False)
    try:
        yield http.url
    finally:
        http.stop()


@pytest.fixture(scope="module")
def loopback_open() -> Iterator[str]:
    http = serve(loopback_open=True)
    try:
        yield http.url
    finally:
        http.stop()


def get(url: str, token: str | None = READ, **kw: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.get(url, headers=headers, timeout=10, **kw)


def request(path: str, cluster: str = "", group: str = "", topic: str = "") -> dict[str, str]:
    return {"url": path, "host": HOST, "cluster": cluster, "group": group, "topic": topic}


def test_every_endpoint_answers_burrows_full_shape(closed: str) -> None:
    """The example cluster's answers, whole: messages, payloads and status codes as
    Burrow's handlers give them (httpserver/kafka.go)."""

    def answer(path: str, code: int = 200) -> Any:
        r = get(closed + path)
        assert r.status_code == code, (path, r.status_code, r.text)
        assert r.headers["content-type"] == "application/json", path
        return r.json()

    assert answer("/v3/kafka") == {
        "error": False,
        "message": "cluster list returned",
        "clusters": ["prod"],
        "request": request("/v3/kafka"),
    }
    detail = answer("/v3/kafka/prod")
    assert detail["message"] == "cluster module detail returned"
    assert detail["module"]["servers"] == ["k1:9092", "k2:9092"]
    assert detail["module"]["class-name"] == "kafka"
    assert answer("/v3/kafka/prod/consumer") == {
        "error": False,
        "message": "consumer list returned",
        "consumers": ["audit", "billing"],
        "request": request("/v3/kafka/prod/consumer", "prod"),
    }
    lag = answer("/v3/kafka/prod/consumer/billing/lag")
    assert lag["message"] == "consumer status returned" and lag["error"] is False
    assert lag["request"] == request("/v3/kafka/prod/consumer/billing/lag", "prod", "billing")
    assert {k: lag["status"][k] for k in STATUS_KEYS} == {
        "cluster": "prod",
        "group": "billing",
        "status": "ERR",
        "complete": 0.0,
        "partitions": [ORDERS_0, ORDERS_1, PAYMENTS_0],
        "partition_count": 3,
        "maxlag": ORDERS_1,
        "totallag": 500,
    }
    assert set(lag["status"]) == STATUS_KEYS | ADDED_STATUS_KEYS
    status = answer("/v3/kafka/prod/consumer/billing/status")
    assert status["status"] == {**lag["status"], "partitions": [ORDERS_1]}
    # Integers where Burrow has int64 (Go clients decode them into int64 fields).
    assert all(type(v) is int for v in lag["status"]["maxlag"]["end"].values())
    consumer = answer("/v3/kafka/prod/consumer/billing")
    assert consumer["message"] == "consumer detail returned"
    assert consumer["topics"]["orders"][1]["offsets"] == [None] * 7 + [
        offset(0, 68, 5),
        offset(100, 58, 5),
        offset(200, 48, 5),
    ]
    assert consumer["topics"]["orders"][1]["current-lag"] == 500
    assert answer("/v3/kafka/prod/topic") == {
        "error": False,
        "message": "topic list returned",
        "topics": ["__consumer_offsets", "orders", "payments"],
        "request": request("/v3/kafka/prod/topic", "prod"),
    }
    assert answer("/v3/kafka/prod/topic/orders") == {
        "error": False,
        "message": "topic offsets returned",
        "offsets": [2000, 2001, 2002],
        "request": request("/v3/kafka/prod/topic/orders", "prod", topic="orders"),
    }
    assert answer("/v3/kafka/prod/topic/orders/consumers")["consumers"] == ["audit", "billing"]

    # Not found, Burrow's way: the status of an unknown group is 404 with error false
    # and a NOTFOUND status object; the other lookups are error true with their message.
    notfound = answer("/v3/kafka/prod/consumer/fresh/status", 404)
    assert notfound["error"] is False and notfound["status"]["status"] == "NOTFOUND"
    assert notfound["status"]["complete"] == 1.0 and notfound["status"]["maxlag"] is None
    assert answer("/v3/kafka/nope/consumer/x/lag", 404)["status"]["status"] == "NOTFOUND"
    for path, message, where in [
        ("/v3/kafka/prod/consumer/fresh", "cluster or consumer not found", ("prod", "fresh", "")),
        ("/v3/kafka/nope/consumer", "cluster not found", ("nope", "", "")),
        ("/v3/kafka/nope/topic", "cluster not found", ("nope", "", "")),
        ("/v3/kafka/prod/topic/nope", "cluster or topic not found", ("prod", "", "nope")),
        ("/v3/kafka/nope", "cluster module not found", ("nope", "", "")),
    ]:
        assert answer(path, 404) == {
            "error": True,
            "message": message,
            "request": request(path, *where),
        }, path
    unknown = answer("/v3/kafka/prod/nothing/here", 404)
    assert unknown["error"] is True and unknown["message"] == "invalid request type"

    r = get(closed + "/burrow/admin", token=None)
    assert (r.status_code, r.text) == (200, "GOOD")
    r = get(closed + "/burrow/admin/ready", token=None)
    assert (r.status_code, r.text) == (200, "READY")


def test_group_ids_with_a_slash_are_served(closed: str) -> None:
    """A group id may hold '/' (as kafkascope's own API allows): sent as %2F or as is,
    the suffixed routes still win."""
    r = get(closed + "/v3/kafka/prod/consumer/a%2Fb/status")
    assert r.status_code == 404 and r.json()["status"]["group"] == "a/b"
    r = get(closed + "/v3/kafka/prod/consumer/a/b/lag")
    assert r.status_code == 404 and r.json()["status"]["group"] == "a/b"


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"telegraf:{password}".encode()).decode()}


def test_the_api_tokens_guard_burrows_endpoints(closed: str) -> None:
    """Same tokens as the rest of the API; a token as the basic-auth password (Telegraf's
    ``username``/``password``) reads too; refusals are Burrow-shaped JSON."""
    path = "/v3/kafka/prod/consumer/billing/status"
    r = get(closed + path, token=None)
    assert r.status_code == 401, r.text
    assert r.json()["error"] is True and "token" in r.json()["message"]
    assert r.json()["request"]["url"] == path
    assert get(closed + path, token="wrong").status_code == 401
    assert get(closed + path, token=READ).status_code == 200
    assert get(closed + path, token=ADMIN).status_code == 200
    assert httpx.get(closed + path, headers=basic(READ), timeout=10).status_code == 200
    assert httpx.get(closed + path, headers=basic("wrong"), timeout=10).status_code == 401
    # Reads only: Burrow's DELETE is not served; a change needs an admin token first.
    group = "/v3/kafka/prod/consumer/billing"
    assert httpx.delete(closed + group, timeout=10).status_code == 401
    assert httpx.delete(closed + group, headers=basic(ADMIN), timeout=10).status_code == 401
    admin = {"Authorization": f"Bearer {ADMIN}"}
    assert httpx.delete(closed + group, headers=admin, timeout=10).status_code == 405


def test_loopback_option_opens_burrows_reads_only(loopback_open: str) -> None:
    """With ``burrow_unauthenticated_on_loopback`` a Burrow client on this machine reads
    without a token; every other endpoint still needs one, and no change is admitted."""
    for path in ("/v3/kafka", "/v3/kafka/prod/consumer/billing/lag", "/v3/kafka/prod/topic"):
        assert get(loopback_open + path, token=None).status_code == 200, path
    for path in ("/api/v1/clusters", "/api/v1/clusters/prod/groups", "/metrics"):
        assert get(loopback_open + path, token=None).status_code == 401, path
    r = httpx.delete(loopback_open + "/v3/kafka/prod/consumer/billing", timeout=10)
    assert r.status_code == 401


# ---------------------------------------------------------------------------------------
# Against the sandbox, through a real `kafkascope serve`
# ---------------------------------------------------------------------------------------

DEMO = "payments-auditor"  # the demo's one-member group on `payments` (3 partitions)


def burrow(svc: ServiceProc, path: str) -> tuple[int, dict[str, Any]]:
    r = httpx.get(f"{svc.url}/v3/kafka/sandbox{path}", timeout=10)
    return r.status_code, r.json()


def assert_burrow_partition(p: dict[str, Any], now_ms: int) -> None:
    assert set(p) >= PARTITION_KEYS and set(p) - PARTITION_KEYS <= {"lag_seconds"}, p
    assert p["status"] in {"OK", "WARN", "STOP", "STALL", "REWIND"}, p
    assert isinstance(p["current_lag"], int) and isinstance(p["complete"], float), p
    assert p["owner"].startswith("/") or p["owner"] == "", p
    for point in (p["start"], p["end"]):
        assert set(point) == {"offset", "timestamp", "observedAt", "lag"}, point
        assert all(isinstance(v, int) for v in point.values()), point
        assert now_ms - 600_000 < point["timestamp"] <= now_ms + 1000, point


def test_live_status_and_lag_and_a_killed_consumer(
    make_service: Callable[..., ServiceProc], sandbox: SandboxState, start_client: ClientFactory
) -> None:
    """A demo group, healthy: ``/lag`` lists its 3 partitions OK with full windows,
    ``/status`` none, and the figures add up. Then a consumer of our own, killed with -9
    while its producer goes on: its group's ``/status`` turns ERR (Burrow's STOP) and lists
    exactly its partitions that are not OK; ``/lag`` still lists them all."""
    topic = f"burrow-{uuid.uuid4().hex[:6]}"
    group = f"{topic}-g"
    probe.create_topics(sandbox.bootstrap, {topic: 2}, 3, deadline_in(60))
    start_client("producer", topic, rate=20)
    consumer = start_client("consumer", topic, group=group, client_id=f"{topic}-c")
    # Short windows and stop grace, so the windows fill and Burrow's STOP comes quickly.
    svc = make_service(extra='\n[clusters.lag]\nintervals = 3\nstop_grace = "10s"\n')
    started = time.monotonic()

    def demo_full() -> dict[str, Any] | None:
        code, body = burrow(svc, f"/consumer/{DEMO}/lag")
        s = body.get("status", {})
        return body if code == 200 and s.get("complete") == 1.0 else None

    lag = wait_until(demo_full, 90, f"{DEMO}'s windows full in /lag")["status"]
    now_ms = round(time.time() * 1000)
    assert lag["cluster"] == "sandbox" and lag["group"] == DEMO
    assert lag["status"] == "OK" and lag["partition_count"] == 3, lag
    assert [(p["topic"], p["partition"]) for p in lag["partitions"]] == [
        ("payments", 0),
        ("payments", 1),
        ("payments", 2),
    ]
    for p in lag["partitions"]:
        assert_burrow_partition(p, now_ms)
        assert p["status"] == "OK" and p["complete"] == 1.0 and p["client_id"], p
    assert lag["totallag"] == sum(p["current_lag"] for p in lag["partitions"])
    assert lag["maxlag"]["current_lag"] == max(p["current_lag"] for p in lag["partitions"])
    code, status = burrow(svc, f"/consumer/{DEMO}/status")
    assert code == 200 and status["status"]["status"] == "OK", status
    assert status["status"]["partitions"] == []  # Burrow lists only partitions worse than OK
    code, detail = burrow(svc, f"/consumer/{DEMO}")
    assert code == 200 and len(detail["topics"]["payments"]) == 3, detail
    for row in detail["topics"]["payments"]:
        assert len(row["offsets"]) == 3 and None not in row["offsets"], row  # full ring
    assert DEMO in burrow(svc, "/consumer")[1]["consumers"]
    assert len(burrow(svc, "/topic/orders")[1]["offsets"]) == 6
    print(f"demo group full in /lag {time.monotonic() - started:.1f} s after start")

    def ours_ok() -> bool:
        code, body = burrow(svc, f"/consumer/{group}/lag")
        s = body.get("status", {})
        return code == 200 and s.get("status") == "OK" and s.get("partition_count") == 2

    wait_until(ours_ok, 90, f"{group} OK with both partitions in /lag")
    cluster.client_signal(Path(sandbox.dir), consumer.name, "KILL")
    killed = time.monotonic()

    def not_ok() -> dict[str, Any] | None:
        code, body = burrow(svc, f"/consumer/{group}/status")
        return body["status"] if code == 200 and body["status"]["status"] != "OK" else None

    s = wait_until(not_ok, 120, f"{group}'s /status not OK after its consumer was killed")
    print(f"{group}: {s['status']} in /status {time.monotonic() - killed:.1f} s after kill -9")
    assert s["status"] == "ERR", s  # Burrow's group level for a STOP partition
    assert s["partitions"], s
    assert all(p["status"] != "OK" for p in s["partitions"]), s
    assert s["kafkascope_status"] == "ERR" and s["worst"], s
    dead = [m for m in s["member_problems"] if m["client_id"] == f"{topic}-c"]
    assert dead and dead[0]["liveness"] == "DEAD", s["member_problems"]

    def agree() -> tuple[list[Any], list[Any]] | None:
        """/status lists exactly /lag's partitions that are not OK (read back to back;
        retried when a poll lands between the two reads)."""
        _, status = burrow(svc, f"/consumer/{group}/status")
        code, lag = burrow(svc, f"/consumer/{group}/lag")
        worse = [p for p in lag["status"]["partitions"] if p["status"] != "OK"]
        ok = code == 200 and len(lag["status"]["partitions"]) == 2  # /lag lists every one
        return (
            (status["status"]["partitions"], worse)
            if ok and worse == status["status"]["partitions"]
            else None
        )

    shown, worse = wait_until(agree, 30, "/status and /lag read from the same poll")
    assert shown == worse and shown, (shown, worse)

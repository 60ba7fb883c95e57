"""The OTLP receiver's front layer (api/telemetry.py): which requests it answers, and the
limits it keeps, through httpx's ASGI transport (the real ASGI layer and a real inbox)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from kafkascope.api.telemetry import TelemetryFront
from kafkascope.sources.telemetry_inbox import TelemetryInbox

TOKEN = "push-token"
PUSH = {
    "Authorization": f"Bearer {TOKEN}",
    "X-Kafkascope-Client-Instance-Id": "0f0f0f0f-0000-4000-8000-000000000001",
    "X-Kafkascope-Client-Id": "front-1",
}


@dataclass
class Backend:
    telemetry: dict[str, TelemetryInbox]
    read_tokens: list[str] = field(default_factory=list)
    admin_tokens: list[str] = field(default_factory=list)


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """Stands for the rest of the API: it answers 299 so a test sees who answered."""
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"app"})


def request(
    method: str, path: str, content: bytes, max_push_bytes: int = 1 << 20, max_body: int = 1 << 20
) -> httpx.Response:
    inbox = TelemetryInbox("c", tokens=[TOKEN], max_push_bytes=max_push_bytes)
    front = TelemetryFront(app, Backend({"c": inbox}), max_body)

    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=front)
        async with httpx.AsyncClient(transport=transport, base_url="http://front") as c:
            return await c.request(method, path, headers=PUSH, content=content)

    return asyncio.run(go())


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/clusters", 299),  # not the receiver's path: the app answers
        ("POST", "/v1/metricsx", 299),  # only the exact path is the receiver's
        ("GET", "/v1/metrics", 405),  # the receiver's path, but only POST is a push
        ("POST", "/v1/metrics", 200),  # an empty body is an empty OTLP request
    ],
)
def test_what_the_front_answers(method: str, path: str, status: int) -> None:
    r = request(method, path, b"")
    assert r.status_code == status, r.text


@pytest.mark.parametrize(
    ("max_push_bytes", "max_body", "names"),
    [
        # The smaller limit refuses, and the message names the setting to raise.
        (2048, 1 << 20, "max_push_bytes of c"),
        (1 << 20, 2048, "[service] max_request_body"),
    ],
)
def test_the_smaller_of_both_limits_refuses_a_push(
    max_push_bytes: int, max_body: int, names: str
) -> None:
    r = request("POST", "/v1/metrics", b"\0" * 4096, max_push_bytes, max_body)
    assert r.status_code == 413 and names in r.json()["error"], r.text
    # Under both limits the same body is read, and refused only as not OTLP.
    r = request("POST", "/v1/metrics", b"\xff" * 4096)
    assert r.status_code == 400 and "not OTLP metrics" in r.json()["error"], r.text

"""The OTLP/HTTP receiver: ``POST /v1/metrics``, where the brokers' kafkascope plugin
forwards every KIP-714 push (the contract is docs/telemetry.md).

Access is decided here from the headers, before the body is read (the guard leaves this
one path to it): a cluster's telemetry token (``[clusters.telemetry] tokens``) names the
cluster the push belongs to and may do nothing else anywhere; an admin token, or an open
API, may push while no telemetry token is configured, and then only to a single cluster.
A push larger than the cluster's ``max_push_bytes`` is refused with 413 before it is read.
The answer to a good push is an empty ``ExportMetricsServiceResponse`` (200), as OTLP/HTTP
wants; a bad one is a JSON error naming the problem (the plugin counts any non-2xx as a
send error and drops the push).

It sits in front of the whole app as a plain ASGI layer (:class:`TelemetryFront`): a push
never goes through FastAPI's routing, the guard or the Burrow layer. Pushes are the one
request that comes at fleet rate (every client, every push interval), and those layers cost
more per request than decoding a push (bench/telemetry).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from kafkascope.api.guard import (
    DEFAULT_MAX_BODY,
    TELEMETRY_PATH,
    Tokens,
    presented_token,
    reply,
    telemetry_access,
    telemetry_denial,
    too_large,
)
from kafkascope.sources.telemetry import PushError
from kafkascope.sources.telemetry_inbox import TelemetryInbox

PROTOBUF = b"application/x-protobuf"
_OK = [(b"content-type", PROTOBUF), (b"content-length", b"0")]


class TelemetryFront:
    """``POST /v1/metrics`` answered here; every other request goes on to ``app``.
    ``backend.telemetry`` maps each cluster to its inbox (a backend without it receives
    nothing: every push is answered 404)."""

    def __init__(self, app: ASGIApp, backend: Any, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.backend = backend
        self.tokens = Tokens.of(backend.read_tokens, backend.admin_tokens)
        self.max_body = max_body  # [service] max_request_body bounds pushes too

    def inboxes(self) -> Mapping[str, TelemetryInbox]:
        found: Mapping[str, TelemetryInbox] = getattr(self.backend, "telemetry", None) or {}
        return found

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != TELEMETRY_PATH:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            msg = "POST OTLP metrics (application/x-protobuf) here"
            await reply(send, 405, msg, [(b"allow", b"POST")])
            return
        refused = await self._receive(scope, receive)
        if refused is not None:
            await reply(send, *refused)
            return
        await send({"type": "http.response.start", "status": 200, "headers": _OK})
        await send({"type": "http.response.body", "body": b""})

    async def _receive(self, scope: Scope, receive: Receive) -> tuple[int, str] | None:
        """Take one push into its cluster's inbox; the status and message refusing it, or
        None when it was taken."""
        boxes = self.inboxes()
        if not boxes:
            return 404, "telemetry is not received here: no cluster is configured"
        raw: list[tuple[bytes, bytes]] = scope["headers"]
        presented = presented_token(raw)
        inbox = next((b for b in boxes.values() if telemetry_access(presented, b.tokens)), None)
        if inbox is None:
            configured = tuple(t for b in boxes.values() for t in b.tokens)
            refused = telemetry_denial(configured, self.tokens.access(presented))
            if refused is not None:
                return refused
            if len(boxes) > 1:
                return (
                    400,
                    "several clusters are monitored: give each cluster's brokers a "
                    "[clusters.telemetry] token of its own, which names the cluster",
                )
            inbox = next(iter(boxes.values()))
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw}
        limit = min(inbox.max_push_bytes, self.max_body)
        too_big = _too_large_push(inbox) if limit == inbox.max_push_bytes else too_large(limit)
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > limit:
            return 413, too_big
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return 400, "the client went away before the push was read"
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                return 413, too_big
            chunks.append(chunk)
            more = message.get("more_body", False)
        try:
            inbox.receive(headers, chunks[0] if len(chunks) == 1 else b"".join(chunks))
        except PushError as e:
            return 400, str(e)
        return None


def _too_large_push(inbox: TelemetryInbox) -> str:
    return too_large(inbox.max_push_bytes).replace(
        "[service] max_request_body", f"[clusters.telemetry] max_push_bytes of {inbox.cluster}"
    )

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
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from kafkascope.api.guard import (
    TELEMETRY_PATH,
    Tokens,
    presented_token,
    telemetry_access,
    telemetry_denial,
    too_large,
)
from kafkascope.sources.telemetry import PushError, TelemetryInbox

PROTOBUF = "application/x-protobuf"


def _error(status: int, message: str) -> JSONResponse:
    headers = {"www-authenticate": "Bearer"} if status == 401 else None
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def mount_telemetry(app: FastAPI, backend: Any) -> None:
    """Add the receiver. ``backend.telemetry`` maps each cluster to its inbox (a backend
    without it receives nothing: every push is answered 404)."""
    tokens = Tokens.of(backend.read_tokens, backend.admin_tokens)

    def inboxes() -> Mapping[str, TelemetryInbox]:
        found: Mapping[str, TelemetryInbox] = getattr(backend, "telemetry", None) or {}
        return found

    @app.post(TELEMETRY_PATH, include_in_schema=False)
    async def receive(request: Request) -> Response:
        boxes = inboxes()
        if not boxes:
            return _error(404, "telemetry is not received here: no cluster is configured")
        presented = presented_token(request.scope["headers"])
        inbox = next((b for b in boxes.values() if telemetry_access(presented, b.tokens)), None)
        if inbox is None:
            configured = tuple(t for b in boxes.values() for t in b.tokens)
            refused = telemetry_denial(configured, tokens.access(presented))
            if refused is not None:
                return _error(*refused)
            if len(boxes) > 1:
                return _error(
                    400,
                    "several clusters are monitored: give each cluster's brokers a "
                    "[clusters.telemetry] token of its own, which names the cluster",
                )
            inbox = next(iter(boxes.values()))
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > inbox.max_push_bytes:
            return _error(413, _too_large_push(inbox))
        body = await request.body()
        if len(body) > inbox.max_push_bytes:
            return _error(413, _too_large_push(inbox))
        try:
            inbox.receive(request.headers, body)
        except PushError as e:
            return _error(400, str(e))
        return Response(b"", media_type=PROTOBUF)


def _too_large_push(inbox: TelemetryInbox) -> str:
    return too_large(inbox.max_push_bytes).replace(
        "[service] max_request_body", f"[clusters.telemetry] max_push_bytes of {inbox.cluster}"
    )

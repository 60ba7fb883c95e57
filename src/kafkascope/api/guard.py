"""Who may do what, decided from the headers alone, before any of a request's body is read.

A route-level dependency runs only after FastAPI has read and parsed the body, so a 32 MB
body without a token used to be buffered in full before its 401. :class:`Guard` is an ASGI
middleware in front of the routes instead: it answers 401/403 from the headers, refuses a
body over ``max_body`` bytes with 413 (from ``Content-Length`` at once, or counted as a
chunked body arrives), and only then lets the request through.

The rule goes by method, not by a list of routes, so an endpoint added later is covered
without anyone remembering to: GET and HEAD need a read or admin token, every other
method an admin token, whenever any token is configured. With no token configured the API
is open (``serve`` allows that only on loopback or with ``allow_unauthenticated``).
Tokens are compared as bytes (the header's raw bytes against the configured token in
UTF-8) with :func:`hmac.compare_digest`, so a non-ASCII token is just a wrong or right
token, never a server error. A token in the query string is not accepted: URLs end up in
logs and browser history.

One path is different: ``POST /v1/metrics``, where the brokers' KIP-714 plugin forwards
client telemetry. It never reaches this guard: ``api/telemetry.py``'s front layer answers
it, deciding with :func:`telemetry_denial` from the headers before it reads the body: it
takes a cluster's telemetry token (``[clusters.telemetry] tokens``), which these tokens
do not know, so it is good for nothing else; an admin token (or an open API) may push too
while no telemetry token is configured.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from fastapi import HTTPException, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

Access = Literal["admin", "read", "telemetry", "none"]

DEFAULT_MAX_BODY = 1 << 20
READ_METHODS = frozenset({"GET", "HEAD"})
# Readable without a token: the health status (reduced to the status alone, see
# ``may_read``) and the API's own description.
PUBLIC_PATHS = frozenset(
    {"/api/v1/health", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
_ACCESS_KEY = "kafkascope.access"
#: The web console's path: it signs browsers in with a session cookie and decides access
#: itself (``api/console/web.py``), so the guard leaves it (and ``/``, a redirect to it)
#: alone. The body cap still applies.
CONSOLE_PREFIX = "/ui"
#: Where OTLP/HTTP metrics are posted (the OTLP convention, so any OTLP exporter fits).
TELEMETRY_PATH = "/v1/metrics"


def is_console(path: str) -> bool:
    return path == "/" or path == CONSOLE_PREFIX or path.startswith(CONSOLE_PREFIX + "/")


@dataclass(frozen=True)
class Tokens:
    """The configured API tokens, as the bytes a client must send."""

    read: tuple[bytes, ...] = ()
    admin: tuple[bytes, ...] = ()

    @classmethod
    def of(cls, read: Iterable[str], admin: Iterable[str]) -> Tokens:
        return cls(tuple(t.encode("utf-8") for t in read), tuple(t.encode("utf-8") for t in admin))

    @property
    def configured(self) -> bool:
        return bool(self.read or self.admin)

    def access(self, presented: bytes | None) -> Access:
        """What ``presented`` may do; with no token configured, everything."""
        if not self.configured:
            return "admin"
        if presented is None:
            return "none"
        if _any_equal(presented, self.admin):
            return "admin"
        if _any_equal(presented, self.read):
            return "read"
        return "none"


def _any_equal(candidate: bytes, tokens: tuple[bytes, ...]) -> bool:
    """Compare with every token (no early exit), each in constant time."""
    found = False
    for token in tokens:
        found |= hmac.compare_digest(candidate, token)
    return found


def presented_token(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The token of an ``Authorization: Bearer TOKEN`` header, as raw bytes."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, token = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and token.strip():
                return token.strip()
            return None
    return None


def denial(tokens: Tokens, method: str, path: str, access: Access) -> tuple[int, str] | None:
    """The status and message refusing this request, or None when it may go on."""
    if method in READ_METHODS:
        if access != "none" or path in PUBLIC_PATHS:
            return None
        return 401, (
            "a token is required: send 'Authorization: Bearer TOKEN' with one of the "
            "[service] read_tokens or admin_tokens"
        )
    if access == "admin":
        return None
    if not tokens.admin:
        return 403, (
            "changes are disabled: no admin token is configured. Fix: add one to "
            "[service] admin_tokens and send it as 'Authorization: Bearer TOKEN'"
        )
    if access == "read":
        return 403, "this token is read-only; an admin token ([service] admin_tokens) is required"
    return 401, (
        "an admin token is required: send 'Authorization: Bearer TOKEN' with one of the "
        "[service] admin_tokens"
    )


def telemetry_access(presented: bytes | None, telemetry: Iterable[bytes]) -> bool:
    """Whether ``presented`` is one of ``telemetry``'s tokens (each compared in constant
    time)."""
    return presented is not None and _any_equal(presented, tuple(telemetry))


def telemetry_denial(telemetry: tuple[bytes, ...], access: Access) -> tuple[int, str] | None:
    """Who may post telemetry: a telemetry token; an admin token (or an open API) only
    while no telemetry token is configured."""
    if access == "telemetry" or (access == "admin" and not telemetry):
        return None
    if telemetry:
        return 401, (
            "a telemetry token is required: send 'Authorization: Bearer TOKEN' with one of "
            "the cluster's [clusters.telemetry] tokens (the plugin's kafkascope.telemetry.token)"
        )
    if access == "read":
        return 403, "this token is read-only; pushes need a [clusters.telemetry] token"
    return 401, (
        "a token is required: configure [clusters.telemetry] tokens and give the same one "
        "to the brokers' plugin (kafkascope.telemetry.token)"
    )


def access_of(request: Request) -> Access:
    """What the guard decided this request may do ("none" when no guard ran)."""
    access: Access = request.scope.get(_ACCESS_KEY, "none")
    return access


def may_read(request: Request) -> bool:
    """Whether this request's token (or an open API) allows reading everything."""
    return access_of(request) != "none"


class BodyTooLarge(HTTPException):
    """Raised from ``receive`` once a body passes the cap. An HTTPException, so FastAPI
    re-raises it as it is (any other error while reading a body becomes a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large(limit))


def too_large(limit: int) -> str:
    return (
        f"the request body is over {limit} bytes. Fix: send less, or raise "
        "[service] max_request_body"
    )


class Guard:
    """The ASGI middleware: access from the headers, then a capped body."""

    def __init__(self, app: ASGIApp, tokens: Tokens, max_body: int = DEFAULT_MAX_BODY) -> None:
        self.app = app
        self.tokens = tokens
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        access = self.tokens.access(presented_token(headers))
        path = scope["path"]
        # The console has its own gate (sign-in, session cookie).
        refused = None if is_console(path) else denial(self.tokens, scope["method"], path, access)
        if refused is not None:
            await reply(send, *refused)
            return
        length = _content_length(headers)
        if length is not None and length > self.max_body:
            await reply(send, 413, too_large(self.max_body))
            return
        scope = {**scope, _ACCESS_KEY: access}
        limit, received, started = self.max_body, 0, False

        async def capped_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, capped_receive, tracked_send)
        except BodyTooLarge:
            if started:
                raise
            await reply(send, 413, too_large(limit))


def _content_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length before it gets here
    return None


async def reply(
    send: Send, status: int, message: str, extra: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    """A JSON error shaped like the API's others (``{"error", "status"}``), with ``extra``
    headers."""
    body = json.dumps({"error": message, "status": status}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    headers.extend(extra)
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""The API guard's and ``serve``'s pure decisions, case by case (issue 12, items 9, 10, 14).

The same rules run end to end in tests/e2e/test_api_security.py; these tables pin every
branch, each with why its answer is right.
"""

from __future__ import annotations

import pytest

from kafkascope.api.guard import Access, Tokens, denial, presented_token
from kafkascope.cli.serve import is_loopback, refuse_open_api
from kafkascope.config import Config
from kafkascope.errors import ConfigError

BOTH = Tokens.of(["r"], ["a"])
READ_ONLY = Tokens.of(["r"], [])
OPEN = Tokens()


@pytest.mark.parametrize(
    ("tokens", "presented", "access"),
    [
        (OPEN, None, "admin"),  # nothing configured: the API is open (loopback only)
        (BOTH, None, "none"),  # configured, nothing sent
        (BOTH, b"a", "admin"),
        (BOTH, b"r", "read"),
        (BOTH, b"ra", "none"),  # a concatenation is not a token
        (BOTH, b"", "none"),
        (Tokens.of([], ["tökén"]), "tökén".encode(), "admin"),  # UTF-8 bytes match
        (Tokens.of([], ["tökén"]), "tökén".encode("latin-1"), "none"),  # other bytes don't
    ],
)
def test_access_by_token(tokens: Tokens, presented: bytes | None, access: Access) -> None:
    assert tokens.access(presented) == access


@pytest.mark.parametrize(
    ("headers", "token"),
    [
        ([(b"authorization", b"Bearer abc")], b"abc"),
        ([(b"authorization", b"bearer  abc ")], b"abc"),  # the scheme is case-insensitive
        ([(b"authorization", b"Basic abc")], None),  # not a bearer token
        ([(b"authorization", b"Bearer ")], None),  # a scheme without a token
        ([(b"authorization", b"Bearer \xff\xfe")], b"\xff\xfe"),  # bytes, never decoded
        ([(b"x-token", b"abc")], None),
        ([], None),
    ],
)
def test_presented_token(headers: list[tuple[bytes, bytes]], token: bytes | None) -> None:
    assert presented_token(headers) == token


@pytest.mark.parametrize(
    ("tokens", "method", "path", "access", "status"),
    [
        (OPEN, "DELETE", "/api/v1/silences/x", "admin", None),  # open API: all allowed
        (BOTH, "GET", "/api/v1/clusters", "none", 401),
        (BOTH, "GET", "/api/v1/clusters", "read", None),
        (BOTH, "HEAD", "/metrics", "read", None),
        (BOTH, "GET", "/api/v1/health", "none", None),  # public (and then reduced)
        (BOTH, "GET", "/openapi.json", "none", None),  # the API's description is public
        (BOTH, "POST", "/api/v1/health", "none", 401),  # public is for reading only
        (BOTH, "POST", "/api/v1/silences", "read", 403),  # a read token cannot change
        (BOTH, "POST", "/api/v1/silences", "none", 401),
        (BOTH, "POST", "/api/v1/silences", "admin", None),
        (BOTH, "DELETE", "/api/v1/clusters/c/clients/x", "read", 403),  # by method, any route
        (BOTH, "OPTIONS", "/api/v1/clusters", "read", 403),  # not GET/HEAD: admin
        (READ_ONLY, "POST", "/api/v1/alerts/x/ack", "read", 403),  # no admin: no changes
        (READ_ONLY, "POST", "/api/v1/alerts/x/ack", "none", 403),
    ],
)
def test_denial(tokens: Tokens, method: str, path: str, access: Access, status: int | None) -> None:
    refused = denial(tokens, method, path, access)
    assert (refused[0] if refused else None) == status, refused


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),  # all of 127/8 is loopback
        ("::1", True),
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("localhost", True),
        ("0.0.0.0", False),  # every interface
        ("::", False),
        ("10.1.2.3", False),
        ("192.0.2.1", False),
        ("no-such-host.invalid", False),  # does not resolve: not known to be loopback
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) == loopback


def config(**service: object) -> Config:
    return Config.model_validate(
        {"service": service, "clusters": [{"name": "c", "bootstrap": "127.0.0.1:1"}]}
    )


@pytest.mark.parametrize(
    ("service", "host", "refused"),
    [
        ({}, "127.0.0.1", False),  # open, but only this machine reaches it
        ({}, "0.0.0.0", True),
        ({"allow_unauthenticated": True}, "0.0.0.0", False),  # said in as many words
        ({"admin_tokens": ["a"]}, "0.0.0.0", False),
        ({"read_tokens": ["r"]}, "10.0.0.5", False),  # reads need a token; changes refused
    ],
)
def test_refuse_open_api(service: dict[str, object], host: str, refused: bool) -> None:
    if refused:
        with pytest.raises(ConfigError, match="allow_unauthenticated = true"):
            refuse_open_api(config(**service), (host, 8321))
    else:
        refuse_open_api(config(**service), (host, 8321))

"""The API's guard against a real ``kafkascope serve`` process (issue 12, items 9, 10, 13, 14).

The service here points at a bootstrap nobody listens on: what is tested is the HTTP
guard, the config that drives it and the process's own memory, not Kafka. Raw sockets are
used where the test must control exactly how much of a body is sent.
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from kafkascope.sandbox import procs
from tests.e2e.conftest import ServiceProc
from tests.support import run_cli, wait_until

pytestmark = pytest.mark.integration

ADMIN = "adm-5c1e9f"
ADMIN_NON_ASCII = "tökén-ü"  # a configured token that is not ASCII must work, not 500
READER = "reader-77d0"
BODY_CAP = 65536


def offline_config(tmp: Path, service: str, port: int | None = None) -> Path:
    """A config whose one cluster is unreachable (nothing listens on port 1)."""
    listen = f'listen = "127.0.0.1:{port}"\n' if port else ""
    cfg = tmp / "kafkascope.toml"
    cfg.write_text(
        f'[service]\ndata_dir = "{tmp / "data"}"\n{listen}{service}\n'
        '[[clusters]]\nname = "off"\nbootstrap = "127.0.0.1:1"\n',
        encoding="utf-8",
    )
    return cfg


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProc]:
    """One ``serve`` with an admin token (one of them not ASCII), a read token and a
    64 KiB body cap."""
    tmp = tmp_path_factory.mktemp("guarded")
    cfg = offline_config(
        tmp,
        f'admin_tokens = ["{ADMIN}", "{ADMIN_NON_ASCII}"]\nread_tokens = ["{READER}"]\n'
        f"max_request_body = {BODY_CAP}\n",
    )
    svc = ServiceProc(cfg, procs.free_port(), tmp / "serve.log")
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


def bearer(token: str) -> dict[bytes, bytes]:
    """The header as the bytes a client sends (UTF-8 for a non-ASCII token)."""
    return {b"authorization": b"Bearer " + token.encode("utf-8")}


# -- item 9: the listen address and the admin rule -----------------------------------------


def test_serve_refuses_a_public_address_without_tokens(tmp_path: Path) -> None:
    cfg = offline_config(tmp_path, "")
    done = run_cli(
        "serve", "--config", str(cfg), "--listen", f"0.0.0.0:{procs.free_port()}", timeout=60
    )
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "refusing to serve the API on 0.0.0.0:" in lines[0], lines[0]
    assert "admin_tokens" in lines[0], lines[0]
    assert "allow_unauthenticated" in lines[0], lines[0]
    assert not (tmp_path / "data").exists(), "refused before anything was started"


def test_allow_unauthenticated_lets_serve_past_the_refusal(tmp_path: Path) -> None:
    """192.0.2.1 (TEST-NET-1) is not loopback and is not this machine's: with the opt-in,
    serve gets past the refusal and fails only at the bind, so nothing ever listens on a
    public interface during the test."""
    cfg = offline_config(tmp_path, "allow_unauthenticated = true")
    done = run_cli("serve", "--config", str(cfg), "--listen", "192.0.2.1:8321", timeout=60)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "could not listen on 192.0.2.1:8321" in done.stderr, done.stderr
    assert "refusing to serve" not in done.stderr, done.stderr


def test_every_non_get_route_needs_an_admin_token(guarded: ServiceProc) -> None:
    url = guarded.url
    mutating = [
        ("POST", "/api/v1/alerts/x/ack"),
        ("POST", "/api/v1/silences"),
        ("DELETE", "/api/v1/silences/x"),
        ("DELETE", "/api/v1/clusters/off/clients/some/client"),  # forget a client
        # routes that do not exist (yet): the rule is by method, not by a list of routes
        ("DELETE", "/api/v1/clients/off/some-client"),
        ("PUT", "/api/v1/silences/x"),
        ("PATCH", "/api/v1/alerts/x"),
    ]
    for method, path in mutating:
        r = httpx.request(method, url + path, timeout=10)
        assert r.status_code == 401, (method, path, r.status_code, r.text)
        assert "admin token" in r.json()["error"]
        r = httpx.request(method, url + path, headers=bearer(READER), timeout=10)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert "read-only" in r.json()["error"]
        r = httpx.request(method, url + path, headers=bearer(ADMIN), timeout=10)
        assert r.status_code in (404, 405, 422), (method, path, r.status_code, r.text)


def test_with_only_read_tokens_changes_are_refused(tmp_path: Path) -> None:
    cfg = offline_config(tmp_path, f'read_tokens = ["{READER}"]')
    svc = ServiceProc(cfg, procs.free_port(), tmp_path / "serve.log")
    svc.start()
    try:
        r = httpx.delete(f"{svc.url}/api/v1/silences/x", headers=bearer(READER), timeout=10)
        assert r.status_code == 403 and "admin_tokens" in r.json()["error"], r.text
        r = httpx.get(f"{svc.url}/api/v1/silences", headers=bearer(READER), timeout=10)
        assert r.status_code == 200, r.text
    finally:
        svc.stop()


# -- item 10: bytes, and auth before the body ----------------------------------------------


def test_non_ascii_tokens_are_compared_as_bytes(guarded: ServiceProc) -> None:
    url = f"{guarded.url}/api/v1/clusters"
    cases = [
        # (header bytes, expected status, why)
        (bearer(ADMIN_NON_ASCII), 200, "the configured non-ASCII token, sent as UTF-8"),
        (bearer("tökén-x"), 401, "another non-ASCII token"),
        ({b"authorization": b"Bearer t\xf6k\xe9n-\xfc"}, 401, "the same text in Latin-1"),
        ({b"authorization": b"Bearer \xff\xfe"}, 401, "bytes that are no UTF-8 at all"),
        (bearer(READER), 200, "the read token"),
        (bearer("wrong"), 401, "a wrong ASCII token"),
    ]
    for headers, status, why in cases:
        r = httpx.get(url, headers=headers, timeout=10)
        assert r.status_code == status, (why, r.status_code, r.text)


def raw_request(port: int, head: str, body: bytes = b"") -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(head.encode("latin-1") + b"\r\n" + body)
    return s


def status_of(s: socket.socket, timeout: float) -> int:
    """The status code of the response on ``s``, read within ``timeout`` seconds."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return int(data.split(b" ", 2)[1])


def post_head(port: int, path: str, length: int, token: str | None = None) -> str:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n{auth}"
        f"Content-Type: application/json\r\nContent-Length: {length}\r\n"
    )


def test_auth_is_checked_before_the_body_is_read(guarded: ServiceProc) -> None:
    """Only the headers and 1 KiB of a 32 MiB body are sent: an answer within seconds
    means the server did not wait for the body."""
    port = guarded.port
    s = raw_request(port, post_head(port, "/api/v1/silences", 32 << 20), b"{" * 1024)
    try:
        assert status_of(s, 5) == 401
    finally:
        s.close()


def rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_32_mib_body_without_a_token_costs_no_memory(guarded: ServiceProc) -> None:
    assert guarded.proc is not None
    pid, port = guarded.proc.pid, guarded.port
    before = rss(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], rss(pid))
            done.wait(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    body = b"x" * (32 << 20)
    started = time.monotonic()
    s = raw_request(port, post_head(port, "/api/v1/silences", len(body)))
    try:
        sent = 0
        try:
            for i in range(0, len(body), 1 << 20):
                s.sendall(body[i : i + (1 << 20)])
                sent += 1 << 20
        except OSError:
            pass  # the server may close the connection once it has answered
        status = status_of(s, 10)
    finally:
        s.close()
        elapsed = time.monotonic() - started
        done.set()
        sampler.join()
    assert status == 401
    assert elapsed < 10, elapsed
    grown = peak[0] - before
    assert grown < 8 << 20, f"RSS grew {grown / 2**20:.1f} MiB after {sent >> 20} MiB sent"


def test_bodies_over_the_cap_get_413(guarded: ServiceProc) -> None:
    port = guarded.port
    # Content-Length over the cap: refused from the headers, the body is never sent.
    s = raw_request(port, post_head(port, "/api/v1/silences", BODY_CAP + 1, ADMIN))
    try:
        assert status_of(s, 5) == 413
    finally:
        s.close()
    # A chunked body (no Content-Length) is counted as it arrives.
    head = (
        f"POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {ADMIN}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
    )
    chunk = b"%x\r\n%s\r\n" % (8192, b" " * 8192)
    s = raw_request(port, head, chunk * (BODY_CAP // 8192 + 2) + b"0\r\n\r\n")
    try:
        assert status_of(s, 5) == 413
    finally:
        s.close()
    # Under the cap the body reaches the endpoint (which validates it: 422, not 413).
    r = httpx.post(
        f"{guarded.url}/api/v1/silences",
        content=b" " * (BODY_CAP - 100) + b"{}",
        headers={**bearer(ADMIN), b"content-type": b"application/json"},
        timeout=10,
    )
    assert r.status_code == 422, r.text
    r = httpx.post(
        f"{guarded.url}/api/v1/silences",
        content=b" " * (BODY_CAP + 100) + b"{}",
        headers={**bearer(ADMIN), b"content-type": b"application/json"},
        timeout=10,
    )
    assert r.status_code == 413 and str(BODY_CAP) in r.json()["error"], r.text


# -- item 13: silences with times that are not times ---------------------------------------


def test_silence_expiry_must_be_a_real_time_within_the_cap(guarded: ServiceProc) -> None:
    url = f"{guarded.url}/api/v1/silences"
    headers = {**bearer(ADMIN), b"content-type": b"application/json"}
    now = time.time()
    matchers = '{"cluster": "off"}'
    bad = [
        # (raw JSON for expires_at / duration, why it must be refused)
        ('"expires_at": NaN', "NaN is not a time (Python's json accepts the literal)"),
        ('"expires_at": Infinity', "a silence that never ends"),
        ('"expires_at": -Infinity', "not a time"),
        ('"expires_at": 1e308', "finite, but centuries past the 366-day cap"),
        (f'"expires_at": {now + 367 * 86400}', "one day past the cap"),
        (f'"expires_at": {now - 60}', "already over: it would silence nothing"),
        ('"duration": NaN', "NaN seconds"),
        ('"duration": Infinity', "forever"),
    ]
    for field, why in bad:
        r = httpx.post(url, content=f'{{"matchers": {matchers}, {field}}}', headers=headers)
        assert r.status_code == 422, (why, r.status_code, r.text)
        assert ("expires_at" in r.text) or ("duration" in r.text), (why, r.text)
    good = json.dumps({"matchers": {"cluster": "off"}, "expires_at": now + 3600})
    r = httpx.post(url, content=good, headers=headers, timeout=10)
    assert r.status_code == 201, r.text
    assert math.isclose(r.json()["expires_at"], now + 3600)


# -- item 14: no token in the query string, a bare health ----------------------------------


def test_a_token_in_the_query_string_is_not_accepted(guarded: ServiceProc) -> None:
    r = httpx.get(f"{guarded.url}/api/v1/clusters?token={ADMIN}", timeout=10)
    assert r.status_code == 401, r.text


def test_health_without_a_token_says_only_the_status(guarded: ServiceProc) -> None:
    def degraded() -> dict[str, object] | None:
        body = httpx.get(f"{guarded.url}/api/v1/health", headers=bearer(READER)).json()
        return body if body["status"] == "degraded" else None

    full = wait_until(degraded, 60, "the unreachable cluster's job to fail")
    assert "127.0.0.1:1" in json.dumps(full), "the token holder sees the job errors"
    for headers in ({}, bearer("wrong")):
        r = httpx.get(f"{guarded.url}/api/v1/health", headers=headers, timeout=10)
        assert r.status_code == 200
        assert r.json() == {"status": "degraded"}, r.text

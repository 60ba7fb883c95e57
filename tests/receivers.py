"""Real notification receivers on loopback, for tests: an HTTP server that records what it
is sent (webhook and Slack formats) and an SMTP server (aiosmtpd), with STARTTLS or implicit
TLS and AUTH when asked. The fixtures are registered for every test module by
``tests/conftest.py``."""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from kafkascope.sandbox.procs import free_port

SMTP_USER = "alerts"
SMTP_PASSWORD = "smtp-pw-8d1e77"


# ------------------------------------------------------------------ an HTTP receiver


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class HttpReceiver:
    """A real HTTP server on loopback. ``replies`` is consumed one per request (then 200
    ``ok``); ``hold`` makes it accept a request and not answer until released."""

    port: int
    requests: list[Request] = field(default_factory=list)
    replies: list[tuple[int, str]] = field(default_factory=list)
    hold: bool = False
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r.json() for r in self.requests]


@pytest.fixture
def start_http() -> Iterator[Any]:
    servers: list[tuple[ThreadingHTTPServer, threading.Thread, HttpReceiver]] = []

    def start(port: int | None = None) -> HttpReceiver:
        receiver = HttpReceiver(port=port or free_port())

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.requests.append(Request(self.path, dict(self.headers), body))
                    status, text = receiver.replies.pop(0) if receiver.replies else (200, "ok")
                if receiver.hold:
                    receiver.release.wait(30)
                data = text.replace("{auth}", self.headers.get("Authorization", "")).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", receiver.port), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread, receiver))
        return receiver

    yield start
    for server, thread, receiver in servers:
        receiver.release.set()
        server.shutdown()
        server.server_close()
        thread.join(10)


# ------------------------------------------------------------------ an SMTP receiver


@dataclass
class Inbox:
    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content
        assert isinstance(raw, bytes)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        self.messages.append((str(envelope.mail_from), list(envelope.rcpt_tos), msg))
        return "250 2.0.0 OK queued as kafkascope-test-1"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and data.login == SMTP_USER.encode()
            and data.password == SMTP_PASSWORD.encode()
        )
        if ok:
            self.logins.append(SMTP_USER)
        return AuthResult(success=ok, handled=False)  # False: the server answers 535


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox
    client_tls: ssl.SSLContext | None


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made now with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed: cannot make a test certificate for STARTTLS")
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
def start_smtp(tls_files: tuple[Path, Path]) -> Iterator[Any]:
    controllers: list[Controller] = []

    def start(*, tls: bool = False, implicit_tls: bool = False, auth: bool = False) -> SmtpServer:
        """``tls``: STARTTLS offered and required; ``implicit_tls``: TLS from the first
        byte (SMTPS, as on port 465)."""
        inbox = Inbox()
        kwargs: dict[str, Any] = {}
        client_tls = None
        if tls or implicit_tls:
            cert, key = tls_files
            server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            server_ctx.load_cert_chain(cert, key)
            if implicit_tls:
                kwargs.update(ssl_context=server_ctx)
            else:
                kwargs.update(tls_context=server_ctx, require_starttls=True)
            client_tls = ssl.create_default_context(cafile=str(cert))
        if auth and implicit_tls:
            # aiosmtpd counts only STARTTLS as TLS when deciding to offer AUTH; with implicit
            # TLS the whole connection is encrypted, so offer it outright. (Requiring AUTH
            # as well would make aiosmtpd warn; the test checks inbox.logins instead.)
            kwargs.update(authenticator=inbox.authenticate, auth_require_tls=False)
        elif auth:
            kwargs.update(authenticator=inbox.authenticate, auth_required=True)
        port = free_port()
        controller = Controller(inbox, hostname="127.0.0.1", port=port, **kwargs)
        controller.start()
        controllers.append(controller)
        return SmtpServer(port, inbox, client_tls)

    yield start
    for c in controllers:
        c.stop()

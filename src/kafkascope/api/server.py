"""The HTTP server as a service part: uvicorn on its own thread, started after the
monitors and stopped before them.

``start()`` returns once the socket listens, or raises naming the address and the fix
(the service then stops every part it had started). uvicorn installs no signal handlers
off the main thread, so SIGTERM and SIGINT stay the program's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import Any

import uvicorn

from kafkascope.api.app import create_app
from kafkascope.api.backend import Backend
from kafkascope.api.guard import DEFAULT_MAX_BODY
from kafkascope.api.telemetry import TelemetryFront
from kafkascope.errors import KafkascopeError


class HttpServer:
    """``create_app(backend)`` served on ``listen`` (host, port; port 0: any free one),
    with request bodies capped at ``max_body`` bytes."""

    name = "http"

    def __init__(
        self,
        backend: Backend,
        listen: tuple[str, int],
        *,
        wait: float = 15.0,
        max_body: int = DEFAULT_MAX_BODY,
    ) -> None:
        self.backend = backend
        self.listen = listen
        self.wait = wait
        self.max_body = max_body
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        host, port = self.listen
        # POST /v1/metrics (KIP-714 pushes) is answered in front of the app: api/telemetry.py.
        app = TelemetryFront(
            create_app(self.backend, max_body=self.max_body), self.backend, self.max_body
        )
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=self._run, args=(server,), name="http", daemon=True)
        self._server, self._thread = server, thread
        thread.start()
        deadline = time.monotonic() + self.wait
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise KafkascopeError(
                    f"the HTTP server could not listen on {host}:{port}. Fix: free "
                    "the port or pass another --listen HOST:PORT"
                )
            time.sleep(0.05)

    def _run(self, server: uvicorn.Server) -> None:
        """uvicorn ends a failed bind with ``SystemExit``: it ends this thread, quietly,
        and ``start()`` reports it (the error itself is already in the log)."""
        with contextlib.suppress(SystemExit):
            server.run()

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is not None:
            server.should_exit = True
        if thread is not None:
            thread.join(10)

    @property
    def url(self) -> str:
        """Where it serves: the bound address once started (port 0 resolved)."""
        host, port = self.listen
        server: Any = self._server
        if server is not None and server.started and server.servers:
            host, port = server.servers[0].sockets[0].getsockname()[:2]
        return f"http://{host}:{port}"

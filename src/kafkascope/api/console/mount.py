"""The console put together: its own app (session gate, gzip, error pages, assets) with
the pages registered on it, mounted under ``/ui``. Apart from ``web`` (rendering and
sessions) and ``pages`` (the routes), so that neither has to import the other."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.gzip import GZipMiddleware

from kafkascope.api.console import pages
from kafkascope.api.console.session import Sessions
from kafkascope.api.console.web import (
    HERE,
    MEDIA,
    OWN_FILES,
    VENDOR_FILES,
    Redirect,
    Renderer,
    Viewer,
    make_gate,
    vendor_dir,
)
from kafkascope.api.guard import CONSOLE_PREFIX, Tokens

if TYPE_CHECKING:
    from kafkascope.api.backend import Backend


def console_app(backend: Backend) -> FastAPI:
    """The console as an app of its own, mounted under ``/ui`` by :func:`mount_console`."""
    sessions = Sessions(Tokens.of(backend.read_tokens, backend.admin_tokens))
    gate = make_gate(sessions)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, dependencies=[Depends(gate)])
    app.add_middleware(GZipMiddleware, minimum_size=1024)
    renderer = Renderer()

    @app.exception_handler(Redirect)
    async def to_signin(request: Request, exc: Redirect) -> Response:
        return RedirectResponse(exc.location, status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def refused(request: Request, exc: StarletteHTTPException) -> Response:
        if not hasattr(request.state, "viewer"):
            request.state.viewer = Viewer("none", "", False)
        return renderer.page(
            request,
            "error.html",
            {"status": exc.status_code, "message": exc.detail},
            status=exc.status_code,
        )

    @app.get("/assets/{name}")
    def asset(name: str) -> Response:
        if name in VENDOR_FILES:
            pkg, rel = VENDOR_FILES[name]
            path = vendor_dir() / pkg / rel
        elif name in OWN_FILES:
            path = HERE / "static" / name
        else:
            raise HTTPException(404, f"no asset '{name}'")
        if not path.is_file():
            raise HTTPException(
                503, f"console asset {name} is not built. Fix: run 'make setup' (npm fetches it)"
            )
        return Response(
            path.read_bytes(),
            media_type=MEDIA[path.suffix],
            headers={"cache-control": "max-age=3600", "x-content-type-options": "nosniff"},
        )

    pages.register(app, backend, sessions, renderer)
    return app


def mount_console(app: FastAPI, backend: Backend) -> None:
    """Serve the console under ``/ui`` of ``app``, and send ``/`` there."""

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse(f"{CONSOLE_PREFIX}/", status_code=307)

    app.mount(CONSOLE_PREFIX, console_app(backend))

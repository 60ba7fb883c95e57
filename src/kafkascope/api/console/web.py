"""The console's app: the gate every route passes, templates, assets, and the mount.

The console is a sub-app under ``/ui`` (``/`` redirects there) of the API's app, so it
shares its listen address and its tokens. The API's :class:`~kafkascope.api.guard.Guard`
leaves ``/ui`` to the console (a browser sends a cookie there, not a bearer header), and
the console's own gate, :func:`gate`, is an app-wide dependency: a route added later is
covered without anyone remembering to. It signs in (a session cookie), refuses every
method but GET/HEAD without an admin session (sign-in and sign-out aside), and checks a
CSRF token and the ``Origin`` on every POST.
"""

from __future__ import annotations

import os
import secrets
import struct
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

import jinja2
from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from kafkascope.api.console import tables
from kafkascope.api.console.session import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    Session,
    Sessions,
    same_token,
)
from kafkascope.api.guard import CONSOLE_PREFIX, Access

if TYPE_CHECKING:
    pass

HERE = Path(__file__).resolve().parent
#: Where ``make setup`` puts the npm packages (git-ignored); KAFKASCOPE_CONSOLE_ASSETS
#: points elsewhere (an installed copy, an air-gapped mirror).
DEFAULT_VENDOR = HERE.parents[3] / "build" / "console-assets" / "node_modules"
VENDOR_FILES = {
    "htmx.min.js": ("htmx.org", "dist/htmx.min.js"),
    "uPlot.iife.min.js": ("uplot", "dist/uPlot.iife.min.js"),
    "uPlot.min.css": ("uplot", "dist/uPlot.min.css"),
}
OWN_FILES = ("console.js", "console.css")
PUBLIC = ("/signin", "/assets/")
MEDIA = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


def vendor_dir() -> Path:
    return Path(os.environ.get("KAFKASCOPE_CONSOLE_ASSETS") or DEFAULT_VENDOR)


def missing_assets() -> list[str]:
    """The npm files that are not there (the console says so instead of failing)."""
    root = vendor_dir()
    return [name for name, (pkg, rel) in VENDOR_FILES.items() if not (root / pkg / rel).is_file()]


@dataclass
class Viewer:
    """Who is looking: what they may do, their CSRF token, whether they signed in."""

    access: Access
    csrf: str
    signed_in: bool
    new_csrf_cookie: bool = False

    @property
    def admin(self) -> bool:
        return self.access == "admin"


class Redirect(Exception):
    """Raised by the gate to send a browser to the sign-in page."""

    def __init__(self, location: str) -> None:
        self.location = location


def sub_path(request: Request) -> str:
    """The path inside the console (``/groups``), whatever the mount."""
    path = request.url.path
    return path[len(CONSOLE_PREFIX) :] if path.startswith(CONSOLE_PREFIX) else path


def expected_origin(request: Request) -> str:
    host = request.headers.get("host", "")
    return f"{request.url.scheme}://{host}"


def form_of(body: bytes) -> dict[str, str]:
    """An urlencoded form (the console posts nothing else; no multipart)."""
    try:
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=50))
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "the form could not be read as UTF-8 urlencoded") from None


def make_gate(sessions: Sessions) -> Any:
    async def gate(request: Request) -> Viewer:
        """Sign-in, access and CSRF for every console route (an app-wide dependency)."""
        path = sub_path(request)
        public = any(path.startswith(p) for p in PUBLIC)
        session: Session | None = sessions.get(request.cookies.get(SESSION_COOKIE))
        cookie_csrf = request.cookies.get(CSRF_COOKIE)
        if session is not None:
            viewer = Viewer(session.access, session.csrf, True)
        elif not sessions.required:
            viewer = Viewer("admin", cookie_csrf or "", False)
        else:
            viewer = Viewer("none", cookie_csrf or "", False)
        if not viewer.csrf:
            viewer.csrf, viewer.new_csrf_cookie = secrets.token_urlsafe(24), True
        request.state.viewer = viewer
        if viewer.access == "none" and not public:
            if request.method in ("GET", "HEAD"):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                raise Redirect(f"{CONSOLE_PREFIX}/signin?next={quote(target, safe='')}")
            raise HTTPException(401, "sign in first")
        if request.method in ("GET", "HEAD"):
            return viewer
        origin = request.headers.get("origin")
        if origin is not None and origin != expected_origin(request):
            raise HTTPException(403, "cross-site request refused (Origin does not match)")
        form = form_of(await request.body())
        request.state.form = form
        presented = request.headers.get(CSRF_HEADER) or form.get("csrf")
        if not same_token(presented, viewer.csrf if not viewer.new_csrf_cookie else None):
            raise HTTPException(403, "the form expired or came from elsewhere: reload the page")
        if path not in ("/signin", "/signout") and not viewer.admin:
            raise HTTPException(403, "an admin token is required for this")
        return viewer

    return gate


class Renderer:
    """Jinja2 templates (autoescaped); a request from htmx gets the ``live`` block only."""

    def __init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.globals.update(look=tables.STATUS_LOOK, link=tables.link, prefix=CONSOLE_PREFIX)
        self.env.filters.update(ago=ago, num=num, secs=secs, clock=clock)
        # The macros are globals, so a page's ``live`` block renders on its own too.
        macros = self.env.get_template("_macros.html").make_module()
        for name in ("badge", "th", "chart", "ranges_nav"):
            self.env.globals[name] = getattr(macros, name)

    def fragment(self, name: str, context: Mapping[str, Any]) -> Packed:
        """A template rendered on its own, and deflated once, to splice into pages (the
        caller caches it)."""
        return Packed.of(self.env.get_template(name).render(context))

    def page(
        self,
        request: Request,
        name: str,
        context: Mapping[str, Any],
        status: int = 200,
        spliced: Packed | None = None,
    ) -> Response:
        """Render ``name``; ``spliced`` goes where the template says ``{{ spliced }}``,
        its bytes (and deflated bytes) reused as they are."""
        viewer: Viewer = request.state.viewer
        template = self.env.get_template(name)
        ctx = {"viewer": viewer, "request": request, "now": time.time(), **context}
        if spliced is not None:
            ctx["spliced"] = Markup(SPLICE_MARK)
        if request.headers.get("hx-request") and "live" in template.blocks:
            body = "".join(template.blocks["live"](template.new_context(ctx)))
        else:
            ctx["missing_assets"] = missing_assets()
            body = template.render(ctx)
        response: Response
        if spliced is None:
            response = HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
        else:
            response = splice(request, body, spliced, status)
        remember_csrf(request, response)
        return response


#: Where a page's cached part goes (a comment no template or data can produce: ``<`` in
#: data is escaped).
SPLICE_MARK = "<!--kafkascope:spliced-->"
GZIP_LEVEL = 6
#: A gzip member's header: magic, deflate, no flags, no time, no extra flags, unknown OS.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


@dataclass(frozen=True)
class Packed:
    """HTML rendered once: its bytes and the same bytes as raw deflate ending on a sync
    flush (byte-aligned, not final), so it can sit between other deflate pieces in one
    gzip stream. A 1,000-row table (0.4 MB) is then compressed once per report, not once
    per request; only the page around it is compressed per request."""

    html: bytes
    deflated: bytes

    @classmethod
    def of(cls, text: str) -> Packed:
        data = text.encode("utf-8")
        c = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
        return cls(data, c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH))


def accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").lower().split(","):
        coding, _, q = part.strip().partition(";")
        if coding.strip() in ("gzip", "*") and q.replace(" ", "") not in ("q=0", "q=0.0"):
            return True
    return False


def splice(request: Request, body: str, packed: Packed, status: int) -> Response:
    """The page with ``packed`` in place of :data:`SPLICE_MARK`: plain, or one gzip
    stream of three deflate pieces (head, the cached piece, tail; each piece's encoder
    starts afresh, so none refers to bytes it did not see) with the CRC and size of the
    whole. The console's GZip middleware leaves a response with a content-encoding be."""
    head, found, tail = body.partition(SPLICE_MARK)
    if not found:  # the template did not place it (an error page): nothing to splice
        return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)
    head_b, tail_b = head.encode("utf-8"), tail.encode("utf-8")
    headers = {**SECURITY_HEADERS, "vary": "accept-encoding"}
    if not accepts_gzip(request):
        content = head_b + packed.html + tail_b
        return Response(content, status, headers=headers, media_type="text/html")
    first = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    last = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -zlib.MAX_WBITS)
    crc = zlib.crc32(tail_b, zlib.crc32(packed.html, zlib.crc32(head_b)))
    size = (len(head_b) + len(packed.html) + len(tail_b)) & 0xFFFFFFFF
    content = b"".join(
        (
            GZIP_HEADER,
            first.compress(head_b) + first.flush(zlib.Z_SYNC_FLUSH),
            packed.deflated,
            last.compress(tail_b) + last.flush(zlib.Z_FINISH),
            struct.pack("<II", crc, size),
        )
    )
    headers["content-encoding"] = "gzip"
    return Response(content, status, headers=headers, media_type="text/html")


def remember_csrf(request: Request, response: Response) -> None:
    viewer: Viewer | None = getattr(request.state, "viewer", None)
    if viewer is not None and viewer.new_csrf_cookie:
        response.set_cookie(
            CSRF_COOKIE,
            viewer.csrf,
            httponly=True,
            samesite="strict",
            path=CONSOLE_PREFIX,
            secure=request.url.scheme == "https",
        )


def ago(t: float | None, now: float | None = None) -> str:
    if t is None:
        return "never"
    d = max(0.0, (now or time.time()) - t)
    if d < 90:
        return f"{d:.0f} s ago"
    if d < 5400:
        return f"{d / 60:.0f} min ago"
    if d < 172800:
        return f"{d / 3600:.1f} h ago"
    return f"{d / 86400:.0f} d ago"


def num(v: float | None, digits: int = 0) -> str:
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def secs(v: float | None) -> str:
    if v is None:
        return "–"
    if v < 120:
        return f"{v:.1f} s"
    if v < 7200:
        return f"{v / 60:.1f} min"
    return f"{v / 3600:.1f} h"


def clock(t: float | None) -> str:
    if t is None:
        return "–"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(t))

"""Console sign-in: a token typed once becomes a server-side session behind a cookie.

The REST API reads ``Authorization: Bearer`` on every request; a browser cannot send that
from a link, and a token in a URL would end up in history and logs. So the sign-in form
posts the token once, :class:`Sessions` records what it may do (read or admin, decided by
the API's own :class:`~kafkascope.api.guard.Tokens`) under a random id, and the browser
carries only that id, in an ``HttpOnly; SameSite=Strict`` cookie scoped to the console's
path: scripts cannot read it, other sites cannot make the browser send it, and the token
itself never leaves the server's memory (it is not even kept there: only the access).

Every POST carries a CSRF token as well (a form field or the ``X-CSRF-Token`` header):
the session's own once signed in, else a random value from the ``ks_csrf`` cookie (double
submit), so even a browser without SameSite support cannot be made to post.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from kafkascope.api.guard import Access, Tokens

SESSION_COOKIE = "ks_session"
CSRF_COOKIE = "ks_csrf"
CSRF_HEADER = "x-csrf-token"
SESSION_TTL = 12 * 3600.0  # idle seconds before a session must sign in again
MAX_SESSIONS = 10_000  # beyond this the oldest are dropped: sign-ins cannot fill memory


@dataclass
class Session:
    access: Access
    csrf: str
    expires: float


class Sessions:
    """Sessions in memory (a restart signs everyone out, which is the safe direction)."""

    def __init__(
        self, tokens: Tokens, ttl: float = SESSION_TTL, clock: Callable[[], float] = time.time
    ) -> None:
        self.tokens = tokens
        self.ttl = ttl
        self.clock = clock
        self._by_id: dict[str, Session] = {}
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        """Whether a sign-in is needed at all (tokens configured)."""
        return self.tokens.configured

    def sign_in(self, token: str) -> tuple[str, Session] | None:
        """A new session for a valid token; None for a wrong one."""
        access = self.tokens.access(token.strip().encode("utf-8"))
        if access == "none":
            return None
        sid = secrets.token_urlsafe(32)
        session = Session(access, secrets.token_urlsafe(24), self.clock() + self.ttl)
        with self._lock:
            if len(self._by_id) >= MAX_SESSIONS:
                oldest = min(self._by_id, key=lambda k: self._by_id[k].expires)
                del self._by_id[oldest]
            self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        """The live session behind a cookie value (its idle timer restarts)."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if session.expires <= now:
                del self._by_id[sid]
                return None
            session.expires = now + self.ttl
            return session

    def sign_out(self, sid: str | None) -> None:
        if sid:
            with self._lock:
                self._by_id.pop(sid, None)


def same_token(presented: str | None, expected: str | None) -> bool:
    """A CSRF comparison in constant time; a missing side never matches."""
    if not presented or not expected:
        return False
    return hmac.compare_digest(presented.encode("utf-8"), expected.encode("utf-8"))


def safe_next(target: str | None, default: str) -> str:
    """Where to go after signing in: a path inside the console, never another site
    (``//evil``, ``/\\evil`` and absolute URLs are refused)."""
    if not target or not target.startswith(default) or target.startswith("//"):
        return default
    if "\\" in target or "\r" in target or "\n" in target:
        return default
    return target

"""What every notifier shares: the :class:`Notifier` protocol, the wording of times and
headlines, and the scrubber that keeps secrets out of every text a notifier returns or
raises."""

from __future__ import annotations

import urllib.parse
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

import httpx

from kafkascope.alerts.alert import Notification

__all__ = [
    "ANSWER_CHARS",
    "Notifier",
    "Scrubber",
    "cluster_of",
    "headline",
    "iso",
    "one_line",
    "url_secrets",
]

#: How much of a receiver's answer is kept (answers are for humans, not archives).
ANSWER_CHARS = 300


class Notifier(Protocol):
    """Delivers one notification to one receiver."""

    def send(self, n: Notification) -> str:
        """Deliver ``n``; return the receiver's answer; raise ``NotifyError`` on failure."""
        ...


def iso(t: float | None) -> str | None:
    """Seconds since the epoch → RFC 3339 UTC with milliseconds (``None`` stays None)."""
    if t is None:
        return None
    text = datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def cluster_of(n: Notification) -> str:
    return dict(n.alert.labels).get("cluster", "")


def headline(n: Notification) -> str:
    """``[FIRING critical]``, ``[STILL FIRING warning]`` or ``[RESOLVED critical]``."""
    word = {"firing": "FIRING", "repeat": "STILL FIRING", "resolved": "RESOLVED"}[n.kind]
    return f"[{word} {n.alert.severity.value}]"


def one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


class Scrubber:
    """Replaces every secret (and its URL-quoted form) in a text by ``***``.

    A secret that is a URL is taken apart too, because any piece of it can give access:
    its user info and password, its path (Slack's and most chat webhooks' token) and each
    token-like segment of it, its query and each parameter, in raw and quoted form. Its
    scheme, host and port stay readable: that much is what messages show of a receiver.
    """

    def __init__(self, secrets: Iterable[str | None]) -> None:
        found = {s for s in secrets if s}
        for s in list(found):
            if "://" in s:
                found.update(url_secrets(s))
        self._secrets = sorted((s for s in found if len(s) >= 3), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text


def url_secrets(url: str) -> set[str]:
    """The pieces of ``url`` that may grant access (see :class:`Scrubber`); for a URL that
    does not parse, the text after its scheme (all of it may be secret)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        return {url.partition("://")[2]}
    out = {
        str(parsed),
        parsed.raw_path.decode("ascii", "replace"),
        parsed.path,
        parsed.query.decode("ascii", "replace"),
        parsed.userinfo.decode("ascii", "replace"),
        parsed.password or "",
    }
    for key, value in parsed.params.multi_items():
        out.add(f"{key}={value}")
        if _token_like(value):
            out.add(value)
    # A receiver's answer may quote one segment of the path: the token-like ones go too.
    out.update(seg for seg in parsed.path.split("/") if _token_like(seg))
    for piece in list(out):
        out.add(urllib.parse.quote(piece, safe=""))
    return {piece for piece in out if piece not in ("", "/")}


def _token_like(text: str) -> bool:
    """Long enough, and random-looking enough, to be a credential rather than a word such
    as ``services`` or ``json`` that the rest of a message may contain too."""
    return len(text) >= 16 or (len(text) >= 8 and any(c.isdigit() for c in text))

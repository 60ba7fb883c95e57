"""What every notifier shares: the :class:`Notifier` protocol, the wording of times and
headlines, and the scrubber that keeps secrets out of every text a notifier returns or
raises."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Protocol

import httpx

from kafkascope.alerts.alert import Notification

__all__ = ["ANSWER_CHARS", "Notifier", "Scrubber", "cluster_of", "headline", "iso", "one_line"]

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
    """Replaces every secret (and its URL-quoted form) in a text by ``***``."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        found = {s for s in secrets if s and len(s) >= 3}
        for s in list(found):
            if "://" in s:  # a URL that is a secret: its path alone gives it away too
                with contextlib.suppress(httpx.InvalidURL, ValueError):
                    found.add(httpx.URL(s).raw_path.decode("ascii", "replace"))
        self._secrets = sorted((s for s in found if len(s) >= 3), key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "***")
        return text

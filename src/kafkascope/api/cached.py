"""Bodies built once per report, not once per request.

A list endpoint (``/groups`` of 1,000 groups is 3.7 MB of JSON) or a console table only
changes when the monitor swaps in a new report: the live state replaces a report object
and never mutates one. So a body is keyed by the *identity* of the reports it was built
from (the entry holds them, so an ``is`` check cannot be fooled by a reused id) plus what
the request asked (a query string), and served as the same bytes until a report is
swapped. Concurrent requests at a swap wait for one build instead of each doing it.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")

#: Entries kept per cache: a cluster's lists times the query strings people bookmark.
#: Past it the least recently used entry goes (a query string is the caller's to choose).
MAX_ENTRIES = 256
#: Bodies from this size on are also kept gzipped (smaller ones cost more to unpack).
GZIP_FROM = 1024


class PerReport(Generic[T]):
    """A value per ``key``, rebuilt when any of its ``reports`` is not the same object."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: OrderedDict[Hashable, tuple[tuple[object, ...], T]] = OrderedDict()
        self._lock = threading.Lock()
        self._max = max_entries
        self.builds = 0  # how many times a value was built (the bench and tests read it)

    def _hit(self, key: Hashable, reports: tuple[object, ...]) -> tuple[bool, T | None]:
        entry = self._entries.get(key)
        if entry is None or len(entry[0]) != len(reports):
            return False, None
        if all(a is b for a, b in zip(entry[0], reports, strict=True)):
            with contextlib.suppress(KeyError):  # evicted meanwhile by a build: still valid
                self._entries.move_to_end(key)
            return True, entry[1]
        return False, None

    def get(self, key: Hashable, reports: Sequence[object], build: Callable[[], T]) -> T:
        """The value for ``key`` built from ``reports``; ``build`` runs only on a miss."""
        held = tuple(reports)
        found, value = self._hit(key, held)
        if found:
            return value  # type: ignore[return-value]
        with self._lock:  # one build at a time: the others then find it
            found, value = self._hit(key, held)
            if found:
                return value  # type: ignore[return-value]
            built = build()
            self.builds += 1
            self._entries[key] = (held, built)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
            return built


@dataclass(frozen=True)
class JsonBytes:
    """A JSON body encoded once, with its entity tag (a digest of the bytes) and, when it
    is big enough to be worth it, its gzip form (compressed once too: a client sending
    ``Accept-Encoding: gzip`` gets a tenth of the bytes for 1,000 groups)."""

    body: bytes
    etag: str
    gzipped: bytes | None = None

    @classmethod
    def of(cls, value: Any) -> JsonBytes:
        # What FastAPI's JSONResponse writes: UTF-8, compact, NaN refused.
        text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        body = text.encode("utf-8")
        packed = gzip.compress(body, compresslevel=6, mtime=0) if len(body) >= GZIP_FROM else None
        return cls(body, '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"', packed)

    def matches(self, if_none_match: str | None) -> bool:
        """Does an ``If-None-Match`` header name this body (so 304 may answer)?"""
        if not if_none_match:
            return False
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return "*" in tags or self.etag in tags

    def packed_for(self, accept_encoding: str | None) -> bytes | None:
        """The gzip form when the client accepts it (and one was made), else None."""
        if self.gzipped is None or not accept_encoding:
            return None
        for part in accept_encoding.lower().split(","):
            coding, _, q = part.strip().partition(";")
            if coding.strip() in ("gzip", "*") and q.replace(" ", "") not in ("q=0", "q=0.0"):
                return self.gzipped
        return None

"""The latest state of every client that pushed KIP-714 telemetry, per cluster.

Written by the HTTP receiver's threads (:meth:`TelemetryInbox.receive`), read by the client
monitor at each poll (:meth:`TelemetryInbox.clients`). A push is read by its client's
layout when it has the client's last structure, else decoded
(:mod:`kafkascope.sources.telemetry`).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kafkascope.model import Sample, labels_of
from kafkascope.sources.telemetry import (
    DecodedPush,
    OtlpName,
    PushMeta,
    decode_push,
    otlp_names,
    push_meta,
    telemetry_target,
)
from kafkascope.sources.telemetry_layout import Layout, layout_of

__all__ = ["EXPIRE_AFTER", "MAX_CLIENTS", "PushedClient", "TelemetryInbox", "samples_of"]

#: Clients kept per cluster; past it the one that pushed longest ago is dropped.
MAX_CLIENTS = 50_000
#: A client that has not pushed for this long leaves the inbox (the monitor's store still
#: knows it, and reads it DEAD or departed from there).
EXPIRE_AFTER = 3600.0


@dataclass(frozen=True)
class PushedClient:
    """One client as its pushes describe it, at the last push. ``samples`` are the catalog
    samples of its last values (counters pushed as deltas already summed up);
    ``interval`` is the push interval in seconds (the broker's, else the one configured)."""

    meta: PushMeta
    role: str
    first_push: float
    last_push: float
    interval: float
    pushes: int
    samples: tuple[Sample, ...]

    @property
    def target(self) -> str:
        return telemetry_target(self.meta.client_instance_id)

    @property
    def terminating(self) -> bool:
        return self.meta.terminating


@dataclass
class _Client:
    meta: PushMeta
    role: str
    first_push: float
    last_push: float
    interval: float
    pushes: int = 0
    # (catalog name, labels) -> (spec, value, time of the push that set it)
    values: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[OtlpName, float, float]] = field(
        default_factory=dict
    )
    samples: tuple[Sample, ...] | None = None  # built from values when asked, until a push
    layout: Layout | None = None  # how its last push was laid out
    misses: int = 0  # pushes decoded in full since one was read by its layout
    #: A value's labels -> the same with client_id ``labelled_id``: a client pushes the
    #: same label sets every time, so they are sorted once, not once per value per poll.
    labelled: dict[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]] = field(
        default_factory=dict
    )
    labelled_id: str = ""


class TelemetryInbox:
    """Every client that pushed to one cluster's brokers, latest state only. Thread-safe:
    the receiver calls :meth:`record` from request threads, the monitor :meth:`clients`.
    ``interval`` stands in for the push interval when a push does not carry it; ``tokens``
    are the bearer tokens that name this cluster's pushes, ``max_push_bytes`` the largest
    push the receiver takes for it."""

    def __init__(
        self,
        cluster: str,
        interval: float = 10.0,
        *,
        tokens: Sequence[str] = (),
        max_push_bytes: int = 1 << 20,
        clock: Callable[[], float] = time.time,
        max_clients: int = MAX_CLIENTS,
        expire_after: float = EXPIRE_AFTER,
    ) -> None:
        self.cluster = cluster
        self.interval = interval
        self.tokens = tuple(t.encode("utf-8") for t in tokens)
        self.max_push_bytes = max_push_bytes
        self.clock = clock
        self.max_clients = max_clients
        self.expire_after = expire_after
        self.names = otlp_names()
        self.received = 0
        self.unmapped = 0
        self.by_layout = 0  # pushes read by their client's layout, not decoded
        self._clients: dict[str, _Client] = {}
        self._lock = threading.Lock()

    def receive(self, headers: Mapping[str, str], body: bytes) -> None:
        """One push as the receiver got it: read by its client's layout when it has that
        client's last structure, else decoded (and its layout learnt); recorded now."""
        meta = push_meta(headers)
        c = self._clients.get(meta.client_instance_id)  # a dict read: atomic
        layout = c.layout if c is not None else None
        if (
            layout is not None
            and (numbers := layout.numbers_of(body)) is not None
            and self._record_numbers(meta, layout, numbers, self.clock())
        ):
            return
        push = decode_push(body, meta, self.names)
        # A client whose structure keeps changing (or has no layout) is decoded without
        # learning again at every push: learning costs about a decode.
        misses = c.misses + 1 if c is not None else 0
        learn = misses < 4 or misses % 64 == 0
        self.record(push, self.clock(), layout_of(body, self.names) if learn else None)

    def record(self, push: DecodedPush, now: float, layout: Layout | None = None) -> None:
        """Fold one push into its client's state (``layout``: how to read its next one).
        Samples are built when the monitor asks (:meth:`clients`), not here: a client
        pushes about once per poll, and the push is on the receiver's budget."""
        meta = push.meta
        with self._lock:
            c = self._clients.get(meta.client_instance_id)
            interval = meta.push_interval or (c.interval if c else self.interval)
            if c is None:
                if len(self._clients) >= self.max_clients:
                    self._drop_oldest()
                role = push.role or "unknown"
                c = _Client(meta, role, now, now, interval)
                self._clients[meta.client_instance_id] = c
            else:
                c.misses += 1  # decoded: its layout changed, or it has none
            if layout is not None:
                c.layout = layout
            self._took(c, meta, now, interval, push.unmapped)
            if c.role == "unknown" and push.role is not None:
                c.role = push.role
            values = c.values
            for spec, labels, value, delta in push.values:
                key = (spec.name, labels)
                if delta:
                    old = values.get(key)
                    if old is not None:
                        value += old[1]
                values[key] = (spec, value, now)

    def _record_numbers(
        self, meta: PushMeta, layout: Layout, numbers: tuple[float | int, ...], now: float
    ) -> bool:
        """:meth:`record` of a push read by its client's layout: the same fold, without
        building the push's values first (the receiver's budget is per push). False, and
        nothing done, when the client was dropped or relearnt since the layout was read."""
        with self._lock:
            c = self._clients.get(meta.client_instance_id)
            if c is None or c.layout is not layout:
                return False
            self._took(c, meta, now, meta.push_interval or c.interval, layout.unmapped)
            self.by_layout += 1
            c.misses = 0
            values = c.values
            isfinite = math.isfinite
            for (spec, labels, delta, double), raw in zip(layout.slots, numbers, strict=True):
                if double and not isfinite(raw):
                    continue  # as decode_push: NaN is "no value"
                key = (spec.name, labels)
                if delta:
                    old = values.get(key)
                    values[key] = (spec, raw + old[1] if old is not None else float(raw), now)
                else:
                    values[key] = (spec, float(raw), now)
        return True

    def _took(self, c: _Client, meta: PushMeta, now: float, interval: float, unmapped: int) -> None:
        """What every push taken changes, however it was read (under the lock)."""
        self.received += 1
        self.unmapped += unmapped
        c.meta, c.last_push, c.interval, c.samples = meta, now, interval, None
        c.pushes += 1

    def figures(self) -> tuple[int, int, int, int]:
        """(pushes taken, of them read by layout, unmapped metrics, clients kept)."""
        with self._lock:
            return self.received, self.by_layout, self.unmapped, len(self._clients)

    def clients(self, now: float) -> list[PushedClient]:
        """Every client's latest state; those silent past ``expire_after`` are dropped.
        The lock is taken per client, not for all: building 2,000 clients' samples takes
        a good part of a second, and the receiver must not wait that long for a push."""
        with self._lock:
            for iid in [
                i for i, c in self._clients.items() if now - c.last_push > self.expire_after
            ]:
                del self._clients[iid]
            clients = list(self._clients.values())
        out = []
        for c in clients:
            with self._lock:
                out.append(_frozen(c))
        return out

    def _drop_oldest(self) -> None:
        oldest = min(self._clients, key=lambda i: self._clients[i].last_push)
        del self._clients[oldest]


def _frozen(c: _Client) -> PushedClient:
    if c.samples is None:
        target, client_id = telemetry_target(c.meta.client_instance_id), c.meta.client_id
        if c.labelled_id != client_id:  # the first build, or the client id changed
            c.labelled.clear()
            c.labelled_id = client_id
        labelled = c.labelled
        samples = []
        for (_, labels), (spec, value, at) in c.values.items():
            full = labelled.get(labels)
            if full is None:
                full = labelled[labels] = labels_of(dict(labels) | {"client_id": client_id})
            samples.append(Sample(spec.name, value, full, target, at, spec.kind, spec.unit))
        c.samples = tuple(samples)
    return PushedClient(c.meta, c.role, c.first_push, c.last_push, c.interval, c.pushes, c.samples)


def samples_of(clients: Iterable[PushedClient]) -> tuple[Sample, ...]:
    return tuple(s for c in clients for s in c.samples)

"""The notification outbox: a notification, once owed, is delivered even across a crash or
a receiver outage.

The guarantees, and where each comes from:

* **Exactly-once enqueue.** :meth:`Outbox.enqueue` runs *inside the caller's write
  transaction*, so the service commits the alert state that says "told" and the rows that
  will tell, together or not at all. Rows are unique on (notification id, receiver):
  enqueuing the same notification again is a no-op.
* **Nothing lost.** A row stays ``pending`` until its receiver accepts it. A retryable
  failure (receiver down, 5xx, 429, SMTP 4xx) schedules the next attempt with exponential
  backoff (capped, with jitter); a fatal one (4xx, SMTP 5xx, bad configuration) marks the
  row ``failed`` with the error, visible in :meth:`Outbox.history`. Rows still failing
  after ``give_up_after`` are marked failed too, so a receiver removed for good does not
  keep a queue forever.
* **At-least-once delivery, and never again once delivered.** A successful send is marked
  ``delivered`` in its own transaction right after the receiver answered; a delivered row is
  never sent again. If that commit fails (a full disk, a store that refuses writes), the
  outbox remembers the row as sent: this process does not send it again, and retries only
  the mark, on the same backoff as a failed send. The window left: the process ends (kill
  -9, a crash, power loss) *between* the receiver's answer and the mark's commit, including
  while a failed mark waits for its retry. After a restart the row is still pending and is
  sent once more. With ``synchronous=NORMAL`` a power loss (not a process crash) can also
  undo the last commits before it, a mark among them. Every message carries the
  notification id (webhook JSON ``id`` and ``Idempotency-Key`` header, e-mail
  ``Message-ID``) so a receiver can drop that duplicate. A retry or failed mark that cannot
  commit is held in memory the same way, so a receiver is not re-tried every cycle.
* **Order per receiver.** A receiver's rows go out oldest first; while its oldest pending
  row waits for a retry, the rows behind it wait too (a "resolved" never overtakes its
  "firing"). Receivers do not wait for one another: each has its own queue, drained in
  parallel.
"""

from __future__ import annotations

import concurrent.futures as cf
import json
import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from kafkascope.alerts.alert import Alert, Notification, NotificationKind
from kafkascope.alerts.notify import Notifier
from kafkascope.clock import Clock
from kafkascope.errors import NotifyError
from kafkascope.store import outbox as outbox_rows
from kafkascope.store.db import WRITE_FAILURES, Database, Transaction
from kafkascope.store.outbox import ItemState

__all__ = [
    "DEFAULT_GIVE_UP_AFTER",
    "Delivery",
    "DeliveryBackoff",
    "ItemState",
    "Outbox",
    "OutboxItem",
]

log = logging.getLogger(__name__)

Outcome = Literal["delivered", "retry", "failed"]

#: A notification its receiver has refused to take for a day is marked failed.
DEFAULT_GIVE_UP_AFTER = 24 * 3600.0
#: At most this many receivers are sent to at once.
_MAX_PARALLEL = 8


@dataclass(frozen=True, slots=True)
class DeliveryBackoff:
    """Delay before retry ``n`` (1-based): ``initial · factor^(n-1)``, at most ``maximum``,
    then shortened by up to ``jitter`` (a fraction) at random so that many rows failing
    together do not retry in lockstep. Never longer than ``maximum``."""

    initial: float = 2.0
    factor: float = 2.0
    maximum: float = 60.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError(
                f"backoff: need 0 < initial <= maximum, got {self.initial}, {self.maximum}"
            )
        if self.factor < 1:
            raise ValueError(f"backoff: factor must be >= 1, got {self.factor}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"backoff: jitter must be in [0, 1), got {self.jitter}")

    def delay(self, attempt: int, rng: random.Random) -> float:
        exponent = min(max(attempt - 1, 0), 64)  # 2**64 · initial is past any cap
        base = min(self.maximum, self.initial * self.factor**exponent)
        return base * (1 - self.jitter * rng.random())


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """One (notification, receiver) row of the outbox."""

    id: int
    notification_id: str
    receiver: str
    kind: NotificationKind
    fingerprint: str
    payload: Mapping[str, Any]
    state: ItemState
    attempts: int
    next_attempt_at: float
    last_error: str | None
    response: str | None
    created_at: float
    delivered_at: float | None

    @classmethod
    def from_row(cls, row: tuple[Any, ...]) -> OutboxItem:
        return cls(
            id=int(row[0]),
            notification_id=str(row[1]),
            receiver=str(row[2]),
            kind=row[3],
            fingerprint=str(row[4]),
            payload=json.loads(row[5]),
            state=row[6],
            attempts=int(row[7]),
            next_attempt_at=float(row[8]),
            last_error=row[9],
            response=row[10],
            created_at=float(row[11]),
            delivered_at=None if row[12] is None else float(row[12]),
        )

    def notification(self) -> Notification:
        """The notification as enqueued (same id, same alert snapshot)."""
        data = self.payload
        return Notification(data["kind"], Alert.from_dict(data["alert"]), float(data["at"]))

    def to_dict(self) -> dict[str, Any]:
        """For the API: everything but the payload's bulk, plus the alert's rule and summary."""
        alert = self.payload.get("alert", {})
        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "receiver": self.receiver,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "rule": alert.get("rule"),
            "severity": alert.get("severity"),
            "summary": alert.get("summary"),
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": self.next_attempt_at if self.state == "pending" else None,
            "last_error": self.last_error,
            "response": self.response,
            "created_at": self.created_at,
            "delivered_at": self.delivered_at,
        }


@dataclass(slots=True)
class _Unrecorded:
    """A row its receiver accepted whose "delivered" mark has not committed yet: not sent
    again by this process; the mark is retried at ``next_try``."""

    item: OutboxItem
    delivered_at: float
    answer: str
    tries: int
    next_try: float


@dataclass(frozen=True, slots=True)
class Delivery:
    """What one attempt did: ``detail`` is the receiver's answer, or the error."""

    item_id: int
    notification_id: str
    receiver: str
    outcome: Outcome
    detail: str
    attempts: int
    next_attempt_at: float | None


class Outbox:
    """The SQLite-backed queue between the alert engine and the notifiers.

    ``notifiers`` maps receiver names to notifiers; ``clock`` gives ``now`` when a method is
    not handed one. :meth:`deliver_due` is safe to call from any thread (calls are
    serialised); sends happen on the calling thread and a small pool, never on the
    store's writer thread, so a slow receiver never holds up the store.
    """

    def __init__(
        self,
        db: Database,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        *,
        backoff: DeliveryBackoff | None = None,
        give_up_after: float | None = DEFAULT_GIVE_UP_AFTER,
        rng: random.Random | None = None,
    ) -> None:
        if give_up_after is not None and not give_up_after > 0:
            raise ValueError(f"give_up_after must be > 0 seconds or None, got {give_up_after}")
        self._db = db
        self._notifiers = dict(notifiers)
        self._clock = clock
        self._backoff = backoff or DeliveryBackoff()
        self._give_up_after = give_up_after
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self._deliver_lock = threading.Lock()
        #: Rows sent whose "delivered" mark did not commit, by row id.
        self._unrecorded: dict[int, _Unrecorded] = {}
        #: Rows whose retry (or failed) mark did not commit: (not tried again before, the
        #: attempts made), by row id; what the row would say had the mark committed.
        self._held: dict[int, tuple[float, int]] = {}

    @property
    def receivers(self) -> list[str]:
        return sorted(self._notifiers)

    # ------------------------------------------------------------------ enqueue

    def enqueue(
        self,
        conn: Transaction,
        items: Iterable[tuple[Notification, Iterable[str]]],
        now: float | None = None,
    ) -> int:
        """Queue each notification for each of its receivers, on ``conn``, inside the
        caller's open write transaction (call it from ``db.write(fn)``). Returns how many
        rows were new; rows already queued (same notification, same receiver) are left as
        they are, whatever their state. An unknown receiver name raises ``ValueError``
        (which rolls the caller's transaction back: routes and receivers disagree)."""
        at = self._clock.now() if now is None else now
        added = 0
        for n, receivers in items:
            payload = json.dumps(n.to_dict(), sort_keys=True, separators=(",", ":"))
            for receiver in dict.fromkeys(receivers):
                if receiver not in self._notifiers:
                    known = ", ".join(self.receivers) or "(none)"
                    raise ValueError(
                        f"notification {n.id} ({n.alert.rule}) routed to unknown receiver "
                        f"{receiver!r}; configured receivers: {known}"
                    )
                added += outbox_rows.insert_pending(
                    conn,
                    notification_id=n.id,
                    receiver=receiver,
                    kind=n.kind,
                    fingerprint=n.alert.fingerprint,
                    payload=payload,
                    at=at,
                )
        return added

    def add(
        self, items: Iterable[tuple[Notification, Iterable[str]]], now: float | None = None
    ) -> int:
        """:meth:`enqueue` in a transaction of its own (for callers with no state to commit
        alongside, e.g. ``test-notify``)."""
        batch = list(items)
        return self._db.write(lambda conn: self.enqueue(conn, batch, now))

    # ------------------------------------------------------------------ delivery

    def deliver_due(self, now: float | None = None) -> list[Delivery]:
        """Send every row that is due at ``now``, receiver by receiver in order; return what
        happened to each row tried."""
        with self._deliver_lock:
            at = self._clock.now() if now is None else now
            if self._unrecorded:
                self._record_marks(at)
            first = self.next_due()
            if first is None or first > at:
                return []  # the common case, checked with one small query
            queues: dict[str, list[OutboxItem]] = {}
            for item in self.pending():
                if item.id not in self._unrecorded:  # sent: only its mark is owed
                    queues.setdefault(item.receiver, []).append(item)
            due = [q for q in queues.values() if self._due_at(q[0]) <= at]
            if len(due) <= 1:
                return [d for q in due for d in self._drain(q, at, now is None)]
            with cf.ThreadPoolExecutor(
                max_workers=min(len(due), _MAX_PARALLEL), thread_name_prefix="outbox"
            ) as pool:
                futures = [pool.submit(self._drain, q, at, now is None) for q in due]
                return [d for f in futures for d in f.result()]

    def _drain(self, queue: list[OutboxItem], at: float, live: bool) -> list[Delivery]:
        """One receiver's due rows, oldest first, until one must wait for a retry."""
        done = []
        for item in queue:
            if self._due_at(item) > at:
                break
            delivery = self._attempt(item, at, live)
            done.append(delivery)
            if delivery.outcome == "retry":
                break
        return done

    def _attempt(self, item: OutboxItem, now: float, live: bool) -> Delivery:
        """Send one row. With ``live`` (no explicit ``now``) times are read after the send,
        so a send that took its whole timeout is not scheduled from before it."""

        def at() -> float:
            return self._clock.now() if live else now

        notifier = self._notifiers.get(item.receiver)
        if notifier is None:
            known = ", ".join(self.receivers) or "(none)"
            error = (
                f"receiver {item.receiver!r} is not configured (any more); configured: "
                f"{known}. Fix: add it back and retry the item, or leave it failed"
            )
            return self._mark_failed(item, at(), error, attempted=False)
        try:
            answer = notifier.send(item.notification())
        except NotifyError as e:
            if e.retryable:
                return self._mark_retry(item, at(), str(e))
            return self._mark_failed(item, at(), str(e), attempted=True)
        except Exception as e:
            log.exception("notifier %s crashed on outbox item %d", item.receiver, item.id)
            return self._mark_retry(item, at(), f"notifier error {type(e).__name__}: {e}")
        return self._mark_delivered(item, at(), answer)

    def _due_at(self, item: OutboxItem) -> float:
        held = self._held.get(item.id)
        return item.next_attempt_at if held is None else max(item.next_attempt_at, held[0])

    def _attempts(self, item: OutboxItem) -> int:
        """Attempts made so far, counting those whose mark did not commit."""
        held = self._held.get(item.id)
        return item.attempts if held is None else max(item.attempts, held[1])

    def _delay(self, attempt: int) -> float:
        with self._rng_lock:
            return self._backoff.delay(attempt, self._rng)

    def _record_marks(self, at: float) -> None:
        """Retry the "delivered" marks that are due (see the module doc)."""
        for item_id, owed in list(self._unrecorded.items()):
            if owed.next_try > at:
                continue
            try:
                self._db.write(_mark_delivered_later(owed))
            except WRITE_FAILURES as e:
                owed.tries += 1
                delay = self._delay(owed.tries)
                owed.next_try = at + delay
                log.warning(
                    "the delivered mark of notification %s to %s is still not recorded "
                    "(try %d): %s; it is not sent again, the mark is retried in %.1f s",
                    owed.item.notification_id,
                    owed.item.receiver,
                    owed.tries,
                    e,
                    delay,
                )
            else:
                del self._unrecorded[item_id]
                log.info(
                    "recorded notification %s to %s as delivered (try %d)",
                    owed.item.notification_id,
                    owed.item.receiver,
                    owed.tries + 1,
                )

    def _mark_delivered(self, item: OutboxItem, at: float, answer: str) -> Delivery:
        # Its own transaction, right after the send: the crash window is only this commit.
        try:
            self._db.write(lambda conn: outbox_rows.mark_delivered(conn, item.id, at, answer))
        except WRITE_FAILURES as e:
            delay = self._delay(1)
            self._unrecorded[item.id] = _Unrecorded(item, at, answer, 1, at + delay)
            log.warning(
                "delivered %s notification %s to %s, but the delivered mark was not recorded "
                "(%s); it is not sent again by this process and the mark is retried in "
                "%.1f s (if kafkascope stops first, it is sent once more with the same id)",
                item.kind,
                item.notification_id,
                item.receiver,
                e,
                delay,
            )
        else:
            self._held.pop(item.id, None)
        log.info(
            "delivered %s notification %s (%s) to %s: %s",
            item.kind,
            item.notification_id,
            item.fingerprint,
            item.receiver,
            answer,
        )
        return Delivery(
            item.id,
            item.notification_id,
            item.receiver,
            "delivered",
            answer,
            item.attempts + 1,
            None,
        )

    def _mark_retry(self, item: OutboxItem, at: float, error: str) -> Delivery:
        attempts = self._attempts(item) + 1
        give_up = self._give_up_after
        if give_up is not None and at - item.created_at >= give_up:
            hours = give_up / 3600
            return self._mark_failed(
                item,
                at,
                f"gave up after {attempts} attempts over {hours:g} h; last error: {error}",
                attempted=True,
            )
        delay = self._delay(attempts)
        next_at = at + delay
        self._write_or_hold(
            item,
            attempts,
            at,
            delay,
            lambda conn: outbox_rows.mark_retry(conn, item.id, attempts, next_at, error),
        )
        log.warning(
            "notification %s to %s failed (attempt %d), retrying in %.1f s: %s",
            item.notification_id,
            item.receiver,
            attempts,
            delay,
            error,
        )
        return Delivery(
            item.id, item.notification_id, item.receiver, "retry", error, attempts, next_at
        )

    def _mark_failed(self, item: OutboxItem, at: float, error: str, *, attempted: bool) -> Delivery:
        attempts = self._attempts(item) + (1 if attempted else 0)
        self._write_or_hold(
            item,
            attempts,
            at,
            self._delay(max(attempts, 1)),
            lambda conn: outbox_rows.mark_failed(conn, item.id, attempts, error),
        )
        log.error(
            "notification %s to %s failed for good after %d attempt(s): %s",
            item.notification_id,
            item.receiver,
            attempts,
            error,
        )
        return Delivery(
            item.id, item.notification_id, item.receiver, "failed", error, attempts, None
        )

    def _write_or_hold(
        self,
        item: OutboxItem,
        attempts: int,
        at: float,
        delay: float,
        write: Callable[[Transaction], None],
    ) -> None:
        """Store a retry or failed mark; if the store refuses it, hold the row in memory
        for ``delay`` seconds from ``at`` instead, so it is not sent again every cycle."""
        try:
            self._db.write(write)
        except WRITE_FAILURES as e:
            self._held[item.id] = (at + delay, attempts)
            log.warning(
                "the outbox could not record the attempt of notification %s to %s (%s); "
                "it is tried again in %.1f s",
                item.notification_id,
                item.receiver,
                e,
                delay,
            )
        else:
            self._held.pop(item.id, None)

    # ------------------------------------------------------------------ reading

    def pending(self) -> list[OutboxItem]:
        """Rows not yet delivered nor failed, oldest first."""
        return self._items(self._db.read(outbox_rows.select_pending))

    def history(self, limit: int = 100, state: ItemState | None = None) -> list[OutboxItem]:
        """The newest ``limit`` rows (optionally of one state), newest first."""
        if limit < 1:
            raise ValueError(f"history limit must be >= 1, got {limit}")
        return self._items(
            self._db.read(lambda conn: outbox_rows.select_newest(conn, limit, state))
        )

    def get(self, item_id: int) -> OutboxItem | None:
        row = self._db.read(lambda conn: outbox_rows.select_by_id(conn, item_id))
        return None if row is None else OutboxItem.from_row(row)

    def next_due(self) -> float | None:
        """When :meth:`deliver_due` next has something to do (the earliest head-of-queue
        ``next_attempt_at``), or None when nothing is pending. For the service's sleep."""
        return self._db.read(outbox_rows.next_due)

    @staticmethod
    def _items(found: Iterable[outbox_rows.OutboxRow]) -> list[OutboxItem]:
        return [OutboxItem.from_row(r) for r in found]

    # ------------------------------------------------------------------ maintenance

    def retry(self, item_id: int, now: float | None = None) -> bool:
        """Put a failed row back in the queue, due at once (after fixing its receiver).
        False when there is no such failed row."""
        at = self._clock.now() if now is None else now
        return self._db.write(lambda conn: outbox_rows.requeue_failed(conn, item_id, at))

    def prune(self, before: float) -> int:
        """Delete delivered and failed rows created before ``before``; pending rows are
        kept whatever their age. Returns how many were deleted."""
        return self._db.write(lambda conn: outbox_rows.delete_finished_before(conn, before))


def _mark_delivered_later(owed: _Unrecorded) -> Callable[[Transaction], None]:
    """The write that records ``owed`` as delivered, at the time its receiver answered."""

    def write(conn: Transaction) -> None:
        outbox_rows.mark_delivered(conn, owed.item.id, owed.delivered_at, owed.answer)

    return write

"""Re-posting firing alerts to receivers that forget them (Alertmanager).

Alertmanager ends an alert by itself once its ``endsAt`` passes, so a sender must keep
posting a firing alert (Prometheus does every minute). The engine's ``repeat`` is a
reminder for people, every ``repeat_interval`` (hours), and is held for acknowledged
alerts, so it cannot carry this. Instead, the runner asks :class:`Resender` at every step
which (alert, receiver) pairs are owed a re-post and **enqueues them in the outbox in the
same transaction as the step**, as ``repeat`` notifications addressed to that receiver
alone. That is why they keep every guarantee of the outbox: retried with backoff while
Alertmanager is down, never lost to a crash once committed, delivered at least once, in
order with the alert's other notifications (a re-post never overtakes the resolution).

A pair is owed a re-post when:

* the alert fires and its receivers were told so (``notified_severity`` is set):
  acknowledged, silenced in kafkascope or flapping alike, since Alertmanager must not
  end what kafkascope still says fires; a resolution is sent as usual when it clears;
* the receiver takes re-posts (a notifier with a ``resend_interval``) and is routed the
  alert on a severity it was told under (as a resolution is routed);
* nothing went to that receiver for that alert for ``resend_interval``;
* **no row for the pair is still pending**: while Alertmanager is unreachable the queue
  holds at most one re-post per alert, not one per interval; its delivery sets the time
  (``endsAt``) afresh when it finally goes.

When each pair was last queued is kept in memory: after a restart the first step re-posts
every firing alert once, which Alertmanager merges into the alert it has.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence

from kafkascope.alerts.alert import Alert, AlertState, Notification
from kafkascope.alerts.routing import Route, route

__all__ = ["Resender"]

Pair = tuple[str, str]  # (receiver, fingerprint)


class Resender:
    """Which firing alerts each re-posting receiver is owed (see the module doc).

    ``intervals`` maps a receiver name to its resend interval (seconds). Call :meth:`due`
    while planning a step and :meth:`record` once the step's rows have committed.
    """

    def __init__(self, intervals: Mapping[str, float]) -> None:
        for name, every in intervals.items():
            if not every > 0:
                raise ValueError(f"receiver {name}: resend interval must be > 0, got {every}")
        self._intervals = dict(intervals)
        self._last: dict[Pair, float] = {}

    @property
    def receivers(self) -> list[str]:
        return sorted(self._intervals)

    def due(
        self,
        alerts: Iterable[Alert],
        queued: Sequence[tuple[Notification, Sequence[str]]],
        now: float,
        routes: Sequence[Route],
        default: Sequence[str],
        pending: Callable[[], set[Pair]],
    ) -> list[tuple[Notification, list[str]]]:
        """The re-posts owed at ``now``: one ``repeat`` notification per alert, with the
        receivers it goes to. ``queued`` is what the step already queues (a receiver that
        hears of the alert in this step needs no re-post); ``pending`` reads the outbox's
        pending (receiver, fingerprint) pairs, and is called only when something is due."""
        if not self._intervals:
            return []
        this_step = {(r, n.alert.fingerprint) for n, rs in queued for r in rs}
        owed: list[tuple[Alert, list[str]]] = []
        for alert in alerts:
            if alert.state is not AlertState.FIRING or alert.notified_severity is None:
                continue
            fp = alert.fingerprint
            wanted = [
                r
                for r in self._routed(alert, now, routes, default)
                if (r, fp) not in this_step
                and now - self._last.get((r, fp), float("-inf")) >= self._intervals[r]
            ]
            if wanted:
                owed.append((alert, wanted))
        if not owed:
            return []
        waiting = pending()
        out = []
        for alert, wanted in owed:
            receivers = [r for r in wanted if (r, alert.fingerprint) not in waiting]
            if receivers:
                out.append((Notification("repeat", alert, now), receivers))
        return out

    def record(self, queued: Iterable[tuple[Notification, Iterable[str]]], now: float) -> None:
        """Note what a committed step queued, and forget pairs of alerts that are gone."""
        for n, receivers in queued:
            for r in receivers:
                if r in self._intervals:
                    self._last[(r, n.alert.fingerprint)] = now

    def forget(self, live: Iterable[str]) -> None:
        """Drop the times of alerts (fingerprints) no longer tracked."""
        keep = set(live)
        for pair in [p for p in self._last if p[1] not in keep]:
            del self._last[pair]

    def _routed(
        self, alert: Alert, now: float, routes: Sequence[Route], default: Sequence[str]
    ) -> list[str]:
        """The re-posting receivers routed ``alert`` on any severity they were told it
        fires at (so a downgraded alert keeps reaching the route that was paged)."""
        told = alert.notified_severities or (
            (alert.notified_severity,) if alert.notified_severity is not None else ()
        )
        chosen: dict[str, None] = {}
        for severity in told or (alert.severity,):
            n = Notification("repeat", dataclasses.replace(alert, severity=severity), now)
            chosen.update(
                dict.fromkeys(r for r in route(n, routes, default) if r in self._intervals)
            )
        return list(chosen)

"""The alert state machine: findings in, notifications out, pure, with ``now`` explicit.

Each alert is one fingerprint (rule + labels). Its life::

    (none) ──found──▶ PENDING ──found for ≥ `for`──▶ FIRING ──not found──▶ RESOLVED
               │          └──not found (before `for`)──▶ forgotten, silently      │
               └── `for` = 0: straight to FIRING        found again: new episode ◀┘

What goes out is decided by :meth:`AlertEngine.needs_notify`, a pure function of the alert
and ``now``. It keeps the receivers' picture right with as few messages as possible:

* ``firing`` when the receivers do not know it fires (first time, after a silence expired,
  after flapping calmed down) or when it escalated to a worse severity (a warning that
  became critical must reach whoever is routed critical alerts, acknowledged or not);
* ``repeat`` every ``repeat_interval`` while it fires, unless acknowledged (an ack holds
  repeats until the alert resolves);
* ``resolved`` only when the receivers were told it fires: a silenced or pending alert that
  clears sends nothing. A resolution is sent even if a silence now matches, so the receiver
  (a pager, a ticket) can close what it opened;
* nothing while **flapping**: an alert that started firing more than ``flap_threshold``
  times within ``flap_window`` is held until it has not changed state for a whole window;
  then whatever the receivers are missing (firing, or resolved) goes out once;
* nothing while a **silence** matches (the alert is still tracked and shows who silenced it).

Nothing changes until it is stored: :meth:`AlertEngine.plan` computes a step (the alerts as
they will be and the notifications owed) without touching the engine; the service commits
that step's state and its outbox rows in one transaction and only then calls
:meth:`AlertEngine.apply`. A failed commit leaves the engine as it was, so the next step owes
the same notifications again: none is marked "told" without being queued, and a restart from
the stored state neither re-sends nor forgets. :meth:`AlertEngine.step` is plan + apply, for
callers with nothing to commit.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from kafkascope.alerts.alert import (
    Alert,
    AlertState,
    Finding,
    Notification,
    NotificationKind,
    Silence,
)

__all__ = [
    "DEFAULT_FLAP_THRESHOLD",
    "DEFAULT_FLAP_WINDOW",
    "DEFAULT_REPEAT_INTERVAL",
    "DEFAULT_RESOLVED_RETENTION",
    "STATE_VERSION",
    "AlertEngine",
    "PlannedStep",
    "TimedRule",
    "UnknownAlert",
]

#: Alertmanager's default: a still-firing alert is re-sent every 4 hours.
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
#: Flap detection looks at the last 10 minutes...
DEFAULT_FLAP_WINDOW = 600.0
#: ...and an alert that started firing more than 3 times in it is flapping.
DEFAULT_FLAP_THRESHOLD = 3
#: Resolved alerts stay visible (API ``state=resolved``) this long before being forgotten.
DEFAULT_RESOLVED_RETENTION = 3600.0

#: Version of :meth:`AlertEngine.export_state`'s format.
STATE_VERSION = 1

_KIND_ORDER = {"firing": 0, "repeat": 1, "resolved": 2}


class TimedRule(Protocol):
    """What the engine needs of a rule: its name and its ``for`` (both ``RuleSpec`` and
    ``UserRule`` qualify)."""

    @property
    def name(self) -> str: ...

    @property
    def for_seconds(self) -> float: ...


class UnknownAlert(LookupError):
    """No alert with this fingerprint is tracked (it may have resolved and been forgotten)."""


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A change computed by the engine but not applied: every tracked alert as it will be,
    and the notifications owed. ``now`` is the evaluation's time (None for an ack, which
    is not an evaluation); ``base`` the engine version it was computed from."""

    alerts: Mapping[str, Alert]
    notifications: tuple[Notification, ...]
    now: float | None
    base: int

    def export_state(self) -> dict[str, Any]:
        """The state to store with this step (the format of :meth:`AlertEngine.export_state`)."""
        return {
            "version": STATE_VERSION,
            "alerts": [self.alerts[fp].to_dict() for fp in sorted(self.alerts)],
        }


class AlertEngine:
    """Turns each evaluation's findings into alert state and the notifications owed.

    ``rules`` gives each rule's ``for``; a finding of a rule not listed is a bug and raises.
    Not thread-safe: one owner calls :meth:`step`.
    """

    def __init__(
        self,
        rules: Iterable[TimedRule],
        repeat_interval: float = DEFAULT_REPEAT_INTERVAL,
        flap_window: float = DEFAULT_FLAP_WINDOW,
        flap_threshold: int = DEFAULT_FLAP_THRESHOLD,
        resolved_retention: float = DEFAULT_RESOLVED_RETENTION,
    ) -> None:
        if not repeat_interval > 0:
            raise ValueError(f"repeat_interval must be > 0 seconds, got {repeat_interval}")
        if not flap_window > 0:
            raise ValueError(f"flap_window must be > 0 seconds, got {flap_window}")
        if flap_threshold < 1:
            raise ValueError(f"flap_threshold must be at least 1, got {flap_threshold}")
        if resolved_retention < 0:
            raise ValueError(f"resolved_retention must be >= 0 seconds, got {resolved_retention}")
        self._for: dict[str, float] = {}
        for rule in rules:
            if rule.name in self._for:
                raise ValueError(f"two rules are named {rule.name!r}; rule names must be unique")
            if rule.for_seconds < 0 or math.isnan(rule.for_seconds):
                raise ValueError(f"rule {rule.name}: for must be >= 0, got {rule.for_seconds}")
            self._for[rule.name] = rule.for_seconds
        self.repeat_interval = repeat_interval
        self.flap_window = flap_window
        self.flap_threshold = flap_threshold
        self.resolved_retention = resolved_retention
        self._alerts: dict[str, Alert] = {}
        #: Bumped by every change, so a step planned on an older state cannot be applied.
        self._version = 0
        #: ``now`` of the previous step (not persisted: after a restart the monitors'
        #: reports are all newer than the process).
        self._last_step: float | None = None

    # ---------------------------------------------------------------- reading

    def alerts(self, state: AlertState | None = None) -> list[Alert]:
        """Tracked alerts (optionally of one state), worst first, then by rule and labels."""
        chosen = [a for a in self._alerts.values() if state is None or a.state is state]
        return sorted(chosen, key=lambda a: (-a.severity.rank, a.rule, a.labels))

    def get(self, fp: str) -> Alert | None:
        return self._alerts.get(fp)

    # ---------------------------------------------------------------- the step

    def step(
        self,
        findings: Iterable[Finding],
        now: float,
        silences: Sequence[Silence] = (),
        hold: Callable[[Alert], bool] | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Notification]:
        """:meth:`plan` and :meth:`apply` at once; the notifications owed."""
        planned = self.plan(findings, now, silences, hold, reasons)
        self.apply(planned)
        return list(planned.notifications)

    def apply(self, planned: PlannedStep) -> None:
        """Make a planned step the engine's state (once its state has been stored). A step
        planned before another was applied is refused: it would undo that one."""
        if planned.base != self._version:
            raise RuntimeError(
                "this alert step was planned on an older engine state; plan it again"
            )
        self._alerts = dict(planned.alerts)
        self._version += 1
        if planned.now is not None:
            self._last_step = planned.now

    def plan(
        self,
        findings: Iterable[Finding],
        now: float,
        silences: Sequence[Silence] = (),
        hold: Callable[[Alert], bool] | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> PlannedStep:
        """Fold one evaluation's findings in at ``now``, without changing the engine: the
        alerts as they will be and the notifications owed (apply it with :meth:`apply`).

        ``findings`` is everything that holds now: an alert whose finding is absent is
        treated as cleared, unless ``hold(alert)`` says its source has not reported (a
        restarted service before its first poll): absence of data is not a recovery, so
        such an alert keeps its state. ``reasons`` (by fingerprint) say why an absent
        alert cleared when it is not a recovery (a client retired): its resolution carries
        that summary. Silences that are not active at ``now`` are ignored.
        """
        current = self._merge(findings)
        active = [s for s in silences if s.active(now)]
        updated: dict[str, Alert] = {}
        for fp, finding in current.items():
            updated[fp] = self._present(
                self._alerts.get(fp), finding, now, self._began(finding, now)
            )
        for fp, alert in self._alerts.items():
            if fp not in current and hold is not None and hold(alert):
                updated[fp] = alert
            elif fp not in current:
                cleared = self._absent(alert, now)
                why = reasons.get(fp) if reasons else None
                if cleared is not None and why and cleared.state is AlertState.RESOLVED:
                    cleared = dataclasses.replace(cleared, summary=why)
                if cleared is not None:
                    updated[fp] = cleared
        notifications = []
        for fp, alert in updated.items():
            alert = self._calm(alert, now)
            silenced_by = tuple(
                s.id for s in active if s.matches(alert.rule, alert.severity, alert.labels)
            )
            if silenced_by != alert.silenced_by:
                alert = dataclasses.replace(alert, silenced_by=silenced_by)
            kind = self.needs_notify(alert, now)
            if kind is not None:
                told = alert
                alert = self._mark(alert, kind, now)
                # A resolution carries what the receivers were told (notified_severities),
                # so it is routed to whoever heard it fire, even after a downgrade.
                notifications.append(Notification(kind, told if kind == "resolved" else alert, now))
            updated[fp] = alert
        notifications.sort(
            key=lambda n: (
                _KIND_ORDER[n.kind],
                -n.alert.severity.rank,
                n.alert.rule,
                n.alert.labels,
            )
        )
        return PlannedStep(updated, tuple(notifications), now, self._version)

    def needs_notify(self, alert: Alert, now: float) -> NotificationKind | None:
        """Which notification ``alert`` is owed at ``now``, if any (pure; see module doc)."""
        if alert.flapping:
            return None
        told = alert.notified_severity
        if alert.state is AlertState.FIRING:
            if alert.silenced_by:
                return None
            if told is None or alert.severity.rank > told.rank:
                return "firing"
            if alert.acked:
                return None
            last = alert.last_notified_at
            if last is None or now - last >= self.repeat_interval:
                return "repeat"
            return None
        if alert.state is AlertState.RESOLVED and told is not None:
            return "resolved"
        return None

    # ---------------------------------------------------------------- acknowledgements

    def ack(self, fp: str, by: str, now: float, note: str = "") -> Alert:
        """:meth:`plan_ack` and :meth:`apply` at once; the acknowledged alert."""
        planned = self.plan_ack(fp, by, now, note)
        self.apply(planned)
        return planned.alerts[fp]

    def plan_ack(self, fp: str, by: str, now: float, note: str = "") -> PlannedStep:
        """Acknowledge a pending or firing alert (its repeats are held until it resolves),
        as a step to store and then :meth:`apply`. ``note`` is kept with it (why, what is
        being done) until the alert resolves."""
        alert = self._require(fp)
        if alert.state not in (AlertState.PENDING, AlertState.FIRING):
            raise ValueError(
                f"alert {fp} ({alert.rule}) is {alert.state.value}; only pending or firing "
                "alerts can be acknowledged"
            )
        if not by:
            raise ValueError("an acknowledgement needs a name (who is handling it)")
        acked = dataclasses.replace(alert, acked_by=by, acked_at=now, acked_note=note.strip())
        return PlannedStep({**self._alerts, fp: acked}, (), None, self._version)

    # ---------------------------------------------------------------- persistence

    def export_state(self) -> dict[str, Any]:
        """Everything needed to resume after a restart, as JSON-able dicts."""
        return PlannedStep(self._alerts, (), None, self._version).export_state()

    def import_state(self, data: Mapping[str, Any]) -> None:
        """Replace the tracked alerts with an :meth:`export_state` dump."""
        version = data.get("version")
        if version != STATE_VERSION:
            raise ValueError(
                f"alert state has version {version!r}, this kafkascope reads version "
                f"{STATE_VERSION}; start with empty alert state or upgrade kafkascope"
            )
        alerts = [Alert.from_dict(a) for a in data.get("alerts", ())]
        self._alerts = {a.fingerprint: a for a in alerts}
        self._version += 1

    # ---------------------------------------------------------------- transitions

    def _merge(self, findings: Iterable[Finding]) -> dict[str, Finding]:
        """One finding per fingerprint: identical findings collapse; of two severities for
        the same subject the worse wins."""
        merged: dict[str, Finding] = {}
        for f in findings:
            if f.rule not in self._for:
                known = ", ".join(sorted(self._for)) or "(none)"
                raise ValueError(f"finding for unknown rule {f.rule!r}; known rules: {known}")
            fp = f.fingerprint
            seen = merged.get(fp)
            if seen is None or f.severity.rank >= seen.severity.rank:
                merged[fp] = f
        return merged

    def _began(self, f: Finding, now: float) -> float:
        """When a condition first found now began: when its data was read, but no earlier
        than the previous step (which did not find it) and no later than now."""
        if f.observed_at is None:
            return now
        floor = self._last_step if self._last_step is not None else -math.inf
        return min(now, max(f.observed_at, floor))

    def _present(self, alert: Alert | None, f: Finding, now: float, began: float) -> Alert:
        if alert is None or alert.state in (AlertState.INACTIVE, AlertState.RESOLVED):
            for_seconds = self._for[f.rule]
            base = alert or Alert(
                fingerprint=f.fingerprint,
                rule=f.rule,
                severity=f.severity,
                labels=f.labels,
                state=AlertState.INACTIVE,
                active_since=None,
                pending_since=None,
                fired_at=None,
                resolved_at=None,
                last_notified_at=None,
                last_value=None,
                summary=f.summary,
            )
            started = dataclasses.replace(
                _observe(base, f, now),
                state=AlertState.PENDING,
                active_since=began,
                pending_since=now if for_seconds > 0 else None,
                acked_by=None,
                acked_at=None,
                acked_note="",
            )
            if for_seconds <= 0 or now - began >= for_seconds:
                return self._fire(started, now)
            return started
        alert = _observe(alert, f, now)
        if alert.state is AlertState.PENDING:
            since = alert.active_since if alert.active_since is not None else now
            if now - since >= self._for[f.rule]:
                return self._fire(alert, now)
        return alert

    def _fire(self, alert: Alert, now: float) -> Alert:
        history = (*self._recent(alert.fire_history, now), now)
        flapping = alert.flapping or len(history) > self.flap_threshold
        return dataclasses.replace(
            alert,
            state=AlertState.FIRING,
            fired_at=now,
            last_change_at=now,
            fire_history=history,
            flapping=flapping,
            flapping_since=(alert.flapping_since or now) if flapping else None,
        )

    def _absent(self, alert: Alert, now: float) -> Alert | None:
        """The alert after a step without its finding; None to forget it."""
        if alert.state is AlertState.FIRING:
            return dataclasses.replace(
                alert,
                state=AlertState.RESOLVED,
                resolved_at=now,
                last_change_at=now,
                acked_by=None,
                acked_at=None,
                acked_note="",
            )
        if alert.state is AlertState.PENDING:
            if alert.resolved_at is None and alert.notified_severity is None:
                return None  # never fired: back to inactive, nobody hears of it
            # It had fired before: fall back to its resolved record (keeps flap history, and
            # a resolution still owed to the receivers).
            return dataclasses.replace(alert, state=AlertState.RESOLVED, pending_since=None)
        if alert.state is AlertState.RESOLVED:
            resolved = alert.resolved_at if alert.resolved_at is not None else now
            keep = max(self.resolved_retention, self.flap_window)
            owed = alert.notified_severity is not None or alert.flapping
            if not owed and now - resolved >= keep:
                return None
            return alert
        return None

    def _calm(self, alert: Alert, now: float) -> Alert:
        """Forget fire times older than the window; end flapping once stable for a window."""
        history = self._recent(alert.fire_history, now)
        if alert.flapping:
            changed = alert.last_change_at
            if changed is None or now - changed >= self.flap_window:
                return dataclasses.replace(
                    alert, flapping=False, flapping_since=None, fire_history=history
                )
        if history != alert.fire_history:
            return dataclasses.replace(alert, fire_history=history)
        return alert

    def _recent(self, times: tuple[float, ...], now: float) -> tuple[float, ...]:
        return tuple(t for t in times if now - t < self.flap_window)

    @staticmethod
    def _mark(alert: Alert, kind: NotificationKind, now: float) -> Alert:
        """The alert once ``kind`` is sent: a firing or repeat adds its severity to those
        the receivers heard of (all of them are owed the resolution); a resolution clears
        them."""
        if kind == "resolved":
            return dataclasses.replace(
                alert, last_notified_at=now, notified_severity=None, notified_severities=()
            )
        told = {*alert.notified_severities, alert.severity}
        return dataclasses.replace(
            alert,
            last_notified_at=now,
            notified_severity=alert.severity,
            notified_severities=tuple(sorted(told, key=lambda s: s.rank)),
        )

    def _require(self, fp: str) -> Alert:
        alert = self._alerts.get(fp)
        if alert is None:
            raise UnknownAlert(
                f"no alert {fp} is tracked (it may have resolved and been forgotten); list "
                "the current ones with GET /api/v1/alerts"
            )
        return alert


def _observe(alert: Alert, f: Finding, now: float) -> Alert:
    """Carry the latest finding's facts into the alert."""
    return dataclasses.replace(
        alert,
        severity=f.severity,
        labels=f.labels,
        last_value=f.value,
        summary=f.summary,
        last_seen_at=now,
    )

"""The alerting vocabulary: what a rule finds, what the engine tracks, what it asks to send.

Everything here is a frozen value. The flow is one way::

    rules (checks over views) ──Finding──▶ engine (state machine) ──Notification──▶ notifiers

A :class:`Finding` says "this condition holds right now"; the engine turns a stream of
findings into :class:`Alert` records with a life (pending → firing → resolved) and decides,
through silences, acknowledgements, the repeat interval and flap damping, which
:class:`Notification` is owed to the receivers.

Labels are a sorted tuple of ``(name, value)`` string pairs so that two findings about the
same thing compare, hash and fingerprint equal whatever order their labels were built in.
"""

from __future__ import annotations

import enum
import functools
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from kafkascope.model import Labels, Severity

__all__ = [
    "PSEUDO_LABELS",
    "Alert",
    "AlertState",
    "Finding",
    "Matcher",
    "Notification",
    "NotificationKind",
    "Severity",
    "Silence",
    "fingerprint",
    "make_labels",
]

#: What the engine asks the notifiers to send.
NotificationKind = Literal["firing", "resolved", "repeat"]

#: Names a silence matcher can use besides an alert's own labels.
PSEUDO_LABELS = ("rule", "severity")


class AlertState(enum.Enum):
    """Where an alert is in its life.

    INACTIVE: nothing found (the engine forgets such alerts; the value exists so callers can
    say "not active" about a fingerprint). PENDING: found, but not yet for the rule's
    ``for``. FIRING: found for at least ``for``. RESOLVED: was firing, no longer found.
    """

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


def make_labels(
    pairs: Mapping[str, object] | Iterable[tuple[str, object]] = (), **kw: object
) -> Labels:
    """Normalise labels: values to ``str``, ``None`` values dropped, sorted by name.

    ``make_labels(cluster="prod", broker=2)`` → ``(("broker", "2"), ("cluster", "prod"))``.
    """
    items = dict(pairs.items() if isinstance(pairs, Mapping) else pairs)
    items.update(kw)
    return tuple(sorted((str(k), str(v)) for k, v in items.items() if v is not None))


def fingerprint(rule: str, labels: Labels | Mapping[str, str]) -> str:
    """A stable identity for "this rule about this thing": sha256 of rule + sorted labels.

    Severity and value are left out on purpose, so an alert that escalates from warning to
    critical, or whose value changes, stays the same alert. ``hashlib`` (not ``hash()``,
    which is salted per process) keeps it identical across restarts.
    """
    pairs = sorted(labels.items()) if isinstance(labels, Mapping) else sorted(labels)
    payload = json.dumps([rule, pairs], separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule's verdict that a condition holds now, about one subject.

    ``labels`` always carry ``cluster`` and the subject (``broker``, ``group``, ``client``,
    ``topic``); ``summary`` is the sentence an operator reads at 3 a.m., naming the cluster,
    the subject, what is wrong and the evidence. ``value`` is the number the rule compared,
    when there is one. ``observed_at`` is when the data behind it was read (the poll, not
    the evaluation), so a rule's ``for`` counts from when the condition was seen; None:
    at the evaluation.
    """

    rule: str
    severity: Severity
    labels: Labels
    value: float | None
    summary: str
    observed_at: float | None = None

    def __post_init__(self) -> None:
        normalised = make_labels(self.labels)
        if len(normalised) != len(self.labels):
            raise ValueError(f"finding {self.rule}: duplicate label names in {self.labels!r}")
        object.__setattr__(self, "labels", normalised)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.labels)

    def label(self, name: str) -> str | None:
        return dict(self.labels).get(name)


@functools.lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@dataclass(frozen=True, slots=True)
class Matcher:
    """``label == value``, or with ``regex`` the whole value matches the pattern (anchored,
    as in Alertmanager). A missing label reads as ``""``."""

    label: str
    value: str
    regex: bool = False

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a matcher needs a label name")
        if self.regex:
            try:
                _compile(self.value)
            except re.error as exc:
                raise ValueError(
                    f"matcher {self.label}=~{self.value!r}: invalid regular expression: {exc}"
                ) from None

    @classmethod
    def all_equal(cls, labels: Mapping[str, str]) -> tuple[Matcher, ...]:
        """``{"cluster": "prod"}`` → ``(Matcher("cluster", "prod"),)``: config's label maps."""
        return tuple(cls(k, v) for k, v in sorted(labels.items()))

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.label, "")
        if self.regex:
            return _compile(self.value).fullmatch(actual) is not None
        return actual == self.value

    def __str__(self) -> str:
        return f"{self.label}{'=~' if self.regex else '='}{self.value!r}"

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "value": self.value, "regex": self.regex}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Matcher:
        return cls(str(data["label"]), str(data["value"]), bool(data.get("regex", False)))


@dataclass(frozen=True, slots=True)
class Silence:
    """Mute notifications of every alert all of whose ``matchers`` match, until ``expires_at``.

    Matchers see the alert's labels plus the pseudo-labels ``rule`` and ``severity``. A
    silence mutes notifications only: the engine still tracks the alert, and when the
    silence expires a still-firing alert that was never announced is announced.
    """

    id: str
    matchers: tuple[Matcher, ...]
    expires_at: float
    created_by: str
    comment: str
    starts_at: float | None = None

    def __post_init__(self) -> None:
        if not self.matchers:
            raise ValueError(
                f"silence {self.id}: needs at least one matcher (an empty silence would mute "
                "every alert); to mute everything on purpose use cluster=~'.*'"
            )
        object.__setattr__(self, "matchers", tuple(self.matchers))

    def active(self, now: float) -> bool:
        return (self.starts_at is None or self.starts_at <= now) and now < self.expires_at

    def matches(self, rule: str, severity: Severity, labels: Labels) -> bool:
        view = dict(labels)
        view["rule"] = rule
        view["severity"] = severity.value
        return all(m.matches(view) for m in self.matchers)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_dict() for m in self.matchers],
            "expires_at": self.expires_at,
            "created_by": self.created_by,
            "comment": self.comment,
            "starts_at": self.starts_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        starts = data.get("starts_at")
        return cls(
            id=str(data["id"]),
            matchers=tuple(Matcher.from_dict(m) for m in data["matchers"]),
            expires_at=float(data["expires_at"]),
            created_by=str(data.get("created_by", "")),
            comment=str(data.get("comment", "")),
            starts_at=None if starts is None else float(starts),
        )


@dataclass(frozen=True, slots=True)
class Alert:
    """The engine's record of one fingerprint.

    Times are seconds since the epoch; ``None`` means "never". ``active_since`` is when the
    current episode's condition was first seen; ``pending_since`` when it entered PENDING
    (None if the rule has no ``for`` and it fired at once); ``fired_at`` / ``resolved_at``
    the latest such transitions.

    ``notified_severity`` is what the receivers currently believe: the severity of the last
    firing/repeat notification of this episode, or None when they believe it is not firing
    (never told, or told it resolved). ``notified_severities`` is every severity a firing or
    repeat of this episode was sent under (a downgraded alert's repeat reaches other routes
    than its first page): its resolution is routed on all of them, so whoever was told it
    fires hears that it resolved. ``fire_history`` holds the times the alert started
    firing within the flap window; more than the engine's threshold marks it ``flapping``,
    and its notifications are held until it has been stable (no state change) for a window.
    ``silenced_by`` lists the ids of the active silences matching it at the last step.
    """

    fingerprint: str
    rule: str
    severity: Severity
    labels: Labels
    state: AlertState
    active_since: float | None
    pending_since: float | None
    fired_at: float | None
    resolved_at: float | None
    last_notified_at: float | None
    last_value: float | None
    summary: str
    last_seen_at: float | None = None
    notified_severity: Severity | None = None
    notified_severities: tuple[Severity, ...] = ()
    acked_by: str | None = None
    acked_at: float | None = None
    #: What the acknowledger wrote (why, what is being done); "" when nothing.
    acked_note: str = ""
    fire_history: tuple[float, ...] = ()
    flapping: bool = False
    flapping_since: float | None = None
    last_change_at: float | None = None
    silenced_by: tuple[str, ...] = field(default=())

    @property
    def acked(self) -> bool:
        return self.acked_by is not None

    @property
    def status_note(self) -> str:
        """Why notifications are held, in words, or ``""`` when they are not."""
        notes = []
        if self.flapping:
            notes.append(
                f"flapping (fired {len(self.fire_history)} times recently): notifications "
                "held until it is stable"
            )
        if self.silenced_by:
            notes.append(f"silenced by {', '.join(self.silenced_by)}")
        if self.acked:
            note = f" ({self.acked_note})" if self.acked_note else ""
            notes.append(f"acknowledged by {self.acked_by}{note}: repeats held until resolved")
        return "; ".join(notes)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; :meth:`from_dict` reads it back exactly."""
        return {
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "severity": self.severity.value,
            "labels": dict(self.labels),
            "state": self.state.value,
            "active_since": self.active_since,
            "pending_since": self.pending_since,
            "fired_at": self.fired_at,
            "resolved_at": self.resolved_at,
            "last_notified_at": self.last_notified_at,
            "last_value": self.last_value,
            "summary": self.summary,
            "last_seen_at": self.last_seen_at,
            "notified_severity": (
                None if self.notified_severity is None else self.notified_severity.value
            ),
            "notified_severities": [s.value for s in self.notified_severities],
            "acked_by": self.acked_by,
            "acked_at": self.acked_at,
            "acked_note": self.acked_note,
            "fire_history": list(self.fire_history),
            "flapping": self.flapping,
            "flapping_since": self.flapping_since,
            "last_change_at": self.last_change_at,
            "silenced_by": list(self.silenced_by),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        def opt(key: str) -> float | None:
            v = data.get(key)
            return None if v is None else float(v)

        notified = data.get("notified_severity")
        # State stored before notified_severities existed: what was told is the last one.
        told = data.get("notified_severities", [] if notified is None else [notified])
        labels = make_labels(data.get("labels", {}))
        rule = str(data["rule"])
        return cls(
            fingerprint=str(data.get("fingerprint") or fingerprint(rule, labels)),
            rule=rule,
            severity=Severity(data["severity"]),
            labels=labels,
            state=AlertState(data["state"]),
            active_since=opt("active_since"),
            pending_since=opt("pending_since"),
            fired_at=opt("fired_at"),
            resolved_at=opt("resolved_at"),
            last_notified_at=opt("last_notified_at"),
            last_value=opt("last_value"),
            summary=str(data.get("summary", "")),
            last_seen_at=opt("last_seen_at"),
            notified_severity=None if notified is None else Severity(notified),
            notified_severities=tuple(Severity(s) for s in told),
            acked_by=None if data.get("acked_by") is None else str(data["acked_by"]),
            acked_at=opt("acked_at"),
            acked_note=str(data.get("acked_note") or ""),
            fire_history=tuple(float(t) for t in data.get("fire_history", ())),
            flapping=bool(data.get("flapping", False)),
            flapping_since=opt("flapping_since"),
            last_change_at=opt("last_change_at"),
            silenced_by=tuple(str(s) for s in data.get("silenced_by", ())),
        )


@dataclass(frozen=True, slots=True)
class Notification:
    """What the engine asks the notifiers to send: an alert snapshot and why.

    ``firing``: the receivers did not know it fires (or it escalated to a worse severity);
    ``repeat``: still firing, reminder after the repeat interval; ``resolved``: it was
    announced as firing and is no longer found. ``id`` is stable for (alert, kind, time),
    so an outbox can deliver each notification exactly once.
    """

    kind: NotificationKind
    alert: Alert
    at: float

    @property
    def id(self) -> str:
        payload = f"{self.alert.fingerprint}|{self.kind}|{self.at!r}"
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:20]

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "at": self.at, "alert": self.alert.to_dict()}

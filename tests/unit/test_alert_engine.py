"""The alert state machine: pending → firing → resolved, dedup, repeats, silences, acks,
flapping and restarts.

Scenarios are tables of steps: at time ``t`` these findings hold (and these silences
exist); the expected answer is every notification sent, as ``(t, kind, subject)``. Each
case says why its answer is right.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kafkascope.alerts.alert import (
    Alert,
    AlertState,
    Finding,
    Matcher,
    Notification,
    Silence,
    fingerprint,
    make_labels,
)
from kafkascope.alerts.engine import AlertEngine, UnknownAlert
from kafkascope.alerts.pack import BUILTIN_RULES
from kafkascope.alerts.user_rules import Comparator, UserRule
from kafkascope.model import Severity

T0 = 1_700_000_000.0


@dataclass(frozen=True)
class Rule:
    name: str
    for_seconds: float


RULES = [Rule("instant", 0), Rule("slow", 60)]


def finding(
    rule: str, broker: int, severity: Severity = Severity.WARNING, value: float = 1.0
) -> Finding:
    return Finding(
        rule,
        severity,
        make_labels(cluster="prod", broker=broker),
        value,
        f"broker {broker} of cluster prod: {rule}",
    )


# Short names for the findings the scenarios use.
F: dict[str, Finding] = {
    "b1": finding("instant", 1),
    "b1!": finding("instant", 1, Severity.CRITICAL),  # same alert as b1, escalated
    "b2": finding("instant", 2),
    "slow": finding("slow", 1),
}
NAME_OF = {f.fingerprint: name.rstrip("!") for name, f in F.items()}


@dataclass
class At:
    """One step: at ``t`` (seconds after T0) these findings hold."""

    t: float
    present: tuple[str, ...] = ()
    silences: tuple[Silence, ...] = ()
    before: Callable[[AlertEngine, float], object] | None = None


@dataclass
class Scenario:
    steps: list[At]
    repeat_interval: float = 3600
    flap_window: float = 100
    flap_threshold: int = 3
    log: list[tuple[float, str, str]] = field(default_factory=list)


def run(s: Scenario) -> list[tuple[float, str, str]]:
    engine = AlertEngine(RULES, s.repeat_interval, s.flap_window, s.flap_threshold)
    out: list[tuple[float, str, str]] = []
    for step in s.steps:
        now = T0 + step.t
        if step.before is not None:
            step.before(engine, now)
        for n in engine.step([F[p] for p in step.present], now, step.silences):
            out.append((step.t, n.kind, NAME_OF[n.alert.fingerprint]))
    return out


def silence(*matchers: Matcher, until: float = 10_000, starts: float | None = None) -> Silence:
    return Silence(
        "s1", matchers, T0 + until, "ops", "maintenance", None if starts is None else T0 + starts
    )


def ack(name: str) -> Callable[[AlertEngine, float], object]:
    return lambda engine, now: engine.ack(F[name].fingerprint, "alice", now)


ON_B1 = Matcher("broker", "1")

SCENARIOS = [
    # ---------------------------------------------------------------- for / pending
    pytest.param(
        Scenario([At(0, ("slow",)), At(30, ("slow",)), At(59, ("slow",)), At(60, ("slow",))]),
        [(60, "firing", "slow")],
        # `for` is 60 s: pending at 0, 30, 59; active for exactly 60 s at t=60 → firing.
        id="pending-then-firing-after-for",
    ),
    pytest.param(
        Scenario([At(0, ("slow",)), At(30, ("slow",)), At(45), At(60, ("slow",))]),
        [],
        # It cleared at 45 before its `for`: back to inactive, nobody is told anything,
        # and the new pending at 60 starts its clock again.
        id="clears-before-for-silently",
    ),
    pytest.param(
        Scenario([At(0, ("slow",)), At(45), At(60, ("slow",)), At(119, ("slow",)),
                  At(120, ("slow",))]),
        [(120, "firing", "slow")],
        # The `for` restarts at 60 after the gap: 60 s later, at 120, not at 60.
        id="for-restarts-after-gap",
    ),
    pytest.param(
        Scenario([At(0, ("b1",))]),
        [(0, "firing", "b1")],
        # `for` 0: firing at first sight.
        id="for-zero-fires-at-once",
    ),
    # ---------------------------------------------------------------- resolution
    pytest.param(
        Scenario([At(0, ("b1",)), At(10), At(20)]),
        [(0, "firing", "b1"), (10, "resolved", "b1")],
        # It fired and was announced, then disappeared: one resolved, no more.
        id="resolved-after-firing",
    ),
    pytest.param(
        Scenario([At(0, ("slow",)), At(30), At(40)]),
        [],
        # Pending alerts never announced: no resolved for them.
        id="pending-clears-no-resolved",
    ),
    pytest.param(
        Scenario([At(0, ("b1",)), At(10), At(500, ("b1",))]),
        [(0, "firing", "b1"), (10, "resolved", "b1"), (500, "firing", "b1")],
        # A new episode after a resolution is a new firing.
        id="refires-after-resolution",
    ),
    # ---------------------------------------------------------------- dedup and repeat
    pytest.param(
        Scenario([At(0, ("b1", "b1")), At(10, ("b1",)), At(20, ("b1",))]),
        [(0, "firing", "b1")],
        # The same finding twice in one step and again in later steps is one alert,
        # announced once.
        id="dedup-identical-findings",
    ),
    pytest.param(
        Scenario([At(0, ("b1", "b2"))]),
        [(0, "firing", "b1"), (0, "firing", "b2")],
        # Different labels, different alerts.
        id="different-labels-two-alerts",
    ),
    pytest.param(
        Scenario(
            [At(0, ("b1",)), At(50, ("b1",)), At(99, ("b1",)), At(100, ("b1",)),
             At(150, ("b1",)), At(210, ("b1",))],
            repeat_interval=100,
        ),
        [(0, "firing", "b1"), (100, "repeat", "b1"), (210, "repeat", "b1")],
        # Repeats come once repeat_interval has passed since the last notification (100
        # after 0; then 210 is the first step ≥ 200).
        id="repeat-interval",
    ),
    pytest.param(
        Scenario([At(0, ("b1",)), At(10, ("b1!",)), At(20, ("b1",)), At(30, ("b1!",))]),
        [(0, "firing", "b1"), (10, "firing", "b1")],
        # Escalation to critical is news (critical routes to the pager); falling back to
        # warning is not, and re-escalating to a severity already announced is not either.
        id="escalation-notifies-once",
    ),
    pytest.param(
        Scenario([At(0, ("b1", "b1!"))]),
        [(0, "firing", "b1")],
        # Two severities for one subject in one step: one alert, the worse severity.
        id="merge-keeps-worst",
    ),
    # ---------------------------------------------------------------- silences
    pytest.param(
        Scenario([At(0, ("b1", "b2"), (silence(ON_B1),)), At(10, (), (silence(ON_B1),))]),
        [(0, "firing", "b2"), (10, "resolved", "b2")],
        # broker=1 is silenced: b1 is never announced, so its resolution is not sent
        # either; b2 does not match and goes out as usual.
        id="silence-match-and-non-match",
    ),
    pytest.param(
        Scenario([At(0, ("b1",), (silence(Matcher("rule", "inst.*", regex=True)),))]),
        [],
        # Matchers see the pseudo-label `rule`, and regexes match the whole value.
        id="silence-regex-on-rule",
    ),
    pytest.param(
        Scenario([At(0, ("b1",), (silence(Matcher("rule", "inst", regex=True)),))]),
        [(0, "firing", "b1")],
        # "inst" does not match "instant" as a whole: anchored like Alertmanager.
        id="silence-regex-anchored",
    ),
    pytest.param(
        Scenario(
            [At(0, ("b1",), (silence(ON_B1, until=50),)),
             At(40, ("b1",), (silence(ON_B1, until=50),)),
             At(50, ("b1",), (silence(ON_B1, until=50),))]
        ),
        [(50, "firing", "b1")],
        # The silence expired at 50 while the alert still fires: it is announced then.
        id="silence-expiry-announces",
    ),
    pytest.param(
        Scenario([At(0, ("b1",), (silence(ON_B1, starts=100),))]),
        [(0, "firing", "b1")],
        # A silence that starts in the future does not mute yet.
        id="silence-not-started",
    ),
    pytest.param(
        Scenario(
            [At(0, ("b1",)), At(150, ("b1",), (silence(ON_B1),)), At(160, (), (silence(ON_B1),))],
            repeat_interval=100,
        ),
        [(0, "firing", "b1"), (160, "resolved", "b1")],
        # A silence added after the announcement holds the repeat at 150, but the
        # resolution still goes out so the receiver can close what it opened.
        id="silence-holds-repeat-not-resolution",
    ),
    # ---------------------------------------------------------------- acknowledgements
    pytest.param(
        Scenario(
            [At(0, ("b1",)), At(10, ("b1",), before=ack("b1")), At(500, ("b1",)), At(510),
             At(520, ("b1",)), At(620, ("b1",))],
            repeat_interval=100,
        ),
        [(0, "firing", "b1"), (510, "resolved", "b1"), (520, "firing", "b1"),
         (620, "repeat", "b1")],
        # Acked at 10: no repeats at 100..500; the resolution is still sent; the ack ends
        # with the episode, so the next one repeats again.
        id="ack-holds-repeats-until-resolved",
    ),
    pytest.param(
        Scenario([At(0, ("b1",)), At(10, ("b1!",), before=ack("b1"))]),
        [(0, "firing", "b1"), (10, "firing", "b1")],
        # An ack is for the warning someone saw; escalation to critical is new.
        id="ack-does-not-hold-escalation",
    ),
    # ---------------------------------------------------------------- flapping
    pytest.param(
        Scenario(
            [At(0, ("b1",)), At(10), At(20, ("b1",)), At(30), At(40, ("b1",)), At(50),
             At(60, ("b1",)), At(70, ("b1",)), At(159, ("b1",)), At(160, ("b1",))],
            flap_threshold=3,
        ),
        [(0, "firing", "b1"), (10, "resolved", "b1"), (20, "firing", "b1"),
         (30, "resolved", "b1"), (40, "firing", "b1"), (50, "resolved", "b1"),
         (160, "firing", "b1")],
        # Fourth start within 100 s (at 60) is more than 3: flapping, held. It has not
        # changed since 60; at 160 it has been stable for the window, and the receivers,
        # who last heard "resolved", are told it fires.
        id="flapping-held-until-stable-firing",
    ),
    pytest.param(
        Scenario(
            [At(0, ("b1",)), At(10), At(20, ("b1",)), At(30), At(40, ("b1",)), At(50),
             At(60, ("b1",)), At(70), At(80, ("b1",)), At(90), At(189), At(190)],
            flap_threshold=3,
        ),
        [(0, "firing", "b1"), (10, "resolved", "b1"), (20, "firing", "b1"),
         (30, "resolved", "b1"), (40, "firing", "b1"), (50, "resolved", "b1")],
        # Flapping from 60; it ends resolved at 90 and the receivers already believe it
        # resolved, so calming down at 190 sends nothing.
        id="flapping-settles-resolved-quietly",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("scenario", "expected"), SCENARIOS)
def test_scenario(scenario: Scenario, expected: list[tuple[float, str, str]]) -> None:
    assert run(scenario) == expected


# --------------------------------------------------------------------------------------
# needs_notify is a pure function of the alert and now
# --------------------------------------------------------------------------------------


def alert(**kw: object) -> Alert:
    base: dict[str, object] = {
        "fingerprint": "fp",
        "rule": "instant",
        "severity": Severity.WARNING,
        "labels": make_labels(cluster="prod", broker=1),
        "state": AlertState.FIRING,
        "active_since": T0,
        "pending_since": None,
        "fired_at": T0,
        "resolved_at": None,
        "last_notified_at": None,
        "last_value": 1.0,
        "summary": "s",
    }
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


W, C = Severity.WARNING, Severity.CRITICAL

NEEDS_NOTIFY = [
    pytest.param(alert(), "firing", id="firing-untold"),  # nobody knows yet
    pytest.param(
        alert(notified_severity=W, last_notified_at=T0), None, id="firing-told-recently"
    ),  # told at T0, interval not over
    pytest.param(
        alert(notified_severity=W, last_notified_at=T0 - 100), "repeat", id="firing-due"
    ),  # exactly repeat_interval (100) ago: due
    pytest.param(
        alert(notified_severity=W, last_notified_at=T0 - 100, acked_by="bob"), None, id="acked"
    ),  # acknowledged: no repeats
    pytest.param(
        alert(severity=C, notified_severity=W, last_notified_at=T0), "firing", id="escalated"
    ),  # worse than what they were told
    pytest.param(
        alert(severity=W, notified_severity=C, last_notified_at=T0), None, id="de-escalated"
    ),  # better than told: wait for the repeat
    pytest.param(alert(silenced_by=("s1",)), None, id="silenced"),  # muted
    pytest.param(alert(flapping=True), None, id="flapping"),  # held until stable
    pytest.param(
        alert(state=AlertState.RESOLVED, notified_severity=W), "resolved", id="resolved-told"
    ),  # they believe it fires: tell them it stopped
    pytest.param(
        alert(state=AlertState.RESOLVED, notified_severity=W, silenced_by=("s1",)),
        "resolved",
        id="resolved-silenced-still-sent",
    ),  # close what was opened
    pytest.param(
        alert(state=AlertState.RESOLVED, notified_severity=None), None, id="resolved-untold"
    ),  # never announced: nothing to close
    pytest.param(alert(state=AlertState.PENDING), None, id="pending"),  # not yet
]


@pytest.mark.parametrize(("a", "expected"), NEEDS_NOTIFY)
def test_needs_notify(a: Alert, expected: str | None) -> None:
    engine = AlertEngine(RULES, repeat_interval=100)
    assert engine.needs_notify(a, T0) == expected


# --------------------------------------------------------------------------------------
# State details the API shows
# --------------------------------------------------------------------------------------


def test_alert_records_its_life() -> None:
    engine = AlertEngine(RULES)
    engine.step([F["slow"]], T0)
    (a,) = engine.alerts()
    assert (a.state, a.active_since, a.pending_since, a.fired_at) == (
        AlertState.PENDING,
        T0,
        T0,
        None,
    )
    engine.step([finding("slow", 1, value=7)], T0 + 60)
    a = engine.alerts(AlertState.FIRING)[0]
    assert (a.fired_at, a.last_notified_at, a.last_value, a.notified_severity) == (
        T0 + 60,
        T0 + 60,
        7,
        Severity.WARNING,
    )
    engine.step([], T0 + 70)
    a = engine.alerts(AlertState.RESOLVED)[0]
    assert a.resolved_at == T0 + 70 and a.notified_severity is None
    # Resolved alerts stay visible for resolved_retention, then are forgotten.
    engine.step([], T0 + 70 + 3600)
    assert engine.alerts() == []


def test_flapping_and_silence_are_said_in_the_alert() -> None:
    engine = AlertEngine(RULES, flap_window=100, flap_threshold=1)
    engine.step([F["b1"]], T0)
    engine.step([], T0 + 10)
    engine.step([F["b1"]], T0 + 20, [silence(ON_B1)])
    a = engine.get(F["b1"].fingerprint)
    assert a is not None
    assert a.flapping and a.flapping_since == T0 + 20
    assert a.silenced_by == ("s1",)
    assert "flapping (fired 2 times recently)" in a.status_note
    assert "silenced by s1" in a.status_note


def test_ack_errors_are_clear() -> None:
    engine = AlertEngine(RULES)
    with pytest.raises(UnknownAlert, match="no alert nope is tracked"):
        engine.ack("nope", "alice", T0)
    engine.step([F["b1"]], T0)
    engine.step([], T0 + 1)
    with pytest.raises(ValueError, match="is resolved; only pending or firing"):
        engine.ack(F["b1"].fingerprint, "alice", T0 + 2)


def test_unknown_rule_is_a_bug_not_a_silent_drop() -> None:
    engine = AlertEngine(RULES)
    with pytest.raises(ValueError, match="unknown rule 'typo'; known rules: instant, slow"):
        engine.step([finding("typo", 1)], T0)


def test_builtin_pack_and_user_rules_are_accepted_as_rules() -> None:
    # RuleSpec and UserRule satisfy the engine's TimedRule protocol; `for` comes from them.
    mine = UserRule("disk_full", "disk_used_ratio", Comparator.GT, 0.9, for_seconds=30)
    engine = AlertEngine([*BUILTIN_RULES, mine])
    f = Finding("under_replicated_partitions", Severity.WARNING, make_labels(cluster="c"), 1, "")
    assert engine.step([f], T0) == []  # for 60 s: pending
    assert [n.kind for n in engine.step([f], T0 + 60)] == ["firing"]
    g = Finding("disk_full", Severity.WARNING, make_labels(cluster="c"), 1, "")
    assert engine.step([f, g], T0 + 70) == []  # disk_full pending for its 30 s
    assert [n.kind for n in engine.step([f, g], T0 + 100)] == ["firing"]
    # A user rule named like a built-in would make alerts ambiguous.
    clash = UserRule("broker_down", "m", Comparator.GT, 1)
    with pytest.raises(ValueError, match="two rules are named 'broker_down'"):
        AlertEngine([*BUILTIN_RULES, clash])


# --------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------


def test_fingerprint_is_label_order_independent() -> None:
    a = Finding("r", Severity.INFO, (("b", "2"), ("a", "1")), None, "")
    b = Finding("r", Severity.CRITICAL, (("a", "1"), ("b", "2")), 5.0, "other text")
    assert a.labels == (("a", "1"), ("b", "2"))  # normalised on construction
    assert a.fingerprint == b.fingerprint  # severity, value and text are not identity
    assert fingerprint("r", {"b": "2", "a": "1"}) == a.fingerprint


def test_fingerprint_is_stable_across_processes() -> None:
    # hashlib, not hash(): the value is the same in every process and release. Changing it
    # would orphan every persisted alert (re-sent as new after an upgrade).
    assert fingerprint("broker_down", make_labels(cluster="prod", broker=2)) == "4a6f1a98de0f686a"


def test_fingerprint_tells_rules_and_subjects_apart() -> None:
    labels = make_labels(cluster="prod", broker=2)
    assert fingerprint("a", labels) != fingerprint("b", labels)
    assert fingerprint("a", labels) != fingerprint("a", make_labels(cluster="prod", broker=3))
    # A label value containing separators cannot collide with two labels.
    assert fingerprint("a", {"x": "1,y=2"}) != fingerprint("a", {"x": "1", "y": "2"})


# --------------------------------------------------------------------------------------
# Restarts: export, import into a new engine, nothing re-sent, nothing forgotten
# --------------------------------------------------------------------------------------


def restarted(engine: AlertEngine) -> AlertEngine:
    """A new engine from the old one's state, through JSON as the service stores it."""
    state = json.loads(json.dumps(engine.export_state()))
    fresh = AlertEngine(RULES, engine.repeat_interval, engine.flap_window, engine.flap_threshold)
    fresh.import_state(state)
    return fresh


def test_restart_does_not_resend_firing() -> None:
    engine = AlertEngine(RULES, repeat_interval=100)
    assert [n.kind for n in engine.step([F["b1"]], T0)] == ["firing"]
    fresh = restarted(engine)
    assert fresh.step([F["b1"]], T0 + 10) == []
    # ...and the repeat clock carried over: due 100 s after the original notification.
    assert [n.kind for n in fresh.step([F["b1"]], T0 + 100)] == ["repeat"]


def test_restart_keeps_pending_clock_acks_and_owed_resolution() -> None:
    engine = AlertEngine(RULES, repeat_interval=100)
    engine.step([F["slow"], F["b1"]], T0)
    engine.ack(F["b1"].fingerprint, "alice", T0 + 1)
    fresh = restarted(engine)
    # The pending clock did not restart: slow fires 60 s after T0, not after the restart.
    notes = fresh.step([F["slow"], F["b1"]], T0 + 60)
    assert [(n.kind, NAME_OF[n.alert.fingerprint]) for n in notes] == [("firing", "slow")]
    # The ack survived: no repeat for b1 at T0 + 200.
    assert fresh.step([F["slow"], F["b1"]], T0 + 200) != []  # slow repeats...
    b1 = fresh.get(F["b1"].fingerprint)
    assert b1 is not None and b1.acked_by == "alice" and b1.last_notified_at == T0
    # The resolution is not forgotten after another restart.
    again = restarted(fresh)
    notes = again.step([F["slow"]], T0 + 210)
    assert [(n.kind, NAME_OF[n.alert.fingerprint]) for n in notes] == [("resolved", "b1")]


def test_export_import_round_trip_is_exact() -> None:
    engine = AlertEngine(RULES, flap_window=100, flap_threshold=1)
    engine.step([F["b1!"], F["slow"]], T0, [silence(ON_B1)])
    engine.step([], T0 + 5)
    engine.step([F["b1"]], T0 + 6)
    fresh = restarted(engine)
    assert fresh.alerts() == engine.alerts()
    assert fresh.export_state() == engine.export_state()


def test_import_rejects_unknown_version() -> None:
    with pytest.raises(ValueError, match="version 99"):
        AlertEngine(RULES).import_state({"version": 99, "alerts": []})


def test_silence_round_trip_and_validation() -> None:
    s = Silence("s9", (Matcher("cluster", "prod"), Matcher("broker", "1|2", True)), T0, "a", "c")
    assert Silence.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    with pytest.raises(ValueError, match="needs at least one matcher"):
        Silence("s0", (), T0, "a", "c")


def test_notification_ids_are_stable_and_distinct() -> None:
    a = alert()
    n1 = Notification("firing", a, T0)
    assert n1.id == Notification("firing", a, T0).id  # the outbox dedups on it
    assert n1.id != Notification("repeat", a, T0).id
    assert n1.id != Notification("firing", a, T0 + 1).id
    assert json.loads(json.dumps(n1.to_dict()))["alert"]["fingerprint"] == "fp"


# --------------------------------------------------------------------------------------
# Properties over arbitrary histories
# --------------------------------------------------------------------------------------

UNIVERSE = [
    finding(rule, broker, severity)
    for rule in ("instant", "slow")
    for broker in (1, 2)
    for severity in (Severity.WARNING, Severity.CRITICAL)
]
PROP_REPEAT = 200.0

step_strategy = st.tuples(
    st.integers(min_value=1, max_value=150),  # seconds since the previous step
    st.sets(st.integers(min_value=0, max_value=len(UNIVERSE) - 1), max_size=len(UNIVERSE)),
    st.booleans(),  # whether a silence on broker 2 is active
    st.booleans(),  # whether to ack every firing alert first
)
history_strategy = st.lists(step_strategy, min_size=1, max_size=40)


def play(
    history: list[tuple[int, set[int], bool, bool]], restart_every: int = 0
) -> list[tuple[float, Notification]]:
    engine = AlertEngine(RULES, repeat_interval=PROP_REPEAT, flap_window=300, flap_threshold=2)
    now = T0
    out = []
    for i, (dt, present, silenced, acks) in enumerate(history):
        now += dt
        if restart_every and i % restart_every == 0:
            engine = restarted(engine)
        if acks:
            for a in engine.alerts(AlertState.FIRING):
                engine.ack(a.fingerprint, "prop", now)
        silences = [silence(Matcher("broker", "2"))] if silenced else []
        for n in engine.step([UNIVERSE[j] for j in sorted(present)], now, silences):
            out.append((now, n))
        for a in engine.alerts():
            # The receivers' picture is right whenever nothing holds it back.
            if a.flapping:
                continue
            if a.state is AlertState.FIRING and not a.silenced_by:
                assert a.notified_severity is not None, a
            if a.state is AlertState.RESOLVED:
                assert a.notified_severity is None, a
    return out


@settings(max_examples=300, deadline=None)
@given(history_strategy)
def test_property_no_resolved_without_firing_and_repeats_spaced(
    history: list[tuple[int, set[int], bool, bool]],
) -> None:
    told: dict[str, Severity | None] = {}  # what each alert's receivers believe
    last_at: dict[str, float] = {}
    for now, n in play(history):
        fp = n.alert.fingerprint
        believed = told.get(fp)
        if n.kind == "resolved":
            # Never "resolved" without a "firing" (or its repeat) since the last resolved.
            assert believed is not None
            told[fp] = None
        elif n.kind == "repeat":
            # A repeat follows an announcement, and never sooner than repeat_interval.
            assert believed is not None
            assert now - last_at[fp] >= PROP_REPEAT
            told[fp] = n.alert.severity
        else:
            # "firing" is news: untold, or worse than what was told.
            assert believed is None or n.alert.severity.rank > believed.rank
            told[fp] = n.alert.severity
        last_at[fp] = now


@settings(max_examples=150, deadline=None)
@given(history_strategy, st.integers(min_value=1, max_value=5))
def test_property_restarts_change_nothing(
    history: list[tuple[int, set[int], bool, bool]], every: int
) -> None:
    # Exporting and importing the state at any point gives exactly the same notifications
    # as never restarting: a restart neither re-sends nor forgets.
    def key(items: list[tuple[float, Notification]]) -> list[tuple[float, str, str]]:
        return [(t, n.kind, n.id) for t, n in items]

    assert key(play(history, restart_every=every)) == key(play(history))


def test_a_resolution_after_a_downgrade_reaches_the_critical_route() -> None:
    """Told "critical" at t=0, calmed to warning at t=10, cleared at t=20: the pager that
    took the critical page must hear it resolved, though the alert ends as a warning; a
    warning-only episode's resolution does not page."""
    from kafkascope.alerts.routing import Route, route

    pager = [Route(["pager"], match_severity=Severity.CRITICAL)]
    engine = AlertEngine(RULES)
    sent = engine.step([F["b1!"]], T0)
    assert [(n.kind, route(n, pager)) for n in sent] == [("firing", ["pager"])]
    assert engine.step([F["b1"]], T0 + 10) == []  # a downgrade sends nothing by itself
    (resolved,) = engine.step([], T0 + 20)
    assert resolved.kind == "resolved" and resolved.alert.severity is Severity.WARNING
    assert route(resolved, pager) == ["pager"]
    engine.step([F["b2"]], T0 + 30)
    (warn_resolved,) = engine.step([], T0 + 40)
    assert route(warn_resolved, pager) == []


def test_held_alerts_are_neither_cleared_nor_renotified() -> None:
    """A restarted service evaluates before its monitors have reported: an alert whose
    source is silent (``hold``) keeps firing without a word; only a real report without
    the finding resolves it."""
    engine = AlertEngine(RULES)
    assert [n.kind for n in engine.step([F["b1"]], T0)] == ["firing"]
    assert engine.step([], T0 + 2, hold=lambda a: True) == []
    held = engine.get(F["b1"].fingerprint)
    assert held is not None and held.state is AlertState.FIRING
    assert [n.kind for n in engine.step([F["b1"]], T0 + 4)] == []  # same episode: no re-send
    assert [n.kind for n in engine.step([], T0 + 6)] == ["resolved"]


def test_for_counts_from_when_the_condition_was_read() -> None:
    """`for` runs from the poll that saw the condition, not from the evaluation that first
    judged it: with polls and evaluations 2 s apart and out of phase, a 60 s rule fires 60 s
    after the reading (the first step whose `now` is past it), not up to an interval later.
    The start is never put before the previous step, which did not find it."""
    engine = AlertEngine(RULES)
    engine.step([], T0)
    seen = dataclasses.replace(F["slow"], observed_at=T0 + 0.5)
    assert engine.step([seen], T0 + 2) == []
    alert = engine.get(seen.fingerprint)
    assert alert is not None and alert.active_since == T0 + 0.5
    assert engine.step([seen], T0 + 60) == []  # 59.5 s: not yet
    assert [n.kind for n in engine.step([seen], T0 + 60.5)] == ["firing"]

    # A reading older than the previous step (a stale report) counts from that step.
    late = AlertEngine(RULES)
    late.step([], T0 + 100)
    stale = dataclasses.replace(F["slow"], observed_at=T0)
    late.step([stale], T0 + 102)
    held = late.get(stale.fingerprint)
    assert held is not None and held.active_since == T0 + 100


@pytest.mark.parametrize(
    ("reasons", "summary"),
    [
        # No reason given: a recovery; the resolution repeats what fired.
        ({}, "broker 1 of cluster prod: instant"),
        # A reason for this alert: it cleared without recovering (a retired client), and
        # the resolution says so.
        ({"fp": "retired: DEAD for a day"}, "retired: DEAD for a day"),
        # A reason for another alert changes nothing here.
        ({"other": "retired"}, "broker 1 of cluster prod: instant"),
    ],
)
def test_a_resolution_carries_the_reason_it_was_given(
    reasons: dict[str, str], summary: str
) -> None:
    engine = AlertEngine(RULES)
    f = finding("instant", 1)
    engine.step([f], T0)
    by_fp = {f.fingerprint if k == "fp" else k: v for k, v in reasons.items()}
    (note,) = engine.step([], T0 + 10, reasons=by_fp)
    assert note.kind == "resolved"
    assert note.alert.summary == summary


def test_an_ack_keeps_its_note_across_a_restart_and_drops_it_on_resolve() -> None:
    # The note is what the acknowledger wrote; it must survive export/import (the service
    # stores the engine state as JSON) and leave with the ack when the alert resolves,
    # so a later firing does not carry a stale note.
    engine = AlertEngine(RULES)
    engine.step([F["b1"]], T0)
    acked = engine.ack(F["b1"].fingerprint, "alice", T0 + 1, note="  rolling broker 1  ")
    assert (acked.acked_by, acked.acked_note) == ("alice", "rolling broker 1")
    assert "acknowledged by alice (rolling broker 1)" in acked.status_note
    again = restarted(engine).get(F["b1"].fingerprint)
    assert again is not None and again.acked_note == "rolling broker 1"
    engine.step([], T0 + 2)
    resolved = engine.get(F["b1"].fingerprint)
    assert resolved is not None and resolved.acked_by is None and resolved.acked_note == ""

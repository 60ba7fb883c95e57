"""Alerting in the service: views → findings → the engine → the outbox → the receivers.

The engine's state and the notifications it produced are committed in ONE transaction, so
after a crash either both happened or neither: a restart never re-sends what was queued
and never forgets what was owed. The engine plans a step without changing and takes the new
state only after that commit, so a failed write forgets nothing either. Delivery runs from
the outbox, separately (its own job in the service), with retries.

The runner evaluates and answers the API; what config builds is in ``alerts/setup``, what
the rules read in ``alerts/inputs``, the SQL in ``store/alert_state`` and ``store/outbox``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from kafkascope.alerts.alert import Alert, AlertState, Finding, Matcher, Notification, Silence
from kafkascope.alerts.checks import (
    RULE_SOURCE,
    USER_RULE_SOURCES,
    evaluate_builtin,
    resolution_reasons,
)
from kafkascope.alerts.engine import AlertEngine
from kafkascope.alerts.inputs import CounterLog, build_views, report_times, rule_samples
from kafkascope.alerts.notify import Notifier
from kafkascope.alerts.outbox import Outbox
from kafkascope.alerts.resend import Resender
from kafkascope.alerts.routing import route
from kafkascope.alerts.setup import build_notifiers, build_routes, build_rules, console_url
from kafkascope.alerts.user_rules import evaluate_user_rule
from kafkascope.clock import Clock
from kafkascope.config import Config
from kafkascope.model import Sample
from kafkascope.monitor.live import LiveState
from kafkascope.monitor.series import AlertCountKey
from kafkascope.store import alert_state
from kafkascope.store.db import Database, Transaction

__all__ = ["AlertRunner", "alert_rows"]


class AlertRunner:
    """Owns the engine (one thread steps it; API calls take the lock), silences and the
    outbox."""

    def __init__(
        self,
        config: Config,
        db: Database,
        clock: Clock,
        notifiers: Mapping[str, Notifier] | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.clock = clock
        self.pack, self.user_rules = build_rules(config.alerts)
        self.engine = AlertEngine(
            [*self.pack, *self.user_rules], repeat_interval=config.alerts.repeat_interval
        )
        self.notifiers = (
            dict(notifiers)
            if notifiers is not None
            else build_notifiers(config.alerts, console_url(config.service.listen))
        )
        self.routes = build_routes(config.alerts)
        self.outbox = Outbox(db, self.notifiers, clock)
        #: Receivers that forget a firing alert unless it is re-posted (Alertmanager).
        self.resender = Resender(
            {
                name: every
                for name, n in self.notifiers.items()
                if isinstance(every := getattr(n, "resend_interval", None), (int, float))
            }
        )
        self.silences: dict[str, Silence] = {}
        self.counters = CounterLog()
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        """Resume the engine's state and the silences from the store (one read)."""
        stored, silences = self.db.read(
            lambda conn: (alert_state.load_engine_state(conn), alert_state.load_silences(conn))
        )
        with self._lock:
            if stored is not None:
                self.engine.import_state(stored.state)
            for data in silences:
                s = Silence.from_dict(data)
                self.silences[s.id] = s

    # -- the evaluation step ------------------------------------------------------------
    def evaluate(self, live: LiveState) -> list[Notification]:
        now = self.clock.now()
        findings: list[Finding] = []
        samples: list[Sample] = []
        silent: set[tuple[str, str]] = set()
        reasons: dict[str, str] = {}
        for name, cl in list(live.clusters.items()):
            cfg = self.config.cluster(name)
            threshold = cfg.lag.lag_seconds_threshold if cfg is not None else None
            clusters, brokers, groups, clients, topics = build_views(cl, self.counters, threshold)
            read_at = report_times(cl)
            silent |= {(name, source) for source, t in read_at.items() if t is None}
            found = evaluate_builtin(
                self.pack,
                now=now,
                clusters=clusters,
                brokers=brokers,
                groups=groups,
                clients=clients,
                topics=topics,
            )
            findings += [replace(f, observed_at=read_at[RULE_SOURCE[f.rule]]) for f in found]
            reasons.update(resolution_reasons(clients))
            if self.user_rules:  # relabelling every sample costs; only when rules read them
                samples += rule_samples(cl)
        for rule in self.user_rules:
            findings += evaluate_user_rule(rule, samples, now)

        def hold(alert: Alert) -> bool:
            """No report yet from the alert's source in its cluster: nothing is known."""
            cluster = dict(alert.labels).get("cluster", "")
            sources = (RULE_SOURCE[alert.rule],) if alert.rule in RULE_SOURCE else USER_RULE_SOURCES
            return any((cluster, source) in silent for source in sources)

        return self.step(findings, now, hold if silent else None, reasons)

    def step(
        self,
        findings: list[Finding],
        now: float,
        hold: Callable[[Alert], bool] | None = None,
        reasons: Mapping[str, str] | None = None,
    ) -> list[Notification]:
        """Fold ``findings`` into the engine at ``now`` and commit: the new engine state and
        the outbox rows it owes go in one transaction, and the engine takes the new state
        only once that committed. If the write fails, the engine is as it was and the next
        step owes the same notifications (none is marked sent without being queued)."""
        with self._lock:
            active = [s for s in self.silences.values() if s.active(now)]
            planned = self.engine.plan(findings, now, active, hold, reasons)
            state = planned.export_state()
            receivers = list(self.notifiers)
            items = [(n, route(n, self.routes, default=receivers)) for n in planned.notifications]
            # Re-posts owed to receivers that forget firing alerts (alerts/resend), queued
            # in the same transaction: they keep the outbox's guarantees.
            items += self.resender.due(
                planned.alerts.values(), items, now, self.routes, receivers, self._pending_pairs
            )

            def write(conn: Transaction) -> None:
                alert_state.save_engine_state(conn, state, now)
                self.outbox.enqueue(conn, [(n, r) for n, r in items if r], now)

            self.db.write(write)
            self.engine.apply(planned)
            self.resender.record(items, now)
            self.resender.forget(planned.alerts)
        return list(planned.notifications)

    def _pending_pairs(self) -> set[tuple[str, str]]:
        """(receiver, fingerprint) of every row still waiting in the outbox."""
        return {(item.receiver, item.fingerprint) for item in self.outbox.pending()}

    def deliver(self) -> None:
        """Send what the outbox holds that is due (the service runs this as its own job, so
        a failing evaluation never holds back rows already queued)."""
        self.outbox.deliver_due()

    # -- the API's view ------------------------------------------------------------------
    def list_alerts(self, state: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return alert_rows(self.engine.alerts(), state)

    def ack_alert(self, alert_id: str, by: str, note: str = "") -> dict[str, Any]:
        now = self.clock.now()
        with self._lock:
            if self.engine.get(alert_id) is None:
                raise KeyError(alert_id)
            planned = self.engine.plan_ack(alert_id, by, now, note)
            state = planned.export_state()
            self.db.write(lambda conn: alert_state.save_engine_state(conn, state, now))
            self.engine.apply(planned)  # stored first: an ack that was not saved did not happen
            a = planned.alerts[alert_id]
            d = a.to_dict()
            d["id"] = a.fingerprint
            return d

    def list_silences(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        with self._lock:
            return [s.to_dict() | {"active": s.active(now)} for s in self.silences.values()]

    def add_silence(self, spec: Any, by: str) -> dict[str, Any]:
        now = self.clock.now()
        expires = spec.expires_at if spec.expires_at is not None else now + spec.duration
        matchers = tuple(
            Matcher(k, v[1:], regex=True) if v.startswith("~") else Matcher(k, v)
            for k, v in sorted(spec.matchers.items())
        )
        s = Silence(
            id=uuid.uuid4().hex[:12],
            matchers=matchers,
            expires_at=expires,
            created_by=by,
            comment=spec.comment,
            starts_at=now,
        )
        self.db.write(lambda conn: alert_state.save_silence(conn, s.id, s.to_dict(), s.expires_at))
        with self._lock:
            self.silences[s.id] = s
        return s.to_dict() | {"active": s.active(now)}

    def delete_silence(self, silence_id: str) -> bool:
        with self._lock:
            if silence_id not in self.silences:
                return False
            # Stored first: a deletion that was not saved would come back at the restart.
            self.db.write(lambda conn: alert_state.delete_silence(conn, silence_id))
            del self.silences[silence_id]
        return True

    def alert_counts(self) -> dict[AlertCountKey, int]:
        """How many alerts are in each ``(cluster, rule, severity, state)`` (state in lower
        case; ``cluster`` is the alert's label, "" when it has none); inactive ones are not
        counted. The API renders ``kafkascope_alerts`` from it."""
        with self._lock:
            counts: dict[AlertCountKey, int] = {}
            for a in self.engine.alerts():
                if a.state is AlertState.INACTIVE:
                    continue
                cluster = dict(a.labels).get("cluster", "")
                key = (cluster, a.rule, a.severity.value, a.state.value.lower())
                counts[key] = counts.get(key, 0) + 1
        return counts


def alert_rows(alerts: Iterable[Alert], state: str | None) -> list[dict[str, Any]]:
    """Alerts as the API lists them (their dict plus ``id``): those in ``state``, or every
    one that is not inactive. Shared with ``kafkascope alerts`` reading the store."""
    wanted = AlertState[state.upper()] if state else None
    return [
        a.to_dict() | {"id": a.fingerprint}
        for a in alerts
        if (a.state is wanted if wanted is not None else a.state is not AlertState.INACTIVE)
    ]

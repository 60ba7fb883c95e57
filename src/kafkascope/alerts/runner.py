"""Alerting in the service: views → findings → the engine → the outbox → the receivers.

The engine's state and the notifications it produced are committed in ONE transaction, so
after a crash either both happened or neither: a restart never re-sends what was queued
and never forgets what was owed. Delivery runs from the outbox, separately, with retries.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from kafkascope.alerts.alert import Alert, AlertState, Matcher, Notification, Silence
from kafkascope.alerts.engine import AlertEngine
from kafkascope.alerts.inputs import CounterLog, build_views
from kafkascope.alerts.notify import EmailNotifier, Notifier, SlackNotifier, WebhookNotifier
from kafkascope.alerts.outbox import Outbox
from kafkascope.alerts.pack import BUILTIN_RULES, RuleSpec
from kafkascope.alerts.routing import Route, route
from kafkascope.alerts.rules import (
    RULE_SOURCE,
    USER_RULE_SOURCES,
    UserRule,
    apply_overrides,
    evaluate_builtin,
    evaluate_user_rule,
)
from kafkascope.clock import Clock
from kafkascope.config import (
    AlertsConfig,
    Config,
    EmailReceiver,
    SlackReceiver,
    WebhookReceiver,
)
from kafkascope.model import Sample, Severity
from kafkascope.monitor.live import ClusterLive, LiveState
from kafkascope.store.db import Database

STATE_KEY = "alert_engine"


def build_notifiers(alerts: AlertsConfig) -> dict[str, Notifier]:
    """One notifier per configured receiver (secrets revealed only here)."""
    out: dict[str, Notifier] = {}
    for r in alerts.receivers:
        if isinstance(r, WebhookReceiver):
            out[r.name] = WebhookNotifier(
                str(r.url), {k: v.reveal() for k, v in r.headers.items()}, r.timeout
            )
        elif isinstance(r, SlackReceiver):
            out[r.name] = SlackNotifier(r.webhook_url.reveal(), r.timeout)
        elif isinstance(r, EmailReceiver):
            out[r.name] = EmailNotifier(
                r.host,
                r.port,
                r.starttls,
                r.username,
                r.password.reveal() if r.password else None,
                r.from_,
                list(r.to),
                r.timeout,
            )
    return out


def build_rules(alerts: AlertsConfig) -> tuple[tuple[RuleSpec, ...], tuple[UserRule, ...]]:
    overrides = {
        name: {
            k: v
            for k, v in {
                "severity": o.severity,
                "for": o.for_,
                "threshold": o.threshold,
                "critical_threshold": o.critical_threshold,
                "window": o.window,
                "enabled": o.enabled,
            }.items()
            if v is not None
        }
        for name, o in alerts.rules.items()
    }
    pack = apply_overrides(BUILTIN_RULES, overrides)
    users = tuple(
        UserRule(
            name=c.name,
            metric=c.metric,
            comparator=c.comparator,  # type: ignore[arg-type]
            threshold=c.threshold,
            for_seconds=c.for_,
            severity=c.severity,  # type: ignore[arg-type]
            selector=Matcher.all_equal(c.labels),
            summary=c.summary,
        )
        for c in alerts.custom_rules
    )
    return pack, users


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
            dict(notifiers) if notifiers is not None else build_notifiers(config.alerts)
        )
        self.routes = [
            Route(r.receivers, [Severity.parse(x) for x in r.severity] or None, r.cluster, r.labels)
            for r in config.alerts.routes
        ]
        self.outbox = Outbox(db, self.notifiers, clock)
        self.silences: dict[str, Silence] = {}
        self.counters = CounterLog()
        self._lock = threading.Lock()

    # -- lifecycle ------------------------------------------------------------------------
    def load(self) -> None:
        """Resume the engine's state and the silences from the store."""

        def read(conn: sqlite3.Connection) -> tuple[str | None, list[str]]:
            row = conn.execute(
                "SELECT value FROM service_state WHERE key = ?", (STATE_KEY,)
            ).fetchone()
            sil = [r[0] for r in conn.execute("SELECT data FROM silences")]
            return (row[0] if row else None), sil

        state, silences = self.db.read(read)
        with self._lock:
            if state:
                self.engine.import_state(json.loads(state))
            for data in silences:
                s = Silence.from_dict(json.loads(data))
                self.silences[s.id] = s

    # -- the evaluation step ------------------------------------------------------------
    def evaluate(self, live: LiveState) -> list[Notification]:
        now = self.clock.now()
        findings = []
        samples: list[Sample] = []
        silent: set[tuple[str, str]] = set()
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
            if self.user_rules:  # relabelling every sample costs; only when rules read them
                samples += rule_samples(cl)
        for rule in self.user_rules:
            findings += evaluate_user_rule(rule, samples, now)

        def hold(alert: Alert) -> bool:
            """No report yet from the alert's source in its cluster: nothing is known."""
            cluster = dict(alert.labels).get("cluster", "")
            sources = (RULE_SOURCE[alert.rule],) if alert.rule in RULE_SOURCE else USER_RULE_SOURCES
            return any((cluster, source) in silent for source in sources)

        with self._lock:
            active = [s for s in self.silences.values() if s.active(now)]
            notes = self.engine.step(findings, now, active, hold if silent else None)
            state = json.dumps(self.engine.export_state())
            receivers = list(self.notifiers)
            items = [(n, route(n, self.routes, default=receivers)) for n in notes]

            def write(conn: sqlite3.Connection) -> None:
                conn.execute(
                    "INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    (STATE_KEY, state, now),
                )
                self.outbox.enqueue(conn, [(n, r) for n, r in items if r], now)

            self.db.write(write)
        return notes

    def deliver(self) -> None:
        self.outbox.deliver_due()

    # -- the API's view ------------------------------------------------------------------
    def list_alerts(self, state: str | None) -> list[dict[str, Any]]:
        with self._lock:
            return alert_rows(self.engine.alerts(), state)

    def ack_alert(self, alert_id: str, by: str) -> dict[str, Any]:
        now = self.clock.now()
        with self._lock:
            if self.engine.get(alert_id) is None:
                raise KeyError(alert_id)
            a = self.engine.ack(alert_id, by, now)
            state = json.dumps(self.engine.export_state())
            self.db.write(
                lambda conn: conn.execute(
                    "INSERT INTO service_state (key, value, updated_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value, "
                    "updated_at = excluded.updated_at",
                    (STATE_KEY, state, now),
                )
            )
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
        self.db.write(
            lambda conn: conn.execute(
                "INSERT INTO silences (id, data, expires_at) VALUES (?, ?, ?)",
                (s.id, json.dumps(s.to_dict()), s.expires_at),
            )
        )
        with self._lock:
            self.silences[s.id] = s
        return s.to_dict() | {"active": s.active(now)}

    def delete_silence(self, silence_id: str) -> bool:
        with self._lock:
            if silence_id not in self.silences:
                return False
            del self.silences[silence_id]
        self.db.write(lambda conn: conn.execute("DELETE FROM silences WHERE id = ?", (silence_id,)))
        return True

    def metric_families(self) -> Iterable[Any]:
        from kafkascope.api.metrics import alert_families

        with self._lock:
            counts: dict[tuple[str, str, str], int] = {}
            for a in self.engine.alerts():
                if a.state is AlertState.INACTIVE:
                    continue
                key = (a.rule, a.severity.value, a.state.value.lower())
                counts[key] = counts.get(key, 0) + 1
        return alert_families(counts)


def alert_rows(alerts: Iterable[Alert], state: str | None) -> list[dict[str, Any]]:
    """Alerts as the API lists them (their dict plus ``id``): those in ``state``, or every
    one that is not inactive. Shared with ``kafkascope alerts`` reading the store."""
    wanted = AlertState[state.upper()] if state else None
    return [
        a.to_dict() | {"id": a.fingerprint}
        for a in alerts
        if (a.state is wanted if wanted is not None else a.state is not AlertState.INACTIVE)
    ]


def report_times(cl: ClusterLive) -> dict[str, float | None]:
    """When each monitor's latest report on ``cl`` was taken (None: none yet), by the
    source names of ``RULE_SOURCE``."""
    reports = {"brokers": cl.brokers, "lag": cl.lag, "clients": cl.clients}
    return {k: r.taken_at if r is not None else None for k, r in reports.items()}


def rule_samples(cl: ClusterLive) -> list[Sample]:
    """Every catalog sample of one cluster for user rules, labelled as on ``/metrics``
    (``cluster``, ``target``) plus ``broker`` (the node id) on a broker's samples and
    ``group`` on a consumer's (from its membership), so a rule fires once per broker or
    client, not once for all of them, and can select a group's consumers."""
    out: list[Sample] = []
    if cl.brokers is not None:
        node = {row.jmx.target: str(row.id) for row in cl.brokers.brokers if row.jmx.target}
        for s in cl.brokers.samples:
            extra = {"cluster": cl.name, "target": s.target}
            if s.target in node:
                extra["broker"] = node[s.target]
            out.append(_labelled(s, extra))
    if cl.clients is not None:
        group = {(r.target, r.client_id): r.group for r in cl.clients.clients if r.group}
        for s in cl.clients.samples:
            extra = {"cluster": cl.name, "target": s.target}
            g = group.get((s.target, s.label("client_id") or ""))
            if g:
                extra["group"] = g
            out.append(_labelled(s, extra))
    return out


def _labelled(s: Sample, extra: Mapping[str, str]) -> Sample:
    """``s`` with ``extra`` labels it does not already have."""
    have = {k for k, _ in s.labels}
    add = [(k, v) for k, v in extra.items() if k not in have and v]
    return replace(s, labels=tuple(sorted((*s.labels, *add)))) if add else s

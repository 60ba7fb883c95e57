"""Routes: which receivers hear about which notification.

**Every matching route is used** (not first-match). A notification goes to the union of
the receivers of all routes that match it, each receiver once, in the order the routes
name them. Why not Alertmanager's first-match tree with ``continue``:

* it matches how people say it: "criticals page on-call, everything from prod goes to
  #kafka" is two routes, and a critical prod alert must reach both;
* the order of routes never changes *whether* a receiver is told, so adding a route can
  only add receivers, never silently steal alerts from a route below it (the classic
  "why did my page stop" after an edit);
* a receiver named by two matching routes still gets one message.

**Nothing is dropped silently**: when no route matches, :func:`route` returns
``default``. kafkascope's configuration sends every alert to every receiver when no routes
are configured, so the service passes all receiver names as ``default`` then; with routes
configured, a last route with no matchers (:meth:`Route.catch_all`) is the catch-all.

A route matches when all its conditions hold; a condition left empty matches anything:

* ``match_severity``: a single :class:`Severity` means *that severity or worse*
  (``WARNING`` matches warning and critical); a collection means *one of these*
  (configuration's ``severity = ["critical"]`` list);
* ``match_cluster``: the alert's ``cluster`` label is one of these names;
* ``match_labels``: every matcher matches the alert's labels, which here include the
  pseudo-labels ``rule`` and ``severity`` (as for silences), so a route can pick rules:
  ``Matcher("rule", "consumer_.*", regex=True)``.

A ``resolved`` notification is routed on every severity a firing or repeat of its episode
was sent under (``Alert.notified_severities``): an alert paged as critical that calmed to
warning, and whose repeat then went to the warning route, resolves on both routes. Whoever
was told it fires is told it resolved, and a route that heard nothing of it hears nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from kafkascope.alerts.alert import Matcher, Notification
from kafkascope.model import Severity

__all__ = ["Route", "route", "routing_severities"]


@dataclass(frozen=True, slots=True, init=False)
class Route:
    """Send matching notifications to ``receivers`` (see the module doc for matching)."""

    receivers: tuple[str, ...]
    match_severity: Severity | frozenset[Severity] | None = None
    match_cluster: frozenset[str] = frozenset()
    match_labels: tuple[Matcher, ...] = ()

    def __init__(
        self,
        receivers: Iterable[str],
        match_severity: Severity | Iterable[Severity] | None = None,
        match_cluster: str | Iterable[str] = (),
        match_labels: Mapping[str, str] | Iterable[Matcher] = (),
    ) -> None:
        names = tuple(dict.fromkeys(receivers))
        if not names:
            raise ValueError("a route needs at least one receiver")
        if any(not n for n in names):
            raise ValueError(f"a route names an empty receiver: {list(names)!r}")
        severity: Severity | frozenset[Severity] | None
        if match_severity is None or isinstance(match_severity, Severity):
            severity = match_severity
        else:
            severity = frozenset(match_severity) or None
        clusters = (
            frozenset((match_cluster,))
            if isinstance(match_cluster, str)
            else frozenset(match_cluster)
        )
        matchers = (
            Matcher.all_equal(match_labels)
            if isinstance(match_labels, Mapping)
            else tuple(match_labels)
        )
        object.__setattr__(self, "receivers", names)
        object.__setattr__(self, "match_severity", severity)
        object.__setattr__(self, "match_cluster", clusters)
        object.__setattr__(self, "match_labels", matchers)

    @classmethod
    def catch_all(cls, receivers: Iterable[str]) -> Route:
        """A route with no conditions: it matches every notification."""
        return cls(receivers)

    def matches(self, n: Notification) -> bool:
        """True when the route's conditions hold at any of the severities ``n`` is routed on
        (one, but for a resolution; see the module doc)."""
        return any(self._matches_at(n, s) for s in routing_severities(n))

    def _matches_at(self, n: Notification, severity: Severity) -> bool:
        a = n.alert
        wanted = self.match_severity
        if isinstance(wanted, Severity):
            if severity.rank < wanted.rank:
                return False
        elif wanted is not None and severity not in wanted:
            return False
        labels = dict(a.labels)
        if self.match_cluster and labels.get("cluster") not in self.match_cluster:
            return False
        if self.match_labels:
            view = {**labels, "rule": a.rule, "severity": severity.value}
            return all(m.matches(view) for m in self.match_labels)
        return True

    def __str__(self) -> str:
        conditions = []
        if isinstance(self.match_severity, Severity):
            conditions.append(f"severity>={self.match_severity.value}")
        elif self.match_severity:
            names = "|".join(sorted(s.value for s in self.match_severity))
            conditions.append(f"severity in {names}")
        if self.match_cluster:
            conditions.append(f"cluster in {'|'.join(sorted(self.match_cluster))}")
        conditions.extend(str(m) for m in self.match_labels)
        when = " and ".join(conditions) or "always"
        return f"{when} → {', '.join(self.receivers)}"


def routing_severities(n: Notification) -> tuple[Severity, ...]:
    """The severities ``n`` is routed on: its alert's, or for a resolution every severity
    the receivers were told it fires at (see the module doc)."""
    a = n.alert
    if n.kind == "resolved":
        told = a.notified_severities or (
            (a.notified_severity,) if a.notified_severity is not None else ()
        )
        if told:
            return told
    return (a.severity,)


def route(n: Notification, routes: Sequence[Route], default: Iterable[str] = ()) -> list[str]:
    """Receiver names for ``n``: those of every matching route, each once, in route order;
    ``default`` when no route matches."""
    chosen: dict[str, None] = {}
    for r in routes:
        if r.matches(n):
            chosen.update(dict.fromkeys(r.receivers))
    return list(chosen) if chosen else list(dict.fromkeys(default))

"""User rules from config: ``metric{selector} <comparator> threshold`` over the monitors'
samples, each matching sample its own alert.
"""

from __future__ import annotations

import enum
import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from kafkascope.alerts.alert import Finding, Matcher, make_labels
from kafkascope.alerts.wording import num
from kafkascope.model import Labels, Severity

__all__ = ["Comparator", "MetricSample", "SampleLike", "UserRule", "evaluate_user_rule"]


class Comparator(enum.StrEnum):
    GT = ">"
    GE = ">="
    LT = "<"
    LE = "<="
    EQ = "=="
    NE = "!="

    @classmethod
    def parse(cls, text: str) -> Comparator:
        try:
            return cls(text.strip())
        except ValueError:
            valid = " ".join(c.value for c in cls)
            raise ValueError(f"unknown comparator {text!r}; use one of: {valid}") from None

    def holds(self, value: float, threshold: float) -> bool:
        return _COMPARE[self](value, threshold)


_COMPARE: dict[Comparator, Callable[[float, float], bool]] = {
    Comparator.GT: operator.gt,
    Comparator.GE: operator.ge,
    Comparator.LT: operator.lt,
    Comparator.LE: operator.le,
    Comparator.EQ: operator.eq,
    Comparator.NE: operator.ne,
}


@dataclass(frozen=True, slots=True)
class MetricSample:
    """One metric reading for user rules: name, labels (incl. ``cluster``), value, and
    optionally when it was read (older than the rule's ``stale_after`` is ignored).

    Any object with these four attributes will do (:class:`SampleLike`), so the sources'
    samples, whose labels are sorted pairs, can be passed as they are."""

    name: str
    labels: Mapping[str, str]
    value: float
    timestamp: float | None = None


@dataclass(frozen=True, slots=True)
class UserRule:
    """A rule from config: ``metric{selector} <comparator> threshold`` held for ``for``.

    ``selector`` matchers are ANDed (equality, or anchored regex). Every matching sample is
    its own alert, labelled with the sample's labels. ``summary`` is the operator's own line
    for notifications; the evidence (sample, value, comparison) is always appended.
    ``stale_after``: samples read longer ago than this are ignored (a dead target's last
    value must not fire forever); None keeps every sample.
    """

    name: str
    metric: str
    comparator: Comparator
    threshold: float
    for_seconds: float = 0.0
    severity: Severity = Severity.WARNING
    selector: tuple[Matcher, ...] = ()
    summary: str = ""
    enabled: bool = True
    stale_after: float | None = 300.0

    def __post_init__(self) -> None:
        if not self.name or not self.metric:
            raise ValueError("a user rule needs a name and a metric")
        if self.for_seconds < 0:
            raise ValueError(f"rule {self.name}: for must be >= 0 seconds, got {self.for_seconds}")
        # Config hands plain strings: accept ">" and "critical" as well as the enums.
        if not isinstance(self.comparator, Comparator):
            object.__setattr__(self, "comparator", Comparator.parse(str(self.comparator)))
        if not isinstance(self.severity, Severity):
            object.__setattr__(self, "severity", Severity.parse(str(self.severity)))


class SampleLike(Protocol):
    """What :func:`evaluate_user_rule` reads of a sample; labels as a mapping or as pairs."""

    @property
    def name(self) -> str: ...

    @property
    def value(self) -> float: ...

    @property
    def labels(self) -> Mapping[str, str] | Labels: ...

    @property
    def timestamp(self) -> float | None: ...


def _stale(sample: SampleLike, stale_after: float | None, now: float) -> bool:
    if stale_after is None or sample.timestamp is None:
        return False
    return now - sample.timestamp > stale_after


def evaluate_user_rule(rule: UserRule, samples: Iterable[SampleLike], now: float) -> list[Finding]:
    """Findings for every sample of ``rule.metric`` matching the selector and the comparison."""
    if not rule.enabled:
        return []
    findings = []
    for s in samples:
        if s.name != rule.metric or math.isnan(s.value):
            continue
        if _stale(s, rule.stale_after, now):
            continue
        by_name = dict(s.labels.items() if isinstance(s.labels, Mapping) else s.labels)
        if not all(m.matches(by_name) for m in rule.selector):
            continue
        if not rule.comparator.holds(s.value, rule.threshold):
            continue
        labels = make_labels(by_name)
        shown = ",".join(f"{k}={v}" for k, v in labels)
        where = f" of cluster {by_name['cluster']}" if "cluster" in by_name else ""
        headline = rule.summary or f"{rule.name}{where}"
        evidence = (
            f"{s.name}{{{shown}}} = {num(s.value)} {rule.comparator.value} {num(rule.threshold)}"
        )
        findings.append(
            Finding(
                rule.name, rule.severity, labels, s.value, f"{headline}: {evidence}", s.timestamp
            )
        )
    return findings

"""Config's changes to the built-in rules, applied by rule name.

Separate from the pack (data) and the checks (logic): this is the one place that turns
``[alerts.rules.NAME]`` settings into changed :class:`RuleSpec` values, with errors that
name the valid rules and settings.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kafkascope.alerts.pack import RuleSpec
from kafkascope.errors import ConfigError
from kafkascope.model import Severity

__all__ = ["RuleOverride", "apply_overrides"]


@dataclass(frozen=True, slots=True)
class RuleOverride:
    """Config's changes to one built-in rule; ``None`` keeps the default."""

    severity: Severity | None = None
    for_seconds: float | None = None
    threshold: float | None = None
    critical_threshold: float | None = None
    window_seconds: float | None = None
    enabled: bool | None = None


_OVERRIDE_KEYS = {
    "severity": "severity",
    "for": "for_seconds",
    "for_seconds": "for_seconds",
    "threshold": "threshold",
    "critical_threshold": "critical_threshold",
    "window": "window_seconds",
    "window_seconds": "window_seconds",
    "enabled": "enabled",
}


def _override_from_mapping(name: str, data: Mapping[str, Any]) -> RuleOverride:
    kw: dict[str, Any] = {}
    for key, value in data.items():
        field_name = _OVERRIDE_KEYS.get(key)
        if field_name is None:
            valid = ", ".join(sorted(_OVERRIDE_KEYS))
            raise ConfigError(f"alerts.rules.{name}: unknown setting {key!r}; valid: {valid}")
        try:
            if field_name == "severity":
                kw[field_name] = value if isinstance(value, Severity) else Severity.parse(value)
            elif field_name == "enabled":
                if not isinstance(value, bool):
                    raise ValueError(f"expected true or false, got {value!r}")
                kw[field_name] = value
            else:
                if isinstance(value, bool) or not isinstance(value, int | float):
                    raise ValueError(f"expected a number, got {value!r}")
                kw[field_name] = float(value)
        except (ValueError, AttributeError) as exc:
            raise ConfigError(f"alerts.rules.{name}.{key}: {exc}") from None
    return RuleOverride(**kw)


def apply_overrides(
    pack: Sequence[RuleSpec], overrides: Mapping[str, RuleOverride | Mapping[str, Any]]
) -> tuple[RuleSpec, ...]:
    """The pack with config's overrides applied, by rule name.

    ``overrides`` maps a rule name to a :class:`RuleOverride` or a mapping with any of
    ``severity``, ``for``, ``threshold``, ``critical_threshold``, ``window``, ``enabled``.
    An unknown rule name or setting raises :class:`ConfigError` naming the valid ones.
    """
    known = {r.name: r for r in pack}
    changed: dict[str, RuleSpec] = {}
    for name, raw in overrides.items():
        if name not in known:
            raise ConfigError(
                f"alerts.rules.{name}: no such built-in rule; known rules: "
                f"{', '.join(sorted(known))}"
            )
        ov = raw if isinstance(raw, RuleOverride) else _override_from_mapping(name, raw)
        updates = {
            f.name: getattr(ov, f.name)
            for f in dataclasses.fields(RuleOverride)
            if getattr(ov, f.name) is not None
        }
        try:
            changed[name] = dataclasses.replace(known[name], **updates)
        except ValueError as exc:
            raise ConfigError(f"alerts.rules.{name}: {exc}") from None
    return tuple(changed.get(r.name, r) for r in pack)

"""ObjectNames as text: parsing, quoting, and the catalog's patterns (literal domain, keys
with ``|`` alternatives and ``*``/``?`` wildcards, optional trailing ``,*``).

The rules are JMX's own (``javax.management.ObjectName``): quoted values unquoted with
their escapes, ``*:*`` and domain wildcards refused. Kept apart from the catalog's YAML
loading so the sources that get names as text (Jolokia, jmx_exporter) and the JMX reader
share one parser.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = [
    "KeyPattern",
    "ObjectNamePattern",
    "parse_object_name",
    "quote_value",
    "snake_case",
]


def _split_props(text: str, source: str) -> list[str]:
    """Split a property list at commas that are not inside a quoted value."""
    parts, cur, quoted, i = [], [], False, 0
    while i < len(text):
        ch = text[i]
        if quoted and ch == "\\" and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        if ch == '"':
            quoted = not quoted
        if ch == "," and not quoted:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
        i += 1
    if quoted:
        raise ValueError(f"{source}: unterminated quoted value")
    parts.append("".join(cur))
    return parts


def _unquote(value: str, source: str) -> str:
    body = value[1:-1]
    out, i = [], 0
    escapes = {'"': '"', "\\": "\\", "*": "*", "?": "?", "n": "\n"}
    while i < len(body):
        if body[i] == "\\":
            if i + 1 >= len(body) or body[i + 1] not in escapes:
                raise ValueError(f"{source}: bad escape in quoted value {value}")
            out.append(escapes[body[i + 1]])
            i += 2
        elif body[i] == '"':
            raise ValueError(f"{source}: unescaped quote inside {value}")
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _is_quoted(value: str) -> bool:
    return len(value) >= 2 and value[0] == '"' and value[-1] == '"'


def _parse(text: str, *, pattern: bool) -> tuple[str, list[tuple[str, str, bool]], bool]:
    """(domain, [(key, value, quoted)], property-list-pattern) of an ObjectName."""
    domain, sep, props = text.partition(":")
    if not sep or (not domain.strip() and not pattern):
        raise ValueError(f"'{text}' is not an ObjectName: expected DOMAIN:key=value[,...]")
    if not props:
        raise ValueError(f"'{text}' has no key=value properties after the domain")
    keys: list[tuple[str, str, bool]] = []
    open_list = False
    for part in _split_props(props, f"'{text}'"):
        if part == "*" and pattern:
            open_list = True
            continue
        key, eq, value = part.partition("=")
        if not eq or not key or any(c in key for c in ',=:*?"'):
            raise ValueError(f"'{text}': '{part}' is not a key=value property")
        if not value:
            raise ValueError(f"'{text}': key '{key}' has an empty value")
        if key in (k for k, _, _ in keys):
            raise ValueError(f"'{text}': key '{key}' appears twice")
        quoted = _is_quoted(value)
        if quoted:
            value = _unquote(value, f"'{text}'")
        elif any(c in value for c in ',=:"') or (not pattern and any(c in value for c in "*?")):
            raise ValueError(f"'{text}': value '{value}' of key '{key}' needs quoting")
        keys.append((key, value, quoted))
    if not keys and not open_list:
        raise ValueError(f"'{text}' has no key=value properties")
    return domain, keys, open_list


def parse_object_name(text: str) -> tuple[str, dict[str, str]]:
    """Domain and key properties (quoted values unquoted) of a concrete ObjectName, e.g.
    ``kafka.consumer:type=consumer-metrics,client-id="a,b"`` → client-id ``a,b``. For
    sources that receive names as text (Jolokia, jmx_exporter)."""
    domain, keys, _ = _parse(text, pattern=False)
    return domain, {k: v for k, v, _ in keys}


def quote_value(value: str, *, always: bool = False) -> str:
    """An ObjectName value, quoted (as ``ObjectName.quote`` does) when it contains a
    character that needs it, or ``always``. In JMX the quotes are part of the value:
    ``"a"`` and ``a`` are different names, so a value written quoted stays quoted."""
    if always or not value or any(c in value for c in ',=:"*?\n\\'):
        escaped = (
            value.replace("\\", "\\\\")
            .replace('"', '\\"')
            .replace("*", "\\*")
            .replace("?", "\\?")
            .replace("\n", "\\n")
        )
        return f'"{escaped}"'
    return value


def snake_case(key: str) -> str:
    """An ObjectName key as a label name: ``client-id`` → ``client_id``,
    ``networkProcessor`` → ``network_processor``."""
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", key).replace("-", "_").replace(".", "_").lower()


def _glob(value: str) -> re.Pattern[str]:
    """JMX value wildcards: ``*`` any run, ``?`` one character; nothing else is special."""
    return re.compile(
        "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in value)
    )


@dataclass(frozen=True)
class KeyPattern:
    """One key of a pattern: its alternatives, each literal or with ``*``/``?``."""

    key: str
    alternatives: tuple[str, ...]
    quoted: bool

    @property
    def pinned(self) -> bool:
        """True when exactly one literal value is allowed (so it is no label)."""
        return len(self.alternatives) == 1 and (
            self.quoted or not _has_wildcard(self.alternatives[0])
        )

    def accepts(self, value: str) -> bool:
        if self.quoted:
            return value in self.alternatives
        return any(_glob(a).fullmatch(value) for a in self.alternatives)

    def jmx_values(self) -> tuple[str, ...]:
        return tuple(quote_value(a, always=True) if self.quoted else a for a in self.alternatives)


def _has_wildcard(value: str) -> bool:
    return "*" in value or "?" in value


@dataclass(frozen=True)
class ObjectNamePattern:
    """A catalog pattern: a literal domain, keys with alternatives and wildcards, and
    whether more keys may follow (a trailing ``,*``)."""

    text: str
    domain: str
    keys: tuple[KeyPattern, ...]
    open: bool

    @classmethod
    def parse(cls, text: str) -> ObjectNamePattern:
        """Parse and check a catalog pattern; ``ValueError`` says what is wrong."""
        domain, raw, open_list = _parse(text, pattern=True)
        if not domain or _has_wildcard(domain):
            raise ValueError(
                f"'{text}': the domain must be literal (no '*' or '?'); a domain wildcard "
                "lists every MBean of the process"
            )
        keys: list[KeyPattern] = []
        for key, value, quoted in raw:
            alts = (value,) if quoted else tuple(value.split("|"))
            if any(not a for a in alts):
                raise ValueError(f"'{text}': key '{key}' has an empty alternative")
            keys.append(KeyPattern(key, alts, quoted))
        if not any(k.pinned for k in keys):
            raise ValueError(
                f"'{text}': pin at least one key to a literal value (e.g. type=...); "
                "an all-wildcard pattern lists the whole domain"
            )
        return cls(text, domain, tuple(keys), open_list)

    def jmx_patterns(self) -> tuple[str, ...]:
        """The JMX query strings: one per combination of ``|`` alternatives."""
        choices = [[(k.key, v) for v in k.jmx_values()] for k in self.keys]
        out = []
        for combo in itertools.product(*choices):
            props = ",".join(f"{k}={v}" for k, v in combo)
            out.append(f"{self.domain}:{props}{',*' if self.open else ''}")
        return tuple(out)

    def matches(self, domain: str, keys: Mapping[str, str]) -> bool:
        """Whether a concrete name (domain and unquoted keys) is one this pattern selects."""
        if domain != self.domain:
            return False
        if not self.open and len(keys) != len(self.keys):
            return False
        return all(k.key in keys and k.accepts(keys[k.key]) for k in self.keys)

    def open_keys(self, keys: Mapping[str, str]) -> list[str]:
        """Keys of a matched name that the pattern does not pin: the default labels."""
        pinned = {k.key for k in self.keys if k.pinned}
        return [k for k in keys if k not in pinned]

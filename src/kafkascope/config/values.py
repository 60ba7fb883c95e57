"""The value types of the settings and the one spelling of each: durations, HOST:PORT,
port ranges, names, e-mail addresses, and :class:`Secret` with its ``env:NAME`` and
``KEY_file`` forms.

They live apart from the models so that every table, the error explanation and the
reference agree on how a value is written, what is wrong with it and how to fix it.
:func:`problem` is how a validator reports that: a message plus the fix, which
:mod:`kafkascope.config.explain` turns into one line.
"""

from __future__ import annotations

import difflib
import email.utils
import hmac
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    ValidationInfo,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

ENV_PREFIX = "KAFKASCOPE_"
REFERENCE_DOC = "docs/config-reference.md"


@dataclass(frozen=True)
class Kind:
    """Annotated marker: how the reference names a value type."""

    name: str


def problem(message: str, fix: str, *at: str | int) -> PydanticCustomError:
    """A validation error carrying the fix and, optionally, the key path ``at`` below the
    location pydantic reports (a model validator is reported at its table; ``at`` points at
    the key inside it). Stored as JSON because keys may contain dots."""
    return PydanticCustomError("kafkascope", message, {"ks_fix": fix, "ks_at": json.dumps(at)})


_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)", re.IGNORECASE)


def parse_duration(value: object) -> float:
    """``"30s"``, ``"5m"``, ``"1h30m"``, ``"7d"``, ``"250ms"`` or a number of seconds → seconds.

    Raises :class:`ValueError` with a message naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pos, seconds = 0, 0.0
            for m in _DURATION_PART.finditer(text):
                if text[pos : m.start()].strip():
                    break
                seconds += float(m.group(1)) * _UNITS[m.group(2).lower()]
                pos = m.end()
            if pos == 0 or text[pos:].strip():
                raise ValueError(f"'{value}' is not a duration") from None
    else:
        raise ValueError(f"a {type(value).__name__} is not a duration")
    if seconds < 0 or seconds != seconds or seconds == float("inf"):
        raise ValueError(f"'{value}' is not a duration (it must be a finite number >= 0)")
    return seconds


def format_duration(seconds: float) -> str:
    """A short exact spelling: 604800 → ``"7d"``, 86400 → ``"24h"``, 90 → ``"90s"``,
    0.5 → ``"500ms"``."""
    if seconds == 0:
        return "0s"
    for unit in ("d", "h", "m", "s"):
        size = _UNITS[unit]
        # Days from two on: operators say "24h" but "7d".
        if seconds >= size * (2 if unit == "d" else 1) and (seconds / size).is_integer():
            return f"{int(seconds / size)}{unit}"
    if (seconds * 1000).is_integer():
        return f"{int(seconds * 1000)}ms"
    return f"{seconds:g}s"


def _duration(value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError as e:
        raise problem(
            f"{e}",
            'write a number of seconds or a string like "30s", "5m", "1h", "7d" or "1h30m"',
        ) from None


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9_.-]+)):(?P<port>\d+)$")


def split_host_port(text: str) -> tuple[str, int]:
    """``"host:9092"`` or ``"[::1]:9092"`` → ``(host, port)``; :class:`ValueError` naming what
    is wrong otherwise."""
    m = _HOST_PORT.match(text.strip())
    if m is None:
        if ":" not in text:
            raise ValueError(f"'{text}' has no port")
        raise ValueError(f"'{text}' is not HOST:PORT")
    port = int(m.group("port"))
    if not 0 < port < 65536:
        raise ValueError(f"'{text}' has port {port}, outside 1-65535")
    return m.group("v6") or m.group("host"), port


_HOST_PORT_FIX = "write it as HOST:PORT, like 127.0.0.1:8321 or kafka1.example.com:9092"


def _host_port(value: object) -> str:
    if not isinstance(value, str):
        raise problem(f"a {type(value).__name__} is not HOST:PORT", _HOST_PORT_FIX)
    try:
        split_host_port(value)
    except ValueError as e:
        raise problem(f"{e}", _HOST_PORT_FIX) from None
    return value.strip()


def _bootstrap(value: object) -> str:
    """A comma-separated string or a list of HOST:PORT (an optional ``PROTOCOL://`` prefix,
    as librdkafka allows) → the comma-separated string librdkafka wants."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise problem(
            "must be a string of HOST:PORT entries", 'write it like "kafka1:9092,kafka2:9092"'
        )
    out = [i.strip() for i in items if i.strip()]
    if not out:
        raise problem("is empty", 'give at least one broker, like "kafka1:9092"')
    for item in out:
        try:
            split_host_port(re.sub(r"^[A-Za-z_]+://", "", item))
        except ValueError as e:
            raise problem(f"{e}", 'write it like "kafka1:9092,kafka2:9092"') from None
    return ",".join(out)


_MAX_PROBE_SPAN = 1000


def port_range(spec: str) -> range:
    """A validated ``"9400"`` or ``"9400-9410"`` → the ports, as a range."""
    lo, _, hi = spec.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def _port_range(value: object) -> str:
    fix = 'write one port (9400) or a range ("9400-9410") of at most 1000 ports'
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise problem(f"a {type(value).__name__} is not a port or a range", fix)
    text = str(value).strip().replace(" ", "")
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if m is None:
        raise problem(f"'{value}' is not a port or a range", fix)
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 0 < lo <= hi < 65536:
        raise problem(f"'{value}' must be ports within 1-65535, low to high", fix)
    if hi - lo > _MAX_PROBE_SPAN:
        raise problem(f"'{value}' spans {hi - lo + 1} ports", fix)
    return f"{lo}-{hi}" if hi != lo else str(lo)


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _name(value: object) -> object:
    if isinstance(value, str) and not _NAME.match(value):
        raise problem(
            f"'{value}' is not a valid name",
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(names appear in URLs, metric labels and environment variable names)",
        )
    return value


def _email_address(value: object) -> object:
    if isinstance(value, str):
        _, addr = email.utils.parseaddr(value)
        if "@" not in addr or " " in addr:
            raise problem(
                f"'{value}' is not an e-mail address",
                'write it like "oncall@example.com" or "Kafka <kafka@example.com>"',
            )
    return value


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    path = value.expanduser()
    if not path.is_absolute():
        path = _base_dir(info) / path
    return path


def _context(info: ValidationInfo | None) -> Mapping[str, Any]:
    ctx = info.context if info is not None else None
    return ctx if isinstance(ctx, Mapping) else {}


def _base_dir(info: ValidationInfo | None) -> Path:
    base = _context(info).get("base_dir")
    return Path(base) if base is not None else Path.cwd()


def context_env(info: ValidationInfo | None) -> Mapping[str, str]:
    env = _context(info).get("env")
    return env if isinstance(env, Mapping) else os.environ


Duration = Annotated[float, BeforeValidator(_duration), Kind("duration")]
HostPort = Annotated[str, BeforeValidator(_host_port), Kind("host:port")]
Bootstrap = Annotated[str, BeforeValidator(_bootstrap), Kind("host:port list")]
PortRange = Annotated[str, BeforeValidator(_port_range), Kind("port or range")]
Port = Annotated[int, Field(ge=1, le=65535), Kind("port")]
Name = Annotated[str, BeforeValidator(_name), Kind("name")]
ResolvedPath = Annotated[Path, Kind("path")]
EmailAddress = Annotated[str, BeforeValidator(_email_address), Kind("e-mail address")]
LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)]
SeverityName = Annotated[Literal["info", "warning", "critical"], BeforeValidator(_lower)]
ComparatorName = Literal[">", ">=", "<", "<=", "==", "!="]
JmxSource = Annotated[Literal["jmx", "jolokia", "prometheus"], BeforeValidator(_lower)]


class Secret:
    """A secret value that never shows itself: ``repr``, ``str``, ``format``,
    ``model_dump`` and JSON all give ``'***'``. :meth:`reveal` returns the value, at the one
    place it is used (a login, a header). ``source`` says where it came from (``inline``,
    ``env:NAME`` or ``file:PATH``) and is safe to show."""

    __slots__ = ("_value", "source")

    def __init__(self, value: str, source: str = "inline") -> None:
        self._value = value
        self.source = source

    def reveal(self) -> str:
        """The secret itself. Never log it, never put it in an API response."""
        return self._value

    def matches(self, candidate: str) -> bool:
        """Constant-time comparison, for checking presented API tokens."""
        return hmac.compare_digest(self._value.encode(), candidate.encode())

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and self.matches(other._value)

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: type[Any], handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.with_info_plain_validator_function(
            cls._validate,
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda _value: "***", when_used="always"
            ),
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "password", "writeOnly": True}

    @classmethod
    def _validate(cls, value: object, info: ValidationInfo) -> Secret:
        if isinstance(value, Secret):
            return value
        if not isinstance(value, str):
            raise problem(
                f"a {type(value).__name__} is not a secret",
                'quote it: a string, "env:NAME" to read a variable, or KEY_file = PATH',
            )
        return secret_from_string(value, context_env(info), info)


#: The prefixes a secret string may carry; anything else shaped like one is refused.
SECRET_PREFIXES = ("env:NAME", "file:PATH")
_PREFIX = re.compile(r"^([A-Za-z][A-Za-z0-9_-]{1,11}):(?!//)\S")


def secret_from_string(
    value: str, env: Mapping[str, str], info: ValidationInfo | None = None
) -> Secret:
    """A secret given as a string: ``env:NAME`` reads a variable, ``file:PATH`` a file
    (relative to the config's directory); a value that looks like another prefix
    (``vault:...``, a typo like ``fle:...``) is refused rather than taken literally."""
    if value.startswith("file:"):
        try:
            text, source = read_secret_file(value[5:].strip(), "file:", info)
        except PydanticCustomError as e:  # re-raised without the key path: it is the value's
            raise problem(e.message(), str((e.context or {}).get("ks_fix"))) from None
        return Secret(text, source)
    m = _PREFIX.match(value)
    if m is not None and m.group(1) != "env":
        raise problem(
            f"'{m.group(1)}:' is not a supported prefix (supported: {', '.join(SECRET_PREFIXES)})",
            'write "env:NAME" or "file:/path"; a literal secret that starts like this goes '
            "in a file: KEY_file = PATH",
        )
    if value.startswith("env:"):
        name = value[4:].strip()
        if not name:
            raise problem("'env:' names no variable", 'write "env:NAME", like "env:JMX_PASSWORD"')
        if name not in env:
            raise problem(
                f"environment variable {name} is not set",
                f"export {name} before starting kafkascope, or give the value inline or as "
                "KEY_file = PATH",
            )
        if not env[name]:
            raise problem(f"environment variable {name} is empty", f"give {name} a value")
        return Secret(env[name], f"env:{name}")
    if not value:
        raise problem("is empty", "give the secret, or remove the key")
    return Secret(value, "inline")


def read_secret_file(raw: object, key: str, info: ValidationInfo | None) -> tuple[str, str]:
    fix_path = "correct the path, or create the file with the secret as its only content"
    if not isinstance(raw, str) or not raw:
        raise problem("must be the path of a file", f'write {key} = "/run/secrets/name"', key)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = _base_dir(info) / path
    if not path.exists():
        raise problem(f"file {path} does not exist", fix_path, key)
    if not path.is_file():
        raise problem(f"{path} is not a regular file", fix_path, key)
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise problem(
            f"file {path} cannot be read (permission denied)",
            f"let the user running kafkascope read it (chmod/chown {path})",
            key,
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise problem(f"file {path} cannot be read ({type(e).__name__})", fix_path, key) from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise problem(f"file {path} is empty", "put the secret in it", key)
    return text, f"file:{path}"


def unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{what} '{name}' is not defined{hint}"

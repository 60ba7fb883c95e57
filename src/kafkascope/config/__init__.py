"""Typed settings, loaded once from one TOML file plus ``KAFKASCOPE_*`` environment overrides.

The composition root calls :func:`load_config` once and hands each component the part it
needs; nothing reads configuration from a global at run time.

* Every table forbids unknown keys, so a typo is an error with a suggestion, never a
  silently ignored setting.
* **Durations** are ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"1w"``, compounds
  such as ``"1h30m"``, or a plain number of seconds; they load as ``float`` seconds.
* **Secrets** (passwords, API tokens, Slack webhook URLs, webhook headers, secret librdkafka
  properties) are :class:`Secret` objects whose ``repr``/``str``/``model_dump``/JSON is
  ``'***'``; call :meth:`Secret.reveal` at the one place the value is used. Each may be
  given inline, as ``env:NAME`` (read from the environment at load), or through a sibling
  ``KEY_file = PATH`` (read at load; must exist, be readable and non-empty).
* **Relative paths** resolve against the directory of the config file (the current
  directory when there is no file).
* **Environment overrides**: ``KAFKASCOPE_`` + the key path in upper case, segments joined
  by ``__``; entries of ``[[clusters]]`` and ``[[alerts.receivers]]`` are addressed by their
  ``name`` (upper case, every character other than a letter or digit written ``_``)::

      KAFKASCOPE_SERVICE__LISTEN=0.0.0.0:8321
      KAFKASCOPE_SERVICE__DATA_DIR=/var/lib/kafkascope
      KAFKASCOPE_SERVICE__LOG_LEVEL=debug
      KAFKASCOPE_SERVICE__ADMIN_TOKENS=tok1,tok2          (lists: comma-separated)
      KAFKASCOPE_CLUSTERS__PROD_EU__BOOTSTRAP=k1:9092,k2:9092
      KAFKASCOPE_CLUSTERS__PROD_EU__JMX__USERNAME=monitor
      KAFKASCOPE_CLUSTERS__PROD_EU__JMX__PASSWORD_FILE=/run/secrets/jmx
      KAFKASCOPE_CLUSTERS__PROD_EU__CLIENT_PROPERTIES__SASL_PASSWORD=...   (→ sasl.password)
      KAFKASCOPE_ALERTS__RECEIVERS__ONCALL_MAIL__PASSWORD=...

  The environment wins over the file. A cluster absent from the file is added when its
  ``BOOTSTRAP`` is set. Variables without ``__`` after the prefix (``KAFKASCOPE_CONFIG``,
  the tests' ``KAFKASCOPE_TEST_SANDBOX``) are not overrides; an override naming an unknown
  key is an error with a suggestion, like a typo in the file.

Errors become one :class:`~kafkascope.errors.ConfigError` that names the file (and line when
it can be found) or the environment variable, the key path (``clusters[0].jmx.broker_port``),
what is wrong and the fix. ``python -m kafkascope.config`` prints the reference
(``docs/config-reference.md``), generated from the models below so it cannot drift.
"""

from __future__ import annotations

import difflib
import email.utils
import functools
import hmac
import json
import os
import re
import tomllib
import types
import typing
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

from kafkascope.alerts.pack import BUILTIN_RULES as _BUILTIN_RULE_SPECS
from kafkascope.errors import ConfigError

__all__ = [
    "BUILTIN_RULES",
    "ENV_PREFIX",
    "AlertsConfig",
    "ClusterConfig",
    "Config",
    "CustomRule",
    "EmailReceiver",
    "JmxClientsConfig",
    "JmxConfig",
    "LagConfig",
    "LivenessConfig",
    "Receiver",
    "RetentionConfig",
    "Route",
    "RuleOverride",
    "Secret",
    "ServiceConfig",
    "SlackReceiver",
    "WebhookReceiver",
    "format_duration",
    "load_config",
    "parse_duration",
    "port_range",
    "render_reference",
    "split_host_port",
]

ENV_PREFIX = "KAFKASCOPE_"
REFERENCE_DOC = "docs/config-reference.md"

#: The built-in Kafka rule pack (issue 7): the names ``[alerts.rules.NAME]`` may override, so
#: a misspelt override is an error at load. The alert engine's rule pack must use exactly
#: these names; a test beside it should assert the two sets are equal.
# The rule pack lives in alerts/rules.py; its names are what [alerts.rules.NAME] accepts, so
# a misspelt override fails at load rather than being ignored.
BUILTIN_RULES: Mapping[str, str] = {r.name: r.description for r in _BUILTIN_RULE_SPECS}


# ---------------------------------------------------------------------------------------
# Value types: durations, host:port, port ranges, secrets
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """Annotated marker: how the reference names a value type."""

    name: str


def _problem(message: str, fix: str, *at: str | int) -> PydanticCustomError:
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
        raise _problem(
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
        raise _problem(f"a {type(value).__name__} is not HOST:PORT", _HOST_PORT_FIX)
    try:
        split_host_port(value)
    except ValueError as e:
        raise _problem(f"{e}", _HOST_PORT_FIX) from None
    return value.strip()


def _bootstrap(value: object) -> str:
    """A comma-separated string or a list of HOST:PORT (an optional ``PROTOCOL://`` prefix,
    as librdkafka allows) → the comma-separated string librdkafka wants."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise _problem(
            "must be a string of HOST:PORT entries", 'write it like "kafka1:9092,kafka2:9092"'
        )
    out = [i.strip() for i in items if i.strip()]
    if not out:
        raise _problem("is empty", 'give at least one broker, like "kafka1:9092"')
    for item in out:
        try:
            split_host_port(re.sub(r"^[A-Za-z_]+://", "", item))
        except ValueError as e:
            raise _problem(f"{e}", 'write it like "kafka1:9092,kafka2:9092"') from None
    return ",".join(out)


_MAX_PROBE_SPAN = 1000


def port_range(spec: str) -> range:
    """A validated ``"9400"`` or ``"9400-9410"`` → the ports, as a range."""
    lo, _, hi = spec.partition("-")
    return range(int(lo), int(hi or lo) + 1)


def _port_range(value: object) -> str:
    fix = 'write one port (9400) or a range ("9400-9410") of at most 1000 ports'
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _problem(f"a {type(value).__name__} is not a port or a range", fix)
    text = str(value).strip().replace(" ", "")
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if m is None:
        raise _problem(f"'{value}' is not a port or a range", fix)
    lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
    if not 0 < lo <= hi < 65536:
        raise _problem(f"'{value}' must be ports within 1-65535, low to high", fix)
    if hi - lo > _MAX_PROBE_SPAN:
        raise _problem(f"'{value}' spans {hi - lo + 1} ports", fix)
    return f"{lo}-{hi}" if hi != lo else str(lo)


def _lower(value: object) -> object:
    return value.strip().lower() if isinstance(value, str) else value


def _one_or_many(value: object) -> object:
    return [value] if isinstance(value, str) else value


_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _name(value: object) -> object:
    if isinstance(value, str) and not _NAME.match(value):
        raise _problem(
            f"'{value}' is not a valid name",
            "use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(names appear in URLs, metric labels and environment variable names)",
        )
    return value


def _http_url(value: object) -> object:
    if isinstance(value, str):
        parts = urllib.parse.urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise _problem(
                f"'{value}' is not an http(s) URL",
                'write the full URL, like "https://hooks.example.com/kafkascope"',
            )
    return value


def _email_address(value: object) -> object:
    if isinstance(value, str):
        _, addr = email.utils.parseaddr(value)
        if "@" not in addr or " " in addr:
            raise _problem(
                f"'{value}' is not an e-mail address",
                'write it like "oncall@example.com" or "Kafka <kafka@example.com>"',
            )
    return value


def _resolve_path(value: Path, info: ValidationInfo) -> Path:
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


def _env(info: ValidationInfo | None) -> Mapping[str, str]:
    env = _context(info).get("env")
    return env if isinstance(env, Mapping) else os.environ


Duration = Annotated[float, BeforeValidator(_duration), _Kind("duration")]
HostPort = Annotated[str, BeforeValidator(_host_port), _Kind("host:port")]
Bootstrap = Annotated[str, BeforeValidator(_bootstrap), _Kind("host:port list")]
PortRange = Annotated[str, BeforeValidator(_port_range), _Kind("port or range")]
Port = Annotated[int, Field(ge=1, le=65535), _Kind("port")]
Name = Annotated[str, BeforeValidator(_name), _Kind("name")]
ResolvedPath = Annotated[Path, _Kind("path")]
HttpUrl = Annotated[str, BeforeValidator(_http_url), _Kind("URL")]
EmailAddress = Annotated[str, BeforeValidator(_email_address), _Kind("e-mail address")]
LogLevel = Annotated[Literal["debug", "info", "warning", "error"], BeforeValidator(_lower)]
Severity = Annotated[Literal["info", "warning", "critical"], BeforeValidator(_lower)]
Comparator = Literal[">", ">=", "<", "<=", "==", "!="]


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
            raise _problem(
                f"a {type(value).__name__} is not a secret",
                'quote it: a string, "env:NAME" to read a variable, or KEY_file = PATH',
            )
        return _secret_from_string(value, _env(info))


def _secret_from_string(value: str, env: Mapping[str, str]) -> Secret:
    if value.startswith("env:"):
        name = value[4:].strip()
        if not name:
            raise _problem("'env:' names no variable", 'write "env:NAME", like "env:JMX_PASSWORD"')
        if name not in env:
            raise _problem(
                f"environment variable {name} is not set",
                f"export {name} before starting kafkascope, or give the value inline or as "
                "KEY_file = PATH",
            )
        if not env[name]:
            raise _problem(f"environment variable {name} is empty", f"give {name} a value")
        return Secret(env[name], f"env:{name}")
    if not value:
        raise _problem("is empty", "give the secret, or remove the key")
    return Secret(value, "inline")


def _read_secret_file(raw: object, key: str, info: ValidationInfo) -> tuple[str, str]:
    fix_path = "correct the path, or create the file with the secret as its only content"
    if not isinstance(raw, str) or not raw:
        raise _problem("must be the path of a file", f'write {key} = "/run/secrets/name"', key)
    path = Path(raw).expanduser()
    if not path.is_absolute():
        path = _base_dir(info) / path
    if not path.exists():
        raise _problem(f"file {path} does not exist", fix_path, key)
    if not path.is_file():
        raise _problem(f"{path} is not a regular file", fix_path, key)
    try:
        text = path.read_text(encoding="utf-8")
    except PermissionError:
        raise _problem(
            f"file {path} cannot be read (permission denied)",
            f"let the user running kafkascope read it (chmod/chown {path})",
            key,
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise _problem(f"file {path} cannot be read ({type(e).__name__})", fix_path, key) from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise _problem(f"file {path} is empty", "put the secret in it", key)
    return text, f"file:{path}"


# ---------------------------------------------------------------------------------------
# Walking the model tree (shared by secrets, env overrides, errors and the reference)
# ---------------------------------------------------------------------------------------


def _strip(tp: Any) -> tuple[Any, list[Any]]:
    """Remove ``Annotated`` and ``Optional`` wrappers; return the bare type and metadata."""
    meta: list[Any] = []
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            tp, meta = args[0], meta + list(args[1:])
            continue
        if origin in (Union, types.UnionType):
            members = [a for a in get_args(tp) if a is not type(None)]
            if len(members) == 1:
                tp = members[0]
                continue
        return tp, meta


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _union_models(tp: Any) -> dict[str, type[BaseModel]]:
    """A discriminated union of models → ``{kind: model}``; ``{}`` for anything else."""
    if get_origin(tp) not in (Union, types.UnionType):
        return {}
    out: dict[str, type[BaseModel]] = {}
    for arg in get_args(tp):
        if not _is_model(arg) or "kind" not in arg.model_fields:
            return {}
        for tag in get_args(arg.model_fields["kind"].annotation):
            out[tag] = arg
    return out


def _alias(name: str, info: FieldInfo) -> str:
    return info.alias or name


@functools.cache
def _fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """Fields by the key written in TOML (the alias)."""
    return {_alias(n, f): f for n, f in model.model_fields.items()}


@functools.cache
def _secret_fields(model: type[BaseModel]) -> dict[str, bool]:
    """TOML keys of fields holding a secret (``True`` for a list of secrets); each also
    accepts a sibling ``KEY_file``."""
    out: dict[str, bool] = {}
    for key, info in _fields(model).items():
        tp, _ = _strip(info.annotation)
        if tp is Secret:
            out[key] = False
        elif get_origin(tp) is list and _strip(get_args(tp)[0])[0] is Secret:
            out[key] = True
    return out


@functools.cache
def _subtables(model: type[BaseModel]) -> tuple[str, ...]:
    """TOML keys of fields that are themselves a table of settings."""
    return tuple(k for k, f in _fields(model).items() if _is_model(_strip(f.annotation)[0]))


def _keys(model: type[BaseModel]) -> list[str]:
    """Every key a table of this model accepts."""
    return list(_fields(model)) + [f"{k}_file" for k in _secret_fields(model)]


def _kind(info: FieldInfo | None, tp: Any) -> str | None:
    meta = list(info.metadata) if info is not None else []
    meta += _strip(tp)[1]
    for m in meta:
        if isinstance(m, _Kind):
            return m.name
    return None


# ---------------------------------------------------------------------------------------
# The models
# ---------------------------------------------------------------------------------------


class _Settings(BaseModel):
    """Base of every table: unknown keys are errors, values are immutable once loaded, and a
    secret ``KEY`` may instead be given as ``KEY_file``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _prepare(cls, data: Any, info: ValidationInfo) -> Any:
        if not isinstance(data, dict):
            return data
        out = dict(data)
        for key in _subtables(cls):
            # An absent sub-table is validated from {} like a written one, so its defaults
            # (relative paths, secrets) see the load context too.
            out.setdefault(key, {})
        secrets = _secret_fields(cls)
        for key, is_list in secrets.items():
            file_key = f"{key}_file"
            if file_key not in out:
                continue
            if key in out:
                raise _problem(
                    f"both '{key}' and '{file_key}' are set",
                    f"keep only one of them ({file_key} reads the secret from a file)",
                    file_key,
                )
            text, source = _read_secret_file(out.pop(file_key), file_key, info)
            if is_list:
                lines = [ln.strip() for ln in text.splitlines()]
                out[key] = [Secret(ln, source) for ln in lines if ln and not ln.startswith("#")]
            else:
                out[key] = Secret(text, source)
        return out


class RetentionConfig(_Settings):
    """How long history is kept at each resolution."""

    raw: Duration = Field(default=86400.0, gt=0, description="Raw samples, as collected.")
    one_minute: Duration = Field(
        default=7 * 86400.0, gt=0, description="1-minute downsampled series (min, max, mean, last)."
    )
    ten_minute: Duration = Field(
        default=90 * 86400.0,
        gt=0,
        description="10-minute downsampled series (min, max, mean, last).",
    )


class ServiceConfig(_Settings):
    """The kafkascope process itself."""

    listen: HostPort = Field(
        default="127.0.0.1:8321",
        description="HOST:PORT of the REST API, `/metrics` and the dashboard. "
        "`serve --listen` overrides it.",
    )
    data_dir: ResolvedPath = Field(
        default=Path("data"),
        validate_default=True,
        description="Directory of the SQLite history and the alert outbox; created when "
        "missing. `serve --data-dir` overrides it.",
    )
    log_level: LogLevel = Field(default="info", description="debug, info, warning or error.")
    read_tokens: list[Secret] = Field(
        default_factory=list,
        description="API tokens allowed to read (`Authorization: Bearer TOKEN`). With no "
        "token at all (read or admin), the API is open: keep `listen` on loopback then.",
    )
    admin_tokens: list[Secret] = Field(
        default_factory=list,
        description="API tokens allowed to read and to change state (acknowledge alerts, "
        "silences).",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="History retention per resolution."
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return _resolve_path(value, info)


class JmxClientsConfig(_Settings):
    """Where producers' and consumers' own JMX endpoints are: every client JVM has its own
    port, and opening JMX on the brokers does not expose them. The three ways combine, and
    an endpoint once found stays known, so a killed client is reported DEAD."""

    static: list[HostPort] = Field(
        default_factory=list, description="Client JMX endpoints always watched."
    )
    file_sd: ResolvedPath | None = Field(
        default=None,
        description='A Prometheus file_sd JSON file (`[{"targets": ["host:port"], '
        '"labels": {}}]`), re-read whenever it changes. It may not exist yet.',
    )
    probe_ports: PortRange | None = Field(
        default=None,
        description='A port (`9400`) or range (`"9400-9410"`, at most 1000 ports) probed '
        "on every host the brokers report for group members.",
    )
    username: str | None = Field(
        default=None, description="JMX user for clients; unset: the `[clusters.jmx]` username."
    )
    password: Secret | None = Field(
        default=None, description="JMX password for clients; unset: the `[clusters.jmx]` password."
    )

    @field_validator("file_sd", mode="after")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else _resolve_path(value, info)


class JmxConfig(_Settings):
    """JMX of the brokers and KRaft controllers (and, in `clients`, of the clients)."""

    broker_port: Port | None = Field(
        default=None,
        description="The JMX port of every broker, on the host the cluster metadata gives. "
        "Leave it and `brokers` unset to monitor without broker JMX.",
    )
    brokers: dict[int, HostPort] = Field(
        default_factory=dict,
        description='Node id → "host:port", overriding `broker_port` per node; also how '
        "controller-only KRaft nodes (absent from the broker metadata) are found.",
    )
    username: str | None = Field(default=None, description="JMX user (`jmxremote.password` file).")
    password: Secret | None = Field(default=None, description="JMX password.")
    ssl: bool = Field(default=False, description="Connect to JMX over TLS (`jmxremote.ssl`).")
    registry_ssl: bool = Field(
        default=False, description="The RMI registry is TLS too (`jmxremote.registry.ssl`)."
    )
    clients: JmxClientsConfig = Field(
        default_factory=JmxClientsConfig, description="Client JMX endpoints."
    )

    @model_validator(mode="after")
    def _credentials_pair(self) -> JmxConfig:
        if self.password is not None and self.username is None:
            raise _problem(
                "a password is set but no username", 'add username = "..." next to it', "username"
            )
        if self.username is not None and self.password is None:
            raise _problem(
                "a username is set but no password",
                'add password_file = "/path" or password = "env:NAME"',
                "password",
            )
        return self

    def broker_target(self, node_id: int, host: str) -> str | None:
        """The JMX endpoint of node ``node_id`` whose metadata host is ``host``, or None."""
        if node_id in self.brokers:
            return self.brokers[node_id]
        if self.broker_port is not None:
            return f"{host}:{self.broker_port}"
        return None

    def client_credentials(self) -> tuple[str | None, Secret | None]:
        """Clients' JMX (username, password): their own, else the brokers'."""
        if self.clients.username is not None:
            return self.clients.username, self.clients.password
        return self.username, self.password


class LagConfig(_Settings):
    """Burrow's sliding-window lag evaluation, and lag in seconds."""

    intervals: int = Field(
        default=10, ge=2, le=1000, description="Committed offsets kept per partition (the window)."
    )
    min_distance: Duration = Field(
        default=0.0,
        description="Commits closer than this to the previous one replace it (0: keep all).",
    )
    minimum_complete: float = Field(
        default=0.0, ge=0, le=1, description="A window filled below this fraction is reported OK."
    )
    allowed_lag: int = Field(
        default=0,
        ge=0,
        description="Records a partition may trail the log end and still count as caught up.",
    )
    stop_grace: Duration = Field(
        default=60.0,
        ge=0,
        description="A lagging partition is STOP only once its commits have been silent this "
        "long (and longer than its window spans, Burrow's rule). Keeps a healthy group from "
        "reading STOP between the first and second commit a fresh service sees; set it above "
        "your consumers' commit interval (Kafka Streams: 30 s). 0: Burrow's behaviour.",
    )
    expire_group_after: Duration = Field(
        default=7 * 86400.0,
        gt=0,
        description="A group with no commits for this long is forgotten (until then it "
        "stays visible after its members vanish).",
    )
    lag_seconds_threshold: Duration | None = Field(
        default=None,
        description="Threshold of the `consumer_group_lag_seconds` rule for this cluster; "
        "unset: the rule's own.",
    )


class LivenessConfig(_Settings):
    """When a client's silence becomes a verdict."""

    hung_poll_seconds: Duration | None = Field(
        default=None,
        description="A consumer with records waiting that has not polled for longer is HUNG; "
        "unset: adaptive, 3 x its own recent time-between-poll-max, clamped to 30 s .. "
        "`max_poll_interval` (so a slow batch consumer is not called hung).",
    )
    max_poll_interval: Duration = Field(
        default=300.0,
        gt=0,
        description="Assumed max.poll.interval.ms when a consumer's is unknown.",
    )
    producer_stuck_seconds: Duration = Field(
        default=30.0,
        gt=0,
        description="A producer with queued records and nothing sent for this long is HUNG.",
    )
    expected_members: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="Group → member count it should have; fewer is reported. Unset groups "
        "learn their usual count.",
    )


_SECRET_PROPERTY = re.compile(r"password|secret|jaas|token|credential|key\.pem", re.IGNORECASE)


class ClusterConfig(_Settings):
    """One monitored Kafka cluster."""

    name: Name = Field(
        description="Unique; used in URLs, metric labels and env overrides.",
        examples=['"prod"'],
    )
    bootstrap: Bootstrap = Field(
        description='Bootstrap servers: "host:port,host:port" or a list.',
        examples=['"kafka1:9092,kafka2:9092"'],
    )
    client_properties: Annotated[
        dict[str, str | Secret], _Kind("table of librdkafka property → value")
    ] = Field(
        default_factory=dict,
        description="Passed to librdkafka as is (`security.protocol`, `sasl.*`, `ssl.*`). "
        "Values of keys naming a password, secret, token, JAAS or key, and any value "
        'given as "env:NAME" or `PROPERTY_file`, are secrets.',
    )
    admin_interval: Duration = Field(
        default=10.0, ge=1, description="How often cluster state and offsets are read."
    )
    jmx_interval: Duration = Field(default=10.0, ge=1, description="How often broker JMX is read.")
    client_interval: Duration = Field(
        default=5.0,
        ge=1,
        description="How often client JMX is read (liveness reacts within 2 of these).",
    )
    jmx_timeout: Duration = Field(
        default=5.0,
        gt=0,
        description="Bound of one JMX connect or read; past it a JVM is UNRESPONSIVE.",
    )
    jmx: JmxConfig = Field(default_factory=JmxConfig, description="Broker and client JMX.")
    lag: LagConfig = Field(default_factory=LagConfig, description="Consumer lag evaluation.")
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig, description="Client liveness thresholds."
    )

    @field_validator("client_properties", mode="before")
    @classmethod
    def _properties(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            return value
        env = _env(info)
        out: dict[str, str | Secret] = {}
        for key, raw in value.items():
            if key == "bootstrap.servers":
                raise _problem(
                    "bootstrap.servers is set here", "set the cluster's bootstrap key instead", key
                )
            if isinstance(raw, bool):
                raw = "true" if raw else "false"
            elif isinstance(raw, int | float):
                raw = str(raw)
            if not isinstance(raw, str):
                raise _problem(
                    f"a {type(raw).__name__} is not a librdkafka value",
                    "write it as a string, number or boolean",
                    key,
                )
            if key.endswith("_file"):
                target = key.removesuffix("_file")
                if target in value:
                    raise _problem(
                        f"both '{target}' and '{key}' are set", "keep only one of them", key
                    )
                text, source = _read_secret_file(raw, key, info)
                out[target] = Secret(text, source)
            elif raw.startswith("env:"):
                try:
                    out[key] = _secret_from_string(raw, env)
                except PydanticCustomError as e:
                    raise _problem(e.message(), str((e.context or {}).get("ks_fix")), key) from None
            elif _SECRET_PROPERTY.search(key):
                out[key] = Secret(raw, "inline")
            else:
                out[key] = raw
        return out

    def librdkafka_config(self) -> dict[str, str]:
        """``bootstrap.servers`` plus the client properties, secrets revealed: for
        confluent-kafka only, never for logs."""
        props = {
            k: v.reveal() if isinstance(v, Secret) else v for k, v in self.client_properties.items()
        }
        return {"bootstrap.servers": self.bootstrap, **props}


class RuleOverride(_Settings):
    """Changes to one built-in rule (`[alerts.rules.NAME]`); unset keys keep its defaults."""

    enabled: bool = Field(default=True, description="false turns the rule off.")
    severity: Severity | None = Field(default=None, description="info, warning or critical.")
    for_: Duration | None = Field(
        default=None, alias="for", description="How long the condition must hold before firing."
    )
    threshold: float | None = Field(default=None, description="The rule's threshold, in its unit.")
    critical_threshold: float | None = Field(
        default=None,
        description="For rules that escalate (request_handler_idle, produce_latency_p99): "
        "the threshold at which the alert becomes critical.",
    )
    window: Duration | None = Field(
        default=None,
        description="For counter rules (unclean_leader_election, producer_errors): how far "
        "back an increase counts.",
    )


class CustomRule(_Settings):
    """A rule of your own: fires when `metric{labels} comparator threshold` holds for `for`."""

    name: Name = Field(description="Unique alert name.", examples=['"orders-lag-high"'])
    metric: str = Field(
        description="A catalog metric name, as on `/metrics` (broker, controller, producer "
        "and consumer metrics).",
        examples=['"kafka_consumer_records_lag_max"'],
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Label selector: every label must equal its value. Samples carry their "
        "`/metrics` labels (`cluster`, `target` and the catalog's own, e.g. `client_id`, "
        "`topic`), plus `broker` (the node id) on broker metrics and `group` on a group "
        "member's consumer metrics; the alert fires once per distinct label set.",
    )
    comparator: Comparator = Field(description="One of > >= < <= == !=.", examples=['">"'])
    threshold: float = Field(description="Compared with the metric.", examples=["1000"])
    for_: Duration = Field(
        default=0.0, alias="for", description="How long the condition must hold before firing."
    )
    severity: Severity = Field(default="warning", description="info, warning or critical.")
    summary: str = Field(default="", description="One line for notifications; default: the rule.")


class Route(_Settings):
    """Which alerts go to which receivers. Every matching route is used; an empty matcher
    matches everything. With no routes, every alert goes to every receiver."""

    name: Name | None = Field(
        default=None,
        description="Optional route name, for `kafkascope test-notify --config FILE NAME`.",
        examples=['"pager"'],
    )
    severity: Annotated[list[Severity], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, description="Severities that match; empty: any."
    )
    cluster: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(
        default_factory=list, description="Cluster names that match; empty: any."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels the alert must have with these values."
    )
    receivers: Annotated[list[str], BeforeValidator(_one_or_many)] = Field(
        min_length=1, description="Receiver names to notify.", examples=['["oncall"]']
    )


class WebhookReceiver(_Settings):
    """POSTs the alert as JSON to a URL."""

    kind: Literal["webhook"] = Field(description="Receiver kind.", examples=['"webhook"'])
    name: Name = Field(description="Unique receiver name.", examples=['"oncall"'])
    url: HttpUrl = Field(description="http(s) URL.", examples=['"https://hooks.example.com/k"'])
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        description='Extra HTTP headers, e.g. Authorization = "env:HOOK_TOKEN"; values '
        "are secrets.",
    )
    timeout: Duration = Field(default=10.0, gt=0, description="Bound of one delivery attempt.")


class SlackReceiver(_Settings):
    """A Slack incoming webhook."""

    kind: Literal["slack"] = Field(description="Receiver kind.", examples=['"slack"'])
    name: Name = Field(description="Unique receiver name.", examples=['"slack-kafka"'])
    webhook_url: Secret = Field(
        description="The incoming-webhook URL (it is the credential).",
        examples=['"env:SLACK_WEBHOOK_URL"'],
    )
    timeout: Duration = Field(default=10.0, gt=0, description="Bound of one delivery attempt.")

    @model_validator(mode="after")
    def _https(self) -> SlackReceiver:
        if not self.webhook_url.reveal().startswith("https://"):
            raise _problem(
                "is not an https:// URL (value not shown: it is a secret)",
                "copy the full webhook URL from Slack (https://hooks.slack.com/services/...)",
                "webhook_url",
            )
        return self


class EmailReceiver(_Settings):
    """E-mail over SMTP."""

    kind: Literal["email"] = Field(description="Receiver kind.", examples=['"email"'])
    name: Name = Field(description="Unique receiver name.", examples=['"oncall-mail"'])
    host: str = Field(description="SMTP server.", examples=['"smtp.example.com"'])
    port: Port = Field(default=587, description="SMTP port.")
    starttls: bool = Field(default=True, description="Upgrade the connection with STARTTLS.")
    username: str | None = Field(default=None, description="SMTP login; unset: no authentication.")
    password: Secret | None = Field(default=None, description="SMTP password.")
    from_: EmailAddress = Field(
        alias="from", description="Sender address.", examples=['"kafkascope@example.com"']
    )
    to: Annotated[list[EmailAddress], BeforeValidator(_one_or_many)] = Field(
        min_length=1, description="Recipient addresses.", examples=['["oncall@example.com"]']
    )
    timeout: Duration = Field(default=30.0, gt=0, description="Bound of one delivery attempt.")

    @model_validator(mode="after")
    def _credentials_pair(self) -> EmailReceiver:
        if self.password is not None and self.username is None:
            raise _problem("a password is set but no username", 'add username = "..."', "username")
        return self


Receiver = Annotated[WebhookReceiver | SlackReceiver | EmailReceiver, Field(discriminator="kind")]


def _unknown_name(what: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{what} '{name}' is not defined{hint}"


class AlertsConfig(_Settings):
    """Alert rules, routes and receivers."""

    repeat_interval: Duration = Field(
        default=4 * 3600.0, ge=60, description="A still-firing alert is notified again this often."
    )
    rules: dict[str, RuleOverride] = Field(
        default_factory=dict,
        description="Overrides of built-in rules by name (`[alerts.rules.NAME]`).",
    )
    custom_rules: list[CustomRule] = Field(
        default_factory=list, description="Your own rules (`[[alerts.custom_rules]]`)."
    )
    routes: list[Route] = Field(
        default_factory=list, description="Which alerts go to which receivers."
    )
    receivers: list[Receiver] = Field(
        default_factory=list, description="`[[alerts.receivers]]`, each with a `kind`."
    )

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        for name in self.rules:
            if name not in BUILTIN_RULES:
                raise _problem(
                    _unknown_name("built-in rule", name, BUILTIN_RULES),
                    f"use a name from the rule pack ({REFERENCE_DOC}), or define it under "
                    "[[alerts.custom_rules]]",
                    "rules",
                    name,
                )
        seen: set[str] = set()
        for i, rule in enumerate(self.custom_rules):
            if rule.name in BUILTIN_RULES or rule.name in seen:
                raise _problem(
                    f"rule name '{rule.name}' is already used"
                    + (" by a built-in rule" if rule.name in BUILTIN_RULES else ""),
                    "give the custom rule another name (override a built-in one under "
                    "[alerts.rules.NAME] instead)",
                    "custom_rules",
                    i,
                    "name",
                )
            seen.add(rule.name)
        names: set[str] = set()
        for i, receiver in enumerate(self.receivers):
            if receiver.name in names:
                raise _problem(
                    f"duplicate receiver name '{receiver.name}'",
                    "give every [[alerts.receivers]] its own name",
                    "receivers",
                    i,
                    "name",
                )
            names.add(receiver.name)
        route_names: set[str] = set()
        for i, route in enumerate(self.routes):
            if route.name is not None:
                if route.name in route_names:
                    raise _problem(
                        f"duplicate route name '{route.name}'",
                        "give every named [[alerts.routes]] its own name",
                        "routes",
                        i,
                        "name",
                    )
                route_names.add(route.name)
            for name in route.receivers:
                if name not in names:
                    defined = ", ".join(sorted(names)) or "none"
                    raise _problem(
                        _unknown_name("receiver", name, names),
                        f"define it in [[alerts.receivers]] or use a defined one ({defined})",
                        "routes",
                        i,
                        "receivers",
                    )
        return self


class Config(_Settings):
    """The whole configuration file."""

    service: ServiceConfig = Field(
        default_factory=ServiceConfig,
        description="Listen address, data directory, log level, API tokens, retention.",
    )
    clusters: list[ClusterConfig] = Field(
        min_length=1,
        description="`[[clusters]]`, one table per monitored cluster.",
        examples=['[[clusters]] with name = "prod" and bootstrap = "kafka1:9092"'],
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Rule overrides, custom rules, routes, receivers."
    )

    _file: Path | None = PrivateAttr(default=None)
    _overrides: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        seen: dict[str, int] = {}
        for i, cluster in enumerate(self.clusters):
            if cluster.name in seen:
                raise _problem(
                    f"duplicate cluster name '{cluster.name}' (clusters[{seen[cluster.name]}] "
                    "has it too)",
                    "give every [[clusters]] its own name",
                    "clusters",
                    i,
                    "name",
                )
            seen[cluster.name] = i
        for i, route in enumerate(self.alerts.routes):
            for name in route.cluster:
                if name not in seen:
                    raise _problem(
                        _unknown_name("cluster", name, seen),
                        f"use a [[clusters]] name ({', '.join(seen)})",
                        "alerts",
                        "routes",
                        i,
                        "cluster",
                    )
        return self

    @property
    def file(self) -> Path | None:
        """The file this was loaded from (None: defaults and environment only)."""
        return self._file

    @property
    def env_overrides(self) -> tuple[str, ...]:
        """Names of the ``KAFKASCOPE_*`` variables that were applied."""
        return self._overrides

    def cluster(self, name: str) -> ClusterConfig:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)


# ---------------------------------------------------------------------------------------
# Environment overrides
# ---------------------------------------------------------------------------------------

Loc = tuple[str | int, ...]


def _env_name(name: object) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", str(name)).upper()


def _env_error(var: str, message: str, fix: str) -> ConfigError:
    end = "" if message.endswith(("?", ".")) else "."
    return ConfigError(f"environment variable {var}: {message}{end} Fix: {fix}.")


def _respell(segments: list[str], i: int, replacement: str) -> str:
    """The variable name with segment ``i`` replaced (for "did you mean")."""
    return ENV_PREFIX + "__".join([*segments[:i], _env_name(replacement), *segments[i + 1 :]])


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[Loc, str]:
    """Fold ``KAFKASCOPE_*__*`` variables into the parsed file; return where each landed."""
    origins: dict[Loc, str] = {}
    for var in sorted(env):
        if not var.startswith(ENV_PREFIX) or "__" not in var[len(ENV_PREFIX) :]:
            continue
        segments = var[len(ENV_PREFIX) :].split("__")
        if not all(segments):
            raise _env_error(var, "has an empty path segment", "separate keys with exactly '__'")
        loc = _apply_one(raw, segments, env[var], var)
        origins[loc] = var
    return origins


def _apply_one(raw: dict[str, Any], segments: list[str], value: str, var: str) -> Loc:
    node: Any = raw
    model: type[BaseModel] = Config
    loc: list[str | int] = []
    i = 0
    while i < len(segments):
        key = segments[i].lower()
        last = i == len(segments) - 1
        table = ".".join(str(p) for p in loc if isinstance(p, str)) or "the top level"
        if key not in _keys(model):
            close = difflib.get_close_matches(key, _keys(model), n=1)
            hint = f"; did you mean {_respell(segments, i, close[0])}?" if close else ""
            raise _env_error(
                var,
                f"'{key}' is not a key of {table}{hint}",
                f"rename the variable (keys: {', '.join(_keys(model))})",
            )
        if key in ("name", "kind") and loc:
            raise _env_error(
                var,
                f"the {key} of an entry cannot be set from the environment",
                "set it in the file",
            )
        secrets = _secret_fields(model)
        loc.append(key)
        if key.endswith("_file") and key.removesuffix("_file") in secrets:
            if not last:
                raise _env_error(var, f"'{key}' is a value, not a table", "end the name there")
            node.pop(key.removesuffix("_file"), None)
            node[key] = value
            return tuple(loc)
        info = _fields(model)[key]
        tp, _ = _strip(info.annotation)
        if last:
            if _is_model(tp) or _union_models(tp) or get_origin(tp) is dict:
                raise _env_error(
                    var,
                    f"{'.'.join(map(str, loc))} is a table, not a value",
                    "name one of its keys",
                )
            node.pop(f"{key}_file", None)
            if get_origin(tp) is list:
                node[key] = [s.strip() for s in value.split(",") if s.strip()]
            else:
                node[key] = value
            return tuple(loc)
        child = node.setdefault(key, [] if get_origin(tp) is list else {})
        if _is_model(tp):
            if not isinstance(child, dict):
                raise _env_error(var, f"{key} in the file is not a table", "fix the file first")
            node, model, i = child, tp, i + 1
            continue
        origin = get_origin(tp)
        args = get_args(tp)
        item_tp = _strip(args[-1])[0] if args else None
        if origin is list and (_is_model(item_tp) or _union_models(item_tp)):
            if not isinstance(child, list):
                raise _env_error(var, f"{key} in the file is not an array of tables", "fix it")
            wanted = segments[i + 1]
            match = [
                it for it in child if isinstance(it, dict) and _env_name(it.get("name")) == wanted
            ]
            if len(match) > 1:
                raise _env_error(
                    var,
                    f"several {key} have names spelled {wanted} in a variable",
                    "give them names that differ in more than punctuation or case",
                )
            if match:
                item = match[0]
            elif key == "clusters" and [s.lower() for s in segments[i + 2 :]] == ["bootstrap"]:
                item = {"name": wanted.lower()}
                child.append(item)
            else:
                names = [_env_name(it.get("name")) for it in child if isinstance(it, dict)]
                close = difflib.get_close_matches(wanted, names, n=1)
                hint = f"; did you mean {_respell(segments, i + 1, close[0])}?" if close else ""
                fix = f"use one of: {', '.join(names) or 'none defined'}"
                if key == "clusters":
                    fix += f", or set {ENV_PREFIX}CLUSTERS__{wanted}__BOOTSTRAP to add a cluster"
                raise _env_error(var, f"no entry of {key} is named {wanted}{hint}", fix)
            loc.append(child.index(item))
            kinds = _union_models(item_tp)
            if kinds:
                found = kinds.get(str(item.get("kind")))
                if found is None:
                    raise _env_error(var, f"{key} entry {wanted} has no valid kind", "fix the file")
                model = found
            else:
                model = typing.cast(type[BaseModel], item_tp)
            node, i = item, i + 2
            continue
        if origin is dict:
            if not isinstance(child, dict):
                raise _env_error(var, f"{key} in the file is not a table", "fix the file first")
            if i + 1 >= len(segments):
                raise _env_error(var, f"{key} needs a key after it", "name the map key")
            map_key = segments[i + 1].lower()
            if key == "client_properties":
                # librdkafka names are dotted; PROPERTY_file is our secret-file suffix.
                map_key = re.sub(r"\.file$", "_file", map_key.replace("_", "."))
                child.pop(map_key.removesuffix("_file"), None)
                child.pop(f"{map_key}_file", None)
            value_tp = _strip(args[1])[0]
            loc.append(map_key)
            if _is_model(value_tp):
                entry = child.setdefault(map_key, {})
                node, model, i = entry, value_tp, i + 2
                continue
            if i + 2 != len(segments):
                raise _env_error(var, f"{key}.{map_key} is a value, not a table", "end it there")
            child[map_key] = value
            return tuple(loc)
        raise _env_error(var, f"{key} is a value, not a table", "end the variable name there")
    raise _env_error(var, "names no key", "add a key")  # pragma: no cover - loop always returns


# ---------------------------------------------------------------------------------------
# Errors: file, key, what, fix
# ---------------------------------------------------------------------------------------


@dataclass
class _Where:
    loc: Loc  # clean: no union tags, no '[key]'
    parent: type[BaseModel] | None  # the table holding the last key
    parent_loc: Loc
    kind_tag: str | None
    field: FieldInfo | None
    tp: Any
    is_map_key: bool


def _walk(raw_loc: Iterable[str | int]) -> _Where:
    tp: Any = Config
    loc: list[str | int] = []
    parent: type[BaseModel] | None = None
    parent_loc: Loc = ()
    field: FieldInfo | None = None
    tag: str | None = None
    is_key = False
    for el in raw_loc:
        if el == "[key]":
            is_key = True
            continue
        base = _strip(tp)[0] if tp is not None else None
        if _is_model(base):
            parent, parent_loc = base, tuple(loc)
            field = _fields(base).get(str(el))
            tp = field.annotation if field is not None else None
            loc.append(el)
            continue
        kinds = _union_models(base)
        if kinds and isinstance(el, str) and el in kinds:
            tp, tag = kinds[el], el
            continue
        origin = get_origin(base)
        if origin in (list, tuple) and isinstance(el, int):
            tp = get_args(base)[0]
            loc.append(el)
            if not _union_models(_strip(tp)[0]):
                tag = None
            continue
        if origin is dict:
            tp = get_args(base)[1]
            loc.append(el)
            continue
        loc.append(el)
        tp = None
    return _Where(tuple(loc), parent, parent_loc, tag, field, tp, is_key)


def _dotted(loc: Loc) -> str:
    out = ""
    for el in loc:
        if isinstance(el, int):
            out += f"[{el}]"
        else:
            text = el if re.fullmatch(r"[A-Za-z0-9_-]+", el) else json.dumps(el)
            out += f".{text}" if out else text
    return out or "(top level)"


def _table(loc: Loc, tag: str | None = None) -> str:
    path = ".".join(str(p) for p in loc if isinstance(p, str))
    if not path:
        return "the top level"
    text = f"[[{path}]]" if isinstance(loc[-1], int) else f"[{path}]"
    return f'{text} (kind = "{tag}")' if tag else text


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _unit(where: _Where) -> str:
    return "s" if _kind(where.field, where.tp) == "duration" else ""


def _explain(err: Mapping[str, Any]) -> tuple[Loc, str, str]:
    """One pydantic error → (clean key path, what is wrong, the fix)."""
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    raw_loc: list[str | int] = list(err["loc"])
    raw_loc += json.loads(str(ctx.get("ks_at") or "[]"))
    where = _walk(raw_loc)
    loc, kind, key = where.loc, err["type"], str(where.loc[-1]) if where.loc else ""
    table = _table(where.parent_loc, where.kind_tag)
    secret = _strip(where.tp)[0] is Secret
    value = err.get("input")
    shown = "" if secret or value is None or isinstance(value, dict | list) else f" (got {value!r})"
    bare = _strip(where.tp)[0]
    if kind == "kafkascope":
        return loc, err["msg"], str(ctx.get("ks_fix") or f"see {REFERENCE_DOC}")
    if kind == "extra_forbidden":
        keys = _keys(where.parent) if where.parent is not None else []
        close = difflib.get_close_matches(key, keys, n=1, cutoff=0.6)
        if close:
            return (
                loc,
                f"unknown key '{key}' in {table}; did you mean '{close[0]}'?",
                f"rename it to '{close[0]}'",
            )
        return (
            loc,
            f"unknown key '{key}' in {table}",
            f"remove it; {table} accepts: {', '.join(keys)}",
        )
    if kind == "missing":
        example = where.field.examples[0] if where.field and where.field.examples else '"..."'
        add = f"add {example}" if "[[" in str(example) else f"add {key} = {example}"
        return loc, f"missing required key '{key}' in {table}", f"{add} to {table}"
    if kind in ("list_type", "model_type", "dict_type", "model_attributes_type"):
        if get_origin(bare) is list and (
            _is_model(_strip(get_args(bare)[0])[0]) or _union_models(_strip(get_args(bare)[0])[0])
        ):
            path = ".".join(str(p) for p in loc if isinstance(p, str))
            return (
                loc,
                f"'{key}' must be an array of tables",
                f"write [[{path}]] (double brackets) above each entry",
            )
        if get_origin(bare) is list:
            return loc, f"'{key}' must be a list", f'write it as {key} = ["a", "b"]'
        path = ".".join(str(p) for p in loc if isinstance(p, str))
        return (
            loc,
            f"'{key}' must be a table",
            f"write [{path}] (single brackets) followed by its keys, or {key} = {{ ... }}",
        )
    if kind == "literal_error":
        return loc, f"{err.get('input')!r} is not allowed", f"use one of {ctx.get('expected')}"
    if kind == "union_tag_invalid":
        return (
            loc,
            f"kind '{ctx.get('tag')}' is not known",
            f"use kind = one of {ctx.get('expected_tags')}",
        )
    if kind == "union_tag_not_found":
        models = _union_models(bare) or _union_models(
            _strip(where.field.annotation)[0] if where.field else None
        )
        kinds = ", ".join(f'"{k}"' for k in models) or "a kind"
        return loc, "has no 'kind'", f"add kind = one of {kinds}"
    if where.is_map_key:
        if kind.startswith("int"):
            return (
                loc,
                f"key '{key}' must be a whole number (a node id)",
                'write it like "1" = "host:9999"',
            )
        return loc, f"key '{key}' is not valid: {err['msg'].lower()}", f"see {REFERENCE_DOC}"
    if kind.startswith("int_"):
        return loc, f"must be a whole number{shown}", f"write {key} = 42 (no quotes, no decimals)"
    if kind.startswith("float_"):
        return loc, f"must be a number{shown}", f"write {key} = 1.5 (no quotes)"
    if kind.startswith("bool_"):
        return loc, f"must be true or false{shown}", f"write {key} = true or {key} = false"
    if kind.startswith("string_"):
        return loc, f"must be a string{shown}", f'put the value in double quotes: {key} = "..."'
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        word = {
            "greater_than_equal": "at least",
            "greater_than": "more than",
            "less_than_equal": "at most",
            "less_than": "less than",
        }[kind]
        bound: Any = next(iter(ctx.values()), "?")
        if _unit(where) and isinstance(bound, int | float):
            bound = format_duration(float(bound))
            if isinstance(value, int | float):
                shown = f" (got {format_duration(float(value))})"
        return loc, f"must be {word} {bound}{shown}", f"set {key} to {word} {bound}"
    if kind in ("too_short", "too_long"):
        n = ctx.get("min_length" if kind == "too_short" else "max_length", 0)
        word = "at least" if kind == "too_short" else "at most"
        return loc, f"needs {word} {_plural(int(n), 'entry')}", f"give {key} {word} {n}"
    return loc, str(err["msg"]), f"see {REFERENCE_DOC}"


def _line_of(text: str, loc: Loc) -> int | None:
    """Best-effort line of ``loc`` in the TOML text: narrow to the array-of-tables entry by
    index, then find the key (or table header) once. None when unsure."""
    lines = text.splitlines()
    lo, hi = 0, len(lines)
    path: list[str] = []
    for j, el in enumerate(loc):
        if isinstance(el, int):
            header = re.compile(r"^\s*\[\[\s*" + re.escape(".".join(path)) + r"\s*\]\]")
            starts = [n for n in range(lo, hi) if header.match(lines[n])]
            if el >= len(starts):
                return None
            lo = starts[el]
            hi = starts[el + 1] if el + 1 < len(starts) else hi
            if j == len(loc) - 1:
                return lo + 1
        else:
            path.append(el)
    keys = [el for el in loc if isinstance(el, str)]
    narrowed = lo + 1 if any(isinstance(el, int) for el in loc) else None
    if not keys:
        return narrowed
    key = re.escape(keys[-1])
    patterns = [
        re.compile(rf'^\s*("{key}"|{key})\s*='),
        re.compile(r"^\s*\[\[?\s*" + re.escape(".".join(path)) + r"\s*\]"),
    ]
    for pat in patterns:
        hits = [n for n in range(lo, hi) if pat.match(lines[n])]
        if len(hits) == 1:
            return hits[0] + 1
    return narrowed


def _format_errors(
    errors: list[Mapping[str, Any]], file: Path | None, text: str, origins: Mapping[Loc, str]
) -> str:
    explained = [_explain(err) for err in errors]
    # "unknown key 'bootstrp' ...; did you mean 'bootstrap'?" already says that bootstrap is
    # missing: drop the second message about the same key.
    suggested = {
        (loc[:-1], fix.removeprefix("rename it to '").rstrip("'"))
        for loc, _, fix in explained
        if fix.startswith("rename it to '")
    }
    explained = [
        (loc, what, fix)
        for loc, what, fix in explained
        if not (what.startswith("missing required key") and (loc[:-1], loc[-1]) in suggested)
    ]
    items = []
    for loc, what, fix in explained[:20]:
        var, best = None, -1
        for origin, name in origins.items():
            if len(origin) > best and tuple(map(str, loc[: len(origin)])) == tuple(
                map(str, origin)
            ):
                var, best = name, len(origin)
        if var is not None:
            place = f"environment variable {var}"
        elif file is not None:
            line = _line_of(text, loc)
            place = f"{file}:{line}" if line else str(file)
        else:
            place = "configuration (no file given)"
        what = what if what.endswith(("?", ".")) else what + "."
        fix = fix if fix.endswith(".") else fix + "."
        items.append(f"{place}: {_dotted(loc)}: {what} Fix: {fix}")
    if len(items) == 1:
        return items[0]
    more = f" (first {len(items)} shown)" if len(explained) > len(items) else ""
    head = f"{file or 'the configuration'}: {len(explained)} problems{more}:"
    return "\n".join([head, *(f"  {item}" for item in items)])


_SECRET_LINE = re.compile(r"password|secret|token|webhook_url|authorization|jaas|key", re.I)


def _syntax_error(file: Path, text: str, e: tomllib.TOMLDecodeError) -> ConfigError:
    message = str(e)
    m = re.search(r"\(at line (\d+), column (\d+)\)", message)
    what = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", message)
    fix = (
        "correct the TOML there: strings need double quotes, tables are [name], arrays of "
        "tables [[name]], and a key may appear once per table"
    )
    if m is None:
        return ConfigError(f"{file}: TOML syntax error: {what}. Fix: {fix}.")
    line, col = int(m.group(1)), int(m.group(2))
    lines = text.splitlines()
    source = lines[line - 1] if 0 < line <= len(lines) else ""
    excerpt = f"    {source}\n    {' ' * max(col - 1, 0)}^\n"
    if _SECRET_LINE.search(source):
        # The broken line may hold a secret: never echo it.
        excerpt = f"    {source.partition('=')[0].rstrip()} = ***  (value hidden)\n"
    return ConfigError(
        f"{file}:{line}:{col}: TOML syntax error at line {line}, column {col}: {what}.\n"
        f"{excerpt}Fix: {fix}."
    )


def _read(path: Path) -> str:
    fix = "pass the path of a kafkascope TOML file (start from docs/kafkascope.example.toml)"
    if not path.exists():
        raise ConfigError(f"config file {path} does not exist. Fix: {fix}.")
    if path.is_dir():
        raise ConfigError(f"config file {path} is a directory. Fix: {fix}.")
    try:
        return path.read_text(encoding="utf-8")
    except PermissionError:
        raise ConfigError(
            f"config file {path} cannot be read (permission denied). "
            "Fix: let the user running kafkascope read it."
        ) from None
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"config file {path} is not UTF-8 text (byte {e.start}). Fix: save it as UTF-8."
        ) from None


def load_config(path: Path | None, env: Mapping[str, str] = os.environ) -> Config:
    """Read ``path`` (or ``$KAFKASCOPE_CONFIG``; or nothing: defaults plus environment), fold in
    the ``KAFKASCOPE_*`` overrides, validate everything, and resolve secrets and paths.

    Raises :class:`ConfigError` naming the file or variable, the key, the problem and the fix.
    """
    if path is None and env.get(f"{ENV_PREFIX}CONFIG"):
        path = Path(env[f"{ENV_PREFIX}CONFIG"])
    text = ""
    raw: dict[str, Any] = {}
    if path is not None:
        path = path.expanduser().absolute()
        text = _read(path)
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise _syntax_error(path, text, e) from None
    origins = _apply_env(raw, env)
    base = path.parent if path is not None else Path.cwd()
    try:
        config = Config.model_validate(raw, context={"env": env, "base_dir": base})
    except ValidationError as e:
        errors: list[Mapping[str, Any]] = list(e.errors(include_url=False))
        raise ConfigError(_format_errors(errors, path, text, origins)) from None
    config._file = path
    config._overrides = tuple(sorted(set(origins.values())))
    return config


# ---------------------------------------------------------------------------------------
# The reference, generated from the models
# ---------------------------------------------------------------------------------------


def _type_name(info: FieldInfo | None, tp: Any) -> str:
    kind = _kind(info, tp)
    if kind is not None:
        return kind
    bare, _ = _strip(tp)
    if bare is Secret:
        return "secret"
    if bare is bool:
        return "boolean"
    if bare is int:
        return "integer"
    if bare is float:
        return "number"
    if bare is str:
        return "string"
    if bare is Path:
        return "path"
    origin = get_origin(bare)
    if origin is Literal:
        choices = get_args(bare)
        if len(choices) == 1:
            return f'`"{choices[0]}"`'
        return "one of " + ", ".join(f"`{a}`" for a in choices)
    if _item_models(bare):
        return "array of tables"
    if origin is list:
        return f"list of {_type_name(None, get_args(bare)[0])}"
    if origin is dict:
        k, v = get_args(bare)
        return f"table of {_type_name(None, k)} → {_type_name(None, v)}"
    if _is_model(bare) or _union_models(bare):
        return "table"
    return str(bare)


def _default(info: FieldInfo) -> str:
    if info.is_required():
        return "**required**"
    value = info.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        return "(table)"
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if _kind(info, info.annotation) == "duration" and isinstance(value, int | float):
        return f'`"{format_duration(float(value))}"`'
    if isinstance(value, str | Path):
        return f'`"{value}"`'
    if isinstance(value, list | dict) and not value:
        return "`[]`" if isinstance(value, list) else "`{}`"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _list_item(tp: Any) -> Any:
    """The item type of a ``list[...]`` annotation, bare; None for anything else."""
    bare = _strip(tp)[0]
    return _strip(get_args(bare)[0])[0] if get_origin(bare) is list else None


def _item_models(tp: Any) -> dict[str, type[BaseModel]]:
    """Models of the entries of an array of tables (``{"": model}`` when not tagged)."""
    item = _list_item(tp)
    if _is_model(item):
        return {"": item}
    return _union_models(item)


def _sections(
    model: type[BaseModel], table: str, env: str | None, tag: str = ""
) -> list[tuple[str, str | None, type[BaseModel], str]]:
    """(table heading, env-variable prefix or None, model, kind tag) for ``model`` and every
    table below it. The prefix is None where the environment cannot address the table
    (entries of an array without names)."""
    out = [(table, env, model, tag)]
    path = table.strip("[]")
    for key, info in _fields(model).items():
        bare, _ = _strip(info.annotation)
        sub = f"{path}.{key}" if path else key
        sub_env = f"{env}{_env_name(key)}__" if env is not None else None
        if _is_model(bare):
            out += _sections(bare, f"[{sub}]", sub_env)
        elif _item_models(bare):
            for t, m in _item_models(bare).items():
                named = sub_env is not None and "name" in m.model_fields
                out += _sections(m, f"[[{sub}]]", f"{sub_env}<NAME>__" if named else None, t)
        elif get_origin(bare) is dict and _is_model(_strip(get_args(bare)[1])[0]):
            item = _strip(get_args(bare)[1])[0]
            out += _sections(item, f"[{sub}.<name>]", f"{sub_env}<NAME>__" if sub_env else None)
    return out


def _env_cell(env: str | None, key: str, info: FieldInfo) -> str:
    bare, _ = _strip(info.annotation)
    if env is None or key in ("kind", "name") or _is_model(bare):
        return "—"
    var = f"{env}{_env_name(key)}"
    if _item_models(bare):
        models = _item_models(bare).values()
        return f"`{var}__<NAME>__…`" if all("name" in m.model_fields for m in models) else "—"
    if get_origin(bare) is dict:
        return (
            f"`{var}__<NAME>__…`" if _is_model(_strip(get_args(bare)[1])[0]) else f"`{var}__<KEY>`"
        )
    return f"`{var}`"


_REFERENCE_INTRO = """\
# kafkascope configuration reference

<!-- Generated by `python -m kafkascope.config > docs/config-reference.md` from the models in
src/kafkascope/config.py. Do not edit by hand: a test fails when it drifts from the code. -->

kafkascope reads one TOML file (`kafkascope serve --config FILE`); `kafkascope check-config
FILE` validates it and prints a summary with every secret shown as `***`. A complete,
commented example is `docs/kafkascope.example.toml`.

Every table rejects unknown keys (with a "did you mean" suggestion), and every error names
the file and line (or the environment variable), the key path such as
`clusters[0].jmx.broker_port`, what is wrong, and the fix.

## Value types

- **duration**: `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"7d"`, `"1w"`, compounds such as
  `"1h30m"`, or a plain number of seconds.
- **host:port**: `"kafka1.example.com:9092"`, `"127.0.0.1:8321"`, `"[::1]:9999"`.
- **port or range**: `9400` or `"9400-9410"` (at most 1000 ports).
- **path**: relative paths resolve against the directory of the config file; `~` expands.
- **name**: 1-64 letters, digits, `.`, `_` or `-`, starting with a letter or digit.
- **secret**: never shown (`***` in logs, the API and `check-config`). Give it inline,
  as `"env:NAME"` (read from the environment at load; an unset variable is an error), or
  through the sibling key `KEY_file = "PATH"` (read at load; the file must exist, be readable
  and non-empty; one trailing newline is dropped; for token lists, one token per line).
  In `client_properties`, write `PROPERTY_file` (e.g. `"sasl.password_file"`).

## Environment overrides

Any key can be set with `KAFKASCOPE_` + its path in upper case, segments joined by `__`;
the environment wins over the file. Entries of arrays of tables (`[[clusters]]`,
`[[alerts.receivers]]`, `[[alerts.custom_rules]]`) are addressed by their `name`,
upper-cased with every character other than a letter or digit written `_` (cluster
`prod-eu` → `PROD_EU`); a name cannot be changed this way. List values are
comma-separated. Map keys are lower-cased; in `client_properties`, `_` stands for `.`
(`SASL_PASSWORD` → `sasl.password`).
A cluster that the file does not define is added when its `BOOTSTRAP` is set (its name is
the lower-cased segment). `KAFKASCOPE_CONFIG` names the file when none is given. Variables
without `__` after the prefix are not overrides.

```sh
KAFKASCOPE_SERVICE__LISTEN=0.0.0.0:8321
KAFKASCOPE_SERVICE__DATA_DIR=/var/lib/kafkascope
KAFKASCOPE_SERVICE__LOG_LEVEL=debug
KAFKASCOPE_SERVICE__ADMIN_TOKENS=token-one,token-two
KAFKASCOPE_CLUSTERS__PROD_EU__BOOTSTRAP=kafka1:9092,kafka2:9092
KAFKASCOPE_CLUSTERS__PROD_EU__JMX__USERNAME=monitor
KAFKASCOPE_CLUSTERS__PROD_EU__JMX__PASSWORD_FILE=/run/secrets/jmx-password
KAFKASCOPE_CLUSTERS__PROD_EU__CLIENT_PROPERTIES__SASL_PASSWORD=...
KAFKASCOPE_ALERTS__RULES__UNDER_REPLICATED_PARTITIONS__FOR=2m
KAFKASCOPE_ALERTS__RECEIVERS__ONCALL_MAIL__PASSWORD=...
```
"""


def render_reference() -> str:
    """The Markdown reference of every table and key: type, default, environment variable
    and description, generated from the models."""
    parts = [_REFERENCE_INTRO, "## Built-in alert rules\n"]
    parts.append(
        "Names accepted by `[alerts.rules.NAME]`, with their defaults (`for` and `window` in "
        "seconds; `-` where the rule has no such setting):\n"
    )
    parts.append(
        "| rule | severity | for | threshold | critical_threshold | window | fires on |\n"
        "|---|---|---|---|---|---|---|"
    )

    def num(v: float | None) -> str:
        return "-" if v is None else f"{v:g}"

    parts += [
        f"| `{r.name}` | {r.severity.value} | {num(r.for_seconds)} | {num(r.threshold)} | "
        f"{num(r.critical_threshold)} | {num(r.window_seconds)} | {_cell(r.description)} |"
        for r in _BUILTIN_RULE_SPECS
    ]
    parts.append("")
    for heading, env, model, tag in _sections(Config, "", ENV_PREFIX):
        title = heading or "Top level"
        if tag:
            title += f' (kind = "{tag}")'
        parts.append(f"## {title}\n")
        parts.append(" ".join((model.__doc__ or "").split()) + "\n")
        parts.append("| key | type | default | environment | description |")
        parts.append("|---|---|---|---|---|")
        secrets = _secret_fields(model)
        for key, info in _fields(model).items():
            desc = info.description or ""
            if key in secrets:
                desc += f' Or `{key}_file = PATH`, or `"env:NAME"`.'
            parts.append(
                f"| `{key}` | {_cell(_type_name(info, info.annotation))} | "
                f"{_cell(_default(info))} | {_env_cell(env, key, info)} | {_cell(desc)} |"
            )
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"

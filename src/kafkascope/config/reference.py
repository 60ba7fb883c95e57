"""The configuration reference (``docs/config-reference.md``), generated from the models.

Every table, key, type, default, environment variable and description comes from
:mod:`~kafkascope.config.schema` and :mod:`~kafkascope.config.alerting`, and the built-in
rules from the rule pack, so the document cannot drift from the code (a unit test compares
them). ``python -m kafkascope.config`` prints it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from kafkascope.alerts.pack import BUILTIN_RULES
from kafkascope.config.env import env_name
from kafkascope.config.schema import Config
from kafkascope.config.tables import (
    is_model,
    kind_name,
    secret_fields,
    strip_type,
    table_fields,
    union_models,
)
from kafkascope.config.values import ENV_PREFIX, Secret, format_duration


def _type_name(info: FieldInfo | None, tp: Any) -> str:
    kind = kind_name(info, tp)
    if kind is not None:
        return kind
    bare, _ = strip_type(tp)
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
    if is_model(bare) or union_models(bare):
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
    if kind_name(info, info.annotation) == "duration" and isinstance(value, int | float):
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
    bare = strip_type(tp)[0]
    return strip_type(get_args(bare)[0])[0] if get_origin(bare) is list else None


def _item_models(tp: Any) -> dict[str, type[BaseModel]]:
    """Models of the entries of an array of tables (``{"": model}`` when not tagged)."""
    item = _list_item(tp)
    if is_model(item):
        return {"": item}
    return union_models(item)


def _sections(
    model: type[BaseModel], table: str, env: str | None, tag: str = ""
) -> list[tuple[str, str | None, type[BaseModel], str]]:
    """(table heading, env-variable prefix or None, model, kind tag) for ``model`` and every
    table below it. The prefix is None where the environment cannot address the table
    (entries of an array without names)."""
    out = [(table, env, model, tag)]
    path = table.strip("[]")
    for key, info in table_fields(model).items():
        bare, _ = strip_type(info.annotation)
        sub = f"{path}.{key}" if path else key
        sub_env = f"{env}{env_name(key)}__" if env is not None else None
        if is_model(bare):
            out += _sections(bare, f"[{sub}]", sub_env)
        elif _item_models(bare):
            for t, m in _item_models(bare).items():
                named = sub_env is not None and "name" in m.model_fields
                out += _sections(m, f"[[{sub}]]", f"{sub_env}<NAME>__" if named else None, t)
        elif get_origin(bare) is dict and is_model(strip_type(get_args(bare)[1])[0]):
            item = strip_type(get_args(bare)[1])[0]
            out += _sections(item, f"[{sub}.<name>]", f"{sub_env}<NAME>__" if sub_env else None)
    return out


def _env_cell(env: str | None, key: str, info: FieldInfo) -> str:
    bare, _ = strip_type(info.annotation)
    if env is None or key in ("kind", "name") or is_model(bare):
        return "—"
    var = f"{env}{env_name(key)}"
    if _item_models(bare):
        models = _item_models(bare).values()
        return f"`{var}__<NAME>__…`" if all("name" in m.model_fields for m in models) else "—"
    if get_origin(bare) is dict:
        return (
            f"`{var}__<NAME>__…`"
            if is_model(strip_type(get_args(bare)[1])[0])
            else f"`{var}__<KEY>`"
        )
    return f"`{var}`"


_REFERENCE_INTRO = """\
# kafkascope configuration reference

<!-- Generated by `python -m kafkascope.config > docs/config-reference.md` from the models in
src/kafkascope/config/. Do not edit by hand: a test fails when it drifts from the code. -->

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
  as `"env:NAME"` (read from the environment at load; an unset variable is an error), as
  `"file:PATH"`, or through the sibling key `KEY_file = "PATH"` (both read at load; the
  file must exist, be readable and non-empty; one trailing newline is dropped; for token
  lists, one token per line). In `client_properties`, write `PROPERTY_file` (e.g.
  `"sasl.password_file"`) or `"file:PATH"`. A value that looks like another prefix
  (`"vault:..."`, a typo like `"fle:..."`) is an error naming the supported ones; a literal
  secret shaped like that goes in a file.

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
        for r in BUILTIN_RULES
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
        secrets = secret_fields(model)
        for key, info in table_fields(model).items():
            desc = info.description or ""
            if key in secrets:
                desc += f' Or `{key}_file = PATH`, `"file:PATH"` or `"env:NAME"`.'
            parts.append(
                f"| `{key}` | {_cell(_type_name(info, info.annotation))} | "
                f"{_cell(_default(info))} | {_env_cell(env, key, info)} | {_cell(desc)} |"
            )
        parts.append("")
    return "\n".join(parts).rstrip("\n") + "\n"

"""``KAFKASCOPE_*`` environment overrides, folded into the parsed TOML before validation.

A variable names a key path (segments joined by ``__``; entries of arrays of tables by
their ``name``). Folding happens on the raw data, so an override is validated, explained
and reported exactly like the same key written in the file; :func:`apply_env` returns
where each variable landed so that an error can name the variable instead of the file.
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping
from typing import Any, get_args, get_origin

from pydantic import BaseModel

from kafkascope.config.schema import Config
from kafkascope.config.tables import (
    is_model,
    secret_fields,
    strip_type,
    table_fields,
    table_keys,
    union_models,
)
from kafkascope.config.values import ENV_PREFIX
from kafkascope.errors import ConfigError

Loc = tuple[str | int, ...]


def env_name(name: object) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", str(name)).upper()


def _env_error(var: str, message: str, fix: str) -> ConfigError:
    end = "" if message.endswith(("?", ".")) else "."
    return ConfigError(f"environment variable {var}: {message}{end} Fix: {fix}.")


def _respell(segments: list[str], i: int, replacement: str) -> str:
    """The variable name with segment ``i`` replaced (for "did you mean")."""
    return ENV_PREFIX + "__".join([*segments[:i], env_name(replacement), *segments[i + 1 :]])


def apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> dict[Loc, str]:
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
        if key not in table_keys(model):
            close = difflib.get_close_matches(key, table_keys(model), n=1)
            hint = f"; did you mean {_respell(segments, i, close[0])}?" if close else ""
            raise _env_error(
                var,
                f"'{key}' is not a key of {table}{hint}",
                f"rename the variable (keys: {', '.join(table_keys(model))})",
            )
        if key in ("name", "kind") and loc:
            raise _env_error(
                var,
                f"the {key} of an entry cannot be set from the environment",
                "set it in the file",
            )
        secrets = secret_fields(model)
        loc.append(key)
        if key.endswith("_file") and key.removesuffix("_file") in secrets:
            if not last:
                raise _env_error(var, f"'{key}' is a value, not a table", "end the name there")
            node.pop(key.removesuffix("_file"), None)
            node[key] = value
            return tuple(loc)
        info = table_fields(model)[key]
        tp, _ = strip_type(info.annotation)
        if last:
            if is_model(tp) or union_models(tp) or get_origin(tp) is dict:
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
        if is_model(tp):
            if not isinstance(child, dict):
                raise _env_error(var, f"{key} in the file is not a table", "fix the file first")
            node, model, i = child, tp, i + 1
            continue
        origin = get_origin(tp)
        args = get_args(tp)
        item_tp = strip_type(args[-1])[0] if args else None
        if origin is list and (is_model(item_tp) or union_models(item_tp)):
            if not isinstance(child, list):
                raise _env_error(var, f"{key} in the file is not an array of tables", "fix it")
            wanted = segments[i + 1]
            match = [
                it for it in child if isinstance(it, dict) and env_name(it.get("name")) == wanted
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
                names = [env_name(it.get("name")) for it in child if isinstance(it, dict)]
                close = difflib.get_close_matches(wanted, names, n=1)
                hint = f"; did you mean {_respell(segments, i + 1, close[0])}?" if close else ""
                fix = f"use one of: {', '.join(names) or 'none defined'}"
                if key == "clusters":
                    fix += f", or set {ENV_PREFIX}CLUSTERS__{wanted}__BOOTSTRAP to add a cluster"
                raise _env_error(var, f"no entry of {key} is named {wanted}{hint}", fix)
            loc.append(child.index(item))
            kinds = union_models(item_tp)
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
            value_tp = strip_type(args[1])[0]
            loc.append(map_key)
            if is_model(value_tp):
                entry = child.setdefault(map_key, {})
                node, model, i = entry, value_tp, i + 2
                continue
            if i + 2 != len(segments):
                raise _env_error(var, f"{key}.{map_key} is a value, not a table", "end it there")
            child[map_key] = value
            return tuple(loc)
        raise _env_error(var, f"{key} is a value, not a table", "end the variable name there")
    raise _env_error(var, "names no key", "add a key")  # pragma: no cover - loop always returns

"""The base of every settings table, and the helpers that walk the tree of tables.

:class:`Settings` makes every table strict (unknown keys are errors), frozen, and lets a
secret ``KEY`` be given as ``KEY_file``. The walking helpers (bare type of an annotation,
fields by their TOML key, which keys hold secrets) are shared by the models, the
environment overrides, the error explanation and the reference, so all four read the
models the same way.
"""

from __future__ import annotations

import functools
import types
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator
from pydantic.fields import FieldInfo

from kafkascope.config.values import Kind, Secret, problem, read_secret_file


def strip_type(tp: Any) -> tuple[Any, list[Any]]:
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


def is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def union_models(tp: Any) -> dict[str, type[BaseModel]]:
    """A discriminated union of models → ``{kind: model}``; ``{}`` for anything else."""
    if get_origin(tp) not in (Union, types.UnionType):
        return {}
    out: dict[str, type[BaseModel]] = {}
    for arg in get_args(tp):
        if not is_model(arg) or "kind" not in arg.model_fields:
            return {}
        for tag in get_args(arg.model_fields["kind"].annotation):
            out[tag] = arg
    return out


def _alias(name: str, info: FieldInfo) -> str:
    return info.alias or name


@functools.cache
def table_fields(model: type[BaseModel]) -> dict[str, FieldInfo]:
    """Fields by the key written in TOML (the alias)."""
    return {_alias(n, f): f for n, f in model.model_fields.items()}


@functools.cache
def secret_fields(model: type[BaseModel]) -> dict[str, bool]:
    """TOML keys of fields holding a secret (``True`` for a list of secrets); each also
    accepts a sibling ``KEY_file``."""
    out: dict[str, bool] = {}
    for key, info in table_fields(model).items():
        tp, _ = strip_type(info.annotation)
        if tp is Secret:
            out[key] = False
        elif get_origin(tp) is list and strip_type(get_args(tp)[0])[0] is Secret:
            out[key] = True
    return out


@functools.cache
def _subtables(model: type[BaseModel]) -> tuple[str, ...]:
    """TOML keys of fields that are themselves a table of settings."""
    return tuple(k for k, f in table_fields(model).items() if is_model(strip_type(f.annotation)[0]))


def table_keys(model: type[BaseModel]) -> list[str]:
    """Every key a table of this model accepts."""
    return list(table_fields(model)) + [f"{k}_file" for k in secret_fields(model)]


def kind_name(info: FieldInfo | None, tp: Any) -> str | None:
    meta = list(info.metadata) if info is not None else []
    meta += strip_type(tp)[1]
    for m in meta:
        if isinstance(m, Kind):
            return m.name
    return None


class Settings(BaseModel):
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
        secrets = secret_fields(cls)
        for key, is_list in secrets.items():
            file_key = f"{key}_file"
            if file_key not in out:
                continue
            if key in out:
                raise problem(
                    f"both '{key}' and '{file_key}' are set",
                    f"keep only one of them ({file_key} reads the secret from a file)",
                    file_key,
                )
            text, source = read_secret_file(out.pop(file_key), file_key, info)
            if is_list:
                lines = [ln.strip() for ln in text.splitlines()]
                out[key] = [Secret(ln, source) for ln in lines if ln and not ln.startswith("#")]
            else:
                out[key] = Secret(text, source)
        return out

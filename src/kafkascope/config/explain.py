"""Turning TOML syntax errors and pydantic validation errors into clear
:class:`~kafkascope.errors.ConfigError` text: where (file and line, or the environment
variable), the key path such as ``clusters[0].jmx.broker_port``, what is wrong, and the fix.

Pydantic reports locations with union tags and internal error types; this module maps
them back to the keys a user wrote, one line per problem.
"""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from kafkascope.config.env import Loc
from kafkascope.config.schema import Config
from kafkascope.config.tables import (
    is_model,
    kind_name,
    strip_type,
    table_fields,
    table_keys,
    union_models,
)
from kafkascope.config.values import REFERENCE_DOC, Secret, format_duration
from kafkascope.errors import ConfigError


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
        base = strip_type(tp)[0] if tp is not None else None
        if is_model(base):
            parent, parent_loc = base, tuple(loc)
            field = table_fields(base).get(str(el))
            tp = field.annotation if field is not None else None
            loc.append(el)
            continue
        kinds = union_models(base)
        if kinds and isinstance(el, str) and el in kinds:
            tp, tag = kinds[el], el
            continue
        origin = get_origin(base)
        if origin in (list, tuple) and isinstance(el, int):
            tp = get_args(base)[0]
            loc.append(el)
            if not union_models(strip_type(tp)[0]):
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
    return "s" if kind_name(where.field, where.tp) == "duration" else ""


def _explain(err: Mapping[str, Any]) -> tuple[Loc, str, str]:
    """One pydantic error → (clean key path, what is wrong, the fix)."""
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    raw_loc: list[str | int] = list(err["loc"])
    raw_loc += json.loads(str(ctx.get("ks_at") or "[]"))
    where = _walk(raw_loc)
    loc, kind, key = where.loc, err["type"], str(where.loc[-1]) if where.loc else ""
    table = _table(where.parent_loc, where.kind_tag)
    secret = strip_type(where.tp)[0] is Secret
    value = err.get("input")
    shown = "" if secret or value is None or isinstance(value, dict | list) else f" (got {value!r})"
    bare = strip_type(where.tp)[0]
    if kind == "kafkascope":
        return loc, err["msg"], str(ctx.get("ks_fix") or f"see {REFERENCE_DOC}")
    if kind == "extra_forbidden":
        keys = table_keys(where.parent) if where.parent is not None else []
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
            is_model(strip_type(get_args(bare)[0])[0])
            or union_models(strip_type(get_args(bare)[0])[0])
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
        models = union_models(bare) or union_models(
            strip_type(where.field.annotation)[0] if where.field else None
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


def format_errors(
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


def syntax_error(file: Path, e: tomllib.TOMLDecodeError) -> ConfigError:
    """One line naming the file, line and column and what TOML found wrong there. The
    broken line itself is never shown: whatever is on it (a password, a webhook URL with
    its token) may be a secret, and it would land in a terminal or a service journal."""
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
    return ConfigError(
        f"{file}:{line}:{col}: TOML syntax error at line {line}, column {col}: {what}. Fix: {fix}."
    )

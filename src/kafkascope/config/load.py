""":func:`load_config`: read the file, fold in the environment, validate, explain.

The one entry point the composition root and the CLI call; it ties
:mod:`~kafkascope.config.env`, :mod:`~kafkascope.config.schema` and
:mod:`~kafkascope.config.explain` together.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kafkascope.config.env import apply_env
from kafkascope.config.explain import format_errors, syntax_error
from kafkascope.config.schema import Config
from kafkascope.config.values import ENV_PREFIX
from kafkascope.errors import ConfigError


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
            raise syntax_error(path, e) from None
    origins = apply_env(raw, env)
    base = path.parent if path is not None else Path.cwd()
    try:
        config = Config.model_validate(raw, context={"env": env, "base_dir": base})
    except ValidationError as e:
        errors: list[Mapping[str, Any]] = list(e.errors(include_url=False))
        raise ConfigError(format_errors(errors, path, text, origins)) from None
    config._file = path
    config._overrides = tuple(sorted(set(origins.values())))
    return config

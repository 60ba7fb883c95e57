"""Command-line options that several command groups share, declared once, and the way a
secret reaches a command without sitting on its command line.

A command line is readable by every user of the machine (``ps``, ``/proc/PID/cmdline``)
and is kept in shell history, so each secret option has forms that keep it off it:

* API tokens: ``--token-file PATH`` or the ``KAFKASCOPE_TOKEN`` environment variable
  (:func:`resolve_token`);
* librdkafka properties: ``--property KEY=env:VAR`` or ``--property KEY_file=PATH``, the
  same forms as ``[clusters.client_properties]`` in the TOML (``kafkascope.cli.lag``).

A secret given on the command line anyway still works, with a warning on stderr naming
the safer forms.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Protocol, TypeVar

import typer

from kafkascope.errors import ConfigError

__all__ = [
    "CONFIG_ENV",
    "TOKEN_ENV",
    "ConfigOpt",
    "JsonOpt",
    "RequiredConfigOpt",
    "TokenFileOpt",
    "TokenOpt",
    "UrlOpt",
    "completer",
    "fail_on_option",
    "parse_fail_on",
    "read_secret_file",
    "resolve_token",
    "warn",
]

JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print JSON instead of text tables (for scripts).")
]

#: The environment variable naming the config file, for every command that takes one.
CONFIG_ENV = "KAFKASCOPE_CONFIG"

ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        envvar=CONFIG_ENV,
        help="The kafkascope TOML file (the one 'kafkascope serve' runs).",
    ),
]
RequiredConfigOpt = Annotated[
    Path,
    typer.Option(
        "--config", "-c", envvar=CONFIG_ENV, help="The kafkascope TOML file.", show_default=False
    ),
]
UrlOpt = Annotated[
    str | None,
    typer.Option("--url", help="A running service's base URL (default: the config's listen)."),
]

#: The environment variable that gives the CLI its API token.
TOKEN_ENV = "KAFKASCOPE_TOKEN"

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help=f"API token. Other users can read a command line: prefer --token-file or {TOKEN_ENV}.",
    ),
]
TokenFileOpt = Annotated[
    Path | None,
    typer.Option(
        "--token-file",
        help=f"Read the API token from this file. Without --token or --token-file, "
        f"${TOKEN_ENV} is used when set, else the config's token.",
    ),
]


def warn(message: str) -> None:
    """One line on stderr that does not stop the command."""
    print(f"kafkascope: warning: {message}", file=sys.stderr)


def read_secret_file(path: Path, option: str) -> str:
    """The secret in ``path`` (one trailing newline dropped), or a ConfigError naming
    ``option``, the problem and the fix. The content is never part of a message."""
    path = path.expanduser()
    fix = "Fix: give the path of a readable file holding only the secret"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{option}: file {path} does not exist. {fix}") from None
    except IsADirectoryError:
        raise ConfigError(f"{option}: {path} is a directory. {fix}") from None
    except PermissionError:
        raise ConfigError(
            f"{option}: file {path} cannot be read (permission denied). "
            "Fix: let the user running kafkascope read it"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(
            f"{option}: file {path} cannot be read ({type(e).__name__}). {fix}"
        ) from None
    text = text.rstrip("\r\n")
    if not text.strip():
        raise ConfigError(f"{option}: file {path} is empty. Fix: put the secret in it")
    return text


def resolve_token(
    token: str | None, token_file: Path | None, env: Mapping[str, str] = os.environ
) -> str | None:
    """The API token the options give: ``--token``, else ``--token-file``, else
    ``$KAFKASCOPE_TOKEN``; None when none is given (the caller may fall back to the
    config's). ``--token`` works but warns: it is visible to other users."""
    if token is not None and token_file is not None:
        raise ConfigError(
            "--token and --token-file are both given. Fix: give one of them "
            f"(--token-file or {TOKEN_ENV} keeps the token off the command line)"
        )
    if token is not None:
        if not token:
            raise ConfigError("--token is empty. Fix: give the token, or leave the option out")
        warn(
            "--token puts the token on the command line, where other users can read it. "
            f"Fix: use --token-file PATH or the {TOKEN_ENV} environment variable"
        )
        return token
    if token_file is not None:
        return read_secret_file(token_file, "--token-file")
    return env.get(TOKEN_ENV) or None


def parse_fail_on(text: str | None, valid: Sequence[str]) -> frozenset[str]:
    """``--fail-on WARN,err`` → ``{"WARN", "ERR"}`` (case-insensitive); an unknown name is
    an error listing the valid ones. Empty for no option."""
    if text is None:
        return frozenset()
    names = [n.strip().upper() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in valid]
    if not names or unknown:
        what = f"'{', '.join(unknown)}' is not a status" if unknown else "names no status"
        raise ConfigError(f"--fail-on {what}. Fix: use one or more of {', '.join(valid)}")
    return frozenset(names)


def completer(valid: Sequence[str]) -> Callable[[str], list[str]]:
    """Shell completion for a comma-separated list of ``valid`` names: it completes the
    last name (Typer passes the word being completed as ``incomplete``)."""

    def complete(incomplete: str) -> list[str]:
        head, _, last = incomplete.rpartition(",")
        prefix = f"{head}," if head else ""
        return [prefix + v for v in valid if v.startswith(last.upper())]

    return complete


def fail_on_option(valid: Sequence[str], what: str) -> Any:
    """The ``--fail-on STATUS[,STATUS...]`` option, its choices in --help and completion."""
    return typer.Option(
        "--fail-on",
        metavar="STATUS[,STATUS...]",
        help=f"Exit 1 when {what} has one of these statuses (comma-separated): {', '.join(valid)}.",
        autocompletion=completer(valid),
    )


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


def pick_cluster(clusters: Sequence[N], name: str | None) -> N:
    """The cluster ``--cluster`` names, or the only one: every command that takes a config
    picks it the same way, with the same fix named when it cannot."""
    names = [c.name for c in clusters]
    if name is None:
        if len(clusters) > 1:
            raise ConfigError(
                f"the configuration defines {len(names)} clusters ({', '.join(names)}). "
                "Fix: choose one with --cluster NAME"
            )
        return clusters[0]
    for c in clusters:
        if c.name == name:
            return c
    raise ConfigError(
        f"no cluster named '{name}' in the configuration. Fix: use one of {', '.join(names)}"
    )

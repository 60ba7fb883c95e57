"""Colour for people at a terminal, never for pipes, files or anyone who set ``NO_COLOR``
(https://no-color.org: present and not empty disables colour)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TextIO

__all__ = ["paint", "use_colour"]

_RED, _YELLOW, _GREEN, _DIM = "31", "33", "32", "2"

#: Status words (lag statuses, liveness verdicts, alert states) and their colour.
COLOURS: Mapping[str, str] = {
    "OK": _GREEN,
    "ALIVE": _GREEN,
    "RESOLVED": _GREEN,
    "WARN": _YELLOW,
    "PENDING": _YELLOW,
    "IDLE": _DIM,
    "UNKNOWN": _DIM,
    "RETIRED": _DIM,
    "NOTFOUND": _DIM,
    "ERR": _RED,
    "STOP": _RED,
    "STALL": _RED,
    "REWIND": _RED,
    "HUNG": _RED,
    "UNRESPONSIVE": _RED,
    "DEAD": _RED,
    "FAILING": _RED,
    "FIRING": _RED,
    "DOWN": _RED,
    "UP": _GREEN,
}


def use_colour(stream: TextIO | None = None, env: Mapping[str, str] = os.environ) -> bool:
    """Colour only when ``stream`` (stdout) is a terminal and ``NO_COLOR`` is unset/empty."""
    out = stream if stream is not None else sys.stdout
    if env.get("NO_COLOR"):
        return False
    try:
        return out.isatty() and env.get("TERM") != "dumb"
    except (AttributeError, ValueError):
        return False


def paint(cell: str, on: bool) -> str:
    """``cell`` (already padded) coloured by its first word when ``on``."""
    words = cell.split()
    code = COLOURS.get(words[0]) if words and on else None
    if code is None:
        return cell
    text = cell.rstrip()
    return f"\x1b[{code}m{text}\x1b[0m{cell[len(text) :]}"

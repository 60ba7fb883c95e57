"""How alert summaries write numbers and durations, shared by built-in and user rules so
every summary reads the same ("3 partitions", "0.05", "5 min")."""

from __future__ import annotations

__all__ = ["duration", "num", "plural"]


def num(x: float) -> str:
    """3.0 → "3", 0.05 → "0.05", 1234.5678 → "1234.6": short, no exponent for normal values."""
    if x == int(x) and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}" if abs(x) < 1 else f"{x:.1f}"


def plural(n: float, word: str) -> str:
    """``3 partitions``, ``1 partition``."""
    return f"{num(n)} {word}{'' if n == 1 else 's'}"


def duration(seconds: float) -> str:
    """Whole minutes from 2 min up (``10 min``), else seconds (``90 s``)."""
    if seconds >= 120 and seconds % 60 == 0:
        return f"{num(seconds / 60)} min"
    return f"{num(seconds)} s"

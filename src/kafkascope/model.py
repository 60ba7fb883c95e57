"""Small shared value types. Modules keep their own richer dataclasses; only what
crosses module boundaries lives here."""

from __future__ import annotations

import enum


class Status(enum.IntEnum):
    """Consumer-lag status, Burrow's vocabulary. The integer order is severity, so the
    group status is ``max`` over partitions (before STOP/STALL/REWIND map to ERR)."""

    NOTFOUND = 0
    OK = 1
    WARN = 2
    ERR = 3
    STOP = 4
    STALL = 5
    REWIND = 6


class Liveness(enum.Enum):
    """Per-client verdict, from JMX freshness joined with group membership."""

    ALIVE = "ALIVE"
    HUNG = "HUNG"
    UNRESPONSIVE = "UNRESPONSIVE"
    DEAD = "DEAD"
    IDLE = "IDLE"
    UNKNOWN = "UNKNOWN"

"""Where the client JVMs' JMX endpoints are, as clients come and go.

Three ways, combined: a static list from config; a Prometheus ``file_sd`` JSON file, re-read
whenever it changes (the sandbox keeps one current; so can any deployment tool); and probing
the hosts the brokers report for group members on a configured port or port range. An
endpoint once found is never forgotten by discovery: a killed client must be reported DEAD,
not silently dropped from the list.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from kafkascope.errors import ConfigError


@dataclass(frozen=True)
class ClientTarget:
    """One client JVM's JMX endpoint and where we learned of it."""

    target: str  # host:port
    source: str  # "static" | "file_sd" | "probe"
    labels: tuple[tuple[str, str], ...] = ()


def parse_port_range(spec: str | int | None) -> list[int]:
    """``9400`` or ``"9400-9410"`` → the ports; the error names the accepted forms."""
    if spec is None or spec == "":
        return []
    if isinstance(spec, int):
        return [spec]
    text = spec.strip()
    lo, sep, hi = text.partition("-")
    try:
        a, b = (int(lo), int(hi)) if sep else (int(lo), int(lo))
    except ValueError:
        raise ConfigError(f"probe_ports '{spec}' is not a port or a range like 9400-9410") from None
    if not (0 < a <= b < 65536) or b - a > 1000:
        raise ConfigError(f"probe_ports '{spec}' must be 1-65535 and span at most 1000 ports")
    return list(range(a, b + 1))


def read_file_sd(path: Path) -> list[ClientTarget]:
    """Targets from a Prometheus file_sd JSON file: ``[{"targets": [...], "labels": {...}}]``."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return []
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(
            f"file_sd {path} is unreadable: {e}. Fix: it must be a JSON list of "
            '{"targets": ["host:port"], "labels": {}} objects'
        ) from e
    if not isinstance(data, list):
        raise ConfigError(f"file_sd {path} must hold a JSON list, not {type(data).__name__}")
    out: list[ClientTarget] = []
    for i, group in enumerate(data):
        if not isinstance(group, dict) or not isinstance(group.get("targets"), list):
            raise ConfigError(f"file_sd {path} entry {i} has no 'targets' list")
        labels = tuple(sorted((str(k), str(v)) for k, v in (group.get("labels") or {}).items()))
        out += [ClientTarget(str(t), "file_sd", labels) for t in group["targets"]]
    return out


def probe(host: str, port: int, timeout: float = 0.3) -> bool:
    """Does something accept TCP on host:port? (JMX is verified by the collector later.)"""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


@dataclass
class Discovery:
    """Keeps the union of every endpoint found; ``refresh`` re-reads what may have changed."""

    static: list[str] = field(default_factory=list)
    file_sd: Path | None = None
    probe_ports: list[int] = field(default_factory=list)
    known: dict[str, ClientTarget] = field(default_factory=dict)
    _file_sd_mtime: float | None = None
    _probed: set[tuple[str, int]] = field(default_factory=set)

    def refresh(self, member_hosts: Iterable[str] = ()) -> list[ClientTarget]:
        """Everything known now (new ones added; none ever removed)."""
        for t in self.static:
            self.known.setdefault(t, ClientTarget(t, "static"))
        if self.file_sd is not None:
            try:
                mtime = os.stat(self.file_sd).st_mtime_ns / 1e9
            except FileNotFoundError:
                mtime = None
            if mtime is not None and mtime != self._file_sd_mtime:
                for ct in read_file_sd(self.file_sd):
                    self.known[ct.target] = ct
                self._file_sd_mtime = mtime
        for host in {h.strip().lstrip("/") for h in member_hosts if h}:
            for port in self.probe_ports:
                key = (host, port)
                target = f"{host}:{port}"
                if target in self.known or key in self._probed:
                    continue
                if probe(host, port):
                    self.known[target] = ClientTarget(target, "probe")
                else:
                    # Remembered so a closed port is not re-probed every cycle; forgotten
                    # when the member hosts change (a new member may open it).
                    self._probed.add(key)
        return list(self.known.values())

    def forget_probe_misses(self) -> None:
        self._probed.clear()

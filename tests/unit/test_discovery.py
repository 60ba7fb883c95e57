"""Client endpoint discovery on real files and real loopback sockets."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from kafkascope.errors import ConfigError
from kafkascope.sources.discovery import Discovery, parse_port_range, read_file_sd


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (9400, [9400]),  # a single int is one port
        ("9400", [9400]),  # a string of one port, as TOML or env may give it
        ("9400-9402", [9400, 9401, 9402]),  # a range is inclusive at both ends
        (None, []),  # not configured: probe nothing
    ],
    ids=["int", "str", "range", "none"],
)
def test_parse_port_range(spec: str | int | None, expected: list[int]) -> None:
    assert parse_port_range(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["94x0", "9410-9400", "0", "1-5000"],  # not a number; reversed; port 0; too wide to probe
    ids=["nan", "reversed", "zero", "too-wide"],
)
def test_bad_port_ranges_are_refused(spec: str) -> None:
    with pytest.raises(ConfigError, match="probe_ports"):
        parse_port_range(spec)


def write_sd(path: Path, targets: list[str], mtime_ns: int) -> None:
    path.write_text(json.dumps([{"targets": targets, "labels": {"role": "consumer"}}]))
    os.utime(path, ns=(mtime_ns, mtime_ns))


def test_file_sd_is_reread_when_it_changes_and_nothing_is_forgotten(tmp_path: Path) -> None:
    sd = tmp_path / "targets.json"
    write_sd(sd, ["127.0.0.1:1001"], 1_000_000_000)
    d = Discovery(static=["127.0.0.1:999"], file_sd=sd)
    assert {t.target for t in d.refresh()} == {"127.0.0.1:999", "127.0.0.1:1001"}
    # The file now lists only a new client: the old one stays known (it may have died and
    # must be reported DEAD, not dropped).
    write_sd(sd, ["127.0.0.1:1002"], 2_000_000_000)
    found = {t.target: t for t in d.refresh()}
    assert set(found) == {"127.0.0.1:999", "127.0.0.1:1001", "127.0.0.1:1002"}
    assert found["127.0.0.1:1002"].labels == (("role", "consumer"),)


def test_a_missing_file_sd_is_empty_but_a_malformed_one_is_an_error(tmp_path: Path) -> None:
    assert read_file_sd(tmp_path / "absent.json") == []
    bad = tmp_path / "bad.json"
    bad.write_text('{"targets": "x"}')
    with pytest.raises(ConfigError, match="must hold a JSON list"):
        read_file_sd(bad)


def test_probing_member_hosts_finds_a_listening_port() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    try:
        d = Discovery(probe_ports=[port, closed_port])
        # Brokers report member hosts with a leading slash.
        found = d.refresh(member_hosts=["/127.0.0.1"])
        assert [(t.target, t.source) for t in found] == [(f"127.0.0.1:{port}", "probe")]
    finally:
        listener.close()

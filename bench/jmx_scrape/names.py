"""Listing MBean names: the helper's one-string ``queryNames`` against walking JPype's Set.

Run against any broker's JMX port (the kept bench broker: ``sandbox.json`` gives it):

    .venv/bin/python bench/jmx_scrape/names.py 127.0.0.1:PORT [--repeat 5]

Lists four broad patterns (every Log, Partition, kafka.server and kafka.network MBean)
``--repeat`` times each way, alternating, and prints the median wall and CPU milliseconds
and the CPU per name. Both ways return the same names (checked).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from kafkascope.sources.jmx import batching
from kafkascope.sources.jmx.connection import JmxEndpoint

PATTERNS = (
    "kafka.log:type=Log,*",
    "kafka.cluster:type=Partition,*",
    "kafka.server:*",
    "kafka.network:*",
)


def _timed(conn: batching.BatchingJmxConnection) -> tuple[float, float, list[str]]:
    wall, cpu = time.perf_counter(), time.process_time()
    names = sorted(n.canonical for p in PATTERNS for n in conn.query_names(p))
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000, names


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("target", help="HOST:PORT of a JMX port")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    host, _, port = args.target.rpartition(":")
    conn = batching.BatchingJmxConnection(JmxEndpoint(host, int(port)), timeout=60)
    conn.connect()
    helper: Callable[[], Any] = batching._names_helper
    ways: dict[str, Callable[[], Any]] = {"helper": helper, "jpype_set": lambda: None}
    runs: dict[str, list[tuple[float, float, list[str]]]] = {w: [] for w in ways}
    try:
        for _ in range(args.repeat):
            for way, chooser in ways.items():
                batching._names_helper = chooser
                runs[way].append(_timed(conn))
    finally:
        batching._names_helper = helper
        conn.close()
    if runs["helper"][0][2] != runs["jpype_set"][0][2]:
        raise SystemExit("the two ways listed different names")
    count = len(runs["helper"][0][2])
    out: dict[str, Any] = {"names": count}
    for way, rs in runs.items():
        cpu = statistics.median(r[1] for r in rs)
        out[way] = {
            "wall_ms": round(statistics.median(r[0] for r in rs), 1),
            "cpu_ms": round(cpu, 1),
            "cpu_us_per_name": round(cpu * 1000 / count, 2),
        }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()

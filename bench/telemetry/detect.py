"""Benchmark: how fast kafkascope calls a kill -9'd telemetry-only consumer DEAD, against
the broker's own eviction of its group member (issue 15 budget: DEAD within two push
intervals).

Starts its own one-broker sandbox (the telemetry plugin loaded, a ``CLIENT_METRICS``
subscription pushing every ``--interval-ms``, 2 s like tests/e2e/test_telemetry.py; no
demo workload), a real ``kafkascope serve`` process on the sandbox's config (2 s client
poll, the sandbox's telemetry token) and points the brokers' plugin at it. Then, per round:

1. ``sandbox client start --impl python``: a confluent-kafka consumer (librdkafka, no JMX)
   in a group of its own, on a topic a producer of this script writes to;
2. wait until ``/api/v1/clusters/sandbox/clients`` lists it ALIVE, source ``telemetry``,
   joined to its group member, and the group coordinator lists the member;
3. ``kill -9`` it, and time from the kill: when ``/clients`` first says DEAD (read every
   0.2 s), and when the group coordinator stops listing the member (``describe_consumer_groups``
   every 0.2 s), which happens at the consumer's ``session.timeout.ms`` (librdkafka's
   default, 45 s): what a membership-only monitor could see at best.

Also recorded: the kill's distance from the client's last push (``last_seen``), since the
verdict is due two intervals after the last push, not after the kill. Prints a table to
stderr and one JSON object to stdout, written to ``results-detect-<time>.json`` beside
this file.

    .venv/bin/python bench/telemetry/detect.py [--rounds 3] [--interval-ms 2000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient

from kafkascope.sandbox import cluster, probe, procs, telemetry
from kafkascope.sandbox.state import SandboxState
from kafkascope.sandbox.workload import ClientSpec

HERE = Path(__file__).resolve().parent
KAFKASCOPE = HERE.parent.parent / ".venv" / "bin" / "kafkascope"
T = TypeVar("T")


def wait_for(cond: Callable[[], T | None], timeout: float, what: str, every: float = 0.2) -> T:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            got = cond()
        except (httpx.HTTPError, KafkaException) as e:
            got, last = None, e
        if got:
            return got
        time.sleep(every)
    raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what} (last: {last})")


class Serve:
    """``kafkascope serve`` on the sandbox's config, with its own data dir and port."""

    def __init__(self, sb: SandboxState, work: Path) -> None:
        self.port = procs.free_port()
        text = (Path(sb.dir) / "kafkascope.toml").read_text()
        old = f'data_dir = "{Path(sb.dir) / "data"}"'
        if old not in text:
            raise RuntimeError("the sandbox's kafkascope.toml changed shape: no data_dir line")
        text = text.replace(old, f'data_dir = "{work / "data"}"')
        if "[clusters.telemetry]" not in text:
            raise RuntimeError("the sandbox gave serve no telemetry token")
        cfg = work / "kafkascope.toml"
        cfg.write_text(text)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = work / "serve.log"
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    *(str(KAFKASCOPE), "serve", "--config", str(cfg)),
                    *("--listen", f"127.0.0.1:{self.port}"),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        wait_for(self._healthy, 90, f"serve on {self.url}")

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")
        return httpx.get(f"{self.url}/api/v1/health", timeout=2).status_code == 200

    def row(self, client_id: str) -> dict[str, Any] | None:
        body = httpx.get(f"{self.url}/api/v1/clusters/sandbox/clients", timeout=5).json()
        found = [r for r in body["clients"] if r["client_id"] == client_id]
        if len(found) > 1:
            raise RuntimeError(f"{client_id} is listed {len(found)} times: {found}")
        return found[0] if found else None

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


def members(admin: AdminClient, group: str) -> int:
    """How many members the group coordinator lists for ``group``."""
    g = admin.describe_consumer_groups([group], request_timeout=5)[group].result(timeout=6)
    return len(g.members)


def feed(bootstrap: str, topic: str, stop: threading.Event) -> None:
    """20 records/s, so the consumers poll and fetch as a real one does."""
    p = Producer({"bootstrap.servers": bootstrap, "enable.metrics.push": False})
    while not stop.wait(0.05):
        p.produce(topic, b"x" * 100)
        p.poll(0)
    p.flush(5)


def one_round(
    n: int,
    sb: SandboxState,
    serve: Serve,
    admin: AdminClient,
    topic: str,
    prefix: str,
    timeout: float,
) -> dict[str, Any]:
    directory = Path(sb.dir)
    client_id, group = f"{prefix}-c{n}", f"{prefix}-g{n}"
    spec = ClientSpec("consumer", topic, client_id, group=group, rate=5, impl="python")
    p = cluster.client_start(directory, spec)
    try:
        wait_for(
            lambda: (
                (r := serve.row(client_id))
                and r["liveness"] == "ALIVE"
                and r["source"] == "telemetry"
                and r["member_id"]
                and r
            ),
            90,
            f"{client_id} ALIVE from pushes and joined to its member",
        )
        wait_for(lambda: members(admin, group) == 1, 30, f"{group} to list its member")
        # Kill at a random phase of the push cycle, as a crash would.
        time.sleep(float(int.from_bytes(os.urandom(2)) % 2000) / 1000)
        before = serve.row(client_id) or {}
        cluster.client_signal(directory, p.name, "KILL")
        killed_wall, killed = time.time(), time.monotonic()
        dead_s: float | None = None
        drop_s: float | None = None
        dead_row: dict[str, Any] = {}
        while time.monotonic() - killed < timeout and (dead_s is None or drop_s is None):
            if dead_s is None:
                r = serve.row(client_id)
                if r is not None and r["liveness"] == "DEAD":
                    dead_s, dead_row = time.monotonic() - killed, r
            if drop_s is None:
                try:
                    if members(admin, group) == 0:
                        drop_s = time.monotonic() - killed
                except KafkaException:
                    pass
            time.sleep(0.2)
        last_push = dead_row.get("last_seen") or before.get("last_seen")
        return {
            "round": n,
            "client_id": client_id,
            "software": before.get("software"),
            "kill_after_last_push_s": round(killed_wall - last_push, 2) if last_push else None,
            "dead_s": round(dead_s, 2) if dead_s is not None else None,
            "dead_after_last_push_s": round(dead_s + killed_wall - last_push, 2)
            if dead_s is not None and last_push
            else None,
            "dead_reason": dead_row.get("reason"),
            "broker_drop_s": round(drop_s, 2) if drop_s is not None else None,
            "liveness_after_drop": (serve.row(client_id) or {}).get("liveness"),
        }
    finally:
        if procs.owns(p.pid, sb.marker):
            cluster.client_signal(directory, p.name, "KILL")


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kafkascope-bench-tdetect-"))
    directory = work / "sandbox"
    prefix = f"td-{uuid.uuid4().hex[:6]}"
    stop = threading.Event()
    serve: Serve | None = None
    try:
        print("sandbox up (1 broker, telemetry plugin)...", file=sys.stderr)
        sb = cluster.up(
            directory, brokers=1, workload=False, telemetry_interval_ms=args.interval_ms
        )
        serve = Serve(sb, work)
        telemetry.set_endpoint(directory, serve.url)
        topic = f"{prefix}-topic"
        probe.create_topics(sb.bootstrap, {topic: 3}, 1, time.monotonic() + 60)
        feeder = threading.Thread(target=feed, args=(sb.bootstrap, topic, stop), daemon=True)
        feeder.start()
        admin = AdminClient({"bootstrap.servers": sb.bootstrap, "enable.metrics.push": False})
        rounds = []
        for n in range(args.rounds):
            r = one_round(n, sb, serve, admin, topic, prefix, args.timeout)
            print(json.dumps(r), file=sys.stderr)
            rounds.append(r)
        dead = [r["dead_s"] for r in rounds if r["dead_s"] is not None]
        drop = [r["broker_drop_s"] for r in rounds if r["broker_drop_s"] is not None]
        interval = args.interval_ms / 1000
        return {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "cpus": os.cpu_count(),
            "load_avg_at_start": os.getloadavg(),
            "interval_s": interval,
            "client_poll_s": 2.0,
            "rounds": rounds,
            "dead_s_median": statistics.median(dead) if dead else None,
            "dead_s_max": max(dead) if dead else None,
            "broker_drop_s_median": statistics.median(drop) if drop else None,
            "dead_to_broker_drop_ratio": round(statistics.median(dead) / statistics.median(drop), 3)
            if dead and drop
            else None,
            # The rule: DEAD once two intervals pass with no push; the monitor sees it at
            # its next poll (2 s grid), so from the kill it is due within 2 x interval + poll.
            "all_dead_within_2_intervals_plus_poll": len(dead) == len(rounds)
            and all(d <= 2 * interval + 2.0 for d in dead),
        }
    finally:
        stop.set()
        if serve is not None:
            serve.stop()
        if (directory / "state.json").exists():
            cluster.down(directory)
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--interval-ms", type=int, default=2000, help="the subscription's push interval")
    p.add_argument("--timeout", type=float, default=75.0, help="per round, after the kill")
    p.add_argument("--keep", action="store_true", help="keep the work dir (serve.log)")
    args = p.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (HERE / f"results-detect-{stamp}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Benchmark: how fast client liveness notices a dead, frozen or blocked consumer.

On a running sandbox (``kafkascope sandbox up --dir DIR``), for each scenario and run:

1. start a fresh ConsoleConsumer (its own group) on a bench topic that a sandbox producer
   writes at 20 records/s, so the consumer polls steadily (its adaptive HUNG bound is then
   the 30 s floor);
2. wait until two :class:`ClientMonitor` instances, polling on a fixed grid every 5 s (the
   default ``client_interval``) and every 1 s, both read it ALIVE and joined to its member;
3. hurt it: ``kill`` (kill -9), ``stop`` (SIGSTOP) or ``block`` (pause the reader of its
   stdout, then a 300 × 1 KB burst so the 64 KB pipe fills at once);
4. record, from the moment of the signal, when each monitor's poll first returned the
   expected verdict (DEAD, UNRESPONSIVE, HUNG), and when the group coordinator stopped
   listing the member (``describe_groups`` every 0.25 s): at the session timeout (45 s)
   for kill and stop, at ``max.poll.interval.ms`` (300 s) for block, when the consumer's
   heartbeat thread leaves the group;
5. clean up (CONT / UNBLOCK, then kill -9).

Both monitors use the product defaults: adaptive HUNG bound, 5 s JMX timeout. Prints a
table and writes the raw timings as JSON (``--out``). See README.md for the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from confluent_kafka import Producer

from kafkascope.evaluate.liveness import Thresholds
from kafkascope.model import Liveness
from kafkascope.monitor.clients import ClientMonitor
from kafkascope.sandbox import cluster, probe, procs
from kafkascope.sandbox.state import SandboxState, load
from kafkascope.sandbox.workload import ClientSpec
from kafkascope.sources.discovery import Discovery
from kafkascope.sources.jmx.collector import Backoff, JmxCollector
from kafkascope.sources.kafka.admin import KafkaAdmin

SCENARIOS = {
    "kill": ("KILL", Liveness.DEAD),
    "stop": ("STOP", Liveness.UNRESPONSIVE),
    "block": ("BLOCK", Liveness.HUNG),
}
INTERVALS = (5.0, 1.0)
JMX_TIMEOUT = 5.0


@dataclass
class Observation:
    at: float  # wall clock when the poll returned
    liveness: str
    reason: str
    member: bool


class Watcher:
    """One monitor polling on a fixed grid in its own thread; keeps every verdict it gave
    for the bench's consumers (client ids starting with ``prefix``)."""

    def __init__(self, state: SandboxState, interval: float, prefix: str) -> None:
        self.interval = interval
        self.prefix = prefix
        self.collector = JmxCollector(
            timeout=JMX_TIMEOUT, backoff=Backoff(base=0.5, cap=0.9 * interval)
        )
        self.admin = KafkaAdmin(state.bootstrap, timeout=10.0)
        discovery = Discovery(file_sd=Path(state.dir) / "targets.json")
        self.monitor = ClientMonitor("sandbox", self.collector, discovery, self.admin, Thresholds())
        self.seen: dict[str, list[Observation]] = {}
        self.poll_seconds: list[float] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"watch-{interval:g}s", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=60)
        self.monitor.close()
        self.collector.close()
        self.admin.close()

    def _run(self) -> None:
        start = time.monotonic()
        k = 0
        while not self.stopping.is_set():
            t0 = time.monotonic()
            report = self.monitor.poll()
            self.poll_seconds.append(time.monotonic() - t0)
            with self.lock:
                for row in report.clients:
                    if row.client_id.startswith(self.prefix):
                        self.seen.setdefault(row.client_id, []).append(
                            Observation(
                                time.time(),
                                row.liveness.value,
                                row.reason,
                                row.member_id is not None,
                            )
                        )
            k += 1
            # The next slot on the grid (a poll that overran skips the slots it missed).
            k = max(k, int((time.monotonic() - start) / self.interval) + 1)
            self.stopping.wait(max(0.0, start + k * self.interval - time.monotonic()))

    def first(self, client_id: str, liveness: str, after: float) -> Observation | None:
        with self.lock:
            for o in self.seen.get(client_id, []):
                if o.at >= after and o.liveness == liveness:
                    return o
        return None

    def alive_polls(self, client_id: str, after: float) -> int:
        with self.lock:
            return sum(
                1
                for o in self.seen.get(client_id, [])
                if o.at >= after and o.liveness == "ALIVE" and o.member
            )

    def alive_joined(self, client_id: str, after: float) -> bool:
        with self.lock:
            obs = [o for o in self.seen.get(client_id, []) if o.at >= after]
        return bool(obs) and obs[-1].liveness == "ALIVE" and obs[-1].member


@dataclass
class Run:
    scenario: str
    run: int
    client_id: str
    detect: dict[str, float | None] = field(default_factory=dict)  # interval → seconds
    reason: dict[str, str] = field(default_factory=dict)
    broker_drop: float | None = None
    after_drop: dict[str, str] = field(default_factory=dict)  # verdict once dropped
    pipe_filled_by: float | None = None  # block: when the burst was acknowledged


def wait(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.25)
    raise SystemExit(f"timed out after {timeout:g} s waiting for {what}")


def member_listed(admin: KafkaAdmin, group: str, client_id: str) -> bool:
    desc = admin.describe_groups([group])[group]
    return any(m.client_id == client_id for m in desc.members)


def burst(bootstrap: str, topic: str) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 2})
    for _ in range(300):
        p.produce(topic, value=b"x" * 1000)
    p.flush(30)


def _stop_on_term(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def one_run(
    state: SandboxState,
    watchers: Sequence[Watcher],
    admin: KafkaAdmin,
    topic: str,
    scenario: str,
    n: int,
    tag: str,
) -> Run:
    directory = Path(state.dir)
    sig, expected = SCENARIOS[scenario]
    client_id = f"{watchers[0].prefix}{scenario}-{n}"
    group = f"detect-{tag}-{scenario}-{n}"
    spec = ClientSpec("consumer", topic, client_id, group=group)
    proc = cluster.client_start(directory, spec)
    started = time.time()
    run = Run(scenario, n, client_id)
    try:
        wait(
            lambda: all(w.alive_joined(client_id, started) for w in watchers),
            120,
            f"{client_id} ALIVE and joined in every monitor",
        )
        # Make SIGTERM (`kill PID`) run the clean-up below (CONT, UNBLOCK, kill -9), set
        # after the first polls so nothing the JVM installs at start-up replaces it.
        signal.signal(signal.SIGTERM, _stop_on_term)
        # A few polls of steady polling in every monitor: the HUNG bound adapts to them.
        wait(
            lambda: all(w.alive_polls(client_id, started) >= 3 for w in watchers),
            120,
            f"{client_id} ALIVE in 3 polls of every monitor",
        )
        t0 = time.time()
        cluster.client_signal(directory, proc.name, sig)
        if scenario == "block":
            burst(state.bootstrap, topic)
            run.pipe_filled_by = time.time() - t0
        drop_cap = 420.0 if scenario == "block" else 120.0
        deadline = time.monotonic() + drop_cap
        while time.monotonic() < deadline:
            if run.broker_drop is None and not member_listed(admin, group, client_id):
                run.broker_drop = time.time() - t0
            found = {f"{w.interval:g}s": w.first(client_id, expected.value, t0) for w in watchers}
            if run.broker_drop is not None and all(found.values()):
                break
            time.sleep(0.25)
        for w in watchers:
            key = f"{w.interval:g}s"
            o = w.first(client_id, expected.value, t0)
            run.detect[key] = round(o.at - t0, 2) if o else None
            run.reason[key] = o.reason if o else ""
        if run.broker_drop is not None:
            # The verdict one poll after the brokers dropped it: never forgotten.
            drop_at = t0 + run.broker_drop
            wait(
                lambda: all(
                    any(o.at > drop_at + w.interval for o in w.seen.get(client_id, []))
                    for w in watchers
                ),
                60,
                "a poll after the member was dropped",
            )
            for w in watchers:
                after = [o for o in w.seen[client_id] if o.at > drop_at + w.interval]
                run.after_drop[f"{w.interval:g}s"] = after[0].liveness
    finally:
        if scenario == "stop":
            cluster.client_signal(directory, proc.name, "CONT")
        if scenario == "block":
            cluster.client_signal(directory, proc.name, "UNBLOCK")
        if procs.owns(proc.pid, state.marker):
            cluster.client_signal(directory, proc.name, "KILL")
    return run


def summarize(runs: Sequence[Run]) -> list[str]:
    lines = [
        "| scenario | verdict | poll interval | detection (s), per run | median | broker "
        "drops member (s), per run | detection / broker drop (median) |",
        "|---|---|---|---|---|---|---|",
    ]
    for scenario, (_, verdict) in SCENARIOS.items():
        mine = [r for r in runs if r.scenario == scenario]
        if not mine:
            continue
        drops = [r.broker_drop for r in mine]
        known_drops = [d for d in drops if d is not None]
        for interval in INTERVALS:
            key = f"{interval:g}s"
            values = [r.detect.get(key) for r in mine]
            known = [v for v in values if v is not None]
            median = statistics.median(known) if known else None
            ratio = (
                f"{median / statistics.median(known_drops):.2f}"
                if median is not None and known_drops
                else "-"
            )
            lines.append(
                f"| {scenario} | {verdict.value} | {key} | "
                f"{', '.join('-' if v is None else f'{v:.1f}' for v in values)} | "
                f"{'-' if median is None else f'{median:.1f}'} | "
                f"{', '.join('-' if d is None else f'{d:.1f}' for d in drops)} | {ratio} |"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--dir", type=Path, required=True, help="a running sandbox's directory")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument(
        "--scenarios", default="kill,stop,block", help="comma-separated: kill, stop, block"
    )
    ap.add_argument("--out", type=Path, default=None, help="write the raw timings as JSON")
    args = ap.parse_args(argv)
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = [s for s in scenarios if s not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s) {unknown}; choose from {list(SCENARIOS)}")
    state = load(args.dir.resolve())
    tag = uuid.uuid4().hex[:6]
    topic = f"detect-{tag}"
    probe.create_topics(state.bootstrap, {topic: 1}, 3, time.monotonic() + 60)
    feeder = cluster.client_start(
        args.dir, ClientSpec("producer", topic, f"detect-feeder-{tag}", rate=20)
    )
    prefix = f"detect-{tag}-"
    watchers = [Watcher(state, interval, prefix) for interval in INTERVALS]
    for w in watchers:
        w.start()
    admin = KafkaAdmin(state.bootstrap, timeout=10.0)
    runs: list[Run] = []
    t_start = time.time()
    try:
        for scenario in scenarios:
            for n in range(1, args.runs + 1):
                run = one_run(state, watchers, admin, topic, scenario, n, tag)
                runs.append(run)
                print(json.dumps(asdict(run)), file=sys.stderr, flush=True)
    finally:
        for w in watchers:
            w.stop()
        admin.close()
        cluster.client_signal(args.dir, feeder.name, "KILL")
    table = summarize(runs)
    print("\n".join(table))
    polls = {f"{w.interval:g}s": w.poll_seconds for w in watchers}
    result = {
        "runs": [asdict(r) for r in runs],
        "poll_seconds_median": {k: round(statistics.median(v), 3) for k, v in polls.items() if v},
        "poll_seconds_max": {k: round(max(v), 3) for k, v in polls.items() if v},
        "jmx_timeout": JMX_TIMEOUT,
        "wall_seconds": round(time.time() - t_start, 1),
        "kafka": state.kafka_version,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()

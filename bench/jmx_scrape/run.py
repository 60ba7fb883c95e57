"""Benchmark: collect a 2,000-partition broker's catalog by kafkascope, plain Java and jmx_exporter.

Starts a one-node sandbox broker (``--broker-heap``), creates ``--topics`` x
``--partitions`` partitions (RF 1) and sends one record to each topic (so the per-topic
meters exist), then times, in the same run and alternating (the order rotates every
round), the collection of the broker catalog — sets ``broker,controller,jvm`` ("base"), and
the same plus ``partition`` ("full") — by:

- ``kafkascope``: :class:`TargetReader` as the service runs it (its default read shape,
  adapted to the plan's size: ``read_shape``), in its own Python process (JPype JVM
  inside), timing each ``read()`` itself; ``kafkascope_p1`` is the same reader pinned to
  ``parallel=1`` (one batch of ``BATCH`` in flight: the default before), for comparison;
- ``java``: ``java/JmxScrape.java``, a plain ``JMXConnector`` client reading the same
  MBeans with the same attributes, one ``getAttributes`` per MBean; ``java_single`` is the
  same client reading one-attribute MBeans with ``getAttribute`` as kafkascope does. It is
  compiled with javac into the git-ignored ``build/`` and kept running, so JVM start-up
  is excluded for both, and runs with the JVM flags of kafkascope's in-process JVM;
- ``exporter``: jmx_exporter standalone (``jmx_prometheus_httpserver``) with the config
  :func:`exporter_config` writes (the catalog's patterns as ``includeObjectNames``),
  timed as one HTTP GET of ``/metrics`` (one scrape); mapping its text back to samples is
  timed apart.

"warm" reads use the cached MBean name list (kafkascope's steady state: names are
re-listed every 5 minutes); "cold" reads list the names again first. Reports best and
median of N of the wall time, of the reader process's CPU time and of the broker's CPU
time per collection, the ratios, and the RSS of each reader process. Prints one JSON
object and writes it to ``results-<time>.json`` beside this file (git-ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BASE = ("broker", "controller", "jvm")
DEFAULT_PARALLEL = "auto"  # TargetReader's default: adapted to the plan (read_shape)
MODES = {"base": BASE, "full": (*BASE, "partition")}
SOURCES = ("kafkascope", "kafkascope_p1", "java", "java_single", "exporter")
# (numerator, denominator) of the reported ratios.
RATIOS = (
    ("kafkascope", "java"),
    ("kafkascope", "java_single"),
    ("kafkascope_p1", "java"),
    ("kafkascope_p1", "java_single"),
    ("exporter", "kafkascope"),
    ("exporter", "java"),
)
# The flags sources/jvm.py starts kafkascope's in-process JVM with: the plain Java client
# gets the same, so the comparison is of the code, not of JVM tuning.
CLIENT_JVM_FLAGS = [
    "-Xmx128m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Xss512k",
    "-Dsun.rmi.transport.tcp.responseTimeout=30000",
    "-Dsun.rmi.dgc.client.gcInterval=3600000",
    "-Djava.awt.headless=true",
]
# jmx_exporter as people run it: JVM defaults (C2, G1), a bounded heap.
EXPORTER_JVM_FLAGS = ["-Xmx256m"]


def cpu_ms(pid: int) -> float:
    """User + system CPU time of a process so far, in ms (10 ms resolution), from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def rss_kb(pid: int | str = "self") -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in KiB, from /proc."""
    out: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                out[key] = int(rest.split()[0])
    return out


# --------------------------------------------------------------------- kafkascope worker


def worker(jmx: str) -> int:
    """The kafkascope side, in a process of its own so its RSS is the collector's alone:
    one JMX connection shared by one TargetReader per mode; commands on stdin as for
    JmxScrape.java."""
    from kafkascope.sources.jmx.batching import BatchingJmxConnection
    from kafkascope.sources.jmx.connection import JmxEndpoint
    from kafkascope.sources.jmx.reader import AUTO_PARALLEL, TargetReader

    endpoint = JmxEndpoint.parse(jmx)
    # The connection TargetReader makes by default, shared by the two readers.
    conn = BatchingJmxConnection(endpoint, timeout=30.0)
    readers = {
        mode: TargetReader(endpoint, sets=sets, timeout=30.0, budget=600.0, connection=conn)
        for mode, sets in MODES.items()
    }
    conn.connect()
    print(json.dumps({"ready": True}), flush=True)
    for command in sys.stdin:
        words = command.split()
        if not words or words[0] == "quit":
            break
        kind, mode, parallel = words
        reader = readers[mode]
        # The connection allows as many calls in flight as the reader sends.
        if parallel == "auto":
            reader.parallel, conn.max_in_flight = None, AUTO_PARALLEL
        else:
            reader.parallel = conn.max_in_flight = int(parallel)
        if kind == "cold":
            reader.invalidate()
        cpu0 = time.process_time()  # every thread of the process, the JVM's included
        t0 = time.perf_counter()
        reading = reader.read()
        ms = (time.perf_counter() - t0) * 1000
        answer: dict[str, Any] = {
            "ms": round(ms, 3),
            "cpu_ms": round((time.process_time() - cpu0) * 1000, 3),
            "beans": reading.beans_read,
            "samples": len(reading.samples),
            **rss_kb(),
        }
        if kind == "keys":
            answer["keys"] = sorted(
                [s.name, [list(p) for p in s.labels], s.kind.value] for s in reading.samples
            )
        print(json.dumps(answer), flush=True)
    conn.close()
    return 0


# ------------------------------------------------------------------------- the processes


class LineProcess:
    """A persistent reader process answering one JSON line per command."""

    def __init__(self, name: str, argv: list[str], log: Path) -> None:
        self.name = name
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        ready = self._answer()
        if not ready.get("ready"):
            raise RuntimeError(f"{name} did not start: {ready}; see {log}")

    def _answer(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(
                f"{self.name} exited (status {self.proc.poll()}); see {self.log.name}"
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, command: str) -> dict[str, Any]:
        stdin = self.proc.stdin
        assert stdin is not None
        stdin.write(command + "\n")
        stdin.flush()
        return self._answer()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(OSError, RuntimeError, ValueError):
                self.ask("quit")
        stop_popen(self.proc)
        self.log.close()


def stop_popen(proc: subprocess.Popen[Any]) -> None:
    """TERM then KILL this one process (by its pid, through its Popen)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def compile_java(build: Path) -> Path:
    classes = build / "classes"
    classes.mkdir(parents=True, exist_ok=True)
    (build / ".gitignore").write_text("*\n")  # compiled at bench time, never committed
    javac = shutil.which("javac")
    if javac is None:
        raise SystemExit("javac is not on the PATH: install a JDK 17+ (openjdk-17-jdk-headless)")
    subprocess.run([javac, "-d", str(classes), str(HERE / "java" / "JmxScrape.java")], check=True)
    return classes


def write_plan(path: Path) -> None:
    """SET TAB PATTERN TAB ATTRS: what the catalog queries and reads, for the Java client."""
    from kafkascope.sources.jmx.catalog import default_catalog

    lines = [
        f"{s.name}\t{pattern}\t{','.join(spec.attributes())}"
        for s in default_catalog().select(MODES["full"])
        for spec in s.beans
        for pattern in spec.query_patterns()
    ]
    path.write_text("\n".join(lines) + "\n")


def start_exporter(
    mode: str, jmx: str, work: Path, lib: Path
) -> tuple[subprocess.Popen[bytes], str]:
    from kafkascope.sandbox import jars, procs
    from kafkascope.sources.jmx.prometheus import exporter_config

    port = procs.free_port()
    config = work / f"exporter-{mode}.yaml"
    config.write_text(exporter_config(sets=MODES[mode], host_port=jmx))
    log = (work / f"exporter-{mode}.log").open("w")
    jar = jars.agent_jar(lib, "jmx_prometheus_httpserver")
    argv = [
        jars.java_bin(),
        *EXPORTER_JVM_FLAGS,
        "-jar",
        str(jar),
        f"127.0.0.1:{port}",
        str(config),
    ]
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    if not procs.wait_port("127.0.0.1", port, time.monotonic() + 60):
        stop_popen(proc)
        raise RuntimeError(f"jmx_exporter ({mode}) did not open port {port}; see {log.name}")
    return proc, f"http://127.0.0.1:{port}/metrics"


# ---------------------------------------------------------------------------- measuring


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "best": round(min(values), 1),
        "median": round(statistics.median(values), 1),
        "runs": [round(v, 1) for v in values],
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--dir", type=Path, help="sandbox directory (default: a new temp dir)")
    parser.add_argument("--topics", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=100, help="per topic")
    parser.add_argument("--broker-heap", default="1g")
    parser.add_argument("--rounds", type=int, default=7, help="warm reads per source and mode")
    parser.add_argument("--cold-rounds", type=int, default=3)
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        help="batches in flight for the kafkascope_p1 variant (TargetReader.parallel)",
    )
    parser.add_argument("--keep", action="store_true", help="leave the sandbox running")
    parser.add_argument(
        "--reuse", action="store_true", help="use the sandbox already running in --dir"
    )
    parser.add_argument("--out", type=Path, help="results file (default results-<time>.json)")
    parser.add_argument("--worker", metavar="HOST:PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)

    import httpx

    from kafkascope.sandbox import cluster, jars, probe
    from kafkascope.sandbox.state import load as load_state
    from kafkascope.sources.jmx.prometheus import PrometheusReader

    directory = (args.dir or Path(tempfile.mkdtemp(prefix="kafkascope-bench-"))).resolve()
    work = directory / "bench"
    load = {"start": os.getloadavg()}
    t_setup = time.monotonic()
    if args.reuse:
        if args.dir is None:
            parser.error("--reuse needs --dir")
        state = load_state(directory)
    else:
        state = cluster.up(directory, brokers=1, workload=False, broker_heap=args.broker_heap)
    work.mkdir(parents=True, exist_ok=True)
    readers: list[LineProcess] = []
    exporters: list[subprocess.Popen[bytes]] = []
    try:
        topics = {f"bench-{i:03d}": args.partitions for i in range(args.topics)}
        probe.create_topics(state.bootstrap, topics, 1, time.monotonic() + 600)
        for topic in topics:
            probe.produce(state.bootstrap, topic, 1)
        jmx = state.processes[0].jmx
        lib = Path(state.lib_dir)
        classes = compile_java(HERE / "build")
        plan = work / "plan.tsv"
        write_plan(plan)
        java = LineProcess(
            "java",
            [
                jars.java_bin(),
                *CLIENT_JVM_FLAGS,
                "-cp",
                str(classes),
                "JmxScrape",
                jmx,
                str(plan),
            ],
            work / "java.log",
        )
        readers.append(java)
        ks = LineProcess(
            "kafkascope",
            [sys.executable, str(Path(__file__).resolve()), "--worker", jmx],
            work / "kafkascope.log",
        )
        readers.append(ks)
        urls: dict[str, str] = {}
        for mode in MODES:
            proc, urls[mode] = start_exporter(mode, jmx, work, lib)
            exporters.append(proc)
        http = httpx.Client(timeout=600)
        setup_s = time.monotonic() - t_setup

        def java_sets(mode: str) -> str:
            return ",".join(MODES[mode])

        def measure(source: str, kind: str, mode: str) -> dict[str, Any]:
            if source == "kafkascope":
                return ks.ask(f"{kind} {mode} {DEFAULT_PARALLEL}")
            if source == "kafkascope_p1":
                return ks.ask(f"{kind} {mode} {args.parallel}")
            if source == "java":
                return java.ask(f"{kind} {java_sets(mode)}")
            if source == "java_single":
                return java.ask(f"{kind}1 {java_sets(mode)}")
            pid = exporters[list(MODES).index(mode)].pid
            cpu0 = cpu_ms(pid)
            t0 = time.perf_counter()
            response = http.get(urls[mode])
            ms = (time.perf_counter() - t0) * 1000
            response.raise_for_status()
            return {"ms": ms, "cpu_ms": cpu_ms(pid) - cpu0, "text": response.text}

        broker_pid = state.processes[0].pid

        def timed(source: str, kind: str, mode: str) -> dict[str, Any]:
            """One collection, with the broker's CPU time spent answering it."""
            cpu0 = cpu_ms(broker_pid)
            answer = measure(source, kind, mode)
            answer["broker_cpu_ms"] = cpu_ms(broker_pid) - cpu0
            return answer

        # Warm-up: one cold read each (lists names, loads classes, JIT), and agreement.
        facts: dict[str, Any] = {}
        for mode in MODES:
            for source in SOURCES:
                measure(source, "cold", mode)
        ks_keys = ks.ask(f"keys full {DEFAULT_PARALLEL}")
        text = measure("exporter", "warm", "full")["text"]
        with PrometheusReader(urls["full"], sets=MODES["full"]) as scraper:
            t0 = time.perf_counter()
            exported = scraper.samples(text)
            parse_ms = (time.perf_counter() - t0) * 1000
        ex_keys = sorted([s.name, [list(p) for p in s.labels], s.kind.value] for s in exported)
        facts["same_samples_kafkascope_exporter"] = ks_keys["keys"] == ex_keys
        facts["samples_full"] = {"kafkascope": ks_keys["samples"], "exporter": len(exported)}
        facts["exporter_parse_and_map_ms_full"] = round(parse_ms, 1)
        facts["exporter_text_bytes_full"] = len(text)

        metrics = ("ms", "cpu_ms", "broker_cpu_ms")
        timings: dict[str, dict[str, dict[str, dict[str, list[float]]]]] = {
            metric: {
                kind: {mode: {s: [] for s in SOURCES} for mode in MODES}
                for kind in ("warm", "cold")
            }
            for metric in metrics
        }
        beans: dict[str, dict[str, int]] = {mode: {} for mode in MODES}
        load["before_rounds"] = os.getloadavg()
        t_rounds = time.monotonic()
        for kind, rounds in (("warm", args.rounds), ("cold", args.cold_rounds)):
            for r in range(rounds):
                for mode in MODES:
                    order = SOURCES[r % len(SOURCES) :] + SOURCES[: r % len(SOURCES)]
                    for source in order:
                        answer = timed(source, kind, mode)
                        for metric in metrics:
                            timings[metric][kind][mode][source].append(float(answer[metric]))
                        if "beans" in answer:
                            beans[mode][source] = int(answer["beans"])
        load["after_rounds"] = os.getloadavg()
        rounds_s = time.monotonic() - t_rounds

        memory = {
            "kafkascope": {
                k: v
                for k, v in ks.ask(f"warm base {DEFAULT_PARALLEL}").items()
                if k.startswith("Vm")
            },
            "java": rss_kb(java.proc.pid),
            **{f"exporter_{m}": rss_kb(p.pid) for m, p in zip(MODES, exporters, strict=True)},
        }
        results: dict[str, Any] = {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "machine": {
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "load_average": load,
                "java": subprocess.run(
                    [jars.java_bin(), "-version"], capture_output=True, text=True, check=False
                ).stderr.splitlines()[0],
            },
            "broker": {
                "partitions": args.topics * args.partitions,
                "topics": args.topics,
                "mbeans": java.ask("count -")["mbeans"],
                "beans_read": beans,
            },
            "rounds": {"warm": args.rounds, "cold": args.cold_rounds},
            "kafkascope_parallel": {"kafkascope": DEFAULT_PARALLEL, "kafkascope_p1": args.parallel},
            **{
                metric: {
                    kind: {
                        mode: {s: summary(v) for s, v in by_source.items()}
                        for mode, by_source in by_mode.items()
                    }
                    for kind, by_mode in by_kind.items()
                }
                for metric, by_kind in timings.items()
            },
            "ratios": {},
            "rss_kib": memory,
            "facts": facts,
            "setup_seconds": round(setup_s, 1),
            "rounds_seconds": round(rounds_s, 1),
        }
        for kind, by_mode in timings["ms"].items():
            for mode, by_source in by_mode.items():
                med = {s: statistics.median(v) for s, v in by_source.items()}
                best = {s: min(v) for s, v in by_source.items()}
                results["ratios"][f"{kind}_{mode}"] = {
                    f"{a}/{b}": {
                        "median": round(med[a] / med[b], 2),
                        "best": round(best[a] / best[b], 2),
                        # Same round, read one after the other: each round's ratio, so a
                        # goal "in every round" is checked round by round.
                        "rounds": [
                            round(x / y, 2) for x, y in zip(by_source[a], by_source[b], strict=True)
                        ],
                    }
                    for a, b in RATIOS
                }
        http.close()
    finally:
        for p in readers:
            p.stop()
        for proc in exporters:
            stop_popen(proc)
        if not (args.keep or args.reuse):
            cluster.down(directory)
            if args.dir is None:
                shutil.rmtree(directory, ignore_errors=True)
    out = args.out or HERE / f"results-{dt.datetime.now():%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

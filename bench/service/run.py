"""Benchmark of ``kafkascope serve`` (issue 6, "Measure"): resources and API latency.

``--part resources``: start the Kafka sandbox (or reuse one with ``--sandbox DIR``), run
``kafkascope serve`` as a real process on a copy of the sandbox's config with the *default*
intervals, and sample the RSS (and PSS) and CPU time of the serve process and of every
descendant (the isolated admin workers, ``python -m kafkascope.sources.kafka.worker``)
from /proc every 5 s for 5 minutes. Everything started is stopped again, by pid.

``--part latency``: no Kafka. The real API app (``create_app``) around a synthetic backend
whose live state holds one cluster with 1,000 groups x 10 partitions (verdicts from
``evaluate_group`` over synthetic windows) and their members with liveness verdicts, served
by uvicorn in a subprocess exactly as the service configures it. ``wrk`` loads
``GET /api/v1/clusters/bench/groups`` and, as the in-run baseline, ``GET /api/v1/health``,
at the same connection counts; the figures to compare across machines are the ratios.

Prints one JSON object and writes it to ``bench/service/results-<UTC timestamp>.json``.
See README.md in this folder for the figures and how to read them.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, cast

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
BIN = REPO / ".venv" / "bin"
KAFKASCOPE = BIN / "kafkascope"
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1024 * 1024
CLUSTER = "bench"
WORKER_MODULE = "kafkascope.sources.kafka.worker"


# ---------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env() -> dict[str, str]:
    """Our environment without ``KAFKASCOPE_*``: no override may change the intervals."""
    return {k: v for k, v in os.environ.items() if not k.startswith("KAFKASCOPE_")}


def summary(values: Sequence[float], digits: int = 1) -> dict[str, float]:
    if not values:
        return {}
    return {
        "mean": round(statistics.fmean(values), digits),
        "median": round(statistics.median(values), digits),
        "min": round(min(values), digits),
        "max": round(max(values), digits),
    }


def http_get(url: str, timeout: float = 10.0) -> tuple[int, bytes]:
    import httpx

    r = httpx.get(url, timeout=timeout)
    return r.status_code, r.content


def wait_http_ok(url: str, proc: subprocess.Popen[bytes], timeout: float) -> float:
    """Seconds until ``url`` answers 200; raises if ``proc`` exits or time runs out."""
    t0 = time.monotonic()
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"process {proc.pid} exited with {proc.returncode} before {url}")
        with contextlib.suppress(Exception):
            if http_get(url, timeout=2.0)[0] == 200:
                return time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            raise RuntimeError(f"{url} did not answer 200 within {timeout:.0f} s")
        time.sleep(0.25)


def stop_pid(proc: subprocess.Popen[bytes], grace: float) -> str:
    """SIGTERM ``proc`` (by its pid), SIGKILL after ``grace`` seconds; how it ended."""
    if proc.poll() is not None:
        return f"already exited ({proc.returncode})"
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
        return f"SIGTERM, exit {proc.returncode}"
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)
        return f"SIGKILL after {grace:.0f} s, exit {proc.returncode}"


# ---------------------------------------------------------------------------------------
# /proc: a process tree's memory and CPU time
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcSample:
    pid: int
    ppid: int
    kind: str  # "serve" | "admin_worker" | "other"
    rss: int  # bytes
    pss: int | None  # bytes (None if smaps_rollup is unreadable)
    cpu: float  # seconds: utime+stime+cutime+cstime (reaped children included)
    cpu_self: float  # seconds: utime+stime (this process's own threads only)
    threads: int


def _stat_fields(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after its last ')'.
    return [str(pid), "comm", *raw[raw.rindex(")") + 2 :].split()]


def _children(pid: int) -> list[int]:
    out: list[int] = []
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except OSError:
        return out
    for task in tasks:
        with contextlib.suppress(OSError):
            out.extend(int(x) for x in (task / "children").read_text().split())
    return out


def descendants(root: int) -> list[int]:
    """``root`` and every live descendant, parents first."""
    seen: list[int] = []
    todo = [root]
    while todo:
        pid = todo.pop(0)
        if pid in seen:
            continue
        seen.append(pid)
        todo.extend(_children(pid))
    return seen


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    except OSError:
        return ""


def _pss(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError):
        return None
    return None


def sample_proc(pid: int, root: int) -> ProcSample | None:
    f = _stat_fields(pid)
    if f is None:
        return None
    # proc(5), 1-based: 4 ppid, 14 utime, 15 stime, 16 cutime, 17 cstime, 20 threads, 24 rss
    own = int(f[13]) + int(f[14])
    ticks = own + int(f[15]) + int(f[16])
    cmd = cmdline(pid)
    kind = "serve" if pid == root else ("admin_worker" if WORKER_MODULE in cmd else "other")
    return ProcSample(
        pid=pid,
        ppid=int(f[3]),
        kind=kind,
        rss=int(f[23]) * PAGE,
        pss=_pss(pid),
        cpu=ticks / CLK_TCK,
        cpu_self=own / CLK_TCK,
        threads=int(f[19]),
    )


def sample_tree(root: int) -> list[ProcSample]:
    return [s for pid in descendants(root) if (s := sample_proc(pid, root)) is not None]


# ---------------------------------------------------------------------------------------
# Part A: the service's resources on the real sandbox, default intervals
# ---------------------------------------------------------------------------------------

INTERVAL_KEYS = ("admin_interval", "jmx_interval", "client_interval")


def default_interval_config(sandbox_toml: Path, out_dir: Path) -> Path:
    """A copy of the sandbox's ``kafkascope.toml`` without interval overrides (the sandbox
    sets ``client_interval = "2s"`` for a lively demo) and with its own data_dir, so the
    benchmark starts from an empty store and never shares the sandbox's."""
    lines = []
    for line in sandbox_toml.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if key in INTERVAL_KEYS:
            continue
        if line.lstrip().startswith("# Faster than the"):
            continue
        if key == "data_dir":
            line = f"data_dir = {json.dumps(str(out_dir / 'data'))}"
        lines.append(line)
    path = out_dir / "kafkascope.toml"
    path.write_text(
        "# bench/service: the sandbox's config with the default intervals.\n"
        + "\n".join(lines)
        + "\n"
    )
    return path


def effective_intervals(config_path: Path) -> dict[str, Any]:
    """The intervals ``serve`` will use, as the service's own loader reads the file, next to
    the schema defaults; refuses to go on if they differ."""
    from kafkascope.config import ClusterConfig, load_config

    cfg = load_config(config_path, env=clean_env())
    defaults = {k: ClusterConfig.model_fields[k].default for k in INTERVAL_KEYS}
    got = {c.name: {k: getattr(c, k) for k in INTERVAL_KEYS} for c in cfg.clusters}
    for name, intervals in got.items():
        if intervals != defaults:
            raise RuntimeError(f"cluster {name}: intervals {intervals} are not the defaults")
    return {"defaults": defaults, "clusters": got}


def sandbox_running(directory: Path) -> list[dict[str, Any]]:
    r = subprocess.run(
        [str(KAFKASCOPE), "sandbox", "status", "--dir", str(directory), "--json"],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    if r.returncode != 0:
        return []
    procs: list[dict[str, Any]] = json.loads(r.stdout)["processes"]
    return procs


@contextlib.contextmanager
def sandbox(directory: Path, reuse: bool, keep: bool) -> Iterator[dict[str, Any]]:
    """The sandbox in ``directory``: reused as is, or started here and stopped at the end
    (``kafkascope sandbox down`` stops, by pid, exactly what ``up`` started)."""
    info: dict[str, Any] = {"dir": str(directory), "started_here": not reuse}
    if reuse:
        procs = sandbox_running(directory)
        if not any(p.get("state") == "running" for p in procs):
            raise RuntimeError(f"--sandbox {directory}: no running sandbox there")
    else:
        t0 = time.monotonic()
        print(f"[resources] kafkascope sandbox up --dir {directory} ...", file=sys.stderr)
        up = subprocess.run(
            [str(KAFKASCOPE), "sandbox", "up", "--dir", str(directory)],
            capture_output=True,
            text=True,
            check=False,
            env=clean_env(),
            timeout=900,
        )
        if up.returncode != 0:
            if (directory / "sandbox.json").exists():
                subprocess.run(
                    [str(KAFKASCOPE), "sandbox", "down", "--dir", str(directory)],
                    check=False,
                    env=clean_env(),
                )
            raise RuntimeError(f"sandbox up failed ({up.returncode}): {up.stderr[-2000:]}")
        info["up_seconds"] = round(time.monotonic() - t0, 1)
        procs = sandbox_running(directory)
    info["processes"] = {
        "total": len(procs),
        "running": sum(p.get("state") == "running" for p in procs),
        "roles": sorted({str(p.get("role")) for p in procs}),
    }
    try:
        yield info
    finally:
        if not reuse and not keep:
            print(f"[resources] kafkascope sandbox down --dir {directory}", file=sys.stderr)
            down = subprocess.run(
                [str(KAFKASCOPE), "sandbox", "down", "--dir", str(directory)],
                capture_output=True,
                text=True,
                check=False,
                env=clean_env(),
            )
            info["down"] = (down.stdout or down.stderr).strip()[-300:]


def reap_orphan_workers(pids: Sequence[int], serve_pid: int) -> list[int]:
    """Admin workers we saw under ``serve_pid`` that outlived it: killed by pid."""
    killed = []
    for pid in pids:
        f = _stat_fields(pid)
        if f is None or WORKER_MODULE not in cmdline(pid):
            continue  # gone (or the pid was reused by something else)
        if int(f[3]) not in (serve_pid, 1):
            continue
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


def api_snapshot(url: str) -> dict[str, Any]:
    """What the service reports about itself and the sandbox at the end of the window."""
    out: dict[str, Any] = {}
    status, body = http_get(f"{url}/api/v1/health")
    health = json.loads(body) if status == 200 else {}
    out["health"] = {
        "status": health.get("status"),
        "jobs": {
            name: {k: j.get(k) for k in ("runs", "failures", "interval", "last_duration")}
            for name, j in health.get("jobs", {}).items()
        },
    }
    status, body = http_get(f"{url}/api/v1/clusters")
    if status == 200:
        out["clusters"] = [
            {
                k: c.get(k)
                for k in (
                    "name",
                    "brokers",
                    "brokers_up",
                    "topics",
                    "groups",
                    "groups_not_ok",
                    "clients_failing",
                    "errors",
                )
            }
            for c in json.loads(body)["clusters"]
        ]
    for c in out.get("clusters", []):
        status, body = http_get(f"{url}/api/v1/clusters/{c['name']}/clients")
        if status == 200:
            rows = json.loads(body)["clients"]
            c["clients"] = len(rows)
            c["client_liveness"] = dict(
                sorted(
                    {
                        v: sum(r["liveness"] == v for r in rows)
                        for v in {r["liveness"] for r in rows}
                    }.items()
                )
            )
    return out


def part_resources(args: argparse.Namespace) -> dict[str, Any]:
    directory = Path(args.sandbox or "/tmp/h10-sandbox").resolve()
    out_dir = Path(tempfile.mkdtemp(prefix="kafkascope-bench-service-"))
    result: dict[str, Any] = {"work_dir": str(out_dir)}
    with sandbox(directory, reuse=args.sandbox is not None, keep=args.keep_sandbox) as sb:
        result["sandbox"] = sb
        config = default_interval_config(directory / "kafkascope.toml", out_dir)
        result["config"] = str(config)
        result["intervals"] = effective_intervals(config)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        argv = [str(KAFKASCOPE), "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"]
        result["serve_command"] = " ".join(argv)
        log_path = out_dir / "serve.log"
        result["serve_log"] = str(log_path)
        seen_workers: set[int] = set()
        with log_path.open("wb") as log:
            t_spawn = time.monotonic()
            serve = subprocess.Popen(
                argv, stdout=log, stderr=subprocess.STDOUT, env=clean_env(), cwd=out_dir
            )
            print(f"[resources] serve pid {serve.pid} on {url}", file=sys.stderr)
            try:
                ready_s = wait_http_ok(f"{url}/api/v1/health", serve, timeout=180)
                tree = sample_tree(serve.pid)
                result["startup"] = {
                    "seconds_to_http_ready": round(ready_s, 2),
                    "cpu_seconds_to_ready": round(sum(p.cpu for p in tree), 2),
                    "rss_mib_at_ready": round(sum(p.rss for p in tree) / MIB, 1),
                }
                samples = sample_window(serve, args.duration, args.sample_every, seen_workers)
                result["api_at_end"] = api_snapshot(url)
                result["jvm_in_serve_process"] = (
                    "libjvm.so" in Path(f"/proc/{serve.pid}/maps").read_text()
                )
                result["wall_seconds_since_spawn"] = round(time.monotonic() - t_spawn, 1)
            finally:
                result["serve_stop"] = stop_pid(serve, grace=45)
                result["orphan_workers_killed"] = reap_orphan_workers(
                    sorted(seen_workers), serve.pid
                )
        result.update(summarise_samples(samples, args.sample_every))
    return result


def sample_window(
    serve: subprocess.Popen[bytes], duration: float, every: float, seen_workers: set[int]
) -> list[dict[str, Any]]:
    """One sample of the whole process tree every ``every`` seconds for ``duration``."""
    samples: list[dict[str, Any]] = []
    t0 = time.monotonic()
    n = int(duration // every)
    for i in range(n + 1):
        delay = t0 + i * every - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if serve.poll() is not None:
            raise RuntimeError(f"serve exited with {serve.returncode} during the window")
        tree = sample_tree(serve.pid)
        workers = [p for p in tree if p.kind == "admin_worker"]
        seen_workers.update(p.pid for p in workers)
        main = next(p for p in tree if p.kind == "serve")
        samples.append(
            {
                "t": round(time.monotonic() - t0, 2),
                "rss": sum(p.rss for p in tree),
                "pss": sum(p.pss or 0 for p in tree),
                "rss_serve": main.rss,
                "rss_workers": sum(p.rss for p in workers),
                "pss_workers": sum(p.pss or 0 for p in workers),
                "cpu": sum(p.cpu for p in tree),
                "cpu_serve": main.cpu_self,
                "processes": len(tree),
                "workers": len(workers),
                "threads_serve": main.threads,
                "load1": round(os.getloadavg()[0], 2),
            }
        )
        if i % 12 == 0:
            s = samples[-1]
            print(
                f"[resources] t={s['t']:.0f}s rss={s['rss'] / MIB:.1f} MiB "
                f"cpu={s['cpu']:.1f} s procs={s['processes']} load={s['load1']}",
                file=sys.stderr,
            )
    return samples


def summarise_samples(samples: list[dict[str, Any]], every: float) -> dict[str, Any]:
    first, last = samples[0], samples[-1]
    wall = last["t"] - first["t"]
    cpu_pct = [
        100.0 * (b["cpu"] - a["cpu"]) / (b["t"] - a["t"]) for a, b in itertools.pairwise(samples)
    ]
    mib = {k: [s[k] / MIB for s in samples] for k in ("rss", "pss", "rss_serve", "rss_workers")}
    return {
        "window": {
            "seconds": round(wall, 1),
            "samples": len(samples),
            "sample_every_seconds": every,
        },
        "rss_mib": summary(mib["rss"]) | {"first": round(mib["rss"][0], 1)},
        "pss_mib": summary(mib["pss"]),
        "rss_serve_process_mib": summary(mib["rss_serve"]),
        "rss_admin_workers_mib": summary(mib["rss_workers"]),
        "admin_workers": summary([float(s["workers"]) for s in samples], 0),
        "threads_serve": summary([float(s["threads_serve"]) for s in samples], 0),
        "cpu_percent_of_one_core": {
            "over_window": round(100.0 * (last["cpu"] - first["cpu"]) / wall, 2),
            "serve_process_only": round(100.0 * (last["cpu_serve"] - first["cpu_serve"]) / wall, 2),
            "per_interval": summary(cpu_pct, 2),
        },
        "cpu_seconds_in_window": round(last["cpu"] - first["cpu"], 2),
        "load1_during": summary([s["load1"] for s in samples], 2),
        "series": [
            {
                "t": s["t"],
                "rss_mib": round(s["rss"] / MIB, 1),
                "pss_mib": round(s["pss"] / MIB, 1),
                "cpu_s": round(s["cpu"], 2),
                "procs": s["processes"],
                "load1": s["load1"],
            }
            for s in samples
        ],
    }


# ---------------------------------------------------------------------------------------
# Part B: the synthetic backend and its server
# ---------------------------------------------------------------------------------------

MIX = {"caught_up": 0.80, "behind": 0.10, "warn": 0.05, "stop": 0.03, "stall": 0.02}


def synthetic_live(groups: int, partitions: int, members: int, seed: int, now: float) -> Any:
    """A LiveState with one cluster: ``groups`` groups x ``partitions`` partitions judged by
    ``evaluate_group`` over synthetic 10-slot windows (a mix of healthy, lagging, stopped and
    stalled partitions), each group with ``members`` members and their liveness verdicts."""
    from kafkascope.evaluate.lag import OffsetPoint, PartitionWindow, evaluate_group
    from kafkascope.evaluate.liveness import GroupHealth
    from kafkascope.model import Liveness
    from kafkascope.monitor.clients import ClientReport, ClientVerdictRow
    from kafkascope.monitor.lag import GroupReport, LagReport
    from kafkascope.monitor.live import ClusterLive, LiveState
    from kafkascope.sources.kafka.values import GroupMember, GroupState, GroupType

    rng = random.Random(seed)
    kinds, weights = list(MIX), list(MIX.values())
    step, slots = 30.0, 10
    commit_times = [now - step * (slots - i) for i in range(slots)]
    reports: dict[str, GroupReport] = {}
    rows: list[ClientVerdictRow] = []
    health: dict[str, GroupHealth] = {}
    for g in range(groups):
        name, topic = f"bench-group-{g:04d}", f"bench-topic-{g:04d}"
        hosts = [f"10.1.{g % 250}.{m + 1}" for m in range(members)]
        mids = [f"consumer-{name}-{m}-{rng.getrandbits(64):016x}" for m in range(members)]
        cids = [f"{name}-client-{m}" for m in range(members)]
        windows = []
        ends: dict[tuple[str, int], int] = {}
        for p in range(partitions):
            kind = rng.choices(kinds, weights)[0]
            base = rng.randrange(1_000_000, 1_000_000_000)
            times = [t - 3600.0 for t in commit_times] if kind == "stop" else commit_times
            step_offsets = 0 if kind == "stall" else 500
            offsets = [base + step_offsets * i for i in range(slots)]
            lags = {
                "caught_up": [0] * slots,
                "behind": [4000 - 300 * i for i in range(slots)],
            }.get(kind, [1000 + 100 * i for i in range(slots)])
            committed = tuple(
                OffsetPoint(o, t, lag) for o, t, lag in zip(offsets, times, lags, strict=True)
            )
            end_polls = tuple(
                (o + lag + (5000 if kind == "stop" else 0), t + 1.0)
                for o, lag, t in zip(offsets, lags, commit_times, strict=True)
            )
            m = p % members
            windows.append(
                PartitionWindow(
                    topic,
                    p,
                    committed,
                    end_polls,
                    end_polls[-1][0],
                    owner=None if kind == "stop" else hosts[m],
                    client_id=None if kind == "stop" else cids[m],
                    intervals=slots,
                )
            )
            ends[(topic, p)] = end_polls[-1][0]
        verdict = evaluate_group(name, windows, now)
        group_members = tuple(
            GroupMember(
                member_id=mids[m],
                client_id=cids[m],
                host=hosts[m],
                assignment=tuple((topic, p) for p in range(partitions) if p % members == m),
            )
            for m in range(members)
        )
        reports[name] = GroupReport(
            group=name,
            state=GroupState.STABLE,
            type=GroupType.CLASSIC,
            coordinator=1 + g % 3,
            verdict=verdict,
            lag_seconds=verdict.lag_seconds,
            members=group_members,
            first_seen=now - 86400.0,
            last_seen=now,
            last_member_seen=now,
            expired=False,
            end_offsets=ends,
        )
        for m in range(members):
            rows.append(
                ClientVerdictRow(
                    client_id=cids[m],
                    kind="consumer",
                    group=name,
                    target=f"{hosts[m]}:{9000 + m}",
                    liveness=Liveness.ALIVE,
                    reason="polling and committing",
                    last_seen=now - 2.0,
                    first_seen=now - 86400.0,
                    host=hosts[m],
                    member_id=mids[m],
                )
            )
        health[name] = GroupHealth(name, members, members, (), 0, 0, False, ())
    live = ClusterLive(
        CLUSTER,
        lag=LagReport(CLUSTER, now, reports),
        clients=ClientReport(CLUSTER, now, rows, health, {}),
    )
    return LiveState(clusters={CLUSTER: live}, started_at=now - 3600.0)


class SyntheticBackend:
    """What ``create_app`` needs: the synthetic live state, no tokens, no store, no alerts;
    ``health()`` shaped like ``Service.health`` (five jobs), the trivial baseline."""

    def __init__(self, live: Any) -> None:
        from kafkascope.store.history import History

        self.live = live
        self.history = cast(History, None)  # /groups and /health never touch the store
        self.read_tokens: list[str] = []
        self.admin_tokens: list[str] = []
        self.alerts = None
        kinds = ("brokers", "lag", "clients")
        self._jobs = {f"{k}:{CLUSTER}": 10.0 for k in kinds} | {
            "alerts": 5.0,
            "maintenance": 3600.0,
        }

    def health(self) -> dict[str, Any]:
        from kafkascope import __version__

        now = time.time()
        jobs = {
            name: {
                "runs": 100,
                "failures": 0,
                "consecutive_failures": 0,
                "last_success": now - 1.0,
                "last_duration": 0.05,
                "last_error": None,
                "interval": interval,
            }
            for name, interval in self._jobs.items()
        }
        return {
            "status": "ok",
            "version": __version__,
            "started_at": self.live.started_at,
            "jobs": jobs,
        }


COUNTER_PATH = "/_bench/served"


class ServedCounter:
    """A pure ASGI wrapper that counts the responses the app started, per path, and
    answers ``GET /_bench/served`` with the counts itself. It counts requests whose
    client had already gone (wrk drops in-flight requests when its run ends), so CPU
    time divided by this count is the server's true cost per request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.served: dict[str, int] = {}

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if path == COUNTER_PATH:
            body = json.dumps(self.served).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return

        async def counting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.served[path] = self.served.get(path, 0) + 1
            await send(message)

        await self.app(scope, receive, counting_send if path else send)


def serve_synthetic(args: argparse.Namespace) -> int:
    """The hidden server mode: build the synthetic state, report, serve until SIGTERM."""
    import uvicorn

    from kafkascope.api.app import create_app

    t0 = time.perf_counter()
    live = synthetic_live(args.groups, args.partitions, args.members, args.seed, time.time())
    build_s = time.perf_counter() - t0
    lag = live.clusters[CLUSTER].lag
    statuses: dict[str, int] = {}
    for g in lag.groups.values():
        statuses[g.status.name] = statuses.get(g.status.name, 0) + 1
    print(
        json.dumps(
            {
                "build_seconds": round(build_s, 2),
                "groups": len(lag.groups),
                "partitions": sum(g.verdict.partition_count for g in lag.groups.values()),
                "group_statuses": dict(sorted(statuses.items())),
            }
        ),
        flush=True,
    )
    app = ServedCounter(create_app(SyntheticBackend(live)))
    # The service's own uvicorn settings (Service._start_http).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=args.serve_synthetic,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()
    return 0


# ---------------------------------------------------------------------------------------
# Part B: load generators
# ---------------------------------------------------------------------------------------

WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "WRKJSON {\\"requests\\":%.0f,\\"duration_us\\":%.0f,\\"bytes\\":%.0f," ..
    "\\"errors\\":{\\"connect\\":%.0f,\\"read\\":%.0f,\\"write\\":%.0f," ..
    "\\"status\\":%.0f,\\"timeout\\":%.0f}," ..
    "\\"min_us\\":%.0f,\\"mean_us\\":%.1f,\\"stdev_us\\":%.1f,\\"max_us\\":%.0f," ..
    "\\"p50_us\\":%.0f,\\"p75_us\\":%.0f,\\"p90_us\\":%.0f," ..
    "\\"p99_us\\":%.0f,\\"p999_us\\":%.0f}\\n",
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.min, latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(99), latency:percentile(99.9)))
end
"""


def wrk_version() -> str | None:
    if shutil.which("wrk") is None:
        return None
    r = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (r.stdout or r.stderr).splitlines()[0].strip()


def run_wrk(url: str, connections: int, threads: int, seconds: int, script: Path) -> dict[str, Any]:
    argv = [
        "wrk",
        f"-t{min(threads, connections)}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "120s",  # the default 2 s would drop slow responses from the histogram
        "--latency",
        "-s",
        str(script),
        url,
    ]
    r = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=seconds + 180)
    if r.returncode != 0:
        raise RuntimeError(f"wrk failed ({r.returncode}): {r.stderr.strip()}")
    line = next(x for x in r.stdout.splitlines() if x.startswith("WRKJSON "))
    raw = json.loads(line[len("WRKJSON ") :])
    text = [x.rstrip() for x in r.stdout.splitlines() if not x.startswith("WRKJSON ")]
    secs = raw["duration_us"] / 1e6
    keys = ("min", "mean", "p50", "p75", "p90", "p99", "p999", "max", "stdev")
    # No request finished within the run (each outlived it): no latency to report.
    latency: dict[str, float | None] = {
        k: round(raw[f"{k}_us"] / 1000.0, 3) if raw["requests"] else None for k in keys
    }
    return {
        "command": " ".join([*argv[:7], argv[-1]]),
        "requests": int(raw["requests"]),
        "req_per_s": round(raw["requests"] / secs, 1),
        "mib_per_s": round(raw["bytes"] / secs / MIB, 2),
        "errors": {k: int(v) for k, v in raw["errors"].items()},
        "latency_ms": latency,
        "wrk_output": text,
    }


def run_python_load(url: str, connections: int, seconds: int) -> dict[str, Any]:
    """Fallback when wrk is missing: ``connections`` threads, each a keep-alive httpx client
    in a closed loop. Slower than wrk (and it shares the GIL), so its figures are only
    comparable with each other."""
    import httpx

    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    errors = 0
    nbytes = 0
    lock = threading.Lock()

    def worker() -> None:
        nonlocal errors, nbytes
        mine: list[float] = []
        bad = got = 0
        with httpx.Client(timeout=120) as client:
            while time.monotonic() < deadline:
                t = time.perf_counter()
                try:
                    r = client.get(url)
                    ok = r.status_code == 200
                    got += len(r.content)
                except httpx.HTTPError:
                    ok = False
                if ok:
                    mine.append(time.perf_counter() - t)
                else:
                    bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad
            nbytes += got

    t0 = time.monotonic()
    pool = [threading.Thread(target=worker) for _ in range(connections)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    secs = time.monotonic() - t0
    latencies.sort()

    def pct(p: float) -> float:
        return round(1000.0 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 3)

    return {
        "command": f"python httpx load: {connections} threads, {seconds} s, {url}",
        "requests": len(latencies),
        "req_per_s": round(len(latencies) / secs, 1),
        "mib_per_s": round(nbytes / secs / MIB, 2),
        "errors": {"failed": errors},
        "latency_ms": {
            "min": pct(0),
            "mean": round(1000.0 * statistics.fmean(latencies), 3),
            "p50": pct(50),
            "p75": pct(75),
            "p90": pct(90),
            "p99": pct(99),
            "p999": pct(99.9),
            "max": pct(100),
        },
    }


def cpu_seconds(pid: int) -> float:
    f = _stat_fields(pid)
    return 0.0 if f is None else (int(f[13]) + int(f[14])) / CLK_TCK


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 1) if a is not None and b else None


def part_latency(args: argparse.Namespace) -> dict[str, Any]:
    version = wrk_version()
    tool = "wrk" if version and not args.python_load else "python-httpx"
    result: dict[str, Any] = {
        "load_tool": tool,
        "wrk_version": version,
        "data": {"groups": args.groups, "partitions_per_group": args.partitions},
    }
    if version is None:
        result["note"] = "wrk not found (apt-get install -y wrk): used the Python load generator"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve-synthetic",
        str(port),
        "--groups",
        str(args.groups),
        "--partitions",
        str(args.partitions),
        "--members",
        str(args.members),
        "--seed",
        str(args.seed),
    ]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, env=clean_env())
    print(f"[latency] synthetic API server pid {server.pid} on {base}", file=sys.stderr)
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        if not first:
            raise RuntimeError(f"the synthetic server exited ({server.wait()})")
        result["data"] |= json.loads(first)
        wait_http_ok(f"{base}/api/v1/health", server, timeout=60)
        urls = {
            "health": f"{base}/api/v1/health",
            "groups": f"{base}/api/v1/clusters/{CLUSTER}/groups",
        }
        result["responses"] = check_and_warm(urls, args.warmup)
        result["profile_groups_in_process"] = profile_groups(args)
        result["server_rss_mib"] = round(sum(p.rss for p in sample_tree(server.pid)) / MIB, 1)
        with tempfile.TemporaryDirectory() as tmp:
            script = Path(tmp) / "done.lua"
            script.write_text(WRK_DONE)
            result["runs"] = load_runs(args, tool, urls, server.pid, script)
    finally:
        result["server_stop"] = stop_pid(server, grace=10)
        if server.stdout is not None:
            server.stdout.close()
    result["ratios_groups_over_health"] = ratios(result["runs"], args.connections)
    return result


def profile_groups(args: argparse.Namespace, repeat: int = 3) -> dict[str, Any]:
    """Where one ``/groups`` response's time goes, in this process on the same synthetic
    data, best of ``repeat`` (CPU seconds, so other load on the machine matters less):
    the route body (``views.group_json`` for every group), FastAPI's validation of the
    returned ``dict[str, Any]`` and its serialisation to JSON bytes (pydantic-core)."""
    import gc

    from pydantic import TypeAdapter

    from kafkascope.api import views

    live = synthetic_live(args.groups, args.partitions, args.members, args.seed, time.time())
    c = live.clusters[CLUSTER]
    adapter: TypeAdapter[dict[str, Any]] = TypeAdapter(dict[str, Any])

    def route() -> dict[str, Any]:
        rows = sorted(c.lag.groups.values(), key=lambda g: g.group)
        return {
            "cluster": CLUSTER,
            "taken_at": c.lag.taken_at,
            "groups": [views.group_json(g, c.clients, detail=True) for g in rows],
        }

    body = route()
    steps: dict[str, Any] = {
        "route_body_group_json": route,
        "validate_dict_str_any": lambda: adapter.validate_python(body),
        "serialize_json": lambda: adapter.dump_json(body),
    }
    out: dict[str, Any] = {}
    for name, fn in steps.items():
        cpu, wall = [], []
        for _ in range(repeat):
            gc.collect()
            c0, w0 = time.process_time(), time.perf_counter()
            fn()
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
        out[name] = {"cpu_ms": round(1000 * min(cpu), 1), "wall_ms": round(1000 * min(wall), 1)}
    out["total_cpu_ms"] = round(sum(v["cpu_ms"] for v in out.values()), 1)
    out["bytes"] = len(adapter.dump_json(body))
    return out


def check_and_warm(urls: dict[str, str], warmup: int) -> dict[str, Any]:
    """One request each, checked (status, size, group count), then ``warmup`` sequential
    requests each: their median is the unloaded service time."""
    import httpx

    out: dict[str, Any] = {}
    with httpx.Client(timeout=120) as client:
        for name, url in urls.items():
            r = client.get(url)
            if r.status_code != 200:
                raise RuntimeError(f"GET {url}: {r.status_code} {r.text[:200]}")
            info: dict[str, Any] = {"bytes": len(r.content)}
            if name == "groups":
                body = r.json()
                info["groups"] = len(body["groups"])
                info["partitions"] = sum(len(g["partitions"]) for g in body["groups"])
                info["members"] = sum(len(g["members"]) for g in body["groups"])
            times = []
            for _ in range(warmup):
                t = time.perf_counter()
                client.get(url).raise_for_status()
                times.append(time.perf_counter() - t)
            if times:
                info["sequential_ms"] = summary([1000.0 * t for t in times], 2)
            out[name] = info
    return out


def wait_idle(pid: int, timeout: float = 120.0) -> float:
    """Wait until the server has finished what a run left behind: wrk stops at its
    deadline with requests in flight, and the server still computes them. Idle = under
    5 % of a core over two consecutive half-seconds. Returns the seconds waited."""
    t0 = time.monotonic()
    quiet = 0
    prev = cpu_seconds(pid)
    while quiet < 2 and time.monotonic() - t0 < timeout:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        quiet = quiet + 1 if (now - prev) / 0.5 < 0.05 else 0
        prev = now
    return round(time.monotonic() - t0, 1)


def served(base: str) -> dict[str, int]:
    status, body = http_get(base + COUNTER_PATH)
    if status != 200:
        raise RuntimeError(f"GET {COUNTER_PATH}: {status}")
    counts: dict[str, int] = json.loads(body)
    return counts


def load_runs(
    args: argparse.Namespace, tool: str, urls: dict[str, str], server_pid: int, script: Path
) -> list[dict[str, Any]]:
    """For each connection count and round: health and groups back to back (order
    alternating by round). Each run starts on an idle server and its CPU time (from
    /proc) is read once the server is idle again, divided by the responses the server
    produced (``ServedCounter``), dropped in-flight ones included."""
    runs = []
    base = urls["health"].split("/api/", 1)[0]
    for c in args.connections:
        for rnd in range(args.rounds):
            order = ["health", "groups"] if rnd % 2 == 0 else ["groups", "health"]
            for name in order:
                path = urls[name].removeprefix(base)
                wait_idle(server_pid)
                n0, cpu0, load0 = served(base).get(path, 0), cpu_seconds(server_pid), loadavg()[0]
                print(f"[latency] {name} c={c} round {rnd + 1} ...", file=sys.stderr)
                if tool == "wrk":
                    r = run_wrk(urls[name], c, args.threads, args.seconds, script)
                else:
                    r = run_python_load(urls[name], c, args.seconds)
                load1 = loadavg()[0]
                drain = wait_idle(server_pid)
                cpu = cpu_seconds(server_pid) - cpu0
                n = served(base).get(path, 0) - n0
                r = {
                    "endpoint": name,
                    "connections": c,
                    "round": rnd + 1,
                    **r,
                    "server_responses": n,
                    "server_cpu_ms_per_request": round(1000.0 * cpu / max(1, n), 3),
                    "server_cpu_percent": round(100.0 * cpu / args.seconds, 1),
                    "drain_seconds": drain,
                    "load1": [load0, load1],
                }
                lat = r["latency_ms"]
                print(
                    f"[latency]   {r['req_per_s']} req/s p50 {lat['p50']} ms "
                    f"p99 {lat['p99']} ms errors {r['errors']} "
                    f"cpu/req {r['server_cpu_ms_per_request']} ms (n={n}, drain {drain} s)",
                    file=sys.stderr,
                )
                runs.append(r)
    return runs


def ratios(runs: list[dict[str, Any]], connections: Sequence[int]) -> dict[str, Any]:
    """groups / health per connection count: per round (the two runs of a round are
    back to back, so they saw about the same machine) and the median over rounds."""
    metrics: dict[str, Callable[[dict[str, Any]], float | None]] = {
        "p50": lambda r: r["latency_ms"]["p50"],
        "p99": lambda r: r["latency_ms"]["p99"],
        "server_cpu_per_request": lambda r: r["server_cpu_ms_per_request"],
        "req_per_s_health_over_groups": lambda r: 1.0 / r["req_per_s"] if r["req_per_s"] else None,
    }
    out: dict[str, Any] = {}
    for c in connections:
        rounds = sorted({r["round"] for r in runs if r["connections"] == c})
        by = {
            (r["round"], r["endpoint"]): r for r in runs if r["connections"] == c and r["requests"]
        }
        row: dict[str, Any] = {}
        for name, get in metrics.items():
            per_round = [
                ratio(get(by[n, "groups"]), get(by[n, "health"]))
                for n in rounds
                if (n, "groups") in by and (n, "health") in by
            ]
            known = [x for x in per_round if x is not None]
            row[name] = {
                "median": round(statistics.median(known), 1) if known else None,
                "per_round": per_round,
            }
        for ep in ("groups", "health"):
            row[f"{ep}_p99_ms_per_round"] = [
                by[n, ep]["latency_ms"]["p99"] for n in rounds if (n, ep) in by
            ]
        row["groups_requests_per_round"] = [
            by[n, "groups"]["requests"] for n in rounds if (n, "groups") in by
        ]
        out[f"c{c}"] = row
    return out


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------


def environment() -> dict[str, Any]:
    def git(*a: str) -> str:
        r = subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=False)
        return r.stdout.strip()

    return {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
        "git_head": git("rev-parse", "--short", "HEAD"),
        "git_dirty_files": len(git("status", "--porcelain").splitlines()),
        "load_at_start": loadavg(),
    }


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwind: every finally stops what we started


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--part", choices=["resources", "latency", "all"], required=False)
    g = p.add_argument_group("resources")
    g.add_argument("--sandbox", help="reuse the running sandbox in DIR (left running)")
    g.add_argument("--keep-sandbox", action="store_true", help="leave the sandbox we start up")
    g.add_argument("--duration", type=float, default=300.0, help="seconds sampled [300]")
    g.add_argument("--sample-every", type=float, default=5.0, help="seconds [5]")
    g = p.add_argument_group("latency")
    g.add_argument("--groups", type=int, default=1000)
    g.add_argument("--partitions", type=int, default=10, help="per group [10]")
    g.add_argument("--members", type=int, default=3, help="per group [3]")
    g.add_argument("--seed", type=int, default=42)
    g.add_argument(
        "--connections",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 16],
        help="comma-separated connection counts [1,16]",
    )
    g.add_argument("--threads", type=int, default=2, help="wrk threads [2]")
    g.add_argument("--seconds", type=int, default=30, help="per wrk run [30]")
    g.add_argument("--rounds", type=int, default=3, help="runs per endpoint and count [3]")
    g.add_argument("--warmup", type=int, default=20, help="sequential requests first [20]")
    g.add_argument("--python-load", action="store_true", help="skip wrk, use httpx threads")
    p.add_argument("--serve-synthetic", type=int, metavar="PORT", help=argparse.SUPPRESS)
    p.add_argument("--no-write", action="store_true", help="print only, no results file")
    args = p.parse_args(argv)
    if args.serve_synthetic is not None:
        return serve_synthetic(args)
    if args.part is None:
        p.error("--part resources|latency|all is required")

    signal.signal(signal.SIGTERM, _on_sigterm)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    out: dict[str, Any] = {"benchmark": "bench/service", "started": stamp, "env": environment()}
    if args.part in ("resources", "all"):
        out["resources"] = part_resources(args)
    if args.part in ("latency", "all"):
        out["latency"] = part_latency(args)
    out["env"]["load_at_end"] = loadavg()
    text = json.dumps(out, indent=2)
    print(text)
    if not args.no_write:
        path = HERE / f"results-{stamp}.json"
        path.write_text(text + "\n")
        print(f"wrote {path.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Runs each periodic job on its own thread, with its own interval, jitter and backoff.

Why a thread per job: the sources block (JMX over RMI, librdkafka calls), and a slow or
frozen target must never delay the others. Inside a job, per-target parallelism is the
collector's business; between jobs, nothing is shared but the stop signal.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


@dataclass
class JobStats:
    """What the health endpoint reports about a job."""

    runs: int = 0
    failures: int = 0
    consecutive_failures: int = 0
    last_start: float | None = None
    last_success: float | None = None
    last_duration: float | None = None
    last_error: str | None = None


@dataclass
class Job:
    name: str
    fn: Callable[[], None]
    interval: float
    jitter: float = 0.1  # fraction of the interval
    max_backoff: float = 300.0
    stats: JobStats = field(default_factory=JobStats)

    def next_delay(self, rng: random.Random) -> float:
        """Interval ± jitter on success; doubling backoff (capped) after failures, so a
        broken source is retried without hammering it."""
        base = self.interval
        if self.stats.consecutive_failures:
            base = min(
                self.max_backoff, self.interval * 2 ** min(self.stats.consecutive_failures - 1, 16)
            )
            base = max(base, self.interval)
        spread = base * self.jitter
        return max(0.05, base + rng.uniform(-spread, spread))


class Scheduler:
    """Start jobs, each looping on its own daemon thread until ``stop``."""

    def __init__(self, seed: int | None = None) -> None:
        self.jobs: dict[str, Job] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()
        self._rng = random.Random(seed)

    def add(self, job: Job) -> Job:
        if job.name in self.jobs:
            raise ValueError(f"job {job.name} added twice")
        self.jobs[job.name] = job
        return job

    def run_once(self, job: Job) -> None:
        st = job.stats
        st.last_start = time.time()
        t0 = time.monotonic()
        try:
            job.fn()
        except Exception as e:  # noqa: BLE001 - a failing job must not kill the scheduler
            st.failures += 1
            st.consecutive_failures += 1
            st.last_error = f"{type(e).__name__}: {e}"
            log.warning(
                "job %s failed (%d in a row): %s", job.name, st.consecutive_failures, st.last_error
            )
        else:
            st.consecutive_failures = 0
            st.last_success = time.time()
            st.last_error = None
        finally:
            st.runs += 1
            st.last_duration = time.monotonic() - t0

    def _loop(self, job: Job) -> None:
        while not self._stop.is_set():
            self.run_once(job)
            if self._stop.wait(job.next_delay(self._rng)):
                break

    def start(self) -> None:
        for job in self.jobs.values():
            t = threading.Thread(
                target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True
            )
            t.start()
            self._threads.append(t)

    def stop(self, timeout: float = 30.0) -> None:
        """Signal every job and wait (bounded) for the ones in progress to finish."""
        self._stop.set()
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        self._threads.clear()

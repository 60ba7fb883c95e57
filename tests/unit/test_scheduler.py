"""The scheduler with real threads: a blocked job never delays another; failures back off."""

from __future__ import annotations

import random
import threading

import pytest

from kafkascope.scheduler import Job, Scheduler
from tests.support import wait_until


def test_a_blocked_job_does_not_delay_the_others() -> None:
    release = threading.Event()
    fast_runs: list[int] = []
    s = Scheduler(seed=1)

    def frozen() -> None:
        release.wait(30)

    s.add(Job("frozen", frozen, interval=0.05))
    s.add(Job("fast", lambda: fast_runs.append(1), interval=0.05))
    s.start()
    try:
        wait_until(lambda: len(fast_runs) >= 10, 10, "the fast job to run 10 times")
        assert s.jobs["frozen"].stats.runs == 0  # still stuck in its first run
    finally:
        release.set()
        s.stop()


def test_failures_are_recorded_and_reset_on_success() -> None:
    outcomes = iter([RuntimeError("boom"), RuntimeError("boom"), None])

    def fn() -> None:
        e = next(outcomes)
        if e:
            raise e

    s = Scheduler()
    job = s.add(Job("j", fn, interval=1))
    s.run_once(job)
    s.run_once(job)
    assert (job.stats.failures, job.stats.consecutive_failures) == (2, 2)
    assert job.stats.last_error == "RuntimeError: boom"
    s.run_once(job)
    stats = job.stats  # read afresh: the asserts above narrowed job.stats.last_error to str
    assert (stats.consecutive_failures, stats.last_error) == (0, None)


@pytest.mark.parametrize(
    ("failures", "low", "high"),
    [
        (0, 9.0, 11.0),  # healthy: the interval ± 10 % jitter
        (1, 9.0, 11.0),  # first failure: retry at the normal interval
        (3, 36.0, 44.0),  # third in a row: 10 s · 2² = 40 s ± jitter
        (20, 270.0, 330.0),  # long outage: capped at max_backoff (300 s) ± jitter
    ],
    ids=["healthy", "first-failure", "third-failure", "capped"],
)
def test_backoff(failures: int, low: float, high: float) -> None:
    job = Job("j", lambda: None, interval=10, jitter=0.1, max_backoff=300)
    job.stats.consecutive_failures = failures
    rng = random.Random(7)
    delays = [job.next_delay(rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high

"""Consumer lag status on the real sandbox: issue 4's "Done when", one test per verdict.

Each test watches its own fresh group (and, where it produces, its own fresh topic) with a
:class:`LagMonitor` polled every second on a background thread, as the service will poll
it, with Burrow's default window of 10 commits and the real clock. Failures are real:
killed, paused (SIGSTOP) and slow consumers, and offsets reset with Kafka's own
consumer-groups tool. Waiting is always for a condition with a deadline.

Clients: Kafka's Java ``VerifiableProducer``/``ConsoleConsumer`` from the sandbox, except
where a consumer must be *slower than its producer*. The ConsoleConsumer cannot be made
slow from a test: its consumer properties are fixed by the sandbox, and a SIGSTOP/SIGCONT
duty cycle only makes it bursty. Measured here: running 0.4 s in every 2 s against a
producer at 200 records/s, its lag at commit went 225, 290, 200, 700, 209, 284 (each resume
drains the backlog in one fetch), so it keeps up on average and Burrow rightly says OK.
Blocking its stdout (the sandbox's BLOCK) stalls it completely once the pipe is full: no
commits at all, which is STOP, not WARN. So the slow consumer is :class:`PacedConsumer`, a
real librdkafka group member (classic or KIP-848) that takes at most N records a second
and commits after each batch: slower than its producer by construction.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka import Consumer, Producer

from kafkascope.clock import SystemClock
from kafkascope.config import LagConfig
from kafkascope.model import Status
from kafkascope.monitor.lag import GroupReport, LagMonitor, LagReport
from kafkascope.sandbox import cluster, jars, probe, procs
from kafkascope.sandbox.state import Proc, SandboxState
from kafkascope.sources.kafka.admin import GroupState, GroupType, KafkaAdmin
from kafkascope.store.db import Database
from tests.conftest import ClientFactory
from tests.support import run_cli, wait_until

pytestmark = pytest.mark.integration

POLL = 1.0
#: Burrow's default window. Commits of Kafka's auto-commit come every 5 s, so at one poll a
#: second the end-offset window (10 polls) always holds a poll from before the last commit.
LAG = LagConfig(intervals=10)
QUIET = {"log_level": 2}
PROTOCOLS = ["classic", "consumer"]


def token() -> str:
    return uuid.uuid4().hex[:8]


def fresh_topic(sandbox: SandboxState, partitions: int = 1) -> str:
    topic = f"lag-{token()}"
    probe.create_topics(sandbox.bootstrap, {topic: partitions}, 3, time.monotonic() + 60)
    return topic


def produce(bootstrap: str, topic: str, count: int) -> None:
    p = Producer({"bootstrap.servers": bootstrap, "acks": "all", **QUIET})
    for i in range(count):
        p.produce(topic, value=f"r{i}".encode())
    assert p.flush(30) == 0


# ---------------------------------------------------------------------------------------
# The monitor, polled in the background
# ---------------------------------------------------------------------------------------


@dataclass
class Watch:
    """A LagMonitor polled every ``POLL`` seconds on its own thread; keeps every report."""

    monitor: LagMonitor
    reports: list[LagReport] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Watch:
        self._thread = threading.Thread(target=self._run, name="lag-watch", daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        # A fixed pause between polls, never a catch-up burst after a slow one: two polls a
        # moment apart would see a commit but hardly any new records, which reads as the
        # consumer gaining on its producer.
        while not self._stop.is_set():
            try:
                self.reports.append(self.monitor.poll())
            except Exception as e:  # noqa: BLE001 - surfaced by the waits below
                self.errors.append(e)
            self._stop.wait(POLL)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)

    def latest(self, group: str) -> GroupReport | None:
        assert not self.errors, self.errors
        return self.reports[-1].groups.get(group) if self.reports else None

    def history(self, group: str, since: int = 0) -> list[GroupReport]:
        return [r.groups[group] for r in self.reports[since:] if group in r.groups]

    def wait_for(
        self, group: str, check: Callable[[GroupReport], bool], timeout: float, what: str
    ) -> GroupReport:
        def ready() -> GroupReport | None:
            g = self.latest(group)
            return g if g is not None and check(g) else None

        return wait_until(ready, timeout, f"{group}: {what}", interval=0.2)

    def wait_status(self, group: str, statuses: Sequence[Status], timeout: float) -> GroupReport:
        names = "/".join(s.name for s in statuses)
        return self.wait_for(group, lambda g: g.status in statuses, timeout, f"status {names}")

    def wait_polls(self, count: int) -> int:
        """Until ``count`` more polls have happened; returns the index they start at."""
        start = len(self.reports)
        wait_until(
            lambda: len(self.reports) >= start + count,
            count * POLL * 3 + 10,
            f"{count} more polls",
        )
        return start


@pytest.fixture
def watch(sandbox: SandboxState) -> Iterator[Callable[..., Watch]]:
    started: list[tuple[Watch, KafkaAdmin]] = []

    def make(groups: Sequence[str], lag: LagConfig = LAG, db: Database | None = None) -> Watch:
        admin = KafkaAdmin(sandbox.bootstrap, timeout=10)
        monitor = LagMonitor("sandbox", admin, lag, db, SystemClock(), groups=groups)
        w = Watch(monitor).start()
        started.append((w, admin))
        return w

    yield make
    for w, admin in started:
        w.stop()
        admin.close()


def warmed_up(g: GroupReport) -> bool:
    """Every partition has a commit, and every partition that is behind has two: a window
    with some history (with ``stop_grace`` 0, Burrow's single-commit cold start would read a
    lagging partition as STOP until its next commit is seen). Partitions the producer does
    not write to never get a second commit, and need none: they are caught up."""
    parts = g.verdict.partitions
    return bool(parts) and all(
        p.start is not None
        and p.end is not None
        and (p.current_lag == 0 or p.start.timestamp < p.end.timestamp)
        for p in parts
    )


def committed(g: GroupReport) -> int | None:
    """The last commit of the group's first partition (the tests' topics have one)."""
    parts = g.verdict.partitions
    return parts[0].end.offset if parts and parts[0].end is not None else None


def statuses(history: Sequence[GroupReport]) -> list[str]:
    return [g.status.name for g in history]


# ---------------------------------------------------------------------------------------
# A consumer slower than its producer
# ---------------------------------------------------------------------------------------


class PacedConsumer:
    """A real group member that takes at most ``rate`` records a second and commits after
    each batch (see the module docstring for why this is not the Java ConsoleConsumer)."""

    def __init__(self, bootstrap: str, topic: str, group: str, rate: int, protocol: str) -> None:
        self.consumed = 0
        self._consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": group,
                "group.protocol": protocol,
                "client.id": f"{group}-paced",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                **QUIET,
            }
        )
        self._consumer.subscribe([topic])
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="paced-consumer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while not self._stop.is_set():
            batch = self._consumer.consume(num_messages=self._rate, timeout=0.5)
            records = [m for m in batch if m.error() is None]
            if records:
                self.consumed += len(records)
                self._consumer.commit(asynchronous=False)
            next_at += 1.0
            self._stop.wait(max(0.0, next_at - time.monotonic()))

    def close(self) -> None:
        """Stop and leave the group (it becomes Empty at once)."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join(30)
            self._consumer.close()


@pytest.fixture
def paced() -> Iterator[Callable[..., PacedConsumer]]:
    started: list[PacedConsumer] = []

    def make(bootstrap: str, topic: str, group: str, rate: int, protocol: str) -> PacedConsumer:
        c = PacedConsumer(bootstrap, topic, group, rate, protocol)
        started.append(c)
        return c

    yield make
    for c in started:
        c.close()


def wait_records(sandbox: SandboxState, topic: str, count: int) -> None:
    """Until partition 0 of ``topic`` holds ``count`` records: a backlog, so that a slow
    consumer is behind from its very first commit."""
    with KafkaAdmin(sandbox.bootstrap, timeout=10) as admin:
        wait_until(
            lambda: admin.log_offsets([(topic, 0)]).get((topic, 0), 0) >= count,
            60,
            f"{count} records in {topic}",
        )


def reset_to_earliest(sandbox: SandboxState, group: str, topic: str) -> str:
    """Kafka's own consumer-groups tool, as an operator would run it (group inactive)."""
    argv = [
        jars.java_bin(),
        "-Xmx256m",
        "-XX:TieredStopAtLevel=1",
        "-cp",
        str(Path(sandbox.lib_dir) / "kafka" / "*"),
        "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand",
        "--bootstrap-server",
        sandbox.bootstrap,
        "--group",
        group,
        "--reset-offsets",
        "--to-earliest",
        "--topic",
        topic,
        "--execute",
    ]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def signal(sandbox: SandboxState, proc: Proc, name: str) -> None:
    cluster.client_signal(Path(sandbox.dir), proc.name, name)


# ---------------------------------------------------------------------------------------
# OK
# ---------------------------------------------------------------------------------------


def test_healthy_demo_group_is_ok(watch: Callable[..., Watch]) -> None:
    """payments-auditor: a producer at 10/s and one consumer keeping up."""
    group = "payments-auditor"
    w = watch([group])
    w.wait_for(group, warmed_up, 60, "past the cold start")
    start = w.wait_polls(10)
    history = w.history(group, start)
    assert statuses(history) == ["OK"] * len(history)
    g = history[-1]
    assert g.state is GroupState.STABLE and g.type is GroupType.CLASSIC
    assert [m.client_id for m in g.members] == ["payments-auditor-1"]
    assert g.verdict.partition_count == 3 and not g.expired
    for p in g.verdict.partitions:
        assert p.status is Status.OK
        assert (p.client_id, p.owner) == ("payments-auditor-1", "127.0.0.1")
        assert p.end is not None and p.end.offset <= g.end_offsets[(p.topic, p.partition)]
        # Auto-commit every 5 s: never more than a few seconds behind.
        assert p.lag_seconds is not None and 0 <= p.lag_seconds < 15
    assert g.lag_seconds is not None and g.lag_seconds < 15


def test_caught_up_group_on_idle_topic_stays_ok(
    sandbox: SandboxState, watch: Callable[..., Watch], start_client: ClientFactory
) -> None:
    """Burrow's users' top false alarm: a consumer with nothing to read is not STOP, however
    long since its last commit; nor is it when a lone record lands on the quiet topic and
    the consumer has not committed it yet (it was level with the log end within the
    window). The consumer is frozen for that part, so the uncommitted record is seen for
    several polls rather than by luck between two auto-commits."""
    topic = fresh_topic(sandbox)
    produce(sandbox.bootstrap, topic, 20)
    group = f"idle-{token()}"
    consumer = start_client("consumer", topic, group=group)
    lag = LagConfig(intervals=20)  # room for a frozen JVM to resume on a loaded machine
    w = watch([group], lag)
    w.wait_for(
        group,
        lambda g: committed(g) == 20,
        60,
        "the consumer to commit all 20 records",
    )
    # A full window in real time: all its end-offset polls, longer than any commit span.
    start = w.wait_polls(lag.intervals + 2)
    history = w.history(group, start)
    assert statuses(history) == ["OK"] * len(history)
    assert all(g.verdict.total_lag == 0 and g.lag_seconds == 0 for g in history)

    before = len(w.reports)
    signal(sandbox, consumer, "STOP")
    produce(sandbox.bootstrap, topic, 1)
    w.wait_for(group, lambda g: g.verdict.total_lag == 1, 15, "the new record to show as lag")
    w.wait_polls(4)  # far fewer than the 20-poll end window: the catch-up is still in it
    signal(sandbox, consumer, "CONT")
    w.wait_for(group, lambda g: committed(g) == 21, 30, "the consumer to commit the new record")
    after = w.history(group, before)
    assert statuses(after) == ["OK"] * len(after)
    assert sum(g.verdict.total_lag == 1 for g in after) >= 4


# ---------------------------------------------------------------------------------------
# STOP
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_killed_consumer_is_stop(
    protocol: str,
    sandbox: SandboxState,
    watch: Callable[..., Watch],
    start_client: ClientFactory,
) -> None:
    """kill -9 the only consumer while its producer goes on: no commit ever comes again, so
    once the silence is longer than the window's span (and the consumer was not level
    with the log end in the last 10 polls) the partition is STOP and the group ERR."""
    topic = fresh_topic(sandbox)
    group = f"killed-{protocol}-{token()}"
    start_client("producer", topic, rate=20)
    consumer = start_client("consumer", topic, group=group, protocol=protocol)
    # A 5-commit window and a 20 s grace (defaults: 10 and 60 s): the rule is the same, the
    # wait is half as long.
    lag = LagConfig(intervals=5, stop_grace=20)
    w = watch([group], lag)
    ok = w.wait_for(
        group, lambda g: warmed_up(g) and g.status is Status.OK, 90, "OK with two commits"
    )
    assert ok.type is (GroupType.CONSUMER if protocol == "consumer" else GroupType.CLASSIC)

    signal(sandbox, consumer, "KILL")
    killed_at = time.time()
    # STOP once the silence exceeds both the window's span (at most 5 commits 5 s apart)
    # and stop_grace, plus a few polls.
    g = w.wait_status(group, [Status.ERR], max(lag.stop_grace, 25) + 30)
    took = time.time() - killed_at
    [p] = g.verdict.partitions
    assert p.status is Status.STOP, p
    assert p.current_lag > 0 and g.verdict.total_lag == p.current_lag
    # The exact age of the first unconsumed record: at least the time since the kill.
    assert p.lag_seconds is not None and p.lag_seconds >= took - 6, (p.lag_seconds, took)
    print(f"{protocol}: STOP {took:.1f} s after kill -9")

    # The lag keeps growing with the producer: current lag, not lag at the last commit.
    lag_then = p.current_lag
    w.wait_for(group, lambda g: g.verdict.total_lag > lag_then + 20, 20, "the lag to grow")


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_paused_consumer_is_not_ok_then_recovers(
    protocol: str,
    sandbox: SandboxState,
    watch: Callable[..., Watch],
    start_client: ClientFactory,
) -> None:
    """SIGSTOP freezes the consumer JVM (no fetch, no commit, no heartbeat) while the
    producer goes on: not OK. SIGCONT before the session times out: it catches up, commits,
    and is OK again, still the same member."""
    topic = fresh_topic(sandbox)
    group = f"paused-{protocol}-{token()}"
    start_client("producer", topic, rate=20)
    consumer = start_client("consumer", topic, group=group, protocol=protocol)
    # A stop_grace well inside the session timeout, so the frozen consumer reads STOP while
    # it is still a member (the default 60 s would outlast its membership).
    w = watch([group], LagConfig(intervals=10, stop_grace=10))
    ok = w.wait_for(
        group, lambda g: warmed_up(g) and g.status is Status.OK, 90, "OK past the cold start"
    )
    [member] = ok.members

    signal(sandbox, consumer, "STOP")
    stopped_at = time.time()
    bad = w.wait_for(group, lambda g: g.status is not Status.OK, 40, "a non-OK status")
    print(f"{protocol}: {bad.status.name} {time.time() - stopped_at:.1f} s after SIGSTOP")
    assert bad.verdict.partitions[0].status is Status.STOP
    assert bad.verdict.total_lag > 0

    signal(sandbox, consumer, "CONT")
    resumed_at = time.time()
    back = w.wait_status(group, [Status.OK], 30)
    print(f"{protocol}: OK {time.time() - resumed_at:.1f} s after SIGCONT")
    assert [m.member_id for m in back.members] == [member.member_id]


# ---------------------------------------------------------------------------------------
# WARN
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_consumer_slower_than_its_producer_is_warn(
    protocol: str,
    sandbox: SandboxState,
    watch: Callable[..., Watch],
    start_client: ClientFactory,
    paced: Callable[..., PacedConsumer],
) -> None:
    """A producer at 50 records/s and a consumer taking 2/s, committing every second: its
    offsets move, but its lag at commit never goes down across the window: WARN. (The
    ratio is wide on purpose: Burrow's WARN needs *every* step of the window to lose
    ground, and on a loaded machine a stalled producer or two polls close together can
    make a consumer only slightly slower look as if it gained for one step.)"""
    topic = fresh_topic(sandbox)
    group = f"slow-{protocol}-{token()}"
    start_client("producer", topic, rate=50)
    wait_records(sandbox, topic, 100)
    paced(sandbox.bootstrap, topic, group, 2, protocol)
    w = watch([group])
    g = w.wait_status(group, [Status.WARN], 60)
    [p] = g.verdict.partitions
    assert p.status is Status.WARN and p.current_lag > 0
    assert p.start is not None and p.end is not None and p.end.offset > p.start.offset
    assert p.end.lag > p.start.lag  # moving, but falling further behind
    # It stays WARN while nothing changes (not a blip of the cold start).
    start = w.wait_polls(5)
    later = w.history(group, start)
    assert statuses(later) == ["WARN"] * len(later)
    lag_then = g.verdict.total_lag
    print(f"{protocol}: statuses {statuses(w.history(group))}")
    assert later[-1].verdict.total_lag > lag_then


# ---------------------------------------------------------------------------------------
# REWIND
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_offsets_reset_to_earliest_then_consumed_is_rewind(
    protocol: str,
    sandbox: SandboxState,
    watch: Callable[..., Watch],
    start_client: ClientFactory,
    paced: Callable[..., PacedConsumer],
) -> None:
    """A consumer behind its producer stops (the group is then Empty), an operator resets
    the group to the earliest offsets with kafka-consumer-groups, and a consumer starts
    again: the window now holds an offset lower than its predecessor, with lag at every
    commit: REWIND (group ERR). Burrow only considers REWIND when no commit in the window
    was caught up, hence a consumer that stays behind (see the module docstring)."""
    topic = fresh_topic(sandbox)
    group = f"rewind-{protocol}-{token()}"
    start_client("producer", topic, rate=50)
    wait_records(sandbox, topic, 100)
    first = paced(sandbox.bootstrap, topic, group, 20, protocol)
    w = watch([group])
    w.wait_status(group, [Status.WARN], 60)  # behind at every commit
    first.close()
    empty = w.wait_for(group, lambda g: g.state is GroupState.EMPTY, 30, "the group to be Empty")
    left_at = empty.verdict.partitions[0].end
    assert left_at is not None and left_at.offset > 0
    out = reset_to_earliest(sandbox, group, topic)
    assert group in out and topic in out

    paced(sandbox.bootstrap, topic, group, 20, protocol)
    g = w.wait_for(
        group,
        lambda g: (
            g.verdict.partitions[0].status is Status.REWIND
            and 0 < (committed(g) or 0) < left_at.offset
        ),
        60,
        f"REWIND with the new consumer committing below {left_at.offset}",
    )
    [p] = g.verdict.partitions
    assert g.status is Status.ERR and p.current_lag > 0
    assert g.state is GroupState.STABLE and len(g.members) == 1
    # The consumer is behind where it was before the reset, and committing again.
    print(f"{protocol}: statuses {statuses(w.history(group))}")


# ---------------------------------------------------------------------------------------
# A restart resumes
# ---------------------------------------------------------------------------------------


def test_restart_resumes_the_windows(
    sandbox: SandboxState, start_client: ClientFactory, tmp_path: Path
) -> None:
    """Windows, lag tables and when each group was seen are in SQLite after every poll: a
    new monitor on the same store judges exactly as the old one did, and its next poll
    extends the window instead of starting a new one."""
    topic = fresh_topic(sandbox)
    group = f"restart-{token()}"
    start_client("producer", topic, rate=20)
    start_client("consumer", topic, group=group)
    path = tmp_path / "kafkascope.db"

    with KafkaAdmin(sandbox.bootstrap, timeout=10) as admin:
        db = Database(path)
        first = LagMonitor("sandbox", admin, LAG, db, SystemClock(), groups=[group])

        def three_commits() -> LagReport | None:
            report = first.poll()
            g = report.groups.get(group)
            # A group is listed before its first commit, with no partitions to judge yet.
            parts = g.verdict.partitions if g is not None else ()
            return report if parts and parts[0].fill >= 0.3 else None

        before = wait_until(three_commits, 60, f"{group}: three commits", interval=POLL)
        db.close()

        db = Database(path)
        try:
            second = LagMonitor("sandbox", admin, LAG, db, SystemClock(), groups=[group])
            assert second.load() == 1
            restored = second.report(now=before.taken_at).groups[group]
            old = before.groups[group]
            assert restored.status is old.status
            assert (restored.first_seen, restored.last_seen) == (old.first_seen, old.last_seen)
            assert restored.end_offsets == old.end_offsets
            for new_p, old_p in zip(
                restored.verdict.partitions, old.verdict.partitions, strict=True
            ):
                assert (new_p.start, new_p.end, new_p.current_lag, new_p.fill) == (
                    old_p.start,
                    old_p.end,
                    old_p.current_lag,
                    old_p.fill,
                )
                assert (new_p.owner, new_p.client_id) == (old_p.owner, old_p.client_id)

            def grown() -> GroupReport | None:
                g = second.poll().groups[group]
                return g if g.verdict.partitions[0].fill > old.verdict.partitions[0].fill else None

            resumed = wait_until(
                grown, 30, f"{group}: a fourth commit in the restored window", interval=POLL
            )
            assert resumed.verdict.partitions[0].start == old.verdict.partitions[0].start
            assert resumed.first_seen == old.first_seen
        finally:
            db.close()


# ---------------------------------------------------------------------------------------
# The CLI
# ---------------------------------------------------------------------------------------


SAMPLE = ("--sample", "3", "--interval", "1")


def test_cli_groups(sandbox: SandboxState) -> None:
    done = run_cli("groups", "--bootstrap", sandbox.bootstrap, *SAMPLE, "--json")
    assert done.returncode == 0, done.stderr
    assert "sampling" in done.stderr and "3 s" in done.stderr
    groups = {g["group"]: g for g in json.loads(done.stdout)["groups"]}
    auditor = groups["payments-auditor"]
    assert auditor["state"] == "STABLE" and auditor["type"] == "CLASSIC"
    assert auditor["members"] == 1 and auditor["partition_count"] == 3
    assert auditor["status"] in {"OK", "ERR"}  # 3 s may end inside the cold start
    assert auditor["total_lag"] >= 0 and auditor["lag_seconds"] is not None
    assert groups["audit-reader"]["status"] == "OK" and groups["audit-reader"]["total_lag"] == 0

    text = run_cli("groups", "--bootstrap", sandbox.bootstrap, "--sample", "0")
    assert text.returncode == 0, text.stderr
    header, *rows = text.stdout.splitlines()
    assert header.split() == [
        "GROUP",
        "STATE",
        "TYPE",
        "MEMBERS",
        "STATUS",
        "PARTITIONS",
        "LAG",
        "LAG",
        "TIME",
    ]
    [reader] = [r.split() for r in rows if r.startswith("audit-reader ")]
    assert reader[:6] == ["audit-reader", "STABLE", "CLASSIC", "1", "OK", "1"]
    assert "sampling" not in text.stderr  # --sample 0: one poll, judged at once


def test_cli_lag_of_a_group(sandbox: SandboxState, tmp_path: Path) -> None:
    config = tmp_path / "kafkascope.toml"
    config.write_text(
        f'[[clusters]]\nname = "sandbox"\nbootstrap = "{sandbox.bootstrap}"\n'
        '[clusters.client_properties]\n"client.rack" = "r1"\n'
    )
    done = run_cli("lag", "payments-auditor", "--config", str(config), *SAMPLE, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["cluster"] == "sandbox" and report["group"] == "payments-auditor"
    assert [p["partition"] for p in report["partitions"]] == [0, 1, 2]
    for p in report["partitions"]:
        assert p["topic"] == "payments" and p["status"] in {"OK", "STOP"}
        assert (p["client_id"], p["owner"]) == ("payments-auditor-1", "127.0.0.1")
        assert p["committed"] <= p["end_offset"] and p["lag"] == p["end_offset"] - p["committed"]
        assert p["lag_seconds"] is not None and p["lag_seconds"] >= 0
    assert [m["client_id"] for m in report["members"]] == ["payments-auditor-1"]

    text = run_cli(
        "lag", "audit-reader", "--config", str(config), "--cluster", "sandbox", "--sample", "0"
    )
    assert text.returncode == 0, text.stderr
    head, header, row = text.stdout.splitlines()
    assert head.startswith("group audit-reader: OK (STABLE, classic, 1 member;")
    assert header.split()[:5] == ["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"]
    cells = row.split()
    assert cells[0] == "audit" and cells[1] == "0" and cells[2] == cells[3]
    assert cells[4] == "0" and cells[6] == "OK" and cells[7] == "audit-reader-1@127.0.0.1"


def test_cli_unknown_group_is_notfound_at_once(sandbox: SandboxState) -> None:
    t0 = time.monotonic()
    done = run_cli("lag", f"no-such-{token()}", "--bootstrap", sandbox.bootstrap, "--json")
    assert done.returncode == 1
    assert time.monotonic() - t0 < 15  # no 20 s sample for a group that is not there
    assert json.loads(done.stdout)["status"] == "NOTFOUND"
    [line] = done.stderr.splitlines()
    assert "not found" in line and "NOTFOUND" in line and "kafkascope groups" in line


def test_cli_errors_are_one_line_and_exit_2(sandbox: SandboxState) -> None:
    dead = f"127.0.0.1:{procs.free_port()}"
    done = run_cli("groups", "--bootstrap", dead, "--timeout", "3")
    assert done.returncode == 2, done
    [line] = done.stderr.splitlines()
    assert line.startswith("kafkascope: error: ") and dead in line
    assert "cannot connect" in line and "Fix:" in line

    bad = run_cli("lag", "g", "--bootstrap", sandbox.bootstrap, "--property", "nonsense")
    assert bad.returncode == 2
    [line] = bad.stderr.splitlines()
    assert "--property" in line and "KEY=VALUE" in line

    both = run_cli("groups", "--bootstrap", sandbox.bootstrap, "--config", "x.toml")
    assert both.returncode == 2 and "either" in both.stderr

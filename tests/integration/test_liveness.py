"""Client liveness on the real sandbox (issue 5's "done when"): every verdict, for real.

A consumer with Kafka's default client id, found through the sandbox's ``file_sd`` file,
joined to its group and ALIVE; kill -9 → DEAD with the refused port as reason, and still
DEAD after the brokers drop it; SIGSTOP → UNRESPONSIVE, SIGCONT → ALIVE; processing blocked
(its stdout pipe full) → HUNG while its JVM answers JMX; a killed producer → DEAD and its
topic "producers silent"; the idle demo consumer ``audit-reader`` and a real idle producer
never read as failing; the ``clients`` CLI.

Each test builds its own :class:`ClientMonitor` (short JMX timeout, small thresholds where
the test says so) and polls it until the verdict appears, with a deadline.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer

from kafkascope.evaluate.liveness import Thresholds
from kafkascope.model import Liveness
from kafkascope.monitor.clients import ClientMonitor, ClientReport, ClientVerdictRow
from kafkascope.sandbox import cluster, jars, probe, procs
from kafkascope.sandbox.jvm import java_argv
from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.discovery import Discovery
from kafkascope.sources.jmx.collector import Backoff, JmxCollector
from kafkascope.sources.kafka.admin import KafkaAdmin
from tests.conftest import ClientFactory
from tests.support import wait_jmx, wait_until

pytestmark = pytest.mark.integration

FAILING = {Liveness.DEAD, Liveness.UNRESPONSIVE, Liveness.HUNG}
MonitorFactory = Callable[..., ClientMonitor]


# ------------------------------------------------------------------------------ helpers


@pytest.fixture
def monitor(sandbox: SandboxState) -> Iterator[MonitorFactory]:
    """Build monitors on the sandbox: discovery from its file_sd file (plus ``static``),
    a 2 s JMX bound, failed targets retried at every poll."""
    built: list[tuple[ClientMonitor, JmxCollector, KafkaAdmin]] = []

    def make(thresholds: Thresholds | None = None, static: tuple[str, ...] = ()) -> ClientMonitor:
        collector = JmxCollector(timeout=2.0, backoff=Backoff(base=0.2, cap=0.5))
        admin = KafkaAdmin(sandbox.bootstrap, timeout=10.0)
        discovery = Discovery(static=list(static), file_sd=Path(sandbox.dir) / "targets.json")
        mon = ClientMonitor("sandbox", collector, discovery, admin, thresholds or Thresholds())
        built.append((mon, collector, admin))
        return mon

    yield make
    for mon, collector, admin in built:
        mon.close()
        collector.close()
        admin.close()


def fresh_topic(sandbox: SandboxState, prefix: str) -> str:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    probe.create_topics(sandbox.bootstrap, {name: 1}, 3, time.monotonic() + 60)
    return name


def only(rows: list[ClientVerdictRow], what: str) -> ClientVerdictRow | None:
    assert len(rows) <= 1, f"{what}: {len(rows)} rows: {rows}"
    return rows[0] if rows else None


def wait_row(
    mon: ClientMonitor,
    pick: Callable[[ClientReport], ClientVerdictRow | None],
    ok: Callable[[ClientVerdictRow], bool],
    timeout: float,
    what: str,
) -> ClientVerdictRow:
    def check() -> ClientVerdictRow:
        row = pick(mon.poll())
        # An AssertionError is kept by wait_until as the "last" value it reports.
        assert row is not None, "no row yet"
        assert ok(row), f"{row.liveness.value}: {row.reason}"
        return row

    return wait_until(check, timeout, what)


def burst(bootstrap: str, topic: str, records: int = 300, size: int = 1000) -> None:
    """Enough bytes at once to fill a consumer's 64 KB stdout pipe in under a second."""
    p = Producer({"bootstrap.servers": bootstrap, "log_level": 2})
    for _ in range(records):
        p.produce(topic, value=b"x" * size)
    assert p.flush(30) == 0


# ------------------------------------------------------------------------------ consumers


def test_default_id_consumer_is_discovered_joined_alive_then_dead_when_killed(
    sandbox: SandboxState, start_client: ClientFactory, monitor: MonitorFactory
) -> None:
    """No client.id at all: Kafka names it consumer-<group>-<n>; the sandbox lists its JMX
    port in targets.json (file_sd); the monitor joins it with the member the brokers report
    by client id + host. kill -9 → DEAD (port refused), and it stays DEAD, never forgotten,
    after the brokers drop it from the group at the session timeout."""
    topic = fresh_topic(sandbox, "lv-default")
    group = f"lv-default-{uuid.uuid4().hex[:6]}"
    # No client_id; a 10 s session (default 45 s) so the brokers drop it sooner.
    p = start_client("consumer", topic, group=group, properties={"session.timeout.ms": "10000"})
    mon = monitor()

    def pick(r: ClientReport) -> ClientVerdictRow | None:
        return only(r.rows(target=p.jmx), "the consumer")

    alive = wait_row(
        mon,
        pick,
        lambda row: row.liveness is Liveness.ALIVE and row.member_id is not None,
        60,
        "the default-id consumer ALIVE and joined to its member",
    )
    assert alive.client_id.startswith(f"consumer-{group}-"), alive.client_id
    assert (alive.group, alive.host, alive.kind) == (group, "127.0.0.1", "consumer")
    assert mon.discovery.known[p.jmx].source == "file_sd"

    cluster.client_signal(Path(sandbox.dir), p.name, "KILL")
    dead = wait_row(mon, pick, lambda row: row.liveness is Liveness.DEAD, 30, "DEAD after kill")
    assert f"JMX {p.jmx} refused" in dead.reason, dead.reason
    assert dead.client_id == alive.client_id and dead.group == group
    # Session timeout (10 s): the brokers drop the member; the client stays known and DEAD.
    gone = wait_row(
        mon, pick, lambda row: row.member_id is None, 90, "the brokers to drop the member"
    )
    assert gone.liveness is Liveness.DEAD and "refused" in gone.reason, gone
    assert gone.group == group  # remembered from when it was a member


def test_frozen_jvm_is_unresponsive_then_alive_again(
    sandbox: SandboxState, start_client: ClientFactory, monitor: MonitorFactory
) -> None:
    """SIGSTOP freezes the whole JVM: its JMX port still accepts TCP (the kernel does) but
    nothing answers, so the read hits the 2 s bound → UNRESPONSIVE. SIGCONT → ALIVE (back
    within the session timeout, so the member never left)."""
    topic = fresh_topic(sandbox, "lv-frozen")
    group = f"lv-frozen-{uuid.uuid4().hex[:6]}"
    p = start_client("consumer", topic, group=group, client_id=f"{group}-1")
    mon = monitor()

    def pick(r: ClientReport) -> ClientVerdictRow | None:
        return only(r.rows(f"{group}-1"), "the consumer")

    wait_row(
        mon,
        pick,
        lambda row: row.liveness is Liveness.ALIVE and row.member_id is not None,
        60,
        "the consumer ALIVE and joined",
    )
    directory = Path(sandbox.dir)
    cluster.client_signal(directory, p.name, "STOP")
    try:
        frozen = wait_row(
            mon, pick, lambda row: row.liveness is Liveness.UNRESPONSIVE, 30, "UNRESPONSIVE"
        )
        assert f"JMX {p.jmx} connects but does not answer" in frozen.reason, frozen.reason
        assert frozen.group == group
    finally:
        cluster.client_signal(directory, p.name, "CONT")
    back = wait_row(mon, pick, lambda row: row.liveness is Liveness.ALIVE, 30, "ALIVE after CONT")
    assert back.member_id is not None


def test_blocked_processing_is_hung_while_jmx_answers(
    sandbox: SandboxState, start_client: ClientFactory, monitor: MonitorFactory
) -> None:
    """BLOCK pauses the process reading the consumer's stdout. A burst of 300 × 1 KB
    records fills the 64 KB pipe within a second; ConsoleConsumer then blocks in write()
    and stops calling poll(), while its JVM (and JMX) runs on. With a 5 s bound it reads
    HUNG about 6 s after the burst, with records waiting and the target answering."""
    topic = fresh_topic(sandbox, "lv-hung")
    group = f"lv-hung-{uuid.uuid4().hex[:6]}"
    p = start_client("consumer", topic, group=group, client_id=f"{group}-1")
    mon = monitor(Thresholds(hung_poll_seconds=5.0))

    def pick(r: ClientReport) -> ClientVerdictRow | None:
        return only(r.rows(f"{group}-1"), "the consumer")

    wait_row(
        mon,
        pick,
        lambda row: row.liveness is Liveness.ALIVE and row.member_id is not None,
        60,
        "the consumer ALIVE and joined",
    )
    # A first commit, so the brokers can say how many records wait (auto-commit, 5 s).
    burst(sandbox.bootstrap, topic, records=5, size=10)
    with KafkaAdmin(sandbox.bootstrap) as admin:
        wait_until(
            lambda: admin.committed_offsets([group]).get(group, {}).get((topic, 0)) == 5,
            30,
            "the consumer to commit its first records",
        )
    directory = Path(sandbox.dir)
    cluster.client_signal(directory, p.name, "BLOCK")
    try:
        blocked_at = time.time()
        burst(sandbox.bootstrap, topic)
        hung = wait_row(mon, pick, lambda row: row.liveness is Liveness.HUNG, 60, "HUNG")
        assert hung.reason.startswith("no poll for "), hung.reason
        assert "max.poll.interval.ms 300 s" in hung.reason
        assert "300 records waiting" in hung.reason
        assert "bound 5.0 s (configured)" in hung.reason
        # JMX answers: the target reads fine and the client's MBeans were just read.
        fresh = {f.target: f for f in mon.collector.freshness()}[p.jmx]
        assert not fresh.failing
        assert hung.last_seen is not None and hung.last_seen >= blocked_at
        assert hung.member_id is not None  # the group keeps it until max.poll.interval.ms
    finally:
        cluster.client_signal(directory, p.name, "UNBLOCK")
    wait_row(mon, pick, lambda row: row.liveness is Liveness.ALIVE, 60, "ALIVE after UNBLOCK")


# ------------------------------------------------------------------------------ producers


def test_killed_producer_is_dead_and_its_topic_silent(
    sandbox: SandboxState, start_client: ClientFactory, monitor: MonitorFactory
) -> None:
    """A producer writing its own topic at 20/s; kill -9 → DEAD through its JMX, and the
    topic's end offsets stop growing → "producers silent" (from the brokers alone)."""
    topic = fresh_topic(sandbox, "lv-silent")
    cid = f"lv-producer-{uuid.uuid4().hex[:6]}"
    p = start_client("producer", topic, client_id=cid, rate=20)
    mon = monitor(Thresholds(silent_after=6.0))

    def pick(r: ClientReport) -> ClientVerdictRow | None:
        return only(r.rows(cid), "the producer")

    steady: list[ClientReport] = []

    def sending() -> bool:
        r = mon.poll()
        row = pick(r)
        if row is not None and row.liveness is Liveness.ALIVE and "sending" in row.reason:
            assert topic not in r.silent_topics
            steady.append(r)
        return len(steady) >= 4  # several polls of growth: "steady production"

    wait_until(sending, 60, "the producer ALIVE and sending, seen over several polls")
    cluster.client_signal(Path(sandbox.dir), p.name, "KILL")
    dead = wait_row(mon, pick, lambda row: row.liveness is Liveness.DEAD, 30, "producer DEAD")
    assert f"JMX {p.jmx} refused" in dead.reason and dead.kind == "producer"
    report = wait_until(
        lambda: r if topic in (r := mon.poll()).silent_topics else None,
        30,
        f"topic {topic} flagged producers silent",
    )
    assert "after steady production" in report.silent_topics[topic]
    assert "orders" not in report.silent_topics  # the demo's producers still write


@pytest.fixture
def idle_producer(sandbox: SandboxState, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real Java producer with nothing to send: Kafka's ConsoleProducer reading a stdin
    pipe nobody writes to. (The sandbox's VerifiableProducer always sends.) Its JMX port is
    given to the monitor as a static target. Yields (JMX target, client id)."""
    port = procs.free_port()
    cid = f"lv-idle-producer-{uuid.uuid4().hex[:6]}"
    argv = java_argv(
        jars.java_bin(),
        sandbox.marker,
        jars.kafka_classpath(Path(sandbox.lib_dir)),
        "org.apache.kafka.tools.ConsoleProducer",
        [
            "--bootstrap-server",
            sandbox.bootstrap,
            "--topic",
            "audit",
            "--command-property",
            f"client.id={cid}",
        ],
        jmx_port=port,
        log_file=tmp_path / "idle-producer.log",
        heap="128m",
        client=True,
    )
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_jmx(f"127.0.0.1:{port}", 60)
        yield f"127.0.0.1:{port}", cid
    finally:
        proc.kill()
        proc.wait(timeout=30)
        assert proc.stdin is not None
        proc.stdin.close()


def test_idle_consumer_and_idle_producer_are_never_failing(
    sandbox: SandboxState, monitor: MonitorFactory, idle_producer: tuple[str, str]
) -> None:
    """audit-reader has read its 20 records and waits inside poll(), so its
    last-poll-seconds-ago grows without bound, far past the 5 s HUNG bound used here; the
    brokers say nothing waits for it, so it is ALIVE. The idle producer sends nothing for
    longer than the 5 s stuck bound with an empty buffer: IDLE. Neither reads as failing at
    any poll."""
    target, cid = idle_producer
    mon = monitor(Thresholds(hung_poll_seconds=5.0, producer_stuck_seconds=5.0), static=(target,))
    started = time.monotonic()
    seen: dict[str, ClientVerdictRow] = {}

    def settled() -> bool:
        r = mon.poll()
        for row in [*r.rows("audit-reader-1"), *r.rows(cid)]:
            assert row.liveness not in FAILING, row
            seen[row.client_id] = row
        producer = seen.get(cid)
        return (
            time.monotonic() - started > 8
            and producer is not None
            and producer.liveness is Liveness.IDLE
            and "audit-reader-1" in seen
        )

    wait_until(settled, 90, "the idle producer to read IDLE, polled for over 8 s")
    audit = seen["audit-reader-1"]
    assert audit.liveness is Liveness.ALIVE and audit.group == "audit-reader", audit
    assert "with nothing to consume" in audit.reason, audit.reason
    producer = seen[cid]
    assert producer.target == target and "nothing to send for" in producer.reason


# ------------------------------------------------------------------------------ CLI


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", "clients", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def test_clients_cli_lists_every_client_with_its_verdict(sandbox: SandboxState) -> None:
    config = str(Path(sandbox.dir) / "kafkascope.toml")
    res = cli("--config", config, "--sample", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert "sampling sandbox clients for 2 s (2 polls, every 2 s)" in res.stderr
    report = json.loads(res.stdout)
    rows = {r["client_id"]: r for r in report["clients"]}
    for cid, group in [
        ("orders-processor-1", "orders-processor"),
        ("orders-processor-2", "orders-processor"),
        ("payments-auditor-1", "payments-auditor"),
        ("audit-reader-1", "audit-reader"),
    ]:
        row = rows[cid]
        assert (row["liveness"], row["group"], row["kind"]) == ("ALIVE", group, "consumer"), row
        assert row["member_id"] and row["target"] == sandbox.find(cid).jmx
        assert row["last_seen"] is not None
    assert rows["orders-producer"]["liveness"] == "ALIVE"
    assert rows["orders-producer"]["reason"].startswith("sending")
    assert report["groups"]["orders-processor"]["members"] == 2

    text = cli("--config", config, "--sample", "0")
    assert text.returncode == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split()[:5] == ["VERDICT", "KIND", "CLIENT", "GROUP", "TARGET"]
    assert any(
        line.split()[:4] == ["ALIVE", "consumer", "orders-processor-1", "orders-processor"]
        for line in lines
    ), text.stdout
    assert "group orders-processor: 2 members" in text.stdout

    bad = cli("--config", config, "--cluster", "nope", "--sample", "0")
    assert bad.returncode == 2
    assert "no cluster named 'nope'" in bad.stderr and "Traceback" not in bad.stderr

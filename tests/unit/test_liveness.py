"""Liveness rules and the JMX ↔ membership join, as tables. Each case says why."""

from __future__ import annotations

import pytest

from kafkascope.evaluate.liveness import (
    ClientObservation,
    MemberObservation,
    Pairing,
    ProducerTrouble,
    TargetHealth,
    Thresholds,
    group_health,
    hung_poll_bound,
    join,
    judge_client,
    judge_member,
    judge_unclaimed,
    learned_member_count,
    left_group,
    producers_silent,
    unassigned_reason,
)
from kafkascope.model import Liveness
from kafkascope.monitor.clients import backlog_of, compress_append, error_word
from kafkascope.sources.jmx.collector import TargetFreshness

NOW = 1_800_000_000.0
TH = Thresholds(hung_poll_seconds=30, max_poll_interval=300, producer_stuck_seconds=30)
OK = TargetHealth("127.0.0.1:9401", last_attempt=NOW - 1, last_success=NOW - 1)


def consumer(**kw: object) -> ClientObservation:
    base: dict[str, object] = dict(
        target="127.0.0.1:9401",
        client_id="c1",
        kind="consumer",
        health=OK,
        metrics={"last-poll-seconds-ago": 0.4},
        first_seen=NOW - 600,
        last_seen=NOW - 1,
    )
    return ClientObservation(**(base | kw))  # type: ignore[arg-type]


def producer(**kw: object) -> ClientObservation:
    base: dict[str, object] = dict(
        target="127.0.0.1:9402",
        client_id="producer-1",
        kind="producer",
        health=OK,
        metrics={
            "record-send-rate": 40.0,
            "buffer-total-bytes": 33554432.0,
            "buffer-available-bytes": 33554432.0,
            "waiting-threads": 0.0,
        },
        send_total_since=NOW - 1,
        first_seen=NOW - 600,
        last_seen=NOW - 1,
    )
    return ClientObservation(**(base | kw))  # type: ignore[arg-type]


CASES = [
    # A consumer that polled under a second ago, on a target that answers: nothing wrong.
    ("consumer-polling", consumer(), Liveness.ALIVE, "polled 0.4 s ago"),
    # JMX refused: nothing listens on the port any more, the JVM is gone (kill -9).
    (
        "refused",
        consumer(health=TargetHealth("127.0.0.1:9401", NOW, NOW - 10, "refused", 3, NOW - 10)),
        Liveness.DEAD,
        "JMX 127.0.0.1:9401 refused 3 times since",
    ),
    # JMX connects but times out: the JVM exists but is frozen (SIGSTOP, GC death spiral).
    (
        "timeout",
        consumer(health=TargetHealth("127.0.0.1:9401", NOW, NOW - 10, "timeout", 2, NOW - 10)),
        Liveness.UNRESPONSIVE,
        "connects but does not answer (2 times",
    ),
    # A frozen JVM's last metrics said "polling", but they are stale: the target failure wins.
    (
        "timeout-beats-stale-metrics",
        consumer(
            health=TargetHealth("t:1", NOW, NOW - 10, "timeout", 1, NOW - 10),
            metrics={"last-poll-seconds-ago": 0.1},
            target="t:1",
        ),
        Liveness.UNRESPONSIVE,
        "does not answer",
    ),
    # The JVM answers but the consumer's MBeans are gone: the application closed the client.
    ("mbeans-vanished", consumer(present=False), Liveness.DEAD, "client MBeans gone"),
    # No client MBeans and never seen: a JVM listed (file_sd) whose consumer is still being
    # built has not gone anywhere, so not DEAD (that paged on every client start).
    (
        "mbeans-never-seen",
        consumer(present=False, last_seen=None, first_seen=None),
        Liveness.UNKNOWN,
        "no client MBeans yet (never seen",
    ),
    # Poll gap above the bound while JMX answers: processing is blocked (HUNG).
    (
        "no-poll",
        consumer(metrics={"last-poll-seconds-ago": 42.0}),
        Liveness.HUNG,
        "no poll for 42 s (max.poll.interval.ms 300 s)",
    ),
    # Exactly at the bound is still fine: the rule is "longer than".
    ("poll-at-bound", consumer(metrics={"last-poll-seconds-ago": 30.0}), Liveness.ALIVE, "polled"),
    # Kafka reports -1 before the first poll; that is not a hang.
    (
        "never-polled-yet",
        consumer(metrics={"last-poll-seconds-ago": -1.0}),
        Liveness.ALIVE,
        "metrics fresh",
    ),
    # A producer sending steadily.
    ("producer-sending", producer(), Liveness.ALIVE, "sending 40.0 records/s"),
    # No sends for a minute and an empty buffer: it has nothing to send (IDLE, not an alert).
    (
        "producer-idle",
        producer(
            send_total_since=NOW - 60,
            metrics={"buffer-total-bytes": 100.0, "buffer-available-bytes": 100.0},
        ),
        Liveness.IDLE,
        "nothing to send for 60 s",
    ),
    # No sends for a minute with 40 bytes queued: records wait and nothing moves (HUNG).
    (
        "producer-stuck",
        producer(
            send_total_since=NOW - 60,
            metrics={"buffer-total-bytes": 100.0, "buffer-available-bytes": 60.0},
        ),
        Liveness.HUNG,
        "40 bytes queued and nothing sent for 60 s",
    ),
    # Threads blocked on a full buffer are queued work even if the byte gauges lag behind.
    (
        "producer-waiting-threads",
        producer(send_total_since=NOW - 60, metrics={"waiting-threads": 2.0}),
        Liveness.HUNG,
        "nothing sent",
    ),
    # A short quiet spell is normal batching, below the stuck bound.
    ("producer-brief-quiet", producer(send_total_since=NOW - 10), Liveness.ALIVE, "sending"),
    # A dead producer is DEAD through its JMX, like a consumer.
    (
        "producer-dead",
        producer(health=TargetHealth("127.0.0.1:9402", NOW, NOW - 9, "refused", 1, NOW - 9)),
        Liveness.DEAD,
        "refused 1 time since",
    ),
]


@pytest.mark.parametrize(
    ("obs", "expected", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_judge_client(obs: ClientObservation, expected: Liveness, reason: str) -> None:
    v = judge_client(obs, NOW, TH)
    assert v.liveness is expected
    assert reason in v.reason


def member(
    client_id: str,
    host: str = "/127.0.0.1",
    group: str = "g",
    assignment: frozenset[tuple[str, int]] = frozenset(),
    mid: str = "m",
) -> MemberObservation:
    return MemberObservation(group, f"{mid}-{client_id}", client_id, host, assignment)


def test_join_by_client_id_and_host_not_by_group_id() -> None:
    # Default ids (consumer-<group>-<n>) joined with no convention: the broker's "/127.0.0.1"
    # and the target's "127.0.0.1" are the same host.
    c = consumer(client_id="consumer-orders-1")
    pairs, rest = join([member("consumer-orders-1")], [c])
    assert pairs[0].client is c and rest == []


def test_same_client_id_on_another_host_is_not_joined() -> None:
    # client ids are not unique across hosts: a namesake on 10.0.0.9 is a different consumer.
    pairs, rest = join([member("c1", host="/10.0.0.9")], [consumer()])
    assert pairs[0].client is None and len(rest) == 1


def test_duplicate_ids_on_one_host_are_split_by_assignment() -> None:
    # Two JVMs on one host both use client.id=c1 (different groups): the partitions each one
    # fetches (from JMX) match the assignment each member holds (from the brokers).
    a = consumer(target="127.0.0.1:1", assigned=frozenset({("orders", 0)}))
    b = consumer(target="127.0.0.1:2", assigned=frozenset({("payments", 0)}))
    m_pay = member("c1", group="pay", assignment=frozenset({("payments", 0)}))
    m_ord = member("c1", group="ord", assignment=frozenset({("orders", 0)}))
    pairs, _ = join([m_pay, m_ord], [a, b])
    assert pairs[0].client is b and pairs[1].client is a
    assert not pairs[0].ambiguous


def test_member_without_jmx_is_unknown_not_dead() -> None:
    # Membership alone proves the coordinator hears heartbeats; without JMX we cannot judge
    # polling, so the honest verdict is UNKNOWN.
    pairs, _ = join([member("c9")], [])
    v = judge_member(pairs[0], NOW, TH)
    assert v.liveness is Liveness.UNKNOWN and "no JMX endpoint known" in v.reason


def test_joined_member_takes_the_clients_verdict_with_group() -> None:
    pairs, _ = join(
        [member("c1", group="orders-processor")],
        [consumer(metrics={"last-poll-seconds-ago": 99.0})],
    )
    v = judge_member(pairs[0], NOW, TH)
    assert (v.liveness, v.group) == (Liveness.HUNG, "orders-processor")


@pytest.mark.parametrize(
    ("last_member_seen", "expected"),
    [
        # Still listed a moment ago: a rebalance in progress, not a departure.
        (NOW - 10, None),
        # Not listed for a minute, longer than a rebalance: it left or was evicted.
        (NOW - 60, Liveness.DEAD),
        # Never a member: nothing to say about leaving.
        (None, None),
    ],
    ids=["rebalancing", "left", "never-member"],
)
def test_left_group(last_member_seen: float | None, expected: Liveness | None) -> None:
    v = left_group(consumer(), "g", last_member_seen, NOW, TH)
    assert (v.liveness if v else None) is expected


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        # 2 members most of the time, a brief 1 during a restart: the usual count is 2.
        ([2, 2, 2, 1, 2, 2], 2),
        # Ties go to the larger count, so a shrunken group is noticed rather than accepted.
        ([1, 1, 2, 2], 2),
        # An empty group teaches nothing.
        ([0, 0], None),
    ],
    ids=["usual", "tie-larger", "empty"],
)
def test_learned_member_count(history: list[int], expected: int | None) -> None:
    assert learned_member_count(history) == expected


def test_group_health_flags_missing_members_unowned_partitions_and_storms() -> None:
    parts = [("orders", i) for i in range(6)]
    members = [member("a", assignment=frozenset(parts[:3]))]
    h = group_health(
        "g", members, parts, expected=2, rebalances_in_window=4, member_ids_seen_in_window=5
    )
    # One of two expected members; partitions 3-5 lost their owner; 4 rebalances and 4 member
    # ids that came and went in the window is a storm.
    assert h.unowned == (("orders", 3), ("orders", 4), ("orders", 5))
    assert h.storm and h.churn == 4
    assert "1 of 2 expected members present" in h.problems[0]
    healthy = group_health(
        "g",
        [member("a", assignment=frozenset(parts))],
        parts,
        expected=1,
        rebalances_in_window=0,
        member_ids_seen_in_window=1,
    )
    assert healthy.problems == ()


@pytest.mark.parametrize(
    ("history", "now", "silent"),
    [
        # Grew every 10 s, then flat for 130 s: producers have gone quiet.
        ([(0, 0), (10, 100), (20, 200), (30, 300), (40, 300)], 160, True),
        # Flat for only 60 s: inside the allowance.
        ([(0, 0), (10, 100), (20, 200), (30, 300), (40, 300)], 90, False),
        # Never grew (an idle topic like audit): silence is its normal state.
        ([(0, 20), (10, 20), (20, 20), (30, 20)], 500, False),
        # Still growing at the last point.
        ([(0, 0), (10, 100), (20, 200)], 25, False),
        # One point tells nothing.
        ([(0, 0)], 500, False),
    ],
    ids=["silent", "brief-pause", "always-idle", "growing", "one-point"],
)
def test_producers_silent(history: list[tuple[float, int]], now: float, silent: bool) -> None:
    assert (producers_silent(history, now, silent_after=120) is not None) is silent


# -- the adaptive HUNG bound -------------------------------------------------------------

ADAPTIVE = Thresholds(max_poll_interval=300)  # hung_poll_seconds unset: adapt per consumer


def polling(
    since: float, gap_ms: float | None = None, backlog: int | None = 100, **kw: object
) -> ClientObservation:
    metrics: dict[str, float] = {"last-poll-seconds-ago": since}
    if gap_ms is not None:
        metrics["time-between-poll-max"] = gap_ms
    return consumer(metrics=metrics, backlog=backlog, **kw)


BOUNDS = [
    # A configured bound wins over any history.
    ("configured", Thresholds(hung_poll_seconds=5), polling(0, 200), 5.0, "configured"),
    # Polls every 200 ms: 3 × 0.2 s is far below the 30 s floor, which absorbs GC pauses.
    ("fast-poller-floor", ADAPTIVE, polling(0, 200), 30.0, "3 × its longest recent poll gap"),
    # Usually 20 s between polls (slow batches): 3 × 20 s = 60 s.
    ("slow-batches", ADAPTIVE, polling(0, 20_000), 60.0, "longest recent poll gap 20 s"),
    # 2 minutes between polls: 3 × 120 s = 360 s, capped where Kafka evicts (300 s).
    ("batch-capped", ADAPTIVE, polling(0, 120_000), 300.0, "within 30 s..300 s"),
    # The remembered gap (the metric is NaN while no poll happens) is preferred.
    (
        "remembered-gap",
        ADAPTIVE,
        polling(0, None, poll_gap_max_ms=15_000.0),
        45.0,
        "longest recent poll gap 15 s",
    ),
    # No history at all: only Kafka's own limit is certain.
    ("no-history", ADAPTIVE, polling(0, None), 300.0, "no poll history yet"),
    # A smaller max.poll.interval.ms also caps the floor.
    ("small-max-poll", Thresholds(max_poll_interval=20), polling(0, 100), 20.0, "3 ×"),
]


@pytest.mark.parametrize(
    ("th", "obs", "bound", "why"), [c[1:] for c in BOUNDS], ids=[c[0] for c in BOUNDS]
)
def test_hung_poll_bound(th: Thresholds, obs: ClientObservation, bound: float, why: str) -> None:
    got, explained = hung_poll_bound(obs, th)
    assert got == pytest.approx(bound)
    assert why in explained


ADAPTIVE_CASES = [
    # Polls every 200 ms, then nothing for 42 s with records waiting: HUNG long before the
    # group would evict it at 300 s.
    (
        "fast-poller-stuck",
        polling(42, 200, backlog=1234),
        Liveness.HUNG,
        "no poll for 42 s (max.poll.interval.ms 300 s); 1,234 records waiting; bound 30 s",
    ),
    # A batch consumer that normally spends 2 minutes between polls, 150 s into a batch:
    # its normal rhythm, not a hang.
    ("batch-mid-batch", polling(150, 120_000, backlog=5000), Liveness.ALIVE, "polled 150 s ago"),
    # The same batch consumer past max.poll.interval.ms: HUNG (the group evicts it now).
    ("batch-past-eviction", polling(310, 120_000, backlog=5000), Liveness.HUNG, "no poll for"),
    # 20 s rhythm: 45 s without a poll is still inside 3 × 20 s.
    ("slow-batches-ok", polling(45, 20_000), Liveness.ALIVE, "polled 45 s ago"),
    # ... 61 s is not.
    ("slow-batches-stuck", polling(61, 20_000), Liveness.HUNG, "bound 60 s"),
    # Waiting inside a long poll() on an idle topic (ConsoleConsumer polls with
    # Long.MAX_VALUE): the gap grows without bound, but nothing waits for it.
    (
        "idle-in-long-poll",
        polling(500, None, backlog=0),
        Liveness.ALIVE,
        "waiting in poll() for 500 s with nothing to consume",
    ),
    # Idle in a long poll after a spell of fast polling (gap history 200 ms): still idle.
    ("idle-fast-history", polling(90, 200, backlog=0), Liveness.ALIVE, "nothing to consume"),
    # Past the bound and the brokers cannot say whether records wait (no commit yet):
    # flagged, and the reason says what is unknown.
    (
        "backlog-unknown",
        polling(42, 200, backlog=None),
        Liveness.HUNG,
        "no committed offsets to tell whether records wait",
    ),
    # No poll history: 120 s without a poll is within max.poll.interval.ms.
    ("no-history-ok", polling(120, None), Liveness.ALIVE, "polled 120 s ago"),
    # The same gaps, but this poll the brokers' offsets could not be read (a broker down):
    # an idle consumer in a long poll() and a hung one look alike without them, so the
    # poll gap alone is no verdict (seen: an idle demo consumer read HUNG, "no poll for
    # 334 s", the moment a broker stopped).
    (
        "offsets-unread-idle",
        polling(334, None, backlog=None, offsets_unread=True),
        Liveness.ALIVE,
        "polled 334 s ago",
    ),
    (
        "offsets-unread-fast",
        polling(42, 200, backlog=None, offsets_unread=True),
        Liveness.ALIVE,
        "",
    ),
    # A known backlog still decides, whatever else could not be read.
    (
        "offsets-unread-but-backlog",
        polling(42, 200, backlog=7, offsets_unread=True),
        Liveness.HUNG,
        "7 records waiting",
    ),
]


@pytest.mark.parametrize(
    ("obs", "expected", "reason"),
    [c[1:] for c in ADAPTIVE_CASES],
    ids=[c[0] for c in ADAPTIVE_CASES],
)
def test_adaptive_hung_rule(obs: ClientObservation, expected: Liveness, reason: str) -> None:
    v = judge_client(obs, NOW, ADAPTIVE)
    assert v.liveness is expected, v.reason
    assert reason in v.reason


def test_other_jmx_errors_are_unknown_with_their_text() -> None:
    # Wrong credentials say nothing about the client's health: UNKNOWN, with the error.
    h = TargetHealth("t:1", NOW, None, "auth", 2, NOW - 5, "JMX credentials rejected")
    v = judge_client(consumer(health=h, target="t:1"), NOW, TH)
    assert v.liveness is Liveness.UNKNOWN
    assert "unreadable: auth (2 times since" in v.reason and "credentials rejected" in v.reason


def test_quiet_producer_says_how_long_before_idle() -> None:
    # 10 s without a send, under the 30 s stuck bound: ALIVE, and the reason says so.
    quiet = producer(send_total_since=NOW - 10, metrics={"record-send-rate": 0.0})
    v = judge_client(quiet, NOW, TH)
    assert (v.liveness, v.reason) == (Liveness.ALIVE, "nothing sent for 10 s (IDLE after 30 s)")


# -- clients no member claims ------------------------------------------------------------

REFUSED = TargetHealth("127.0.0.1:9401", NOW, NOW - 60, "refused", 12, NOW - 60)

UNCLAIMED = [
    # Healthy per JMX, but missing from its group for a minute (> 45 s grace): it left or
    # was evicted.
    ("left", consumer(), "g", NOW - 60, Liveness.DEAD, "left group g 60 s ago"),
    # Missing for 10 s: a rebalance in progress; ALIVE, and the reason says where it is.
    ("rebalancing", consumer(), "g", NOW - 10, Liveness.ALIVE, "not in group g for 10 s"),
    # Hung long enough to be evicted: HUNG is the more useful word than "left".
    (
        "evicted-while-hung",
        consumer(metrics={"last-poll-seconds-ago": 400.0}, backlog=10),
        "g",
        NOW - 90,
        Liveness.HUNG,
        "no poll for 400 s",
    ),
    # Killed, and the brokers dropped it at the session timeout: still known, still DEAD,
    # with its group remembered.
    ("killed-dropped", consumer(health=REFUSED), "g", NOW - 50, Liveness.DEAD, "refused 12 times"),
    # A consumer using assign(): never a member, nothing to leave.
    ("assign-mode", consumer(), None, None, Liveness.ALIVE, "polled 0.4 s ago"),
    # Producers are never group members.
    ("producer", producer(), None, None, Liveness.ALIVE, "sending"),
]


@pytest.mark.parametrize(
    ("obs", "group", "seen", "expected", "reason"),
    [c[1:] for c in UNCLAIMED],
    ids=[c[0] for c in UNCLAIMED],
)
def test_judge_unclaimed(
    obs: ClientObservation,
    group: str | None,
    seen: float | None,
    expected: Liveness,
    reason: str,
) -> None:
    v = judge_unclaimed(obs, group, seen, NOW, TH)
    assert v.liveness is expected, v.reason
    assert reason in v.reason
    assert v.group == group and v.member_id is None


# -- the monitor's pure helpers ----------------------------------------------------------


@pytest.mark.parametrize(
    ("partitions", "committed", "ends", "expected"),
    [
        # 2 partitions, 5 and 0 records behind their end offsets.
        ([("t", 0), ("t", 1)], {("t", 0): 95, ("t", 1): 40}, {("t", 0): 100, ("t", 1): 40}, 5),
        # A commit beyond the end (transaction marker, truncation) is no negative backlog.
        ([("t", 0)], {("t", 0): 101}, {("t", 0): 100}, 0),
        # Never committed, and the log is empty: nothing waits.
        ([("t", 0)], {}, {("t", 0): 0}, 0),
        # Never committed, records in the log: it depends on auto.offset.reset, unknown.
        ([("t", 0)], {}, {("t", 0): 7}, None),
        # The group's commits could not be read: unknown.
        ([("t", 0)], None, {("t", 0): 7}, None),
        # No end offset for a partition: unknown.
        ([("t", 0)], {("t", 0): 1}, {}, None),
        # No partitions assigned: nothing to do.
        ([], {}, {}, 0),
    ],
    ids=[
        "behind",
        "commit-past-end",
        "empty-log",
        "no-commit",
        "no-commits-read",
        "no-end",
        "none",
    ],
)
def test_backlog_of(
    partitions: list[tuple[str, int]],
    committed: dict[tuple[str, int], int] | None,
    ends: dict[tuple[str, int], int],
    expected: int | None,
) -> None:
    assert backlog_of(partitions, committed, ends) == expected


def test_compress_append_keeps_ends_of_flat_stretches() -> None:
    history: list[tuple[float, int]] = []
    for t, v in [(0, 0), (1, 10), (2, 10), (3, 10), (4, 10), (5, 20)]:
        compress_append(history, t, v)
    # The flat stretch 1..4 is kept as its first and last point: producers_silent still
    # sees when it began.
    assert history == [(0, 0), (1, 10), (4, 10), (5, 20)]
    assert producers_silent([(0, 0), (1, 10), (2, 20), (3, 30), (4, 30)], 200, 120) is not None


@pytest.mark.parametrize(
    ("kind", "error", "failures", "word"),
    [
        # Nothing listens on the port: the JVM is gone.
        ("unreachable", "127.0.0.1:1: JMX connection refused: nothing listens", 3, "refused"),
        # Unreachable for another reason (unknown host, TLS): not proof of death.
        ("unreachable", "127.0.0.1:1: unknown host", 1, "unreachable"),
        # Connected, no answer: a frozen JVM.
        ("timeout", "did not answer within 5 s", 2, "timeout"),
        ("auth_failed", "credentials rejected", 1, "auth"),
        # The last read succeeded: no error word, whatever the last error was.
        ("timeout", "did not answer within 5 s", 0, None),
    ],
    ids=["refused", "unreachable", "timeout", "auth", "recovered"],
)
def test_error_word(kind: str, error: str, failures: int, word: str | None) -> None:
    f = TargetFreshness("127.0.0.1:1", "consumer", NOW, NOW, error, NOW, kind, failures, None)
    assert error_word(f) == word


# -- producers trying and failing (issue 12, item 2) ----------------------------------------

W = 300.0
FAILING_CASES = [
    # The fault run: a topic that does not exist. send() blocks for metadata, records
    # expire, the buffer is empty and nothing was sent for minutes. Before: IDLE.
    (
        "missing-topic",
        producer(
            send_total_since=NOW - 265,
            trouble=ProducerTrouble(W, errors=1, metadata_wait=58.0),
            metrics={"record-send-rate": 0.0},
        ),
        Liveness.FAILING,
        "1 record not sent in the last 300 s; send() blocked 58 s waiting for topic metadata; "
        "nothing sent for 265 s",
    ),
    # Still sending, but some records fail after their retries: failing, and the retries
    # are part of the evidence.
    (
        "partial",
        producer(trouble=ProducerTrouble(W, errors=12, retries=40)),
        Liveness.FAILING,
        "12 records not sent in the last 300 s; 40 retries",
    ),
    # A full buffer that made send() fail or block.
    (
        "buffer-full",
        producer(trouble=ProducerTrouble(W, buffer_exhausted=3)),
        Liveness.FAILING,
        "buffer full 3 times",
    ),
    # A few seconds of metadata wait (a new topic's first send, a leader move) is normal.
    (
        "short-metadata-wait",
        producer(trouble=ProducerTrouble(W, metadata_wait=0.2)),
        Liveness.ALIVE,
        "sending 40.0 records/s",
    ),
    # Retries alone, with every record delivered: the producer copes; not failing.
    ("retries-only", producer(trouble=ProducerTrouble(W, retries=5)), Liveness.ALIVE, "sending"),
    # Nothing wrong and nothing to send for a while: IDLE, as before.
    (
        "idle",
        producer(
            send_total_since=NOW - 100,
            trouble=ProducerTrouble(W),
            metrics={"record-send-rate": 0.0},
        ),
        Liveness.IDLE,
        "nothing to send for 100 s",
    ),
    # A refused JMX port outranks anything its last counters said.
    (
        "dead-wins",
        producer(health=REFUSED, trouble=ProducerTrouble(W, errors=5)),
        Liveness.DEAD,
        "refused",
    ),
]


@pytest.mark.parametrize(
    ("obs", "expected", "reason"), [c[1:] for c in FAILING_CASES], ids=[c[0] for c in FAILING_CASES]
)
def test_producer_failing(obs: ClientObservation, expected: Liveness, reason: str) -> None:
    v = judge_client(obs, NOW, TH)
    assert v.liveness is expected
    assert reason in v.reason


# -- members without partitions (issue 12, item 3) -------------------------------------------


def in_group(mid: str, *tps: tuple[str, int]) -> MemberObservation:
    return MemberObservation("g", mid, mid, "/127.0.0.1", frozenset(tps))


UNASSIGNED_CASES = [
    # The fault run: subscribed to a topic that does not exist, the only member, nothing
    # assigned. Before: ALIVE, "consumed up to their end".
    (
        "missing-topic",
        in_group("m1"),
        [in_group("m1")],
        "no partitions assigned: none of the 1 member of g has any (do the topics it "
        "subscribes to exist?)",
    ),
    # Three members for two partitions: the third is a spare, and that is what it is.
    (
        "spare",
        in_group("m3"),
        [in_group("m1", ("t", 0)), in_group("m2", ("t", 1)), in_group("m3")],
        "no partitions assigned: 2 other members of g own all 2 of its partitions (more "
        "members than partitions)",
    ),
    # A member with partitions has nothing to explain.
    ("assigned", in_group("m1", ("t", 0)), [in_group("m1", ("t", 0))], None),
]


@pytest.mark.parametrize(
    ("m", "members", "reason"),
    [c[1:] for c in UNASSIGNED_CASES],
    ids=[c[0] for c in UNASSIGNED_CASES],
)
def test_unassigned_reason(
    m: MemberObservation, members: list[MemberObservation], reason: str | None
) -> None:
    assert unassigned_reason(m, members) == reason


def test_a_healthy_member_without_partitions_is_idle_and_says_why() -> None:
    m = in_group("c1")
    why = unassigned_reason(m, [m])
    idle_consumer = consumer(metrics={"last-poll-seconds-ago": 400.0}, backlog=0)
    v = judge_member(Pairing(m, idle_consumer), NOW, TH, why)
    assert (v.liveness, v.reason) == (Liveness.IDLE, why)
    # A dead one stays DEAD: having no partitions explains nothing about a refused port.
    dead = judge_member(Pairing(m, consumer(health=REFUSED)), NOW, TH, why)
    assert dead.liveness is Liveness.DEAD
    # And the group says it too.
    assert any(
        "no partitions assigned" in p for p in group_health("g", [m], [], None, 0, 1).problems
    )

"""Per-client liveness: ALIVE, HUNG, UNRESPONSIVE, DEAD, IDLE or UNKNOWN, with a reason a
person on call can act on.

It joins two views that the field notes' author could only bridge with a naming convention
(``client.id == group.id``): the clients each JMX target exposes (found with
``client-id=*``) and the group members the brokers report (client id, host, assignment).
Client ids are not unique across hosts or groups, so the join uses client id AND host, and
breaks remaining ties with the partitions each side says the consumer owns.

Two Kafka facts shape the consumer rules (checked on Kafka 4.3.1 in the sandbox):

* ``last-poll-seconds-ago`` counts from the *start* of the last ``poll()`` call. A consumer
  blocked inside a long ``poll()`` on an idle topic (``ConsoleConsumer`` polls with
  ``Long.MAX_VALUE``) reads exactly like one whose application stopped calling ``poll()``.
  What tells them apart is whether records are waiting for it: the brokers' committed
  offsets against the end offsets (``ClientObservation.backlog``). No backlog, no hang.
* ``time-between-poll-max`` is windowed (about a minute): it reads NaN while a consumer
  makes no poll at all, so the caller remembers its recent maximum across reads
  (``ClientObservation.poll_gap_max_ms``).

Everything here is pure: observations and ``now`` in, verdicts out.

Size: over 650 lines because every verdict's rule sits beside the others it is ranked
against (JMX, telemetry pushes, producers, consumers, the member join); split, the order
of evidence in ``judge_client`` would be read across files.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from kafkascope.model import Liveness, TopicPartitionKey


@dataclass(frozen=True)
class TargetHealth:
    """How the last reads of one JMX target went. ``error`` is ``refused``, ``timeout``,
    ``auth`` or another short word (None while reads succeed); ``failures`` counts
    consecutive failed reads since ``failing_since``; ``detail`` is the last error's text."""

    target: str
    last_attempt: float | None = None
    last_success: float | None = None
    error: str | None = None
    failures: int = 0
    failing_since: float | None = None
    detail: str | None = None


@dataclass(frozen=True)
class ProducerTrouble:
    """What a producer's own counters say went wrong in the last ``window`` seconds:
    records that failed for good (``record-error-total``), retries (``record-retry-total``),
    time ``send()`` spent blocked waiting for topic metadata (``metadata-wait-time-ns-total``,
    in seconds) and sends that found the buffer full (``buffer-exhausted-total``)."""

    window: float
    errors: float = 0.0
    retries: float = 0.0
    metadata_wait: float = 0.0
    buffer_exhausted: float = 0.0


@dataclass(frozen=True)
class PushState:
    """A client's KIP-714 telemetry pushes: when the last arrived, the interval it pushes
    at, and whether that push said it was closing (``terminating``)."""

    last_push: float
    interval: float
    terminating: bool = False


@dataclass(frozen=True)
class ClientObservation:
    """One client seen through JMX (a target + client id), with the metrics liveness needs.

    ``present`` says whether its MBeans were there at the last successful read of its
    target; ``send_total_since`` is when the producer's ``record-send-total`` last changed.
    ``poll_gap_max_ms`` is the consumer's longest time between polls seen recently (the
    caller remembers it: the metric itself reads NaN when no poll happened in its window);
    None means "use ``time-between-poll-max`` from ``metrics``". ``backlog`` is the number
    of records waiting for this consumer in its assigned partitions per the brokers (end
    offsets minus committed offsets), None when unknown.
    """

    target: str
    client_id: str
    kind: str  # "consumer" | "producer"
    health: TargetHealth
    present: bool = True
    first_seen: float | None = None
    last_seen: float | None = None
    metrics: Mapping[str, float] = field(default_factory=dict)
    assigned: frozenset[TopicPartitionKey] = frozenset()
    send_total_since: float | None = None
    poll_gap_max_ms: float | None = None
    backlog: int | None = None
    #: The backlog is unknown because the brokers' offsets could not be read this poll (a
    #: broker down, the coordinator moving): that says nothing of the consumer.
    offsets_unread: bool = False
    trouble: ProducerTrouble | None = None
    #: Its telemetry pushes, when it pushes (None: JMX only).
    push: PushState | None = None
    #: Where it connects from, when its target is no address (a telemetry-only client).
    address: str | None = None
    #: How it is seen: ``jmx``, ``telemetry`` or ``jmx+telemetry``.
    source: str = "jmx"

    @property
    def host(self) -> str:
        if self.address is not None:
            return normalize_host(self.address)
        return normalize_host(self.target.rsplit(":", 1)[0])


@dataclass(frozen=True)
class MemberObservation:
    """A group member as the group coordinator describes it."""

    group: str
    member_id: str
    client_id: str
    host: str
    assignment: frozenset[TopicPartitionKey] = frozenset()


@dataclass(frozen=True)
class Thresholds:
    """When silence becomes a verdict.

    ``hung_poll_seconds``: a consumer with work waiting that has not polled for longer is
    HUNG; None (the default) adapts the bound to each consumer, see :func:`hung_poll_bound`.
    ``max_poll_interval`` is quoted in reasons (past it the group evicts the member) and caps
    the adaptive bound. ``producer_stuck_seconds`` is how long queued records may wait with
    nothing sent. ``dead_after_failures`` consecutive failed JMX reads make a verdict.
    ``left_group_grace`` is how long a consumer may be missing from its group (a rebalance)
    before it counts as gone. ``silent_after`` is how long a steadily written topic may stay
    flat before "producers silent". Rebalance storms are ``storm_threshold`` rebalances or
    member churn within ``storm_window`` seconds. A producer whose records failed within
    ``failing_window`` seconds (the ``producer_errors`` rule's default window, so the verdict
    and the alert speak of the same records), or whose ``send()`` spent more than
    ``metadata_wait_failing`` seconds of it waiting for metadata, is FAILING. A client DEAD
    for ``retire_after`` seconds is RETIRED."""

    hung_poll_seconds: float | None = None
    max_poll_interval: float = 300.0
    producer_stuck_seconds: float = 30.0
    dead_after_failures: int = 1
    left_group_grace: float = 45.0
    hung_poll_floor: float = 30.0
    hung_poll_factor: float = 3.0
    silent_after: float = 120.0
    storm_window: float = 300.0
    storm_threshold: int = 3
    failing_window: float = 300.0
    metadata_wait_failing: float = 10.0
    retire_after: float = 86400.0


@dataclass(frozen=True)
class Verdict:
    """One client's or member's liveness. ``group``/``member_id`` are set when joined."""

    liveness: Liveness
    reason: str
    client_id: str
    kind: str
    target: str | None = None
    group: str | None = None
    member_id: str | None = None
    host: str | None = None
    last_seen: float | None = None
    source: str = "jmx"


def normalize_host(host: str) -> str:
    """Brokers report member hosts as ``/127.0.0.1``; targets are ``127.0.0.1`` or names."""
    return host.strip().lstrip("/").strip("[]").lower()


def _clock(ts: float | None) -> str:
    if ts is None:
        return "?"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%H:%M:%S")


def _secs(x: float) -> str:
    return f"{x:.0f} s" if x >= 10 else f"{x:.1f} s"


# -- rules on one JMX client ---------------------------------------------------------------


def target_failure(obs: ClientObservation, th: Thresholds) -> Verdict | None:
    """The JVM itself: refused → DEAD; connected but silent → UNRESPONSIVE."""
    h = obs.health
    if h.error is None or h.failures < th.dead_after_failures:
        return None
    times = f"{h.failures} time{'s' if h.failures != 1 else ''} since {_clock(h.failing_since)}"
    if h.error == "timeout":
        return _verdict(
            obs, Liveness.UNRESPONSIVE, f"JMX {obs.target} connects but does not answer ({times})"
        )
    if h.error == "refused":
        return _verdict(obs, Liveness.DEAD, f"JMX {obs.target} refused {times}")
    detail = f": {h.detail}" if h.detail else ""
    return _verdict(
        obs, Liveness.UNKNOWN, f"JMX {obs.target} unreadable: {h.error} ({times}){detail}"
    )


def mbeans_vanished(obs: ClientObservation) -> Verdict | None:
    """The JVM answers but this client's MBeans are gone: the client was closed. A client
    never seen (a file_sd hint, a JVM whose client is still being built) has not gone
    anywhere: that is UNKNOWN, not DEAD, or every client start would page someone."""
    if obs.present:
        return None
    if obs.last_seen is None:
        return _verdict(
            obs,
            Liveness.UNKNOWN,
            f"JMX {obs.target} answers but shows no client MBeans yet (never seen: "
            "starting, or not a Kafka client)",
        )
    return _verdict(
        obs,
        Liveness.DEAD,
        f"client MBeans gone from JMX {obs.target} (last seen {_clock(obs.last_seen)})",
    )


def push_silence(obs: ClientObservation, now: float) -> Verdict | None:
    """A telemetry client's own pushes: a terminating push is a clean departure; no push
    for two intervals is DEAD (a client pushes every interval while it lives, so two
    missed pushes leave no doubt, and one late push is no alarm)."""
    p = obs.push
    if p is None:
        return None
    if p.terminating:
        return _verdict(
            obs,
            Liveness.DEPARTED,
            f"closed cleanly at {_clock(p.last_push)} (its last telemetry push said it "
            "was terminating)",
        )
    quiet = now - p.last_push
    if quiet > 2 * p.interval:
        return _verdict(
            obs,
            Liveness.DEAD,
            f"no telemetry push for {_secs(quiet)} (it pushes every {_secs(p.interval)}; "
            f"last at {_clock(p.last_push)})",
        )
    return None


def _recent_gap_ms(obs: ClientObservation) -> float | None:
    gap = obs.poll_gap_max_ms
    if gap is None:
        gap = obs.metrics.get("time-between-poll-max")
    if gap is None or not math.isfinite(gap) or gap < 0:
        return None
    return gap


def hung_poll_bound(obs: ClientObservation, th: Thresholds) -> tuple[float, str]:
    """How long this consumer may go without polling before it is HUNG, and why.

    A configured ``hung_poll_seconds`` wins. Otherwise the bound adapts to the consumer:
    ``clamp(3 × its recent time-between-poll-max, 30 s, max.poll.interval.ms)``. One fixed
    number cannot serve every consumer: a batch consumer that normally spends 2 minutes
    between polls must not read HUNG at 30 s, while one that polls many times a second and
    then stops for a minute is stuck long before the group evicts it at
    ``max.poll.interval.ms``. Three times its own longest recent gap leaves room for a slow
    batch; the 30 s floor absorbs GC pauses and slow commits; the ceiling is where Kafka
    itself gives up. With no poll history yet (a consumer seen only while blocked), the
    bound is ``max.poll.interval.ms``: without evidence of its rhythm, only Kafka's own
    limit is certain."""
    if th.hung_poll_seconds is not None:
        return th.hung_poll_seconds, "configured"
    gap_ms = _recent_gap_ms(obs)
    if gap_ms is None:
        return th.max_poll_interval, "no poll history yet: max.poll.interval.ms"
    bound = min(
        max(th.hung_poll_factor * gap_ms / 1000.0, th.hung_poll_floor), th.max_poll_interval
    )
    return bound, (
        f"{th.hung_poll_factor:g} × its longest recent poll gap {_secs(gap_ms / 1000.0)}, "
        f"within {_secs(th.hung_poll_floor)}..{_secs(th.max_poll_interval)}"
    )


def consumer_not_polling(obs: ClientObservation, th: Thresholds) -> Verdict | None:
    """A consumer whose application stopped calling poll() while records wait for it: the
    JVM is fine, the work is not. Past max.poll.interval.ms the group will evict it.

    With no backlog (the brokers say every assigned partition is consumed up to its end)
    a long gap is a consumer waiting inside poll() for records, not a hang."""
    since = obs.metrics.get("last-poll-seconds-ago")
    if since is None or since < 0:
        return None
    bound, why = hung_poll_bound(obs, th)
    if since <= bound or obs.backlog == 0:
        return None
    if obs.backlog is None and obs.offsets_unread:
        # An idle consumer blocked in poll() reads like a hung one; only the offsets tell
        # them apart, and this poll has none (seen: HUNG for an idle consumer the moment
        # a broker stopped). No verdict from this rule until they can be read again.
        return None
    waiting = (
        f"{obs.backlog:,} records waiting"
        if obs.backlog is not None
        else "no committed offsets to tell whether records wait"
    )
    return _verdict(
        obs,
        Liveness.HUNG,
        f"no poll for {_secs(since)} (max.poll.interval.ms {_secs(th.max_poll_interval)}); "
        f"{waiting}; bound {_secs(bound)} ({why})",
    )


def producer_failing(obs: ClientObservation, now: float, th: Thresholds) -> Verdict | None:
    """A producer that is trying to send and failing: records expired or were rejected, or
    ``send()`` sits blocked waiting for metadata of a topic the brokers do not have
    (``UNKNOWN_TOPIC_OR_PARTITION``), or finds its buffer full. Its JVM answers and its
    buffer may be empty, which is why such a producer used to read IDLE."""
    t = obs.trouble
    if t is None:
        return None
    failed = t.errors > 0 or t.metadata_wait > th.metadata_wait_failing or t.buffer_exhausted > 0
    if not failed:
        return None
    parts = []
    window = _secs(t.window)
    if t.errors > 0:
        n = round(t.errors)
        parts.append(f"{n:,} record{'s' if n != 1 else ''} not sent in the last {window}")
    if t.metadata_wait > 0:
        parts.append(f"send() blocked {_secs(t.metadata_wait)} waiting for topic metadata")
    if t.buffer_exhausted > 0:
        n = round(t.buffer_exhausted)
        parts.append(f"buffer full {n:,} time{'s' if n != 1 else ''}")
    if t.retries > 0:
        n = round(t.retries)
        parts.append(f"{n:,} retr{'ies' if n != 1 else 'y'}")
    if obs.send_total_since is not None and now - obs.send_total_since > th.producer_stuck_seconds:
        parts.append(f"nothing sent for {_secs(now - obs.send_total_since)}")
    return _verdict(obs, Liveness.FAILING, "; ".join(parts))


def producer_progress(obs: ClientObservation, now: float, th: Thresholds) -> Verdict | None:
    """A producer with records queued that sends nothing is HUNG; with an empty buffer it is
    merely IDLE (never an alert by itself)."""
    if obs.send_total_since is None:
        return None
    quiet = now - obs.send_total_since
    if quiet <= th.producer_stuck_seconds:
        return None
    total = obs.metrics.get("buffer-total-bytes")
    available = obs.metrics.get("buffer-available-bytes")
    queued = (total - available) if total is not None and available is not None else 0.0
    waiting = obs.metrics.get("waiting-threads", 0.0)
    if queued > 0 or waiting > 0:
        return _verdict(
            obs, Liveness.HUNG, f"{queued:.0f} bytes queued and nothing sent for {_secs(quiet)}"
        )
    return _verdict(obs, Liveness.IDLE, f"nothing to send for {_secs(quiet)}")


def _verdict(obs: ClientObservation, liveness: Liveness, reason: str) -> Verdict:
    return Verdict(
        liveness,
        reason,
        obs.client_id,
        obs.kind,
        target=obs.target,
        host=obs.host,
        last_seen=obs.last_seen,
        source=obs.source,
    )


def judge_client(obs: ClientObservation, now: float, th: Thresholds) -> Verdict:
    """The verdict for one JMX client, strongest evidence first."""
    found = [target_failure(obs, th), mbeans_vanished(obs), push_silence(obs, now)]
    if obs.kind == "consumer":
        found.append(consumer_not_polling(obs, th))
    else:
        found += [producer_failing(obs, now, th), producer_progress(obs, now, th)]
    for v in found:
        if v is not None:
            return v
    return _verdict(obs, Liveness.ALIVE, _alive_detail(obs, now, th))


def _alive_detail(obs: ClientObservation, now: float, th: Thresholds) -> str:
    detail = _metrics_detail(obs, now, th)
    p = obs.push
    if p is None or obs.source != "telemetry":
        return detail
    pushed = f"telemetry pushed {_secs(max(0.0, now - p.last_push))} ago, every {_secs(p.interval)}"
    return pushed if detail == "metrics fresh" else f"{detail}; {pushed}"


def _metrics_detail(obs: ClientObservation, now: float, th: Thresholds) -> str:
    if obs.kind == "consumer":
        since = obs.metrics.get("last-poll-seconds-ago")
        if since is None or since < 0:
            return "metrics fresh"
        if since > hung_poll_bound(obs, th)[0] and obs.backlog == 0:
            return (
                f"waiting in poll() for {_secs(since)} with nothing to consume "
                "(its partitions are consumed up to their end)"
            )
        return f"polled {_secs(since)} ago"
    rate = obs.metrics.get("record-send-rate")
    if rate:
        return f"sending {rate:.1f} records/s"
    if obs.send_total_since is not None and now > obs.send_total_since:
        quiet, idle_after = _secs(now - obs.send_total_since), _secs(th.producer_stuck_seconds)
        return f"nothing sent for {quiet} (IDLE after {idle_after})"
    return "metrics fresh"


# -- the join -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pairing:
    """A member and the JMX client that is the same consumer, or None when none is known."""

    member: MemberObservation
    client: ClientObservation | None
    ambiguous: bool = False


def join(
    members: Sequence[MemberObservation], clients: Sequence[ClientObservation]
) -> tuple[list[Pairing], list[ClientObservation]]:
    """Pair members with JMX consumers by client id and host, ties broken by assignment
    overlap. Returns the pairings and the JMX clients no member claimed."""
    consumers = [c for c in clients if c.kind == "consumer"]
    claimed: set[int] = set()
    pairings: list[Pairing] = []
    for m in members:
        host = normalize_host(m.host)
        candidates = [
            (i, c)
            for i, c in enumerate(consumers)
            if c.client_id == m.client_id and c.host == host and i not in claimed
        ]
        if not candidates:
            pairings.append(Pairing(m, None))
            continue
        if len(candidates) > 1 and m.assignment:
            best = max(len(c.assigned & m.assignment) for _, c in candidates)
            candidates = [(i, c) for i, c in candidates if len(c.assigned & m.assignment) == best]
        i, c = candidates[0]
        claimed.add(i)
        pairings.append(Pairing(m, c, ambiguous=len(candidates) > 1))
    unclaimed = [c for i, c in enumerate(consumers) if i not in claimed]
    unclaimed += [c for c in clients if c.kind != "consumer"]
    return pairings, unclaimed


def unassigned_reason(
    member: MemberObservation, group_members: Sequence[MemberObservation]
) -> str | None:
    """Why a member has no partitions, judged against its group (None when it has some).

    A member with nothing assigned cannot be "consumed up to the end": either no member
    of its group has anything (its subscribed topics do not exist, or have no partitions
    it may read), or the others own every partition (more members than partitions: a
    spare, healthy and idle)."""
    if member.assignment:
        return None
    owned = set().union(*(m.assignment for m in group_members))
    if not owned:
        n = len(group_members)
        return (
            f"no partitions assigned: none of the {n} member{'s' if n != 1 else ''} of "
            f"{member.group} has any (do the topics it subscribes to exist?)"
        )
    others = sum(1 for m in group_members if m.assignment)
    return (
        f"no partitions assigned: {others} other member{'s' if others != 1 else ''} of "
        f"{member.group} own all {len(owned)} of its partitions (more members than partitions)"
    )


def judge_member(p: Pairing, now: float, th: Thresholds, unassigned: str | None = None) -> Verdict:
    """A member's verdict: its JMX client's when joined, otherwise membership-only.

    ``unassigned`` (from :func:`unassigned_reason`) turns a healthy member with no
    partitions into IDLE, saying why, instead of ALIVE "consumed up to the end"."""
    m = p.member
    if p.client is None:
        return Verdict(
            Liveness.UNKNOWN,
            f"member of {m.group} on {normalize_host(m.host)}; no JMX endpoint known "
            "for this client (membership-only view)" + (f"; {unassigned}" if unassigned else ""),
            m.client_id,
            "consumer",
            group=m.group,
            member_id=m.member_id,
            host=normalize_host(m.host),
            source="membership",
        )
    v = judge_client(p.client, now, th)
    if unassigned is not None and v.liveness is Liveness.ALIVE:
        v = replace(v, liveness=Liveness.IDLE, reason=unassigned)
    reason = v.reason + (
        " (ambiguous join: several JVMs share this client id and host)" if p.ambiguous else ""
    )
    return Verdict(
        v.liveness,
        reason,
        m.client_id,
        "consumer",
        target=v.target,
        group=m.group,
        member_id=m.member_id,
        host=v.host,
        last_seen=v.last_seen,
        source=v.source,
    )


def left_group(
    obs: ClientObservation,
    group: str,
    last_member_seen: float | None,
    now: float,
    th: Thresholds,
) -> Verdict | None:
    """A consumer known to belong to ``group`` that the coordinator no longer lists, for
    longer than a rebalance takes, has left (or was evicted from) its group."""
    if last_member_seen is None or now - last_member_seen <= th.left_group_grace:
        return None
    v = _verdict(
        obs,
        Liveness.DEAD,
        f"left group {group} {_secs(now - last_member_seen)} ago "
        "(no longer a member per the group coordinator)",
    )
    return replace(v, group=group, member_id=None)


def judge_unclaimed(
    obs: ClientObservation,
    group: str | None,
    last_member_seen: float | None,
    now: float,
    th: Thresholds,
) -> Verdict:
    """A JMX client that no current group member claims (a producer, a consumer using
    ``assign()``, or a consumer that was a member of ``group`` until ``last_member_seen``).

    Its own evidence comes first: a refused, frozen, closed or hung client says so itself
    (an evicted hung consumer stays HUNG, the more useful word). A consumer that looks
    healthy but has been missing from its group for longer than a rebalance has left it."""
    v = judge_client(obs, now, th)
    if v.liveness is not Liveness.ALIVE or group is None or obs.kind != "consumer":
        return replace(v, group=group)
    left = left_group(obs, group, last_member_seen, now, th)
    if left is not None:
        return left
    if last_member_seen is not None:
        away = _secs(max(0.0, now - last_member_seen))
        return replace(v, group=group, reason=f"{v.reason}; not in group {group} for {away}")
    return replace(v, group=group)


# -- group and topic level -----------------------------------------------------------------


@dataclass(frozen=True)
class GroupHealth:
    group: str
    members: int
    expected: int | None
    unowned: tuple[TopicPartitionKey, ...]
    rebalances: int
    churn: int
    storm: bool
    problems: tuple[str, ...]


def learned_member_count(history: Iterable[int]) -> int | None:
    """The usual member count: the most common non-zero count seen (ties → larger)."""
    counts: dict[int, int] = {}
    for n in history:
        if n > 0:
            counts[n] = counts.get(n, 0) + 1
    if not counts:
        return None
    return max(counts, key=lambda n: (counts[n], n))


def group_health(
    group: str,
    members: Sequence[MemberObservation],
    partitions: Iterable[TopicPartitionKey],
    expected: int | None,
    rebalances_in_window: int,
    member_ids_seen_in_window: int,
    storm_threshold: int = 3,
) -> GroupHealth:
    """Members present vs expected, partitions nobody owns, and rebalance storms (JMX
    rebalance counts plus member ids that came and went, as the brokers saw them)."""
    owned = set().union(*(m.assignment for m in members)) if members else set()
    unowned = tuple(sorted(set(partitions) - owned)) if members else ()
    churn = max(0, member_ids_seen_in_window - len(members))
    storm = rebalances_in_window >= storm_threshold or churn >= storm_threshold
    problems: list[str] = []
    if expected is not None and len(members) < expected:
        problems.append(f"{len(members)} of {expected} expected members present")
    if members and not owned:
        problems.append(
            f"no partitions assigned to any of its {len(members)} members "
            "(do the topics they subscribe to exist?)"
        )
    if unowned:
        shown = ", ".join(f"{t}-{p}" for t, p in unowned[:5])
        more = f" and {len(unowned) - 5} more" if len(unowned) > 5 else ""
        problems.append(f"{len(unowned)} partitions have no owner ({shown}{more})")
    if storm:
        problems.append(
            f"rebalance storm: {rebalances_in_window} rebalances, {churn} members "
            "came and went in the window"
        )
    return GroupHealth(
        group, len(members), expected, unowned, rebalances_in_window, churn, storm, tuple(problems)
    )


def producers_silent(
    history: Sequence[tuple[float, int]],
    now: float,
    silent_after: float,
    steady_min_points: int = 3,
) -> str | None:
    """A topic whose end offsets grew steadily and then stopped for ``silent_after``
    seconds. ``history`` is (time, sum of end offsets) oldest first. An always-idle topic is
    never flagged: there must have been steady production before the silence."""
    if len(history) < 2:
        return None
    last_t, last_v = history[-1]
    flat_since = last_t
    for t, v in reversed(history[:-1]):
        if v != last_v:
            break
        flat_since = t
    if now - flat_since < silent_after:
        return None
    earlier = [pt for pt in history if pt[0] <= flat_since]
    growth = sum(1 for a, b in itertools.pairwise(earlier) if b[1] > a[1])
    if growth < steady_min_points - 1:
        return None
    return f"no records produced for {_secs(now - flat_since)} after steady production"

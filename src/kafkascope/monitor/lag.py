"""One cluster's consumer lag, polled: offsets in, Burrow verdicts out, windows kept.

One :meth:`LagMonitor.poll` is one round, with the I/O at its edges and every judgement
left to :mod:`kafkascope.evaluate.lag` and :mod:`kafkascope.evaluate.lag_time`:

1. list the groups (or take the ones asked for), then one offset snapshot: committed
   offsets *first*, end offsets second, so lag is never understated;
2. record what moved into the :class:`~kafkascope.evaluate.lag.WindowRecorder` (commits,
   end offsets) and the per-partition :class:`~kafkascope.evaluate.lag_time.LagTable`;
3. describe the groups: state, type, coordinator, members and who owns which partition;
4. judge every group at ``now`` = the snapshot's time;
5. lag in seconds: estimated from the lag table, and exact (the age of the record at the
   committed offset) for partitions that are behind, read in one bounded batch and cached
   per offset, so a stopped consumer's record is read once, not every poll;
6. persist what changed in one write transaction, so a restart resumes (:meth:`load`).

Burrow reads every commit from ``__consumer_offsets``; a poller sees only the committed
offset at each poll. What that changes, and what this module does about it:

* **A commit is a committed offset that moved**, or one that stood still on a partition a
  member owns while level with the log end of the last look (:func:`window_gains`). Re-commits of
  the same offset are invisible to a poller, and Burrow fills its windows from them: a
  live consumer re-commits every auto-commit interval, so a quiet partition gains a point
  with lag 0 every few seconds. Counting only moves, a partition's window filled only
  while records arrived in it, and producers using Kafka's sticky partitioner write one
  partition at a time: on the demo, windows gained one point per ~25 s at a 10 s poll
  (complete after ~7 minutes; Burrow ~95 s). A standing offset with records waiting is
  still no commit: a consumer that stopped and one that keeps committing the same offset
  look alike, and both are STOP here, never STALL. Recording those as commits would turn
  a dead consumer into STALL until the broker evicts it, and hide WARN (the lag would drop
  at every real commit). Telling "alive but stuck" from "gone" is the liveness
  evaluator's job, which sees the client's own metrics.
* **Lag at commit is measured against the previous poll's end offset.** The commit
  happened after that poll, so a consumer that was level with the log as of the last
  look committed with lag 0, which is what Burrow sees too (its end offsets are refreshed
  periodically, so they are older than the commits it judges). Measured against this
  poll's end instead, every commit of a healthy consumer on a busy topic would carry the
  records that arrived after it, and Burrow's "lag never reached zero" rules would fire on
  healthy groups. A partition seen for the first time has no previous end: it is measured
  against this poll's.
* **Cold start.** A partition's first observation is one commit; while it is behind and no
  second commit has been seen, Burrow's single-commit rule calls it STOP. That lasts one
  commit interval of a live consumer (5 s for Kafka's auto-commit), which the CLI's sample
  window and the alert rules' ``for`` durations cover, and persisted windows avoid after a
  restart.
* **Groups that lose their members stay visible** with their lag and status: a group the
  brokers no longer list (deleted) until it has had no members and no commit for
  ``expire_group_after``, then it is forgotten; a group the brokers still list is reported
  with ``expired=True`` after that long, so alerting can skip it without it vanishing from
  the listing the operator compares with ``kafka-consumer-groups.sh``.

Size: one concept, the poll round (observe, judge, persist, restore) over the memory it
keeps between polls; each step reads what the previous one recorded, so splitting it would
scatter one round and its shared state over several files.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Collection, Container, Iterable, Mapping, Sequence
from typing import Any, Protocol

from kafkascope.clock import Clock
from kafkascope.config import LagConfig
from kafkascope.evaluate.lag import (
    EndOffset,
    OffsetPoint,
    PartitionWindow,
    WindowRecorder,
    evaluate_group,
)
from kafkascope.evaluate.lag_time import DEFAULT_TABLE_LIMIT, LagTable, best_lag_seconds
from kafkascope.model import TopicPartitionKey
from kafkascope.monitor.lag_report import GroupReport, GroupSeen, LagReport
from kafkascope.sources.kafka.values import (
    GroupDescription,
    GroupListing,
    GroupMember,
    GroupState,
    GroupType,
    OffsetSnapshot,
)
from kafkascope.store.db import Database
from kafkascope.store.lag_windows import LagChanges, LagWindowStore, SavedLag

__all__ = [
    "GroupReport",
    "GroupSeen",
    "LagMonitor",
    "LagReport",
    "OffsetReader",
    "exact_positions",
    "group_expired",
    "last_activity",
    "note_group",
    "offset_moved",
    "partition_owners",
    "window_gains",
]

log = logging.getLogger(__name__)

#: ``(topic, partition, offset)``: one record position.
Position = tuple[str, int, int]

#: How long an exact-timestamp read that found nothing (timeout, offset off retention) is
#: remembered before it is tried again.
EXACT_RETRY_SECONDS = 60.0


class OffsetReader(Protocol):
    """What the monitor reads from a cluster: :class:`~kafkascope.sources.kafka.admin.
    KafkaAdmin` in production, recorded answers in unit tests."""

    def groups(self) -> list[GroupListing]: ...

    def snapshot(self, groups: Iterable[str] | None = None) -> OffsetSnapshot: ...

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]: ...

    def log_offsets(
        self, partitions: Iterable[TopicPartitionKey], spec: str = "latest"
    ) -> dict[TopicPartitionKey, int]: ...

    def record_timestamps(self, positions: Iterable[Position]) -> dict[Position, float | None]: ...


# ---------------------------------------------------------------------------------------
# Pure helpers: the monitor's own small decisions, each testable on plain values
# ---------------------------------------------------------------------------------------


def offset_moved(committed: Sequence[OffsetPoint], offset: int) -> bool:
    """Is ``offset`` a commit the window has not seen? (Any change counts, backwards too:
    a reset is exactly what REWIND must see.)"""
    return not committed or committed[-1].offset != offset


def window_gains(
    committed: Sequence[OffsetPoint],
    offset: int,
    end: int | None,
    *,
    owned: bool,
    allowed_lag: int = 0,
) -> bool:
    """Does this poll add a point to a partition's window?

    ``end`` is the end offset commits are measured against: the previous poll's (module
    docstring). Yes when the committed offset moved (:func:`offset_moved`). Also when it
    did not move but a member owns the partition and the offset is level with ``end``
    (within ``allowed_lag``): the consumer had nothing to do as of the last look, and a
    live one re-commits its offset every auto-commit interval, which Burrow records as a
    commit with lag 0. Without this point a quiet partition's window never fills:
    producers using Kafka's sticky partitioner write one partition at a time, so most
    partitions' offsets stand still at most polls. Never when records were already
    waiting at the last look (that would hide STOP) or when nobody owns the partition (an
    emptied group must still expire).
    """
    if offset_moved(committed, offset):
        return True
    return owned and end is not None and end - offset <= allowed_lag


def partition_owners(members: Iterable[GroupMember]) -> dict[TopicPartitionKey, GroupMember]:
    """The member owning each partition. A KIP-848 member still reconciling has no current
    assignment yet: its target assignment is what it is about to own."""
    owners: dict[TopicPartitionKey, GroupMember] = {}
    for m in members:
        assigned = m.assignment or m.target_assignment or ()
        for tp in assigned:
            owners.setdefault(tp, m)
    return owners


def note_group(prev: GroupSeen | None, now: float, *, present: bool, members: int) -> GroupSeen:
    """Fold one poll into when a group was seen. ``present``: listed by the brokers (or
    holding committed offsets) at this poll."""
    member_seen = now if members else None
    if prev is None:
        return GroupSeen(now, now, member_seen)
    return GroupSeen(
        prev.first_seen,
        now if present else prev.last_seen,
        member_seen if member_seen is not None else prev.last_member_seen,
    )


def last_activity(seen: GroupSeen, windows: Iterable[PartitionWindow]) -> float:
    """The last sign of life: a member seen, a commit that moved, or first sight (a group
    found already silent gets the full expiry period from then)."""
    latest = seen.first_seen
    if seen.last_member_seen is not None and seen.last_member_seen > latest:
        latest = seen.last_member_seen
    for w in windows:
        if w.committed and w.committed[-1].timestamp > latest:
            latest = w.committed[-1].timestamp
    return latest


def group_expired(
    seen: GroupSeen,
    windows: Iterable[PartitionWindow],
    members: int,
    now: float,
    expire_after: float,
) -> bool:
    """No members now, and no sign of life for longer than ``expire_after``."""
    return members == 0 and now - last_activity(seen, windows) > expire_after


def exact_positions(
    behind: Mapping[Position, int], known: Container[Position], limit: int
) -> list[Position]:
    """Which record timestamps to read this poll: positions of partitions that are behind
    (``position → lag``), not already ``known``, the biggest lags first, at most ``limit``."""
    wanted = [pos for pos, lag in behind.items() if lag > 0 and pos not in known]
    wanted.sort(key=lambda pos: (-behind[pos], pos))
    return wanted[:limit]


# ---------------------------------------------------------------------------------------
# Persistence: one JSON document per row (the rows are kafkascope.store.lag_windows')
# ---------------------------------------------------------------------------------------


def _window_data(committed: Sequence[OffsetPoint], owner: str | None, client: str | None) -> str:
    return json.dumps(
        {
            "committed": [[p.offset, p.timestamp, p.lag] for p in committed],
            "owner": owner,
            "client_id": client,
        }
    )


def _end_data(window: Sequence[EndOffset], table: LagTable | None) -> str:
    return json.dumps(
        {
            "window": [[o, ts] for o, ts in window],
            "table": table.to_dict() if table is not None else None,
        }
    )


# ---------------------------------------------------------------------------------------
# The monitor
# ---------------------------------------------------------------------------------------


class LagMonitor:
    """Consumer lag of one cluster, one :meth:`poll` at a time.

    ``admin`` is read from the calling thread; ``db`` (None: nothing is kept across
    restarts) is written once per poll. ``groups`` restricts the monitor to those groups
    (the CLI's ``lag GROUP``), otherwise every group the brokers list is followed.
    ``exact_limit`` bounds the record timestamps read per poll (0: estimates only).
    :meth:`report` may be called from other threads while a poll runs.
    """

    def __init__(
        self,
        cluster: str,
        admin: OffsetReader,
        lag: LagConfig,
        db: Database | None,
        clock: Clock,
        *,
        groups: Collection[str] | None = None,
        exact_limit: int = 100,
        table_limit: int = DEFAULT_TABLE_LIMIT,
    ) -> None:
        if exact_limit < 0:
            raise ValueError(f"exact_limit must be >= 0, got {exact_limit}")
        self.cluster = cluster
        self.config = lag
        self._admin = admin
        self._store = LagWindowStore(db, cluster) if db is not None else None
        self._clock = clock
        self._only = frozenset(groups) if groups is not None else None
        self._exact_limit = exact_limit
        self._table_limit = table_limit
        self._lock = threading.Lock()
        self._recorder = WindowRecorder(lag.intervals, lag.min_distance)
        self._tables: dict[TopicPartitionKey, LagTable] = {}
        self._seen: dict[str, GroupSeen] = {}
        self._present: set[str] = set()
        self._descs: dict[str, GroupDescription] = {}
        #: position → (record timestamp or None, when it was read)
        self._exact: dict[Position, tuple[float | None, float]] = {}
        self._taken_at: float | None = None
        #: Every seen group's windows as of the last poll: built once per poll (building
        #: them is the recorder's most expensive read) and shared by every step after it.
        self._windows: dict[str, tuple[PartitionWindow, ...]] = {}
        # What the store holds, to write only what changed.
        self._saved_windows: dict[
            tuple[str, TopicPartitionKey], tuple[Any, str | None, str | None]
        ] = {}
        self._saved_ends: dict[TopicPartitionKey, tuple[Any, Any]] = {}
        self._saved_seen: dict[str, GroupSeen] = {}
        self._forgotten_groups: set[str] = set()
        self._forgotten_topics: set[str] = set()

    def close(self) -> None:
        """Release the admin client this monitor was built with (idempotent)."""
        close = getattr(self._admin, "close", None)  # recorded answers hold nothing
        if callable(close):
            close()

    def __repr__(self) -> str:
        return f"LagMonitor({self.cluster!r}, {len(self._seen)} groups)"

    # -- the round ------------------------------------------------------------------------

    def poll(self, *, exact: bool = True) -> LagReport:
        """One round (see the module docstring); returns the verdicts at the snapshot's
        time. Raises the admin's :class:`~kafkascope.errors.SourceError` when the cluster
        cannot be read; the windows are then left as they were."""
        listed = None if self._only is not None else {g.group_id: g for g in self._admin.groups()}
        with self._lock:
            ids = self._group_ids(listed)
        snap = self._admin.snapshot(ids)
        descs = self._admin.describe_groups(ids)
        with self._lock:
            missing = self._unpolled(snap, descs)
        extra = self._admin.log_offsets(missing) if missing else {}
        with self._lock:
            self._observe(snap, descs, listed, extra)
            wanted = self._exact_wanted(snap.taken_at) if exact and self._exact_limit else []
        stamps = self._admin.record_timestamps(wanted) if wanted else {}
        with self._lock:
            for pos in wanted:
                self._exact[pos] = (stamps.get(pos), snap.taken_at)
            report = self._evaluate(snap.taken_at)
            changes = self._changes(snap.taken_at)
        if self._store is not None:
            self._store.save(changes)
        return report

    def report(self, now: float | None = None) -> LagReport:
        """The verdicts from what is held now, without reading the cluster. ``now``
        defaults to the last poll's time (the offsets are as of then)."""
        with self._lock:
            at = now if now is not None else self._taken_at
            return self._evaluate(at if at is not None else self._clock.now())

    def _group_ids(self, listed: Mapping[str, GroupListing] | None) -> list[str]:
        if self._only is not None:
            return sorted(self._only)
        return sorted(set(listed or ()) | set(self._seen))

    def _unpolled(
        self, snap: OffsetSnapshot, descs: Mapping[str, GroupDescription]
    ) -> list[TopicPartitionKey]:
        """Partitions the snapshot did not read an end offset for but the report shows: of
        groups kept after the brokers forgot them, and assigned but never committed."""
        needed: set[TopicPartitionKey] = set()
        for windows in self._windows.values():
            for w in windows:
                needed.add((w.topic, w.partition))
        for d in descs.values():
            needed.update(partition_owners(d.members))
        return sorted(needed - set(snap.end_offsets) - set(snap.partition_errors))

    def _observe(
        self,
        snap: OffsetSnapshot,
        descs: Mapping[str, GroupDescription],
        listed: Mapping[str, GroupListing] | None,
        extra_ends: Mapping[TopicPartitionKey, int],
    ) -> None:
        now = snap.taken_at
        self._taken_at = now
        rec = self._recorder
        # 1. Commits that moved, and owned partitions level with the log end (a live
        #    consumer's re-commit), against the previous poll's end (module docstring).
        first_sight: list[tuple[str, TopicPartitionKey, int]] = []
        allowed = self.config.allowed_lag
        ends_now = snap.end_offsets
        added = 0
        for group, offsets in snap.committed.items():
            last = {(w.topic, w.partition): w.committed for w in self._windows.get(group, ())}
            d = descs.get(group)
            owned = partition_owners(d.members) if d is not None and d.error is None else {}
            for tp, offset in offsets.items():
                seen = rec.end_offsets(*tp)
                if not window_gains(
                    last.get(tp, ()),
                    offset,
                    seen[-1][0] if seen else ends_now.get(tp),
                    owned=tp in owned,
                    allowed_lag=allowed,
                ):
                    continue
                added += 1
                if rec.end_offsets(*tp):
                    rec.record_commit(group, tp[0], tp[1], offset, now)
                else:
                    first_sight.append((group, tp, offset))
        log.debug(
            "%s: %d window points added for %d committed partitions",
            self.cluster,
            added,
            sum(len(o) for o in snap.committed.values()),
        )
        # 2. This poll's end offsets, into the windows and the lag tables.
        for tp, end in {**extra_ends, **snap.end_offsets}.items():
            rec.record_end_offset(tp[0], tp[1], end, now)
            table = self._tables.get(tp)
            if table is None:
                table = self._tables[tp] = LagTable(self._table_limit)
            elif table.latest_offset is not None and end < table.latest_offset:
                table.clear()  # the log restarted (topic re-created): the history is void
            table.add(end, now)
        # 3. Partitions seen for the first time: against this poll's end.
        for group, tp, offset in first_sight:
            rec.record_commit(group, tp[0], tp[1], offset, now)
        for tp, reason in snap.partition_errors.items():
            if reason.startswith("UNKNOWN_TOPIC") and (rec.end_offsets(*tp) or tp in self._tables):
                log.info("topic %s is gone (%s): forgetting its lag history", tp[0], reason)
                rec.forget_topic(tp[0])
                self._tables = {k: v for k, v in self._tables.items() if k[0] != tp[0]}
                self._forgotten_topics.add(tp[0])
        # 4. Members and owners; when each group was seen.
        recorded = set(rec.groups())
        for group, d in descs.items():
            committed = snap.committed.get(group)
            if listed is not None:
                present = group in listed or bool(committed)
            else:
                present = d.exists or bool(committed)
            if not present and group not in self._seen:
                continue  # never seen: NOTFOUND if asked for
            if d.error is None:
                self._descs[group] = d
                if d.members or group in recorded:
                    rec.clear_owners(group)
                    for (topic, partition), m in partition_owners(d.members).items():
                        rec.set_owner(group, topic, partition, m.host, m.client_id)
            members = len(self._descs[group].members) if group in self._descs else 0
            self._seen[group] = note_group(
                self._seen.get(group), now, present=present, members=members
            )
            if present:
                self._present.add(group)
            else:
                self._present.discard(group)
        # 5. Forget groups the brokers no longer list once they have expired.
        for group in list(self._seen):
            if group in self._present:
                continue
            if self._expired(group, now):
                log.info("group %s expired: forgetting it", group)
                rec.forget_group(group)
                del self._seen[group]
                self._descs.pop(group, None)
                self._forgotten_groups.add(group)
        self._forgotten_groups -= set(self._seen)
        self._windows = {group: rec.windows(group) or () for group in self._seen}

    def _expired(self, group: str, now: float) -> bool:
        d = self._descs.get(group)
        return group_expired(
            self._seen[group],
            self._recorder.windows(group) or (),
            len(d.members) if d is not None else 0,
            now,
            self.config.expire_group_after,
        )

    def _visible(self) -> list[str]:
        groups = sorted(self._seen)
        if self._only is not None:
            groups = [g for g in groups if g in self._only]
        return groups

    def _exact_wanted(self, now: float) -> list[Position]:
        """Positions whose record timestamp to read now; forgets positions no longer
        wanted and lets failed reads be retried after a while."""
        behind: dict[Position, int] = {}
        for group in self._visible():
            for w in self._windows.get(group, ()):
                if w.committed:
                    pos = (w.topic, w.partition, w.committed[-1].offset)
                    lag = w.current_end - pos[2]
                    if lag > behind.get(pos, 0):
                        behind[pos] = lag
        self._exact = {
            pos: (stamp, read_at)
            for pos, (stamp, read_at) in self._exact.items()
            if pos in behind and (stamp is not None or now - read_at < EXACT_RETRY_SECONDS)
        }
        return exact_positions(behind, self._exact, self._exact_limit)

    # -- judging ----------------------------------------------------------------------------

    def _evaluate(self, now: float) -> LagReport:
        cfg = self.config
        out: dict[str, GroupReport] = {}
        for group in self._visible():
            windows = self._windows.get(group, ())
            seconds: dict[TopicPartitionKey, float | None] = {}
            ends: dict[TopicPartitionKey, int] = {}
            for w in windows:
                tp = (w.topic, w.partition)
                if w.end_offsets:
                    ends[tp] = w.current_end
                if not w.committed:
                    continue
                committed = w.committed[-1].offset
                if w.current_end <= committed:
                    seconds[tp] = 0.0
                    continue
                cached = self._exact.get((w.topic, w.partition, committed))
                seconds[tp] = best_lag_seconds(
                    self._tables.get(tp) or (), committed, now, cached[0] if cached else None
                )
            verdict = evaluate_group(
                group,
                windows,
                now,
                allowed_lag=cfg.allowed_lag,
                minimum_complete=cfg.minimum_complete,
                lag_seconds=seconds,
                stop_grace=cfg.stop_grace,
            )
            d = self._descs.get(group)
            members = d.members if d is not None else ()
            seen = self._seen[group]
            out[group] = GroupReport(
                group=group,
                state=d.state if d is not None else GroupState.UNKNOWN,
                type=d.type if d is not None else GroupType.UNKNOWN,
                coordinator=d.coordinator_id if d is not None else None,
                verdict=verdict,
                lag_seconds=verdict.lag_seconds,
                members=members,
                first_seen=seen.first_seen,
                last_seen=seen.last_seen,
                last_member_seen=seen.last_member_seen,
                expired=group_expired(seen, windows, len(members), now, cfg.expire_group_after),
                end_offsets=ends,
                windows=windows,
            )
        return LagReport(self.cluster, now, out)

    # -- persistence ------------------------------------------------------------------------

    def _changes(self, now: float) -> LagChanges:
        """Rows that differ from what the store holds (committed windows are immutable
        tuples, so an unchanged one is the very same object)."""
        changes = LagChanges()
        if self._store is None:
            self._forgotten_groups.clear()
            self._forgotten_topics.clear()
            return changes
        live_windows: set[tuple[str, TopicPartitionKey]] = set()
        for group, windows in self._windows.items():
            for w in windows:
                key = (group, (w.topic, w.partition))
                live_windows.add(key)
                saved = self._saved_windows.get(key)
                if (
                    saved is None
                    or saved[0] is not w.committed
                    or saved[1:] != (w.owner, w.client_id)
                ):
                    self._saved_windows[key] = (w.committed, w.owner, w.client_id)
                    changes.windows.append(
                        (
                            group,
                            w.topic,
                            w.partition,
                            _window_data(w.committed, w.owner, w.client_id),
                            now,
                        )
                    )
        for tp, table in self._tables.items():
            window = self._recorder.end_offsets(*tp)
            saved_end = self._saved_ends.get(tp)
            if saved_end is None or saved_end[0] is not window or saved_end[1] is not table.points:
                self._saved_ends[tp] = (window, table.points)
                changes.ends.append((tp[0], tp[1], _end_data(window, table), now))
        for group, seen in self._seen.items():
            if self._saved_seen.get(group) != seen:
                self._saved_seen[group] = seen
                changes.seen.append((group, seen.first_seen, seen.last_seen, seen.last_member_seen))
        changes.forget_groups = sorted(self._forgotten_groups)
        changes.forget_topics = sorted(self._forgotten_topics)
        self._forgotten_groups.clear()
        self._forgotten_topics.clear()
        for key in set(self._saved_windows) - live_windows:
            del self._saved_windows[key]
        for group in set(self._saved_seen) - set(self._seen):
            del self._saved_seen[group]
        for tp in set(self._saved_ends) - set(self._tables):
            del self._saved_ends[tp]
        return changes

    def load(self) -> int:
        """Restore the windows, lag tables and groups of this cluster from the store (a
        restart resumes where it left off); returns how many groups were restored. Rows
        that cannot be read are skipped with a warning: they refill within ``intervals``
        polls."""
        if self._store is None:
            return 0
        saved = self._store.load()
        with self._lock:
            self._restore(saved)
            return len(self._seen)

    def _restore(self, saved: SavedLag) -> None:
        end_entries: list[dict[str, Any]] = []
        tables: dict[TopicPartitionKey, LagTable] = {}
        for topic, partition, data in saved.ends:
            try:
                doc = json.loads(data)
                points = [[int(o), float(ts)] for o, ts in doc["window"]]
                if doc.get("table") is not None:
                    tables[(topic, partition)] = LagTable.from_dict(doc["table"])
            except (ValueError, TypeError, KeyError) as e:
                log.warning(
                    "saved end offsets of %s[%d] unreadable (%s): skipped", topic, partition, e
                )
                continue
            end_entries.append({"topic": topic, "partition": partition, "points": points})
        groups: dict[str, list[dict[str, Any]]] = {}
        for group, topic, partition, data in saved.windows:
            try:
                doc = json.loads(data)
                committed = [[int(o), float(ts), int(lag)] for o, ts, lag in doc["committed"]]
            except (ValueError, TypeError, KeyError) as e:
                log.warning(
                    "saved window of %s %s[%d] unreadable (%s): skipped", group, topic, partition, e
                )
                continue
            groups.setdefault(group, []).append(
                {
                    "topic": topic,
                    "partition": partition,
                    "owner": doc.get("owner"),
                    "client_id": doc.get("client_id"),
                    "committed": committed,
                }
            )
        blank = WindowRecorder(self.config.intervals, self.config.min_distance).to_dict()
        state = {
            **blank,
            "end_offsets": end_entries,
            "groups": [{"group": g, "partitions": parts} for g, parts in groups.items()],
        }
        try:
            recorder = WindowRecorder.from_dict(state)
        except ValueError as e:
            log.warning("saved lag windows of %s unreadable (%s): starting empty", self.cluster, e)
            return
        seen = {
            group: GroupSeen(float(first), float(last), None if member is None else float(member))
            for group, first, last, member in saved.seen
        }
        for group in recorder.groups():
            if group not in seen:  # a window without its groups_seen row: date it by its data
                stamps = [
                    w.committed[0].timestamp for w in recorder.windows(group) or () if w.committed
                ]
                first = min(stamps, default=self._clock.now())
                seen[group] = GroupSeen(first, first, None)
        self._recorder = recorder
        self._tables = tables
        self._seen = seen
        # Until the first poll says otherwise, a restored group counts as still listed.
        self._present = set(seen)
        self._saved_windows = {
            (g, (w.topic, w.partition)): (w.committed, w.owner, w.client_id)
            for g in recorder.groups()
            for w in recorder.windows(g) or ()
        }
        self._saved_ends = {
            tp: (recorder.end_offsets(*tp), table.points) for tp, table in tables.items()
        }
        self._saved_seen = dict(seen)
        self._windows = {group: recorder.windows(group) or () for group in seen}

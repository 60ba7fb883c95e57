"""Reports → the JSON the REST API documents. Pure functions over the live snapshot."""

from __future__ import annotations

from typing import Any

from kafkascope.monitor.brokers import BrokerRow, TopicRow
from kafkascope.monitor.clients import ClientReport
from kafkascope.monitor.lag import GroupReport
from kafkascope.monitor.live import ClusterLive


def broker_json(b: BrokerRow) -> dict[str, Any]:
    return {
        "id": b.id,
        "host": b.host,
        "port": b.port,
        "up": b.up,
        "controller": b.controller,
        "jmx": {
            "target": b.jmx.target,
            "reachable": b.jmx.reachable,
            "last_success": b.jmx.last_success,
            "error": b.jmx.error,
        },
        "metrics": b.metrics,
    }


def topic_json(t: TopicRow, detail: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": t.name,
        "internal": t.internal,
        "partition_count": len(t.partitions),
        "replication_factor": t.replication_factor,
        "min_insync_replicas": t.min_insync_replicas,
        "under_replicated": t.under_replicated,
        "offline": t.offline,
        "produce_rate": t.produce_rate,
        "end_offset": t.end_offset_sum,
    }
    if detail:
        out["partitions"] = [
            {
                "partition": p.partition,
                "leader": p.leader,
                "replicas": list(p.replicas),
                "isr": list(p.isr),
                "under_replicated": p.under_replicated,
                "under_min_isr": p.under_min_isr,
                "offline": p.offline,
                "start_offset": p.start_offset,
                "end_offset": p.end_offset,
            }
            for p in t.partitions
        ]
    return out


def group_json(g: GroupReport, clients: ClientReport | None, detail: bool) -> dict[str, Any]:
    """The group as the API documents it: its status (Burrow's verdict, at least WARN with
    a member in trouble), why (``reason``: the partition and rule, the members), current
    lag, and each member's liveness joined in from the client monitor (by member id)."""
    d = g.to_dict()
    out: dict[str, Any] = {
        k: d[k]
        for k in (
            "group",
            "state",
            "type",
            "status",
            "lag_status",
            "reason",
            "worst",
            "complete",
            "partition_count",
            "total_lag",
            "lag_seconds",
            "expired",
            "first_seen",
            "last_seen",
            "last_member_seen",
        )
    }
    out["max_lag"] = d["max_lag"]
    verdicts = clients.by_member if clients is not None else {}
    members = []
    for m in d["members"]:
        v = verdicts.get(m["member_id"])
        members.append(
            {
                "member_id": m["member_id"],
                "client_id": m["client_id"],
                "host": m["host"],
                "liveness": v.liveness.value if v else "UNKNOWN",
                "reason": v.reason if v else "no liveness verdict yet",
                "target": v.target if v else None,
                "assignment": m["assignment"],
            }
        )
    out["members"] = members
    problems = g.problems  # members DEAD, UNRESPONSIVE or HUNG (they make the group WARN)
    health = clients.groups.get(g.group) if clients is not None else None
    if health is not None:
        problems += health.problems
    if problems or health is not None:
        out["problems"] = problems
    if detail:
        out["partitions"] = [
            {
                "topic": p["topic"],
                "partition": p["partition"],
                "status": p["status"],
                "committed": p["committed"],
                "end": p["end_offset"],
                "lag": p["lag"],
                "lag_seconds": p["lag_seconds"],
                "owner": p["owner"],
                "client_id": p["client_id"],
                "complete": p["complete"],
                "fill": p["fill"],
            }
            for p in d["partitions"]
        ]
    return out


def client_rows(live: ClusterLive) -> list[dict[str, Any]]:
    if live.clients is None:
        return []
    return [
        {
            "client_id": r.client_id,
            "kind": r.kind,
            "group": r.group,
            "target": r.target,
            "host": r.host,
            "member_id": r.member_id,
            "liveness": r.liveness.value,
            "reason": r.reason,
            "last_seen": r.last_seen,
            "first_seen": r.first_seen,
            "identity": r.identity,
            "source": r.source,
            "client_instance_id": r.client_instance_id,
            "software": r.software,
        }
        for r in live.clients.clients
    ]


def cluster_summary(live: ClusterLive) -> dict[str, Any]:
    b = live.brokers
    groups = live.lag.groups.values() if live.lag else []
    return {
        "name": live.name,
        "cluster_id": b.cluster_id if b else None,
        "brokers": len(b.brokers) if b else None,
        "brokers_up": sum(x.up for x in b.brokers) if b else None,
        "controller": next((x.id for x in b.brokers if x.controller), None) if b else None,
        "topics": len(b.topics) if b else None,
        "under_replicated_partitions": sum(t.under_replicated for t in b.topics) if b else None,
        "offline_partitions": sum(t.offline for t in b.topics) if b else None,
        "groups": len(list(groups)),
        "groups_not_ok": sum(
            1
            for g in (live.lag.groups.values() if live.lag else [])
            if g.status.name not in ("OK",)
        ),
        "clients_failing": sum(
            1 for r in (live.clients.clients if live.clients else []) if r.failing
        ),
        "updated": {
            "brokers": b.taken_at if b else None,
            "lag": live.lag.taken_at if live.lag else None,
            "clients": live.clients.taken_at if live.clients else None,
        },
        "errors": dict(live.errors),
    }

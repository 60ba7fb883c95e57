"""Burrow's v3 shapes from kafkascope's reports (issue 14, "Burrow's HTTP API").

The mapping is pure, so each answer is pinned here as a full example response built from
real report objects (windows judged by the real evaluator), with why each figure is what
Burrow would give. The sources of the shapes, in linkedin/Burrow:
``core/protocol/evaluator.go`` (``ConsumerGroupStatus``, ``PartitionStatus``, status
names), ``core/protocol/storage.go`` (``ConsumerPartition``, ``ConsumerOffset``),
``core/internal/evaluator/caching.go`` (the ``/status`` filter, the NOTFOUND answer, group
``complete``), ``core/internal/storage/inmemory.go`` (the ring read-out, topic offsets)
and ``core/internal/httpserver/{structs,kafka,coordinator}.go`` (envelope, messages).

The access rule's branches are tables too; tests/e2e/test_burrow_api.py runs the same
endpoints through a real HTTP server and a real ``kafkascope serve``.
"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kafkascope.api.burrow import (
    HOST,
    basic_password,
    burrow_access,
    cluster_module,
    consumer_topics,
    envelope,
    group_status,
    is_burrow_path,
    known_groups,
    loopback_request,
    request_info,
    topic_offsets,
)
from kafkascope.api.guard import Access, Tokens
from kafkascope.config import Config
from kafkascope.evaluate.lag import OffsetPoint, PartitionWindow, evaluate_group
from kafkascope.model import Liveness
from kafkascope.monitor.brokers import BrokerReport, PartitionRow, TopicRow
from kafkascope.monitor.lag_report import GroupReport, LagReport, MemberProblem
from kafkascope.monitor.live import ClusterLive, LiveState
from kafkascope.sources.kafka.values import GroupMember, GroupState, GroupType

T = 1_700_000_000.0
NOW = T + 600
MS = 1_700_000_600_000  # NOW in milliseconds: Burrow's times are integer ms


def window(
    topic: str, partition: int, commits: list[tuple[int, float, int]], end: int, client: str
) -> PartitionWindow:
    """``commits`` as (offset, seconds before NOW, lag at commit), oldest first."""
    points = tuple(OffsetPoint(o, NOW - ago, lag) for o, ago, lag in commits)
    return PartitionWindow(topic, partition, points, ((end, NOW),), end, "127.0.0.1", client)


#: orders-0: caught up (2 commits, lag 0 now). orders-1: 3 commits 10 s apart with lag,
#: then 48 s of silence while the log end moved to 700: STOP (silence 48 s > the 20 s the
#: window spans, and no end offset within reach of the last commit). payments-0: owned,
#: no commit seen yet.
WINDOWS = (
    window("orders", 0, [(1000, 120, 0), (2000, 10, 0)], 2000, "orders-1"),
    window("orders", 1, [(0, 68, 5), (100, 58, 5), (200, 48, 5)], 700, "orders-2"),
    window("payments", 0, [], 40, "payments-1"),
)
SECONDS = {("orders", 0): 0.0, ("orders", 1): 48.0}


def report(
    name: str, windows: tuple[PartitionWindow, ...], problems: tuple[MemberProblem, ...] = ()
) -> GroupReport:
    verdict = evaluate_group(name, windows, NOW, lag_seconds=SECONDS)
    return GroupReport(
        group=name,
        state=GroupState.STABLE,
        type=GroupType.CLASSIC,
        coordinator=1,
        verdict=verdict,
        lag_seconds=verdict.lag_seconds,
        members=(GroupMember("m-1", "orders-1", "127.0.0.1", (("orders", 0),)),),
        first_seen=T,
        last_seen=NOW,
        last_member_seen=NOW,
        expired=False,
        end_offsets={(w.topic, w.partition): w.current_end for w in windows if w.end_offsets},
        member_problems=problems,
        windows=windows,
    )


DEAD = MemberProblem("orders-2", Liveness.DEAD, "JMX refused 3 times", "m-2", "127.0.0.1:4242")
STOPPED = report("billing", WINDOWS)
#: Burrow's rules find nothing wrong (orders-0 only), but a member is DEAD.
HEALTHY_WITH_DEAD_MEMBER = report("audit", WINDOWS[:1], (DEAD,))
#: Listed by the brokers, no commit yet: Burrow has never heard of it.
NO_COMMITS = report("fresh", ())


def partition_row(p: int, end: int | None) -> PartitionRow:
    return PartitionRow(p, 1, (1, 2, 3), (1, 2, 3), False, False, False, 0, end)


BROKERS = BrokerReport(
    "prod",
    NOW,
    "cid",
    (),
    (
        TopicRow("orders", False, 3, 2, tuple(partition_row(p, 2000 + p) for p in range(3)), 1.0),
        TopicRow("payments", False, 3, 2, (partition_row(0, None),), None),
        TopicRow("__consumer_offsets", True, 3, 2, (partition_row(0, 7),), None),
    ),
)
LAG = LagReport(
    "prod",
    NOW,
    {g.group: g for g in (STOPPED, HEALTHY_WITH_DEAD_MEMBER, NO_COMMITS)},
)


def example_live() -> LiveState:
    """The cluster ``prod`` with the three groups and three topics above."""
    return LiveState(clusters={"prod": ClusterLive("prod", brokers=BROKERS, lag=LAG)})


def offset(o: int, ago: int, lag: int) -> dict[str, int]:
    at = MS - ago * 1000
    return {"offset": o, "timestamp": at, "observedAt": at, "lag": lag}


#: orders-1 as Burrow's PartitionStatus: STOP; start/end the oldest and newest commits;
#: current lag 700 - 200 = 500; complete 3/10 (three of the ten slots filled); the owner
#: with Java's leading "/" as the broker stores it; plus kafkascope's lag_seconds.
ORDERS_1 = {
    "topic": "orders",
    "partition": 1,
    "owner": "/127.0.0.1",
    "client_id": "orders-2",
    "status": "STOP",
    "start": offset(0, 68, 5),
    "end": offset(200, 48, 5),
    "current_lag": 500,
    "complete": 0.3,
    "lag_seconds": 48.0,
}
#: orders-0: OK (caught up now), 2 of 10 slots.
ORDERS_0 = {
    "topic": "orders",
    "partition": 0,
    "owner": "/127.0.0.1",
    "client_id": "orders-1",
    "status": "OK",
    "start": offset(1000, 120, 0),
    "end": offset(2000, 10, 0),
    "current_lag": 0,
    "complete": 0.2,
    "lag_seconds": 0.0,
}
#: payments-0: no commit, so no start or end (null pointers in Burrow), OK, complete 0.
PAYMENTS_0 = {
    "topic": "payments",
    "partition": 0,
    "owner": "/127.0.0.1",
    "client_id": "payments-1",
    "status": "OK",
    "start": None,
    "end": None,
    "current_lag": 0,
    "complete": 0.0,
    "lag_seconds": None,
}


def test_lag_lists_every_partition_and_status_only_those_worse_than_ok() -> None:
    """``/lag`` is Burrow's ShowAll: every partition. Group status ERR (a STOP partition
    counts as ERR at group level); complete 0 (no partition's window is full: Burrow counts
    a partition only at complete == 1); partition_count 3; maxlag orders-1 (most current
    lag); totallag 500. Then kafkascope's additions."""
    lag = group_status("prod", "billing", STOPPED, show_all=True)
    additions = {"lag_seconds", "kafkascope_status", "reason", "worst", "member_problems"}
    assert {k: v for k, v in lag.items() if k not in additions} == {
        "cluster": "prod",
        "group": "billing",
        "status": "ERR",
        "complete": 0.0,
        "partitions": [ORDERS_0, ORDERS_1, PAYMENTS_0],
        "partition_count": 3,
        "maxlag": ORDERS_1,
        "totallag": 500,
    }
    assert lag["lag_seconds"] == 48.0
    assert lag["kafkascope_status"] == "ERR"
    assert lag["worst"] == "orders-1" and lag["reason"] == STOPPED.reason
    assert lag["reason"].startswith("orders-1: ") and "(rule: stopped)" in lag["reason"]
    assert lag["member_problems"] == []
    # /status: Burrow's filter keeps partitions whose status is above OK, and nothing else
    # changes (partition_count, maxlag and totallag still cover the whole group).
    status = group_status("prod", "billing", STOPPED, show_all=False)
    assert status == {**lag, "partitions": [ORDERS_1]}


def test_member_verdicts_are_added_fields_and_never_change_burrows_status() -> None:
    """The offsets say OK; a member is DEAD. ``status`` stays Burrow's (OK, so /status lists
    no partition); ``kafkascope_status`` is the group's status with its members (WARN,
    as /api/v1 reports it), and the member and why are in ``member_problems`` and ``reason``."""
    body = group_status("prod", "audit", HEALTHY_WITH_DEAD_MEMBER, show_all=False)
    assert body == {
        "cluster": "prod",
        "group": "audit",
        "status": "OK",
        "complete": 0.0,
        "partitions": [],
        "partition_count": 1,
        "maxlag": ORDERS_0,
        "totallag": 0,
        "lag_seconds": 0.0,
        "kafkascope_status": "WARN",
        "reason": "member orders-2 (JMX 127.0.0.1:4242) is DEAD: JMX refused 3 times",
        "worst": None,
        "member_problems": [
            {
                "client_id": "orders-2",
                "member_id": "m-2",
                "target": "127.0.0.1:4242",
                "host": None,
                "liveness": "DEAD",
                "reason": "JMX refused 3 times",
            }
        ],
    }


@pytest.mark.parametrize("g", [None, NO_COMMITS], ids=["never-seen", "no-commits"])
def test_a_group_burrow_would_not_know_is_notfound_with_burrows_fixed_figures(
    g: GroupReport | None,
) -> None:
    """caching.go answers an unknown group with NOTFOUND, complete 1, no partitions, no
    maxlag and no lag (partition_count 0); a group with no commit is unknown to Burrow
    (its storage learns a group from its first commit). The HTTP answer is then 404 with
    ``error: false`` (tested through HTTP in tests/e2e)."""
    body = group_status("prod", "fresh", g, show_all=True)
    assert {k: body[k] for k in list(body)[:8]} == {
        "cluster": "prod",
        "group": "fresh",
        "status": "NOTFOUND",
        "complete": 1.0,
        "partitions": [],
        "partition_count": 0,
        "maxlag": None,
        "totallag": 0,
    }
    assert body["kafkascope_status"] == "NOTFOUND" and body["worst"] is None


def test_consumer_detail_is_burrows_ring_per_partition_index() -> None:
    """storage.go's ConsumerTopics: topic -> list indexed by partition id. A partition with
    a window reads out its ring: ``intervals`` (10) slots, the empty ones first (the ring's
    read pointer is the next slot to write), then the commits oldest first. orders has 3
    partitions in the metadata and no commit on orders-2: Burrow lists it with empty
    offsets, no owner, lag 0. The hyphen in ``current-lag`` is Burrow's."""
    topics = consumer_topics(STOPPED, {"orders": 3, "payments": 1})
    assert topics == {
        "orders": [
            {
                "offsets": [None] * 8 + [offset(1000, 120, 0), offset(2000, 10, 0)],
                "owner": "/127.0.0.1",
                "client_id": "orders-1",
                "current-lag": 0,
                "lag_seconds": 0.0,
            },
            {
                "offsets": [None] * 7 + [offset(0, 68, 5), offset(100, 58, 5), offset(200, 48, 5)],
                "owner": "/127.0.0.1",
                "client_id": "orders-2",
                "current-lag": 500,
                "lag_seconds": 48.0,
            },
            {"offsets": [], "owner": "", "client_id": "", "current-lag": 0},
        ],
        "payments": [
            {
                "offsets": [None] * 10,
                "owner": "/127.0.0.1",
                "client_id": "payments-1",
                "current-lag": 0,
                "lag_seconds": None,
            }
        ],
    }
    # Without the metadata's count, the list reaches the highest partition seen.
    assert len(consumer_topics(STOPPED, {})["orders"]) == 2


def test_lists_topic_offsets_and_the_groups_burrow_knows() -> None:
    """Consumers: those with at least one partition window (``fresh`` has none). Topic
    offsets: each partition's log end in partition order; payments-0's end is missing from
    the metadata poll, so the lag poll's (40) stands in; an unknown topic is None (404)."""
    assert known_groups(LAG) == ["audit", "billing"]
    assert known_groups(None) == []
    assert topic_offsets(BROKERS, LAG, "orders") == [2000, 2001, 2002]
    assert topic_offsets(BROKERS, LAG, "payments") == [40]
    assert topic_offsets(BROKERS, None, "payments") == []  # Burrow skips an unknown offset
    assert topic_offsets(BROKERS, LAG, "nope") is None
    assert topic_offsets(None, LAG, "orders") is None


def test_envelope_and_request_info() -> None:
    """structs.go: error, message, payload, request{url, host}; Burrow 0.x's cluster,
    group and topic are kept as added strings ("" when the path has none)."""
    info = request_info("/v3/kafka/prod/consumer", cluster="prod")
    body = envelope("consumer list returned", info, consumers=["a"])
    assert list(body) == ["error", "message", "consumers", "request"]
    assert body == {
        "error": False,
        "message": "consumer list returned",
        "consumers": ["a"],
        "request": {
            "url": "/v3/kafka/prod/consumer",
            "host": HOST,
            "cluster": "prod",
            "group": "",
            "topic": "",
        },
    }


def test_cluster_module_from_the_config_shows_no_secret() -> None:
    """kafka.go's cluster detail is the cluster module's configuration: class name,
    servers, client profile (TLS and SASL without secrets), refresh intervals in seconds."""
    config = Config.model_validate(
        {
            "clusters": [
                {
                    "name": "prod",
                    "bootstrap": "k1:9093,k2:9093",
                    "admin_interval": "15s",
                    "client_properties": {
                        "security.protocol": "SASL_SSL",
                        "sasl.username": "monitor",
                        "sasl.password": "hunter2",
                        "ssl.ca.location": "/etc/ca.pem",
                    },
                }
            ]
        }
    )
    module = cluster_module(config, "prod")
    assert module == {
        "class-name": "kafka",
        "servers": ["k1:9093", "k2:9093"],
        "client-profile": {
            "name": "kafkascope",
            "client-id": "kafkascope",
            "kafka-version": "",
            "tls": {
                "name": "kafkascope",
                "noverify": False,
                "certfile": "",
                "keyfile": "",
                "cafile": "/etc/ca.pem",
            },
            "sasl": {"name": "kafkascope", "handshake-first": True, "username": "monitor"},
        },
        "topic-refresh": 15,
        "offset-refresh": 15,
    }
    assert "hunter2" not in repr(module)


# ---------------------------------------------------------------------------------------
# Access: the guard's tokens, plus basic auth and loopback for old clients
# ---------------------------------------------------------------------------------------

TOKENS = Tokens.of(["r"], ["a"])


def basic(user: str, password: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def scope(
    method: str = "GET",
    path: str = "/v3/kafka",
    auth: bytes | None = None,
    server: str = "127.0.0.1",
    client: str = "127.0.0.1",
) -> dict[str, Any]:
    headers = [(b"authorization", auth)] if auth is not None else []
    return {
        "type": "http",
        "method": method,
        "path": path,
        "headers": headers,
        "server": (server, 8321),
        "client": (client, 50000),
    }


@pytest.mark.parametrize(
    ("request_scope", "loopback_open", "access"),
    [
        (scope(auth=b"Bearer r"), False, "read"),  # the API's own tokens work as anywhere
        (scope(auth=b"Bearer a"), False, "admin"),
        (scope(), False, "none"),  # no token, option off: refused as anywhere
        (scope(), True, "read"),  # option on, loopback to loopback: the old client reads
        (scope(method="HEAD"), True, "read"),
        (scope(method="DELETE"), True, "none"),  # loopback never admits a change
        (scope(client="10.0.0.7", server="10.0.0.1"), True, "none"),  # from elsewhere
        (scope(client="127.0.0.1", server="10.0.0.1"), True, "none"),  # not on loopback
        (scope(client="::1", server="::1"), True, "read"),
        (scope(client="::ffff:127.0.0.1", server="::ffff:127.0.0.1"), True, "read"),
        (scope(auth=b"Bearer wrong"), True, "read"),  # a wrong token adds nothing, takes nothing
        (scope(auth=basic("telegraf", "r")), False, "read"),  # Telegraf's username/password
        (scope(auth=basic("any", "a")), False, "read"),  # basic admits reads only
        (scope(method="DELETE", auth=basic("x", "a")), False, "none"),
        (scope(auth=basic("telegraf", "wrong")), False, "none"),
        (scope(path="/burrow/admin"), False, "read"),  # health checks are public
        (scope(path="/burrow/admin/ready"), False, "read"),
    ],
)
def test_burrow_access(request_scope: dict[str, Any], loopback_open: bool, access: Access) -> None:
    assert burrow_access(request_scope, TOKENS, loopback_open=loopback_open) == access


@pytest.mark.parametrize(
    ("request_scope", "loopback"),
    [
        (scope(), True),
        (scope(server="0.0.0.0"), False),  # a wildcard is never the socket's own address
        (scope(client="192.168.1.4"), False),
        ({"server": None, "client": ("127.0.0.1", 1)}, False),  # a unix socket: not asserted
        ({"server": ("127.0.0.1", 1), "client": None}, False),
        (scope(server="localhost"), False),  # scope addresses are numeric; a name is not
    ],
)
def test_loopback_request(request_scope: dict[str, Any], loopback: bool) -> None:
    assert loopback_request(request_scope) is loopback


@pytest.mark.parametrize(
    ("header", "password"),
    [
        (basic("u", "p"), b"p"),
        (basic("", "p:q"), b"p:q"),  # the password is everything after the first ':'
        (basic("u", ""), None),
        (b"Basic !!!", None),  # not base64
        (b"Bearer p", None),
    ],
)
def test_basic_password(header: bytes, password: bytes | None) -> None:
    assert basic_password([(b"authorization", header)]) == password


@pytest.mark.parametrize(
    ("path", "burrow"),
    [
        ("/v3/kafka", True),
        ("/v3/kafka/prod/consumer/g/lag", True),
        ("/burrow/admin", True),
        ("/burrow/admin/ready", True),
        ("/burrow/adminx", False),
        ("/api/v1/clusters", False),
        ("/v3", False),
    ],
)
def test_is_burrow_path(path: str, burrow: bool) -> None:
    assert is_burrow_path(path) is burrow

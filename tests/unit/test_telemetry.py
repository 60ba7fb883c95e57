"""KIP-714 pushes: headers, OTLP decoding and name mapping (real protobuf messages built
with opentelemetry-proto), the inbox, and liveness from pushes. Each case says why."""

from __future__ import annotations

import pytest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Metric,
    NumberDataPoint,
)

from kafkascope.evaluate.liveness import (
    ClientObservation,
    MemberObservation,
    PushState,
    TargetHealth,
    Thresholds,
    join,
    judge_client,
)
from kafkascope.model import Liveness, MetricKind
from kafkascope.sources.telemetry import (
    PushError,
    PushMeta,
    decode_push,
    otlp_name,
    otlp_names,
    push_meta,
)
from kafkascope.sources.telemetry_inbox import TelemetryInbox
from kafkascope.sources.telemetry_layout import layout_of

NAMES = otlp_names()
NOW = 1_800_000_000.0
META = PushMeta("0f0e0d0c-0b0a-0908-0706-050403020100", "orders-1", source_address="127.0.0.1")


def point(value: float | int, **attrs: str) -> NumberDataPoint:
    p = NumberDataPoint(
        attributes=[KeyValue(key=k, value=AnyValue(string_value=v)) for k, v in attrs.items()]
    )
    if isinstance(value, int):
        p.as_int = value
    else:
        p.as_double = value
    return p


def gauge(name: str, *points: NumberDataPoint) -> Metric:
    m = Metric(name=name)
    m.gauge.data_points.extend(points)
    return m


def total(name: str, *points: NumberDataPoint, delta: bool = False) -> Metric:
    m = Metric(name=name)
    m.sum.is_monotonic = True
    m.sum.aggregation_temporality = (
        AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        if delta
        else AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    )
    m.sum.data_points.extend(points)
    return m


def body(*metrics: Metric) -> bytes:
    req = ExportMetricsServiceRequest()
    rm = req.resource_metrics.add()
    rm.scope_metrics.add().metrics.extend(metrics)
    return req.SerializeToString()


@pytest.mark.parametrize(
    ("group", "name", "expected"),
    [
        # TelemetryMetricNamingConvention: the group's "-metrics" goes, dashes become dots.
        (
            "consumer-metrics",
            "last-poll-seconds-ago",
            "org.apache.kafka.consumer.last.poll.seconds.ago",
        ),
        (
            "consumer-fetch-manager-metrics",
            "records-lag-max",
            "org.apache.kafka.consumer.fetch.manager.records.lag.max",
        ),
        ("producer-metrics", "record-send-total", "org.apache.kafka.producer.record.send.total"),
        # KIP-714's own standard name for librdkafka's assigned partitions.
        (
            "consumer-coordinator-metrics",
            "assigned-partitions",
            "org.apache.kafka.consumer.coordinator.assigned.partitions",
        ),
    ],
)
def test_otlp_name(group: str, name: str, expected: str) -> None:
    assert otlp_name(group, name) == expected
    assert expected in NAMES  # and the catalog knows it


@pytest.mark.parametrize(
    ("metric", "catalog", "attribute", "labels", "value"),
    [
        # A consumer gauge: the catalog name and the attribute the liveness rules read.
        (
            gauge("org.apache.kafka.consumer.last.poll.seconds.ago", point(3)),
            "kafka_consumer_last_poll",
            "last-poll-seconds-ago",
            (),
            3.0,
        ),
        # The client id attribute is the push's own identity, not a label of the value.
        (
            gauge("org.apache.kafka.consumer.time.between.poll.max", point(12.5, client_id="x")),
            "kafka_consumer_time_between_poll_max",
            "time-between-poll-max",
            (),
            12.5,
        ),
        # Per partition: topic and partition stay labels, as the JMX catalog gives them.
        (
            gauge(
                "org.apache.kafka.consumer.fetch.manager.records.lag",
                point(7, topic="orders", partition="2"),
            ),
            "kafka_consumer_partition_records_lag",
            "records-lag",
            (("partition", "2"), ("topic", "orders")),
            7.0,
        ),
        # A producer counter pushed as a cumulative sum.
        (
            total("org.apache.kafka.producer.record.send.total", point(1234)),
            "kafka_producer_records_sent",
            "record-send-total",
            (),
            1234.0,
        ),
    ],
)
def test_decode_maps_to_catalog(
    metric: Metric, catalog: str, attribute: str, labels: tuple[tuple[str, str], ...], value: float
) -> None:
    push = decode_push(body(metric), META, NAMES)
    assert push.unmapped == 0
    [v] = push.values
    assert (v.spec.attribute, v.labels, v.value) == (attribute, labels, value)
    # The catalog's own name for it (kafka_<role>_...; its exact spelling is the catalog's).
    assert v.spec.name.startswith(catalog)


def test_decode_role_unmapped_nan_and_histograms() -> None:
    """The role comes from the names; metrics whose names the catalog lacks are counted, not
    kept (here two: record.queue.time.avg and the histogram); a NaN (an average with no
    events) is no value; histograms are not read."""
    h = Metric(name="org.apache.kafka.producer.record.queue.time")
    h.histogram.data_points.add(count=1)
    push = decode_push(
        body(
            gauge("org.apache.kafka.producer.record.queue.time.avg", point(1.0)),
            gauge("org.apache.kafka.producer.buffer.available.bytes", point(float("nan"))),
            gauge("org.apache.kafka.producer.waiting.threads", point(0)),
            h,
        ),
        META,
        NAMES,
    )
    assert push.role == "producer"
    assert push.unmapped == 2
    assert [v.spec.attribute for v in push.values] == ["waiting-threads"]


def test_decode_refuses_what_is_not_otlp() -> None:
    with pytest.raises(PushError, match="not OTLP metrics"):
        decode_push(b"\xff\xff\xff\xff", META, NAMES)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # The full contract (docs/telemetry.md); names in any case, the interval in ms.
        (
            {
                "X-Kafkascope-Client-Instance-Id": "3F0C5E0E-5C43-4A8E-9D1A-4B9C2F1E7A10",
                "x-kafkascope-client-id": "orders%20consumer",
                "X-Kafkascope-Software-Name": "confluent-kafka-python",
                "X-Kafkascope-Software-Version": "2.16.1",
                "X-Kafkascope-Source-Address": "10.1.2.3",
                "X-Kafkascope-Source-Port": "52144",
                "X-Kafkascope-Principal": "User:ANONYMOUS",
                "X-Kafkascope-Terminating": "true",
                "X-Kafkascope-Push-Interval-Ms": "2000",
                "X-Kafkascope-Broker-Id": "3",
            },
            PushMeta(
                "3f0c5e0e-5c43-4a8e-9d1a-4b9c2f1e7a10",
                "orders consumer",  # percent-decoded
                "confluent-kafka-python",
                "2.16.1",
                "10.1.2.3",
                52144,
                "User:ANONYMOUS",
                True,
                2.0,
                3,
            ),
        ),
        # A legacy broker knows no interval: None, the inbox's configured one stands in.
        (
            {"X-Kafkascope-Client-Instance-Id": "ab", "X-Kafkascope-Client-Id": "p"},
            PushMeta("ab", "p"),
        ),
    ],
)
def test_push_meta(headers: dict[str, str], expected: PushMeta) -> None:
    assert push_meta(headers) == expected


@pytest.mark.parametrize(
    ("headers", "problem"),
    [
        ({"X-Kafkascope-Client-Id": "p"}, "Client-Instance-Id is missing"),
        ({"X-Kafkascope-Client-Instance-Id": "a", "X-Kafkascope-Source-Port": "x"}, "whole number"),
        (
            {"X-Kafkascope-Client-Instance-Id": "a", "X-Kafkascope-Terminating": "yes"},
            "true or false",
        ),
    ],
)
def test_push_meta_refuses(headers: dict[str, str], problem: str) -> None:
    with pytest.raises(PushError, match=problem):
        push_meta(headers)


def test_inbox_adds_up_delta_sums_and_keeps_the_latest_gauge() -> None:
    """Delta temporality: each push holds what happened since the last, so the counter JMX
    would show is their sum; a gauge is its latest value."""
    inbox = TelemetryInbox("c", interval=5.0)
    name = "org.apache.kafka.producer.record.send.total"
    for n, (sent, waiting) in enumerate([(10, 1), (5, 0)]):
        push = decode_push(
            body(
                total(name, point(sent), delta=True),
                gauge("org.apache.kafka.producer.waiting.threads", point(waiting)),
            ),
            META,
            NAMES,
        )
        inbox.record(push, NOW + n)
    [c] = inbox.clients(NOW + 2)
    values = {s.name: s.value for s in c.samples}
    assert values == {
        "kafka_producer_records_sent_total": 15.0,
        "kafka_producer_waiting_threads": 0.0,
    }
    assert {s.kind for s in c.samples} == {MetricKind.COUNTER, MetricKind.GAUGE}
    assert all(s.client_id == "orders-1" for s in c.samples)
    assert (c.role, c.pushes, c.interval, c.first_push, c.last_push) == (
        "producer",
        2,
        5.0,
        NOW,
        NOW + 1,
    )
    # Silent past expire_after: out of the inbox (the monitor's store still knows it).
    assert inbox.clients(NOW + 1 + inbox.expire_after + 1) == []


def test_inbox_is_bounded() -> None:
    inbox = TelemetryInbox("c", max_clients=2)
    for i in range(3):
        inbox.record(decode_push(body(), PushMeta(f"id{i}", "x"), NAMES), NOW + i)
    assert sorted(c.meta.client_instance_id for c in inbox.clients(NOW + 3)) == ["id1", "id2"]


LAG = "org.apache.kafka.consumer.fetch.manager.records.lag"
POLL_AGO = "org.apache.kafka.consumer.last.poll.seconds.ago"
SENT = "org.apache.kafka.producer.record.send.total"


def shaped(lag0: float, lag1: float, ago: float, sent: int, *, partition: str = "1") -> bytes:
    """A push of one structure with chosen numbers; timestamps differ per call as a
    client's do."""
    ps = [point(lag0, topic="t", partition="0"), point(lag1, topic="t", partition=partition)]
    for p in ps:
        p.time_unix_nano = int(NOW * 1e9) + int(lag0 * 1000)
    return body(
        gauge(LAG, *ps),
        gauge(POLL_AGO, point(ago)),
        gauge("org.apache.kafka.consumer.not.in.the.catalog", point(1.5)),
        total(SENT, point(sent), delta=True),
    )


LEARNT = shaped(3.0, 4.0, 0.5, 10)


@pytest.mark.parametrize(
    ("push", "same_layout"),
    [
        # Only the numbers differ: the layout reads the push.
        (shaped(7.0, 0.0, 12.25, 99), True),
        # A NaN gauge: the same bytes around it; the value is left out, as decode does.
        (shaped(7.0, float("nan"), 1.0, 5), True),
        # A label value changed, same length ("1" -> "2"): the bytes around differ.
        (shaped(7.0, 0.0, 1.0, 5, partition="2"), False),
        # A label value of another length: the push's length differs.
        (shaped(7.0, 0.0, 1.0, 5, partition="10"), False),
        # The int counter sent as a double: another field, other bytes around it.
        (
            body(
                gauge(
                    LAG, point(1.0, topic="t", partition="0"), point(2.0, topic="t", partition="1")
                ),
                gauge(POLL_AGO, point(0.5)),
                gauge("org.apache.kafka.consumer.not.in.the.catalog", point(1.5)),
                total(SENT, point(10.0), delta=True),
            ),
            False,
        ),
        # A metric more: the push is longer.
        (body(gauge(POLL_AGO, point(0.5)), gauge(POLL_AGO, point(0.5))), False),
    ],
)
def test_a_layout_reads_exactly_what_decoding_gives(push: bytes, same_layout: bool) -> None:
    """A layout is a shortcut: wherever it answers, its answer must be decode_push's, and
    it must refuse every push whose structure is not the learnt one."""
    layout = layout_of(LEARNT, NAMES)
    assert layout is not None
    read = layout.read(push)
    if same_layout:
        decoded = decode_push(push, META, NAMES)
        assert read == decoded.values
        assert (layout.role, layout.unmapped) == (decoded.role, decoded.unmapped)
    else:
        assert read is None


def test_the_inbox_reads_by_layout_and_adds_up_like_decoding() -> None:
    """Two inboxes, one given the pushes as received (layouts learnt and used), one given
    them decoded: the same samples, counters summed across the shortcut and the decode."""
    headers = {
        "X-Kafkascope-Client-Instance-Id": META.client_instance_id,
        "X-Kafkascope-Client-Id": META.client_id,
    }
    pushes = [
        LEARNT,
        shaped(1.0, 2.0, 0.25, 7),  # read by the layout
        shaped(1.0, 2.0, 0.25, 4, partition="3"),  # decoded: a new layout
        shaped(5.0, 6.0, 0.75, 1, partition="3"),  # read by the new one
    ]
    clock = iter(NOW + i for i in range(10))
    fast, slow = TelemetryInbox("c", clock=lambda: next(clock)), TelemetryInbox("c")
    for n, push in enumerate(pushes):
        fast.receive(headers, push)
        slow.record(decode_push(push, push_meta(headers), NAMES), NOW + n)
    [a], [b] = fast.clients(NOW + 5), slow.clients(NOW + 5)
    assert sorted(a.samples, key=repr) == sorted(b.samples, key=repr)
    sent = [s.value for s in a.samples if s.name == "kafka_producer_records_sent_total"]
    assert sent == [10 + 7 + 4 + 1]
    assert (fast.by_layout, fast.received) == (2, 4)  # pushes 2 and 4 took the shortcut


TH = Thresholds()


def pusher(push: PushState, kind: str = "consumer", **kw: object) -> ClientObservation:
    base: dict[str, object] = dict(
        target="telemetry:ab",
        client_id="py-1",
        kind=kind,
        health=TargetHealth("telemetry:ab", NOW - 1, NOW - 1),
        last_seen=push.last_push,
        push=push,
        address="/127.0.0.1",
        source="telemetry",
    )
    return ClientObservation(**(base | kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("obs", "expected", "reason"),
    [
        # Pushes arrive: ALIVE, and the reason says when the last came.
        (
            pusher(PushState(NOW - 1, 2.0)),
            Liveness.ALIVE,
            "telemetry pushed 1.0 s ago, every 2.0 s",
        ),
        # One push late (1.9 intervals): no verdict yet, a push may just be slow.
        (pusher(PushState(NOW - 3.8, 2.0)), Liveness.ALIVE, "pushed"),
        # Two intervals without a push: DEAD.
        (pusher(PushState(NOW - 4.5, 2.0)), Liveness.DEAD, "no telemetry push for 4.5 s"),
        # Its last push said it was closing: a clean departure, whatever the time since.
        (pusher(PushState(NOW - 60, 2.0, terminating=True)), Liveness.DEPARTED, "closed cleanly"),
        # Pushed metrics judge as JMX's do: records waiting and no poll past the bound is HUNG.
        (
            pusher(
                PushState(NOW - 1, 2.0),
                metrics={"last-poll-seconds-ago": 400.0},
                backlog=50,
            ),
            Liveness.HUNG,
            "no poll for 400 s",
        ),
        # A producer sending nothing with an empty buffer is IDLE, as over JMX.
        (
            pusher(
                PushState(NOW - 1, 2.0),
                kind="producer",
                metrics={"buffer-total-bytes": 10.0, "buffer-available-bytes": 10.0},
                send_total_since=NOW - 100,
            ),
            Liveness.IDLE,
            "nothing to send",
        ),
    ],
)
def test_liveness_from_pushes(obs: ClientObservation, expected: Liveness, reason: str) -> None:
    v = judge_client(obs, NOW, TH)
    assert v.liveness is expected, v.reason
    assert reason in v.reason
    assert v.source == "telemetry"


def test_a_pusher_joins_its_member_by_client_id_and_source_address() -> None:
    """The brokers report the member's host as /127.0.0.1; the push's source address is the
    same connection's peer: the telemetry client is that member."""
    m = MemberObservation("g", "m-1", "py-1", "/127.0.0.1")
    [p], unclaimed = join([m], [pusher(PushState(NOW, 2.0))])
    assert p.client is not None and p.client.source == "telemetry"
    assert unclaimed == []

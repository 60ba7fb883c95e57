"""The metric catalog: every shipped file loads and covers what issue 3 lists, mistakes in
a catalog entry are reported with the file, the entry and the fix, and ObjectNames (quoted
values included) become the right labels."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from kafkascope.errors import ConfigError
from kafkascope.model import MetricKind
from kafkascope.sources.jmx.catalog import (
    BeanSpec,
    CatalogSet,
    check_catalog,
    default_catalog,
    drop_legacy_topic_copies,
    in_base_units,
    load_catalog,
    load_set,
    name_problem,
    parse_set,
)
from kafkascope.sources.jmx.object_name import (
    ObjectNamePattern,
    parse_object_name,
    quote_value,
    snake_case,
)

# ------------------------------------------------------------------ the shipped catalog


def test_every_shipped_file_loads_into_its_set() -> None:
    catalog = load_catalog()
    assert set(catalog.names) == {
        "broker",
        "controller",
        "partition",
        "consumer",
        "producer",
        "jvm",
    }
    for s in catalog.sets:
        assert s.beans, s.name
        assert Path(s.path).stem == s.name


# (set, ObjectName pattern as written in the catalog, attribute read): issue 3's list.
REQUIRED = [
    # broker: ReplicaManager gauges and ISR meters
    ("broker", "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions", "Value"),
    ("broker", "kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount", "Value"),
    ("broker", "kafka.server:type=ReplicaManager,name=AtMinIsrPartitionCount", "Value"),
    ("broker", "kafka.server:type=ReplicaManager,name=OfflineReplicaCount", "Value"),
    ("broker", "kafka.server:type=ReplicaManager,name=PartitionCount", "Value"),
    ("broker", "kafka.server:type=ReplicaManager,name=LeaderCount", "Value"),
    ("broker", "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec", "Count"),
    ("broker", "kafka.server:type=ReplicaManager,name=IsrExpandsPerSec", "Count"),
    # a Meter, read through OneMinuteRate (its Count is nanoseconds)
    (
        "broker",
        "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent",
        "OneMinuteRate",
    ),
    ("broker", "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent", "Value"),
    ("broker", "kafka.network:type=RequestChannel,name=RequestQueueSize", "Value"),
    (
        "broker",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce|FetchConsumer|FetchFollower",
        "99thPercentile",
    ),
    (
        "broker",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce|FetchConsumer|FetchFollower",
        "Mean",
    ),
    # broker-wide and per topic in one pattern (trailing ,*)
    ("broker", "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,*", "Count"),
    ("broker", "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,*", "Count"),
    ("broker", "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,*", "Count"),
    ("broker", "kafka.server:type=BrokerTopicMetrics,name=BytesRejectedPerSec,*", "Count"),
    ("broker", "kafka.server:type=BrokerTopicMetrics,name=FailedProduceRequestsPerSec,*", "Count"),
    ("broker", "kafka.server:type=BrokerTopicMetrics,name=FailedFetchRequestsPerSec,*", "Count"),
    ("broker", "kafka.log:type=LogManager,name=OfflineLogDirectoryCount", "Value"),
    ("broker", "kafka.server:type=KafkaServer,name=BrokerState", "Value"),
    ("broker", "kafka.server:type=ReplicaFetcherManager,name=MaxLag,clientId=Replica", "Value"),
    # KRaft controller
    ("controller", "kafka.controller:type=KafkaController,name=ActiveControllerCount", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=OfflinePartitionsCount", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=GlobalPartitionCount", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=FencedBrokerCount", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=ActiveBrokerCount", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=MetadataErrorCount", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=LastAppliedRecordLagMs", "Value"),
    ("controller", "kafka.controller:type=KafkaController,name=NewActiveControllersCount", "Value"),
    (
        "controller",
        "kafka.controller:type=ControllerStats,name=UncleanLeaderElectionsPerSec",
        "Count",
    ),
    # raft-metrics: one MBean, its metrics are attributes
    ("controller", "kafka.server:type=raft-metrics", "current-state"),
    ("controller", "kafka.server:type=raft-metrics", "current-leader"),
    ("controller", "kafka.server:type=raft-metrics", "current-epoch"),
    ("controller", "kafka.server:type=raft-metrics", "high-watermark"),
    # per partition (opt-in)
    ("partition", "kafka.log:type=Log,name=Size,topic=*,partition=*", "Value"),
    ("partition", "kafka.log:type=Log,name=LogEndOffset,topic=*,partition=*", "Value"),
    ("partition", "kafka.cluster:type=Partition,name=UnderReplicated,topic=*,partition=*", "Value"),
    # consumer
    ("consumer", "kafka.consumer:type=consumer-metrics,client-id=*", "last-poll-seconds-ago"),
    ("consumer", "kafka.consumer:type=consumer-metrics,client-id=*", "time-between-poll-max"),
    ("consumer", "kafka.consumer:type=consumer-metrics,client-id=*", "poll-idle-ratio-avg"),
    (
        "consumer",
        "kafka.consumer:type=consumer-coordinator-metrics,client-id=*",
        "last-heartbeat-seconds-ago",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-coordinator-metrics,client-id=*",
        "assigned-partitions",
    ),
    ("consumer", "kafka.consumer:type=consumer-coordinator-metrics,client-id=*", "rebalance-total"),
    (
        "consumer",
        "kafka.consumer:type=consumer-coordinator-metrics,client-id=*",
        "failed-rebalance-total",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-coordinator-metrics,client-id=*",
        "last-rebalance-seconds-ago",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*",
        "records-lag-max",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*",
        "records-consumed-total",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*",
        "records-consumed-rate",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*,topic=*,partition=*",
        "records-lag",
    ),
    (
        "consumer",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*,topic=*,partition=*",
        "records-lead-min",
    ),
    # producer
    *[
        ("producer", "kafka.producer:type=producer-metrics,client-id=*", attr)
        for attr in (
            "record-send-total",
            "record-send-rate",
            "record-error-total",
            "record-error-rate",
            "record-retry-total",
            "request-latency-avg",
            "request-latency-max",
            "buffer-available-bytes",
            "buffer-total-bytes",
            "buffer-exhausted-total",
            "waiting-threads",
        )
    ],
    (
        "producer",
        "kafka.producer:type=producer-topic-metrics,client-id=*,topic=*",
        "record-send-total",
    ),
    (
        "producer",
        "kafka.producer:type=producer-topic-metrics,client-id=*,topic=*",
        "record-error-total",
    ),
    # JVM
    ("jvm", "java.lang:type=Memory", "HeapMemoryUsage"),
    ("jvm", "java.lang:type=GarbageCollector,name=*", "CollectionCount"),
    ("jvm", "java.lang:type=GarbageCollector,name=*", "CollectionTime"),
    ("jvm", "java.lang:type=OperatingSystem", "ProcessCpuLoad"),
    ("jvm", "java.lang:type=OperatingSystem", "OpenFileDescriptorCount"),
    ("jvm", "java.lang:type=OperatingSystem", "MaxFileDescriptorCount"),
    ("jvm", "java.lang:type=Threading", "ThreadCount"),
    ("jvm", "java.lang:type=Runtime", "Uptime"),
    ("jvm", "java.lang:type=Runtime", "StartTime"),
]


@pytest.mark.parametrize(("set_name", "pattern", "attribute"), REQUIRED)
def test_catalog_covers_the_issue(set_name: str, pattern: str, attribute: str) -> None:
    s = default_catalog().get(set_name)
    beans = {b.pattern.text: b for b in s.beans}
    assert pattern in beans, f"{set_name} lacks {pattern}"
    assert attribute in beans[pattern].attributes()


def test_heap_is_read_from_composite_data_keys() -> None:
    # HeapMemoryUsage is CompositeData: one attribute, samples per key (used, max).
    m = default_catalog().metric("jvm_heap_used_bytes")
    assert (m.attribute, m.subkey) == ("HeapMemoryUsage", "used")
    assert default_catalog().metric("jvm_heap_max_bytes").subkey == "max"


def test_request_alternatives_are_queried_as_exact_patterns() -> None:
    # request=Produce|FetchConsumer|FetchFollower must not become request=* (~90 names).
    bean = next(b for b in default_catalog().get("broker").beans if "TotalTimeMs" in b.pattern.text)
    assert bean.query_patterns() == (
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchConsumer",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchFollower",
    )


def test_no_pattern_lists_everything() -> None:
    # Never *:*: every pattern has a literal domain and a pinned key.
    for s in default_catalog().sets:
        for bean in s.beans:
            for q in bean.query_patterns():
                assert not q.startswith("*") and ":*" not in q.split(",")[0], q


# ------------------------------------------------------------------ bad catalog entries

GOOD_HEAD = """
set: broker
role: broker
detect: "kafka.server:type=ReplicaManager,name=PartitionCount"
"""

BAD = [
    # A typo in the kind must name the entry and list the valid kinds.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: m, kind: guage, unit: count}',
        [
            "broker.yaml",
            "bean 1 (kafka.server:type=X,name=Y), metric 1 (m)",
            "kind 'guage'",
            "gauge, counter, meter, histogram, state",
        ],
    ),
    # Units are a closed list; a near miss is suggested.
    (
        GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: m, kind: gauge, '
        "unit: milisecond}",
        ["unit 'milisecond'", "did you mean 'milliseconds'"],
    ),
    # A misspelt key would otherwise be silently ignored and the default attribute read.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", atr: OneMinuteRate, metric: m, '
        "kind: gauge, unit: ratio}",
        ["unknown key 'atr'", "did you mean 'attr'"],
    ),
    # Without a name the samples could not be stored.
    (
        GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", kind: gauge, unit: count}',
        ["bean 1", "'metric' is missing"],
    ),
    # Metric names become Prometheus names and SQL keys: lower snake case only.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: Bad-Name, kind: gauge, '
        "unit: count}",
        ["metric name 'Bad-Name' must match"],
    ),
    # *:* would list tens of thousands of MBeans on a broker.
    (
        GOOD_HEAD + 'beans:\n  - {bean: "*:*", metric: m, kind: gauge, unit: count}',
        ["bean 1 (*:*)", "the domain must be literal"],
    ),
    # A pattern with no pinned key lists a whole domain.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=*,*", metric: m, kind: gauge, unit: count}',
        ["pin at least one key"],
    ),
    # A meter expands to stats; a single attribute means it is really a gauge.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", attr: Count, metric: m, kind: meter, '
        "unit: events}",
        ["a meter reads 'stats', not 'attr'"],
    ),
    # p90 is not a Yammer histogram attribute; the valid stats are listed.
    (
        GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: m, kind: histogram, '
        "unit: milliseconds, stats: [p90]}",
        ["stat 'p90' is not one of", "p99"],
    ),
    # The set name is the file name, so --set and the file always agree.
    (
        GOOD_HEAD.replace("set: broker", "set: brokers")
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: m, kind: gauge, unit: count}',
        ["set 'brokers' must equal the file name 'broker'"],
    ),
    # A label from a key the pattern can never have would always be missing.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", labels: {topic: topic}, metric: m, '
        "kind: gauge, unit: count}",
        ["label 'topic' takes key 'topic', which this pattern never has"],
    ),
    # The same metric twice on one bean would produce duplicate series.
    (
        GOOD_HEAD + 'beans:\n  - bean: "kafka.server:type=X"\n    metrics:\n'
        "      - {attr: a, metric: m, kind: gauge, unit: count}\n"
        "      - {attr: b, metric: m, kind: gauge, unit: count}",
        ["metric 'm' is defined twice"],
    ),
    # Two one-line entries for one bean merge, but only if their options agree.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "kafka.server:type=X,name=*", metric: m1, kind: gauge, unit: count}\n'
        '  - {bean: "kafka.server:type=X,name=*", labels: {n: name}, metric: m2, kind: gauge, '
        "unit: count}",
        ["bean 2", "same bean as broker.yaml, bean 1"],
    ),
    # A trailing dot names no CompositeData key.
    (
        GOOD_HEAD
        + 'beans:\n  - {bean: "java.lang:type=Memory", attr: "HeapMemoryUsage.", metric: m, '
        "kind: gauge, unit: bytes}",
        ["nothing after '.'"],
    ),
    # An unterminated quote in an ObjectName is reported, not mis-parsed.
    (
        GOOD_HEAD + "beans:\n  - {bean: 'kafka.server:type=X,name=\"Y', metric: m, kind: gauge, "
        "unit: count}",
        ["unterminated quoted value"],
    ),
    # client_key must come from the detect pattern, or no client id would be found.
    (
        GOOD_HEAD
        + "client_key: client-id\n"
        + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: m, kind: gauge, unit: count}',
        ["client_key", "'client-id' must be a key of the detect pattern"],
    ),
    # An entry with neither an inline metric nor a list reads nothing.
    (GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X,name=Y"}', ["no metrics"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_entries_are_reported_clearly(text: str, expected: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_set(yaml.safe_load(text), "broker.yaml")
    for part in expected:
        assert part in str(info.value), str(info.value)


def test_yaml_syntax_errors_name_the_file_and_line(tmp_path: Path) -> None:
    # A broken file must point at itself, not raise a bare YAMLError.
    path = tmp_path / "broker.yaml"
    path.write_text(GOOD_HEAD + "beans:\n  - {bean: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broker\.yaml: not valid YAML at line \d+"):
        load_set(path)


def test_one_metric_name_has_one_kind_and_unit_across_files() -> None:
    # The store and Prometheus key series by name: a clash between two files is refused.
    a = parse_set(
        yaml.safe_load(
            GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X,name=Y", metric: m, '
            "kind: gauge, unit: count}"
        ),
        "broker.yaml",
    )
    b = parse_set(
        yaml.safe_load(
            GOOD_HEAD.replace("set: broker", "set: other")
            + 'beans:\n  - {bean: "kafka.server:type=Z,name=Y", attr: Value, metric: m, '
            "kind: gauge, unit: records}"
        ),
        "other.yaml",
    )
    with pytest.raises(ConfigError, match="metric 'm' is gauge in records but gauge in count"):
        check_catalog([a, b])


def test_empty_catalog_directory_is_an_error(tmp_path: Path) -> None:
    # A wrong path must not yield a catalog that silently collects nothing.
    with pytest.raises(ConfigError, match=r"has no \*\.yaml files"):
        load_catalog(tmp_path)


# ------------------------------------------------------------------ ObjectNames and labels

NAMES = [
    # The plain case: keys in any order, values as written.
    (
        "kafka.server:type=ReplicaManager,name=PartitionCount",
        "kafka.server",
        {"type": "ReplicaManager", "name": "PartitionCount"},
    ),
    # Client ids with special characters are quoted; the comma is part of the value.
    (
        'kafka.consumer:type=consumer-metrics,client-id="a,b"',
        "kafka.consumer",
        {"type": "consumer-metrics", "client-id": "a,b"},
    ),
    # Escaped quote and backslash inside a quoted value.
    (
        'kafka.consumer:client-id="say \\"hi\\" \\\\ ok",type=consumer-metrics',
        "kafka.consumer",
        {"type": "consumer-metrics", "client-id": 'say "hi" \\ ok'},
    ),
    # Colons and equals signs are legal inside quotes (e.g. a listener or a URL-ish id).
    (
        'kafka.producer:type=producer-metrics,client-id="app:1=x"',
        "kafka.producer",
        {"type": "producer-metrics", "client-id": "app:1=x"},
    ),
    # Spaces need no quoting (GC names).
    (
        "java.lang:type=GarbageCollector,name=G1 Young Generation",
        "java.lang",
        {"type": "GarbageCollector", "name": "G1 Young Generation"},
    ),
    # Quoted paths, as LogManager registers its log directories.
    (
        'kafka.log:type=LogManager,name=LogDirectoryOffline,logDirectory="/data/k"',
        "kafka.log",
        {"type": "LogManager", "name": "LogDirectoryOffline", "logDirectory": "/data/k"},
    ),
]


@pytest.mark.parametrize(("text", "domain", "keys"), NAMES)
def test_parse_object_name(text: str, domain: str, keys: dict[str, str]) -> None:
    assert parse_object_name(text) == (domain, keys)


BAD_NAMES = [
    # No domain separator at all.
    ("kafka.server", "not an ObjectName"),
    # A key without a value.
    ("kafka.server:type=", "empty value"),
    # A wildcard is a pattern, not a name.
    ("kafka.server:type=*", "needs quoting"),
    # The same key twice is ambiguous.
    ("kafka.server:type=a,type=b", "appears twice"),
]


@pytest.mark.parametrize(("text", "message"), BAD_NAMES)
def test_bad_object_names_are_refused(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_object_name(text)


@pytest.mark.parametrize(
    ("value", "quoted"),
    [
        ("plain-id", "plain-id"),  # nothing special: left alone
        ("a,b", '"a,b"'),  # a comma would split the property list
        ('x"y', '"x\\"y"'),  # quotes are escaped inside quotes
        ("star*", '"star\\*"'),  # an unquoted * would be a wildcard
    ],
)
def test_quote_value_round_trips(value: str, quoted: str) -> None:
    assert quote_value(value) == quoted
    assert parse_object_name(f"d:k={quoted}")[1]["k"] == value


@pytest.mark.parametrize(
    ("key", "label"),
    [
        ("client-id", "client_id"),  # Kafka's hyphenated tags
        ("clientId", "client_id"),  # Yammer's camelCase tags
        ("networkProcessor", "network_processor"),
        ("BrokerId", "broker_id"),
        ("topic", "topic"),
    ],
)
def test_label_names_are_snake_case(key: str, label: str) -> None:
    assert snake_case(key) == label


def _bean(text: str, labels: dict[str, str] | None = None) -> BeanSpec:
    data = yaml.safe_load(
        GOOD_HEAD
        + "beans:\n  - bean: "
        + repr(text)
        + "\n"
        + (f"    labels: {labels}\n" if labels else "")
        + "    metrics:\n"
        "      - {attr: v, metric: m, kind: gauge, unit: count}\n"
        "      - {attr: s, metric: st, kind: state, unit: state, states: [leader, follower]}\n"
        "      - {attr: HeapMemoryUsage.used, metric: heap_bytes, kind: gauge, unit: bytes}\n"
    )
    return parse_set(data, "broker.yaml").beans[0]


LABELS = [
    # client-id=* is open, so it becomes client_id; type is pinned, so no label.
    (
        "kafka.consumer:type=consumer-metrics,client-id=*",
        'kafka.consumer:type=consumer-metrics,client-id="my,app"',
        None,
        {"client_id": "my,app"},
    ),
    # A trailing ,* admits extra keys, which become labels (per-topic BrokerTopicMetrics).
    (
        "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,*",
        "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=orders",
        None,
        {"topic": "orders"},
    ),
    # ... and the broker-wide meter of the same pattern has none.
    (
        "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,*",
        "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec",
        None,
        {},
    ),
    # Alternatives are not pinned: request is a label.
    (
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce|FetchConsumer",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchConsumer",
        None,
        {"request": "FetchConsumer"},
    ),
    # An explicit map renames: GC name → gc.
    (
        "java.lang:type=GarbageCollector,name=*",
        "java.lang:type=GarbageCollector,name=G1 Old Generation",
        {"gc": "name"},
        {"gc": "G1 Old Generation"},
    ),
]


@pytest.mark.parametrize(("pattern", "name", "labels", "expected"), LABELS)
def test_labels_from_object_name_keys(
    pattern: str, name: str, labels: dict[str, str] | None, expected: dict[str, str]
) -> None:
    bean = _bean(pattern, labels)
    domain, keys = parse_object_name(name)
    assert bean.matches(domain, keys)
    assert bean.labels_for(keys) == expected


MATCHES = [
    # Without a trailing ,* the key set must be exact: the client-level fetch bean, not
    # the per-topic ones.
    (
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c,topic=t",
        False,
    ),
    (
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=*",
        "kafka.consumer:type=consumer-fetch-manager-metrics,client-id=c",
        True,
    ),
    # An alternative not listed is not matched.
    (
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce|FetchConsumer",
        "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Fetch",
        False,
    ),
    # The domain is compared exactly.
    ("kafka.server:type=X,*", "kafka.serverx:type=X", False),
    # ? is one character, as in JMX.
    ("kafka.server:type=X,name=A?", "kafka.server:type=X,name=AB", True),
    ("kafka.server:type=X,name=A?", "kafka.server:type=X,name=ABC", False),
    # Regex characters in values are literal.
    ("kafka.server:type=X,name=a.b", "kafka.server:type=X,name=axb", False),
]


@pytest.mark.parametrize(("pattern", "name", "expected"), MATCHES)
def test_pattern_matching(pattern: str, name: str, expected: bool) -> None:
    p = ObjectNamePattern.parse(pattern)
    domain, keys = parse_object_name(name)
    assert p.matches(domain, keys) is expected


def test_quoted_pattern_values_are_literal_and_requoted() -> None:
    # A quoted value in a catalog pattern is one literal value, sent to JMX quoted again.
    p = ObjectNamePattern.parse('kafka.consumer:type=consumer-metrics,client-id="a|b"')
    assert p.jmx_patterns() == ('kafka.consumer:type=consumer-metrics,client-id="a|b"',)
    assert p.matches("kafka.consumer", {"type": "consumer-metrics", "client-id": "a|b"})
    assert not p.matches("kafka.consumer", {"type": "consumer-metrics", "client-id": "a"})


# ------------------------------------------------------------------ values to samples


def test_values_become_samples() -> None:
    bean = _bean("kafka.server:type=raft-metrics,*")
    samples = bean.to_samples(
        {"type": "raft-metrics", "x": "1"},
        {"v": 7, "s": "follower", "HeapMemoryUsage": {"used": 5, "max": 9}},
        "h:1",
        100.0,
    )
    got = {(s.name, s.labels): (s.value, s.kind) for s in samples}
    assert got == {
        ("m", (("x", "1"),)): (7.0, MetricKind.GAUGE),
        # a string state is a state set: 1 on the current state, 0 on every other known
        # one, so a change of state never adds or removes a series
        ("st", (("state", "follower"), ("x", "1"))): (1.0, MetricKind.STATE),
        ("st", (("state", "leader"), ("x", "1"))): (0.0, MetricKind.STATE),
        # CompositeData: the sub-key
        ("heap_bytes", (("x", "1"),)): (5.0, MetricKind.GAUGE),
    }
    assert all(s.target == "h:1" and s.timestamp == 100.0 for s in samples)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (math.nan, None),  # Kafka's "no events yet" average: no sample, not a NaN
        (math.inf, None),  # nor an infinity
        (None, None),  # attribute absent (getAttributes omits unknown ones)
        ("text", None),  # a string in a numeric metric
        (True, 1.0),  # booleans count as 0/1
        (3, 3.0),  # Java longs become floats
    ],
)
def test_only_finite_numbers_become_gauge_samples(value: object, expected: float | None) -> None:
    bean = _bean("kafka.server:type=X")
    samples = [s for s in bean.to_samples({"type": "X"}, {"v": value}, "t", 0.0) if s.name == "m"]
    assert [s.value for s in samples] == ([] if expected is None else [expected])


def test_meter_and_histogram_expand_to_named_samples() -> None:
    # A meter gives _total (a counter) and _per_second with a `window` label (a gauge); a
    # histogram its percentiles as the gauge of its own name with a `quantile` label, its
    # count as a counter (never a gauge) and its mean with the unit kept last. Prometheus
    # reads a family per name: the stat is a label, the unit the last word.
    data = yaml.safe_load(
        GOOD_HEAD + "beans:\n"
        '  - {bean: "kafka.server:type=M,name=N", metric: mt_bytes, kind: meter, unit: bytes, '
        "stats: [count, rate1m, rate15m]}\n"
        '  - {bean: "kafka.network:type=H,name=N", metric: h_time_seconds, kind: histogram, '
        "unit: milliseconds, stats: [count, mean, p50, p99]}\n"
    )
    meter, hist = parse_set(data, "broker.yaml").beans
    assert [(m.name, m.attribute, m.kind, m.unit, m.const_labels) for m in meter.metrics] == [
        ("mt_bytes_total", "Count", MetricKind.COUNTER, "bytes", ()),
        ("mt_bytes_per_second", "OneMinuteRate", MetricKind.GAUGE, "bytes_per_second",
         (("window", "1m"),)),
        ("mt_bytes_per_second", "FifteenMinuteRate", MetricKind.GAUGE, "bytes_per_second",
         (("window", "15m"),)),
    ]  # fmt: skip
    assert [(m.name, m.attribute, m.kind, m.const_labels) for m in hist.metrics] == [
        ("h_time_count_total", "Count", MetricKind.COUNTER, ()),
        ("h_time_mean_seconds", "Mean", MetricKind.GAUGE, ()),
        ("h_time_seconds", "50thPercentile", MetricKind.GAUGE, (("quantile", "0.5"),)),
        ("h_time_seconds", "99thPercentile", MetricKind.GAUGE, (("quantile", "0.99"),)),
    ]
    # Samples are read in JMX's unit (ms); in_base_units shows them in the name's (s).
    p99 = hist.to_samples({"type": "H", "name": "N"}, {"99thPercentile": 250}, "t", 0.0)
    assert [(s.labels, s.value, s.unit) for s in p99] == [
        ((("quantile", "0.99"),), 250.0, "milliseconds")
    ]
    assert [(s.value, s.unit) for s in map(in_base_units, p99)] == [(0.25, "seconds")]


@pytest.mark.parametrize(
    ("name", "kind", "unit", "problem"),
    [
        # Prometheus: counters end in _total (the unit before it), and only counters do
        ("jvm_gc_time_seconds_total", MetricKind.COUNTER, "seconds", None),
        ("jvm_gc_collections", MetricKind.COUNTER, "events", "ends in _total"),
        ("queue_size_total", MetricKind.GAUGE, "requests", "only counters"),
        # the base unit is the last word
        ("jvm_uptime_seconds", MetricKind.GAUGE, "seconds", None),
        ("last_poll_seconds_ago", MetricKind.GAUGE, "seconds", "ends in _seconds"),
        ("heap_used", MetricKind.GAUGE, "bytes", "ends in _bytes"),
        ("idle_ratio", MetricKind.GAUGE, "ratio", None),
        ("cpu_load", MetricKind.GAUGE, "ratio", "ends in _ratio"),
        # no other unit, and no stat name: the stat is a label (quantile, window)
        ("latency_ms", MetricKind.GAUGE, "seconds", "'ms'"),
        ("wait_ns_total", MetricKind.COUNTER, "seconds", "'ns'"),
        ("request_time_p99", MetricKind.GAUGE, "seconds", "'p99'"),
        ("messages_in_rate1m", MetricKind.GAUGE, "messages_per_second", "'rate1m'"),
        # a rate says per second
        ("records_consumed_rate", MetricKind.GAUGE, "records_per_second", "_per_second"),
        ("records_consumed_per_second", MetricKind.GAUGE, "records_per_second", None),
        # units that are counts of things need no suffix (http_requests_total)
        ("kafka_broker_leaders", MetricKind.GAUGE, "partitions", None),
    ],
)
def test_name_rules(name: str, kind: MetricKind, unit: str, problem: str | None) -> None:
    got = name_problem(name, kind, unit)
    assert (got is None) if problem is None else (got is not None and problem in got), got


def test_a_name_in_the_wrong_unit_is_refused_with_the_fix() -> None:
    data = yaml.safe_load(
        GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X", metric: lag_ms, kind: gauge, '
        "unit: milliseconds}"
    )
    with pytest.raises(
        ConfigError, match="'ms' in 'lag_ms' is not a base unit: name it in seconds"
    ):
        parse_set(data, "broker.yaml")


def test_help_that_repeats_the_name_is_refused() -> None:
    data = yaml.safe_load(
        GOOD_HEAD + 'beans:\n  - {bean: "kafka.server:type=X", metric: m, kind: gauge, '
        'unit: count, help: "m gauge"}'
    )
    with pytest.raises(ConfigError, match="not repeat its name"):
        parse_set(data, "broker.yaml")


def test_every_shipped_metric_has_a_description_and_a_conforming_name() -> None:
    # HELP on /metrics is the catalog's description: every shipped line has one.
    for s in default_catalog().sets:
        for bean, m in s.metrics():
            assert m.help and not m.help.startswith("JMX "), f"{bean.source}: {m.name} has no help"
            assert name_problem(m.name, m.kind, m.base_unit) is None


def test_one_line_entries_for_one_bean_are_read_together() -> None:
    # Two lines naming the same bean become one spec: one getAttributes per MBean.
    data = yaml.safe_load(
        GOOD_HEAD + "beans:\n"
        '  - {bean: "kafka.server:type=raft-metrics", attr: a, metric: m1, kind: gauge, '
        "unit: count}\n"
        '  - {bean: "kafka.server:type=raft-metrics", attr: b, metric: m2, kind: gauge, '
        "unit: count}\n"
    )
    s: CatalogSet = parse_set(data, "broker.yaml")
    assert len(s.beans) == 1 and s.beans[0].attributes() == ("a", "b")


def test_legacy_underscore_topic_copies_are_dropped() -> None:
    # Kafka 4.3.1 registers topic=dot_ted beside topic=dot.ted for the same partition.
    names = [
        {"client-id": "c", "topic": "dot.ted", "partition": "0"},
        {"client-id": "c", "topic": "dot_ted", "partition": "0"},
        {"client-id": "c", "topic": "plain_name", "partition": "0"},  # a real underscore
        {"client-id": "d", "topic": "dot_ted", "partition": "0"},  # other client: no twin
    ]
    kept = drop_legacy_topic_copies(names, lambda k: k)
    assert kept == [names[0], names[2], names[3]]

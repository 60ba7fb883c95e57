"""The helper jar's batch read (``KafkascopeJmx.readMany``), which the batching connection
uses by default, gives exactly what per-MBean reads give, for every kind of answer."""

from __future__ import annotations

import pytest

from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.jmx import batching
from kafkascope.sources.jmx.batching import BatchingJmxConnection
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint

pytestmark = pytest.mark.integration

RAFT = "kafka.server:type=raft-metrics"
PARTITIONS = "kafka.server:type=ReplicaManager,name=PartitionCount"
REQUEST_RATE = "kafka.network:type=RequestMetrics,name=RequestsPerSec,request=Fetch,version=*"


def test_batch_read_in_java_equals_reads_one_by_one(sandbox: SandboxState) -> None:
    endpoint = JmxEndpoint.parse(sandbox.processes[0].jmx)
    fast, plain = BatchingJmxConnection(endpoint, timeout=10), JmxConnection(endpoint, timeout=10)
    fast.connect()
    plain.connect()
    try:
        assert batching._batch_helper() is not None, "the helper jar lacks readMany: rebuild it"
        meter = fast.query_names(REQUEST_RATE)[0].canonical
        reads: list[tuple[str, list[str]]] = [
            (PARTITIONS, ["Value"]),  # an Integer: WHOLE
            (RAFT, ["current-state"]),  # a String: OTHER
            (RAFT, ["high-watermark", "current-state", "current-leader"]),  # LIST
            (meter, ["OneMinuteRate"]),  # a Double: NUMBER
            (meter, ["Count", "NoSuchAttribute"]),  # LIST without the unknown one
            (PARTITIONS, ["NoSuchAttribute"]),  # FAILED: {}
            ("kafka.server:type=NoSuchBean", ["Value"]),  # VANISHED: None
        ]
        got = fast.get_attributes_many(reads)
        assert got[-1] is None and got[-2] == {}
        for (name, attrs), value in zip(reads[:-2], got[:-2], strict=True):
            expected = plain.get_attributes(name, attrs)
            assert value is not None and set(value) == set(expected), name
            for key, v in value.items():
                assert isinstance(v, int | float | str | bool | dict), (name, key, type(v))
                if key not in ("OneMinuteRate", "Count", "high-watermark"):  # these move
                    assert v == expected[key], (name, key)
    finally:
        fast.close()
        plain.close()

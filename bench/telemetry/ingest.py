"""Benchmark: how many KIP-714 pushes ``kafkascope serve`` takes per second on one core,
and what one push costs (issue 15 budget: >= 5,000 pushes/s).

Two parts:

- ``http``: a real ``kafkascope serve`` process pinned to core 0 (``taskset -c 0``; its
  admin workers inherit the pin) receives ``POST /v1/metrics`` from ``wrk`` pinned to core
  1, 12 kept-alive connections (three brokers' plugins at ``max.in.flight=4``), every
  request a push as the plugin sends it (docs/telemetry.md: token, ``X-Kafkascope-*``
  headers, protobuf body), rotating over ``--clients`` client instance ids per client kind.
  Side by side, in alternating rounds on the same core, two peers get the same requests:
  ``asgi``, a bare ASGI app under the same uvicorn configuration that only reads the body
  and answers 200 (the HTTP floor of serve's stack), and ``fastapi``, one FastAPI route
  doing the same (the framework's floor). Each round reads the server's CPU time
  (``/proc``, the process and its children) before and after: pushes/s and CPU per push.
  Each payload kind gets a fresh server with an empty data dir (the clients of the kind
  before would go DEAD mid-round), and serve's ``/metrics`` gives the share of pushes it
  read by layout.
- ``inprocess``: the receiver's own work per push, on core 0 in this process: protobuf
  parse only, :func:`decode_push` (parse + name mapping), and ``TelemetryInbox.receive``
  (headers + decode + fold into the client's state), which is what the route calls: after
  a client's first push, its pushes are read by layout (``sources/telemetry_layout.py``).

Each payload is built in 16 variants (other numbers and timestamps, the same metrics), and
a client's successive pushes are successive variants, as a real client's differ.

Payloads, built with opentelemetry-proto (``--dump DIR`` writes them out):

- ``java_catalog``: the same Java consumer under kafkascope's default subscription
  (``metrics = ["catalog"]``: the names the catalog reads, KIP-714 prefix matching), i.e.
  ``java`` below with every metric the subscription does not ask for left out.
- ``java``: a Java consumer (Kafka 4.x classic protocol) subscribed with ``metrics`` =
  ``org.apache.kafka.consumer.`` (the default before 2026-12-04): every metric of its groups
  ``consumer-metrics``, ``consumer-coordinator-metrics``, ``consumer-fetch-manager-metrics``
  (client, one topic, six partitions) and ``consumer-node-metrics`` (three brokers and the
  coordinator), named by Kafka's ``TelemetryMetricNamingConvention``; ``*-total`` as delta
  sums, the rest gauges; ``node_id``, ``topic``, ``partition`` attributes.
- ``librdkafka``: a librdkafka >= 2.5 consumer (confluent-kafka-python): KIP-714's standard
  consumer metrics that librdkafka pushes (connection creation, per-node request latency,
  coordinator assigned partitions / rebalance / commit latency, fetch latency, poll idle
  ratio).

Prints one JSON object and writes it to ``results-ingest-<time>.json`` beside this file.

    .venv/bin/python bench/telemetry/ingest.py [--part inprocess,http] [--seconds 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    AggregationTemporality,
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from kafkascope.sources.telemetry import CATALOG_METRICS, subscription_metrics

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
KAFKASCOPE = ROOT / ".venv" / "bin" / "kafkascope"
TOKEN = "bench-telemetry-token"
CONNECTIONS = 12  # 3 brokers x the plugin's max.in.flight (4)

# ---------------------------------------------------------------------------------------
# Payloads
# ---------------------------------------------------------------------------------------


def _names(text: str) -> list[str]:
    return text.split()


_NET = _names(
    "outgoing-byte-rate outgoing-byte-total request-rate request-total request-size-avg "
    "request-size-max incoming-byte-rate incoming-byte-total request-latency-avg "
    "request-latency-max response-rate response-total"
)
#: Java consumer, Kafka 4.x: group -> metric names (client-level tags only).
JAVA_CONSUMER: dict[str, list[str]] = {
    "consumer-metrics": [
        *_NET,
        *_names(
            "connection-close-rate connection-close-total connection-creation-rate "
            "connection-creation-total network-io-rate network-io-total select-rate "
            "select-total io-wait-time-ns-avg io-wait-time-ns-total io-wait-ratio "
            "io-time-ns-avg io-time-ns-total io-ratio connection-count "
            "successful-authentication-rate successful-authentication-total "
            "failed-authentication-rate failed-authentication-total "
            "successful-authentication-no-reauth-total successful-reauthentication-rate "
            "successful-reauthentication-total failed-reauthentication-rate "
            "failed-reauthentication-total reauthentication-latency-max "
            "reauthentication-latency-avg last-poll-seconds-ago time-between-poll-avg "
            "time-between-poll-max poll-idle-ratio-avg commit-sync-time-ns-total "
            "committed-time-ns-total"
        ),
    ],
    "consumer-coordinator-metrics": _names(
        "heartbeat-response-time-max heartbeat-rate heartbeat-total join-time-avg "
        "join-time-max join-rate join-total sync-time-avg sync-time-max sync-rate "
        "sync-total rebalance-latency-avg rebalance-latency-max rebalance-latency-total "
        "rebalance-rate-per-hour rebalance-total failed-rebalance-rate-per-hour "
        "failed-rebalance-total last-rebalance-seconds-ago last-heartbeat-seconds-ago "
        "commit-latency-avg commit-latency-max commit-rate commit-total assigned-partitions "
        "partition-assigned-latency-avg partition-assigned-latency-max "
        "partition-revoked-latency-avg partition-revoked-latency-max "
        "partition-lost-latency-avg partition-lost-latency-max"
    ),
    "consumer-fetch-manager-metrics": _names(
        "fetch-size-avg fetch-size-max bytes-consumed-rate bytes-consumed-total "
        "records-per-request-avg records-consumed-rate records-consumed-total "
        "fetch-latency-avg fetch-latency-max fetch-rate fetch-total records-lag-max "
        "records-lead-min fetch-throttle-time-avg fetch-throttle-time-max"
    ),
}
JAVA_TOPIC = _names(
    "fetch-size-avg fetch-size-max bytes-consumed-rate bytes-consumed-total "
    "records-per-request-avg records-consumed-rate records-consumed-total"
)
JAVA_PARTITION = _names(
    "records-lag records-lag-avg records-lag-max records-lead records-lead-avg "
    "records-lead-min preferred-read-replica"
)
JAVA_NODES = ("1", "2", "3", "2147483646")  # three brokers and the coordinator connection
PARTITIONS = 6

#: librdkafka >= 2.5 consumer: KIP-714's standard consumer metrics it pushes
#: (name, kind, per-node).
LIBRDKAFKA_CONSUMER: list[tuple[str, str, bool]] = [
    ("connection.creation.rate", "gauge", False),
    ("connection.creation.total", "sum", False),
    ("node.request.latency.avg", "gauge", True),
    ("node.request.latency.max", "gauge", True),
    ("coordinator.assigned.partitions", "gauge", False),
    ("coordinator.rebalance.latency.avg", "gauge", False),
    ("coordinator.rebalance.latency.max", "gauge", False),
    ("coordinator.rebalance.latency.total", "sum", False),
    ("fetch.manager.fetch.latency.avg", "gauge", False),
    ("fetch.manager.fetch.latency.max", "gauge", False),
    ("poll.idle.ratio.avg", "gauge", False),
    ("coordinator.commit.latency.avg", "gauge", False),
    ("coordinator.commit.latency.max", "gauge", False),
]


def _kv(key: str, value: str) -> KeyValue:
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _metric(name: str, total: bool, points: list[tuple[list[KeyValue], float]], now: int) -> Metric:
    dps = [
        NumberDataPoint(
            attributes=attrs,
            start_time_unix_nano=now - 10_000_000_000,
            time_unix_nano=now,
            as_double=value,
        )
        for attrs, value in points
    ]
    if total:
        delta = AggregationTemporality.AGGREGATION_TEMPORALITY_DELTA
        return Metric(
            name=name, sum=Sum(data_points=dps, aggregation_temporality=delta, is_monotonic=True)
        )
    return Metric(name=name, gauge=Gauge(data_points=dps))


def _otlp_name(group: str, name: str) -> str:
    group = group.removesuffix("-metrics").replace("-", ".")
    return ".".join(("org.apache.kafka", group, name.replace("-", ".")))


def _request(resource: list[KeyValue], scope: str, metrics: list[Metric]) -> bytes:
    req = ExportMetricsServiceRequest(
        resource_metrics=[
            ResourceMetrics(
                resource=Resource(attributes=resource),
                scope_metrics=[
                    ScopeMetrics(scope=InstrumentationScope(name=scope), metrics=metrics)
                ],
            )
        ]
    )
    return req.SerializeToString()


def java_consumer_push(variant: int = 0) -> bytes:
    """One push of a Java consumer (see the module docstring); ``variant`` changes every
    number and timestamp, as a client's next push does, and nothing else."""
    metrics: list[Metric] = []
    now = time.time_ns() + variant * 10_000_000_000
    value = iter(float(i) * 1.37 + variant * 0.731 for i in range(1, 10_000))
    for group, names in JAVA_CONSUMER.items():
        for n in names:
            point: list[tuple[list[KeyValue], float]] = [([], next(value))]
            metrics.append(_metric(_otlp_name(group, n), n.endswith("-total"), point, now))
    for n in _NET:
        points = [([_kv("node_id", node)], next(value)) for node in JAVA_NODES]
        metrics.append(
            _metric(_otlp_name("consumer-node-metrics", n), n.endswith("-total"), points, now)
        )
    topic = [_kv("topic", "orders")]
    for n in JAVA_TOPIC:
        name = _otlp_name("consumer-fetch-manager-metrics", n)
        metrics.append(_metric(name, n.endswith("-total"), [(topic, next(value))], now))
    for n in JAVA_PARTITION:
        points = [([*topic, _kv("partition", str(p))], next(value)) for p in range(PARTITIONS)]
        name = _otlp_name("consumer-fetch-manager-metrics", n)
        metrics.append(_metric(name, False, points, now))
    resource = [_kv("client_rack", ""), _kv("group_id", "orders-app")]
    return _request(resource, "org.apache.kafka", metrics)


def java_catalog_push(variant: int = 0) -> bytes:
    """The Java consumer's push under ``metrics = ["catalog"]``: only the metrics whose
    names start with one the subscription lists (the broker matches by prefix)."""
    wanted = subscription_metrics([CATALOG_METRICS])
    req = ExportMetricsServiceRequest()
    req.ParseFromString(java_consumer_push(variant))
    for rm in req.resource_metrics:
        for sm in rm.scope_metrics:
            kept = [m for m in sm.metrics if m.name.startswith(wanted)]
            del sm.metrics[:]
            sm.metrics.extend(kept)
    return req.SerializeToString()


def librdkafka_consumer_push(variant: int = 0) -> bytes:
    """One push of a librdkafka (confluent-kafka-python) consumer (``variant``: as above)."""
    metrics: list[Metric] = []
    now = time.time_ns() + variant * 10_000_000_000
    value = iter(float(i) * 2.11 + variant * 0.517 for i in range(1, 1000))
    for name, kind, per_node in LIBRDKAFKA_CONSUMER:
        nodes = JAVA_NODES[:3] if per_node else (None,)
        points = [([_kv("node_id", n)] if n else [], next(value)) for n in nodes]
        metrics.append(_metric(f"org.apache.kafka.consumer.{name}", kind == "sum", points, now))
    resource = [_kv("client_rack", ""), _kv("group_id", "orders-app")]
    return _request(resource, "librdkafka", metrics)


#: Each payload in this many variants: the same metrics, other numbers and timestamps. A
#: client's successive pushes are successive variants, as a real client's differ.
VARIANTS = 16
# Client instance ids differ per payload kind (the first 8 hex digits).
TAGS = {"java": 1, "librdkafka": 2, "java_catalog": 3}
PAYLOADS: dict[str, Callable[[int], bytes]] = {
    "java_catalog": java_catalog_push,
    "java": java_consumer_push,
    "librdkafka": librdkafka_consumer_push,
}
SOFTWARE = {
    "java_catalog": ("apache-kafka-java", "4.3.1"),
    "java": ("apache-kafka-java", "4.3.1"),
    "librdkafka": ("confluent-kafka-python", "2.16.1"),
}


def headers_of(kind: str, n: int) -> dict[str, str]:
    """The plugin's headers for push ``n`` of client kind ``kind`` (docs/telemetry.md)."""
    name, version = SOFTWARE[kind]
    tag = TAGS[kind]
    return {
        "Content-Type": "application/x-protobuf",
        "Authorization": f"Bearer {TOKEN}",
        "X-Kafkascope-Client-Instance-Id": f"{tag:08x}-0000-4000-8000-{n:012x}",
        "X-Kafkascope-Client-Id": f"bench-{kind}-{n}",
        "X-Kafkascope-Software-Name": name,
        "X-Kafkascope-Software-Version": version,
        "X-Kafkascope-Source-Address": "10.1.2.3",
        "X-Kafkascope-Source-Port": str(40000 + n % 20000),
        "X-Kafkascope-Principal": "User:ANONYMOUS",
        "X-Kafkascope-Terminating": "false",
        "X-Kafkascope-Push-Interval-Ms": "10000",
        "X-Kafkascope-Broker-Id": str(1 + n % 3),
    }


def points_of(body: bytes) -> int:
    req = ExportMetricsServiceRequest()
    req.ParseFromString(body)
    return sum(
        len(getattr(m, str(m.WhichOneof("data"))).data_points)
        for rm in req.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )


# ---------------------------------------------------------------------------------------
# In-process: the receiver's own work per push
# ---------------------------------------------------------------------------------------


def inprocess(kind: str, bodies: list[bytes], clients: int, reps: int) -> dict[str, Any]:
    """CPU per push (process time, on core 0) of parse, decode_push, inbox.receive; push
    ``i`` is client ``i % clients`` with the numbers of variant ``i // clients``."""
    from google.protobuf.internal import api_implementation

    from kafkascope.sources.telemetry import decode_push, push_meta
    from kafkascope.sources.telemetry_inbox import TelemetryInbox

    os.sched_setaffinity(0, {0})
    inbox = TelemetryInbox("bench", tokens=[TOKEN])
    headers = [headers_of(kind, n) for n in range(clients)]
    meta = push_meta(headers[0])

    def per_push(step: Callable[[int], object]) -> float:
        for i in range(clients):  # warm: every client known, as in steady state
            step(i)
        t0 = time.process_time()
        for i in range(reps):
            step(i)
        return 1e6 * (time.process_time() - t0) / reps

    def body(i: int) -> bytes:
        return bodies[(i // clients) % len(bodies)]

    parse_us = per_push(lambda i: ExportMetricsServiceRequest().ParseFromString(body(i)))
    decode_us = per_push(lambda i: decode_push(body(i), meta, inbox.names))
    receive_us = per_push(lambda i: inbox.receive(headers[i % clients], body(i)))
    decoded = decode_push(bodies[0], meta, inbox.names)
    return {
        "protobuf_backend": api_implementation.Type(),
        "reps": reps,
        "parse_us": round(parse_us, 1),
        "decode_push_us": round(decode_us, 1),
        "inbox_receive_us": round(receive_us, 1),
        "inbox_receive_pushes_per_cpu_second": round(1e6 / receive_us),
        "read_by_layout": round(inbox.by_layout / inbox.received, 3),
        "mapped_values": len(decoded.values),
        "unmapped_points": decoded.unmapped,
    }


# ---------------------------------------------------------------------------------------
# Over HTTP: serve and its peers under wrk
# ---------------------------------------------------------------------------------------

WRK_LUA = """
local bodies, variants, kind, tag, n, i
function init(args)
  variants = tonumber(args[7]); bodies = {}
  for v = 0, variants - 1 do
    local f = io.open(args[1] .. "." .. v .. ".bin", "rb"); bodies[v] = f:read("*a"); f:close()
  end
  kind = args[2]; tag = tonumber(args[3]); n = tonumber(args[4]); i = 0
  software = args[5]; version = args[6]
end
function request()
  i = i + 1
  local c = i % n
  local body = bodies[math.floor(i / n) % variants]  -- each client's next push: new numbers
  return wrk.format("POST", "/v1/metrics", {
    ["Content-Type"] = "application/x-protobuf",
    ["Authorization"] = "Bearer @TOKEN@",
    ["X-Kafkascope-Client-Instance-Id"] = string.format("%08x-0000-4000-8000-%012x", tag, c),
    ["X-Kafkascope-Client-Id"] = "bench-" .. kind .. "-" .. c,
    ["X-Kafkascope-Software-Name"] = software,
    ["X-Kafkascope-Software-Version"] = version,
    ["X-Kafkascope-Source-Address"] = "10.1.2.3",
    ["X-Kafkascope-Source-Port"] = tostring(40000 + c % 20000),
    ["X-Kafkascope-Principal"] = "User:ANONYMOUS",
    ["X-Kafkascope-Terminating"] = "false",
    ["X-Kafkascope-Push-Interval-Ms"] = "10000",
    ["X-Kafkascope-Broker-Id"] = tostring(1 + c % 3),
  }, body)
end
""".replace("@TOKEN@", TOKEN)


def _peer_app(kind: str) -> Any:
    """The peers: read the whole body, answer 200 with an empty protobuf body."""
    if kind == "fastapi":
        app = FastAPI()

        @app.post("/v1/metrics")
        async def receive(request: Request) -> Response:
            await request.body()
            return Response(b"", media_type="application/x-protobuf")

        @app.get("/api/v1/health")
        async def health() -> dict[str, str]:
            return {"status": "ok"}

        return app

    async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
        more = True
        while more:
            message = await receive()
            more = message.get("more_body", False)
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", b"application/x-protobuf")],
            }
        )
        await send({"type": "http.response.body", "body": b""})

    return asgi


def serve_peer(kind: str, port: int) -> None:
    """Run a peer under the same uvicorn configuration as serve (api/server.py)."""
    import uvicorn

    config = uvicorn.Config(
        _peer_app(kind),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    asyncio.run(uvicorn.Server(config).serve())


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*"):
            with suppress(OSError):
                todo += [int(c) for c in (task / "children").read_text().split()]
    return out


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live children."""
    total = 0.0
    for p in _tree(pid):
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _wait_ok(url: str, proc: subprocess.Popen[bytes], timeout: float = 90) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server for {url} exited {proc.returncode}")
        try:
            httpx.get(url, timeout=2)  # any answer: listening (serve's cluster is absent)
            return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout:.0f} s")


def serve_config(work: Path, bootstrap: str) -> Path:
    """A config with a data dir of its own: a serve must not restore the previous one's
    clients (2,000 of them, judged DEAD) from the store."""
    data = Path(tempfile.mkdtemp(prefix="data-", dir=work))
    cfg = data / "kafkascope.toml"
    cfg.write_text(
        f'[service]\ndata_dir = "{data}"\n\n'
        f'[[clusters]]\nname = "bench"\nbootstrap = "{bootstrap}"\n\n'
        f'[clusters.telemetry]\ntokens = ["{TOKEN}"]\n'
    )
    return cfg


@contextmanager
def server(which: str, work: Path, bootstrap: str) -> Iterator[tuple[str, int]]:
    """``serve``, ``asgi`` or ``fastapi`` on core 0; yields (base URL, pid)."""
    port = _free_port()
    if which == "serve":
        cmd = [str(KAFKASCOPE), "serve", "--config", str(serve_config(work, bootstrap))]
        cmd += ["--listen", f"127.0.0.1:{port}"]
    else:
        cmd = [sys.executable, __file__, "--peer", which, "--port", str(port)]
    log = open(work / f"{which}.log", "ab")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(
        ["taskset", "-c", "0", *cmd], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )
    log.close()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ok(f"{url}/api/v1/health", proc)
        yield url, proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def wrk(url: str, lua: Path, body: Path, kind: str, clients: int, seconds: float) -> dict[str, Any]:
    """wrk's figures for pushes of ``kind`` (bodies ``<body>.<variant>.bin``)."""
    tag = TAGS[kind]
    software, version = SOFTWARE[kind]
    cmd = ["taskset", "-c", "1", "wrk", "-t", "1", "-c", str(CONNECTIONS)]
    cmd += ["-d", f"{seconds:g}s", "--latency", "-s", str(lua), url, "--"]
    cmd += [str(body), kind, str(tag), str(clients), software, version, str(VARIANTS)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    if m is None:
        raise RuntimeError(f"wrk said: {out}")
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    # The distribution's own lines ("  50%  1.80ms"), not a "+/- Stdev" column ending in 50%.
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    return {
        "requests": int(m.group(1)),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": errors.group(1) if errors else "",
        "latency_p50": p50.group(1) if p50 else None,
        "latency_p99": p99.group(1) if p99 else None,
    }


def _by_layout(url: str) -> float | None:
    """The share of the pushes serve took that it read by layout (its /metrics)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as r:
        text = r.read().decode()
    found = {
        line.split("{", 1)[0]: line.rsplit(" ", 1)[1]
        for line in text.splitlines()
        if line.startswith(("kafkascope_telemetry_pushes_total{", "kafkascope_telemetry_pushes_by"))
    }
    total = float(found.get("kafkascope_telemetry_pushes_total", 0))
    laid = float(found.get("kafkascope_telemetry_pushes_by_layout_total", 0))
    return round(laid / total, 3) if total else None


def http_part(
    args: argparse.Namespace, bodies: dict[str, list[bytes]], work: Path
) -> dict[str, Any]:
    lua = work / "push.lua"
    lua.write_text(WRK_LUA)
    files = {}
    for kind, variants in bodies.items():
        files[kind] = work / kind  # the script reads <kind>.<variant>.bin
        for v, body in enumerate(variants):
            (work / f"{kind}.{v}.bin").write_bytes(body)
    rounds: list[dict[str, Any]] = []
    idle: dict[str, float] = {}
    for r in range(args.rounds):
        for which in ("serve", "asgi", "fastapi"):
            # A server per payload: the clients of one kind, silent once its round ends,
            # would go DEAD (2,000 client_dead alerts) in the middle of the next kind's.
            for kind in bodies:
                with server(which, work, args.bootstrap) as (url, pid):
                    if r == 0 and which == "serve" and not idle:
                        c0, t0 = _cpu(pid), time.monotonic()
                        time.sleep(5)
                        idle["serve_idle_cores"] = round(
                            (_cpu(pid) - c0) / (time.monotonic() - t0), 4
                        )
                    wrk(url, lua, files[kind], kind, args.clients, 2)  # warm: every client known
                    background = None
                    if which == "serve":
                        # serve's own work for these clients with no push arriving (client
                        # polls every 5 s, history, alert rules): what is not the receiver's.
                        c0, t0 = _cpu(pid), time.monotonic()
                        time.sleep(args.seconds)
                        background = (_cpu(pid) - c0) / (time.monotonic() - t0)
                    c0, t0 = _cpu(pid), time.monotonic()
                    w = wrk(url, lua, files[kind], kind, args.clients, args.seconds)
                    elapsed, cpu = time.monotonic() - t0, _cpu(pid) - c0
                    row = {
                        "round": r,
                        "server": which,
                        "payload": kind,
                        "pushes_per_s": round(w["requests"] / elapsed),
                        "cpu_us_per_push": round(1e6 * cpu / w["requests"], 1),
                        "server_cores": round(cpu / elapsed, 3),
                        **w,
                    }
                    if which == "serve":
                        row["read_by_layout"] = _by_layout(url)
                    if background is not None:
                        receiver = max(cpu - background * elapsed, 1e-9)
                        row["background_cores"] = round(background, 3)
                        row["receiver_us_per_push"] = round(1e6 * receiver / w["requests"], 1)
                        row["receiver_pushes_per_core_s"] = round(w["requests"] / receiver)
                    print(json.dumps(row), file=sys.stderr)
                    rounds.append(row)
    summary: dict[str, Any] = {}
    for kind in bodies:
        for which in ("serve", "asgi", "fastapi"):
            mine = [x for x in rounds if x["server"] == which and x["payload"] == kind]
            summary[f"{kind}/{which}"] = {
                "pushes_per_s": round(statistics.median(x["pushes_per_s"] for x in mine)),
                "cpu_us_per_push": round(statistics.median(x["cpu_us_per_push"] for x in mine), 1),
            }
            if which == "serve":
                keys = ("background_cores", "receiver_us_per_push", "receiver_pushes_per_core_s")
                summary[f"{kind}/{which}"] |= {
                    k: round(statistics.median(x[k] for x in mine), 3) for k in keys
                }
        s, a = summary[f"{kind}/serve"], summary[f"{kind}/asgi"]
        summary[f"{kind}/serve_to_asgi_throughput"] = round(
            s["pushes_per_s"] / a["pushes_per_s"], 2
        )
    return {"rounds": rounds, "summary": summary, **idle}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--part", default="inprocess,http")
    p.add_argument("--clients", type=int, default=2000, help="client instance ids per kind")
    p.add_argument("--seconds", type=float, default=10.0, help="per wrk round")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--reps", type=int, default=5000, help="pushes per in-process timing")
    p.add_argument("--bootstrap", default="127.0.0.1:9", help="serve's cluster (none listens)")
    p.add_argument("--dump", type=Path, help="write the payloads to DIR and stop")
    p.add_argument("--peer", choices=("asgi", "fastapi"), help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.peer:
        serve_peer(args.peer, args.port)
        return
    bodies = {k: [make(v) for v in range(VARIANTS)] for k, make in PAYLOADS.items()}
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for k, variants in bodies.items():
            (args.dump / f"{k}.bin").write_bytes(variants[0])
            for v, b in enumerate(variants):
                (args.dump / f"{k}.{v}.bin").write_bytes(b)
        return
    parts = set(args.part.split(","))
    if unknown := parts - {"inprocess", "http"}:
        p.error(f"unknown --part {','.join(sorted(unknown))}: use inprocess and/or http")
    if "http" in parts and shutil.which("wrk") is None:
        p.error("wrk is not installed: apt-get install -y wrk (or --part inprocess)")
    result: dict[str, Any] = {
        "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_avg_at_start": os.getloadavg(),
        "payloads": {
            k: {"bytes": len(b[0]), "points": points_of(b[0]), "variants": len(b)}
            for k, b in bodies.items()
        },
        "clients_per_kind": args.clients,
    }
    if "inprocess" in parts:
        cpus = os.sched_getaffinity(0)
        result["inprocess"] = {
            k: inprocess(k, b, args.clients, args.reps) for k, b in bodies.items()
        }
        os.sched_setaffinity(0, cpus)  # the driver must not sit on the server's core
    if "http" in parts:
        work = Path(tempfile.mkdtemp(prefix=f"kafkascope-bench-ingest-{uuid.uuid4().hex[:4]}-"))
        try:
            result["http"] = http_part(args, bodies, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2)
    print(text)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (HERE / f"results-ingest-{stamp}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()

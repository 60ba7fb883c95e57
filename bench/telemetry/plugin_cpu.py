"""Benchmark: the broker CPU kafkascope's KIP-714 plugin adds, with N clients pushing.

Two one-node sandbox brokers run side by side on the same machine: ``plugin`` loads
kafkascope's telemetry plugin (forwarding to a local HTTP sink that answers 200) and has a
``CLIENT_METRICS`` subscription (every ``--interval-ms``); ``peer`` runs no plugin. Each gets
``--clients`` simulated clients: one TCP connection each, speaking the Kafka protocol
directly (GetTelemetrySubscriptions, then PushTelemetry every push interval with a realistic
uncompressed OTLP payload made with opentelemetry-proto). The peer's clients get no
subscription (a broker without a plugin does not serve telemetry), so they hold the same
number of idle connections: the difference between the two brokers' CPU is what telemetry
costs a broker with the plugin, Kafka's own handling of the pushes included (an upper bound
of the plugin's share).

After ``--warmup`` seconds (every client subscribed and pushing) both brokers' CPU time
(``/proc/PID/stat`` utime+stime) is read over ``--seconds``; the result is the added CPU as
a share of one core, and the plugin's own counters (JMX). A third broker, ``dropping``, loads
the plugin with no endpoint (every push copied, queued and dropped): it splits the added CPU
into Kafka's own handling of pushes and the plugin's HTTP forwarding. Prints one JSON object
and writes it to ``results-plugin-<time>.json`` beside this file (git-ignored).

    .venv/bin/python bench/telemetry/plugin_cpu.py [--clients 1000] [--interval-ms 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import shutil
import struct
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1.metrics_pb2 import (
    Gauge,
    Metric,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
)

from kafkascope.sandbox import cluster, telemetry
from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint

GET_SUBSCRIPTIONS, PUSH = 71, 72
HERE = Path(__file__).resolve().parent


def payload(n_metrics: int = 60) -> bytes:
    """An OTLP request shaped like a Java consumer's push: one resource, gauges with the
    client's attributes."""
    attrs = [
        KeyValue(key="client_id", value=AnyValue(string_value="bench-client")),
        KeyValue(key="node_id", value=AnyValue(string_value="1")),
    ]
    metrics = [
        Metric(
            name=f"org.apache.kafka.consumer.fetch.manager.metric.{i}",
            gauge=Gauge(
                data_points=[
                    NumberDataPoint(
                        attributes=attrs, time_unix_nano=time.time_ns(), as_double=i * 1.5
                    )
                ]
            ),
        )
        for i in range(n_metrics)
    ]
    req = ExportMetricsServiceRequest(
        resource_metrics=[ResourceMetrics(scope_metrics=[ScopeMetrics(metrics=metrics)])]
    )
    return req.SerializeToString()


def _uvarint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _read_uvarint(buf: bytes, pos: int) -> tuple[int, int]:
    shift = value = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if not b & 0x80:
            return value, pos
        shift += 7


def _request(api_key: int, correlation: int, body: bytes) -> bytes:
    """Request header v2 (flexible): key, version 0, correlation id, client id, no tags."""
    client = b"bench-pusher"
    header = struct.pack(">hhih", api_key, 0, correlation, len(client)) + client + b"\x00"
    msg = header + body
    return struct.pack(">i", len(msg)) + msg


async def _call(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, data: bytes) -> bytes:
    writer.write(data)
    await writer.drain()
    size = struct.unpack(">i", await reader.readexactly(4))[0]
    resp = await reader.readexactly(size)
    return resp[5:]  # correlation id (4) and an empty tagged-field section (1)


async def _client(
    host: str, port: int, body: bytes, stop: float, stats: dict[str, int], spread: float
) -> None:
    """One simulated client: subscribe, then push every interval until ``stop``."""
    await asyncio.sleep(random.uniform(0, spread))
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError:
        stats["connect_errors"] += 1
        return
    corr = 0
    try:
        corr += 1
        resp = await _call(reader, writer, _request(GET_SUBSCRIPTIONS, corr, bytes(16) + b"\x00"))
        _throttle, error = struct.unpack(">ih", resp[:6])
        if error:
            stats["not_subscribed"] += 1
            await asyncio.sleep(max(0.0, stop - time.monotonic()))  # an idle connection
            return
        instance = resp[6:22]
        sub_id = struct.unpack(">i", resp[22:26])[0]
        n, pos = _read_uvarint(resp, 26)
        pos += n - 1
        interval_ms = struct.unpack(">i", resp[pos : pos + 4])[0]
        stats["subscribed"] += 1
        # A first push only after one interval: the broker refuses an earlier one.
        await asyncio.sleep(interval_ms / 1000 * random.uniform(1.0, 1.1))
        while time.monotonic() < stop:
            corr += 1
            push = (
                instance
                + struct.pack(">i?b", sub_id, False, 0)
                + _uvarint(len(body) + 1)
                + body
                + b"\x00"
            )
            resp = await _call(reader, writer, _request(PUSH, corr, push))
            error = struct.unpack(">h", resp[4:6])[0]
            stats["pushes" if error == 0 else "push_errors"] += 1
            await asyncio.sleep(interval_ms / 1000 * 1.01)
    except (OSError, asyncio.IncompleteReadError):
        stats["dropped_connections"] += 1
    finally:
        writer.close()


def _pushers(
    bootstrap: str, clients: int, body: bytes, stop: float, spread: float
) -> tuple[threading.Thread, dict[str, int]]:
    host, port = bootstrap.split(",")[0].rsplit(":", 1)
    stats = dict.fromkeys(
        ["subscribed", "not_subscribed", "pushes", "push_errors", "connect_errors",
         "dropped_connections"], 0
    )  # fmt: skip

    async def main() -> None:
        await asyncio.gather(
            *(_client(host, int(port), body, stop, stats, spread) for _ in range(clients))
        )

    t = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    t.start()
    return t, stats


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _sink() -> Iterator[dict[str, int]]:
    """kafkascope's stand-in: accepts every push with 200."""
    count = {"posts": 0}

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            count["posts"] += 1
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    count["port"] = server.server_address[1]
    try:
        yield count
    finally:
        server.shutdown()
        server.server_close()


def _forwarder(state: SandboxState) -> dict[str, Any]:
    node = state.processes[0]
    with JmxConnection(JmxEndpoint.parse(node.jmx)) as conn:
        return conn.get_attributes(
            telemetry.MBEAN.format(node=node.node_id),
            ["Received", "Sent", "Dropped", "SendErrors", "QueueSize"],
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="kafkascope-bench-telemetry-"))
    states: list[SandboxState] = []
    try:
        with _sink() as sink:
            plugin = cluster.up(
                work / "plugin",
                brokers=1,
                workload=False,
                telemetry_endpoint=f"http://127.0.0.1:{sink['port']}",
                telemetry_interval_ms=args.interval_ms,
            )
            states.append(plugin)
            # The plugin loaded but with no endpoint: every push is copied, queued and
            # dropped, so this broker pays Kafka's own push handling and nothing of HTTP.
            dropping = cluster.up(
                work / "dropping",
                brokers=1,
                workload=False,
                telemetry_interval_ms=args.interval_ms,
            )
            states.append(dropping)
            telemetry.files(work / "dropping").endpoint.write_text("")
            peer = cluster.up(work / "peer", brokers=1, workload=False, telemetry_plugin=False)
            states.append(peer)
            variants = {"plugin": plugin, "dropping": dropping, "peer": peer}
            body = payload()
            spread = args.interval_ms / 1000
            stop = time.monotonic() + args.warmup + args.seconds + 5
            threads, stats = [], {}
            for name, st in variants.items():
                t, s = _pushers(st.bootstrap, args.clients, body, stop, spread)
                threads.append(t)
                stats[name] = s
            time.sleep(args.warmup)
            pids = {k: st.processes[0].pid for k, st in variants.items()}
            before = {k: _cpu_seconds(p) for k, p in pids.items()}
            pushes0 = stats["plugin"]["pushes"]
            f0 = _forwarder(plugin)
            t0 = time.monotonic()
            time.sleep(args.seconds)
            elapsed = time.monotonic() - t0
            after = {k: _cpu_seconds(p) for k, p in pids.items()}
            f1 = _forwarder(plugin)
            pushes = stats["plugin"]["pushes"] - pushes0
            for t in threads:
                t.join(timeout=30)
        cores = {k: (after[k] - before[k]) / elapsed for k in pids}
        added = cores["plugin"] - cores["peer"]
        return {
            "when": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "clients": args.clients,
            "interval_ms": args.interval_ms,
            "payload_bytes": len(body),
            "seconds": round(elapsed, 1),
            "pushes_per_second": round(pushes / elapsed, 1),
            "broker_cpu_cores": {k: round(v, 4) for k, v in cores.items()},
            "added_cpu_percent_of_one_core": round(100 * added, 2),
            # Kafka's own handling of the pushes (plugin loaded, dropping everything) and
            # the plugin's forwarding over HTTP on top of it.
            "kafka_push_handling_percent_of_one_core": round(
                100 * (cores["dropping"] - cores["peer"]), 2
            ),
            "http_forwarding_percent_of_one_core": round(
                100 * (cores["plugin"] - cores["dropping"]), 2
            ),
            "cpu_ratio_plugin_to_peer": round(cores["plugin"] / cores["peer"], 2)
            if cores["peer"]
            else None,
            "added_cpu_us_per_push": round(1e6 * added * elapsed / pushes, 1) if pushes else None,
            "forwarder": {k: int(f1[k]) - int(f0[k]) for k in ("Received", "Sent", "Dropped")},
            "sink_posts_total": sink["posts"],
            "pushers": stats,
            "cpus": os.cpu_count(),
        }
    finally:
        for st in states:
            cluster.down(Path(st.dir))
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clients", type=int, default=1000)
    p.add_argument("--interval-ms", type=int, default=10_000)
    p.add_argument("--warmup", type=float, default=25.0)
    p.add_argument("--seconds", type=float, default=60.0)
    args = p.parse_args()
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    (HERE / f"results-plugin-{stamp}.json").write_text(text + "\n")


if __name__ == "__main__":
    main()

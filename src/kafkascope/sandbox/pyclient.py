"""A sandbox client that is no JVM: confluent-kafka (librdkafka), with no JMX at all, as
the Python, Go, .NET and Node clients of real fleets are. kafkascope sees it through its
group membership and its KIP-714 pushes (librdkafka pushes by default,
``enable.metrics.push``), never through JMX.

``python -m kafkascope.sandbox.pyclient --role consumer|producer ...``, started by
``sandbox client start --impl python`` (the sandbox's marker on its command line, as on the
JVMs', so the sandbox only ever signals its own). SIGTERM closes it cleanly (a consumer
leaves its group, and the last push says it is terminating); SIGKILL is a crash.
:func:`spawn` and :func:`wait_started` are the sandbox's side: how it starts one.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer

from kafkascope.errors import SandboxError
from kafkascope.sandbox import procs
from kafkascope.sandbox.state import Proc, SandboxState
from kafkascope.sandbox.workload import ClientSpec, python_args


def spawn(state: SandboxState, spec: ClientSpec, name: str) -> Proc:
    """A confluent-kafka client (``sandbox/pyclient.py``) run by this interpreter: no JVM,
    no JMX port; kafkascope sees it through its group and its telemetry pushes."""
    directory = Path(state.dir)
    log = directory / "clients" / f"{name}.log"
    argv = [
        sys.executable,
        "-m",
        "kafkascope.sandbox.pyclient",
        f"--marker={state.marker}",  # it starts with '-': one argument with its option
        *python_args(state.bootstrap, spec),
    ]
    pid = procs.spawn(argv, log)
    proc = Proc(
        name=name,
        role=spec.role,
        pid=pid,
        jmx="",
        argv=argv,
        log=str(log),
        client_id=spec.client_id,
        group=spec.group,
        topic=spec.topic,
        impl="python",
    )
    state.processes.append(proc)
    return proc


def wait_started(p: Proc, deadline: float) -> None:
    """Until the Python client says it runs (its first line), or fail with its log."""
    log = Path(p.log)
    while time.monotonic() < deadline:
        text = log.read_text(errors="replace") if log.exists() else ""
        if " reading " in text or " writing " in text:
            return
        if not procs.is_alive(p.pid):
            raise SandboxError(
                f"{p.name} (pid {p.pid}) exited during start-up; log {p.log}:\n{text[-3000:]}"
            )
        time.sleep(0.1)
    raise SandboxError(f"{p.name} did not start in time; see {p.log}")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="kafkascope.sandbox.pyclient")
    p.add_argument("--marker", required=True, help="the sandbox's marker (process ownership)")
    p.add_argument("--role", choices=("consumer", "producer"), required=True)
    p.add_argument("--bootstrap", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--group")
    p.add_argument("--client-id")
    p.add_argument("--rate", type=float, default=10.0, help="producer records per second")
    p.add_argument("--property", action="append", default=[], help="KEY=VALUE, last word")
    return p.parse_args(argv)


def _config(a: argparse.Namespace) -> dict[str, Any]:
    conf: dict[str, Any] = {"bootstrap.servers": a.bootstrap}
    if a.client_id:
        conf["client.id"] = a.client_id
    if a.role == "consumer":
        conf |= {"group.id": a.group, "auto.offset.reset": "earliest"}
    else:
        conf |= {"linger.ms": 5}
    for item in a.property:
        key, _, value = item.partition("=")
        conf[key] = value
    return conf


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if a.role == "consumer" and not a.group:
        print("a consumer needs --group G", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    conf = _config(a)
    if a.role == "consumer":
        consumer = Consumer(conf)
        consumer.subscribe([a.topic])
        print(f"consumer {a.client_id} in {a.group} reading {a.topic}", file=sys.stderr)
        while not stop.is_set():
            consumer.poll(0.5)
        consumer.close()  # leaves the group; the last push says it is terminating
        return 0
    producer = Producer(conf)
    print(f"producer {a.client_id} writing {a.topic} at {a.rate:g}/s", file=sys.stderr)
    gap, n = 1.0 / max(a.rate, 0.1), 0
    next_at = time.monotonic()
    while not stop.is_set():
        producer.produce(a.topic, value=f"py-{n}".encode())
        n += 1
        producer.poll(0)
        next_at += gap
        stop.wait(max(0.0, next_at - time.monotonic()))
    producer.flush(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

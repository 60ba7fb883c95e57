"""``make demo``: a real local Kafka cluster with the demo workload, watched by kafkascope
(the service, started as ``kafkascope serve`` starts it), with the URL where it serves printed.

Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
from pathlib import Path
from types import FrameType

from kafkascope.cli.serve import start_service
from kafkascope.config import load_config
from kafkascope.errors import KafkascopeError
from kafkascope.sandbox import cluster, procs
from kafkascope.service.service import Service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkascope-demo")
    parser.add_argument("--dir", type=Path, default=cluster.default_dir())
    parser.add_argument("--brokers", type=int, default=3)
    parser.add_argument("--port", type=int, default=8321, help="preferred HTTP port")
    args = parser.parse_args(argv)
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        print(f"starting a {args.brokers}-broker Kafka sandbox in {args.dir} ...", flush=True)
        state = cluster.up(args.dir, brokers=args.brokers)
    except KafkascopeError as e:
        print(f"kafkascope: error: {e}", file=sys.stderr)
        return 2
    service: Service | None = None
    try:
        rows = cluster.status(args.dir)
        print(json.dumps({"bootstrap": state.bootstrap, "processes": rows}, indent=2))
        print(f"\nsandbox ready in {state.startup_seconds} s; bootstrap {state.bootstrap}")
        print(f"description: {Path(state.dir) / 'sandbox.json'}", flush=True)
        config = load_config(Path(state.dir) / "kafkascope.toml")
        service, url = start_service(config, ("127.0.0.1", _port(args.port)))
        print(f"\nkafkascope is monitoring the sandbox: {url}/api/v1/clusters")
        print(f"  brokers  {url}/api/v1/clusters/sandbox/brokers")
        print(f"  groups   {url}/api/v1/clusters/sandbox/groups")
        print(f"  clients  {url}/api/v1/clusters/sandbox/clients")
        print(f"  alerts   {url}/api/v1/alerts")
        print(f"  metrics  {url}/metrics      API docs {url}/docs")
        print("press Ctrl-C to stop the demo", flush=True)
        stop.wait()
    except KafkascopeError as e:
        print(f"kafkascope: error: {e}", file=sys.stderr)
        return 2
    finally:
        if service is not None:
            print("stopping kafkascope ...", flush=True)
            service.stop()
        print("stopping the sandbox ...", flush=True)
        cluster.down(args.dir)
    return 0


def _port(wanted: int) -> int:
    """``wanted`` when it is free on loopback, otherwise any free port (never assume)."""
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", wanted))
        except OSError:
            return procs.free_port()
    return wanted


if __name__ == "__main__":
    from kafkascope.cli.main import leave

    leave(main())

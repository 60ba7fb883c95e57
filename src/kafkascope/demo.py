"""``make demo``: a real local Kafka cluster with the demo workload, watched by kafkascope.

Runs in the foreground; Ctrl-C (or SIGTERM) stops everything it started."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from kafkascope.errors import KafkascopeError
from kafkascope.sandbox import cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="kafkascope-demo")
    parser.add_argument("--dir", type=Path, default=cluster.default_dir())
    parser.add_argument("--brokers", type=int, default=3)
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
    try:
        rows = cluster.status(args.dir)
        print(json.dumps({"bootstrap": state.bootstrap, "processes": rows}, indent=2))
        print(f"\nsandbox ready in {state.startup_seconds} s; bootstrap {state.bootstrap}")
        print(f"description: {Path(state.dir) / 'sandbox.json'}")
        print("press Ctrl-C to stop the demo", flush=True)
        stop.wait()
    finally:
        print("stopping the sandbox ...", flush=True)
        cluster.down(args.dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())

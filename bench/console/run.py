"""The web console's budgets, each beside a peer measured in the same run.

    .venv/bin/python bench/console/run.py [--seconds 10] [--connections 16]

No Kafka: bench/service's synthetic server (the real ``create_app``, console mounted, one
cluster of 1,000 groups x 10 partitions judged by the real ``evaluate_group``) in its own
process. Measured:

- server time of ``GET /ui/c/bench/groups`` (1,000 rows rendered) under N concurrent
  keep-alive connections, against ``GET /api/v1/clusters/bench/groups`` (the JSON of the
  same groups, built once per report) in the same run;
- page weight on first load in Chromium (bytes transferred: the document, scripts,
  styles; a cold cache) of the overview and the groups page.

Prints JSON and writes ``bench/console/results-<time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "service"))

import run as service_bench  # noqa: E402  (bench/service/run.py)


def page_weight(base: str, paths: list[str]) -> dict[str, Any]:
    """Bytes transferred for each page loaded with a cold cache in Debian's Chromium."""
    from playwright.sync_api import sync_playwright

    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        for path in paths:
            context = browser.new_context()
            page = context.new_page()
            sizes: dict[str, int] = {}

            def done(request: Any, sizes: dict[str, int] = sizes) -> None:
                s = request.sizes()
                sizes[request.url] = s["responseBodySize"] + s["responseHeadersSize"]

            page.on("requestfinished", done)
            page.goto(base + path, wait_until="networkidle")
            total = sum(sizes.values())
            out[path] = {
                "bytes": total,
                "kib": round(total / 1024, 1),
                "requests": len(sizes),
                "largest": sorted(
                    ((u.replace(base, ""), n) for u, n in sizes.items()), key=lambda x: -x[1]
                )[:5],
            }
            context.close()
        browser.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--groups", type=int, default=1000)
    args = ap.parse_args()
    port = service_bench.free_port()
    base = f"http://127.0.0.1:{port}"
    argv = [
        sys.executable,
        str(HERE.parent / "service" / "run.py"),
        "--serve-synthetic",
        str(port),
        "--groups",
        str(args.groups),
        "--partitions",
        "10",
        "--members",
        "3",
        "--seed",
        "42",
    ]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, env=service_bench.clean_env())
    result: dict[str, Any] = {
        "command": " ".join(["bench/console/run.py", *sys.argv[1:]]),
        "groups": args.groups,
        "connections": args.connections,
        "load_tool": "python httpx threads (bench/service run_python_load)",
    }
    try:
        assert server.stdout is not None
        server.stdout.readline()
        service_bench.wait_http_ok(f"{base}/api/v1/health", server, timeout=60)
        urls = {
            "console_groups_page": f"{base}/ui/c/{service_bench.CLUSTER}/groups",
            "api_groups_json": f"{base}/api/v1/clusters/{service_bench.CLUSTER}/groups",
        }
        for url in urls.values():  # warm: first render, caches
            for _ in range(3):
                service_bench.http_get(url, timeout=60)
        runs = {}
        for name, url in urls.items():
            runs[name] = service_bench.run_python_load(url, args.connections, args.seconds)
            print(f"[console] {name}: {runs[name]['latency_ms']}", file=sys.stderr)
        result["runs"] = runs
        p99 = {k: v["latency_ms"]["p99"] for k, v in runs.items()}
        result["p99_ratio_page_over_json"] = round(
            p99["console_groups_page"] / p99["api_groups_json"], 2
        )
        result["page_weight"] = page_weight(
            base, [f"/ui/c/{service_bench.CLUSTER}", f"/ui/c/{service_bench.CLUSTER}/groups"]
        )
    finally:
        result["server_stop"] = service_bench.stop_pid(server, grace=10)
    text = json.dumps(result, indent=1)
    print(text)
    (HERE / f"results-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text)


if __name__ == "__main__":
    main()

"""The web console's budgets, each beside a peer measured in the same run.

    .venv/bin/python bench/console/run.py [--seconds 10] [--connections 16] [--rounds 3]
        [--part server,chart,weight]

No Kafka: bench/service's synthetic server (the real ``create_app``, console mounted, one
cluster of 1,000 groups x 10 partitions judged by the real ``evaluate_group``) in its own
process. Measured:

- server: ``GET /ui/c/bench/groups`` (1,000 rows), ``GET /api/v1/clusters/bench/groups``
  (its JSON, 3.7 MB) and ``GET /api/v1/health`` (the trivial peer) under N concurrent
  keep-alive connections with ``wrk`` (the Python generator when wrk is missing), each
  run on an idle server, order rotating by round; the median over rounds is reported;
- chart: one chart of 7 days at a 1-minute step (10,080 points) drawn by the console's own
  ``console.js`` and uPlot in Debian's Chromium, time from the answer to the painted frame
  (``data-render-ms``), beside the same chart of 1 hour (60 points) in the same browser;
  the history answer is supplied by the browser (Playwright routes ``/ui/data/series``),
  as the synthetic server keeps no history;
- weight: bytes transferred on first load in Chromium (a cold cache) of the overview and
  the groups page.

Prints JSON and writes ``bench/console/results-<time>.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
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


CHART_PAGE = "/ui/c/bench/groups/bench-group-0000"
#: The one chart given data; the page's other charts get an empty answer and draw nothing.
CHART_NAME = "kafkascope_group_total_lag"


def series_answer(range_name: str, now: float) -> dict[str, Any]:
    """What ``/ui/data/series`` answers for one series at a 1-minute step over the range:
    10,080 points for 7 days, 60 for 1 hour (the shape of ``api/query.run_query``)."""
    n = {"7d": 7 * 1440, "1h": 60}[range_name]
    start = now - n * 60
    points = [[start + 60 * i, 1000.0 + 500.0 * ((i * 37) % 101) / 101] for i in range(n)]
    return {
        "name": "x",
        "from": start,
        "to": now,
        "step": 60.0,
        "points": n,
        "series": [{"labels": {"cluster": "bench"}, "resolution": 60, "points": points}],
    }


def chart_draw(base: str, rounds: int) -> dict[str, Any]:
    """Render time of the group page's charts at 7d and 1h (1-minute step), per chart."""
    from playwright.sync_api import Route, sync_playwright

    now = time.time()
    bodies = {r: json.dumps(series_answer(r, now)) for r in ("7d", "1h")}
    out: dict[str, Any] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        # bypass_csp: wait_for_function evaluates its predicate as a string, which the
        # console's CSP (no 'unsafe-eval') refuses; the console's own scripts run as served.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)

        empty = json.dumps({"name": "x", "step": 60.0, "points": 0, "series": []})

        def answer(route: Route) -> None:
            url = route.request.url
            wanted = "7d" if "range=7d" in url else "1h"
            body = bodies[wanted] if f"name={CHART_NAME}&" in url else empty
            route.fulfill(status=200, content_type="application/json", body=body)

        page.route("**/ui/data/series?*", answer)
        for rng in ("1h", "7d"):  # warm-up: scripts compiled, caches filled
            page.goto(f"{base}{CHART_PAGE}?range={rng}")
        samples: dict[str, list[float]] = {"7d": [], "1h": []}
        points: dict[str, int] = {}
        for rnd in range(rounds):
            for rng in ("7d", "1h") if rnd % 2 == 0 else ("1h", "7d"):
                page.goto(f"{base}{CHART_PAGE}?range={rng}")
                n = page.locator("figure.chart").count()
                page.wait_for_function(
                    f"document.querySelectorAll('figure.chart[data-render-ms]').length == {n}",
                    timeout=60_000,
                )
                fig = page.locator(f"figure.chart[data-name='{CHART_NAME}']")
                samples[rng].append(float(fig.get_attribute("data-render-ms") or "nan"))
                points[rng] = int(fig.get_attribute("data-points") or 0)
        browser.close()
    for rng, values in samples.items():
        out[rng] = {
            "points_per_chart": points[rng],
            "draws": len(values),
            "render_ms": {
                "median": statistics.median(values),
                "p90": sorted(values)[int(0.9 * (len(values) - 1))],
                "max": max(values),
            },
        }
    out["ratio_7d_over_1h_median"] = round(
        out["7d"]["render_ms"]["median"] / max(1.0, out["1h"]["render_ms"]["median"]), 2
    )
    return out


def server_time(
    base: str, server_pid: int, connections: int, seconds: int, rounds: int
) -> dict[str, Any]:
    """p50/p99 of the groups page, its JSON and /health under ``connections``, each run
    on an idle server, the order rotating by round; medians over rounds."""
    group_page = f"{base}/ui/c/{service_bench.CLUSTER}/groups"
    group_json = f"{base}/api/v1/clusters/{service_bench.CLUSTER}/groups"
    # name -> (url, ask for gzip): wrk sends no Accept-Encoding unless told; browsers and
    # httpx always ask for gzip, so both forms are measured.
    urls = {
        "console_groups_page": (group_page, False),
        "console_groups_page_gzip": (group_page, True),
        "api_groups_json": (group_json, False),
        "api_groups_json_gzip": (group_json, True),
        "health": (f"{base}/api/v1/health", False),
    }
    for url, _ in urls.values():  # warm: first render, caches
        for _ in range(3):
            service_bench.http_get(url, timeout=60)
    tool = "wrk" if service_bench.wrk_version() else "python-httpx"
    runs: dict[str, list[dict[str, Any]]] = {k: [] for k in urls}
    names = list(urls)
    with tempfile.TemporaryDirectory() as tmp:
        plain, packed = Path(tmp) / "done.lua", Path(tmp) / "gzip.lua"
        plain.write_text(service_bench.WRK_DONE)
        packed.write_text('wrk.headers["Accept-Encoding"] = "gzip"\n' + service_bench.WRK_DONE)
        for rnd in range(rounds):
            order = names[rnd % len(names) :] + names[: rnd % len(names)]
            for name in order:
                url, gz = urls[name]
                service_bench.wait_idle(server_pid)
                cpu0 = service_bench.cpu_seconds(server_pid)
                path = url.removeprefix(base)
                n0 = service_bench.served(base).get(path, 0)
                if tool == "wrk":
                    script = packed if gz else plain
                    r = service_bench.run_wrk(url, connections, 2, seconds, script)
                else:
                    r = service_bench.run_python_load(url, connections, seconds)
                service_bench.wait_idle(server_pid)
                n = service_bench.served(base).get(path, 0) - n0
                r["server_cpu_ms_per_request"] = round(
                    1000.0 * (service_bench.cpu_seconds(server_pid) - cpu0) / max(1, n), 3
                )
                r["load1"] = service_bench.loadavg()[0]
                r.pop("wrk_output", None)
                runs[name].append(r)
                print(f"[console] {name} round {rnd + 1}: {r['latency_ms']}", file=sys.stderr)

    def med(name: str, key: str) -> float:
        return statistics.median(float(r["latency_ms"][key]) for r in runs[name])

    summary = {
        name: {
            "p50_ms": med(name, "p50"),
            "p99_ms": med(name, "p99"),
            "req_per_s": statistics.median(r["req_per_s"] for r in runs[name]),
            "server_cpu_ms_per_request": statistics.median(
                r["server_cpu_ms_per_request"] for r in runs[name]
            ),
        }
        for name in names
    }
    health = summary["health"]["p99_ms"]
    return {
        "tool": tool,
        "connections": connections,
        "seconds": seconds,
        "rounds": rounds,
        "median_of_rounds": summary,
        "p99_over_health_p99": {
            k: round(v["p99_ms"] / health, 2) for k, v in summary.items() if k != "health"
        },
        "runs": runs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--groups", type=int, default=1000)
    ap.add_argument("--part", default="server,chart,weight")
    args = ap.parse_args()
    parts = set(args.part.split(","))
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
        "command": " ".join([".venv/bin/python bench/console/run.py", *sys.argv[1:]]),
        "groups": args.groups,
        "load1_at_start": service_bench.loadavg(),
        "cores": os.cpu_count(),
    }
    try:
        assert server.stdout is not None
        server.stdout.readline()
        service_bench.wait_http_ok(f"{base}/api/v1/health", server, timeout=60)
        if "server" in parts:
            result["server"] = server_time(
                base, server.pid, args.connections, args.seconds, args.rounds
            )
        if "chart" in parts:
            result["chart"] = chart_draw(base, max(10, args.rounds))
            print(f"[console] chart: {result['chart']}", file=sys.stderr)
        if "weight" in parts:
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

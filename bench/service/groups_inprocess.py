"""``GET /groups`` with 1,000 synthetic groups vs ``GET /health``, in process through the
ASGI app (no network, no wrk): the first request (builds the body), then the median of
20 of each, side by side in the same run. Run from the checkout root:

    .venv/bin/python bench/service/groups_inprocess.py
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from fastapi.testclient import TestClient

from kafkascope.api.app import create_app


def main() -> None:
    sys.path.insert(0, str(Path(__file__).parent))
    import run  # bench/service/run.py: the synthetic state

    live = run.synthetic_live(1000, 10, 3, 42, time.time())
    client = TestClient(create_app(run.SyntheticBackend(live)))

    def timed(path: str) -> float:
        t0 = time.perf_counter()
        r = client.get(path)
        assert r.status_code == 200, r.text
        return time.perf_counter() - t0

    first = timed("/api/v1/clusters/bench/groups")
    groups = statistics.median(timed("/api/v1/clusters/bench/groups") for _ in range(20))
    health = statistics.median(timed("/api/v1/health") for _ in range(20))
    print(
        f"/groups first {first * 1000:.0f} ms, median {groups * 1000:.1f} ms; "
        f"/health median {health * 1000:.2f} ms; ratio {groups / health:.0f}x"
    )


if __name__ == "__main__":
    main()

"""The latest snapshot of everything, per cluster, for the API, /metrics and alerting.

Each monitor job builds a new immutable report and swaps it in with one assignment, so a
reader (an HTTP request, a Prometheus scrape) always sees a whole report and never waits
for, or triggers, a collection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from kafkascope.monitor.brokers import BrokerReport
from kafkascope.monitor.clients import ClientReport
from kafkascope.monitor.lag import LagReport


@dataclass
class ClusterLive:
    """One cluster's latest reports (None until the first poll of that kind)."""

    name: str
    brokers: BrokerReport | None = None
    lag: LagReport | None = None
    clients: ClientReport | None = None
    errors: dict[str, str] = field(default_factory=dict)  # job → last error, while failing


@dataclass
class LiveState:
    clusters: dict[str, ClusterLive] = field(default_factory=dict)
    started_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def cluster(self, name: str) -> ClusterLive | None:
        return self.clusters.get(name)

    def set_error(self, cluster: str, job: str, error: str | None) -> None:
        with self._lock:
            errs = self.clusters[cluster].errors
            if error is None:
                errs.pop(job, None)
            else:
                errs[job] = error

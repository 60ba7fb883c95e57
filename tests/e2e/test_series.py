"""One series table (issue 11, property 1): whatever ``/metrics`` shows, history can chart,
under the same name and label set, on a real ``kafkascope serve`` watching the sandbox."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from prometheus_client.parser import text_string_to_metric_families

from kafkascope.monitor.series import OWN_SERIES, SERIES
from tests.e2e.conftest import ServiceProc
from tests.support import wait_until

pytestmark = pytest.mark.integration

#: Families every healthy sandbox has once each monitor has reported.
EXPECTED = {
    "kafkascope_broker_up",
    "kafkascope_broker_jmx_reachable",
    "kafkascope_topic_under_replicated_partitions",
    "kafkascope_topic_offline_partitions",
    "kafkascope_topic_produced_records_per_second",
    "kafkascope_group_status",
    "kafkascope_group_total_lag",
    "kafkascope_partition_lag",
    "kafkascope_client_liveness",
}


def scrape(svc: ServiceProc) -> dict[str, dict[tuple[tuple[str, str], ...], str]]:
    """Sample name → {non-empty label set: family name} from ``/metrics``."""
    import httpx

    body = httpx.get(f"{svc.url}/metrics", timeout=10).text
    out: dict[str, dict[tuple[tuple[str, str], ...], str]] = {}
    for fam in text_string_to_metric_families(body):
        for s in fam.samples:
            labels = tuple(sorted((k, v) for k, v in s.labels.items() if v))
            out.setdefault(s.name, {})[labels] = fam.name
    return out


def test_every_family_on_metrics_is_in_history(make_service: Callable[..., ServiceProc]) -> None:
    svc = make_service()

    def all_reported() -> dict[str, dict[tuple[tuple[str, str], ...], str]] | None:
        samples = scrape(svc)
        return samples if set(samples) >= EXPECTED else None

    samples = wait_until(all_reported, 90, "brokers, lag and clients on /metrics")
    declared = {s.name for s in SERIES}
    assert declared >= EXPECTED
    catalog = [n for n in samples if not n.startswith("kafkascope_")]
    assert catalog, "no catalog (JMX) metric on /metrics"

    # The service's own figures and the process collector say how kafkascope is doing
    # now: they are on /metrics only, not in history.
    own = {s.name for s in OWN_SERIES}
    missing = []
    for name, label_sets in sorted(samples.items()):
        if name in own or name.startswith("process_"):
            continue
        # One series of each family, and every series of kafkascope's own.
        wanted = list(label_sets) if name in declared else list(label_sets)[:1]
        for labels in wanted:
            selector = ",".join(f"{k}={v}" for k, v in labels)

            def stored(name: str = name, labels: tuple[tuple[str, str], ...] = labels) -> bool:
                reply = svc.get(
                    "/api/v1/metrics/query",
                    params={"name": name, "labels": ",".join(f"{k}={v}" for k, v in labels)},
                )
                return any(
                    tuple(sorted((k, v) for k, v in s["labels"].items() if v)) == labels
                    for s in reply["series"]
                )

            try:
                wait_until(stored, 30, f"{name}{{{selector}}} in history")
            except AssertionError:
                missing.append(f"{name}{{{selector}}}")
            if len(missing) > 10:
                break
    assert not missing, "on /metrics but not in history with the same labels:\n" + "\n".join(
        missing
    )

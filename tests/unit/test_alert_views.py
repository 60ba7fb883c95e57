"""From the monitors' reports to the rule pack's views: the parts that are pure plumbing
but decide whether a rule can ever fire (a rule fed no data is a silent rule)."""

from __future__ import annotations

from kafkascope.alerts.checks import evaluate_builtin
from kafkascope.alerts.inputs import CounterLog, build_views
from kafkascope.alerts.pack import BUILTIN_RULES
from kafkascope.model import Liveness, MetricKind, Sample
from kafkascope.monitor.clients import ClientReport, ClientVerdictRow
from kafkascope.monitor.live import ClusterLive

T = 1_700_000_000.0
TARGET = "10.0.0.7:9999"
ERRORS = "kafka_producer_record_errors_total"


def producer_report(at: float, errors: float) -> ClientReport:
    row = ClientVerdictRow(
        "orders-producer", "producer", None, TARGET, Liveness.ALIVE, "sending", at, T, None, None
    )
    sample = Sample(
        ERRORS, errors, (("client_id", "orders-producer"),), TARGET, at, MetricKind.COUNTER, ""
    )
    return ClientReport("prod", at, [row], {}, {}, [], (sample,))


def test_producer_errors_fire_from_the_clients_report_samples() -> None:
    # The producer's record-error-total goes 0 → 0 → 3 over three polls: an increase of 3
    # within the 300 s window, so producer_errors (threshold: any increase) fires; with the
    # counter flat it must not.
    log = CounterLog()
    live = ClusterLive("prod")
    found = []
    for at, errors in ((T, 0), (T + 5, 0), (T + 10, 3)):
        live.clients = producer_report(at, errors)
        _, _, _, clients, _ = build_views(live, log, None)
        found = [
            f
            for f in evaluate_builtin(
                BUILTIN_RULES,
                now=at,
                clusters=[],
                brokers=[],
                groups=[],
                clients=clients,
                topics=[],
            )
            if f.rule == "producer_errors"
        ]
        if at < T + 10:
            assert found == [], at
    (f,) = found
    assert f.value == 3 and f.label("client_id") == "orders-producer"

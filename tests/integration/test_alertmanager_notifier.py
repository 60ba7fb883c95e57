"""The Alertmanager notifier over real HTTP (loopback): where it posts, what it sends, how it
authenticates, and that its credentials stay out of what it says. Against a real
Alertmanager: ``tests/e2e/test_alertmanager.py``."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kafkascope.alerts.alert import Alert, AlertState, Notification, make_labels
from kafkascope.alerts.notify import AlertmanagerNotifier
from kafkascope.errors import NotifyError
from kafkascope.model import Severity

T0 = 1_700_000_000.0
TOKEN = "am-token-5f2c9e81"


def notification() -> Notification:
    a = Alert(
        fingerprint="fp9",
        rule="broker_down",
        severity=Severity.CRITICAL,
        labels=make_labels(cluster="prod", broker=2),
        state=AlertState.FIRING,
        active_since=T0,
        pending_since=None,
        fired_at=T0,
        resolved_at=None,
        last_notified_at=None,
        last_value=None,
        summary="broker 2 is down",
    )
    return Notification("firing", a, T0)


@pytest.mark.parametrize(
    ("auth", "header"),
    [
        ({}, None),  # no credentials: no header at all
        ({"bearer_token": TOKEN}, f"Bearer {TOKEN}"),
        (
            {"username": "ks", "password": TOKEN},
            "Basic " + base64.b64encode(b"ks:" + TOKEN.encode()).decode(),
        ),
    ],
    ids=["none", "bearer", "basic"],
)
def test_posts_a_one_alert_list_to_the_v2_api(
    start_http: Any, auth: dict[str, str], header: str | None
) -> None:
    receiver = start_http()
    base = f"http://127.0.0.1:{receiver.port}/prefix"
    n = notification()
    notifier = AlertmanagerNotifier(
        base,
        console="http://ks:8321",
        clock=lambda: T0 + 5,
        username=auth.get("username"),
        password=auth.get("password"),
        bearer_token=auth.get("bearer_token"),
    )
    assert notifier.send(n) == "HTTP 200 OK: ok"
    [req] = receiver.requests
    assert req.path == "/prefix/api/v2/alerts"
    assert req.headers.get("Authorization") == header
    assert req.headers["X-Kafkascope-Notification-Id"] == n.id
    [body] = req.json()
    assert body["labels"] == {
        "alertname": "broker_down",
        "severity": "critical",
        "cluster": "prod",
        "broker": "2",
    }
    assert body["startsAt"] == "2023-11-14T22:13:20.000Z"
    assert body["endsAt"] == "2023-11-14T22:17:25.000Z"  # sent at T0+5, valid 4 x 60 s
    assert body["generatorURL"] == "http://ks:8321/ui/alerts?state=firing#alert-fp9"


def test_a_refusal_is_fatal_and_hides_the_token(start_http: Any) -> None:
    receiver = start_http()
    receiver.replies.append((400, "bad alert, you sent {auth}"))
    notifier = AlertmanagerNotifier(
        f"http://127.0.0.1:{receiver.port}", console="http://ks", bearer_token=TOKEN
    )
    with pytest.raises(NotifyError) as info:
        notifier.send(notification())
    assert not info.value.retryable
    assert TOKEN not in str(info.value)
    assert f"alertmanager http://127.0.0.1:{receiver.port}" in str(info.value)

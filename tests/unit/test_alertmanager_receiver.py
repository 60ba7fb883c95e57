"""The Alertmanager receiver's pure parts: an alert → Alertmanager's v2 postable alert,
which firing alerts are owed a re-post (``alerts/resend``), and the receiver's config.

The delivery itself, to a real Alertmanager, is ``tests/e2e/test_alertmanager.py``."""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Any

import pydantic
import pytest

from kafkascope.alerts.alert import Alert, AlertState, Notification, make_labels
from kafkascope.alerts.notify import AlertmanagerNotifier, alertmanager_alert
from kafkascope.alerts.resend import Resender
from kafkascope.alerts.routing import Route
from kafkascope.alerts.setup import console_url
from kafkascope.cli.config import summarize
from kafkascope.config import AlertsConfig, load_config
from kafkascope.model import Severity

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
CONSOLE = "http://kafkascope.example:8321"
W, C = Severity.WARNING, Severity.CRITICAL


def alert(**kw: Any) -> Alert:
    base: dict[str, Any] = {
        "fingerprint": "fp1",
        "rule": "consumer_group_dead",
        "severity": W,
        "labels": make_labels(cluster="prod", group="orders"),
        "state": AlertState.FIRING,
        "active_since": T0,
        "pending_since": None,
        "fired_at": T0 + 30,
        "resolved_at": None,
        "last_notified_at": T0 + 30,
        "last_value": 3.0,
        "summary": "group orders has no live member",
        "notified_severity": W,
        "notified_severities": (W,),
    }
    base.update(kw)
    return Alert(**base)


def post(a: Alert, kind: str = "firing", at: float = T0 + 30) -> dict[str, Any]:
    n = Notification(kind, a, at)  # type: ignore[arg-type]
    return alertmanager_alert(n, sent_at=T0 + 100, resend_interval=60, console=CONSOLE)


GEN = f"{CONSOLE}/ui/alerts?state=firing#alert-fp1"

# (notification, the fields expected in the postable alert), each with why it is right.
MAPPING = [
    pytest.param(
        post(alert()),
        {
            # alertname = the rule, severity, then the alert's own labels (cluster, subject)
            "labels": {
                "alertname": "consumer_group_dead",
                "severity": "warning",
                "cluster": "prod",
                "group": "orders",
            },
            "startsAt": "2027-01-15T08:00:00.000Z",  # active_since: when the episode began
            # firing: valid 4 resend intervals after the post (100 + 240 s), Prometheus' rule
            "endsAt": "2027-01-15T08:05:40.000Z",
            "generatorURL": GEN,
        },
        id="firing",
    ),
    pytest.param(
        post(alert(), kind="repeat"),
        {"endsAt": "2027-01-15T08:05:40.000Z"},  # a re-post says "still firing" the same way
        id="repeat-is-a-firing-post",
    ),
    pytest.param(
        post(
            alert(state=AlertState.RESOLVED, resolved_at=T0 + 90, notified_severity=W),
            kind="resolved",
            at=T0 + 90,
        ),
        {
            "startsAt": "2027-01-15T08:00:00.000Z",
            "endsAt": "2027-01-15T08:01:30.000Z",  # resolved_at ends it in Alertmanager
            "generatorURL": f"{CONSOLE}/ui/alerts?state=resolved#alert-fp1",
        },
        id="resolved-ends-at-resolution",
    ),
    pytest.param(
        post(alert(state=AlertState.RESOLVED, resolved_at=None), kind="resolved", at=T0 + 95),
        {"endsAt": "2027-01-15T08:01:35.000Z"},  # no resolved_at recorded: the notification time
        id="resolved-without-time",
    ),
    pytest.param(
        post(alert(labels=make_labels({"cluster": "prod", "client.id": "a-1", "x": ""}))),
        # "client.id" is no Prometheus label name: dots become _; an empty value is no label
        {
            "labels": {
                "alertname": "consumer_group_dead",
                "severity": "warning",
                "cluster": "prod",
                "client_id": "a-1",
            }
        },
        id="label-names-sanitised-empty-dropped",
    ),
    pytest.param(
        post(alert(labels=make_labels(cluster="prod", severity="low", alertname="x"))),
        # the rule and severity are kafkascope's; a subject label of that name cannot win
        {
            "labels": {
                "alertname": "consumer_group_dead",
                "severity": "warning",
                "cluster": "prod",
            }
        },
        id="rule-and-severity-win-over-subject-labels",
    ),
    pytest.param(
        post(alert(active_since=None)),
        {"startsAt": "2027-01-15T08:00:30.000Z"},  # no episode start: fired_at
        id="starts-at-fired-when-no-active-since",
    ),
    pytest.param(
        post(alert(active_since=None, fired_at=None)),
        {"startsAt": None},  # nothing known: left out, Alertmanager takes the receive time
        id="no-start-left-out",
    ),
]


@pytest.mark.parametrize(("body", "expected"), MAPPING)
def test_alert_maps_to_alertmanagers_postable_alert(
    body: dict[str, Any], expected: dict[str, Any]
) -> None:
    for key, value in expected.items():
        assert body.get(key) == value, key


def test_annotations_carry_summary_and_evidence() -> None:
    body = post(alert(acked_by="ann", acked_at=T0 + 40))
    assert body["annotations"]["summary"] == "group orders has no live member"
    evidence = body["annotations"]["evidence"]
    assert "value 3" in evidence
    assert "active since 2027-01-15T08:00:00.000Z" in evidence
    assert "acknowledged by ann" in evidence  # why kafkascope holds its own reminders
    assert "kafkascope alert fp1" in evidence


def test_notifier_posts_to_the_v2_path_below_a_route_prefix() -> None:
    n = AlertmanagerNotifier("http://am:9093/am/", console=CONSOLE)
    assert str(n._url) == "http://am:9093/am/api/v2/alerts"
    assert n.target == "alertmanager http://am:9093"
    with pytest.raises(ValueError, match="either username/password or bearer_token"):
        AlertmanagerNotifier("http://am:9093", console=CONSOLE, username="u", bearer_token="t")


# ---------------------------------------------------------------------------- re-posts

AM = "am"
HOOK = "hook"


def due(
    a: Alert,
    *,
    now: float = T0 + 200,
    last: float | None = None,
    pending: set[tuple[str, str]] | None = None,
    queued: list[tuple[Notification, list[str]]] | None = None,
    routes: list[Route] | None = None,
) -> list[str]:
    """The receivers ``a`` is re-posted to at ``now`` (AM every 60 s; HOOK takes none)."""
    r = Resender({AM: 60.0})
    if last is not None:
        r.record([(Notification("firing", a, last), [AM])], last)
    out = r.due([a], queued or [], now, routes or [], [AM, HOOK], lambda: pending or set())
    assert all(n.kind == "repeat" and n.at == now for n, _ in out)
    return [x for _, rs in out for x in rs]


RESEND = [
    # after a restart nothing is remembered: re-post at once, Alertmanager merges it
    pytest.param(due(alert()), [AM], id="firing-told-unknown-last"),
    pytest.param(due(alert(), last=T0 + 150), [], id="posted-50s-ago-not-due"),
    pytest.param(due(alert(), last=T0 + 140), [AM], id="posted-60s-ago-due"),
    # never told it fires (silenced, flapping before firing was sent): nothing to keep up
    pytest.param(due(alert(notified_severity=None)), [], id="not-told"),
    pytest.param(due(alert(state=AlertState.PENDING)), [], id="pending-not-firing"),
    # a resolved alert is ended by its resolution, not by re-posts
    pytest.param(due(alert(state=AlertState.RESOLVED)), [], id="resolved"),
    # ack holds people's reminders, not Alertmanager's picture: it still fires
    pytest.param(due(alert(acked_by="ann")), [AM], id="acked-still-reposted"),
    pytest.param(due(alert(silenced_by=("s1",))), [AM], id="silenced-here-still-reposted"),
    # a row for the pair still waits (Alertmanager down): at most one queued per alert
    pytest.param(due(alert(), pending={(AM, "fp1")}), [], id="pending-row-bounds-queue"),
    pytest.param(due(alert(), pending={(AM, "other")}), [AM], id="other-alert-pending"),
    # the step already queues a firing/repeat/resolution for it: that one is the post
    pytest.param(
        due(alert(), queued=[(Notification("firing", alert(), T0 + 200), [AM])]),
        [],
        id="already-queued-this-step",
    ),
    # routed only criticals; told at critical, now warning: still the receiver that knows
    pytest.param(
        due(alert(notified_severities=(W, C)), routes=[Route([AM], C)]),
        [AM],
        id="downgraded-still-routed-on-told-severity",
    ),
    pytest.param(due(alert(), routes=[Route([HOOK], W)]), [], id="not-routed-to-am"),
]


@pytest.mark.parametrize(("got", "expected"), RESEND)
def test_which_firing_alerts_are_reposted(got: list[str], expected: list[str]) -> None:
    assert got == expected


def test_record_and_forget() -> None:
    r = Resender({AM: 60.0})
    a = alert()
    r.record([(Notification("repeat", a, T0), [AM, HOOK])], T0)
    assert r.due([a], [], T0 + 59, [], [AM], set) == []
    r.forget([])  # the alert is gone: its time with it, so a new episode posts at once
    assert [rs for _, rs in r.due([a], [], T0 + 1, [], [AM], set)] == [[AM]]
    with pytest.raises(ValueError, match="resend interval must be > 0"):
        Resender({AM: 0})


# ---------------------------------------------------------------------------- config


def receiver(**kw: Any) -> dict[str, Any]:
    return {"receivers": [{"kind": "alertmanager", "name": "am", "url": "http://am:9093", **kw}]}


CONFIG_ERRORS = [
    pytest.param(receiver(url="am:9093"), "is not an http(s) URL", id="no-scheme"),
    pytest.param(receiver(url="http://u:p@am:9093"), "has user info", id="user-info"),
    pytest.param(
        receiver(username="u", password="p", bearer_token="t"),
        "both bearer_token and username/password",
        id="two-auths",
    ),
    pytest.param(receiver(password="p"), "a password is set but no username", id="pw-no-user"),
    # a credential over plain http would be readable on the wire
    pytest.param(receiver(bearer_token="t"), "is plain http://", id="token-over-http"),
    pytest.param(receiver(resend_interval=1), "greater than or equal to 5", id="resend-too-fast"),
]


@pytest.mark.parametrize(("data", "message"), CONFIG_ERRORS)
def test_config_refuses_bad_receivers(data: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=re.escape(message)):
        AlertsConfig.model_validate(data)


def test_config_accepts_a_receiver_with_secret_token() -> None:
    cfg = AlertsConfig.model_validate(
        receiver(url="https://am:9093", bearer_token="tok-123", resend_interval="2m")
    )
    r = cfg.receivers[0]
    assert r.kind == "alertmanager"
    assert r.resend_interval == 120
    assert "tok-123" not in repr(cfg)  # a Secret: never shown


def test_check_config_names_the_receiver_without_its_secrets(tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    path.write_text(
        '[[clusters]]\nname = "prod"\nbootstrap = "127.0.0.1:9092"\n\n'
        '[[alerts.receivers]]\nkind = "alertmanager"\nname = "am"\n'
        'url = "https://am.example:9093/am"\nbearer_token = "env:AM_TOKEN"\n'
    )
    text = summarize(load_config(path, env={"AM_TOKEN": "tok-secret-77"}))
    line = "am: alertmanager https://am.example:9093/am (re-posted every 1m, bearer token ***"
    assert f"{line} (from env:AM_TOKEN))" in text
    assert "tok-secret-77" not in text


@pytest.mark.parametrize(
    ("listen", "expected"),
    [
        ("127.0.0.1:8321", "http://127.0.0.1:8321"),  # what people on this host reach
        ("[::1]:8321", "http://[::1]:8321"),  # IPv6 stays bracketed in a URL
        # a wildcard is no address to give others: this host's name instead
        ("0.0.0.0:80", f"http://{socket.getfqdn()}:80"),
        ("[::]:80", f"http://{socket.getfqdn()}:80"),
    ],
)
def test_console_url_from_listen(listen: str, expected: str) -> None:
    assert console_url(listen) == expected

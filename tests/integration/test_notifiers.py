"""Notifiers and the outbox against real receivers on loopback: an HTTP server for the
webhook and Slack formats, an SMTP server (aiosmtpd) with and without STARTTLS + AUTH, and
a real SQLite outbox that survives a SIGKILL.

No sleeps: time in the outbox is explicit ``now`` values; waits use deadlines.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kafkascope.alerts.alert import Alert, AlertState, Notification, make_labels
from kafkascope.alerts.notify import (
    EmailNotifier,
    Notifier,
    SlackNotifier,
    WebhookNotifier,
    email_subject,
    webhook_body,
)
from kafkascope.alerts.outbox import DeliveryBackoff, Outbox
from kafkascope.alerts.routing import Route, route
from kafkascope.clock import FakeClock
from kafkascope.errors import NotifyError
from kafkascope.model import Severity
from kafkascope.sandbox.procs import free_port
from kafkascope.store.db import Database
from tests.receivers import SMTP_PASSWORD, SMTP_USER, SmtpServer
from tests.support import wait_until

T0 = 1_700_000_000.0
SECRET_HEADER = "Bearer hook-token-5f3a9c"


def make_notification(
    kind: str = "firing",
    *,
    rule: str = "broker_down",
    severity: Severity = Severity.CRITICAL,
    cluster: str = "prod",
    broker: int = 2,
    at: float = T0 + 60,
) -> Notification:
    labels = make_labels(cluster=cluster, broker=broker)
    resolved = kind == "resolved"
    alert = Alert(
        fingerprint=f"fp-{rule}-{cluster}-{broker}",
        rule=rule,
        severity=severity,
        labels=labels,
        state=AlertState.RESOLVED if resolved else AlertState.FIRING,
        active_since=T0,
        pending_since=T0,
        fired_at=T0 + 30,
        resolved_at=at if resolved else None,
        last_notified_at=at,
        last_value=None,
        summary=f"broker {broker} of cluster {cluster} is down: not in metadata",
        notified_severity=None if resolved else severity,
    )
    return Notification(kind, alert, at)  # type: ignore[arg-type]


def email_notifier(server: SmtpServer, *, starttls: bool, password: str | None = None) -> Any:
    return EmailNotifier(
        host="127.0.0.1",
        port=server.port,
        tls="starttls" if starttls else "none",
        username=SMTP_USER if password is not None else None,
        password=password,
        sender="kafkascope@example.com",
        recipients=["oncall@example.com", "kafka-team@example.com"],
        timeout=10,
        ssl_context=server.client_tls,
    )


# ------------------------------------------------------------------ webhook


def test_webhook_posts_the_documented_json_with_the_id_to_dedupe_on(start_http: Any) -> None:
    receiver = start_http()
    n = make_notification()
    notifier = WebhookNotifier(receiver.url, {"Authorization": SECRET_HEADER}, timeout=5)

    answer = notifier.send(n)

    assert answer == "HTTP 200 OK: ok"
    [req] = receiver.requests
    assert req.path == "/hook"
    assert req.headers["Authorization"] == SECRET_HEADER
    assert req.headers["Idempotency-Key"] == n.id
    assert req.headers["Content-Type"].startswith("application/json")
    body = req.json()
    assert body == webhook_body(n)
    assert body == {
        "version": 1,
        "id": n.id,
        "kind": "firing",
        "at": "2023-11-14T22:14:20.000Z",
        "cluster": "prod",
        "alert": {
            "fingerprint": "fp-broker_down-prod-2",
            "rule": "broker_down",
            "severity": "critical",
            "state": "firing",
            "labels": {"broker": "2", "cluster": "prod"},
            "summary": "broker 2 of cluster prod is down: not in metadata",
            "value": None,
            "started_at": "2023-11-14T22:13:20.000Z",
            "fired_at": "2023-11-14T22:13:50.000Z",
            "resolved_at": None,
            "acked_by": None,
            "note": "",
        },
    }


def test_webhook_resolved_notification_says_so(start_http: Any) -> None:
    receiver = start_http()
    WebhookNotifier(receiver.url, timeout=5).send(make_notification("resolved", at=T0 + 600))
    [body] = receiver.bodies()
    assert body["kind"] == "resolved"
    assert body["alert"]["state"] == "resolved"
    assert body["alert"]["resolved_at"] == "2023-11-14T22:23:20.000Z"


# ------------------------------------------------------------------ slack


def test_slack_body_is_an_incoming_webhook_message_coloured_by_severity(start_http: Any) -> None:
    receiver = start_http()
    slack = SlackNotifier(receiver.url, timeout=5)

    slack.send(make_notification("firing"))
    slack.send(make_notification("firing", severity=Severity.WARNING))
    slack.send(make_notification("resolved", at=T0 + 600))

    firing, warning, resolved = receiver.bodies()
    assert firing["text"].startswith("[FIRING critical] broker_down — cluster prod: broker 2")
    [attachment] = firing["attachments"]
    assert attachment["color"] == "#d40e0d"
    assert [b["type"] for b in attachment["blocks"]] == ["section", "section", "context"]
    assert "broker 2 of cluster prod is down" in attachment["blocks"][0]["text"]["text"]
    assert warning["attachments"][0]["color"] == "#f2c744"
    assert resolved["text"].startswith("[RESOLVED critical] broker_down — cluster prod")
    assert resolved["attachments"][0]["color"] == "#2eb886"
    assert ":white_check_mark:" in resolved["attachments"][0]["blocks"][0]["text"]["text"]
    fields = resolved["attachments"][0]["blocks"][1]["fields"]
    assert {"type": "mrkdwn", "text": "*Resolved*\n2023-11-14T22:23:20.000Z"} in fields


# ------------------------------------------------------------------ email


def test_email_arrives_with_subject_naming_cluster_alert_and_severity(start_smtp: Any) -> None:
    server = start_smtp()
    n = make_notification()

    answer = email_notifier(server, starttls=False).send(n)

    assert answer == "250 2.0.0 OK queued as kafkascope-test-1"
    [(sender, rcpts, msg)] = server.inbox.messages
    assert sender == "kafkascope@example.com"
    assert rcpts == ["oncall@example.com", "kafka-team@example.com"]
    subject = msg["Subject"]
    assert subject == email_subject(n)
    assert subject.startswith("[FIRING critical] broker_down — cluster prod: broker 2")
    assert n.id in msg["Message-ID"]
    text = msg.get_content()
    assert "Alert broker_down is FIRING on cluster prod." in text
    assert "broker 2 of cluster prod is down: not in metadata" in text
    assert f"Notification: {n.id}" in text


def test_email_over_starttls_with_auth(start_smtp: Any) -> None:
    server = start_smtp(tls=True, auth=True)
    n = make_notification("resolved", at=T0 + 600)

    email_notifier(server, starttls=True, password=SMTP_PASSWORD).send(n)

    assert server.inbox.logins == [SMTP_USER]
    [(_, _, msg)] = server.inbox.messages
    assert msg["Subject"].startswith("[RESOLVED critical] broker_down — cluster prod")
    assert "is RESOLVED" in msg.get_content()


def test_starttls_refuses_an_untrusted_certificate(start_smtp: Any) -> None:
    server = start_smtp(tls=True)
    notifier = EmailNotifier(
        "127.0.0.1", server.port, "starttls", None, None, "k@example.com", ["o@example.com"], 10
    )
    with pytest.raises(NotifyError, match="TLS certificate not trusted") as e:
        notifier.send(make_notification())
    assert e.value.retryable
    assert server.inbox.messages == []


# ------------------------------------------------------------------ retryable or fatal


def test_refused_port_is_retryable_for_every_kind() -> None:
    port = free_port()  # nothing listens there
    slack_url = f"http://127.0.0.1:{port}/services/T000/B000/slack-secret-77"
    notifiers: list[Notifier] = [
        WebhookNotifier(f"http://127.0.0.1:{port}/hook", {"Authorization": SECRET_HEADER}),
        SlackNotifier(slack_url),
        EmailNotifier("127.0.0.1", port, "none", None, None, "k@example.com", ["o@example.com"]),
    ]
    for notifier in notifiers:
        with pytest.raises(NotifyError, match="refused") as e:
            notifier.send(make_notification())
        assert e.value.retryable, notifier
        assert "slack-secret-77" not in str(e.value)
        assert SECRET_HEADER not in str(e.value)


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(500, True), (503, True), (429, True), (408, True), (400, False), (404, False), (301, False)],
)
def test_http_status_classification(start_http: Any, status: int, retryable: bool) -> None:
    receiver = start_http()
    receiver.replies.append((status, "nope, your token was {auth}"))
    notifier = WebhookNotifier(receiver.url, {"Authorization": SECRET_HEADER}, timeout=5)
    with pytest.raises(NotifyError, match=f"HTTP {status}") as e:
        notifier.send(make_notification())
    assert e.value.retryable is retryable
    assert SECRET_HEADER not in str(e.value)
    assert "your token was ***" in str(e.value)


def test_a_receiver_that_does_not_answer_times_out_retryably(start_http: Any) -> None:
    receiver = start_http()
    receiver.hold = True
    with pytest.raises(NotifyError, match=r"no answer within 0\.5 s") as e:
        WebhookNotifier(receiver.url, timeout=0.5).send(make_notification())
    assert e.value.retryable


def test_slack_error_hides_the_webhook_url(start_http: Any) -> None:
    receiver = start_http()
    receiver.replies.append((403, "invalid_token"))
    url = f"http://127.0.0.1:{receiver.port}/services/T000/B000/slack-secret-77"
    with pytest.raises(NotifyError, match="invalid_token") as e:
        SlackNotifier(url, timeout=5).send(make_notification())
    assert not e.value.retryable
    assert "slack-secret-77" not in str(e.value)
    assert "/services/" not in str(e.value)


def test_smtp_auth_rejected_is_fatal_and_hides_the_password(start_smtp: Any) -> None:
    server = start_smtp(tls=True, auth=True)
    wrong = "wrong-pw-" + SMTP_PASSWORD
    with pytest.raises(NotifyError, match="login as 'alerts' rejected \\(535") as e:
        email_notifier(server, starttls=True, password=wrong).send(make_notification())
    assert not e.value.retryable
    assert wrong not in str(e.value)
    assert server.inbox.messages == []


def test_starttls_not_offered_is_fatal(start_smtp: Any) -> None:
    server = start_smtp()
    with pytest.raises(NotifyError, match="does not offer STARTTLS") as e:
        email_notifier(server, starttls=True).send(make_notification())
    assert not e.value.retryable


def test_a_bad_url_is_refused_when_configured() -> None:
    with pytest.raises(ValueError, match="not an http:// or https:// URL"):
        WebhookNotifier("ftp://example.com/x")
    with pytest.raises(ValueError, match=r"the webhook URL \(not shown\)") as e:
        SlackNotifier("hooks.slack.com/services/T/B/secret-x")
    assert "secret-x" not in str(e.value)


# ------------------------------------------------------------------ routing


def test_routes_all_matching_each_receiver_once_with_a_default() -> None:
    routes = [
        Route(["pager"], match_severity=Severity.CRITICAL),
        Route(["slack"], match_cluster="prod"),
        Route(["pager", "mail"], match_labels={"rule": "broker_down"}),
        Route(["consumers"], match_severity=[Severity.WARNING]),
    ]
    crit = make_notification()
    warn_staging = make_notification(severity=Severity.WARNING, cluster="staging", rule="x")
    info_staging = make_notification(severity=Severity.INFO, cluster="staging", rule="x")
    assert route(crit, routes) == ["pager", "slack", "mail"]
    assert route(warn_staging, routes) == ["consumers"]
    assert route(info_staging, routes, default=["everyone"]) == ["everyone"]
    assert route(info_staging, [*routes, Route.catch_all(["rest"])]) == ["rest"]


# ------------------------------------------------------------------ the outbox


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "kafkascope.db")
    yield database
    database.close()


def test_outbox_keeps_a_notification_while_the_receiver_is_down_then_delivers_it_once(
    db: Database, start_http: Any
) -> None:
    port = free_port()  # the receiver is down: nothing listens yet
    clock = FakeClock(T0)
    hook = WebhookNotifier(f"http://127.0.0.1:{port}/hook", timeout=5)
    outbox = Outbox(db, {"hook": hook}, clock, backoff=DeliveryBackoff(initial=10, maximum=60))
    n = make_notification()
    assert outbox.add([(n, ["hook"])], now=T0) == 1

    [attempt] = outbox.deliver_due(now=T0)
    assert attempt.outcome == "retry"
    [item] = outbox.pending()
    assert item.attempts == 1
    assert T0 + 8 <= item.next_attempt_at <= T0 + 10  # 10 s, less up to 20 % jitter
    assert item.last_error is not None and "connection refused" in item.last_error
    assert outbox.next_due() == item.next_attempt_at

    first_retry = item.next_attempt_at
    [again] = outbox.deliver_due(now=first_retry)
    assert again.outcome == "retry"
    [item] = outbox.pending()
    assert item.attempts == 2
    assert first_retry + 16 <= item.next_attempt_at <= first_retry + 20  # doubled

    receiver = start_http(port)  # the receiver is back
    assert outbox.deliver_due(now=item.next_attempt_at - 1) == []  # not due yet
    assert receiver.requests == []
    [done] = outbox.deliver_due(now=item.next_attempt_at)
    assert done.outcome == "delivered"
    assert done.detail == "HTTP 200 OK: ok"
    assert [b["id"] for b in receiver.bodies()] == [n.id]

    assert outbox.deliver_due(now=T0 + 10_000) == []
    assert outbox.pending() == []
    [row] = outbox.history()
    assert (row.state, row.attempts, row.response) == ("delivered", 3, "HTTP 200 OK: ok")
    assert row.delivered_at == item.next_attempt_at
    assert len(receiver.requests) == 1


def test_enqueuing_the_same_notification_twice_delivers_it_once(
    db: Database, start_http: Any
) -> None:
    receiver = start_http()
    outbox = Outbox(db, {"hook": WebhookNotifier(receiver.url, timeout=5)}, FakeClock(T0))
    n = make_notification()
    assert outbox.add([(n, ["hook", "hook"])]) == 1
    assert outbox.add([(n, ["hook"])]) == 0
    outbox.deliver_due()
    assert outbox.add([(n, ["hook"])]) == 0  # delivered rows are never re-queued
    outbox.deliver_due()
    assert [b["id"] for b in receiver.bodies()] == [n.id]


def test_enqueue_commits_or_rolls_back_with_the_callers_transaction(db: Database) -> None:
    outbox = Outbox(db, {"hook": WebhookNotifier("http://127.0.0.1:9/x")}, FakeClock(T0))

    def fails_after_enqueue(conn: Any) -> None:
        outbox.enqueue(conn, [(make_notification(), ["hook"])])
        raise RuntimeError("the alert state could not be saved")

    with pytest.raises(RuntimeError):
        db.write(fails_after_enqueue)
    assert outbox.pending() == []

    with pytest.raises(ValueError, match="unknown receiver 'pager'; configured receivers: hook"):
        outbox.add([(make_notification(), ["hook", "pager"])])
    assert outbox.pending() == []


def test_a_receivers_items_stay_in_order_and_other_receivers_do_not_wait(
    db: Database, start_http: Any, start_smtp: Any
) -> None:
    port = free_port()
    smtp = start_smtp()
    notifiers = {
        "hook": WebhookNotifier(f"http://127.0.0.1:{port}/hook", timeout=5),
        "mail": email_notifier(smtp, starttls=False),
    }
    outbox = Outbox(db, notifiers, FakeClock(T0))
    firing = make_notification("firing", at=T0)
    resolved = make_notification("resolved", at=T0 + 5)
    outbox.add([(firing, ["hook", "mail"])], now=T0)
    outbox.add([(resolved, ["hook", "mail"])], now=T0 + 5)

    results = outbox.deliver_due(now=T0 + 5)
    outcomes = sorted((d.receiver, d.outcome, d.notification_id) for d in results)
    assert outcomes == [
        ("hook", "retry", firing.id),  # the resolved one waits behind it
        ("mail", "delivered", firing.id),
        ("mail", "delivered", resolved.id),
    ]
    assert [m.get("X-Kafkascope-Notification-Id") for _, _, m in smtp.inbox.messages] == [
        firing.id,
        resolved.id,
    ]

    receiver = start_http(port)
    later = outbox.next_due()
    assert later is not None
    outbox.deliver_due(now=later)
    assert [(b["kind"], b["id"]) for b in receiver.bodies()] == [
        ("firing", firing.id),
        ("resolved", resolved.id),
    ]


def test_fatal_errors_fail_the_item_which_can_be_retried_by_hand(
    db: Database, start_http: Any
) -> None:
    receiver = start_http()
    receiver.replies.append((400, "unknown field"))
    outbox = Outbox(db, {"hook": WebhookNotifier(receiver.url, timeout=5)}, FakeClock(T0))
    outbox.add([(make_notification(), ["hook"])])

    [d] = outbox.deliver_due()
    assert d.outcome == "failed"
    assert outbox.pending() == []
    [row] = outbox.history(state="failed")
    assert row.last_error is not None and "HTTP 400" in row.last_error
    assert row.to_dict()["rule"] == "broker_down"

    assert outbox.retry(row.id)
    [d] = outbox.deliver_due()
    assert d.outcome == "delivered"
    assert len(receiver.requests) == 2


def test_gives_up_after_the_limit_and_says_why(db: Database) -> None:
    hook = WebhookNotifier(f"http://127.0.0.1:{free_port()}/hook", timeout=5)
    outbox = Outbox(db, {"hook": hook}, FakeClock(T0), give_up_after=3600)
    outbox.add([(make_notification(), ["hook"])], now=T0)
    assert outbox.deliver_due(now=T0)[0].outcome == "retry"
    [d] = outbox.deliver_due(now=T0 + 3600)
    assert d.outcome == "failed"
    assert d.detail.startswith("gave up after 2 attempts over 1 h; last error:")


_CHILD = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from kafkascope.alerts.outbox import Outbox
    from kafkascope.alerts.notify import WebhookNotifier
    from kafkascope.clock import SystemClock
    from kafkascope.store.db import Database
    from tests.integration.test_notifiers import make_notification

    path, url, mode = sys.argv[1:4]

    class DiesAfterSending:
        def __init__(self, inner):
            self.inner = inner

        def send(self, n):
            answer = self.inner.send(n)
            os.kill(os.getpid(), signal.SIGKILL)  # between the send and marking it
            return answer

    hook = WebhookNotifier(url, timeout=5)
    if mode == "die-after-send":
        hook = DiesAfterSending(hook)
    outbox = Outbox(Database(Path(path)), {"hook": hook}, SystemClock())
    n = make_notification()
    outbox.add([(n, ["hook"])])
    print(n.id, flush=True)
    if mode == "die-after-send":
        outbox.deliver_due()
    sys.stdin.read()  # wait to be killed
    """
)


def _run_child_until_killed(db_path: Path, url: str, mode: str) -> str:
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo)}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db_path), url, mode],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        cwd=repo,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        notification_id = child.stdout.readline().decode().strip()
        if mode == "enqueue":
            os.kill(child.pid, signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
        child.stdout.close()
        child.stdin.close()
    assert len(notification_id) == 20, notification_id
    return notification_id


def test_a_notification_enqueued_before_a_sigkill_is_delivered_once_after_restart(
    tmp_path: Path, start_http: Any
) -> None:
    receiver = start_http()
    path = tmp_path / "kafkascope.db"
    notification_id = _run_child_until_killed(path, receiver.url, "enqueue")
    assert receiver.requests == []

    db = Database(path)
    try:
        outbox = Outbox(db, {"hook": WebhookNotifier(receiver.url, timeout=5)}, FakeClock(T0))
        [d] = outbox.deliver_due(now=T0 + 1e9)
        assert (d.outcome, d.notification_id) == ("delivered", notification_id)
        assert outbox.deliver_due(now=T0 + 2e9) == []
    finally:
        db.close()

    db = Database(path)  # and a second restart sends nothing again
    try:
        outbox = Outbox(db, {"hook": WebhookNotifier(receiver.url, timeout=5)}, FakeClock(T0))
        assert outbox.pending() == []
        assert outbox.deliver_due(now=T0 + 3e9) == []
    finally:
        db.close()
    assert [b["id"] for b in receiver.bodies()] == [notification_id]


def test_a_sigkill_between_send_and_mark_resends_once_with_the_same_id(
    tmp_path: Path, start_http: Any
) -> None:
    """The documented crash window: the receiver gets a duplicate it can drop by id."""
    receiver = start_http()
    path = tmp_path / "kafkascope.db"
    notification_id = _run_child_until_killed(path, receiver.url, "die-after-send")
    wait_until(lambda: len(receiver.requests) == 1, 10, "the child's delivery")

    db = Database(path)
    try:
        outbox = Outbox(db, {"hook": WebhookNotifier(receiver.url, timeout=5)}, FakeClock(T0))
        [d] = outbox.deliver_due(now=T0 + 1e9)
        assert d.outcome == "delivered"
        assert outbox.deliver_due(now=T0 + 2e9) == []
    finally:
        db.close()
    bodies = receiver.bodies()
    assert [b["id"] for b in bodies] == [notification_id, notification_id]
    assert [r.headers["Idempotency-Key"] for r in receiver.requests] == [notification_id] * 2


def test_secrets_stay_out_of_the_outbox_and_its_logs(
    db: Database, start_http: Any, caplog: pytest.LogCaptureFixture
) -> None:
    receiver = start_http()
    receiver.replies += [(500, "upstream said: {auth}"), (401, "bad token {auth}")]
    hook = WebhookNotifier(receiver.url, {"Authorization": SECRET_HEADER}, timeout=5)
    outbox = Outbox(db, {"hook": hook}, FakeClock(T0))
    outbox.add([(make_notification(), ["hook"])], now=T0)
    with caplog.at_level("DEBUG", logger="kafkascope"):
        assert outbox.deliver_due(now=T0)[0].outcome == "retry"
        assert outbox.deliver_due(now=T0 + 3600)[0].outcome == "failed"
    [row] = outbox.history()
    assert row.last_error is not None and "bad token ***" in row.last_error
    assert "HTTP 500" in caplog.text and "HTTP 401" in caplog.text
    assert SECRET_HEADER not in caplog.text
    assert SECRET_HEADER not in json.dumps(row.to_dict())

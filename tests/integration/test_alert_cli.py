"""``kafkascope test-notify`` and ``kafkascope alerts`` as real processes, against real
receivers on loopback (an HTTP server, aiosmtpd). No Kafka is needed: test-notify never
connects to a cluster, and these ``alerts`` cases are the ones with nothing to read."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kafkascope.sandbox.procs import free_port
from tests.receivers import HttpReceiver, SmtpServer
from tests.support import run_cli, wait_until


def write_config(tmp_path: Path, hook: str, broken: str, gone: str, smtp_port: int) -> Path:
    f = tmp_path / "kafkascope.toml"
    f.write_text(
        f"""
[service]
data_dir = "{tmp_path / "data"}"
listen = "127.0.0.1:{free_port()}"

[[clusters]]
name = "prod"
bootstrap = "127.0.0.1:9"

[[alerts.routes]]
name = "pager"
receivers = ["hook", "mail"]

[[alerts.routes]]
name = "all-bad"
receivers = ["broken", "gone"]

[[alerts.receivers]]
kind = "webhook"
name = "hook"
url = "{hook}"

[[alerts.receivers]]
kind = "webhook"
name = "broken"
url = "{broken}"

[[alerts.receivers]]
kind = "webhook"
name = "gone"
url = "{gone}"

[[alerts.receivers]]
kind = "email"
name = "mail"
host = "127.0.0.1"
port = {smtp_port}
starttls = false
from = "kafkascope@example.com"
to = ["oncall@example.com"]
"""
    )
    return f


def test_test_notify_reports_what_each_receiver_of_a_route_answered(
    tmp_path: Path,
    start_http: Callable[..., HttpReceiver],
    start_smtp: Callable[..., SmtpServer],
) -> None:
    hook, broken, gone = start_http(), start_http(), start_http()
    broken.replies = [(503, "maintenance")]
    gone.replies = [(404, "no such hook")]
    smtp = start_smtp()
    cfg = write_config(tmp_path, hook.url, broken.url, gone.url, smtp.port)

    ok = run_cli("test-notify", "--config", str(cfg), "pager", "--severity", "critical")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "hook: delivered; the receiver answered: HTTP 200" in ok.stdout
    assert "mail: delivered; the receiver answered: 250" in ok.stdout
    (body,) = hook.bodies()
    assert body["alert"]["rule"] == "test_notification"
    assert body["alert"]["severity"] == "critical" and body["cluster"] == "prod"
    ((_, rcpt, msg),) = wait_until(lambda: smtp.inbox.messages, 10, "the test e-mail")
    assert rcpt == ["oncall@example.com"]
    assert "test_notification" in msg["Subject"] and "cluster prod" in msg["Subject"]
    assert broken.bodies() == [] and gone.bodies() == []  # not on the route

    bad = run_cli("test-notify", "--config", str(cfg), "all-bad")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "broken: FAILED (retryable: the service would keep trying)" in bad.stdout
    assert "503" in bad.stdout
    assert "gone: FAILED (permanent: fix the receiver or its config)" in bad.stdout
    assert "404" in bad.stdout

    one = run_cli("test-notify", "--config", str(cfg), "hook")  # a receiver's name alone
    assert one.returncode == 0 and len(hook.bodies()) == 2 and len(smtp.inbox.messages) == 1

    unknown = run_cli("test-notify", "--config", str(cfg), "pagr")
    assert unknown.returncode == 2
    assert "'pagr' names no route and no receiver" in unknown.stderr
    assert "pager, all-bad" in unknown.stderr and "Traceback" not in unknown.stderr


def test_alerts_says_clearly_when_there_is_nothing_to_read(tmp_path: Path) -> None:
    nowhere = "http://127.0.0.1:9/x"
    cfg = write_config(tmp_path, nowhere, nowhere, nowhere, smtp_port=25)
    no_store = run_cli("alerts", "--config", str(cfg))
    assert no_store.returncode == 2
    assert "no kafkascope store at" in no_store.stderr and "kafkascope serve" in no_store.stderr

    port = free_port()
    no_service = run_cli("alerts", "--url", f"http://127.0.0.1:{port}")
    assert no_service.returncode == 2
    assert f"no service answers at http://127.0.0.1:{port}" in no_service.stderr

    no_scheme = run_cli("alerts", "--url", f"127.0.0.1:{port}")
    assert no_scheme.returncode == 2 and "'http://'" in no_scheme.stderr
    assert "Traceback" not in no_scheme.stderr

    bad_state = run_cli("alerts", "--config", str(cfg), "--state", "burning")
    # An Enum option: click refuses it naming the choices (the box may wrap the line).
    said = " ".join(bad_state.stderr.replace("│", " ").split())
    assert bad_state.returncode == 2 and "'pending', 'firing', 'resolved'" in said

"""Secrets stay secret (issue 12, items 12, 15 and 16), checked with real processes and
real receivers on loopback: ``kafkascope check-config``, ``test-notify``, ``alerts`` and
``serve`` as child processes, an HTTP server that answers 500, a closed port, an SMTP
server speaking implicit TLS (aiosmtpd with a certificate made for the test), and a real
SQLite outbox. No Kafka is needed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from kafkascope.alerts.notify import EmailNotifier, WebhookNotifier
from kafkascope.alerts.outbox import Outbox
from kafkascope.clock import FakeClock
from kafkascope.errors import NotifyError
from kafkascope.sandbox.procs import free_port
from kafkascope.store.db import Database
from tests.integration.test_notifiers import T0, make_notification
from tests.receivers import SMTP_PASSWORD, SMTP_USER, HttpReceiver, SmtpServer
from tests.support import run_cli, wait_until

# Each is a part of a webhook URL that grants access: the password in the user info, a
# token in the path (as Slack and most chat webhooks carry it) and one in the query.
PASS, PATH_TOKEN, QUERY_TOKEN = "pw-Zq81x", "PATHTOKEN-7c2e", "QUERYTOKEN-91ab"
URL_SECRETS = (PASS, PATH_TOKEN, QUERY_TOKEN)


def secret_url(host_port: str, scheme: str = "http") -> str:
    return f"{scheme}://hookuser:{PASS}@{host_port}/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"


def assert_no_url_secret(text: str) -> None:
    for secret in URL_SECRETS:
        assert secret not in text, f"{secret} leaked in:\n{text}"


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``kafkascope ARGS`` with extra environment variables."""
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
    )


# ------------------------------------------------------------------ item 12: URLs


def test_check_config_shows_only_scheme_host_and_port_of_receiver_urls(tmp_path: Path) -> None:
    slack_path = "services/T000/B000/SLACKPATH-55e1"
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        f"""
[[clusters]]
name = "prod"
bootstrap = "127.0.0.1:9"

[clusters.client_properties]
"sasl.mechanism" = "OAUTHBEARER"
"sasl.oauthbearer.config" = "scope=kafka clientSecret=OAUTHCONFIG-3f9d"

[[alerts.receivers]]
kind = "webhook"
name = "hook"
url = "{secret_url("hooks.example.com:8443", "https")}"

[[alerts.receivers]]
kind = "slack"
name = "chat"
webhook_url = "https://hooks.slack.com/{slack_path}"
"""
    )
    result = run_cli("check-config", str(cfg))
    assert result.returncode == 0, result.stderr
    out = result.stdout + result.stderr
    assert_no_url_secret(out)
    assert "hookuser" not in out and "/hooks/" not in out
    assert "SLACKPATH-55e1" not in out and "/services/" not in out
    assert "OAUTHCONFIG-3f9d" not in out and "scope=kafka" not in out
    assert "hook: webhook https://hooks.example.com:8443 " in out
    assert "chat: slack https://hooks.slack.com " in out
    assert "sasl.oauthbearer.config=***" in out


def receivers_config(tmp_path: Path, *urls: tuple[str, str]) -> Path:
    cfg = tmp_path / "k.toml"
    text = '[[clusters]]\nname = "prod"\nbootstrap = "127.0.0.1:9"\n'
    for name, url in urls:
        # http:// with a password in the URL is refused unless allowed (item 15).
        text += (
            f'\n[[alerts.receivers]]\nkind = "webhook"\nname = "{name}"\nurl = "{url}"\n'
            "allow_insecure = true\n"
        )
    cfg.write_text(text)
    return cfg


def test_test_notify_failure_shows_no_part_of_the_url_but_its_origin(
    tmp_path: Path, start_http: Callable[..., HttpReceiver]
) -> None:
    failing = start_http()
    # A receiver that quotes the request it refused, as many error pages do.
    failing.replies = [(500, f"no such hook /hooks/{PATH_TOKEN}?token={QUERY_TOKEN}")]
    closed = free_port()  # nothing listens there
    cfg = receivers_config(
        tmp_path,
        ("broken", secret_url(f"127.0.0.1:{failing.port}")),
        ("gone", secret_url(f"127.0.0.1:{closed}")),
    )
    result = run_cli("test-notify", "--config", str(cfg), "all")
    assert result.returncode == 1, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert_no_url_secret(out)
    retried = "FAILED (retryable: the service would keep trying)"
    assert (
        f"broken: {retried}: webhook http://127.0.0.1:{failing.port}: receiver answered HTTP 500"
        in out
    )
    assert (
        f"gone: {retried}: webhook http://127.0.0.1:{closed}: cannot deliver: connection refused"
        in out
    )
    assert len(failing.requests) == 1  # it was really sent
    assert failing.requests[0].path == f"/hooks/{PATH_TOKEN}?token={QUERY_TOKEN}"


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    database = Database(tmp_path / "kafkascope.db")
    yield database
    database.close()


def test_outbox_last_error_and_log_lines_hold_no_url_secret(
    db: Database, start_http: Callable[..., HttpReceiver], caplog: pytest.LogCaptureFixture
) -> None:
    failing = start_http()
    failing.replies = [(500, f"upstream error for {PATH_TOKEN}")] * 2
    closed = free_port()
    notifiers = {
        "broken": WebhookNotifier(secret_url(f"127.0.0.1:{failing.port}"), timeout=5),
        "gone": WebhookNotifier(secret_url(f"127.0.0.1:{closed}"), timeout=5),
    }
    outbox = Outbox(db, notifiers, FakeClock(T0))
    outbox.add([(make_notification(), ["broken", "gone"])], now=T0)
    with caplog.at_level(logging.DEBUG):
        results = outbox.deliver_due(now=T0)
    assert sorted(d.outcome for d in results) == ["retry", "retry"]
    rows = outbox.history()
    errors = [row.last_error or "" for row in rows]
    assert any(f"webhook http://127.0.0.1:{failing.port}" in e and "HTTP 500" in e for e in errors)
    assert any(f"webhook http://127.0.0.1:{closed}" in e and "refused" in e for e in errors)
    assert_no_url_secret("\n".join(errors))
    # httpx's own "HTTP Request: POST <url>" line is among these, with its URL cut down.
    assert f"POST http://127.0.0.1:{failing.port} " in caplog.text
    assert_no_url_secret(caplog.text + "".join(repr(n) for n in notifiers.values()))


def test_a_bad_webhook_url_is_refused_without_quoting_it() -> None:
    with pytest.raises(ValueError) as e:
        WebhookNotifier(f"https://u:{PASS}@:99/{PATH_TOKEN}")  # no host
    assert_no_url_secret(str(e.value))


# ------------------------------------------------------------------ item 15: TLS


def test_email_over_implicit_tls_with_auth(start_smtp: Callable[..., SmtpServer]) -> None:
    server = start_smtp(implicit_tls=True, auth=True)
    notifier = EmailNotifier(
        "127.0.0.1",
        server.port,
        "implicit",
        SMTP_USER,
        SMTP_PASSWORD,
        "kafkascope@example.com",
        ["oncall@example.com"],
        10,
        ssl_context=server.client_tls,
    )
    n = make_notification()
    answer = notifier.send(n)
    assert answer.startswith("250 ")
    assert server.inbox.logins == [SMTP_USER]
    [(_, rcpts, msg)] = server.inbox.messages
    assert rcpts == ["oncall@example.com"] and n.id in msg["Message-ID"]


def test_implicit_tls_refuses_an_untrusted_certificate_and_a_plain_server(
    start_smtp: Callable[..., SmtpServer],
) -> None:
    tls = start_smtp(implicit_tls=True)
    untrusted = EmailNotifier(
        "127.0.0.1", tls.port, "implicit", None, None, "k@example.com", ["o@example.com"], 10
    )
    with pytest.raises(NotifyError, match="TLS certificate not trusted") as e:
        untrusted.send(make_notification())
    assert e.value.retryable and tls.inbox.messages == []

    plain = start_smtp()
    wrong = EmailNotifier(
        "127.0.0.1", plain.port, "implicit", None, None, "k@example.com", ["o@example.com"], 5
    )
    with pytest.raises(NotifyError, match="TLS failed") as e:
        wrong.send(make_notification())
    assert plain.inbox.messages == []


def test_test_notify_reaches_an_implicit_tls_server_given_in_the_config(
    tmp_path: Path, start_smtp: Callable[..., SmtpServer], tls_files: tuple[Path, Path]
) -> None:
    # The CLI trusts the system store; point it at the test CA the standard way.
    server = start_smtp(implicit_tls=True, auth=True)
    (tmp_path / "smtp.pw").write_text(SMTP_PASSWORD + "\n")
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        '[[clusters]]\nname = "prod"\nbootstrap = "127.0.0.1:9"\n'
        '[[alerts.receivers]]\nkind = "email"\nname = "mail"\nhost = "127.0.0.1"\n'
        f'port = {server.port}\ntls = "implicit"\nusername = "{SMTP_USER}"\n'
        'password_file = "smtp.pw"\nfrom = "k@example.com"\nto = ["o@example.com"]\n'
    )
    result = run(
        "test-notify", "--config", str(cfg), "mail", env={"SSL_CERT_FILE": str(tls_files[0])}
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "mail: delivered; the receiver answered: 250" in result.stdout
    wait_until(lambda: server.inbox.messages, 10, "the e-mail")


def test_check_config_refuses_a_password_sent_in_clear_text(tmp_path: Path) -> None:
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        '[[clusters]]\nname = "prod"\nbootstrap = "127.0.0.1:9"\n'
        '[[alerts.receivers]]\nkind = "email"\nname = "mail"\nhost = "smtp.example.com"\n'
        'starttls = false\nusername = "u"\npassword = "smtp-secret-1"\n'
        'from = "k@example.com"\nto = ["o@example.com"]\n'
    )
    result = run_cli("check-config", str(cfg))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr  # one line
    assert "alerts.receivers[0].tls" in result.stderr
    assert 'tls = "implicit"' in result.stderr and "allow_insecure = true" in result.stderr
    assert "smtp-secret-1" not in result.stderr


# ------------------------------------------------------------------ item 16: off argv


@pytest.fixture
def service(tmp_path: Path) -> Iterator[str]:
    """A real ``kafkascope serve`` (no Kafka behind it: the API answers all the same) that
    wants a read token."""
    port = free_port()
    cfg = tmp_path / "serve.toml"
    cfg.write_text(
        f'[service]\nlisten = "127.0.0.1:{port}"\ndata_dir = "{tmp_path / "data"}"\n'
        'read_tokens = ["read-tok-4411"]\nadmin_tokens = ["admin-tok-7788"]\n'
        '[[clusters]]\nname = "prod"\nbootstrap = "127.0.0.1:9"\n'
    )
    log = open(tmp_path / "serve.log", "wb")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "kafkascope.cli.main", "serve", "--config", str(cfg)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    log.close()
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError((tmp_path / "serve.log").read_text())
        try:
            return httpx.get(f"{url}/api/v1/health", timeout=2).status_code in (200, 401)
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 60, "serve to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(30)


def test_alerts_takes_its_token_from_a_file_or_the_environment(
    service: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text("read-tok-4411\n")
    no_token = run("alerts", "--url", service)
    assert no_token.returncode == 2 and "401" in no_token.stderr

    from_file = run("alerts", "--url", service, "--token-file", str(token_file), "--json")
    assert from_file.returncode == 0, from_file.stderr
    assert '"alerts": []' in from_file.stdout

    from_env = run("alerts", "--url", service, "--json", env={"KAFKASCOPE_TOKEN": "read-tok-4411"})
    assert from_env.returncode == 0, from_env.stderr
    assert "read-tok-4411" not in from_env.stdout + from_env.stderr

    on_argv = run("alerts", "--url", service, "--token", "read-tok-4411", "--json")
    assert on_argv.returncode == 0, on_argv.stderr
    assert "--token-file" in on_argv.stderr and "KAFKASCOPE_TOKEN" in on_argv.stderr  # warned

    both = run("alerts", "--url", service, "--token", "x", "--token-file", str(token_file))
    assert both.returncode == 2 and "--token" in both.stderr and "--token-file" in both.stderr

    missing = run("alerts", "--url", service, "--token-file", str(tmp_path / "nope"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert "Traceback" not in missing.stderr

    help_text = run("alerts", "--help").stdout
    assert "--token-file" in help_text and "KAFKASCOPE_TOKEN" in help_text

    # `clients forget` changes state: an admin token from a file is let through (and the
    # service says it knows no such client), the read token from the environment is not.
    admin_file = tmp_path / "admin-token"
    admin_file.write_text("admin-tok-7788\n")
    forget = ("clients", "forget", "no-such-client", "--url", service, "--cluster", "prod")
    as_admin = run(*forget, "--token-file", str(admin_file))
    assert as_admin.returncode == 1, as_admin.stderr  # authorised, and not found
    as_reader = run(*forget, env={"KAFKASCOPE_TOKEN": "read-tok-4411"})
    assert as_reader.returncode == 2 and "403" in as_reader.stderr, as_reader.stderr


def test_property_values_come_from_the_environment_or_a_file(tmp_path: Path) -> None:
    """``--property KEY=env:VAR`` and ``--property KEY_file=PATH``, as in the TOML. That
    they reach librdkafka resolved shows in its answer: it validates security.protocol
    and knows no property called ``sasl.password_file``, so an unresolved form would be
    refused as invalid, while resolved ones get as far as the (closed) port."""
    (tmp_path / "pw").write_text("sasl-file-pw-1\n")
    port = free_port()
    base = ("groups", "--bootstrap", f"127.0.0.1:{port}", "--sample", "0", "--timeout", "2")
    ok = run(
        *base,
        "--property",
        "security.protocol=env:KS_PROTO",
        "--property",
        "sasl.mechanism=PLAIN",
        "--property",
        "sasl.username=alice",
        "--property",
        f"sasl.password_file={tmp_path / 'pw'}",
        env={"KS_PROTO": "SASL_PLAINTEXT"},
    )
    assert ok.returncode == 2
    assert "cannot connect to Kafka" in ok.stderr, ok.stderr
    assert "sasl-file-pw-1" not in ok.stderr + ok.stdout
    assert "warning" not in ok.stderr  # nothing secret was on the command line

    unset = run(*base, "--property", "sasl.password=env:KS_NOT_SET_ANYWHERE")
    assert unset.returncode == 2
    assert "KS_NOT_SET_ANYWHERE is not set" in unset.stderr and "--property" in unset.stderr

    no_file = run(*base, "--property", f"sasl.password_file={tmp_path / 'nope'}")
    assert no_file.returncode == 2 and "does not exist" in no_file.stderr

    on_argv = run(*base, "--property", "sasl.password=argv-pw-22")
    assert "sasl.password=env:VAR" in on_argv.stderr  # a warning naming the safer forms
    assert "argv-pw-22" not in on_argv.stderr

    help_text = run("groups", "--help").stdout
    assert "env:" in help_text and "_file" in help_text

"""Configuration rules that keep secrets secret (issue 12, items 12, 15 and 16): TOML syntax
errors do not echo the broken line, receivers refuse to send a credential in clear text
unless told to, SMTP can use implicit TLS, and secret librdkafka properties are hidden.

These load real files through :func:`load_config`; each case says why its answer is right.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from kafkascope.cli.config import summarize
from kafkascope.config import EmailReceiver, Secret, WebhookReceiver, load_config
from kafkascope.errors import ConfigError

MINIMAL = '[[clusters]]\nname = "prod"\nbootstrap = "kafka1:9092"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "k.toml"
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- item 12

# (broken line, what must not be echoed, line, column)
SYNTAX: list[tuple[str, list[str], int, int]] = [
    # An unquoted webhook URL: 'url' is no secret-looking key name, but the value is.
    (
        "url = https://u:PASS-1@hooks.example.com/PATHTOKEN-1?token=QTOKEN-1",
        ["PASS-1", "PATHTOKEN-1", "QTOKEN-1", "hooks.example.com"],
        5,
        7,
    ),
    # An ordinary mistake: the value is still not repeated (the line may be anything).
    ("bootstrap_servers = localhost:9092", ["localhost:9092"], 5, 21),
    # A value cut in half by a stray quote.
    ('name = "abc"def-XYZ99"', ["def-XYZ99", 'abc"'], 5, 13),
]


@pytest.mark.parametrize(("line", "hidden", "lineno", "col"), SYNTAX)
def test_toml_syntax_error_names_the_place_but_not_the_line(
    tmp_path: Path, line: str, hidden: list[str], lineno: int, col: int
) -> None:
    path = write(tmp_path, MINIMAL + "[[alerts.receivers]]\n" + line + "\n")
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    message = str(e.value)
    assert message.startswith(f"{path}:{lineno}:{col}: TOML syntax error at line {lineno}, ")
    assert "Fix:" in message
    for text in hidden:
        assert text not in message


# --------------------------------------------------------------------------- item 15

EMAIL = (
    '[[alerts.receivers]]\nkind = "email"\nname = "m"\nhost = "smtp.example.com"\n'
    'from = "k@example.com"\nto = ["o@example.com"]\n'
)
HOOK = '[[alerts.receivers]]\nkind = "webhook"\nname = "w"\n'

# (id, receiver TOML, error fragments or None when it loads)
INSECURE: list[tuple[str, str, list[str] | None]] = [
    # A password over plain SMTP crosses the network readable: refused, naming the keys.
    (
        "smtp-password-no-tls",
        EMAIL + 'tls = "none"\nusername = "u"\npassword = "smtp-pw-Q7x"\n',
        ["alerts.receivers[0].tls", 'tls = "starttls"', 'tls = "implicit"', "allow_insecure"],
    ),
    # The older spelling starttls = false means the same and is refused the same way.
    (
        "smtp-password-starttls-false",
        EMAIL + 'starttls = false\nusername = "u"\npassword = "smtp-pw-Q7x"\n',
        ["alerts.receivers[0].tls", "allow_insecure = true"],
    ),
    # Said explicitly: the operator knows the path is trusted.
    (
        "smtp-allowed",
        EMAIL + 'tls = "none"\nusername = "u"\npassword = "smtp-pw-Q7x"\nallow_insecure = true\n',
        None,
    ),
    # No password: nothing secret to leak, plain SMTP is fine (a local relay).
    ("smtp-no-password", EMAIL + 'tls = "none"\n', None),
    # Both spellings at once would be ambiguous.
    (
        "smtp-both-spellings",
        EMAIL + 'tls = "implicit"\nstarttls = true\n',
        ["both", "starttls", "tls"],
    ),
    # Secret headers over http:// are readable on the way.
    (
        "webhook-headers-http",
        HOOK
        + 'url = "http://hooks.example.com/k"\n'
        + 'headers = { Authorization = "Bearer hdr-tok-Q8x" }\n',
        ["alerts.receivers[0].url", "https://", "allow_insecure = true"],
    ),
    # So is a password in the URL (sent as HTTP basic auth).
    (
        "webhook-userinfo-http",
        HOOK + 'url = "http://u:PASSWORD-Q9x@hooks.example.com/k"\n',
        ["alerts.receivers[0].url", "allow_insecure = true"],
    ),
    ("webhook-https", HOOK + 'url = "https://h.example.com/k"\nheaders = { A = "b-1" }\n', None),
    (
        "webhook-http-allowed",
        HOOK + 'url = "http://h.example.com/k"\nheaders = { A = "b-1" }\nallow_insecure = true\n',
        None,
    ),
    # No header, no password: the URL's own tokens are the operator's call, as before.
    ("webhook-http-plain", HOOK + 'url = "http://127.0.0.1:9/k"\n', None),
    # Not a URL: the error must not quote it (it may hold a token).
    ("webhook-not-a-url", HOOK + 'url = "hooks.example.com/TOKEN-Q55x"\n', ["http(s) URL"]),
]


@pytest.mark.parametrize(
    ("text", "fragments"), [c[1:] for c in INSECURE], ids=[c[0] for c in INSECURE]
)
def test_credentials_in_clear_text_are_refused_unless_allowed(
    tmp_path: Path, text: str, fragments: list[str] | None
) -> None:
    path = write(tmp_path, MINIMAL + text)
    if fragments is None:
        load_config(path, env={})
        return
    with pytest.raises(ConfigError) as e:
        load_config(path, env={})
    message = str(e.value)
    for fragment in fragments:
        assert fragment in message
    assert "\n" not in message  # one line
    for secret in ("smtp-pw-Q7x", "hdr-tok-Q8x", "PASSWORD-Q9x", "TOKEN-Q55x"):
        assert secret not in message


# (tls key as written, port written or None, expected mode, expected port)
TLS_MODES: list[tuple[str, int | None, str, int]] = [
    ("", None, "starttls", 587),  # the default: submission port, upgraded
    ('tls = "implicit"\n', None, "implicit", 465),  # SMTPS: its own well-known port
    ('tls = "implicit"\n', 2465, "implicit", 2465),  # a port given wins
    ('tls = "none"\n', None, "none", 587),
    ("starttls = true\n", None, "starttls", 587),  # the older spelling still loads
    ("starttls = false\n", 25, "none", 25),
]


@pytest.mark.parametrize(("key", "port", "mode", "expected_port"), TLS_MODES)
def test_smtp_tls_modes_and_default_ports(
    tmp_path: Path, key: str, port: int | None, mode: str, expected_port: int
) -> None:
    text = EMAIL + key + (f"port = {port}\n" if port is not None else "")
    config = load_config(write(tmp_path, MINIMAL + text), env={})
    [mail] = config.alerts.receivers
    assert isinstance(mail, EmailReceiver)
    assert (mail.tls, mail.port) == (mode, expected_port)


def test_a_webhook_url_is_a_secret_and_can_come_from_the_environment_or_a_file(
    tmp_path: Path,
) -> None:
    (tmp_path / "hook.url").write_text("https://hooks.example.com/FILE-TOKEN\n")
    text = (
        MINIMAL
        + HOOK
        + 'url = "env:HOOK_URL"\n'
        + '[[alerts.receivers]]\nkind = "webhook"\nname = "f"\nurl_file = "hook.url"\n'
    )
    config = load_config(write(tmp_path, text), env={"HOOK_URL": "https://h.example.com/ENV-T"})
    env_hook, file_hook = config.alerts.receivers
    assert isinstance(env_hook, WebhookReceiver) and isinstance(file_hook, WebhookReceiver)
    assert env_hook.url.reveal() == "https://h.example.com/ENV-T"
    assert file_hook.url.reveal() == "https://hooks.example.com/FILE-TOKEN"
    shown = repr(config) + config.model_dump_json() + summarize(config)
    assert "ENV-T" not in shown and "FILE-TOKEN" not in shown


# --------------------------------------------------------------------------- item 16

# Property names librdkafka treats as credentials: each must load as a Secret.
SECRET_PROPERTIES = [
    "sasl.oauthbearer.config",  # holds clientSecret=... for the built-in OIDC handler
    "sasl.oauthbearer.client.secret",
    "sasl.password",
    "ssl.key.password",
    "ssl.keystore.password",
    "sasl.oauthbearer.assertion.private.key.passphrase",  # a passphrase is a password
]


@pytest.mark.parametrize("name", SECRET_PROPERTIES)
def test_secret_client_properties_are_hidden(tmp_path: Path, name: str) -> None:
    text = MINIMAL + f'[clusters.client_properties]\n"{name}" = "VALUE-77 clientSecret=x"\n'
    config = load_config(write(tmp_path, text), env={})
    value = config.clusters[0].client_properties[name]
    assert isinstance(value, Secret)
    assert "VALUE-77" not in summarize(config) and f"{name}=***" in summarize(config)

"""The configuration: the example loads, broken files say file/key/fix, the environment wins,
secrets never show, durations parse, the reference documents every setting, the sandbox's
file loads, and ``check-config`` exits 0 or 2 without a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from pydantic import BaseModel

from kafkascope.cli.config import summarize
from kafkascope.config import (
    RULE_DESCRIPTIONS,
    Config,
    EmailReceiver,
    Secret,
    SlackReceiver,
    WebhookReceiver,
    format_duration,
    load_config,
    parse_duration,
    render_reference,
    split_host_port,
)
from kafkascope.errors import ConfigError
from kafkascope.sandbox.cluster import write_service_files
from kafkascope.sandbox.state import Proc, SandboxState

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "kafkascope.example.toml"
REFERENCE = ROOT / "docs" / "config-reference.md"

MINIMAL = '[[clusters]]\nname = "prod"\nbootstrap = "kafka1:9092"\n'


def write(tmp_path: Path, text: str, name: str = "k.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path: Path | None, env: dict[str, str]) -> str:
    """The ConfigError message loading ``path`` gives (the test fails if it loads)."""
    with pytest.raises(ConfigError) as info:
        load_config(path, env=env)
    return str(info.value)


def revealed(secret: Secret | None) -> str:
    assert secret is not None
    return secret.reveal()


# --------------------------------------------------------------------------- the example


def test_example_file_loads_cleanly() -> None:
    # The documented example must load with an empty environment: it is what people copy.
    config = load_config(EXAMPLE, env={})
    assert [c.name for c in config.clusters] == ["prod", "staging"]
    assert {type(r) for r in config.alerts.receivers} == {
        WebhookReceiver,
        SlackReceiver,
        EmailReceiver,
    }
    assert config.alerts.custom_rules[0].name == "orders-lag-high"
    assert config.cluster("prod").jmx.clients.file_sd == EXAMPLE.parent / "targets.json"
    assert config.file == EXAMPLE


def test_defaults_match_the_issue() -> None:
    # Defaults promised by issue 6 (listen, retention) and issue 5 (intervals, 1 s floor).
    config = load_config(None, env={"KAFKASCOPE_CLUSTERS__C__BOOTSTRAP": "k:9092"})
    s, c = config.service, config.clusters[0]
    assert s.listen == "127.0.0.1:8321"
    assert (s.retention.raw, s.retention.one_minute, s.retention.ten_minute) == (
        86400.0,
        7 * 86400.0,
        90 * 86400.0,
    )
    assert (c.admin_interval, c.jmx_interval, c.client_interval, c.jmx_timeout) == (10, 10, 5, 5)
    assert (c.lag.intervals, c.lag.min_distance, c.lag.allowed_lag) == (10, 0, 0)
    assert c.lag.expire_group_after == 7 * 86400
    assert c.liveness.hung_poll_seconds is None and c.liveness.max_poll_interval == 300


# --------------------------------------------------------------------------- broken files

# (id, file text or None for "no file", key path expected, fragments expected, why)
BROKEN: list[tuple[str, str | None, str, list[str]]] = [
    # A missing file is the most common start-up mistake: say so and point at the example.
    ("missing-file", None, "", ["does not exist", "kafkascope.example.toml"]),
    # Unquoted string: TOML's own error, with line and column (never the line itself: it
    # may hold a secret; see test_config_security.py).
    (
        "toml-syntax",
        '[[clusters]]\nname = "a"\nbootstrap = localhost:9092\n',
        "",
        [":3:13:", "TOML syntax error at line 3, column 13: Invalid value. Fix:"],
    ),
    # A typo must be caught (extra="forbid") and the right spelling suggested (difflib).
    (
        "unknown-key",
        '[[clusters]]\nname = "a"\nbootstrp = "k:9092"\n',
        "clusters[0].bootstrp",
        ["unknown key 'bootstrp' in [[clusters]]", "did you mean 'bootstrap'?", ":3:"],
    ),
    # "10 sec" looks plausible; the message lists the forms that work.
    (
        "bad-duration",
        MINIMAL + 'admin_interval = "10 sec"\n',
        "clusters[0].admin_interval",
        ["'10 sec' is not a duration", '"30s", "5m"'],
    ),
    # A listen address without a port.
    (
        "bad-host-port",
        '[service]\nlisten = "localhost"\n' + MINIMAL,
        "service.listen",
        ["'localhost' has no port", "HOST:PORT"],
    ),
    # Two clusters with one name would collide in URLs and metric labels.
    (
        "duplicate-cluster",
        MINIMAL + MINIMAL,
        "clusters[1].name",
        ["duplicate cluster name 'prod'", "its own name", ":5:"],
    ),
    # A password file that is not there fails at load, not at the first JMX connection.
    (
        "missing-password-file",
        MINIMAL + '[clusters.jmx]\nusername = "u"\npassword_file = "nope.txt"\n',
        "clusters[0].jmx.password_file",
        ["nope.txt does not exist", "create the file"],
    ),
    # A route to a receiver that does not exist would drop alerts silently.
    (
        "unknown-receiver",
        MINIMAL + '[[alerts.receivers]]\nkind = "webhook"\nname = "hook"\nurl = "https://x/y"\n'
        '[[alerts.routes]]\nreceivers = ["hok"]\n',
        "alerts.routes[0].receivers",
        ["receiver 'hok' is not defined", "did you mean 'hook'?"],
    ),
    # [clusters] (one bracket) instead of [[clusters]]: the classic TOML slip.
    (
        "single-bracket-array",
        '[clusters]\nname = "a"\nbootstrap = "k:9092"\n',
        "clusters",
        ["must be an array of tables", "[[clusters]]"],
    ),
    # A required key missing: say which table and show an example value.
    (
        "missing-bootstrap",
        '[[clusters]]\nname = "a"\n',
        "clusters[0].bootstrap",
        ["missing required key 'bootstrap'", 'add bootstrap = "kafka1:9092'],
    ),
    # Ports are 1-65535.
    (
        "port-out-of-range",
        MINIMAL + "[clusters.jmx]\nbroker_port = 99999\n",
        "clusters[0].jmx.broker_port",
        ["must be at most 65535", "got 99999"],
    ),
    # The client interval may go down to 1 s, not below (issue 5).
    (
        "client-interval-too-small",
        MINIMAL + 'client_interval = "500ms"\n',
        "clusters[0].client_interval",
        ["must be at least 1s (got 500ms)"],
    ),
    # An env: reference to an unset variable: name the variable.
    (
        "unset-env-secret",
        MINIMAL + '[clusters.jmx]\nusername = "u"\npassword = "env:NOPE_PW"\n',
        "clusters[0].jmx.password",
        ["environment variable NOPE_PW is not set", "export NOPE_PW"],
    ),
    # A misspelt rule override would otherwise be ignored.
    (
        "unknown-rule",
        MINIMAL + '[alerts.rules.under_replicated]\nfor = "1m"\n',
        "alerts.rules.under_replicated",
        ["did you mean 'under_replicated_partitions'?"],
    ),
    # Unknown receiver kind: list the kinds.
    (
        "unknown-receiver-kind",
        MINIMAL + '[[alerts.receivers]]\nkind = "pagerduty"\nname = "p"\n',
        "alerts.receivers[0]",
        ["kind 'pagerduty' is not known", "'webhook', 'slack', 'email'"],
    ),
    # Unknown key inside a tagged table: suggest from that kind's keys.
    (
        "email-typo",
        MINIMAL + '[[alerts.receivers]]\nkind = "email"\nname = "m"\nhots = "smtp"\n'
        'from = "a@b.c"\nto = ["x@y.z"]\n',
        "alerts.receivers[0].hots",
        ['[[alerts.receivers]] (kind = "email")', "did you mean 'host'?"],
    ),
    # Too wide a probe range would open thousands of sockets per member host.
    (
        "probe-range-too-wide",
        MINIMAL + '[clusters.jmx.clients]\nprobe_ports = "9400-19400"\n',
        "clusters[0].jmx.clients.probe_ports",
        ["spans 10001 ports", "at most 1000"],
    ),
    # Node ids are integers.
    (
        "broker-map-key",
        MINIMAL + '[clusters.jmx.brokers]\none = "h:9999"\n',
        "clusters[0].jmx.brokers.one",
        ["key 'one' must be a whole number"],
    ),
    # No cluster at all: nothing to monitor.
    (
        "no-clusters",
        '[service]\nlog_level = "info"\n',
        "clusters",
        ["missing required key 'clusters'", "[[clusters]]"],
    ),
]


@pytest.mark.parametrize(
    ("text", "key", "fragments"), [c[1:] for c in BROKEN], ids=[c[0] for c in BROKEN]
)
def test_broken_file_names_file_key_and_fix(
    tmp_path: Path, text: str | None, key: str, fragments: list[str]
) -> None:
    path = tmp_path / "k.toml" if text is None else write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path, env={})
    message = str(info.value)
    assert str(path) in message
    assert "Fix:" in message
    if key:
        assert f": {key}: " in message
    for fragment in fragments:
        assert fragment in message, message
    assert "Traceback" not in message


def test_broken_files_give_clearly_different_messages(tmp_path: Path) -> None:
    # Issue 6's bar is five kinds of broken file with five different messages; every kind
    # in the table above must be told apart once the file name is taken out.
    seen: dict[str, str] = {}
    for case_id, text, _, _ in BROKEN:
        directory = tmp_path / case_id
        directory.mkdir()
        path = directory / "k.toml" if text is None else write(directory, text)
        with pytest.raises(ConfigError) as info:
            load_config(path, env={})
        seen[case_id] = str(info.value).replace(str(path), "FILE")
    assert len(set(seen.values())) == len(seen) >= 5


def test_several_problems_are_listed_together(tmp_path: Path) -> None:
    # Fixing one error per run is slow: report them all, and do not also report the key that
    # a typo's suggestion already names as missing.
    path = write(tmp_path, '[[clusters]]\nname = "a"\nbootstrp = "k:1"\nclient_interval = "x"\n')
    message = error_of(path, {})
    assert message.startswith(f"{path}: 2 problems:")
    assert "bootstrp" in message and "client_interval" in message
    assert "missing required key 'bootstrap'" not in message


def test_syntax_error_never_echoes_a_secret_line(tmp_path: Path) -> None:
    # An unquoted password is a syntax error; the excerpt must not print it to the journal.
    path = write(tmp_path, MINIMAL + "[clusters.jmx]\nusername = 'u'\npassword = hunter2\n")
    message = error_of(path, {})
    assert "line 6" in message and "hunter2" not in message


# --------------------------------------------------------------------------- environment


ENV_CASES: list[tuple[str, dict[str, str], Callable[[Config], Any], Any]] = [
    # The service's listen address, e.g. 0.0.0.0 in a container.
    (
        "listen",
        {"KAFKASCOPE_SERVICE__LISTEN": "0.0.0.0:9000"},
        lambda c: c.service.listen,
        "0.0.0.0:9000",
    ),
    # The data directory, e.g. a mounted volume.
    (
        "data-dir",
        {"KAFKASCOPE_SERVICE__DATA_DIR": "/var/lib/ks"},
        lambda c: c.service.data_dir,
        Path("/var/lib/ks"),
    ),
    # Log level, case-insensitive.
    (
        "log-level",
        {"KAFKASCOPE_SERVICE__LOG_LEVEL": "DEBUG"},
        lambda c: c.service.log_level,
        "debug",
    ),
    # A cluster's bootstrap, addressed by the cluster's name.
    (
        "bootstrap",
        {"KAFKASCOPE_CLUSTERS__PROD__BOOTSTRAP": "x:1,y:2"},
        lambda c: c.cluster("prod").bootstrap,
        "x:1,y:2",
    ),
    # JMX credentials replace the file's (username and password together).
    (
        "jmx-credentials",
        {
            "KAFKASCOPE_CLUSTERS__PROD__JMX__USERNAME": "env-user",
            "KAFKASCOPE_CLUSTERS__PROD__JMX__PASSWORD": "env-pw",
        },
        lambda c: (c.cluster("prod").jmx.username, revealed(c.cluster("prod").jmx.password)),
        ("env-user", "env-pw"),
    ),
    # A secret file given by env replaces the file's inline password (no "both set" error).
    (
        "jmx-password-file",
        {"KAFKASCOPE_CLUSTERS__PROD__JMX__PASSWORD_FILE": "{pwfile}"},
        lambda c: revealed(c.cluster("prod").jmx.password),
        "from-file",
    ),
    # A librdkafka property: '_' stands for '.'.
    (
        "client-property",
        {"KAFKASCOPE_CLUSTERS__PROD__CLIENT_PROPERTIES__SASL_PASSWORD": "p"},
        lambda c: c.cluster("prod").librdkafka_config()["sasl.password"],
        "p",
    ),
    # PROPERTY_file from the environment: "_FILE" is the suffix, not a dotted ".file".
    (
        "client-property-file",
        {"KAFKASCOPE_CLUSTERS__PROD__CLIENT_PROPERTIES__SASL_PASSWORD_FILE": "{pwfile}"},
        lambda c: c.cluster("prod").librdkafka_config()["sasl.password"],
        "from-file",
    ),
    # Lists are comma-separated.
    (
        "token-list",
        {"KAFKASCOPE_SERVICE__ADMIN_TOKENS": "a, b"},
        lambda c: [t.reveal() for t in c.service.admin_tokens],
        ["a", "b"],
    ),
    # A new cluster appears when its bootstrap is set.
    (
        "new-cluster",
        {"KAFKASCOPE_CLUSTERS__EXTRA__BOOTSTRAP": "e:9092"},
        lambda c: [x.name for x in c.clusters],
        ["prod", "staging", "extra"],
    ),
    # Receivers by name (oncall-mail → ONCALL_MAIL).
    (
        "receiver-password",
        {"KAFKASCOPE_ALERTS__RECEIVERS__ONCALL_MAIL__PASSWORD": "smtp"},
        lambda c: revealed(getattr(c.alerts.receivers[2], "password", None)),
        "smtp",
    ),
    # Rule overrides by rule name, durations parsed.
    (
        "rule-override",
        {"KAFKASCOPE_ALERTS__RULES__BROKER_DOWN__FOR": "3m"},
        lambda c: c.alerts.rules["broker_down"].for_,
        180.0,
    ),
    # Variables without '__' belong to other tools (the tests' sandbox) and are ignored.
    ("not-an-override", {"KAFKASCOPE_TEST_SANDBOX": "/x"}, lambda c: c.env_overrides, ()),
]


@pytest.mark.parametrize(
    ("env", "read", "expected"), [c[1:] for c in ENV_CASES], ids=[c[0] for c in ENV_CASES]
)
def test_environment_overrides_win_over_the_file(
    tmp_path: Path, env: dict[str, str], read: Callable[[Config], Any], expected: Any
) -> None:
    (tmp_path / "pw").write_text("from-file\n")
    env = {k: v.replace("{pwfile}", str(tmp_path / "pw")) for k, v in env.items()}
    config = load_config(EXAMPLE, env=env)
    assert read(config) == expected
    assert set(config.env_overrides) == {k for k in env if "__" in k}


ENV_ERRORS: list[tuple[str, dict[str, str], list[str]]] = [
    # A typo in a variable is as wrong as one in the file.
    (
        "unknown-key",
        {"KAFKASCOPE_SERVICE__LISTN": "x"},
        ["KAFKASCOPE_SERVICE__LISTN", "did you mean KAFKASCOPE_SERVICE__LISTEN?"],
    ),
    # A misspelt cluster name would otherwise create nothing and change nothing.
    (
        "unknown-cluster",
        {"KAFKASCOPE_CLUSTERS__PRD__JMX__USERNAME": "x"},
        ["did you mean KAFKASCOPE_CLUSTERS__PROD__JMX__USERNAME?", "__BOOTSTRAP to add"],
    ),
    # A bad value from the environment names the variable, not the file.
    (
        "bad-value",
        {"KAFKASCOPE_SERVICE__LISTEN": "nope"},
        ["environment variable KAFKASCOPE_SERVICE__LISTEN: service.listen: 'nope' has no port"],
    ),
    # A table cannot be set to a value.
    ("table", {"KAFKASCOPE_SERVICE__RETENTION": "1"}, ["is a table, not a value"]),
]


@pytest.mark.parametrize(
    ("env", "fragments"), [c[1:] for c in ENV_ERRORS], ids=[c[0] for c in ENV_ERRORS]
)
def test_bad_environment_overrides_name_the_variable(
    env: dict[str, str], fragments: list[str]
) -> None:
    message = error_of(EXAMPLE, env)
    for fragment in fragments:
        assert fragment in message, message
    assert "Fix:" in message


def test_config_file_from_environment(tmp_path: Path) -> None:
    # KAFKASCOPE_CONFIG names the file when the caller gives none.
    path = write(tmp_path, MINIMAL)
    assert load_config(None, env={"KAFKASCOPE_CONFIG": str(path)}).clusters[0].name == "prod"


# --------------------------------------------------------------------------- secrets

SECRETS = [
    "inline-pw-123",
    "env-pw-456",
    "file-pw-789",
    "tok-aaa",
    "tok-bbb",
    "hdr-ccc",
    "sasl-ddd",
    "slack-eee",
    "client-fff",
]


@pytest.fixture
def secret_config(tmp_path: Path) -> Iterator[tuple[Config, Path]]:
    (tmp_path / "smtp.pw").write_text("file-pw-789\n")
    (tmp_path / "tokens").write_text("# admin tokens\ntok-aaa\ntok-bbb\n")
    path = write(
        tmp_path,
        '[service]\nadmin_tokens_file = "tokens"\n'
        '[[clusters]]\nname = "prod"\nbootstrap = "k:9092"\n'
        '[clusters.client_properties]\n"sasl.password" = "sasl-ddd"\n"sasl.username" = "u"\n'
        '[clusters.jmx]\nusername = "u"\npassword = "inline-pw-123"\n'
        '[clusters.jmx.clients]\nusername = "c"\npassword = "env:CLIENT_PW"\n'
        '[[alerts.receivers]]\nkind = "webhook"\nname = "w"\nurl = "https://x/y"\n'
        'headers = { Authorization = "hdr-ccc" }\n'
        '[[alerts.receivers]]\nkind = "slack"\nname = "s"\nwebhook_url = "env:SLACK"\n'
        '[[alerts.receivers]]\nkind = "email"\nname = "m"\nhost = "smtp"\nusername = "u"\n'
        'password_file = "smtp.pw"\nfrom = "a@b.c"\nto = ["x@y.z"]\n',
    )
    env = {
        "CLIENT_PW": "client-fff",
        "SLACK": "https://hooks.slack.com/slack-eee",
        "KAFKASCOPE_CLUSTERS__PROD__JMX__PASSWORD": "env-pw-456",
    }
    yield load_config(path, env=env), path


@pytest.mark.parametrize(
    "render",
    [
        repr,  # what a debugger or a careless log line shows
        str,
        lambda c: str(c.model_dump()),  # what an API might return
        lambda c: c.model_dump_json(),
        lambda c: json.dumps(c.model_dump(mode="json")),
        summarize,  # what check-config prints
        lambda c: f"{c.cluster('prod').jmx.password} {c.service.admin_tokens}",  # f-strings
    ],
    ids=["repr", "str", "model_dump", "model_dump_json", "json-mode", "summary", "format"],
)
def test_secrets_never_shown(
    secret_config: tuple[Config, Path], render: Callable[[Config], str]
) -> None:
    config, _ = secret_config
    text = render(config)
    for secret in SECRETS:
        assert secret not in text
    assert "***" in text


def test_secrets_are_revealed_only_on_request(secret_config: tuple[Config, Path]) -> None:
    # Each way of giving a secret lands on the right value, and its source is recorded.
    config, path = secret_config
    prod = config.cluster("prod")
    assert prod.jmx.password is not None and prod.jmx.password.reveal() == "env-pw-456"
    assert revealed(prod.jmx.client_credentials()[1]) == "client-fff"
    assert [t.reveal() for t in config.service.admin_tokens] == ["tok-aaa", "tok-bbb"]
    assert config.service.admin_tokens[0].matches("tok-aaa")
    mail = config.alerts.receivers[2]
    assert isinstance(mail, EmailReceiver) and mail.password is not None
    assert mail.password.reveal() == "file-pw-789"
    assert mail.password.source == f"file:{path.parent / 'smtp.pw'}"
    assert prod.librdkafka_config()["sasl.password"] == "sasl-ddd"
    assert prod.client_properties["sasl.username"] == "u"  # not a secret: shown


def test_secret_is_not_in_a_validation_error(tmp_path: Path) -> None:
    # A Slack URL that is not https is an error; the message must not quote it.
    path = write(
        tmp_path,
        MINIMAL + '[[alerts.receivers]]\nkind = "slack"\nname = "s"\n'
        'webhook_url = "http://hooks.example.com/TOPSECRET"\n',
    )
    message = error_of(path, {})
    assert "TOPSECRET" not in message and "alerts.receivers[0].webhook_url" in message


def test_secret_repr_and_equality() -> None:
    s = Secret("x")
    assert (repr(s), str(s), f"{s}") == ("Secret('***')", "***", "***")
    assert s == Secret("x") and s != Secret("y") and s.reveal() == "x"


# --------------------------------------------------------------------------- value types


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30.0),  # the common spelling
        ("5m", 300.0),
        ("1h", 3600.0),
        ("7d", 604800.0),  # retention and expiry are in days
        ("1w", 604800.0),
        ("1h30m", 5400.0),  # compounds read as people write them
        ("250ms", 0.25),  # sub-second timeouts
        ("1.5s", 1.5),
        (" 10s ", 10.0),  # stray spaces are harmless
        ("10", 10.0),  # a bare number in a string is seconds
        (45, 45.0),  # so is a TOML number
        (0.5, 0.5),
        ("2H", 7200.0),  # units are case-insensitive
    ],
)
def test_durations_parse(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "text",
    [
        "10 sec",  # not a unit we know
        "5mins",
        "m5",  # number after the unit
        "",  # empty
        "-5s",  # negative durations make no sense
        -1,
        True,  # TOML true is not 1 second
        "1h 30",  # a trailing number without unit is ambiguous
    ],
)
def test_bad_durations_are_rejected(text: object) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.5, "500ms"), (90, "90s"), (300, "5m"), (86400, "24h"), (604800, "7d")],
)
def test_durations_format_back(seconds: float, text: str) -> None:
    # The reference and check-config print defaults the way people write them.
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:8321", ("127.0.0.1", 8321)),
        ("kafka1.example.com:9092", ("kafka1.example.com", 9092)),
        ("[::1]:9999", ("::1", 9999)),  # IPv6 in brackets
    ],
)
def test_host_port_splits(text: str, expected: tuple[str, int]) -> None:
    assert split_host_port(text) == expected


@pytest.mark.parametrize(
    ("text", "why"),
    [("localhost", "no port"), ("h:0", "outside"), ("h:70000", "outside"), ("a b:1", "HOST:PORT")],
)
def test_bad_host_ports_say_why(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        split_host_port(text)


# --------------------------------------------------------------------------- [clusters.jmx] source

JMX_SOURCE_FIX = "Fix: use one of 'jmx', 'jolokia' or 'prometheus'."


@pytest.mark.parametrize(
    ("table", "env", "expected"),
    [
        ("", {}, "jmx"),
        ('source = "jmx"\n', {}, "jmx"),
        ('source = "jolokia"\n', {}, "jolokia"),
        ('source = "prometheus"\n', {}, "prometheus"),
        ('source = "Jolokia"\n', {}, "jolokia"),
        ("", {"KAFKASCOPE_CLUSTERS__PROD__JMX__SOURCE": "prometheus"}, "prometheus"),
        ('source = "jolokia"\n', {"KAFKASCOPE_CLUSTERS__PROD__JMX__SOURCE": "jmx"}, "jmx"),
    ],
)
def test_jmx_source_values(tmp_path: Path, table: str, env: dict[str, str], expected: str) -> None:
    path = write(tmp_path, MINIMAL + "[clusters.jmx]\nbroker_port = 8778\n" + table)
    assert load_config(path, env=env).cluster("prod").jmx.source == expected


@pytest.mark.parametrize(
    ("table", "env", "where", "what"),
    [
        ('source = "jolokai"\n', {}, "k.toml:6: ", "'jolokai' is not allowed."),
        ('source = "http"\n', {}, "k.toml:6: ", "'http' is not allowed."),
        ("source = 1\n", {}, "k.toml:6: ", "1 is not allowed."),
        (
            "",
            {"KAFKASCOPE_CLUSTERS__PROD__JMX__SOURCE": "rmi"},
            "environment variable KAFKASCOPE_CLUSTERS__PROD__JMX__SOURCE: ",
            "'rmi' is not allowed.",
        ),
    ],
)
def test_bad_jmx_source_names_key_and_fix(
    tmp_path: Path, table: str, env: dict[str, str], where: str, what: str
) -> None:
    path = write(tmp_path, MINIMAL + "[clusters.jmx]\nbroker_port = 8778\n" + table)
    message = error_of(path, env)
    assert where in message
    assert f"clusters[0].jmx.source: {what} {JMX_SOURCE_FIX}" in message


def test_jmx_source_is_documented() -> None:
    section = _section(render_reference(), "[clusters.jmx]")
    row = next(line for line in section.splitlines() if line.startswith("| `source` |"))
    for part in ("`jmx`", "`jolokia`", "`prometheus`", "KAFKASCOPE_CLUSTERS__<NAME>__JMX__SOURCE"):
        assert part in row


# --------------------------------------------------------------------------- the reference


def _tables(
    model: type[BaseModel], heading: str = "Top level", path: str = ""
) -> Iterator[tuple[str, type[BaseModel]]]:
    """Walk the models independently of the renderer: (section heading, model)."""
    yield heading, model
    for name, info in model.model_fields.items():
        key = info.alias or name
        sub = f"{path}.{key}" if path else key
        tp = info.annotation
        while get_origin(tp) is not None and type(None) in get_args(tp):
            tp = next(a for a in get_args(tp) if a is not type(None))
        origin, args = get_origin(tp), get_args(tp)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            yield from _tables(tp, f"[{sub}]", sub)
        elif origin is list and args:
            item = args[0]
            members = get_args(get_args(item)[0]) if get_args(item) else ()
            if isinstance(item, type) and issubclass(item, BaseModel):
                yield from _tables(item, f"[[{sub}]]", sub)
            for m in members:  # the receivers' tagged union
                if isinstance(m, type) and issubclass(m, BaseModel):
                    tag = get_args(m.model_fields["kind"].annotation)[0]
                    yield from _tables(m, f'[[{sub}]] (kind = "{tag}")', sub)
        elif origin is dict and isinstance(args[1], type) and issubclass(args[1], BaseModel):
            yield from _tables(args[1], f"[{sub}.<name>]", f"{sub}.<name>")


def _section(reference: str, heading: str) -> str:
    start = reference.index(f"\n## {heading}\n")
    end = reference.find("\n## ", start + 1)
    return reference[start : end if end != -1 else None]


def test_every_setting_is_documented() -> None:
    # Walk every model: each key must have a description and a row in its table's section
    # of the reference. Adding a setting without documenting it fails here.
    reference = render_reference()
    tables = list(_tables(Config))
    assert len(tables) >= 15
    for heading, model in tables:
        section = _section(reference, heading)
        for name, info in model.model_fields.items():
            key = info.alias or name
            assert info.description, f"{heading} {key} has no description"
            assert f"\n| `{key}` |" in section, f"{key} missing under {heading}"
    for rule in RULE_DESCRIPTIONS:
        assert f"| `{rule}` |" in reference


def test_reference_doc_is_up_to_date() -> None:
    # docs/config-reference.md is generated; regenerate it with
    # `.venv/bin/python -m kafkascope.config > docs/config-reference.md`.
    assert REFERENCE.read_text() == render_reference()


# --------------------------------------------------------------------------- the sandbox


def test_sandbox_written_config_loads(tmp_path: Path) -> None:
    # write_service_files is pure file writing: a fake state gives the real file, which must
    # load with the sandbox cluster, its JMX map, file_sd and a lively client interval.
    def proc(name: str, role: str, jmx: str, **kw: Any) -> Proc:
        return Proc(name=name, role=role, pid=1, jmx=jmx, argv=[], log="", **kw)

    state = SandboxState(
        dir=str(tmp_path / "sand box"),  # a space in the path must survive quoting
        marker="m",
        cluster_id="c",
        bootstrap="127.0.0.1:39092,127.0.0.1:39093",
        kafka_version="4.3.1",
        lib_dir="/lib",
        processes=[
            proc("node-1", "broker+controller", "127.0.0.1:40001", node_id=1),
            proc("node-2", "broker+controller", "127.0.0.1:40002", node_id=2),
            proc("orders-consumer-1", "consumer", "127.0.0.1:40010", group="orders"),
        ],
    )
    Path(state.dir).mkdir()
    write_service_files(state)
    config = load_config(Path(state.dir) / "kafkascope.toml", env={})
    (cluster,) = config.clusters
    assert cluster.name == "sandbox"
    assert cluster.bootstrap == state.bootstrap
    assert cluster.jmx.brokers == {1: "127.0.0.1:40001", 2: "127.0.0.1:40002"}
    assert cluster.jmx.clients.file_sd == Path(state.dir) / "targets.json"
    assert cluster.client_interval == 2.0
    assert config.service.data_dir == Path(state.dir) / "data"
    assert json.loads((Path(state.dir) / "targets.json").read_text())[0]["targets"] == [
        "127.0.0.1:40010"
    ]


# --------------------------------------------------------------------------- the command


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKASCOPE_")}
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_check_config_good_file_exits_0() -> None:
    # A good file: exit 0, a summary, secrets as *** only.
    result = _cli("check-config", str(EXAMPLE))
    assert result.returncode == 0, result.stderr
    assert f"{EXAMPLE}: OK" in result.stdout
    assert "clusters (2):" in result.stdout and "receivers (3):" in result.stdout
    assert "example-jmx-password" not in result.stdout and "***" in result.stdout


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        # A typo: the message is the whole output, with the fix.
        ('[[clusters]]\nname = "a"\nbootstrp = "k:1"\n', "did you mean 'bootstrap'?"),
        # Not even TOML.
        ("[[clusters]\n", "TOML syntax error"),
        # No such file.
        (None, "does not exist"),
    ],
    ids=["unknown-key", "syntax", "missing-file"],
)
def test_check_config_broken_file_exits_2_without_traceback(
    tmp_path: Path, text: str | None, fragment: str
) -> None:
    path = tmp_path / "k.toml" if text is None else write(tmp_path, text)
    result = _cli("check-config", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith("kafkascope: error: ")
    assert fragment in result.stderr and str(path) in result.stderr
    assert "Traceback" not in result.stderr + result.stdout

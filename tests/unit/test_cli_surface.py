"""The CLI's surface (issue 16, "One CLI" and "Config"): --version, -c and KAFKASCOPE_CONFIG,
--help of every command (choices listed, no sentence cut), --fail-on parsing, colour only
on a terminal, and check-config's secret prefixes, rule metric names and open-listen
warning. Commands run through Typer's CliRunner (no process needed: nothing here talks to
Kafka) or, for the terminal checks, as a real process on a pseudo-terminal."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from kafkascope import __version__
from kafkascope.alerts.engine import AlertEngine
from kafkascope.cli.lag import render_table
from kafkascope.cli.main import app
from kafkascope.cli.options import parse_fail_on
from kafkascope.cli.style import use_colour
from kafkascope.config import load_config
from kafkascope.errors import ConfigError
from kafkascope.store import alert_state
from kafkascope.store.db import Database
from tests.unit.test_alert_engine import RULES, T0, F

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """Run the real command tree in-process; exit code, stdout, stderr. A KafkascopeError
    surfaces as the exception (the entry point prints it), so it is returned as code 2."""
    r = runner.invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1", **(env or {})})
    if isinstance(r.exception, ConfigError):
        return 2, r.stdout, str(r.exception)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return r.exit_code, r.stdout, r.stderr


def commands(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command path of the tree, groups included (Typer vendors its own click, so
    a group is whatever has sub-commands)."""
    yield path
    for name, cmd in sorted(group.commands.items()):
        if hasattr(cmd, "commands"):
            yield from commands(cmd, (*path, name))
        else:
            yield (*path, name)


def test_version() -> None:
    assert invoke("--version")[:2] == (0, f"kafkascope {__version__}\n")


def ctx(cmd: Any) -> Any:
    return cmd.make_context(cmd.name, [], resilient_parsing=True)


def test_every_help_is_whole_and_lists_the_choices_of_enumerated_options() -> None:
    root: Any = typer.main.get_command(app)
    paths = list(commands(root))
    assert ("brokers",) in paths and ("silence", "add") in paths and ("ack",) in paths
    for path in paths:
        code, out, _ = invoke(*path, "--help")
        assert code == 0, path
        # Never cut: click shortens a command's one-line help with "..." when it is long.
        body = "\n".join(line for line in out.splitlines() if "Usage:" not in line)
        assert "..." not in body.replace("STATUS...", ""), (path, out)
        cmd = root
        for name in path:
            cmd = cmd.commands[name]
        doc = " ".join((cmd.help or "").split())
        assert doc, f"{path} has no help"
        # The full docstring is shown, its sentences whole (reflowed, never truncated).
        assert doc.rstrip().endswith((".", ")", ":")), (path, doc)
        assert " ".join(doc.split()[:6]) in " ".join(out.replace("│", " ").split()), path
        for param in cmd.params:
            # An enumerated option lists its choices (an Enum's values, or --fail-on's).
            choices = [c.value for c in param.shell_complete(ctx(cmd), "")]
            shown = " ".join(out.replace("│", " ").split())
            if param.name in ("state", "fail_on"):
                assert choices, (path, param.name)
            for choice in choices:
                assert choice in shown, (path, param.name, choice)


def test_enumerated_options_complete_their_choices() -> None:
    # As the shell asks: click's completion of each parameter. --state is an Enum; --fail-on
    # completes the last name of a comma-separated list.
    root: Any = typer.main.get_command(app)

    def complete(command: str, name: str, incomplete: str) -> list[str]:
        cmd = root.commands[command]
        param = next(p for p in cmd.params if p.name == name)
        ctx = cmd.make_context(command, [], resilient_parsing=True)
        return [c.value for c in param.shell_complete(ctx, incomplete)]

    assert complete("alerts", "state", "") == ["pending", "firing", "resolved"]
    assert complete("alerts", "state", "f") == ["firing"]
    assert complete("groups", "fail_on", "WARN,S") == ["WARN,STOP", "WARN,STALL"]
    assert complete("lag", "fail_on", "R") == ["REWIND"]
    assert "DEAD" in complete("clients", "fail_on", "")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("WARN", {"WARN"}),  # one name
        ("warn, err", {"WARN", "ERR"}),  # case and spaces do not matter
        ("ERR,ERR", {"ERR"}),  # a repeat is harmless
    ],
)
def test_fail_on_parses(text: str, expected: set[str]) -> None:
    assert parse_fail_on(text, ("OK", "WARN", "ERR")) == expected


@pytest.mark.parametrize("text", ["BROKEN", "OK,BROKEN", ","])
def test_fail_on_refuses_unknown_names_listing_the_valid_ones(text: str) -> None:
    with pytest.raises(ConfigError, match=r"Fix: use one or more of OK, WARN, ERR"):
        parse_fail_on(text, ("OK", "WARN", "ERR"))


@pytest.mark.parametrize(
    ("env", "tty", "colour"),
    [
        ({}, True, True),  # a terminal: colour
        ({}, False, False),  # a pipe or file: never
        ({"NO_COLOR": "1"}, True, False),  # NO_COLOR set: never
        ({"NO_COLOR": ""}, True, True),  # NO_COLOR empty counts as unset (no-color.org)
        ({"TERM": "dumb"}, True, False),  # a dumb terminal cannot show it
    ],
)
def test_colour_only_on_a_terminal(env: dict[str, str], tty: bool, colour: bool) -> None:
    class Stream:
        def isatty(self) -> bool:
            return tty

    assert use_colour(Stream(), env) is colour  # type: ignore[arg-type]


def test_status_cells_are_coloured_without_breaking_the_columns() -> None:
    rows = [("a", "OK", 1), ("bb", "ERR", 22)]
    plain = render_table(("G", "STATUS", "N"), rows, status_column=1, colour=False)
    coloured = render_table(("G", "STATUS", "N"), rows, status_column=1, colour=True)
    assert "\x1b[" not in plain
    assert re.sub(r"\x1b\[\d+m", "", coloured) == plain
    assert "\x1b[32mOK\x1b[0m" in coloured and "\x1b[31mERR\x1b[0m" in coloured


def on_pty(args: list[str], env: dict[str, str]) -> str:
    """Run ``kafkascope ARGS`` with stdout on a pseudo-terminal; what it wrote."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "kafkascope.cli.main", *args],
        stdout=follower,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "TERM": "xterm", **env},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:  # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(60)
    os.close(leader)
    return b"".join(chunks).decode()


def test_real_cli_colours_on_a_terminal_only_and_respects_no_color(tmp_path: Path) -> None:
    # 'alerts' reading a stored state needs no service and no Kafka: a firing alert in a
    # real store gives a FIRING cell to colour.
    cfg = tmp_path / "k.toml"
    cfg.write_text(
        f'[service]\ndata_dir = "{tmp_path}"\nlisten = "127.0.0.1:9"\n'
        '[[clusters]]\nname = "p"\nbootstrap = "127.0.0.1:9"\n'
    )
    engine = AlertEngine(RULES)
    engine.step([F["b1"]], T0)
    state = engine.export_state()
    db = Database(tmp_path / "kafkascope.db")
    try:
        db.write(lambda conn: alert_state.save_engine_state(conn, state, T0))
    finally:
        db.close()
    args = ["alerts", "-c", str(cfg)]
    assert "\x1b[31mFIRING" in on_pty(args, {})
    assert "\x1b[" not in on_pty(args, {"NO_COLOR": "1"})
    # Not a terminal (CliRunner's captured stdout, as a pipe), NO_COLOR unset: no colour.
    r = runner.invoke(app, args, env={"TERM": "xterm", "NO_COLOR": ""})
    assert r.exit_code == 0 and "FIRING" in r.stdout and "\x1b[" not in r.stdout


# ------------------------------------------------------------------------------- Config


def write(tmp_path: Path, password: str, extra: str = "", listen: str = "127.0.0.1:8321") -> Path:
    f = tmp_path / "k.toml"
    f.write_text(
        f'[service]\ndata_dir = "{tmp_path / "d"}"\nlisten = "{listen}"\n'
        '[[clusters]]\nname = "p"\nbootstrap = "127.0.0.1:9"\n'
        '[clusters.client_properties]\n"security.protocol" = "SASL_SSL"\n'
        '"sasl.mechanism" = "PLAIN"\n"sasl.username" = "u"\n'
        f'"sasl.password" = "{password}"\n'
        '[clusters.jmx]\nusername = "u"\n'
        f'password = "{password}"\n{extra}'
    )
    return f


def test_file_prefix_reads_a_secret_wherever_env_works(tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("s3cret\n")
    cfg = load_config(write(tmp_path, "file:pw"), env={})  # relative to the config's dir
    c = cfg.clusters[0]
    assert c.jmx.password is not None and c.jmx.password.reveal() == "s3cret"
    assert c.librdkafka_config()["sasl.password"] == "s3cret"
    assert c.jmx.password.source == f"file:{tmp_path / 'pw'}"


@pytest.mark.parametrize(
    ("value", "prefix"),
    [("vault:secret/kafka", "vault"), ("fle:/run/pw", "fle"), ("ENV:X", "ENV")],
)
def test_an_unsupported_prefix_is_an_error_naming_the_supported_ones(
    tmp_path: Path, value: str, prefix: str
) -> None:
    with pytest.raises(ConfigError) as e:
        load_config(write(tmp_path, value), env={})
    assert f"'{prefix}:' is not a supported prefix (supported: env:NAME, file:PATH)" in str(e.value)
    assert value not in str(e.value).replace(f"'{prefix}:'", "")  # never echoed whole


def test_a_missing_secret_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"file /nonexistent/pw does not exist"):
        load_config(write(tmp_path, "file:/nonexistent/pw"), env={})


def test_a_url_or_a_password_with_a_colon_is_still_a_literal(tmp_path: Path) -> None:
    # "https://" is a URL, not a prefix; "pa ss:" has a space before the colon.
    cfg = load_config(write(tmp_path, "pa ss:word"), env={})
    assert cfg.clusters[0].jmx.password is not None
    assert cfg.clusters[0].jmx.password.reveal() == "pa ss:word"


def test_the_example_config_uses_only_supported_prefixes() -> None:
    example = Path(__file__).parents[2] / "docs" / "kafkascope.example.toml"
    prefixes = set(re.findall(r'= "([a-z]+):[^/]', example.read_text()))
    assert prefixes <= {"env", "file"}, prefixes


RULE = '[[alerts.custom_rules]]\nname = "r"\nmetric = "{metric}"\ncomparator = ">"\nthreshold = 1\n'


def test_check_config_refuses_a_rule_on_an_unknown_metric_suggesting_near_names(
    tmp_path: Path,
) -> None:
    f = write(tmp_path, "x", RULE.format(metric="kafka_broker_partition"))
    code, _, err = invoke("check-config", str(f))
    assert code == 2
    assert "metric 'kafka_broker_partition' does not exist" in err
    assert "did you mean kafka_broker_partitions" in err
    ok = write(tmp_path, "x", RULE.format(metric="kafka_broker_partitions"))
    assert invoke("check-config", "-c", str(ok))[0] == 0


@pytest.mark.parametrize(
    ("listen", "tokens", "warned"),
    [
        ("0.0.0.0:8321", "", True),  # every interface, no token: warned
        ("127.0.0.1:8321", "", False),  # loopback: fine
        ("0.0.0.0:8321", 'read_tokens = ["r"]\n', False),  # tokens: fine
    ],
)
def test_check_config_warns_about_an_open_listen_address(
    tmp_path: Path, listen: str, tokens: str, warned: bool
) -> None:
    f = write(tmp_path, "x", listen=listen)
    if tokens:
        f.write_text(f.read_text().replace("[service]\n", f"[service]\n{tokens}"))
    code, _, err = invoke("check-config", env={"KAFKASCOPE_CONFIG": str(f)})
    assert code == 0, err
    assert ("is not a loopback address and no token is set" in err) is warned


def test_every_command_that_takes_a_config_takes_dash_c_and_kafkascope_config() -> None:
    root: Any = typer.main.get_command(app)
    seen = []
    for path in commands(root):
        cmd = root
        for name in path:
            cmd = cmd.commands[name]
        for p in cmd.params:
            if p.name == "config":
                seen.append(path)
                assert "-c" in p.opts and "--config" in p.opts, path
                # The env var itself, or (commands that also take --bootstrap, which must
                # win over the environment) read by load_config and said in the help.
                assert p.envvar == "KAFKASCOPE_CONFIG" or "KAFKASCOPE_CONFIG" in p.help, path
    for path in [("serve",), ("test-notify",), ("check-config",), ("groups",), ("clients",)]:
        assert path in seen


@pytest.mark.parametrize(
    "args",
    [("serve",), ("test-notify", "all"), ("check-config",), ("groups",), ("alerts",)],
)
def test_kafkascope_config_names_the_file(tmp_path: Path, args: tuple[str, ...]) -> None:
    missing = tmp_path / "nowhere.toml"
    code, _, err = invoke(*args, env={"KAFKASCOPE_CONFIG": str(missing)})
    assert code == 2 and f"config file {missing} does not exist" in err, err


class Stream:
    """A stderr stand-in that says whether it is a terminal and keeps what was written."""

    def __init__(self, tty: bool) -> None:
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, s: str) -> int:
        self.text += s
        return len(s)

    def flush(self) -> None:
        pass


@pytest.mark.parametrize(
    ("tty", "expected"),
    [
        # A terminal: one line, rewritten in place (\r + erase line), cleared at the end so
        # the result starts clean.
        (
            True,
            "\r\x1b[Ksandbox: [  1.0s] starting 3 nodes"
            "\r\x1b[Ksandbox: [  2.0s] waiting for every broker to register\r\x1b[K",
        ),
        # A pipe or log: one plain line per step, nothing to clear.
        (
            False,
            "sandbox: [  1.0s] starting 3 nodes\n"
            "sandbox: [  2.0s] waiting for every broker to register\n",
        ),
    ],
)
def test_sandbox_up_progress_is_a_status_line_on_a_terminal_only(
    tty: bool, expected: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kafkascope.sandbox.cli import Progress

    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("COLUMNS", "200")
    ticks = iter([0.0, 1.0, 2.0])
    stream = Stream(tty)
    show = Progress(stream, clock=lambda: next(ticks))  # type: ignore[arg-type]
    show("starting 3 nodes")
    show("waiting for every broker to register")
    show.done()
    assert stream.text == expected

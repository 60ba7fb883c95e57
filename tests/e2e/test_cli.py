"""The one CLI (issue 16) against a real ``kafkascope serve`` on the session sandbox: the
commands that act on the service (ack with a note, silences), the ones that ask it first
(groups, lag, clients, brokers, topics), --fail-on, -c and KAFKASCOPE_CONFIG. Every
command runs as a real process; one service serves the whole module's checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from kafkascope.cli.main import app
from kafkascope.errors import KafkascopeError
from kafkascope.sandbox import procs
from kafkascope.sandbox.state import SandboxState
from tests.e2e.conftest import ServiceProc, service_config
from tests.e2e.test_alerts import always_on_rule
from tests.support import wait_until


def proc(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``kafkascope ARGS`` as a process, with ``env`` added to this one's environment."""
    return subprocess.run(
        [sys.executable, "-m", "kafkascope.cli.main", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NO_COLOR": "1", **(env or {})},
    )


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


def cli(*args: str, env: dict[str, str] | None = None) -> Ran:
    """The same command tree in this process (Typer's CliRunner: no interpreter start per
    call); a KafkascopeError is exit 2 with its message on stderr, as the entry point does."""
    r = CliRunner().invoke(app, list(args), env={"NO_COLOR": "1", **(env or {})})
    if isinstance(r.exception, KafkascopeError):
        return Ran(2, r.stdout, f"kafkascope: error: {r.exception}")
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Ran(r.exit_code, r.stdout, r.stderr)


def firing(svc: ServiceProc, rule: str) -> list[dict[str, Any]]:
    return [a for a in svc.get("/api/v1/alerts?state=firing")["alerts"] if a["rule"] == rule]


def test_cli_acts_on_and_reads_from_the_running_service(
    make_service: Callable[..., ServiceProc],
) -> None:
    svc = make_service(extra=always_on_rule("cli_always"))
    c = ("-c", str(svc.config))
    wait_until(lambda: firing(svc, "cli_always"), 180, "the always-on rule to fire")
    alert = firing(svc, "cli_always")[0]

    # ack ID --note: the note is stored with the ack, returned by the API, shown by alerts.
    done = proc("ack", alert["id"], "--note", "rolling broker 1", "--by", "ops", *c)
    assert done.returncode == 0, done.stderr
    assert f"acknowledged {alert['id']} (cli_always) as ops: rolling broker 1" in done.stdout
    (stored,) = [a for a in firing(svc, "cli_always") if a["id"] == alert["id"]]
    assert (stored["acked_by"], stored["acked_note"]) == ("ops", "rolling broker 1")
    listed = cli("alerts", *c, "--state", "firing")
    assert "acked by ops: rolling broker 1" in listed.stdout, listed.stdout
    unknown = cli("ack", "no-such-alert", *c)
    assert unknown.returncode == 1 and "no alert 'no-such-alert'" in unknown.stderr

    # silence add | list | expire, with KAFKASCOPE_CONFIG instead of -c.
    env = {"KAFKASCOPE_CONFIG": str(svc.config)}
    added = cli("silence", "add", "-m", "rule=cli_always", "-d", "1h", "--json", env=env)
    assert added.returncode == 0, added.stderr
    sid = json.loads(added.stdout)["id"]
    table = cli("silence", "list", env=env)
    assert table.stdout.splitlines()[0].split()[:3] == ["ID", "STATE", "MATCHERS"]
    assert any(
        line.startswith(sid) and "rule=cli_always" in line for line in table.stdout.splitlines()
    )
    assert [
        s["id"] for s in json.loads(cli("silence", "list", "--json", env=env).stdout)["silences"]
    ] == [sid]
    assert cli("silence", "expire", sid, env=env).returncode == 0
    again = cli("silence", "expire", sid, env=env)
    assert again.returncode == 1 and f"no silence '{sid}'" in again.stderr
    bad = cli("silence", "add", "-m", "nonsense", env=env)
    assert bad.returncode == 2 and "--match 'nonsense' is not LABEL=VALUE" in bad.stderr

    # groups / lag / clients / brokers / topics ask the service first, and say so.
    wait_until(lambda: svc.get("/api/v1/clusters/sandbox")["updated"]["lag"], 60, "a lag report")
    groups = proc("groups", *c, "--json")
    assert groups.returncode == 0, groups.stderr
    assert f"from the service at {svc.url}" in groups.stderr
    rows = {g["group"]: g for g in json.loads(groups.stdout)["groups"]}
    assert rows["payments-auditor"]["members"] == 1
    # --fail-on: exit 1 naming the groups that match (every status matches; the table is
    # still printed); 0 when none does.
    hit = cli("groups", *c, "--fail-on", "ok,warn,err,stop,stall,rewind,notfound")
    assert hit.returncode == 1 and "--fail-on:" in hit.stderr, hit.stderr
    assert hit.stdout.splitlines()[0].split()[:2] == ["GROUP", "STATE"]
    # The demo's own group exists (never NOTFOUND) and does not rewind.
    assert cli("lag", "payments-auditor", *c, "--fail-on", "NOTFOUND,REWIND").returncode == 0
    typo = cli("groups", *c, "--fail-on", "OK,BROKEN")
    assert typo.returncode == 2
    assert "'BROKEN' is not a status. Fix: use one or more of NOTFOUND, OK, WARN" in typo.stderr

    lag = cli("lag", "payments-auditor", *c, "--json")
    assert lag.returncode == 0 and "from the service" in lag.stderr
    report = json.loads(lag.stdout)
    assert [p["partition"] for p in report["partitions"]] == [0, 1, 2]
    assert all(p["end_offset"] >= p["committed"] for p in report["partitions"])
    missing = cli("lag", "no-such-group-cli", *c)
    assert missing.returncode == 1 and "NOTFOUND" in missing.stderr

    clients = cli("clients", *c, "--fail-on", "UNKNOWN")
    assert "from the service" in clients.stderr, clients.stderr
    assert clients.stdout.splitlines()[0].split()[:2] == ["VERDICT", "KIND"]
    verdicts = {line.split()[0] for line in clients.stdout.splitlines()[1:] if line.strip()}
    assert clients.returncode == (1 if "UNKNOWN" in verdicts else 0)

    wait_until(
        lambda: svc.get("/api/v1/clusters/sandbox")["updated"]["brokers"], 60, "a broker report"
    )
    brokers = cli("brokers", *c)
    assert brokers.returncode == 0 and "from the service" in brokers.stderr
    assert [line.split()[0] for line in brokers.stdout.splitlines()] == ["ID", "1", "2", "3"]
    topics = json.loads(cli("topics", "--json", env=env).stdout)
    assert {"payments", "orders"} <= {t["name"] for t in topics["topics"]}


def test_with_no_service_groups_reads_the_cluster_and_says_so(
    sandbox: SandboxState, tmp_path: Path
) -> None:
    # A config whose service is not running: the command samples the cluster itself.
    port = procs.free_port()
    cfg = tmp_path / "kafkascope.toml"
    cfg.write_text(service_config(sandbox, tmp_path / "data", port))
    groups = cli("groups", "-c", str(cfg), "--sample", "0", "--json")
    assert groups.returncode == 0, groups.stderr
    url = f"http://127.0.0.1:{port}"
    assert f"no service answers at {url}; sampling the cluster directly" in groups.stderr
    assert "payments-auditor" in {g["group"] for g in json.loads(groups.stdout)["groups"]}


def test_clients_brokers_and_topics_read_the_cluster_directly_with_bootstrap(
    sandbox: SandboxState,
) -> None:
    # --bootstrap, like groups: no config and no service; the members come from the group
    # membership the brokers report (no JMX target is configured).
    clients = cli("clients", "--bootstrap", sandbox.bootstrap, "--sample", "0", "--json")
    assert clients.returncode == 0, clients.stderr
    assert "sampling cli clients for 0 s" in clients.stderr
    rows = json.loads(clients.stdout)["clients"]
    assert "payments-auditor" in {r["group"] for r in rows}
    brokers = cli("brokers", "--bootstrap", sandbox.bootstrap)
    assert brokers.returncode == 0, brokers.stderr
    assert [line.split()[:3] for line in brokers.stdout.splitlines()[1:]] == [
        [str(i), address, "UP"] for i, address in enumerate(sandbox.bootstrap.split(","), 1)
    ]
    topics = cli("topics", "--bootstrap", sandbox.bootstrap, "--json")
    by_name = {t["name"]: t for t in json.loads(topics.stdout)["topics"]}
    assert by_name["payments"]["partition_count"] == 3
    assert by_name["payments"]["replication_factor"] == 3

"""Test helpers for what ships for Prometheus and Grafana (contrib/prometheus,
contrib/grafana): reading the rules and the dashboards' queries, and running Debian's
Prometheus on loopback against a real ``kafkascope serve``."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from kafkascope.sandbox import procs
from tests.support import wait_until

CHECKOUT = Path(__file__).resolve().parents[1]
RULES = CHECKOUT / "contrib" / "prometheus" / "kafkascope-rules.yml"
RULES_TEST = CHECKOUT / "contrib" / "prometheus" / "kafkascope-rules.test.yml"
DASHBOARDS = sorted((CHECKOUT / "contrib" / "grafana").glob("*.json"))

_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def tool(name: str, package: str = "prometheus") -> str:
    """The path of one of Debian's Prometheus tools, or fail naming the fix."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing. Fix: make system-deps (apt-get install {package})")
    return path


def seconds(duration: str) -> float:
    """A Prometheus duration (``1m30s``, ``0s``, ``500ms``) in seconds."""
    parts = re.findall(r"(\d+)(ms|s|m|h|d)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"not a Prometheus duration: {duration!r}")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def alerting_rules(path: Path = RULES) -> list[dict[str, Any]]:
    """Every alerting rule of a rule file, in file order."""
    doc = yaml.safe_load(path.read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def dashboards() -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in DASHBOARDS]


def panels(dashboard: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel, rows' nested panels included."""
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", ())


def variables(dashboard: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {v["name"]: v for v in dashboard["templating"]["list"]}


#: What Grafana puts in place of its own variables when it runs a query: the rate interval
#: is at least four scrape intervals (the e2e scrapes every 2 s).
GRAFANA_BUILTINS = {"__rate_interval": "20s", "__interval": "5s", "__range": "5m"}


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """``expr`` with ``$name`` and ``${name}`` replaced as Grafana does before sending it;
    an unknown variable is an error (a panel naming a variable its dashboard lacks).
    ``$1`` and the like are label_replace's, not variables."""
    known = {**GRAFANA_BUILTINS, **values}

    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        if name not in known:
            raise KeyError(f"variable ${name} is not defined (in {expr!r})")
        return known[name]

    return re.sub(r"\$\{([A-Za-z_]\w*)\}|\$([A-Za-z_]\w*)", one, expr)


@dataclass
class Prometheus:
    """Debian's Prometheus on loopback with a generated config, in a directory of its own;
    :meth:`stop` kills the process it started, by pid."""

    directory: Path
    targets: list[str]
    rule_files: list[Path]
    #: Scrape and rule evaluation interval (the scrape's timeout too: a loaded 2-core
    #: machine can take more than a second to answer).
    interval: str = "2s"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": [str(p) for p in self.rule_files],
            "scrape_configs": [
                {
                    "job_name": "kafkascope",
                    "scrape_timeout": self.interval,
                    "static_configs": [{"targets": self.targets}],
                }
            ],
        }
        cfg = self.directory / "prometheus.yml"
        cfg.write_text(yaml.safe_dump(config))
        check = subprocess.run(
            [tool("promtool"), "check", "config", str(cfg)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        self.port = procs.free_port()
        log = open(self.directory / "prometheus.log", "ab")  # noqa: SIM115 - the child's
        try:
            self.proc = subprocess.Popen(
                [
                    tool("prometheus"),
                    f"--config.file={cfg}",
                    f"--storage.tsdb.path={self.directory / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        finally:
            log.close()
        wait_until(self._ready, 30, f"Prometheus ready on {self.url}")

    def _ready(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"prometheus exited {self.proc.returncode}: {self.log()}")
        try:
            return httpx.get(f"{self.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text()[-3000:]

    def api(self, path: str, **params: Any) -> Any:
        """``GET /api/v1/PATH``'s data; an error status or body fails naming Prometheus's
        own error (for a query: the expression that it rejected)."""
        r = httpx.get(f"{self.url}/api/v1/{path}", params=params, timeout=10)
        body = r.json()
        if r.status_code != 200 or body.get("status") != "success":
            raise AssertionError(f"GET /api/v1/{path} {params}: {r.status_code} {body}")
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector's samples, or a scalar as one)."""
        data = self.api("query", query=expr)
        if data["resultType"] == "vector":
            return list(data["result"])
        return [{"metric": {}, "value": data["result"]}]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(15)
        self.proc = None

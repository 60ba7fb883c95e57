"""Alertmanager as a receiver, end to end: a real ``kafkascope serve`` on the session
sandbox posts to a real Alertmanager (Debian's ``prometheus-alertmanager``, on loopback,
generated config, temporary storage), and everything is checked through Alertmanager's
own v2 API: the killed consumer's alert arrives with the right labels, it is re-posted
while it fires, a silence made in Alertmanager breaks nothing, and the resolution ends it.
"""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from kafkascope.sandbox import cluster, probe, procs
from kafkascope.sandbox.state import SandboxState
from tests.conftest import ClientFactory
from tests.e2e.conftest import ServiceProc
from tests.e2e.test_service import deadline_in
from tests.support import wait_until

pytestmark = pytest.mark.integration

ALERTMANAGER = "prometheus-alertmanager"
#: The receiver's resend interval in this test (its minimum), so a re-post is seen quickly.
RESEND = 5

AM_CONFIG = """\
route:
  receiver: nowhere
  group_by: [alertname, cluster]
  group_wait: 1s
  group_interval: 1s
receivers:
  - name: nowhere
"""


@dataclass
class Alertmanager:
    """A running Alertmanager and its v2 API."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alerts(self, **filters: str) -> list[dict[str, Any]]:
        """Alertmanager's alerts whose labels equal ``filters`` (active, silenced and
        inhibited; resolved ones are not listed)."""
        params = httpx.QueryParams([("filter", f'{k}="{v}"') for k, v in filters.items()])
        r = httpx.get(f"{self.url}/api/v2/alerts", params=params, timeout=5)
        r.raise_for_status()
        return list(r.json())


@pytest.fixture
def alertmanager(tmp_path: Path) -> Iterator[Alertmanager]:
    binary = shutil.which(ALERTMANAGER)
    if binary is None:
        pytest.fail(f"{ALERTMANAGER} is not installed. Fix: make system-deps (apt-get)")
    config = tmp_path / "alertmanager.yml"
    config.write_text(AM_CONFIG)
    port = procs.free_port()
    log = tmp_path / "alertmanager.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",  # no gossip port: one instance
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    am = Alertmanager(proc, port, log)

    def ready() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"alertmanager exited {proc.returncode}: {log.read_text()}")
        try:
            return httpx.get(f"{am.url}/-/ready", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 30, f"Alertmanager to answer on {am.url}")
        yield am
    finally:
        proc.kill()  # by its pid: the one this fixture started
        proc.wait(10)


def test_a_killed_consumers_alert_reaches_alertmanager_survives_a_silence_and_resolves(
    make_service: Callable[..., ServiceProc],
    sandbox: SandboxState,
    start_client: ClientFactory,
    alertmanager: Alertmanager,
) -> None:
    topic = f"am-kill-{uuid.uuid4().hex[:6]}"
    group, client_id = f"{topic}-g", f"{topic}-c"
    probe.create_topics(sandbox.bootstrap, {topic: 1}, 3, deadline_in(60))
    start_client("producer", topic, rate=5)
    consumer = start_client("consumer", topic, group=group, client_id=client_id)
    svc = make_service(
        extra=(
            '\n[[alerts.receivers]]\nkind = "alertmanager"\nname = "am"\n'
            f'url = "{alertmanager.url}"\nresend_interval = "{RESEND}s"\n'
        )
    )

    def seen_alive() -> bool:
        clients = svc.get("/api/v1/clusters/sandbox/clients")["clients"]
        return any(c.get("client_id") == client_id for c in clients)

    wait_until(seen_alive, 60, f"the consumer {client_id} among the clients")
    assert alertmanager.alerts(client_id=client_id) == []
    cluster.client_signal(Path(sandbox.dir), consumer.name, "KILL")
    killed = time.monotonic()
    (alert,) = wait_until(
        lambda: alertmanager.alerts(alertname="client_dead", client_id=client_id),
        60,
        "client_dead for the killed consumer in Alertmanager",
    )
    print(f"client_dead: in Alertmanager {time.monotonic() - killed:.1f} s after kill -9")
    labels = alert["labels"]
    assert labels["alertname"] == "client_dead"
    assert labels["severity"] == "critical"
    assert labels["cluster"] == "sandbox"
    assert labels["group"] == group
    assert alert["status"]["state"] == "active"
    assert alert["annotations"]["summary"]
    assert "kafkascope alert " in alert["annotations"]["evidence"]
    assert alert["generatorURL"].startswith(f"{svc.url}/ui/alerts?state=firing#alert-")
    (mine,) = [
        a
        for a in svc.get("/api/v1/alerts")["alerts"]
        if a["rule"] == "client_dead" and a["labels"].get("client_id") == client_id
    ]
    assert alert["generatorURL"].endswith(mine["id"])
    # The link lands on the alert's own row of the console's alerts page.
    page = httpx.get(alert["generatorURL"], timeout=10)
    assert page.status_code == 200
    assert f'id="alert-{mine["id"]}"' in page.text
    # Re-posted while it fires: Alertmanager records each post (updatedAt moves on), and
    # its endsAt stays ahead (4 resend intervals after the last post).
    first = alert["updatedAt"]
    reposted = wait_until(
        lambda: [
            a
            for a in alertmanager.alerts(alertname="client_dead", client_id=client_id)
            if a["updatedAt"] != first
        ],
        4 * RESEND,
        "a re-post of the firing alert",
    )
    assert reposted[0]["status"]["state"] == "active"

    # A silence made in Alertmanager: the alert is suppressed there; kafkascope keeps
    # posting (its rows are delivered, not failed) and its own state does not change.
    silence = httpx.post(
        f"{alertmanager.url}/api/v2/silences",
        json={
            "matchers": [
                {"name": "client_id", "value": client_id, "isRegex": False, "isEqual": True}
            ],
            "startsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60)),
            "endsAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
            "createdBy": "e2e",
            "comment": "kafkascope must not mind",
        },
        timeout=5,
    )
    assert silence.status_code == 200, silence.text
    silence_id = silence.json()["silenceID"]
    suppressed = wait_until(
        lambda: [
            a
            for a in alertmanager.alerts(alertname="client_dead", client_id=client_id)
            if a["status"]["state"] == "suppressed" and a["updatedAt"] != reposted[0]["updatedAt"]
        ],
        4 * RESEND,
        "the silenced alert suppressed in Alertmanager and re-posted again",
    )
    assert suppressed[0]["status"]["silencedBy"] == [silence_id]
    assert [a["state"] for a in svc.get("/api/v1/alerts")["alerts"] if a["id"] == mine["id"]] == [
        "firing"
    ]

    # The resolution: forgetting the dead client retires it, its alert resolves, and the
    # resolution's endsAt ends it in Alertmanager (gone from the list of current alerts).
    forgot = httpx.delete(f"{svc.url}/api/v1/clusters/sandbox/clients/{client_id}", timeout=10)
    assert forgot.status_code == 200, forgot.text
    wait_until(
        lambda: alertmanager.alerts(alertname="client_dead", client_id=client_id) == [],
        30,
        "client_dead ended in Alertmanager after the client was forgotten",
    )
    # No post was refused or retried along the way.
    target = f"alertmanager {alertmanager.url}"
    bad = [
        line
        for line in svc.log.read_text().splitlines()
        if target in line and ("will retry" in line or "Not retried" in line)
    ]
    assert bad == []
    assert alertmanager.proc.poll() is None

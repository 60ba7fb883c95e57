"""JMX over TLS with password authentication (issue 12, item 22), on a one-broker sandbox
started with ``--jmx-tls``: its agents run ``jmxremote.ssl=true`` and
``registry.ssl=false`` — the usual setup, where the registry lookup is plain and only the
RMI connection is TLS — with a self-signed certificate made by ``keytool`` at start.

The service's own code path is exercised: the sandbox's generated ``kafkascope.toml`` is
loaded, and the broker and client monitors the service builds read over TLS. Then what
goes wrong in the field: a wrong password, a certificate the truststore does not hold, a
wrong truststore password, and TLS settings that do not match the agent, each one clear
line naming the target."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from kafkascope.clock import SystemClock
from kafkascope.config import ClusterConfig, load_config
from kafkascope.errors import AuthFailed, ConfigError, SourceError, Unreachable
from kafkascope.monitor.brokers import BrokerRow
from kafkascope.sandbox import cluster, jars, jmx_tls
from kafkascope.sandbox.state import SandboxState
from kafkascope.sandbox.workload import ClientSpec
from kafkascope.service.builder import broker_monitor, client_monitor
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint, JmxTls
from tests.support import wait_until

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def tls_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SandboxState]:
    directory = tmp_path_factory.mktemp("jmx-tls")
    state = cluster.up(directory, brokers=1, workload=False, secure_jmx=True)
    try:
        yield state
    finally:
        cluster.down(directory)


def sandbox_config(state: SandboxState) -> ClusterConfig:
    [cfg] = load_config(Path(state.dir) / "kafkascope.toml", env={}).clusters
    return cfg


def endpoint(cfg: ClusterConfig, target: str) -> JmxEndpoint:
    """An endpoint made from the configuration, as the service makes one."""
    jmx = cfg.jmx
    return JmxEndpoint.parse(
        target,
        username=jmx.username,
        password=jmx.password.reveal() if jmx.password else None,
        ssl=jmx.ssl,
        registry_ssl=jmx.registry_ssl,
        tls=JmxTls.of(jmx),
    )


def connect(ep: JmxEndpoint) -> list[str]:
    with JmxConnection(ep, timeout=10) as conn:
        return conn.domains()


def test_the_sandbox_secures_jmx_with_tls_and_a_password(tls_sandbox: SandboxState) -> None:
    node = tls_sandbox.broker(1)
    assert "-Dcom.sun.management.jmxremote.ssl=true" in node.argv
    assert "-Dcom.sun.management.jmxremote.registry.ssl=false" in node.argv
    assert "-Dcom.sun.management.jmxremote.authenticate=true" in node.argv
    f = jmx_tls.files(Path(tls_sandbox.dir))
    for path in f.secret_files():
        mode = stat.S_IMODE(os.stat(path).st_mode)
        assert mode == 0o600, f"{path} is {oct(mode)}"
        secret = path.read_text().strip().split()[-1].split("=")[-1]
        assert not any(secret in arg for arg in node.argv), f"{path.name}'s secret is on argv"
    # The certificate is the one keytool made for 127.0.0.1, self-signed.
    keytool = str(Path(jars.java_bin()).resolve().parent / "keytool")
    text = subprocess.run(
        [keytool, "-printcert", "-file", str(f.certificate)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "CN=127.0.0.1" in text and "IPAddress: 127.0.0.1" in text


def test_the_service_reads_brokers_and_clients_over_tls(tls_sandbox: SandboxState) -> None:
    cfg = sandbox_config(tls_sandbox)
    assert cfg.jmx.ssl and not cfg.jmx.registry_ssl and cfg.jmx.truststore is not None
    brokers = broker_monitor(cfg, SystemClock())

    def broker_read() -> BrokerRow | None:
        row = brokers.poll().broker(1)
        return row if row is not None and row.jmx.reachable else None

    try:
        row = wait_until(broker_read, 60, "broker 1's metrics read over TLS")
    finally:
        brokers.close()
    assert row.jmx.error is None
    assert row.metrics, "no broker metric was read"
    producer = cluster.client_start(
        Path(tls_sandbox.dir),
        ClientSpec(role="producer", topic="tls-check", client_id=None, rate=1.0),
    )
    try:
        clients = client_monitor(cfg, SystemClock())
        try:

            def read_over_tls() -> bool:
                clients.poll()
                fresh = {f.target: f for f in clients.collector.freshness()}
                f = fresh.get(producer.jmx)
                return f is not None and f.last_success is not None and not f.failing

            wait_until(read_over_tls, 60, "the producer's JMX read over TLS")
        finally:
            clients.close()
    finally:
        cluster.client_signal(Path(tls_sandbox.dir), producer.name, "KILL")


def test_a_wrong_password_is_one_clear_error_naming_the_target(tls_sandbox: SandboxState) -> None:
    cfg = sandbox_config(tls_sandbox)
    target = tls_sandbox.broker(1).jmx
    wrong = replace(endpoint(cfg, target), password="not-the-password")
    with pytest.raises(AuthFailed) as raised:
        connect(wrong)
    message = str(raised.value)
    assert message.startswith(f"{target}: JMX authentication failed: check the username")
    assert "\n" not in message and "not-the-password" not in message


def test_an_untrusted_certificate_is_one_clear_error_naming_the_target(
    tls_sandbox: SandboxState, tmp_path: Path
) -> None:
    """A truststore holding some other certificate (a second self-signed one): the agent's
    certificate is not trusted, and the error says which truststore and what to do."""
    other = jmx_tls.make(tmp_path, jars.java_bin())
    cfg = sandbox_config(tls_sandbox)
    target = tls_sandbox.broker(1).jmx
    trust_pw = other.truststore_password.read_text().strip()
    untrusted = replace(
        endpoint(cfg, target),
        tls=JmxTls(truststore=str(other.truststore), truststore_password=trust_pw),
    )
    with pytest.raises(AuthFailed) as raised:
        connect(untrusted)
    message = str(raised.value)
    assert message.startswith(f"{target}: the JMX agent's TLS certificate is not trusted")
    assert f"truststore {other.truststore}" in message and "\n" not in message
    # The right truststore with a wrong password: named as such.
    bad_pw = replace(
        endpoint(cfg, target),
        tls=JmxTls(truststore=str(cfg.jmx.truststore), truststore_password="wrong"),
    )
    with pytest.raises(SourceError) as raised_pw:
        connect(bad_pw)
    message = str(raised_pw.value)
    assert message.startswith(f"{target}: cannot load the JMX TLS truststore ")
    assert "password is wrong" in message and "\n" not in message


def test_tls_settings_that_do_not_match_the_agent_say_which(tls_sandbox: SandboxState) -> None:
    cfg = sandbox_config(tls_sandbox)
    target = tls_sandbox.broker(1).jmx
    right = endpoint(cfg, target)
    assert "java.lang" in connect(right)
    with pytest.raises(Unreachable, match="set registry_ssl = false") as raised:
        connect(replace(right, registry_ssl=True))
    assert str(raised.value).startswith(f"{target}: ")
    with pytest.raises(AuthFailed, match="uses TLS: set ssl = true") as raised_auth:
        connect(replace(right, ssl=False, tls=None))
    assert str(raised_auth.value).startswith(f"{target}: ")


def test_tls_settings_are_checked_when_the_configuration_loads(tmp_path: Path) -> None:
    store = tmp_path / "trust.p12"
    store.write_bytes(b"not really a store")
    base = '[[clusters]]\nname = "c"\nbootstrap = "127.0.0.1:9092"\n[clusters.jmx]\n'
    cases = {
        # A truststore is only used for TLS: forgetting ssl = true is a mistake.
        f'truststore = "{store}"\n': "set ssl = true",
        # A missing file is named at load, not at the first connection.
        f'ssl = true\ntruststore = "{tmp_path / "nope.p12"}"\n': "does not exist",
        # A keystore without its password cannot be opened (the key shares it).
        f'ssl = true\nkeystore = "{store}"\n': "keystore_password",
    }
    for body, fix in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(base + body)
        with pytest.raises(ConfigError, match=fix):
            load_config(path, env={})
    path = tmp_path / "ok.toml"
    path.write_text(base + 'ssl = true\ntruststore = "trust.p12"\ntruststore_type = "JKS"\n')
    jmx = load_config(path, env={}).clusters[0].jmx
    assert jmx.truststore == store and jmx.truststore_type == "JKS"  # relative to the file

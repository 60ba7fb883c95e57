"""Which Java runtime JMX would use, and which clusters need one. Pure look-ups: nothing
starts a JVM here (``tests/integration/test_no_java.py`` runs kafkascope without Java)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kafkascope.config import ClusterConfig
from kafkascope.service.service import reads_jmx
from kafkascope.sources.jmx import jvm


def test_java_home_is_the_only_place_looked_in_when_set(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # An empty JAVA_HOME directory: no runtime, even though this machine has one in
    # /usr/lib/jvm (where JPype alone would silently look next).
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(jvm.MissingRuntime) as e:
        jvm.find_runtime()
    assert e.value.cause == f"JMX needs a Java runtime, and JAVA_HOME={tmp_path} holds none"
    assert str(e.value).endswith("Fix: " + jvm.JAVA_FIX)
    # A JAVA_HOME with a server VM: that library, nothing else.
    lib = tmp_path / "lib" / "server" / "libjvm.so"
    lib.parent.mkdir(parents=True)
    lib.write_bytes(b"")
    assert jvm.find_runtime() == str(lib)


@pytest.mark.parametrize(
    ("jmx", "needs_java"),
    [
        # No JMX at all: cluster state, groups and lag only.
        ({}, False),
        # Broker JMX by port or by node: read over RMI in the JVM.
        ({"broker_port": 9999}, True),
        ({"brokers": {"1": "h:9999"}}, True),
        # Brokers through Jolokia or jmx_exporter are HTTP: no Java for them...
        ({"source": "jolokia", "broker_port": 8778}, False),
        ({"source": "prometheus", "broker_port": 9404}, False),
        # ...but clients are always JMX, whatever the brokers' source.
        ({"source": "jolokia", "broker_port": 8778, "clients": {"static": ["h:9400"]}}, True),
        ({"clients": {"file_sd": "/etc/kafkascope/targets.json"}}, True),
        ({"clients": {"probe_ports": "9400-9410"}}, True),
    ],
)
def test_which_clusters_need_java(jmx: dict[str, Any], needs_java: bool) -> None:
    cfg = ClusterConfig.model_validate({"name": "c", "bootstrap": "h:9092", "jmx": jmx})
    assert reads_jmx(cfg) is needs_java

"""The isolated Kafka admin: a worker that dies or hangs costs one call, never the service."""

from __future__ import annotations

import os
import signal

import pytest

from kafkascope.errors import SourceError, Unreachable
from kafkascope.sandbox import procs
from kafkascope.sandbox.state import SandboxState
from kafkascope.sources.kafka.worker import IsolatedAdmin

pytestmark = pytest.mark.integration


def test_answers_like_kafka_admin(sandbox: SandboxState) -> None:
    with IsolatedAdmin(sandbox.bootstrap, timeout=10) as admin:
        ids = {b.id for b in admin.cluster().brokers}
        assert ids == {p.node_id for p in sandbox.processes if p.node_id is not None}
        assert {"orders", "payments", "audit"} <= {t.name for t in admin.topics()}
        snap = admin.snapshot(["orders-processor"])
        assert snap.committed["orders-processor"]  # offsets crossed the pipe as dataclasses


def test_a_crashed_worker_is_replaced_transparently(sandbox: SandboxState) -> None:
    with IsolatedAdmin(sandbox.bootstrap, timeout=10) as admin:
        admin.groups()
        assert admin._proc is not None
        # What librdkafka#5040 does to a process: SIGSEGV.
        os.kill(admin._proc.pid, signal.SIGSEGV)
        admin._proc.wait(10)
        assert admin.groups()  # a fresh worker answers the next call
        assert admin.restarts == 1


def test_a_worker_dying_mid_call_fails_that_call_only(sandbox: SandboxState) -> None:
    with IsolatedAdmin(sandbox.bootstrap, timeout=1) as admin:
        admin.groups()
        assert admin._proc is not None
        os.kill(admin._proc.pid, signal.SIGSTOP)  # frozen: the call cannot be answered
        with pytest.raises(SourceError, match="admin worker"):
            admin.cluster()
        assert admin.cluster().brokers  # and the next call gets a new worker


def test_errors_cross_the_pipe_with_their_type() -> None:
    admin = IsolatedAdmin(f"127.0.0.1:{procs.free_port()}", timeout=3)
    try:
        with pytest.raises(Unreachable, match="is a broker listening"):
            admin.cluster()
    finally:
        admin.close()

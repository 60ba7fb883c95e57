"""Runs :class:`KafkaAdmin` in a child process, so a crash inside librdkafka cannot take the
monitor down with it.

Why: librdkafka's admin client dereferences a NULL consumer-group handle when an
OffsetFetch for ``list_consumer_group_offsets`` comes back NOT_COORDINATOR — which is what
happens when a group's coordinator broker stops (librdkafka#5040, still open; seen here as
a SIGSEGV of the service seconds after ``sandbox broker stop``). A monitor that dies exactly
when a broker does is worse than none. So every admin call crosses a pipe to a worker
process; if the worker dies or hangs, the call fails with a clear ``SourceError`` and the
next call starts a fresh worker.

The protocol is length-prefixed pickle frames over the worker's stdin/stdout, between two
processes of this same package (never across a trust boundary).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import signal
import struct
import subprocess
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import IO, Any, cast

from kafkascope.errors import KafkascopeError, SourceError
from kafkascope.model import TopicPartitionKey
from kafkascope.sources.kafka.values import (
    ClusterInfo,
    GroupDescription,
    GroupListing,
    OffsetSnapshot,
    TopicInfo,
)

log = logging.getLogger(__name__)
_HEADER = struct.Struct("!I")


def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _recv(stream: IO[bytes]) -> Any:
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError("the admin worker closed its pipe")
    (n,) = _HEADER.unpack(head)
    data = stream.read(n)
    if len(data) < n:
        raise EOFError("the admin worker closed its pipe mid-answer")
    return pickle.loads(data)


class IsolatedAdmin:
    """The :class:`KafkaAdmin` API, served by a worker process started on first use."""

    def __init__(
        self, bootstrap: str, properties: Mapping[str, str] | None = None, timeout: float = 10.0
    ) -> None:
        self.bootstrap = bootstrap
        self.timeout = timeout
        self._properties = dict(properties or {})
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        self.restarts = 0

    def __repr__(self) -> str:
        return f"IsolatedAdmin({self.bootstrap!r})"

    def _start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kafkascope.sources.kafka.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=None,  # the worker's log lines go where ours go
            start_new_session=False,
        )
        assert proc.stdin is not None
        _send(proc.stdin, (self.bootstrap, self._properties, self.timeout))
        return proc

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)
        for s in (proc.stdin, proc.stdout):
            if s is not None:
                with contextlib.suppress(OSError):
                    s.close()

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._proc is None or self._proc.poll() is not None:
                if self._proc is not None:
                    self.restarts += 1
                    self._kill()
                self._proc = self._start()
            proc = self._proc
            assert proc.stdin is not None and proc.stdout is not None
            try:
                _send(proc.stdin, (method, args, kwargs))
                answer = self._await(proc, method)
            except (OSError, EOFError, pickle.PickleError) as e:
                code = proc.poll()
                self._kill()
                why = (
                    f"was killed by signal {-code}"
                    if code is not None and code < 0
                    else f"exited with {code}"
                    if code is not None
                    else f"broke ({e})"
                )
                raise SourceError(
                    self.bootstrap,
                    f"the Kafka admin worker {why} during {method} (librdkafka crashes are "
                    "isolated there; a fresh worker serves the next call)",
                ) from None
        kind, value = answer
        if kind == "ok":
            return value
        if isinstance(value, BaseException):
            raise value
        raise SourceError(self.bootstrap, str(value))

    def _await(self, proc: subprocess.Popen[bytes], method: str) -> Any:
        """The answer, or a dead/hung worker killed: every admin call is bounded by
        ``timeout`` inside the worker, so twice that plus start-up means it is stuck."""
        assert proc.stdout is not None
        result: list[Any] = []
        error: list[BaseException] = []

        def read() -> None:
            try:
                result.append(_recv(proc.stdout))  # type: ignore[arg-type]
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                error.append(e)

        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(2 * self.timeout + 15)
        if t.is_alive():
            self._kill()
            raise OSError(f"no answer to {method} within {2 * self.timeout + 15:g} s")
        if error:
            raise error[0]
        return result[0]

    def close(self) -> None:
        with self._lock:
            proc = self._proc
            if proc is not None and proc.poll() is None and proc.stdin is not None:
                with contextlib.suppress(OSError):
                    _send(proc.stdin, ("close", (), {}))
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(5)
            self._kill()

    def __enter__(self) -> IsolatedAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the KafkaAdmin API ---------------------------------------------------------------
    def cluster(self) -> ClusterInfo:
        return cast(ClusterInfo, self._call("cluster"))

    def topics(
        self, include_internal: bool = False, names: Iterable[str] | None = None
    ) -> list[TopicInfo]:
        wanted = list(names) if names is not None else None
        return cast(list[TopicInfo], self._call("topics", include_internal, wanted))

    def groups(self) -> list[GroupListing]:
        return cast(list[GroupListing], self._call("groups"))

    def describe_groups(self, group_ids: Iterable[str]) -> dict[str, GroupDescription]:
        return cast(dict[str, GroupDescription], self._call("describe_groups", list(group_ids)))

    def committed_offsets(self, groups: Iterable[str]) -> dict[str, dict[TopicPartitionKey, int]]:
        return cast(
            dict[str, dict[TopicPartitionKey, int]], self._call("committed_offsets", list(groups))
        )

    def log_offsets(
        self, partitions: Iterable[TopicPartitionKey], spec: str = "latest"
    ) -> dict[TopicPartitionKey, int]:
        return cast(dict[TopicPartitionKey, int], self._call("log_offsets", list(partitions), spec))

    def snapshot(self, groups: Iterable[str] | None = None) -> OffsetSnapshot:
        wanted = list(groups) if groups is not None else None
        return cast(OffsetSnapshot, self._call("snapshot", wanted))

    def record_timestamp(self, topic: str, partition: int, offset: int) -> float | None:
        return cast("float | None", self._call("record_timestamp", topic, partition, offset))

    def record_timestamps(
        self, positions: Iterable[tuple[str, int, int]]
    ) -> dict[tuple[str, int, int], float | None]:
        return cast(
            dict[tuple[str, int, int], float | None],
            self._call("record_timestamps", list(positions)),
        )


ALLOWED = frozenset(
    {
        "cluster",
        "topics",
        "groups",
        "describe_groups",
        "committed_offsets",
        "log_offsets",
        "snapshot",
        "record_timestamp",
        "record_timestamps",
    }
)


def worker_main() -> None:
    """The child: build one KafkaAdmin, answer calls until told to close or stdin ends."""
    from kafkascope.sources.kafka.admin import KafkaAdmin

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when we stop
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write into the answer pipe
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s[admin-worker]: %(message)s",
    )
    try:
        bootstrap, props, timeout = _recv(stdin)
    except EOFError:
        return
    admin: KafkaAdmin | None = None
    while True:
        try:
            method, args, kwargs = _recv(stdin)
        except EOFError:
            break
        if method == "close":
            break
        try:
            if method not in ALLOWED:
                raise SourceError(bootstrap, f"unknown admin call {method!r}")
            if admin is None:
                admin = KafkaAdmin(bootstrap, props, timeout)
            answer: tuple[str, Any] = ("ok", getattr(admin, method)(*args, **kwargs))
        except KafkascopeError as e:
            answer = ("err", e)
        except Exception as e:  # noqa: BLE001 - reported to the parent, worker lives on
            answer = ("err", SourceError(bootstrap, f"{type(e).__name__}: {e}"))
        try:
            _send(stdout, answer)
        except (pickle.PicklingError, TypeError) as e:
            _send(stdout, ("err", SourceError(bootstrap, f"unpicklable answer: {e}")))
    if admin is not None:
        admin.close()
    os._exit(0)  # skip interpreter teardown: librdkafka threads may still be winding down


if __name__ == "__main__":
    worker_main()

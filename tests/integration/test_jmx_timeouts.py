"""JMX robustness (issue 12, item 21): a real connect timeout, at most one call in flight per
target, dead hosts that cannot starve a healthy one, and a deserialization filter.

The "dead" targets are real sockets on loopback: a port that accepts TCP and never says a
word, a port whose accept queue is full (the kernel drops the SYN, exactly what a host
behind a dropping firewall does), and a port that answers RMI's handshake one byte at a
time, so a call never times out and never ends. The healthy target is a small real JVM
started here, with one MBean whose attributes are a number, a URL, a deep structure and a
huge array, to prove what the filter lets through."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kafkascope.errors import SourceError, Timeout, Unreachable
from kafkascope.sandbox import jars, procs
from kafkascope.sources.jmx import javajar, jvm
from kafkascope.sources.jmx.collector import Backoff, CollectResult, JmxCollector
from kafkascope.sources.jmx.connection import JmxConnection, JmxEndpoint
from tests.support import wait_jmx, wait_until

pytestmark = pytest.mark.integration

BOUND = 1.5  # the per-call timeout these tests use
SLACK = 1.0  # scheduling on a loaded two-core machine

PROBE_JAVA = """
import java.lang.management.ManagementFactory;
import java.util.ArrayList;
import java.util.List;
import javax.management.ObjectName;
import javax.management.StandardMBean;

public class Probe {
    public interface ProbeMBean {
        long getCount();
        java.net.URL getUrl() throws Exception;
        List<Object> getDeep();
        long[] getHuge();
    }

    public static class Impl implements ProbeMBean {
        public long getCount() { return 42; }
        public java.net.URL getUrl() throws Exception {
            return new java.net.URL("http://127.0.0.1/");
        }
        public List<Object> getDeep() {
            List<Object> top = new ArrayList<>();
            List<Object> cur = top;
            for (int i = 0; i < 200; i++) {
                List<Object> next = new ArrayList<>();
                cur.add(next);
                cur = next;
            }
            return top;
        }
        public long[] getHuge() { return new long[2_000_000]; }
    }

    public static void main(String[] args) throws Exception {
        ManagementFactory.getPlatformMBeanServer().registerMBean(
            new StandardMBean(new Impl(), ProbeMBean.class),
            new ObjectName("kafkascope.test:type=Probe"));
        Thread.sleep(Long.MAX_VALUE);
    }
}
"""
PROBE = "kafkascope.test:type=Probe"


@pytest.fixture(scope="module", autouse=True)
def jvm_started() -> None:
    """Start the reader's JVM with the default 5 s bounds, as a service does, so the
    JVM-wide RMI timeouts are not what makes the tests' 1.5 s bound hold."""
    jvm.configure(5.0)
    jvm.ensure_started()


@pytest.fixture(scope="module")
def probe_jvm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A small real JVM with JMX on a free loopback port: its HOST:PORT."""
    tmp = tmp_path_factory.mktemp("probe")
    source = tmp / "Probe.java"
    source.write_text(PROBE_JAVA)
    port = procs.free_port()
    argv = [
        jars.java_bin(),
        "-Xmx64m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        f"-Dcom.sun.management.jmxremote.port={port}",
        f"-Dcom.sun.management.jmxremote.rmi.port={port}",
        "-Dcom.sun.management.jmxremote.host=127.0.0.1",
        "-Djava.rmi.server.hostname=127.0.0.1",
        "-Dcom.sun.management.jmxremote.authenticate=false",
        "-Dcom.sun.management.jmxremote.ssl=false",
        str(source),
    ]
    log = (tmp / "probe.log").open("w")
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    target = f"127.0.0.1:{port}"
    try:
        wait_jmx(target, 60)

        def registered() -> bool:
            with JmxConnection(JmxEndpoint.parse(target)) as c:
                return bool(c.query_names(PROBE))

        wait_until(registered, 30, "the Probe MBean to be registered")
        yield target
    finally:
        proc.kill()
        proc.wait(timeout=30)
        log.close()


# ------------------------------------------------------------------------------ dead ports


def syn_sent(port: int, ignore: frozenset[int] = frozenset()) -> int:
    """Sockets on this host still trying to connect (SYN_SENT) to the port, except those
    from the local ports in ``ignore``."""
    count = 0
    lines = [
        line
        for table in ("/proc/net/tcp", "/proc/net/tcp6")  # Java's sockets are IPv6 ones
        for line in Path(table).read_text().splitlines()[1:]
    ]
    for line in lines:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if (
            state == "02"
            and int(remote.split(":")[1], 16) == port
            and int(local.split(":")[1], 16) not in ignore
        ):
            count += 1
    return count


class Blackhole:
    """A loopback port whose accept queue is full: the kernel drops every further SYN, so a
    connect neither succeeds nor is refused (a host behind a dropping firewall)."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(0)
        self.port = int(self.listener.getsockname()[1])
        self.fillers: list[socket.socket] = []
        for _ in range(3):
            s = socket.socket()
            s.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                s.connect(("127.0.0.1", self.port))
            self.fillers.append(s)
        self.ignore = frozenset(int(s.getsockname()[1]) for s in self.fillers)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", self.port))
        except TimeoutError:
            pass
        else:
            pytest.fail("could not make a blackholed port: the kernel accepted a connection")
        finally:
            probe.close()
        wait_until(lambda: self.attempts() == 0, 5, "the probe's SYN to be gone")

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def attempts(self) -> int:
        """Connects to this port in flight, the queue's own fillers aside."""
        return syn_sent(self.port, self.ignore)

    def close(self) -> None:
        for s in [*self.fillers, self.listener]:
            s.close()


@pytest.fixture
def blackholes() -> Iterator[list[Blackhole]]:
    made: list[Blackhole] = []
    yield made
    for b in made:
        b.close()


class Silent:
    """A loopback port that accepts TCP and never answers. ``trickle``: answer RMI's
    handshake with a string 65535 bytes long, one byte every 0.3 s — each read is well
    within any timeout, and the call never ends until the server stops."""

    def __init__(self, trickle: bool = False) -> None:
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.trickle = trickle
        self.accepted: list[socket.socket] = []
        self.closed_by_peer: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _serve(self) -> None:
        self.listener.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted.append(conn)
            threading.Thread(target=self._hold, args=(conn,), daemon=True).start()

    def _hold(self, conn: socket.socket) -> None:
        with conn:
            self._answer(conn)

    def _answer(self, conn: socket.socket) -> None:
        conn.settimeout(0.3)
        if self.trickle:
            try:
                conn.recv(7)  # "JRMI", version, StreamProtocol
                conn.sendall(b"\x4e\xff\xff")  # ProtocolAck, then a 65535-byte host name
            except OSError:
                return
        while not self.stop.is_set():
            try:
                if self.trickle:
                    conn.sendall(b"a")
                    self.stop.wait(0.3)
                    continue
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                data = b""
            if not data:
                self.closed_by_peer.append(time.monotonic())
                return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def silent() -> Iterator[Silent]:
    s = Silent()
    yield s
    s.close()


# ------------------------------------------------------------------------------ timeouts


def test_a_blackholed_connect_fails_within_the_timeout_and_leaves_nothing_behind(
    blackholes: list[Blackhole],
) -> None:
    hole = Blackhole()
    blackholes.append(hole)
    conn = JmxConnection(JmxEndpoint.parse(hole.target), timeout=BOUND)
    t0 = time.monotonic()
    with pytest.raises(Unreachable) as raised:
        conn.connect()
    elapsed = time.monotonic() - t0
    assert elapsed <= BOUND + SLACK, elapsed
    message = str(raised.value)
    assert message.startswith(f"{hole.target}: ")  # names the target
    assert f"did not accept a TCP connection within {BOUND:g} s" in message
    # Java gave up too: no connect attempt is left retrying SYNs for two minutes.
    wait_until(lambda: hole.attempts() == 0, SLACK, "the connect attempt to end")


def test_a_port_that_accepts_and_never_answers_fails_within_the_timeout(silent: Silent) -> None:
    conn = JmxConnection(JmxEndpoint.parse(silent.target), timeout=BOUND)
    t0 = time.monotonic()
    with pytest.raises(Timeout) as raised:
        conn.connect()
    assert time.monotonic() - t0 <= BOUND + SLACK
    message = str(raised.value)
    assert message.startswith(f"{silent.target}: ")
    assert f"accepted the TCP connection but did not answer within {BOUND:g} s" in message
    # The reader's own socket gave up at this target's bound, not at the JVM-wide 5 s.
    wait_until(lambda: silent.closed_by_peer, SLACK, "the reader to close its socket")
    assert silent.closed_by_peer[0] - t0 <= BOUND + SLACK
    assert len(silent.accepted) == 1


def test_one_call_in_flight_per_target() -> None:
    """A call that never ends (a byte every 0.3 s) is abandoned at the bound, and the next
    one is refused at once instead of opening a second socket to the same target."""
    server = Silent(trickle=True)
    try:
        conn = JmxConnection(JmxEndpoint.parse(server.target), timeout=BOUND)
        t0 = time.monotonic()
        with pytest.raises(Timeout):
            conn.connect()
        assert time.monotonic() - t0 <= BOUND + SLACK
        t1 = time.monotonic()
        with pytest.raises(Timeout, match="has not returned") as raised:
            conn.connect()
        assert time.monotonic() - t1 < 0.5
        assert str(raised.value).startswith(f"{server.target}: ")
        assert len(server.accepted) == 1  # no second socket, no second thread
    finally:
        server.close()  # the stuck call ends: its stream is closed
    # Once the stuck call has returned, the target can be tried again.
    wait_until(lambda: _refused(conn), 10, "a new connect once the stuck call has returned")


def _refused(conn: JmxConnection) -> bool:
    try:
        conn.connect()
    except Unreachable:
        return True  # nothing listens any more: a new attempt was really made
    except Timeout:
        return False
    return False


def test_repeated_collections_of_a_dead_host_do_not_pile_up(
    blackholes: list[Blackhole],
) -> None:
    hole = Blackhole()
    blackholes.append(hole)
    collector = JmxCollector(timeout=BOUND, backoff=Backoff(base=0.01, cap=0.01))
    collector.add(JmxEndpoint.parse(hole.target))
    peak = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal peak
        while not stop.is_set():
            peak = max(peak, hole.attempts())
            stop.wait(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    errors = []
    try:
        for _ in range(4):
            [result] = collector.collect()
            errors.append(result.error)
    finally:
        stop.set()
        watcher.join(5)
        collector.close()
    assert peak <= 1, f"{peak} connects to one dead target were in flight at once"
    assert all(isinstance(e, Unreachable) for e in errors), errors


def test_dead_hosts_do_not_starve_a_healthy_target(
    probe_jvm: str, blackholes: list[Blackhole]
) -> None:
    """A healthy JVM, then 24 dead hosts, and 4 collector workers: the healthy JVM is read
    at every cycle, first; once the dead hosts are known to fail, a cycle lasts about one
    timeout, not one per wave of dead hosts (6 waves of 4 here)."""
    collector = JmxCollector(timeout=BOUND, backoff=Backoff(base=0.01, cap=0.01), max_workers=4)
    collector.add(JmxEndpoint.parse(probe_jvm), sets=["jvm"])
    try:
        [first] = collector.collect()
        assert first.ok, first.error
        for _ in range(24):
            blackholes.append(Blackhole())
        for hole in blackholes:
            collector.add(JmxEndpoint.parse(hole.target), sets=["jvm"])
        for cycle in range(4):
            t0 = time.monotonic()
            arrived: dict[str, float] = {}

            def note(r: CollectResult, t0: float = t0, arrived: dict[str, float] = arrived) -> None:
                arrived[r.target] = time.monotonic() - t0

            results = {r.target: r for r in collector.collect(on_result=note)}
            took = time.monotonic() - t0
            assert results[probe_jvm].ok, (cycle, results[probe_jvm].error)
            assert not any(results[h.target].ok for h in blackholes), cycle
            if cycle == 0:  # read first, before the dead hosts took the workers
                assert arrived[probe_jvm] < BOUND, (cycle, arrived[probe_jvm])
            if cycle >= 2:  # the first new-dead cycle's stragglers are gone by now
                assert arrived[probe_jvm] < BOUND, (cycle, arrived[probe_jvm])
                assert took <= BOUND + 2 * SLACK, (cycle, took)
                dead = [results[h.target].error for h in blackholes]
                assert all(isinstance(e, Unreachable) for e in dead), (cycle, dead)
    finally:
        collector.close()


# ------------------------------------------------------------------------------ serial filter


def test_the_deserialization_filter_is_set_before_the_jvm_starts() -> None:
    import jpype

    System = jpype.JClass("java.lang.System")
    assert str(System.getProperty("jdk.serialFilter")) == jvm.SERIAL_FILTER
    assert jpype.JClass("java.io.ObjectInputFilter$Config").getSerialFilter() is not None

    def round_trip(obj: object) -> object:
        out = jpype.JClass("java.io.ByteArrayOutputStream")()
        oos = jpype.JClass("java.io.ObjectOutputStream")(out)
        oos.writeObject(obj)
        oos.close()
        bis = jpype.JClass("java.io.ByteArrayInputStream")(out.toByteArray())
        return jpype.JClass("java.io.ObjectInputStream")(bis).readObject()

    name = jpype.JClass("javax.management.ObjectName")("kafka.server:type=X")
    assert str(round_trip(name)) == "kafka.server:type=X"  # what JMX reads need: allowed
    url = jpype.JClass("java.net.URL")("http://127.0.0.1/")  # the URLDNS gadget's entry
    with pytest.raises(jpype.JException, match="REJECTED"):
        round_trip(url)


def test_a_target_cannot_send_what_the_filter_rejects(probe_jvm: str) -> None:
    conn = JmxConnection(JmxEndpoint.parse(probe_jvm), timeout=5)
    try:
        assert conn.get_attributes(PROBE, ["Count"]) == {"Count": 42}
        for attribute in ("Url", "Deep", "Huge"):  # a class, a depth, an array length
            with pytest.raises(SourceError, match="deserialization filter") as raised:
                conn.get_attributes(PROBE, [attribute])
            assert str(raised.value).startswith(f"{probe_jvm}: ")
        # The refusal is about that answer only: the target is read again at once.
        assert conn.get_attributes(PROBE, ["Count"]) == {"Count": 42}
    finally:
        conn.close()


def test_the_helper_jar_is_built_from_its_source() -> None:
    """The jar is shipped built; editing the Java source without rebuilding fails here.
    Fix: .venv/bin/python -m kafkascope.sources.jmx.javajar"""
    assert javajar.jar_digest() == javajar.source_digest()

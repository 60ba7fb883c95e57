"""The sandbox itself: a real KRaft cluster from the Maven jars, plus real Java clients,
started detached on loopback and described in ``DIR/sandbox.json``."""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kafkascope.errors import SandboxError
from kafkascope.sandbox import jars, jmx_tls, probe, procs, pyclient, telemetry
from kafkascope.sandbox.jvm import java_argv
from kafkascope.sandbox.state import Proc, SandboxState, load, locked, save, state_path
from kafkascope.sandbox.workload import (
    CONSUMER_MAIN,
    DEMO_CLIENTS,
    DEMO_TOPICS,
    PRODUCER_MAIN,
    ClientSpec,
    client_properties,
    consumer_args,
    producer_args,
)

READY_TIMEOUT = 180.0


def default_dir() -> Path:
    return jars.default_sandbox_dir()


def _cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _node_properties(
    node_id: int,
    ports: dict[int, tuple[int, int]],
    data_dir: Path,
    n: int,
    extra: dict[str, str] | None = None,
) -> str:
    rf = min(3, n)
    voters = ",".join(f"{i}@127.0.0.1:{c}" for i, (_, c) in sorted(ports.items()))
    broker_port, ctrl_port = ports[node_id]
    lines = {
        "process.roles": "broker,controller",
        "node.id": str(node_id),
        "controller.quorum.voters": voters,
        "listeners": f"PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{ctrl_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker_port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.network.threads": "2",
        "num.io.threads": "4",
        "num.partitions": "1",
        "default.replication.factor": str(rf),
        "min.insync.replicas": str(2 if rf >= 3 else 1),
        "offsets.topic.replication.factor": str(rf),
        "offsets.topic.num.partitions": "10",
        "transaction.state.log.replication.factor": str(rf),
        "transaction.state.log.min.isr": str(2 if rf >= 3 else 1),
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(rf),
        "share.coordinator.state.topic.min.isr": str(2 if rf >= 3 else 1),
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "false",
        "unclean.leader.election.enable": "false",
        "log.retention.hours": "2",
        "log.segment.bytes": str(64 * 1024 * 1024),
        **(extra or {}),
    }
    return "".join(f"{k}={v}\n" for k, v in lines.items())


def _running(state: SandboxState) -> list[Proc]:
    return [p for p in state.processes if procs.owns(p.pid, state.marker)]


def up(
    directory: Path,
    brokers: int = 3,
    workload: bool = True,
    broker_heap: str = "512m",
    lib_dir: Path | None = None,
    agents: Sequence[str] = (),
    secure_jmx: bool = False,
    telemetry_plugin: bool = True,
    telemetry_endpoint: str = telemetry.DEFAULT_ENDPOINT,
    telemetry_interval_ms: int = telemetry.DEFAULT_INTERVAL_MS,
    progress: Callable[[str], None] | None = None,
) -> SandboxState:
    """Format and start a KRaft cluster of ``brokers`` combined broker+controller nodes,
    then the demo workload; return only when all of it is ready. ``progress`` hears each
    step as it starts (``sandbox up`` shows them: a minute is long to wait in silence).

    ``secure_jmx``: every JVM's JMX (nodes and clients) uses TLS and a password, made at
    start (:mod:`kafkascope.sandbox.jmx_tls`); ``kafkascope.toml`` is written to match.

    ``agents``: extra JVM flags for every node, meant for ``-javaagent:JAR=OPTIONS`` (the
    Jolokia and jmx_exporter agents the alternate sources are tested against). An agent
    that listens on a fixed port can only be given to a one-node sandbox.

    ``telemetry_plugin``: kafkascope's KIP-714 plugin on every node, posting pushes to
    ``telemetry_endpoint`` (changeable later: :func:`telemetry.set_endpoint`), and a
    ``CLIENT_METRICS`` subscription pushing every ``telemetry_interval_ms`` (docs/telemetry.md).
    Without a plugin jar (an installed kafkascope) the cluster starts without it."""
    if brokers < 1:
        raise SandboxError(f"--brokers must be at least 1 (got {brokers})")
    directory = directory.resolve()
    with locked(directory):
        if state_path(directory).exists():
            old = load(directory)
            alive = _running(old)
            if alive:
                raise SandboxError(
                    f"a sandbox is already running in {directory} "
                    f"({len(alive)} live processes, e.g. {alive[0].name} pid {alive[0].pid}). "
                    "Fix: 'kafkascope sandbox down' first, or pass another --dir"
                )
        _clear_previous(directory)
        java = jars.java_bin()
        if secure_jmx:
            jmx_tls.make(directory, java)
        secure = jmx_tls.agent_flags(directory) if secure_jmx else None
        lib = jars.ensure_jars(lib_dir)
        cp = jars.kafka_classpath(lib)
        if telemetry_plugin:
            telemetry.check_endpoint(telemetry_endpoint)
        plugin = telemetry.plugin_jar() if telemetry_plugin else None
        broker_cp = cp if plugin is None else f"{cp}{os.pathsep}{plugin}"
        plugin_props: dict[str, str] = {}
        if plugin is not None:
            telemetry.prepare(directory, telemetry_endpoint)
            plugin_props = telemetry.broker_properties(directory)
        t0 = time.monotonic()
        marker = f"-Dkafkascope.sandbox={directory}"
        ids = list(range(1, brokers + 1))
        flat = procs.free_ports(4 * brokers)
        ports = {i: (flat[4 * k], flat[4 * k + 1]) for k, i in enumerate(ids)}
        jmx_ports = {i: flat[4 * k + 2] for k, i in enumerate(ids)}
        rmi_ports = {i: flat[4 * k + 3] if secure_jmx else None for k, i in enumerate(ids)}
        state = SandboxState(
            dir=str(directory),
            marker=marker,
            cluster_id=_cluster_id(),
            bootstrap=",".join(f"127.0.0.1:{ports[i][0]}" for i in ids),
            kafka_version=jars.KAFKA_VERSION,
            lib_dir=str(lib),
            started_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            jmx_tls=secure_jmx,
            telemetry_plugin=str(plugin or ""),
            telemetry_interval_ms=telemetry_interval_ms if plugin is not None else 0,
        )

        # Format every node's storage in parallel (one short JVM each).
        def fmt(node: int) -> Proc:
            node_dir = directory / f"node-{node}"
            data = node_dir / "data"
            data.mkdir(parents=True, exist_ok=True)
            props = node_dir / "server.properties"
            props.write_text(_node_properties(node, ports, data, brokers, plugin_props))
            log = node_dir / "server.log"
            fmt_argv = [
                java,
                "-Xmx256m",
                "-XX:TieredStopAtLevel=1",
                "-cp",
                cp,
                f"-Dlog4j2.configurationFile={node_dir / 'none.xml'}",
                "kafka.tools.StorageTool",
                "format",
                f"--cluster-id={state.cluster_id}",
                "-c",
                str(props),
                "--ignore-formatted",
            ]
            res = subprocess.run(fmt_argv, capture_output=True, text=True, check=False)
            if res.returncode != 0:
                raise SandboxError(f"formatting node {node} failed: {res.stdout}{res.stderr}")
            argv = java_argv(
                java,
                marker,
                broker_cp,
                "kafka.Kafka",
                [str(props)],
                jmx_port=jmx_ports[node],
                log_file=log,
                heap=broker_heap,
                client=False,
                extra=[f"-Xms{broker_heap}", *agents],
                jmx_secure=secure,
                jmx_rmi_port=rmi_ports[node],
            )
            return Proc(
                name=f"node-{node}",
                role="broker+controller",
                pid=0,
                jmx=f"127.0.0.1:{jmx_ports[node]}",
                argv=argv,
                log=str(log),
                node_id=node,
                listener=f"127.0.0.1:{ports[node][0]}",
            )

        say = progress or (lambda text: None)
        say(f"formatting storage of {brokers} node{'s' if brokers != 1 else ''}")
        with ThreadPoolExecutor(max_workers=brokers) as pool:
            nodes = list(pool.map(fmt, ids))
        say(f"starting {len(nodes)} node{'s' if len(nodes) != 1 else ''}")
        for node in nodes:
            node.pid = procs.spawn(node.argv, Path(node.log))
            state.processes.append(node)
        save(state)
        try:
            deadline = time.monotonic() + READY_TIMEOUT
            for node in nodes:
                say(f"waiting for {node.name} to start (JMX {node.jmx})")
                _wait_jvm_port(state, node, deadline)
            say("waiting for every broker to register")
            probe.wait_brokers(state.bootstrap, set(ids), deadline)
            rf = min(3, brokers)
            say("producing and consuming a test record")
            probe.round_trip(state.bootstrap, rf, deadline)
            if plugin is not None:
                # Before the workload: a client that finds no subscription asks again only
                # after minutes.
                say("subscribing clients to telemetry")
                telemetry.subscribe(java, cp, state.bootstrap, telemetry_interval_ms)
            if workload:
                _start_workload(state, java, cp, rf, deadline, say)
        except BaseException:
            save(state)
            _stop_all(state)
            raise
        state.startup_seconds = round(time.monotonic() - t0, 1)
        save(state)
        write_service_files(state)
        return state


def _clear_previous(directory: Path) -> None:
    """A stopped sandbox's data is replaced: a fresh cluster id cannot reuse old storage."""
    for child in directory.glob("node-*"):
        shutil.rmtree(child, ignore_errors=True)
    shutil.rmtree(directory / "clients", ignore_errors=True)
    shutil.rmtree(jmx_tls.files(directory).root, ignore_errors=True)
    shutil.rmtree(telemetry.files(directory).root, ignore_errors=True)


def _has_logged(log: Path) -> bool:
    """Whether log4j wrote a line to ``log`` (our pattern: "[date] LEVEL message"); a JVM
    warning on stderr comes before ``main`` and does not count."""
    try:
        with log.open("rb") as f:
            head = f.read(65536)
    except FileNotFoundError:
        return False
    return any(f"] {level} ".encode() in head for level in ("INFO", "WARN", "ERROR"))


def _wait_jvm_port(state: SandboxState, p: Proc, deadline: float) -> None:
    """Until the JVM's JMX agent can be connected to. The port alone is not enough: the RMI
    registry listens a moment before the agent binds "jmxrmi" in it, and a connection in
    that moment fails. The agent starts during VM initialisation, before ``main``, so the
    first line the process logs (every Kafka JVM logs its config at start) means it is bound.
    A restarted broker's log is not empty already; its readiness is its registration."""
    port = p.jmx_port
    log = Path(p.log)
    while time.monotonic() < deadline:
        step = min(deadline, time.monotonic() + 1)
        if procs.wait_port("127.0.0.1", port, step) and _has_logged(log):
            return
        time.sleep(0.05)
        if not procs.is_alive(p.pid):
            tail = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            raise SandboxError(
                f"{p.name} (pid {p.pid}) exited during start-up; log {p.log}:\n{tail}"
            )
    raise SandboxError(f"{p.name} did not open its JMX port {port} in time; see {p.log}")


def _start_workload(
    state: SandboxState,
    java: str,
    cp: str,
    rf: int,
    deadline: float,
    say: Callable[[str], None] = lambda text: None,
) -> None:
    say(f"creating the demo topics ({', '.join(t.name for t in DEMO_TOPICS)})")
    probe.create_topics(state.bootstrap, {t.name: t.partitions for t in DEMO_TOPICS}, rf, deadline)
    for t in DEMO_TOPICS:
        if t.seed_records:
            probe.produce(state.bootstrap, t.name, t.seed_records)
    say(f"starting {len(DEMO_CLIENTS)} demo clients")
    started = [_spawn_client(state, java, cp, spec) for spec in DEMO_CLIENTS]
    save(state)
    for p in started:
        if p.impl == "java":
            say(f"waiting for client {p.name} to start")
            _wait_jvm_port(state, p, deadline)
    expected: dict[str, int] = {}
    for spec in DEMO_CLIENTS:
        if spec.group:
            expected[spec.group] = expected.get(spec.group, 0) + 1
    for group, n in expected.items():
        say(f"waiting for group {group} to have {n} member{'s' if n != 1 else ''}")
        probe.wait_group_members(state.bootstrap, group, n, deadline)


def _client_name(state: SandboxState, spec: ClientSpec) -> str:
    base = spec.client_id or (
        f"{spec.group}-member" if spec.role == "consumer" else f"{spec.topic}-producer"
    )
    names = {p.name for p in state.processes}
    if base not in names:
        return base
    k = 2
    while f"{base}-{k}" in names:
        k += 1
    return f"{base}-{k}"


def _spawn_client(state: SandboxState, java: str, cp: str, spec: ClientSpec) -> Proc:
    if spec.impl == "python":
        return pyclient.spawn(state, spec, _client_name(state, spec))
    directory = Path(state.dir)
    name = _client_name(state, spec)
    jmx_port, rmi_port = procs.free_ports(2)
    log = directory / "clients" / f"{name}.log"
    config = directory / "clients" / f"{name}.properties"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "".join(f"{k}={v}\n" for k, v in client_properties(state.bootstrap, spec).items())
    )
    producer = spec.role == "producer"
    main, args = (
        (PRODUCER_MAIN, producer_args(state.bootstrap, spec, str(config)))
        if producer
        else (CONSUMER_MAIN, consumer_args(state.bootstrap, spec, str(config)))
    )
    argv = java_argv(
        java,
        state.marker,
        cp,
        main,
        args,
        jmx_port=jmx_port,
        log_file=log,
        heap="128m",
        client=True,
        jmx_secure=jmx_tls.agent_flags(directory) if state.jmx_tls else None,
        jmx_rmi_port=rmi_port if state.jmx_tls else None,
    )
    drain: int | None = None
    if producer:
        # One JSON line per ack: thrown away.
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            pid = procs.spawn(argv, log, stdout_fd=null)
        finally:
            os.close(null)
    else:
        read_end, write_end = os.pipe()
        try:
            drain = procs.spawn(
                [sys.executable, "-c", _DRAIN, state.marker], None, stdin_fd=read_end
            )
            pid = procs.spawn(argv, log, stdout_fd=write_end)
        finally:
            os.close(read_end)
            os.close(write_end)
    proc = Proc(
        name=name,
        role=spec.role,
        pid=pid,
        jmx=f"127.0.0.1:{jmx_port}",
        argv=argv,
        log=str(log),
        client_id=spec.client_id,
        group=spec.group,
        topic=spec.topic,
        protocol=None if producer else spec.protocol,
        drain_pid=drain,
    )
    state.processes.append(proc)
    return proc


# Reads the consumer's stdout and throws it away; SIGSTOP on it blocks the consumer.
_DRAIN = "import sys\nr = sys.stdin.buffer\nwhile r.read1(65536):\n    pass\n"


def client_start(directory: Path, spec: ClientSpec, wait: bool = True) -> Proc:
    """Start one more client JVM in a running sandbox; return its entry."""
    if spec.role not in ("producer", "consumer"):
        raise SandboxError(f"--role must be producer or consumer (got '{spec.role}')")
    if spec.role == "consumer" and not spec.group:
        raise SandboxError("a consumer needs --group G")
    if spec.protocol not in ("classic", "consumer"):
        raise SandboxError(f"--protocol must be classic or consumer (got '{spec.protocol}')")
    if spec.impl not in ("java", "python"):
        raise SandboxError(f"--impl must be java or python (got '{spec.impl}')")
    directory = directory.resolve()
    with locked(directory):
        state = load(directory)
        if not _running(state):
            raise SandboxError(
                f"the sandbox in {directory} is not running. Fix: 'kafkascope sandbox up'"
            )
        java = jars.java_bin()
        cp = jars.kafka_classpath(Path(state.lib_dir))
        proc = _spawn_client(state, java, cp, spec)
        save(state)
        write_service_files(state)
    if wait and proc.impl == "java":
        _wait_jvm_port(state, proc, time.monotonic() + 60)
    elif wait:
        pyclient.wait_started(proc, time.monotonic() + 30)
    return proc


def client_signal(directory: Path, name: str, signal_name: str) -> Proc:
    """Send TERM, KILL, STOP or CONT to one client (JVM), or BLOCK/UNBLOCK its processing."""
    sig_name = signal_name.upper().removeprefix("SIG")
    allowed = [*procs.ALLOWED_SIGNALS, "BLOCK", "UNBLOCK"]
    if sig_name not in allowed:
        raise SandboxError(
            f"signal '{signal_name}' is not allowed; use one of {', '.join(allowed)}"
        )
    directory = directory.resolve()
    with locked(directory):
        state = load(directory)
        p = state.find(name)
        if sig_name in ("BLOCK", "UNBLOCK"):
            if p.drain_pid is None:
                raise SandboxError(f"{name} is a {p.role}; only consumers can be blocked")
            sig = procs.ALLOWED_SIGNALS["STOP" if sig_name == "BLOCK" else "CONT"]
            procs.send(p.drain_pid, sig)
            return p
        if not procs.owns(p.pid, state.marker):
            raise SandboxError(f"{name} (pid {p.pid}) is not running")
        procs.send(p.pid, procs.ALLOWED_SIGNALS[sig_name])
        if sig_name in ("TERM", "KILL"):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and procs.is_alive(p.pid):
                procs.reap(p.pid)
                time.sleep(0.05)
            p.stopped = True
            if p.drain_pid:
                procs.send(p.drain_pid, procs.ALLOWED_SIGNALS["CONT"])
            save(state)
        return p


def broker_stop(directory: Path, node_id: int) -> Proc:
    directory = directory.resolve()
    with locked(directory):
        state = load(directory)
        p = state.broker(node_id)
        procs.stop(p.pid, state.marker)
        p.stopped = True
        save(state)
        return p


def broker_start(directory: Path, node_id: int, wait: bool = True) -> Proc:
    directory = directory.resolve()
    with locked(directory):
        state = load(directory)
        p = state.broker(node_id)
        if procs.owns(p.pid, state.marker):
            raise SandboxError(f"broker {node_id} is already running (pid {p.pid})")
        p.pid = procs.spawn(p.argv, Path(p.log))
        p.stopped = False
        save(state)
        write_service_files(state)
    if wait:
        deadline = time.monotonic() + READY_TIMEOUT
        _wait_jvm_port(state, p, deadline)
        ids = {q.node_id for q in state.processes if q.node_id is not None and not q.stopped}
        probe.wait_brokers(state.bootstrap, {i for i in ids if i is not None}, deadline)
    return p


def _stop_all(state: SandboxState) -> None:
    """Clients first (so they do not spin on a vanishing cluster), then the nodes."""
    clients = [p for p in state.processes if p.node_id is None]
    nodes = [p for p in state.processes if p.node_id is not None]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda p: procs.stop(p.pid, state.marker, grace=5), clients))
        for p in clients:
            if p.drain_pid:
                procs.stop(p.drain_pid, state.marker, grace=2)
        list(pool.map(lambda p: procs.stop(p.pid, state.marker, grace=20), nodes))
    for p in state.processes:
        p.stopped = True


def down(directory: Path) -> SandboxState:
    """Stop every process this sandbox started, by pid; leave the data for inspection."""
    directory = directory.resolve()
    with locked(directory):
        state = load(directory)
        _stop_all(state)
        save(state)
        return state


def status(directory: Path) -> list[dict[str, object]]:
    state = load(directory.resolve())
    rows: list[dict[str, object]] = []
    for p in state.processes:
        alive = procs.owns(p.pid, state.marker)
        rows.append(
            {
                "name": p.name,
                "role": p.role,
                "pid": p.pid,
                "jmx": p.jmx,
                "state": (
                    "frozen"
                    if alive and procs.is_stopped(p.pid)
                    else "running"
                    if alive
                    else "stopped"
                ),
                "node_id": p.node_id,
                "client_id": p.client_id,
                "group": p.group,
                "topic": p.topic,
            }
        )
    return rows


def _telemetry_section(directory: Path) -> str:
    """The token the brokers' telemetry plugin sends, for serve to accept (none without
    the plugin)."""
    tok = telemetry.token(directory)
    if tok is None:
        return ""
    return (
        "\n# KIP-714 pushes the brokers' plugin forwards carry this token "
        f"({telemetry.files(directory).token}).\n"
        "[clusters.telemetry]\n"
        f"tokens = [{json.dumps(tok)}]\n"
    )


def write_service_files(state: SandboxState) -> None:
    """``kafkascope.toml`` for the service and ``targets.json`` (Prometheus file_sd) listing
    every client JMX endpoint, so clients are found as they come and go."""
    directory = Path(state.dir)
    targets = [
        {
            "targets": [p.jmx],
            "labels": {
                k: v
                for k, v in {
                    "name": p.name,
                    "role": p.role,
                    "client_id": p.client_id or "",
                    "group": p.group or "",
                    "topic": p.topic or "",
                }.items()
                if v
            },
        }
        for p in state.processes
        if p.node_id is None and p.jmx  # a Python client has no JMX to list
    ]
    tmp = directory / "targets.json.tmp"
    tmp.write_text(json.dumps(targets, indent=2) + "\n")
    os.replace(tmp, directory / "targets.json")

    # TOML basic strings take JSON's escapes, so json.dumps quotes paths safely.
    def q(value: object) -> str:
        return json.dumps(str(value))

    broker_jmx = "\n".join(
        f"{q(p.node_id)} = {q(p.jmx)}" for p in state.processes if p.node_id is not None
    )
    secure = ""
    if state.jmx_tls:
        f = jmx_tls.files(directory)
        secure = (
            "# Every JVM's JMX uses TLS (registry plain) and a password: sandbox up --jmx-tls.\n"
            "[clusters.jmx]\n"
            f"username = {q(jmx_tls.USERNAME)}\n"
            f"password_file = {q(f.monitor_password)}\n"
            "ssl = true\n"
            f"truststore = {q(f.truststore)}\n"
            f"truststore_password_file = {q(f.truststore_password)}\n\n"
        )
    tmp = directory / "kafkascope.toml.tmp"
    tmp.write_text(
        "# Written by 'kafkascope sandbox up' for this sandbox; the schema is\n"
        "# docs/config-reference.md. Check it with: kafkascope check-config FILE\n"
        "[service]\n"
        f"data_dir = {q(directory / 'data')}\n\n"
        "[[clusters]]\n"
        'name = "sandbox"\n'
        f"bootstrap = {q(state.bootstrap)}\n"
        "# Faster than the 5 s default, for a lively demo.\n"
        'client_interval = "2s"\n\n'
        f"{secure}"
        "# Every node's own JMX port (brokers and controllers), by node id.\n"
        "[clusters.jmx.brokers]\n"
        f"{broker_jmx}\n\n"
        "# Client JVMs come and go: the sandbox keeps targets.json current.\n"
        "[clusters.jmx.clients]\n"
        f"file_sd = {q(directory / 'targets.json')}\n"
        f"{_telemetry_section(directory)}"
    )
    os.replace(tmp, directory / "kafkascope.toml")

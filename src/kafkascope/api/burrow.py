"""Burrow's HTTP API, version 3, served from kafkascope's live state, so the tools built on
it (burrow-dashboard, BurrowUI, burrow_exporter, Telegraf's ``burrow`` input) work unchanged.

The shapes are Burrow 1.x's (``linkedin/Burrow``): the envelope and payload names of
``core/internal/httpserver/structs.go``, the routes, messages and status codes of
``httpserver/coordinator.go`` and ``httpserver/kafka.go``, the status object of
``core/protocol/evaluator.go`` (``ConsumerGroupStatus``, ``PartitionStatus``) with the
``/status`` filter and the NOTFOUND answer of ``core/internal/evaluator/caching.go``, and
the consumer detail of ``core/protocol/storage.go`` (``ConsumerPartition``,
``ConsumerOffset``) as ``core/internal/storage/inmemory.go`` fills it. What that means here:

* every JSON answer is ``{"error", "message", <payload>, "request"}``; ``request`` holds
  Burrow's ``url`` (the path) and ``host`` (this machine's name), plus the ``cluster``,
  ``group`` and ``topic`` of Burrow 0.x's request info ("" when not in the path);
* statuses by Burrow's names (group: NOTFOUND, OK, WARN, ERR; partition: OK, WARN, STOP,
  STALL, REWIND); ``/status`` lists only the partitions worse than OK, ``/lag`` all of
  them; an unknown group is 404 with ``error: false`` and a NOTFOUND status object;
* times are integer milliseconds since the epoch, offsets and lags integers; a string
  Burrow may leave empty is ``""``, never ``null``;
* a consumer's detail maps each topic to a list indexed by partition, each with its
  window as Burrow's ring: ``intervals`` slots, empty ones ``null`` and first, then the
  commits oldest first; ``current-lag`` keeps Burrow's hyphen.

``status`` is Burrow's verdict from the offset windows alone. What kafkascope knows beyond
it is *added*, never renamed: ``lag_seconds`` (group and partition), and on the status
object ``kafkascope_status`` (the group's status with its members' verdicts, as
``/api/v1`` reports it), ``reason``, ``worst`` and ``member_problems``.

A poller sees a committed offset when it polls, not the commit itself: a point's
``timestamp`` and ``observedAt`` are both when kafkascope first saw it.

Access: the same tokens as the rest of the API, by the guard's own rule
(:func:`kafkascope.api.guard.denial`), plus what old clients can send: the token as the
password of HTTP basic auth (Telegraf's ``username``/``password``), and, with
``[service] burrow_unauthenticated_on_loopback``, nothing at all for a read that arrives
on a loopback address from a loopback address. ``/burrow/admin`` (``GOOD``) and
``/burrow/admin/ready`` need no token, like ``/api/v1/health``. :class:`BurrowFront`
takes Burrow's paths before the guard and serves them from their own small app, so none
of this reaches any other endpoint.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import socket
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from kafkascope.api.guard import READ_METHODS, Access, Tokens, denial, presented_token
from kafkascope.config import Config
from kafkascope.evaluate.lag import OffsetPoint, PartitionVerdict, PartitionWindow
from kafkascope.model import Status
from kafkascope.monitor.brokers import BrokerReport
from kafkascope.monitor.lag_report import GroupReport, LagReport
from kafkascope.monitor.live import LiveState

__all__ = [
    "BurrowFront",
    "burrow_app",
    "consumer_topics",
    "envelope",
    "error_body",
    "group_status",
    "is_burrow_path",
    "known_groups",
    "loopback_request",
    "mount_burrow",
    "offset_json",
    "partition_json",
    "request_info",
    "topic_offsets",
]

#: Burrow's health checks: no token needed (they say nothing about the clusters).
PUBLIC = frozenset({"/burrow/admin", "/burrow/admin/ready"})
V3 = "/v3/"
HOST = socket.gethostname()


class BurrowBackend(Protocol):
    """What the Burrow endpoints read (``api.app.Backend`` has it; so does the service).
    The service's ``config``, when the backend has one, gives the cluster detail and
    ``[service] burrow_unauthenticated_on_loopback``."""

    @property
    def live(self) -> LiveState: ...
    @property
    def read_tokens(self) -> Sequence[str]: ...
    @property
    def admin_tokens(self) -> Sequence[str]: ...


def is_burrow_path(path: str) -> bool:
    """Burrow's paths: ``/v3/...`` and ``/burrow/admin[/ready]``."""
    return path.startswith(V3) or path in PUBLIC


# --------------------------------------------------------------------------------------
# The mapping: kafkascope's reports -> Burrow's JSON (pure, pinned by tests/unit)
# --------------------------------------------------------------------------------------


def request_info(path: str, cluster: str = "", group: str = "", topic: str = "") -> dict[str, str]:
    """Burrow 1.x's ``{url, host}``, and Burrow 0.x's ``cluster``, ``group``, ``topic``."""
    return {"url": path, "host": HOST, "cluster": cluster, "group": group, "topic": topic}


def envelope(message: str, request: dict[str, str], **payload: Any) -> dict[str, Any]:
    """A successful answer, keys in Burrow's order: error, message, payload, request."""
    return {"error": False, "message": message, **payload, "request": request}


def error_body(message: str, request: dict[str, str]) -> dict[str, Any]:
    """Burrow's ``httpResponseError``."""
    return {"error": True, "message": message, "request": request}


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def offset_json(p: OffsetPoint) -> dict[str, int]:
    """Burrow's ``ConsumerOffset``: offset, timestamp, observedAt (ms), lag at commit."""
    at = _ms(p.timestamp)
    return {"offset": p.offset, "timestamp": at, "observedAt": at, "lag": p.lag}


def _owner(host: str | None) -> str:
    """Burrow shows the client host as the broker stores it, with Java's leading "/"
    (``/10.0.0.5``); kafkascope's members hold it without."""
    if not host:
        return ""
    return host if "/" in host else f"/{host}"


def partition_json(v: PartitionVerdict) -> dict[str, Any]:
    """Burrow's ``PartitionStatus``, plus ``lag_seconds``. ``complete`` is the fraction of
    the window filled (Burrow's float, not kafkascope's full-or-not bool)."""
    return {
        "topic": v.topic,
        "partition": v.partition,
        "owner": _owner(v.owner),
        "client_id": v.client_id or "",
        "status": v.status.name,
        "start": offset_json(v.start) if v.start is not None else None,
        "end": offset_json(v.end) if v.end is not None else None,
        "current_lag": v.current_lag,
        "complete": v.fill,
        "lag_seconds": v.lag_seconds,
    }


def _sorted(partitions: Iterable[PartitionVerdict]) -> list[PartitionVerdict]:
    return sorted(partitions, key=lambda v: (v.topic, v.partition))


def group_status(
    cluster: str, group: str, g: GroupReport | None, *, show_all: bool
) -> dict[str, Any]:
    """Burrow's ``ConsumerGroupStatus`` for ``/lag`` (``show_all``) or ``/status`` (only the
    partitions worse than OK), plus kafkascope's fields. A group Burrow would not know
    (never seen, or no partition with a window) is NOTFOUND with Burrow's fixed figures:
    complete 1, no partitions, no maxlag, no lag."""
    v = g.verdict if g is not None else None
    if v is None or v.partition_count == 0:
        body: dict[str, Any] = {
            "cluster": cluster,
            "group": group,
            "status": Status.NOTFOUND.name,
            "complete": 1.0,
            "partitions": [],
            "partition_count": 0,
            "maxlag": None,
            "totallag": 0,
        }
    else:
        shown = _sorted(v.partitions)
        if not show_all:
            shown = [p for p in shown if p.status > Status.OK]
        body = {
            "cluster": cluster,
            "group": group,
            "status": v.status.name,
            "complete": v.complete,
            "partitions": [partition_json(p) for p in shown],
            "partition_count": v.partition_count,
            "maxlag": partition_json(v.max_lag) if v.max_lag is not None else None,
            "totallag": v.total_lag,
        }
    body["lag_seconds"] = g.lag_seconds if g is not None else None
    body["kafkascope_status"] = (g.status if g is not None else Status.NOTFOUND).name
    body["reason"] = g.reason if g is not None else ""
    worst = v.worst if v is not None else None
    body["worst"] = f"{worst.topic}-{worst.partition}" if worst is not None else None
    body["member_problems"] = [p.to_dict() for p in g.member_problems] if g is not None else []
    return body


def _ring(w: PartitionWindow) -> list[dict[str, int] | None]:
    """The window as Burrow's ring reads out: ``intervals`` slots, empty ones first."""
    points = w.committed[-w.intervals :]
    return [None] * (w.intervals - len(points)) + [offset_json(p) for p in points]


def _empty_partition() -> dict[str, Any]:
    """A partition of a consumed topic the group has no commit for, as Burrow lists it."""
    return {"offsets": [], "owner": "", "client_id": "", "current-lag": 0}


def consumer_topics(g: GroupReport, partition_counts: Mapping[str, int]) -> dict[str, list[Any]]:
    """Burrow's ``ConsumerTopics``: topic -> one entry per partition of the topic (its
    count from the cluster metadata, else up to the highest partition seen), each with
    ``offsets`` (the ring), ``owner``, ``client_id``, ``current-lag``, and ``lag_seconds``."""
    verdicts = {(p.topic, p.partition): p for p in g.verdict.partitions}
    by_topic: dict[str, dict[int, PartitionWindow]] = {}
    for w in g.windows:
        by_topic.setdefault(w.topic, {})[w.partition] = w
    out: dict[str, list[Any]] = {}
    for topic in sorted(by_topic):
        windows = by_topic[topic]
        count = max(partition_counts.get(topic, 0), max(windows) + 1)
        rows: list[Any] = []
        for partition in range(count):
            window = windows.get(partition)
            if window is None:
                rows.append(_empty_partition())
                continue
            v = verdicts.get((topic, partition))
            rows.append(
                {
                    "offsets": _ring(window),
                    "owner": _owner(window.owner),
                    "client_id": window.client_id or "",
                    "current-lag": v.current_lag if v is not None else 0,
                    "lag_seconds": v.lag_seconds if v is not None else None,
                }
            )
        out[topic] = rows
    return out


def known_groups(lag: LagReport | None) -> list[str]:
    """The groups Burrow would list: those with at least one partition window (Burrow
    knows a group from its first commit on)."""
    if lag is None:
        return []
    return sorted(name for name, g in lag.groups.items() if g.verdict.partition_count > 0)


def topic_offsets(
    brokers: BrokerReport | None, lag: LagReport | None, topic: str
) -> list[int] | None:
    """The topic's latest log-end offset per partition, in partition order (Burrow's
    ``StorageFetchTopic``); None when the topic is unknown. A partition whose end offset
    the metadata poll lacks takes the lag poll's; one neither knows is left out, as Burrow
    leaves out a partition it has no offset for."""
    if brokers is None:
        return None
    row = next((t for t in brokers.topics if t.name == topic), None)
    if row is None:
        return None
    fallback: dict[int, int] = {}
    for g in lag.groups.values() if lag is not None else ():
        for (t, partition), end in g.end_offsets.items():
            if t == topic:
                fallback[partition] = max(end, fallback.get(partition, end))
    out: list[int] = []
    for p in sorted(row.partitions, key=lambda p: p.partition):
        known = p.end_offset if p.end_offset is not None else fallback.get(p.partition)
        if known is not None:
            out.append(known)
    return out


def _split_servers(bootstrap: str) -> list[str]:
    return [s.strip() for s in bootstrap.split(",") if s.strip()]


def cluster_module(config: Config | None, cluster: str) -> dict[str, Any]:
    """Burrow's cluster module detail (``httpResponseConfigModuleCluster``) from the
    cluster's configuration: servers, a client profile (TLS and SASL settings without any
    secret, as Burrow shows them), and the refresh intervals in seconds."""
    c = next((c for c in config.clusters if c.name == cluster), None) if config else None
    if c is None:
        profile = {"name": "kafkascope", "client-id": "kafkascope", "kafka-version": "",
                   "tls": None, "sasl": None}  # fmt: skip
        return {"class-name": "kafka", "servers": [], "client-profile": profile,
                "topic-refresh": 0, "offset-refresh": 0}  # fmt: skip
    props = {k: v for k, v in c.client_properties.items() if isinstance(v, str)}
    protocol = props.get("security.protocol", "plaintext").lower()
    tls = None
    if "ssl" in protocol:
        tls = {
            "name": "kafkascope",
            "noverify": props.get("enable.ssl.certificate.verification", "true").lower() == "false",
            "certfile": props.get("ssl.certificate.location", ""),
            "keyfile": props.get("ssl.key.location", ""),
            "cafile": props.get("ssl.ca.location", ""),
        }
    sasl = None
    if "sasl" in protocol:
        sasl = {
            "name": "kafkascope",
            "handshake-first": True,
            "username": props.get("sasl.username", ""),
        }
    refresh = round(c.admin_interval)
    return {
        "class-name": "kafka",
        "servers": _split_servers(c.bootstrap),
        "client-profile": {
            "name": "kafkascope",
            "client-id": props.get("client.id", "kafkascope"),
            "kafka-version": "",
            "tls": tls,
            "sasl": sasl,
        },
        "topic-refresh": refresh,
        "offset-refresh": refresh,
    }


# --------------------------------------------------------------------------------------
# Access: the guard's rule, plus basic auth and loopback for old clients
# --------------------------------------------------------------------------------------


def _is_loopback_host(host: object) -> bool:
    if not isinstance(host, str):
        return False
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def loopback_request(scope: Scope) -> bool:
    """The request came in on a loopback address (the socket it was accepted on) from a
    loopback address: only a process on this machine can have sent it."""
    server, client = scope.get("server"), scope.get("client")
    return bool(server and client and _is_loopback_host(server[0]) and _is_loopback_host(client[0]))


def basic_password(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The password of an ``Authorization: Basic`` header (user ignored), as bytes."""
    for name, value in headers:
        if name.lower() == b"authorization":
            scheme, _, encoded = value.strip().partition(b" ")
            if scheme.lower() != b"basic":
                return None
            try:
                decoded = base64.b64decode(encoded.strip(), validate=True)
            except (binascii.Error, ValueError):
                return None
            _user, sep, password = decoded.partition(b":")
            return password if sep and password else None
    return None


def burrow_access(scope: Scope, tokens: Tokens, *, loopback_open: bool) -> Access:
    """What a request to a Burrow path may do: a bearer token as anywhere in the API; for
    a read also a token as basic-auth password, and with ``loopback_open`` a read from
    this machine over loopback with no token. Basic and loopback admit reads only."""
    headers: list[tuple[bytes, bytes]] = scope["headers"]
    access = tokens.access(presented_token(headers))
    if access != "none" or scope["method"] not in READ_METHODS:
        return access
    if scope["path"] in PUBLIC or (loopback_open and loopback_request(scope)):
        return "read"
    password = basic_password(headers)
    if password is not None and tokens.access(password) != "none":
        return "read"
    return "none"


class BurrowFront:
    """ASGI middleware in front of the app's guard: Burrow's paths are decided here (the
    guard's :func:`~kafkascope.api.guard.denial` over :func:`burrow_access`) and served by
    ``burrow`` (their own app); every other path goes on to ``app`` untouched."""

    def __init__(self, app: ASGIApp, burrow: ASGIApp, tokens: Tokens, loopback_open: bool) -> None:
        self.app = app
        self.burrow = burrow
        self.tokens = tokens
        self.loopback_open = loopback_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_burrow_path(scope["path"]):
            await self.app(scope, receive, send)
            return
        access = burrow_access(scope, self.tokens, loopback_open=self.loopback_open)
        refused = denial(self.tokens, scope["method"], scope["path"], access)
        if refused is None:
            await self.burrow(scope, receive, send)
            return
        status, message = refused
        body = json.dumps(error_body(message, request_info(scope["path"]))).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        if status == 401:
            headers += [
                (b"www-authenticate", b"Bearer"),
                (b"www-authenticate", b'Basic realm="kafkascope"'),
            ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


# --------------------------------------------------------------------------------------
# The endpoints
# --------------------------------------------------------------------------------------


def _config_of(backend: BurrowBackend) -> Config | None:
    config = getattr(backend, "config", None)
    return config if isinstance(config, Config) else None


def burrow_app(backend: BurrowBackend) -> FastAPI:
    """Burrow's read endpoints as an app of their own (served through :class:`BurrowFront`)."""
    app = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    live = backend.live

    def answer(status: int, body: dict[str, Any]) -> JSONResponse:
        return JSONResponse(body, status_code=status)

    def not_found(request: Request, message: str, **where: str) -> JSONResponse:
        return answer(404, error_body(message, request_info(request.url.path, **where)))

    @app.exception_handler(StarletteHTTPException)
    async def unknown(request: Request, exc: StarletteHTTPException) -> Response:
        """Burrow's router: an unknown path is 404 ``invalid request type``."""
        message = "invalid request type" if exc.status_code == 404 else str(exc.detail).lower()
        return answer(
            exc.status_code, {**error_body(message, request_info(request.url.path)), "result": {}}
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        return answer(400, error_body("bad request", request_info(request.url.path)))

    @app.get("/burrow/admin")
    def admin() -> Response:
        return PlainTextResponse("GOOD")

    @app.get("/burrow/admin/ready")
    def ready() -> Response:
        """READY once every cluster has had its first lag poll, else 503 STARTING."""
        clusters = live.clusters.values()
        if clusters and all(c.lag is not None for c in clusters):
            return PlainTextResponse("READY")
        return PlainTextResponse("STARTING", status_code=503)

    @app.get("/v3/kafka")
    def clusters(request: Request) -> Response:
        info = request_info(request.url.path)
        return answer(200, envelope("cluster list returned", info, clusters=sorted(live.clusters)))

    @app.get("/v3/kafka/{cluster}")
    def cluster_detail(request: Request, cluster: str) -> Response:
        if live.cluster(cluster) is None:
            return not_found(request, "cluster module not found", cluster=cluster)
        info = request_info(request.url.path, cluster=cluster)
        module = cluster_module(_config_of(backend), cluster)
        return answer(200, envelope("cluster module detail returned", info, module=module))

    @app.get("/v3/kafka/{cluster}/topic")
    def topics(request: Request, cluster: str) -> Response:
        c = live.cluster(cluster)
        if c is None:
            return not_found(request, "cluster not found", cluster=cluster)
        names = sorted(t.name for t in c.brokers.topics) if c.brokers else []
        info = request_info(request.url.path, cluster=cluster)
        return answer(200, envelope("topic list returned", info, topics=names))

    @app.get("/v3/kafka/{cluster}/topic/{topic}")
    def topic(request: Request, cluster: str, topic: str) -> Response:
        c = live.cluster(cluster)
        offsets = topic_offsets(c.brokers, c.lag, topic) if c is not None else None
        if offsets is None:
            return not_found(request, "cluster or topic not found", cluster=cluster, topic=topic)
        info = request_info(request.url.path, cluster=cluster, topic=topic)
        return answer(200, envelope("topic offsets returned", info, offsets=offsets))

    @app.get("/v3/kafka/{cluster}/topic/{topic}/consumers")
    def topic_consumers(request: Request, cluster: str, topic: str) -> Response:
        c = live.cluster(cluster)
        if c is None:
            return not_found(request, "cluster not found", cluster=cluster, topic=topic)
        names = [
            name
            for name in known_groups(c.lag)
            if c.lag is not None and any(w.topic == topic for w in c.lag.groups[name].windows)
        ]
        info = request_info(request.url.path, cluster=cluster, topic=topic)
        return answer(200, envelope("consumers of topic returned", info, consumers=names))

    @app.get("/v3/kafka/{cluster}/consumer")
    def consumers(request: Request, cluster: str) -> Response:
        c = live.cluster(cluster)
        if c is None:
            return not_found(request, "cluster not found", cluster=cluster)
        info = request_info(request.url.path, cluster=cluster)
        return answer(200, envelope("consumer list returned", info, consumers=known_groups(c.lag)))

    def status(request: Request, cluster: str, group: str, show_all: bool) -> Response:
        c = live.cluster(cluster)
        g = c.lag.groups.get(group) if c is not None and c.lag is not None else None
        body = group_status(cluster, group, g, show_all=show_all)
        code = 404 if body["status"] == Status.NOTFOUND.name else 200
        info = request_info(request.url.path, cluster=cluster, group=group)
        return answer(code, envelope("consumer status returned", info, status=body))

    # ``:path``: a group id may hold '/'. The two suffixed routes come first.
    @app.get("/v3/kafka/{cluster}/consumer/{group:path}/status")
    def consumer_status(request: Request, cluster: str, group: str) -> Response:
        return status(request, cluster, group, show_all=False)

    @app.get("/v3/kafka/{cluster}/consumer/{group:path}/lag")
    def consumer_lag(request: Request, cluster: str, group: str) -> Response:
        return status(request, cluster, group, show_all=True)

    @app.get("/v3/kafka/{cluster}/consumer/{group:path}")
    def consumer_detail(request: Request, cluster: str, group: str) -> Response:
        c = live.cluster(cluster)
        g = c.lag.groups.get(group) if c is not None and c.lag is not None else None
        if c is None or g is None or g.verdict.partition_count == 0:
            return not_found(request, "cluster or consumer not found", cluster=cluster, group=group)
        counts = {t.name: len(t.partitions) for t in c.brokers.topics} if c.brokers else {}
        info = request_info(request.url.path, cluster=cluster, group=group)
        body = envelope("consumer detail returned", info, topics=consumer_topics(g, counts))
        return answer(200, body)

    return app


def mount_burrow(app: FastAPI, backend: BurrowBackend) -> None:
    """Serve Burrow's endpoints in front of ``app``'s guard (call after the guard is added:
    the middleware added last runs first)."""
    config = _config_of(backend)
    loopback_open = bool(config and config.service.burrow_unauthenticated_on_loopback)
    tokens = Tokens.of(backend.read_tokens, backend.admin_tokens)
    app.add_middleware(
        BurrowFront, burrow=burrow_app(backend), tokens=tokens, loopback_open=loopback_open
    )

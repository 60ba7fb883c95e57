"""The HTTP API: REST JSON under ``/api/v1``, Prometheus ``/metrics``, the OpenAPI document.

``create_app(backend)`` takes everything it serves as an argument (no globals), so tests
build it around a real service or a stand-in. Bad input never becomes a 500: unknown
names are 404 with a JSON error, malformed parameters 422 (FastAPI's validation), and
missing or wrong tokens 401/403 when tokens are configured: decided by
:class:`kafkascope.api.guard.Guard` from the headers, before any body is read.
"""

from __future__ import annotations

import functools
import math
import time
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response

from kafkascope import __version__
from kafkascope.api import views
from kafkascope.api.backend import AckIn, AlertsBackend, Backend, SilenceIn
from kafkascope.api.burrow import mount_burrow
from kafkascope.api.cached import JsonBytes, PerReport
from kafkascope.api.console import mount_console
from kafkascope.api.guard import DEFAULT_MAX_BODY, Guard, Tokens, access_of, may_read
from kafkascope.api.metrics import CONTENT_TYPE, render
from kafkascope.api.query import TooManyPoints, run_query
from kafkascope.monitor.live import ClusterLive
from kafkascope.service.own import OwnSources, own_figures


def create_app(backend: Backend, *, max_body: int = DEFAULT_MAX_BODY) -> FastAPI:
    """The app; ``max_body`` caps a request body in bytes (413 over it)."""
    app = FastAPI(
        title="kafkascope",
        version=__version__,
        description="Kafka brokers, topics, consumer groups, clients and alerts.",
    )
    # The guard decides access for every route by its method (GET/HEAD read, anything
    # else admin) before the body is read. The route dependencies below only check that
    # it did: without the guard in front they refuse everything (they fail closed).
    app.add_middleware(
        Guard, tokens=Tokens.of(backend.read_tokens, backend.admin_tokens), max_body=max_body
    )

    def need_read(request: Request) -> None:
        if not may_read(request):
            raise HTTPException(401, "a token is required: send 'Authorization: Bearer TOKEN'")

    def need_admin(request: Request) -> None:
        if access_of(request) != "admin":
            raise HTTPException(403, "an admin token is required")

    read = [Depends(need_read)]
    admin = [Depends(need_admin)]

    def cluster(name: str) -> ClusterLive:
        live = backend.live.cluster(name)
        if live is None:
            known = ", ".join(sorted(backend.live.clusters)) or "none"
            raise HTTPException(404, f"unknown cluster '{name}' (known: {known})")
        return live

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": exc.detail, "status": exc.status_code},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        """422 naming each bad field, without echoing the input: a rejected NaN or
        Infinity cannot be written as JSON, and FastAPI's own handler then fails with 500."""
        problems = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        text = "; ".join(
            f"{'.'.join(str(part) for part in p['loc'])}: {p['msg']}" for p in problems
        )
        return JSONResponse({"error": text, "status": 422, "detail": problems}, status_code=422)

    @app.get("/api/v1/health")
    def health(request: Request) -> dict[str, Any]:
        """The service's status (no token needed); with a token, or with no token
        configured, also each monitoring job's runs, failures and last error."""
        body = backend.health()
        return body if may_read(request) else {"status": body["status"]}

    @app.get("/api/v1/clusters", dependencies=read)
    def clusters() -> dict[str, Any]:
        return {"clusters": [views.cluster_summary(c) for c in backend.live.clusters.values()]}

    @app.get("/api/v1/clusters/{name}", dependencies=read)
    def cluster_one(name: str) -> dict[str, Any]:
        return views.cluster_summary(cluster(name))

    # The lists only change when a report is swapped: each body is built and encoded once
    # per report (api/cached.py) and served as bytes, with an ETag (304 on a match).
    lists: PerReport[JsonBytes] = PerReport()

    def once_per_report(
        request: Request, key: tuple[str, str], reports: tuple[object, ...], build: Any
    ) -> Response:
        body = lists.get(key, reports, lambda: JsonBytes.of(build()))
        headers = {"etag": body.etag, "cache-control": "no-cache", "vary": "accept-encoding"}
        if body.matches(request.headers.get("if-none-match")):
            return Response(status_code=304, headers=headers)
        packed = body.packed_for(request.headers.get("accept-encoding"))
        if packed is not None:
            headers["content-encoding"] = "gzip"
            return Response(packed, media_type="application/json", headers=headers)
        return Response(body.body, media_type="application/json", headers=headers)

    @app.get("/api/v1/clusters/{name}/brokers", dependencies=read)
    def brokers(name: str, request: Request) -> Response:
        c = cluster(name)
        b = c.brokers
        return once_per_report(
            request,
            (name, "brokers"),
            (b,),
            lambda: {
                "cluster": name,
                "taken_at": b.taken_at if b else None,
                "error": b.metadata_error if b else None,
                "brokers": [views.broker_json(x) for x in (b.brokers if b else ())],
            },
        )

    @app.get("/api/v1/clusters/{name}/topics", dependencies=read)
    def topics(name: str, request: Request) -> Response:
        c = cluster(name)
        b = c.brokers
        return once_per_report(
            request,
            (name, "topics"),
            (b,),
            lambda: {
                "cluster": name,
                "topics": [views.topic_json(t, detail=False) for t in (b.topics if b else ())],
            },
        )

    @app.get("/api/v1/clusters/{name}/topics/{topic}", dependencies=read)
    def topic(name: str, topic: str) -> dict[str, Any]:
        c = cluster(name)
        for t in c.brokers.topics if c.brokers else ():
            if t.name == topic:
                return views.topic_json(t, detail=True)
        raise HTTPException(404, f"unknown topic '{topic}' in cluster '{name}'")

    @app.get("/api/v1/clusters/{name}/groups", dependencies=read)
    def groups(name: str, request: Request) -> Response:
        c = cluster(name)
        lag, clients = c.lag, c.clients
        return once_per_report(
            request,
            (name, "groups"),
            (lag, clients),
            lambda: {
                "cluster": name,
                "taken_at": lag.taken_at if lag else None,
                "groups": [
                    views.group_json(g, clients, detail=True)
                    for g in sorted(lag.groups.values() if lag else (), key=lambda g: g.group)
                ],
            },
        )

    # ``:path``: a group id may hold '/' (as is or as %2F, which is decoded before routing).
    @app.get("/api/v1/clusters/{name}/groups/{group:path}", dependencies=read)
    def group(name: str, group: str) -> dict[str, Any]:
        c = cluster(name)
        if c.lag is None or group not in c.lag.groups:
            raise HTTPException(
                404, f"unknown consumer group '{group}' in cluster '{name}' (status NOTFOUND)"
            )
        return views.group_json(c.lag.groups[group], c.clients, detail=True)

    @app.get("/api/v1/clusters/{name}/clients", dependencies=read)
    def clients(name: str, request: Request) -> Response:
        c = cluster(name)
        report = c.clients
        return once_per_report(
            request,
            (name, "clients"),
            (report,),
            lambda: {
                "cluster": name,
                "taken_at": report.taken_at if report else None,
                "clients": views.client_rows(c),
            },
        )

    @app.delete("/api/v1/clusters/{name}/clients/{client_id:path}", dependencies=admin)
    def forget_client(
        name: str,
        client_id: str,
        target: Annotated[
            str | None, Query(max_length=300, description="only the client on this JMX target")
        ] = None,
    ) -> dict[str, Any]:
        cluster(name)
        forgotten = backend.forget_client(name, client_id, target)
        if not forgotten:
            on = f" on {target}" if target else ""
            raise HTTPException(404, f"no client '{client_id}'{on} is known in cluster '{name}'")
        return {"cluster": name, "forgotten": forgotten}

    @app.get("/api/v1/metrics/query", dependencies=read)
    def query(
        name: Annotated[str, Query(min_length=1, max_length=200)],
        labels: Annotated[
            str, Query(max_length=2000, description="k=v pairs, comma-separated")
        ] = "",
        from_: Annotated[
            float | None, Query(alias="from", description="unix seconds; default now-1h")
        ] = None,
        to: Annotated[float | None, Query(description="unix seconds; default now")] = None,
        step: Annotated[float | None, Query(gt=0, le=86400)] = None,
    ) -> dict[str, Any]:
        """History of one series name; ``step`` defaults to (to-from)/500, and an answer
        holds at most 50,000 points over all its series (see ``api/query.py``)."""
        now = time.time()
        end = now if to is None else to
        start = end - 3600 if from_ is None else from_
        if not (math.isfinite(start) and math.isfinite(end)) or start > end:
            raise HTTPException(422, "'from' must be a time before 'to' (unix seconds)")
        selector: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in labels.split(","))):
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise HTTPException(422, f"label selector '{part}' is not key=value")
            selector[k.strip()] = v.strip()
        try:
            return run_query(backend.history, name, selector, start, end, step, now)
        except TooManyPoints as e:
            raise HTTPException(422, str(e)) from None

    @app.get("/api/v1/metrics/names", dependencies=read)
    def names() -> dict[str, Any]:
        return {"names": backend.history.names()}

    def alerts_backend() -> AlertsBackend:
        if backend.alerts is None:
            raise HTTPException(404, "alerting is not running")
        return backend.alerts

    @app.get("/api/v1/alerts", dependencies=read)
    def alerts(
        state: Annotated[str | None, Query(pattern="^(pending|firing|resolved)$")] = None,
    ) -> dict[str, Any]:
        return {"alerts": alerts_backend().list_alerts(state)}

    @app.post("/api/v1/alerts/{alert_id}/ack", dependencies=admin)
    def ack(alert_id: str, body: AckIn | None = None) -> dict[str, Any]:
        try:
            given = body or AckIn()
            return alerts_backend().ack_alert(alert_id, given.by, given.note)
        except KeyError:
            raise HTTPException(404, f"unknown alert '{alert_id}'") from None
        except ValueError as e:
            raise HTTPException(409, str(e)) from None

    @app.get("/api/v1/silences", dependencies=read)
    def silences() -> dict[str, Any]:
        return {"silences": alerts_backend().list_silences()}

    @app.post("/api/v1/silences", status_code=201, dependencies=admin)
    def add_silence(body: SilenceIn, request: Request) -> dict[str, Any]:
        if body.duration is None and body.expires_at is None:
            raise HTTPException(422, "give 'duration' (seconds) or 'expires_at' (unix seconds)")
        try:
            return alerts_backend().add_silence(
                body, by=request.client.host if request.client else "api"
            )
        except ValueError as e:
            raise HTTPException(422, str(e)) from None

    @app.delete("/api/v1/silences/{silence_id}", dependencies=admin)
    def delete_silence(silence_id: str) -> dict[str, Any]:
        if not alerts_backend().delete_silence(silence_id):
            raise HTTPException(404, f"unknown silence '{silence_id}'")
        return {"deleted": silence_id}

    @app.get("/metrics", include_in_schema=False, dependencies=read)
    def metrics() -> Response:
        counts = backend.alerts.alert_counts if backend.alerts is not None else None
        # the service's own figures (jobs, outbox, store, JMX reads) when it has them
        src = backend if isinstance(backend, OwnSources) else None
        own = functools.partial(own_figures, src) if src is not None else None
        return Response(render(backend.live, counts, own), media_type=CONTENT_TYPE)

    mount_console(app, backend)  # the web console under /ui (api/console/), '/' redirects there
    mount_burrow(app, backend)  # Burrow's /v3/kafka API, in front of the guard (api/burrow.py)
    return app

"""The HTTP API: REST JSON under ``/api/v1``, Prometheus ``/metrics``, the OpenAPI document.

``create_app(backend)`` takes everything it serves as an argument (no globals), so tests
build it around a real service or a stand-in. Bad input never becomes a 500: unknown
names are 404 with a JSON error, malformed parameters 422 (FastAPI's validation), and
missing or wrong tokens 401/403 when tokens are configured.
"""

from __future__ import annotations

import hmac
import math
import time
from collections.abc import Sequence
from typing import Annotated, Any, Protocol

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from kafkascope import __version__
from kafkascope.api import views
from kafkascope.api.metrics import CONTENT_TYPE, AlertCounts, render
from kafkascope.monitor.live import ClusterLive, LiveState
from kafkascope.store.history import History

MAX_POINTS = 11_000


class AlertsBackend(Protocol):
    def list_alerts(self, state: str | None) -> list[dict[str, Any]]: ...
    def ack_alert(self, alert_id: str, by: str) -> dict[str, Any]: ...
    def list_silences(self) -> list[dict[str, Any]]: ...
    def add_silence(self, spec: Any, by: str) -> dict[str, Any]: ...
    def delete_silence(self, silence_id: str) -> bool: ...
    def alert_counts(self) -> AlertCounts: ...


class Backend(Protocol):
    """What the API needs from the running service."""

    @property
    def live(self) -> LiveState: ...
    @property
    def history(self) -> History: ...
    @property
    def read_tokens(self) -> Sequence[str]: ...
    @property
    def admin_tokens(self) -> Sequence[str]: ...
    @property
    def alerts(self) -> AlertsBackend | None: ...

    def health(self) -> dict[str, Any]: ...


class SilenceIn(BaseModel):
    """A silence: label matchers (``{"cluster": "prod", "broker": "2"}``; a value starting
    with ``~`` is an anchored regex), for ``duration`` seconds or until ``expires_at``."""

    matchers: dict[str, str] = Field(min_length=1)
    duration: float | None = Field(default=None, gt=0, le=366 * 86400)
    expires_at: float | None = None
    comment: str = Field(default="", max_length=2000)


class AckIn(BaseModel):
    by: str = Field(default="api", min_length=1, max_length=200)


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.query_params.get("token")


def _matches(token: str | None, tokens: Sequence[str]) -> bool:
    return token is not None and any(hmac.compare_digest(token, t) for t in tokens)


def create_app(backend: Backend) -> FastAPI:
    app = FastAPI(
        title="kafkascope",
        version=__version__,
        description="Kafka brokers, topics, consumer groups, clients and alerts.",
    )

    def need_read(request: Request) -> None:
        if not backend.read_tokens and not backend.admin_tokens:
            return
        token = _bearer(request)
        if _matches(token, [*backend.read_tokens, *backend.admin_tokens]):
            return
        raise HTTPException(401, "a token is required: send 'Authorization: Bearer TOKEN'")

    def need_admin(request: Request) -> None:
        if not backend.admin_tokens:
            if backend.read_tokens:
                raise HTTPException(403, "no admin token is configured; changes are disabled")
            return
        token = _bearer(request)
        if _matches(token, backend.admin_tokens):
            return
        if _matches(token, backend.read_tokens):
            raise HTTPException(403, "this token is read-only; an admin token is required")
        raise HTTPException(401, "an admin token is required: send 'Authorization: Bearer TOKEN'")

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

    @app.get("/api/v1/health")
    def health() -> dict[str, Any]:
        """Liveness of the service itself and of each monitoring job (no token needed)."""
        return backend.health()

    @app.get("/api/v1/clusters", dependencies=read)
    def clusters() -> dict[str, Any]:
        return {"clusters": [views.cluster_summary(c) for c in backend.live.clusters.values()]}

    @app.get("/api/v1/clusters/{name}", dependencies=read)
    def cluster_one(name: str) -> dict[str, Any]:
        return views.cluster_summary(cluster(name))

    @app.get("/api/v1/clusters/{name}/brokers", dependencies=read)
    def brokers(name: str) -> dict[str, Any]:
        c = cluster(name)
        rows = c.brokers.brokers if c.brokers else ()
        return {
            "cluster": name,
            "taken_at": c.brokers.taken_at if c.brokers else None,
            "error": c.brokers.metadata_error if c.brokers else None,
            "brokers": [views.broker_json(b) for b in rows],
        }

    @app.get("/api/v1/clusters/{name}/topics", dependencies=read)
    def topics(name: str) -> dict[str, Any]:
        c = cluster(name)
        rows = c.brokers.topics if c.brokers else ()
        return {"cluster": name, "topics": [views.topic_json(t, detail=False) for t in rows]}

    @app.get("/api/v1/clusters/{name}/topics/{topic}", dependencies=read)
    def topic(name: str, topic: str) -> dict[str, Any]:
        c = cluster(name)
        for t in c.brokers.topics if c.brokers else ():
            if t.name == topic:
                return views.topic_json(t, detail=True)
        raise HTTPException(404, f"unknown topic '{topic}' in cluster '{name}'")

    # The groups listing only changes when the lag or clients report is swapped: built
    # once per pair of reports (the entry holds them, so an identity check is safe), not
    # once per request; the body is never mutated after it is built.
    groups_cache: dict[str, tuple[object, object, dict[str, Any]]] = {}

    @app.get("/api/v1/clusters/{name}/groups", dependencies=read)
    def groups(name: str) -> dict[str, Any]:
        c = cluster(name)
        lag, clients = c.lag, c.clients
        hit = groups_cache.get(name)
        if hit is not None and hit[0] is lag and hit[1] is clients:
            return hit[2]
        rows = lag.groups.values() if lag else ()
        body = {
            "cluster": name,
            "taken_at": lag.taken_at if lag else None,
            "groups": [
                views.group_json(g, clients, detail=True)
                for g in sorted(rows, key=lambda g: g.group)
            ],
        }
        groups_cache[name] = (lag, clients, body)
        return body

    @app.get("/api/v1/clusters/{name}/groups/{group}", dependencies=read)
    def group(name: str, group: str) -> dict[str, Any]:
        c = cluster(name)
        if c.lag is None or group not in c.lag.groups:
            raise HTTPException(
                404, f"unknown consumer group '{group}' in cluster '{name}' (status NOTFOUND)"
            )
        return views.group_json(c.lag.groups[group], c.clients, detail=True)

    @app.get("/api/v1/clusters/{name}/clients", dependencies=read)
    def clients(name: str) -> dict[str, Any]:
        c = cluster(name)
        return {
            "cluster": name,
            "taken_at": c.clients.taken_at if c.clients else None,
            "clients": views.client_rows(c),
        }

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
        now = time.time()
        end = now if to is None else to
        start = end - 3600 if from_ is None else from_
        if not (math.isfinite(start) and math.isfinite(end)) or start > end:
            raise HTTPException(422, "'from' must be a time before 'to' (unix seconds)")
        if step is not None and (end - start) / step > MAX_POINTS:
            raise HTTPException(
                422, f"too many points: (to-from)/step exceeds {MAX_POINTS}; use a larger step"
            )
        selector: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in labels.split(","))):
            k, sep, v = part.partition("=")
            if not sep or not k.strip():
                raise HTTPException(422, f"label selector '{part}' is not key=value")
            selector[k.strip()] = v.strip()
        series = backend.history.query(name, selector, start, end, step, now)
        return {
            "name": name,
            "from": start,
            "to": end,
            "step": step,
            "series": [
                {
                    "labels": s.labels,
                    "resolution": s.resolution,
                    "points": [[t, v] for t, v in s.points],
                }
                for s in series
            ],
        }

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
            return alerts_backend().ack_alert(alert_id, (body or AckIn()).by)
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
        return Response(render(backend.live, counts), media_type=CONTENT_TYPE)

    return app

"""The console's pages: each reads the live reports (or history, or the alert runner)
through the API's :class:`~kafkascope.api.app.Backend` and renders one template.

Lists take their filters and order from the query string (:mod:`tables`), so a view is a
permalink; the part of a page that changes is the template's ``live`` block, which htmx
polls (every :data:`POLL` seconds at most) and swaps in place, so a verdict changes on
screen without a reload. Each page says how old its data is, and says so loudly when a
report is older than three of its job's intervals or its job is failing.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from kafkascope.api import views
from kafkascope.api.cached import PerReport
from kafkascope.api.console import tables
from kafkascope.api.console.session import SESSION_COOKIE, Sessions, safe_next
from kafkascope.api.console.web import Packed, Renderer, Viewer, remember_csrf
from kafkascope.api.guard import CONSOLE_PREFIX
from kafkascope.api.query import TooManyPoints, run_query
from kafkascope.monitor.live import ClusterLive

if TYPE_CHECKING:
    from kafkascope.api.backend import Backend

POLL = 2.0  # seconds between live refreshes of a page, at most
RANGES = {"1h": 3600, "24h": 86400, "7d": 7 * 86400}
JOB_KINDS = (("brokers", "brokers"), ("lag", "groups and lag"), ("clients", "clients"))


def freshness(backend: Backend, live: ClusterLive, now: float) -> dict[str, Any]:
    """How old each report is, and which are stale (older than 3 intervals + 5 s, or
    their job failing), so a page never shows old data as if it were current."""
    jobs = backend.health().get("jobs", {})
    stale: list[str] = []
    ages: dict[str, float | None] = {}
    intervals: list[float] = []
    for kind, what in JOB_KINDS:
        report = getattr(live, kind)
        taken = report.taken_at if report is not None else None
        ages[kind] = None if taken is None else now - taken
        interval = float(jobs.get(f"{kind}:{live.name}", {}).get("interval") or 30.0)
        intervals.append(interval)
        if taken is None:
            stale.append(f"no {what} report yet")
        elif now - taken > 3 * interval + 5:
            stale.append(f"{what} data is {now - taken:.0f} s old (every {interval:g} s expected)")
    for job, error in sorted(live.errors.items()):
        stale.append(f"{job} is failing: {error}")
    return {"stale": stale, "ages": ages, "poll": max(1.0, min(POLL, *intervals))}


def series_labels(**labels: str | int | None) -> str:
    return ",".join(f"{k}={v}" for k, v in labels.items() if v is not None and v != "")


def register(app: FastAPI, backend: Backend, sessions: Sessions, renderer: Renderer) -> None:
    """Add every page to the console ``app``."""

    group_tables: PerReport[Packed] = PerReport()

    def cluster_of(name: str) -> ClusterLive:
        live = backend.live.cluster(name)
        if live is None:
            known = ", ".join(sorted(backend.live.clusters)) or "none"
            raise HTTPException(404, f"unknown cluster '{name}' (known: {known})")
        return live

    def base(request: Request, live: ClusterLive | None, section: str) -> dict[str, Any]:
        now = time.time()
        ctx: dict[str, Any] = {
            "clusters": sorted(backend.live.clusters),
            "cluster": live.name if live else None,
            "section": section,
            # Repeated keys (checkboxes) joined by commas: one canonical permalink form.
            "params": joined(request),
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
        }
        if live is not None:
            ctx.update(freshness(backend, live, now))
        return ctx

    def alerts_of(cluster: str | None, state: str | None) -> list[dict[str, Any]]:
        if backend.alerts is None:
            return []
        rows = backend.alerts.list_alerts(state)
        if cluster is not None:
            rows = [a for a in rows if a.get("labels", {}).get("cluster") in (cluster, None)]
        order = {"firing": 0, "pending": 1, "resolved": 2}
        rows.sort(key=lambda a: (order.get(a["state"], 3), a["rule"], a["id"]))
        return rows

    @app.get("/")
    def index(request: Request) -> Response:
        names = sorted(backend.live.clusters)
        if len(names) == 1:
            return RedirectResponse(f"{CONSOLE_PREFIX}/c/{names[0]}", status_code=303)
        summaries = [views.cluster_summary(backend.live.clusters[n]) for n in names]
        return renderer.page(request, "index.html", {**base(request, None, ""), "rows": summaries})

    # -- sign-in ---------------------------------------------------------------------------

    @app.get("/signin")
    def signin_form(request: Request, next: str = "") -> Response:
        return renderer.page(
            request,
            "signin.html",
            {
                **base(request, None, "signin"),
                "next": safe_next(next, f"{CONSOLE_PREFIX}/"),
                "required": sessions.required,
                "error": None,
            },
        )

    @app.post("/signin")
    def signin(request: Request) -> Response:
        form: dict[str, str] = request.state.form
        target = safe_next(form.get("next"), f"{CONSOLE_PREFIX}/")
        made = sessions.sign_in(form.get("token", ""))
        if made is None:
            return renderer.page(
                request,
                "signin.html",
                {
                    **base(request, None, "signin"),
                    "next": target,
                    "required": True,
                    "error": "That token is not one of the configured read or admin tokens.",
                },
                status=401,
            )
        sid, _ = made
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            path=CONSOLE_PREFIX,
            secure=request.url.scheme == "https",
            max_age=int(sessions.ttl),
        )
        return response

    @app.post("/signout")
    def signout(request: Request) -> Response:
        sessions.sign_out(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse(f"{CONSOLE_PREFIX}/signin", status_code=303)
        response.delete_cookie(
            SESSION_COOKIE, path=CONSOLE_PREFIX, httponly=True, samesite="strict"
        )
        return response

    # -- a cluster -------------------------------------------------------------------------

    @app.get("/c/{name}")
    def overview(request: Request, name: str) -> Response:
        live = cluster_of(name)
        summary = views.cluster_summary(live)
        groups = Counter(g.status.name for g in (live.lag.groups.values() if live.lag else ()))
        clients = Counter(r.liveness.value for r in (live.clients.clients if live.clients else ()))
        firing = [a for a in alerts_of(name, "firing")]
        return renderer.page(
            request,
            "overview.html",
            {
                **base(request, live, "overview"),
                "s": summary,
                "groups_by": sorted(
                    groups.items(), key=lambda kv: -tables.STATUS_VALUES.index(kv[0])
                ),
                "clients_by": sorted(
                    clients.items(), key=lambda kv: tables.LIVENESS_ORDER.get(kv[0], 99)
                ),
                "firing": firing,
                "labels": series_labels(cluster=name),
            },
        )

    @app.get("/c/{name}/groups")
    def groups(request: Request, name: str) -> Response:
        live = cluster_of(name)
        q = tables.parse_query(
            joined(request),
            filters={"status": tables.STATUS_VALUES},
            sorts=tables.GROUP_SORTS,
            default_sort="status",
            default_desc=True,
            bounds=tuple(tables.GROUP_BOUNDS),
        )
        ctx = base(request, live, "groups")
        lag = live.lag

        def table() -> Packed:
            return renderer.fragment(
                "_groups_table.html",
                {
                    **ctx,
                    "rows": tables.group_rows(lag, q),
                    "q": q,
                    "total": len(lag.groups) if lag else 0,
                },
            )

        # The table (1,000 rows is ~0.4 MB of HTML) only changes with the lag report or the
        # query string: rendered once per pair, the rest of the page per request.
        key = (name, tuple(sorted(ctx["params"].items())))
        return renderer.page(
            request,
            "groups.html",
            {
                **ctx,
                "q": q,
                "statuses": tables.STATUS_VALUES,
            },
            spliced=group_tables.get(key, (lag,), table),
        )

    @app.get("/c/{name}/groups/{group:path}")
    def group(request: Request, name: str, group: str, range: str = "1h") -> Response:
        live = cluster_of(name)
        if live.lag is None or group not in live.lag.groups:
            raise HTTPException(404, f"unknown consumer group '{group}' in cluster '{name}'")
        report = live.lag.groups[group]
        g = views.group_json(report, live.clients, detail=True)
        return renderer.page(
            request,
            "group.html",
            {
                **base(request, live, "groups"),
                "g": g,
                "window": tables.burrow_window(report),
                "range": range if range in RANGES else "1h",
                "ranges": RANGES,
                "labels": series_labels(cluster=name, group=group),
            },
        )

    @app.get("/c/{name}/clients")
    def clients(request: Request, name: str) -> Response:
        live = cluster_of(name)
        q = tables.parse_query(
            joined(request),
            filters={"liveness": tables.LIVENESS_VALUES, "kind": tables.KIND_VALUES},
            sorts=tables.CLIENT_SORTS,
            default_sort="liveness",
        )
        rows = tables.client_rows(live.clients, q)
        return renderer.page(
            request,
            "clients.html",
            {
                **base(request, live, "clients"),
                "rows": rows,
                "q": q,
                "verdicts": tables.LIVENESS_VALUES,
                "kinds": tables.KIND_VALUES,
            },
        )

    @app.get("/c/{name}/client")
    def client(
        request: Request,
        name: str,
        id: str = Query(max_length=500),
        target: str = Query("", max_length=300),
        range: str = "1h",
    ) -> Response:
        live = cluster_of(name)
        rows = live.clients.rows(id, target=target or None) if live.clients else []
        if not rows:
            raise HTTPException(404, f"no client '{id}' is known in cluster '{name}'")
        r = rows[0]
        return renderer.page(
            request,
            "client.html",
            {
                **base(request, live, "clients"),
                "r": r,
                "range": range if range in RANGES else "1h",
                "ranges": RANGES,
                "labels": series_labels(cluster=name, client_id=r.client_id, target=r.target),
            },
        )

    @app.get("/c/{name}/brokers")
    def brokers(request: Request, name: str) -> Response:
        live = cluster_of(name)
        rows = live.brokers.brokers if live.brokers else []
        return renderer.page(
            request,
            "brokers.html",
            {
                **base(request, live, "brokers"),
                "rows": [views.broker_json(b) for b in rows],
                "error": live.brokers.metadata_error if live.brokers else None,
            },
        )

    @app.get("/c/{name}/brokers/{broker}")
    def broker(request: Request, name: str, broker: int, range: str = "1h") -> Response:
        live = cluster_of(name)
        found = [b for b in (live.brokers.brokers if live.brokers else []) if b.id == broker]
        if not found:
            raise HTTPException(404, f"unknown broker {broker} in cluster '{name}'")
        return renderer.page(
            request,
            "broker.html",
            {
                **base(request, live, "brokers"),
                "b": views.broker_json(found[0]),
                "range": range if range in RANGES else "1h",
                "ranges": RANGES,
                "labels": series_labels(cluster=name, broker=broker),
            },
        )

    @app.get("/c/{name}/topics")
    def topics(request: Request, name: str) -> Response:
        live = cluster_of(name)
        rows = live.brokers.topics if live.brokers else []
        return renderer.page(
            request,
            "topics.html",
            {
                **base(request, live, "topics"),
                "rows": [views.topic_json(t, detail=False) for t in rows],
            },
        )

    @app.get("/c/{name}/topics/{topic}")
    def topic(request: Request, name: str, topic: str, range: str = "1h") -> Response:
        live = cluster_of(name)
        found = [t for t in (live.brokers.topics if live.brokers else []) if t.name == topic]
        if not found:
            raise HTTPException(404, f"unknown topic '{topic}' in cluster '{name}'")
        return renderer.page(
            request,
            "topic.html",
            {
                **base(request, live, "topics"),
                "t": views.topic_json(found[0], detail=True),
                "range": range if range in RANGES else "1h",
                "ranges": RANGES,
                "labels": series_labels(cluster=name, topic=topic),
            },
        )

    # -- alerts ----------------------------------------------------------------------------

    @app.get("/alerts")
    def alerts(request: Request, state: str = "") -> Response:
        wanted = state if state in ("pending", "firing", "resolved") else None
        silences = backend.alerts.list_silences() if backend.alerts is not None else []
        return renderer.page(
            request,
            "alerts.html",
            {
                **base(request, None, "alerts"),
                "rows": alerts_of(None, wanted),
                "state": wanted,
                "silences": silences,
                "running": backend.alerts is not None,
            },
        )

    def alerts_runner() -> Any:
        if backend.alerts is None:
            raise HTTPException(404, "alerting is not running")
        return backend.alerts

    def back_to_alerts(request: Request, note: str) -> Response:
        response = RedirectResponse(f"{CONSOLE_PREFIX}/alerts?done={note}", status_code=303)
        remember_csrf(request, response)
        return response

    @app.post("/alerts/{alert_id}/ack")
    def ack(request: Request, alert_id: str) -> Response:
        note = request.state.form.get("note", "").strip()
        try:
            alerts_runner().ack_alert(alert_id, "console", note[:2000])
        except KeyError:
            raise HTTPException(404, f"unknown alert '{alert_id}'") from None
        except ValueError as e:
            raise HTTPException(409, str(e)) from None
        return back_to_alerts(request, "acked")

    @app.post("/silences")
    def silence(request: Request) -> Response:
        from kafkascope.api.backend import SilenceIn

        form: dict[str, str] = request.state.form
        matchers: dict[str, str] = {}
        for part in filter(None, (p.strip() for p in form.get("matchers", "").split(","))):
            k, sep, v = part.partition("=")
            if not sep or not k.strip() or not v.strip():
                raise HTTPException(422, f"matcher '{part}' is not label=value (or label=~regex)")
            matchers[k.strip()] = v.strip()
        try:
            hours = float(form.get("hours", "") or "nan")
        except ValueError:
            hours = math.nan
        if not matchers or not math.isfinite(hours) or not 0 < hours <= 366 * 24:
            raise HTTPException(
                422, "give at least one matcher and a duration between 0 and 8784 hours"
            )
        spec = SilenceIn(
            matchers=matchers, duration=hours * 3600, comment=form.get("comment", "")[:2000]
        )
        viewer: Viewer = request.state.viewer
        try:
            alerts_runner().add_silence(spec, by=f"console ({viewer.access})")
        except ValueError as e:
            raise HTTPException(422, str(e)) from None
        return back_to_alerts(request, "silenced")

    @app.post("/silences/{silence_id}/expire")
    def expire(request: Request, silence_id: str) -> Response:
        if not alerts_runner().delete_silence(silence_id):
            raise HTTPException(404, f"unknown silence '{silence_id}'")
        return back_to_alerts(request, "expired")

    # -- chart data ------------------------------------------------------------------------

    @app.get("/data/series")
    def series(
        name: str = Query(min_length=1, max_length=200),
        labels: str = Query("", max_length=2000),
        range: str = "1h",
    ) -> Response:
        """History for a chart: the API's query (same step and point caps), read with the
        console's session rather than a bearer token."""
        selector = {}
        for part in filter(None, (p.strip() for p in labels.split(","))):
            k, _, v = part.partition("=")
            selector[k.strip()] = v.strip()
        now = time.time()
        try:
            body = run_query(backend.history, name, selector, now - range_of(range), now, None, now)
        except TooManyPoints as e:
            raise HTTPException(422, str(e)) from None
        return JSONResponse(body)


def joined(request: Request) -> dict[str, str]:
    """The query string with repeated keys joined by commas (``status=OK&status=WARN`` is
    ``status=OK,WARN``)."""
    return {k: ",".join(request.query_params.getlist(k)) for k in request.query_params}


def range_of(name: str) -> int:
    """Seconds of a chart range (``1h``, ``24h``, ``7d``); anything else is the hour."""
    return RANGES.get(name, RANGES["1h"])

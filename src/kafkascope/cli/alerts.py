"""``kafkascope alerts``: the alerts the service tracks, as a table or JSON.

The service is the authority on alert state, so the command asks it first: at ``--url``,
or else at the ``[service] listen`` address of ``--config``. When nothing answers there
(the service is stopped, or runs elsewhere), it reads the state the service last stored in
its SQLite file under ``data_dir`` (written in the same transaction as every evaluation)
and says on stderr how old that state is, so a stopped service is never mistaken for a
quiet cluster.

Exit status: 0 with a listing (even an empty one); 2 when neither the service nor its
store can be read (printed as one line by the ``kafkascope`` entry point).
"""

from __future__ import annotations

import enum
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer

from kafkascope.alerts.alert import Alert
from kafkascope.alerts.runner import alert_rows
from kafkascope.cli.lag import format_seconds, render_table
from kafkascope.cli.options import ConfigOpt, TokenFileOpt, TokenOpt, UrlOpt, resolve_token
from kafkascope.cli.service import service_url
from kafkascope.config import Config, load_config
from kafkascope.errors import ConfigError, KafkascopeError
from kafkascope.model import Severity
from kafkascope.store.alert_state import read_engine_state_file

__all__ = [
    "AlertListing",
    "AlertStateChoice",
    "alerts",
    "from_service",
    "from_store",
    "render_alerts",
    "service_url",
]

#: Stored state older than this is called out as stale (the service evaluates every ~10 s).
STALE_AFTER = 60.0


class AlertStateChoice(enum.StrEnum):
    """The states ``--state`` accepts (an Enum: --help and shell completion list them)."""

    pending = "pending"
    firing = "firing"
    resolved = "resolved"


@dataclass(frozen=True)
class AlertListing:
    """Alerts (the API's dicts) and where they were read."""

    alerts: list[dict[str, Any]]
    source: str
    as_of: float


def from_service(url: str, token: str | None, state: str | None) -> AlertListing:
    """GET /api/v1/alerts from a running service; ``httpx.TransportError`` when it does not
    answer at all, :class:`KafkascopeError` when it answers with an error."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {"state": state} if state else {}
    try:
        r = httpx.get(
            f"{url.rstrip('/')}/api/v1/alerts", params=params, headers=headers, timeout=10
        )
    except httpx.InvalidURL as e:
        raise ConfigError(f"--url '{url}' is not a URL ({e}); give http://HOST:PORT") from e
    if r.status_code in (401, 403):
        raise KafkascopeError(
            f"the service at {url} refused the request ({r.status_code}: "
            f"{_detail(r)}). Fix: give a read or admin token with --token-file or "
            "KAFKASCOPE_TOKEN, or put one in [service] read_tokens of the config"
        )
    if r.status_code != 200:
        raise KafkascopeError(f"the service at {url} answered {r.status_code}: {_detail(r)}")
    try:
        alerts = r.json()["alerts"]
    except (ValueError, KeyError, TypeError) as e:
        raise KafkascopeError(
            f"{url} answered, but not as a kafkascope service (no alerts list in its reply). "
            "Fix: point --url at the address 'kafkascope serve' prints"
        ) from e
    return AlertListing(alerts, f"service {url}", time.time())


def _detail(r: httpx.Response) -> str:
    try:
        return str(r.json().get("detail", r.text))[:200]
    except ValueError:
        return r.text[:200]


def from_store(data_dir: Path, state: str | None) -> AlertListing:
    """The alert state the service last committed to ``data_dir/kafkascope.db``, read-only
    (a reader never blocks the service's writer: the store runs in WAL mode)."""
    path = data_dir / "kafkascope.db"
    if not path.exists():
        raise KafkascopeError(
            f"no kafkascope store at {path}, and no service answered. Fix: start "
            "'kafkascope serve --config FILE', or point --url at a running service"
        )
    stored = read_engine_state_file(path)
    if stored is None:
        return AlertListing([], f"store {path} (no alert evaluation stored yet)", time.time())
    saved = stored.state.get("alerts", [])
    alerts = alert_rows((Alert.from_dict(a) for a in saved), state)
    return AlertListing(alerts, f"store {path}", stored.updated_at)


_ORDER = {"firing": 0, "pending": 1, "resolved": 2}


def render_alerts(alerts: list[dict[str, Any]], now: float) -> str:
    """One row per alert, firing first, worst first; SINCE is the age of the current
    state."""
    if not alerts:
        return "no alerts"
    rows = []
    for a in sorted(
        alerts,
        key=lambda a: (_ORDER.get(a["state"], 3), -Severity(a["severity"]).rank, a["rule"]),
    ):
        labels = dict(a.get("labels", {}))
        cluster = labels.pop("cluster", "-")
        since = {
            "firing": a.get("fired_at"),
            "pending": a.get("active_since"),
            "resolved": a.get("resolved_at"),
        }.get(a["state"])
        notes = []
        if a.get("silenced_by"):
            notes.append("silenced")
        if a.get("acked_by"):
            said = f": {a['acked_note']}" if a.get("acked_note") else ""
            notes.append(f"acked by {a['acked_by']}{said}")
        if a.get("flapping"):
            notes.append("flapping")
        rows.append(
            [
                a["id"],
                a["state"].upper(),
                a["severity"],
                a["rule"],
                cluster,
                ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "-",
                format_seconds(now - since) if since is not None else "-",
                "; ".join(notes) or "-",
                a.get("summary", ""),
            ]
        )
    return render_table(
        ["ID", "STATE", "SEVERITY", "RULE", "CLUSTER", "SUBJECT", "SINCE", "NOTE", "SUMMARY"],
        rows,
        status_column=1,
    )


def _token(cfg: Config | None) -> str | None:
    """The config's first API token (read tokens first: the least power that suffices)."""
    tokens = (*cfg.service.read_tokens, *cfg.service.admin_tokens) if cfg is not None else ()
    return tokens[0].reveal() if tokens else None


def alerts(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    state: Annotated[
        AlertStateChoice | None, typer.Option("--state", help="Only alerts in this state.")
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON instead of text tables (for scripts).")
    ] = False,
) -> None:
    """List pending, firing and recently resolved alerts, from the service or its store."""
    wanted = state.value if state is not None else None
    if config is None and url is None:
        raise ConfigError("give --config FILE (the service's config) or --url URL")
    secret = resolve_token(token, token_file)
    cfg = load_config(config) if config is not None else None
    base = url if url is not None or cfg is None else service_url(cfg)
    assert base is not None  # one of the two was given (checked above)
    listing: AlertListing
    try:
        listing = from_service(base, secret or _token(cfg), wanted)
    except httpx.TransportError as e:
        if cfg is None:
            raise KafkascopeError(
                f"no service answers at {base} ({e.__class__.__name__}: {e}). Fix: check the "
                "URL, or pass --config FILE to read the service's store instead"
            ) from e
        listing = from_store(cfg.service.data_dir, wanted)
        age = time.time() - listing.as_of
        stale = " — STALE: is 'kafkascope serve' running?" if age > STALE_AFTER else ""
        print(
            f"kafkascope: no service answers at {base}; showing the alert state stored "
            f"{format_seconds(age)} ago in {cfg.service.data_dir}{stale}",
            file=sys.stderr,
        )
    if as_json:
        print(
            json.dumps(
                {"source": listing.source, "as_of": listing.as_of, "alerts": listing.alerts},
                indent=2,
            )
        )
    else:
        print(render_alerts(listing.alerts, time.time()))

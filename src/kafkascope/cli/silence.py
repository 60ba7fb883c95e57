"""``kafkascope silence add|list|expire`` and ``kafkascope ack ID --note TEXT``: the alert
actions of the API (and the console) from a shell, against the running service.

Silences and acknowledgements live in the service (stored with its alert state), so these
commands never fall back to the store: with no service answering they fail naming the
fix. Changes need an admin token (``--token-file``, ``KAFKASCOPE_TOKEN``, or the config's
first admin token); ``silence list`` a read token.

Exit status: 0 done; 1 when the ID names no alert or silence; 2 for any other error,
printed as one line by the ``kafkascope`` entry point.
"""

from __future__ import annotations

import datetime as dt
import getpass
import json
import time
import urllib.parse
from typing import Annotated, Any

import typer

from kafkascope.cli.lag import format_seconds, render_table
from kafkascope.cli.options import ConfigOpt, JsonOpt, TokenFileOpt, TokenOpt, UrlOpt
from kafkascope.cli.service import locate
from kafkascope.config import parse_duration
from kafkascope.errors import ConfigError

__all__ = ["ack", "app", "render_silences"]

app = typer.Typer(
    help="Silence alerts in the running service: add, list, expire.", no_args_is_help=True
)


def _matchers(items: list[str]) -> dict[str, str]:
    """``["cluster=prod", "broker=~1|2"]`` → the API's matcher map (``~`` marks a regex)."""
    out: dict[str, str] = {}
    for item in items:
        label, sep, value = item.partition("=")
        label = label.strip()
        if not sep or not label or not value.strip():
            raise ConfigError(
                f"--match '{item}' is not LABEL=VALUE. Fix: write it like --match cluster=prod "
                "(or --match broker=~1|2 for an anchored regex)"
            )
        if label in out:
            raise ConfigError(f"--match {label} is given twice. Fix: keep one of them")
        out[label] = value.strip()
    return out


def _when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _matcher_text(m: dict[str, Any]) -> str:
    return f"{m['label']}={'~' if m.get('regex') else ''}{m['value']}"


def render_silences(silences: list[dict[str, Any]], now: float) -> str:
    """One row per silence, soonest to expire first."""
    if not silences:
        return "no silences"
    rows = [
        [
            s["id"],
            "active" if s.get("active", True) else "expired",
            ",".join(_matcher_text(m) for m in s["matchers"]),
            _when(s["expires_at"]),
            format_seconds(max(0.0, s["expires_at"] - now)),
            s.get("created_by") or "-",
            s.get("comment") or "-",
        ]
        for s in sorted(silences, key=lambda s: s["expires_at"])
    ]
    return render_table(["ID", "STATE", "MATCHERS", "EXPIRES", "LEFT", "BY", "COMMENT"], rows)


@app.command("add")
def add(
    match: Annotated[
        list[str],
        typer.Option(
            "--match",
            "-m",
            help="LABEL=VALUE the alerts must carry (repeatable; all must hold). "
            "VALUE=~REGEX matches the whole value, e.g. broker=~1|2.",
        ),
    ],
    duration: Annotated[
        str, typer.Option("--duration", "-d", help="How long, e.g. 30m, 2h, 1d (at most 366d).")
    ] = "2h",
    comment: Annotated[str, typer.Option("--comment", help="Why (shown with the silence).")] = "",
    config: ConfigOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Mute notifications for the alerts matching every --match, for --duration."""
    matchers = _matchers(match)
    try:
        seconds = parse_duration(duration)
    except ValueError as e:
        raise ConfigError(f"--duration {e}. Fix: give e.g. 30m, 2h or 1d") from None
    if seconds <= 0:
        raise ConfigError("--duration must be longer than 0. Fix: give e.g. 30m, 2h or 1d")
    client, _ = locate(config, url, token, token_file, admin=True)
    body = {"matchers": matchers, "duration": seconds, "comment": comment}
    s = client.json("POST", "/api/v1/silences", ok=(201,), json=body)
    if as_json:
        typer.echo(json.dumps(s, indent=2))
    else:
        typer.echo(
            f"silence {s['id']} until {_when(s['expires_at'])}: "
            f"{', '.join(_matcher_text(m) for m in s['matchers'])}"
        )


@app.command("list")
def list_(
    config: ConfigOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The service's silences: matchers, expiry, who made them and why."""
    client, _ = locate(config, url, token, token_file)
    silences = client.json("GET", "/api/v1/silences")["silences"]
    if as_json:
        typer.echo(json.dumps({"silences": silences}, indent=2))
    else:
        typer.echo(render_silences(silences, time.time()))


@app.command("expire")
def expire(
    silence_id: Annotated[str, typer.Argument(help="The silence's ID ('silence list').")],
    config: ConfigOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
) -> None:
    """End a silence now: its alerts notify again."""
    client, _ = locate(config, url, token, token_file, admin=True)
    path = f"/api/v1/silences/{urllib.parse.quote(silence_id, safe='')}"
    r = client.request("DELETE", path)
    if r.status_code == 404:
        typer.echo(
            f"kafkascope: no silence '{silence_id}'. Fix: see 'kafkascope silence list'",
            err=True,
        )
        raise typer.Exit(1)
    client.check(r)
    typer.echo(f"expired silence {silence_id}")


def ack(
    alert_id: Annotated[str, typer.Argument(help="The alert's ID ('kafkascope alerts').")],
    note: Annotated[
        str, typer.Option("--note", "-n", help="Why, or what is being done (kept with the ack).")
    ] = "",
    by: Annotated[
        str | None, typer.Option("--by", help="Who is handling it (default: your user name).")
    ] = None,
    config: ConfigOpt = None,
    url: UrlOpt = None,
    token: TokenOpt = None,
    token_file: TokenFileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Acknowledge a pending or firing alert: its repeats are held until it resolves."""
    who = (by if by is not None else getpass.getuser()).strip()
    if not who:
        raise ConfigError("--by is empty. Fix: give who is handling the alert")
    client, _ = locate(config, url, token, token_file, admin=True)
    path = f"/api/v1/alerts/{urllib.parse.quote(alert_id, safe='')}/ack"
    body = {"by": who, "note": note}
    r = client.request("POST", path, json=body)
    if r.status_code == 404:
        typer.echo(
            f"kafkascope: no alert '{alert_id}' is tracked. Fix: see 'kafkascope alerts'",
            err=True,
        )
        raise typer.Exit(1)
    a = client.check(r)
    if as_json:
        typer.echo(json.dumps(a, indent=2))
    else:
        said = f": {a['acked_note']}" if a.get("acked_note") else ""
        typer.echo(f"acknowledged {a['id']} ({a['rule']}) as {a['acked_by']}{said}")

"""Talking to a running ``kafkascope serve`` from the CLI: where it is, which token to send,
and one clear line for each way a request can fail.

The service is found at ``--url``, or else at the ``[service] listen`` address of the
config (``-c/--config`` or ``$KAFKASCOPE_CONFIG``). The token is ``--token-file``,
``$KAFKASCOPE_TOKEN`` or ``--token`` (see :mod:`kafkascope.cli.options`), else the
config's own: a read token first for reads, an admin token for changes.
"""

from __future__ import annotations

import os
import sys
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from kafkascope.cli.options import resolve_token
from kafkascope.config import Config, load_config, split_host_port
from kafkascope.errors import ConfigError, KafkascopeError

__all__ = ["Answer", "NoService", "ServiceClient", "ask_first", "locate", "service_url"]


class NoService(KafkascopeError):
    """Nothing answers at the service's address (stopped, or running elsewhere)."""


def service_url(cfg: Config) -> str:
    """The URL of the service configured in ``cfg`` (a wildcard listen means loopback)."""
    host, port = split_host_port(cfg.service.listen)
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _detail(r: httpx.Response) -> str:
    try:
        body = r.json()
        return str(body.get("error") or body.get("detail") or r.text)[:300]
    except (ValueError, AttributeError):
        return r.text[:300]


@dataclass(frozen=True)
class ServiceClient:
    """One service's base URL and the token to send it."""

    base: str
    token: str | None
    admin: bool = False
    timeout: float = 10.0

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """The service's answer; :class:`NoService` when nothing answers, a
        :class:`KafkascopeError` naming the fix for 401/403. Other statuses are returned."""
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        url = f"{self.base.rstrip('/')}{path}"
        try:
            r = httpx.request(method, url, headers=headers, timeout=self.timeout, **kw)
        except httpx.InvalidURL as e:
            raise ConfigError(
                f"--url '{self.base}' is not a URL ({e}). Fix: give http://HOST:PORT"
            ) from None
        except httpx.TransportError as e:
            raise NoService(
                f"no service answers at {self.base} ({type(e).__name__}). Fix: start "
                "'kafkascope serve --config FILE', or point --url at a running one"
            ) from e
        if r.status_code in (401, 403):
            kind = "an admin" if self.admin else "a read or admin"
            where = "admin_tokens" if self.admin else "read_tokens"
            raise KafkascopeError(
                f"the service at {self.base} refused the request ({r.status_code}: "
                f"{_detail(r)}). Fix: give {kind} token with --token-file or "
                f"KAFKASCOPE_TOKEN, or put one in [service] {where} of the config"
            )
        return r

    def json(self, method: str, path: str, ok: tuple[int, ...] = (200,), **kw: Any) -> Any:
        """The JSON body of a successful answer; any other status is a KafkascopeError
        carrying the service's own message."""
        return self.check(self.request(method, path, **kw), ok)

    def check(self, r: httpx.Response, ok: tuple[int, ...] = (200,)) -> Any:
        """The JSON body of ``r`` when its status is in ``ok``, else a KafkascopeError."""
        if r.status_code not in ok:
            raise KafkascopeError(
                f"the service at {self.base} answered {r.status_code}: {_detail(r)}"
            )
        try:
            return r.json()
        except ValueError as e:
            raise KafkascopeError(
                f"{self.base} answered, but not as a kafkascope service (no JSON). "
                "Fix: point --url at the address 'kafkascope serve' prints"
            ) from e


def locate(
    config: Path | None,
    url: str | None,
    token: str | None,
    token_file: Path | None,
    *,
    admin: bool = False,
) -> tuple[ServiceClient, Config | None]:
    """The service the options point at, and the config when one is given."""
    if config is None and url is None and not os.environ.get("KAFKASCOPE_CONFIG"):
        raise ConfigError(
            "give -c/--config FILE (the service's config, or set KAFKASCOPE_CONFIG) or --url URL"
        )
    secret = resolve_token(token, token_file)
    cfg = load_config(config) if config is not None or url is None else None
    base = url if url is not None else service_url(cfg) if cfg is not None else ""
    if secret is None and cfg is not None:
        s = cfg.service
        tokens = s.admin_tokens if admin else (*s.read_tokens, *s.admin_tokens)
        secret = tokens[0].reveal() if tokens else None
    return ServiceClient(base, secret, admin), cfg


@dataclass(frozen=True)
class Answer:
    """What the service answered for one cluster: the HTTP status and JSON body of the
    request, and the cluster's name there."""

    status: int
    body: Any
    cluster: str
    base: str


def ask_first(
    config: Path | None,
    url: str | None,
    token: str | None,
    token_file: Path | None,
    cluster: str | None,
    kind: str,
    path: str,
    *,
    say: Callable[[str], None] | None = None,
) -> Answer | None:
    """Ask a running service for ``/api/v1/clusters/NAME{path}`` (``kind`` names the
    report it rests on: brokers, lag or clients). None when no service answers, it does
    not monitor this cluster, or it has no such report yet: the caller then samples the
    cluster itself. Either way one line on stderr says where the answer comes from."""
    tell = say or (lambda text: print(f"kafkascope: {text}", file=sys.stderr))
    if url is None and config is None and not os.environ.get("KAFKASCOPE_CONFIG"):
        return None
    client, cfg = locate(config, url, token, token_file)
    name = cluster
    if name is None and cfg is not None and len(cfg.clusters) == 1:
        name = cfg.clusters[0].name
    try:
        if name is None:
            known = [c["name"] for c in client.json("GET", "/api/v1/clusters")["clusters"]]
            if len(known) != 1:
                raise ConfigError(
                    f"the service at {client.base} monitors {len(known)} clusters "
                    f"({', '.join(known) or 'none'}). Fix: choose one with --cluster NAME"
                )
            name = known[0]
        quoted = urllib.parse.quote(name, safe="")
        r = client.request("GET", f"/api/v1/clusters/{quoted}")
        if r.status_code == 404:
            tell(f"the service at {client.base} does not monitor '{name}'; sampling it directly")
            return None
        summary = client.check(r)
        if summary.get("updated", {}).get(kind) is None:
            tell(f"the service at {client.base} has no {kind} report yet; sampling directly")
            return None
        r = client.request("GET", f"/api/v1/clusters/{quoted}{path}")
    except NoService:
        tell(f"no service answers at {client.base}; sampling the cluster directly")
        return None
    if r.status_code not in (200, 404):
        client.check(r)
    tell(f"from the service at {client.base}")
    return Answer(r.status_code, r.json(), name, client.base)

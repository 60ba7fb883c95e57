"""``kafkascope serve``: the long-running monitor with its REST API and /metrics."""

from __future__ import annotations

import ipaddress
import logging
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer

from kafkascope import __version__
from kafkascope.api.server import HttpServer
from kafkascope.cli.options import RequiredConfigOpt
from kafkascope.config import Config, load_config, split_host_port
from kafkascope.errors import ConfigError
from kafkascope.service.service import Service


def with_overrides(config: Config, listen: str | None, data_dir: Path | None) -> Config:
    """``serve --listen/--data-dir`` win over the file."""
    update: dict[str, Any] = {}
    if listen is not None:
        update["listen"] = listen
    if data_dir is not None:
        update["data_dir"] = data_dir
    if not update:
        return config
    return config.model_copy(update={"service": config.service.model_copy(update=update)})


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only: a loopback address, or a name
    all of whose addresses are loopback. A name that does not resolve is not."""
    if host.lower() == "localhost":
        return True
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
        except OSError:
            return False
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    return bool(addresses) and all(_loopback(a) for a in addresses)


def _loopback(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    return address.is_loopback or (mapped is not None and mapped.is_loopback)


def refuse_open_api(config: Config, listen: tuple[str, int]) -> None:
    """An API without tokens serves anyone who reaches it, silences and acks included:
    only on loopback, unless the config says so in as many words."""
    service = config.service
    if service.read_tokens or service.admin_tokens or service.allow_unauthenticated:
        return
    host, port = listen
    if is_loopback(host):
        return
    shown = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    raise ConfigError(
        f"refusing to serve the API on {shown} with no token: anyone who can reach it "
        "could read everything and change silences and acks. Fix: set [service] "
        "admin_tokens (and read_tokens), listen on 127.0.0.1, or set [service] "
        "allow_unauthenticated = true"
    )


def start_service(config: Config, listen: tuple[str, int] | None = None) -> tuple[Service, str]:
    """The service with its HTTP server, started; returns it and the URL it serves on.
    On a failure every part already started is stopped before the error is raised."""
    address = listen or split_host_port(config.service.listen)
    refuse_open_api(config, address)
    service = Service(config)
    http = HttpServer(service, address, max_body=config.service.max_request_body)
    service.add(http)
    service.start()
    return service, http.url


def run_until_signalled(config: Config) -> None:
    """Start, print where it serves, and run until SIGTERM or SIGINT; then stop in order."""
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    service, url = start_service(config)
    print(
        f"kafkascope {__version__} serving on {url} (API {url}/api/v1, metrics {url}/metrics)",
        flush=True,
    )
    try:
        stop.wait()
    finally:
        service.stop()


def serve(
    config: RequiredConfigOpt,
    listen: Annotated[
        str | None, typer.Option("--listen", help="HOST:PORT to serve on (default from config).")
    ] = None,
    data_dir: Annotated[
        Path | None, typer.Option("--data-dir", help="Where the SQLite store lives.")
    ] = None,
) -> None:
    """Monitor the configured clusters; serve the API and /metrics until SIGTERM."""
    if listen is not None:
        try:
            split_host_port(listen)
        except ValueError as e:
            raise ConfigError(f"--listen {e}. Fix: give HOST:PORT, e.g. 127.0.0.1:8321") from e
    cfg = with_overrides(load_config(config), listen, data_dir)
    logging.basicConfig(
        level=getattr(logging, str(cfg.service.log_level).upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    run_until_signalled(cfg)

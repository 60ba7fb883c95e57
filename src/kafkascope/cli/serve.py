"""``kafkascope serve``: the long-running monitor with its REST API and /metrics."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from kafkascope.config import load_config, split_host_port
from kafkascope.errors import ConfigError
from kafkascope.service.service import Service, with_overrides


def serve(
    config: Annotated[Path, typer.Option("--config", "-c", help="The kafkascope.toml file.")],
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
    Service(cfg).run_forever()

"""The web console: server-rendered pages (Jinja2, htmx, uPlot) under ``/ui``."""

from kafkascope.api.console.mount import mount_console

__all__ = ["mount_console"]

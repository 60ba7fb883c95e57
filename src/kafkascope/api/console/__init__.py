"""The web console: server-rendered pages (Jinja2, htmx, uPlot) under ``/ui``."""

from kafkascope.api.console.web import mount_console

__all__ = ["mount_console"]

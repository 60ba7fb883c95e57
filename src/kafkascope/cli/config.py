"""``kafkascope check-config FILE``: load a configuration exactly as ``serve`` would (file plus
``KAFKASCOPE_*`` overrides), then print what it configures, with every secret as ``***``:
receiver URLs as ``scheme://host[:port]`` only, and any client property whose name says
credential (:func:`~kafkascope.config.schema.is_secret_property`) as ``***`` whatever it
was loaded as.

A broken file raises :class:`~kafkascope.errors.ConfigError`, which the CLI prints as one
message naming the file, the key and the fix, and exits 2."""

from __future__ import annotations

import difflib
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from pydantic import BaseModel

from kafkascope.cli.options import ConfigOpt, warn
from kafkascope.cli.serve import is_loopback
from kafkascope.config import (
    RULE_DESCRIPTIONS,
    AlertmanagerReceiver,
    ClusterConfig,
    Config,
    EmailReceiver,
    Receiver,
    Secret,
    SlackReceiver,
    WebhookReceiver,
    format_duration,
    load_config,
    split_host_port,
)
from kafkascope.config.schema import is_secret_property
from kafkascope.errors import ConfigError
from kafkascope.sources.jmx.catalog import default_catalog


def check_config(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="The kafkascope TOML file to validate (or -c FILE, or $KAFKASCOPE_CONFIG).",
            show_default=False,
        ),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Validate a configuration file and summarise it (secrets shown as ***); exit 2 naming
    the file, key and fix when it is wrong. Warns about an API open to the network."""
    if file is not None and config is not None and file != config:
        raise ConfigError(f"two files given ({file} and -c {config}). Fix: give one of them")
    path = file if file is not None else config
    if path is None:
        raise ConfigError(
            "no configuration given. Fix: kafkascope check-config FILE (or -c FILE, or set "
            "KAFKASCOPE_CONFIG)"
        )
    cfg = load_config(path)
    check_rule_metrics(cfg, catalog_metric_names())
    typer.echo(summarize(cfg))
    for line in warnings(cfg):
        warn(line)


def catalog_metric_names() -> frozenset[str]:
    """Every metric name a custom rule can name: the JMX catalog's (as on /metrics)."""
    return frozenset(m.name for s in default_catalog().sets for _, m in s.metrics())


def check_rule_metrics(cfg: Config, known: frozenset[str]) -> None:
    """A custom rule naming a metric no source produces would never fire: refuse it, with
    the nearest names (difflib) as the fix."""
    for i, rule in enumerate(cfg.alerts.custom_rules):
        if rule.metric in known:
            continue
        close = difflib.get_close_matches(rule.metric, sorted(known), n=3, cutoff=0.5)
        hint = f"did you mean {', '.join(close)}?" if close else "no similar name"
        raise ConfigError(
            f"alerts.custom_rules[{i}] ('{rule.name}'): metric '{rule.metric}' does not exist "
            f"({hint}). Fix: name a metric kafkascope collects, as listed on /metrics"
        )


def warnings(cfg: Config) -> list[str]:
    """What loads but is risky: an API on a non-loopback address with no token."""
    out = []
    s = cfg.service
    host, port = split_host_port(s.listen)
    if not (s.read_tokens or s.admin_tokens) and not is_loopback(host or "0.0.0.0"):
        what = (
            "anyone who reaches it can read everything and change silences and acks "
            "(allow_unauthenticated = true)"
            if s.allow_unauthenticated
            else "'kafkascope serve' will refuse to start"
        )
        out.append(
            f"[service] listen = {s.listen} is not a loopback address and no token is set: "
            f"{what}. Fix: set [service] read_tokens and admin_tokens, or listen on "
            f"127.0.0.1:{port}"
        )
    return out


def _secret(secret: Secret | None) -> str:
    if secret is None:
        return "none"
    return "***" if secret.source == "inline" else f"*** (from {secret.source})"


def _secrets(value: object) -> Iterator[Secret]:
    """Every secret in a loaded configuration (for the count in the summary)."""
    if isinstance(value, Secret):
        yield value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _secrets(getattr(value, name))
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _secrets(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _secrets(item)


def _cluster(c: ClusterConfig) -> list[str]:
    d = format_duration
    lines = [f"  {c.name}: bootstrap {c.bootstrap}"]
    if c.client_properties:
        props = ", ".join(f"{k}={_property(k, v)}" for k, v in c.client_properties.items())
        lines.append(f"    client properties: {props}")
    lines.append(
        f"    intervals: admin {d(c.admin_interval)}, broker JMX {d(c.jmx_interval)}, "
        f"client JMX {d(c.client_interval)}; JMX timeout {d(c.jmx_timeout)}"
    )
    jmx = c.jmx
    where = []
    if jmx.broker_port is not None:
        where.append(f"port {jmx.broker_port} on every broker")
    if jmx.brokers:
        where.append(f"{len(jmx.brokers)} nodes mapped ({', '.join(map(str, jmx.brokers))})")
    auth = f"user {jmx.username}, password {_secret(jmx.password)}" if jmx.username else "no auth"
    tls = "TLS" if jmx.ssl else "no TLS"
    lines.append(f"    broker JMX: {'; '.join(where) or 'off'}; {auth}; {tls}")
    cl = jmx.clients
    found = []
    if cl.static:
        found.append(f"{len(cl.static)} static")
    if cl.file_sd is not None:
        exists = "" if cl.file_sd.exists() else " (not there yet)"
        found.append(f"file_sd {cl.file_sd}{exists}")
    if cl.probe_ports is not None:
        found.append(f"probe ports {cl.probe_ports}")
    lines.append(f"    client JMX: {', '.join(found) or 'none configured (membership only)'}")
    hung = c.liveness.hung_poll_seconds
    lines.append(
        f"    lag window {c.lag.intervals} commits, allowed lag {c.lag.allowed_lag}; "
        f"hung after {d(hung) if hung is not None else 'max.poll.interval.ms'}"
        + (
            f"; expected members {dict(c.liveness.expected_members)}"
            if c.liveness.expected_members
            else ""
        )
    )
    return lines


def _property(name: str, value: str | Secret) -> str:
    if isinstance(value, Secret):
        return _secret(value)
    return "***" if is_secret_property(name) else value


def _origin(url: Secret) -> str:
    """``scheme://host[:port]`` of a secret URL, and where the rest of it is (not shown)."""
    try:
        parts = urllib.parse.urlsplit(url.reveal())
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return _secret(url)
    host = f"[{host}]" if ":" in host else host
    where = "" if url.source == "inline" else f", from {url.source}"
    return f"{parts.scheme}://{host}{port} (rest of the URL not shown{where})"


def _receiver(r: Receiver) -> str:
    if isinstance(r, WebhookReceiver):
        headers = f", headers {', '.join(f'{k}=***' for k in r.headers)}" if r.headers else ""
        insecure = ", allow_insecure" if r.allow_insecure else ""
        return f"  {r.name}: webhook {_origin(r.url)}{headers}{insecure}"
    if isinstance(r, SlackReceiver):
        return f"  {r.name}: slack {_origin(r.webhook_url)}"
    if isinstance(r, AlertmanagerReceiver):
        if r.bearer_token is not None:
            auth = f", bearer token {_secret(r.bearer_token)}"
        elif r.username is not None:
            auth = f", user {r.username}, password {_secret(r.password)}"
        else:
            auth = ""
        every = f"re-posted every {format_duration(r.resend_interval)}"
        return f"  {r.name}: alertmanager {r.url} ({every}{auth})"
    assert isinstance(r, EmailReceiver)
    tls = {"starttls": "STARTTLS", "implicit": "implicit TLS", "none": "no TLS"}[r.tls]
    if r.allow_insecure:
        tls += ", allow_insecure"
    auth = f", user {r.username}, password {_secret(r.password)}" if r.username else ""
    return (
        f"  {r.name}: email via {r.host}:{r.port} ({tls}{auth}) from {r.from_} to {', '.join(r.to)}"
    )


def summarize(config: Config) -> str:
    """A few lines an operator can check at a glance; never a secret value."""
    s = config.service
    source = str(config.file) if config.file is not None else "(no file)"
    overrides = (
        f"; environment overrides: {', '.join(config.env_overrides)}"
        if config.env_overrides
        else ""
    )
    r = s.retention
    lines = [
        f"{source}: OK{overrides}",
        f"service: listen {s.listen}, data_dir {s.data_dir}, log_level {s.log_level}",
        f"  API tokens: {len(s.read_tokens)} read-only, {len(s.admin_tokens)} admin"
        + ("" if s.read_tokens or s.admin_tokens else " (the API is open)")
        + f"; retention raw {format_duration(r.raw)}, 1-minute {format_duration(r.one_minute)}, "
        f"10-minute {format_duration(r.ten_minute)}",
        f"clusters ({len(config.clusters)}):",
    ]
    for cluster in config.clusters:
        lines += _cluster(cluster)
    alerts = config.alerts
    lines.append(f"receivers ({len(alerts.receivers)}):")
    lines += [_receiver(r) for r in alerts.receivers] or ["  none: alerts are only shown"]
    lines.append(f"routes ({len(alerts.routes)}):")
    for route in alerts.routes:
        match = [
            f"severity {'/'.join(route.severity)}" if route.severity else "",
            f"cluster {'/'.join(route.cluster)}" if route.cluster else "",
            " ".join(f"{k}={v}" for k, v in route.labels.items()),
        ]
        lines.append(
            f"  {' '.join(m for m in match if m) or 'every alert'} → {', '.join(route.receivers)}"
        )
    if not alerts.routes and alerts.receivers:
        lines.append("  none: every alert goes to every receiver")
    disabled = [name for name, o in alerts.rules.items() if not o.enabled]
    lines.append(
        f"rules: {len(RULE_DESCRIPTIONS)} built-in ({len(alerts.rules)} overridden"
        + (f", disabled: {', '.join(disabled)}" if disabled else "")
        + f"), {len(alerts.custom_rules)} custom"
        + "".join(
            f"\n  {c.name}: {c.metric} {c.comparator} {c.threshold:g} for "
            f"{format_duration(c.for_)} ({c.severity})"
            for c in alerts.custom_rules
        )
    )
    lines.append(
        f"secrets: {sum(1 for _ in _secrets(config))}, all shown as ***; repeat "
        f"interval {format_duration(alerts.repeat_interval)}"
    )
    return "\n".join(lines)

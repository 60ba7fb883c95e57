"""A Jolokia agent or a Prometheus jmx_exporter as one collector target.

:class:`BulkTargetReader` puts :class:`~kafkascope.sources.jmx.jolokia.JolokiaReader` or
:class:`~kafkascope.sources.jmx.prometheus.PrometheusReader` behind the interface
:class:`~kafkascope.sources.jmx.collector.JmxCollector` drives
(:class:`~kafkascope.sources.jmx.reader.SourceReader`), so freshness, backoff and every
consumer of :class:`~kafkascope.sources.jmx.collector.CollectResult` work the same whichever
source a cluster is read through. The endpoint's ``host:port`` is the agent's HTTP port
(``http://HOST:PORT/jolokia/`` or ``http://HOST:PORT/metrics``); samples are named by that
``host:port``, as JMX samples are by theirs.

Each read is one bulk request (or one scrape) of every selected set, so there is no MBean
list to cache: roles and clients are detected on every read from the MBeans it returned
(:func:`~kafkascope.sources.jmx.reader.identify_beans`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

from kafkascope.clock import Clock, SystemClock
from kafkascope.sources.jmx.catalog import Catalog, CatalogSet
from kafkascope.sources.jmx.connection import JmxEndpoint
from kafkascope.sources.jmx.jolokia import DEFAULT_PATH, JolokiaReader
from kafkascope.sources.jmx.prometheus import PrometheusReader
from kafkascope.sources.jmx.reader import (
    BeanValues,
    Identity,
    Reading,
    bulk_samples,
    identify_beans,
)

__all__ = ["BulkSource", "BulkTargetReader", "Source"]

#: Where a cluster's JMX metrics are read from: JMX over RMI, a Jolokia agent, or a
#: jmx_exporter running :func:`~kafkascope.sources.jmx.prometheus.exporter_config`'s config.
Source = Literal["jmx", "jolokia", "prometheus"]


class BulkSource(Protocol):
    """What both HTTP readers offer: the sets they read and one read of their MBeans."""

    sets: tuple[CatalogSet, ...]

    def read_beans(self) -> list[BeanValues]: ...

    def close(self) -> None: ...


def _base_url(endpoint: JmxEndpoint) -> str:
    host = f"[{endpoint.host}]" if ":" in endpoint.host else endpoint.host
    return f"http://{host}:{endpoint.port}"


class BulkTargetReader:
    """One Jolokia agent or jmx_exporter, read as a collector target. Not thread-safe.

    ``sets``/``opt_in`` as for the HTTP readers (default: every set that is not opt-in,
    plus ``opt_in``); ``timeout`` bounds each HTTP exchange; ``auth`` is (user, password)
    for HTTP basic auth."""

    def __init__(
        self,
        source: Literal["jolokia", "prometheus"],
        endpoint: JmxEndpoint,
        catalog: Catalog,
        *,
        sets: Sequence[str] | None = None,
        opt_in: Sequence[str] = (),
        timeout: float = 5.0,
        auth: tuple[str, str] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.source = source
        self.endpoint = endpoint
        self.catalog = catalog
        self.clock = clock or SystemClock()
        target = endpoint.target
        self._reader: BulkSource
        kind: type[JolokiaReader] | type[PrometheusReader] = JolokiaReader
        path = DEFAULT_PATH
        if source != "jolokia":
            kind, path = PrometheusReader, "/metrics"
        self._reader = kind(
            _base_url(endpoint) + path,
            catalog,
            sets=sets,
            opt_in=opt_in,
            timeout=timeout,
            auth=auth,
            target=target,
            clock=self.clock,
        )

    @property
    def target(self) -> str:
        return self.endpoint.target

    def read(self) -> Reading:
        """One collection. Raises ``SourceError`` (Unreachable, Timeout, AuthFailed)."""
        beans = self._reader.read_beans()
        samples = bulk_samples(self._reader.sets, beans, self.target, self.clock.now())
        identity = identify_beans(self.catalog, beans, self.target)
        return Reading(identity, tuple(samples), len(beans))

    def identify(self) -> Identity:
        """What the target is (one full read: the agent has no cheaper question)."""
        return self.read().identity

    def invalidate(self) -> None:
        """Nothing is cached between reads."""

    def close(self) -> None:
        self._reader.close()

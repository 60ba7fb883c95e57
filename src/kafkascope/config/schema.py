"""The settings models: the whole file (:class:`Config`), the service, and each cluster
with its JMX, lag and liveness tables.

Each model's docstring and field descriptions are the text of the reference
(``docs/config-reference.md``), so a key is documented where it is defined. The
``[alerts]`` models are in :mod:`kafkascope.config.alerting`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from kafkascope.config.alerting import AlertsConfig
from kafkascope.config.tables import Settings
from kafkascope.config.values import (
    Bootstrap,
    Duration,
    HostPort,
    JmxSource,
    Kind,
    LogLevel,
    Name,
    Port,
    PortRange,
    ResolvedPath,
    Secret,
    context_env,
    problem,
    read_secret_file,
    resolve_path,
    secret_from_string,
    unknown_name,
)


class RetentionConfig(Settings):
    """How long history is kept at each resolution."""

    raw: Duration = Field(default=86400.0, gt=0, description="Raw samples, as collected.")
    one_minute: Duration = Field(
        default=7 * 86400.0, gt=0, description="1-minute downsampled series (min, max, mean, last)."
    )
    ten_minute: Duration = Field(
        default=90 * 86400.0,
        gt=0,
        description="10-minute downsampled series (min, max, mean, last).",
    )


class ServiceConfig(Settings):
    """The kafkascope process itself."""

    listen: HostPort = Field(
        default="127.0.0.1:8321",
        description="HOST:PORT of the REST API, `/metrics` and the dashboard. "
        "`serve --listen` overrides it.",
    )
    data_dir: ResolvedPath = Field(
        default=Path("data"),
        validate_default=True,
        description="Directory of the SQLite history and the alert outbox; created when "
        "missing. `serve --data-dir` overrides it.",
    )
    log_level: LogLevel = Field(default="info", description="debug, info, warning or error.")
    read_tokens: list[Secret] = Field(
        default_factory=list,
        description="API tokens allowed to read (`Authorization: Bearer TOKEN`; GET and "
        "HEAD). With no token at all (read or admin), the API is open, and `serve` refuses "
        "a `listen` address other than loopback unless `allow_unauthenticated` is set.",
    )
    admin_tokens: list[Secret] = Field(
        default_factory=list,
        description="API tokens allowed to read and to change state: every request other "
        "than GET and HEAD (acknowledge alerts, silences, forget clients). With read tokens "
        "but no admin token, changes are refused.",
    )
    allow_unauthenticated: bool = Field(
        default=False,
        description="Let `serve` listen on an address other than loopback with no token "
        "configured, so that anyone who can reach it can read everything and change "
        "silences and acknowledgements. Only for a network you trust entirely.",
    )
    burrow_unauthenticated_on_loopback: bool = Field(
        default=False,
        description="Serve Burrow's read endpoints (`GET /v3/kafka/...`) without a token "
        "to a request that arrives on a loopback address from a loopback address, for "
        "Burrow clients that cannot send one (burrow_exporter, burrow-dashboard, BurrowUI). "
        "Every other endpoint, and any request from elsewhere, still needs a token.",
    )
    max_request_body: int = Field(
        default=1 << 20,
        ge=1024,
        le=64 << 20,
        description="Largest request body the API accepts, in bytes; a larger one is "
        "refused with 413 before it is read.",
    )
    retention: RetentionConfig = Field(
        default_factory=RetentionConfig, description="History retention per resolution."
    )

    @field_validator("data_dir", mode="after")
    @classmethod
    def _resolve(cls, value: Path, info: ValidationInfo) -> Path:
        return resolve_path(value, info)


class JmxClientsConfig(Settings):
    """Where producers' and consumers' own JMX endpoints are: every client JVM has its own
    port, and opening JMX on the brokers does not expose them. The three ways combine, and
    an endpoint once found stays known, so a killed client is reported DEAD."""

    static: list[HostPort] = Field(
        default_factory=list, description="Client JMX endpoints always watched."
    )
    file_sd: ResolvedPath | None = Field(
        default=None,
        description='A Prometheus file_sd JSON file (`[{"targets": ["host:port"], '
        '"labels": {}}]`), re-read whenever it changes. It may not exist yet.',
    )
    probe_ports: PortRange | None = Field(
        default=None,
        description='A port (`9400`) or range (`"9400-9410"`, at most 1000 ports) probed '
        "on every host the brokers report for group members.",
    )
    username: str | None = Field(
        default=None, description="JMX user for clients; unset: the `[clusters.jmx]` username."
    )
    password: Secret | None = Field(
        default=None, description="JMX password for clients; unset: the `[clusters.jmx]` password."
    )

    @field_validator("file_sd", mode="after")
    @classmethod
    def _resolve(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return None if value is None else resolve_path(value, info)


class JmxConfig(Settings):
    """Metrics of the brokers and KRaft controllers, read over JMX or through a Jolokia or
    jmx_exporter agent (and, in `clients`, the clients' JMX)."""

    source: JmxSource = Field(
        default="jmx",
        description="How broker and controller metrics are read. `jmx`: JMX/RMI at "
        "`broker_port`/`brokers`. `jolokia`: a Jolokia agent whose HTTP port is given by "
        "`broker_port`/`brokers` (URL `http://HOST:PORT/jolokia/`). `prometheus`: a "
        "jmx_exporter HTTP endpoint at `broker_port`/`brokers` (URL "
        "`http://HOST:PORT/metrics`), run with the configuration that "
        "`kafkascope.sources.jmx.prometheus.exporter_config()` gives. For the two HTTP "
        "sources, `username`/`password` are HTTP basic auth. Clients are always read over "
        "JMX.",
    )
    broker_port: Port | None = Field(
        default=None,
        description="The port of every broker's metrics (JMX, or the agent's HTTP port, as "
        "`source` says), on the host the cluster metadata gives. Leave it and `brokers` "
        "unset to monitor without broker metrics.",
    )
    brokers: dict[int, HostPort] = Field(
        default_factory=dict,
        description='Node id → "host:port", overriding `broker_port` per node; also how '
        "controller-only KRaft nodes (absent from the broker metadata) are found.",
    )
    username: str | None = Field(
        default=None,
        description="JMX user (`jmxremote.password` file); the HTTP basic-auth user for "
        "`source` = `jolokia` or `prometheus`.",
    )
    password: Secret | None = Field(
        default=None, description="JMX password; the HTTP basic-auth password for an HTTP `source`."
    )
    ssl: bool = Field(
        default=False,
        description="Connect to JMX over TLS (`jmxremote.ssl`); `source` = `jmx` only.",
    )
    registry_ssl: bool = Field(
        default=False,
        description="The RMI registry is TLS too (`jmxremote.registry.ssl`); `source` = `jmx` "
        "only. Usually false: `ssl` = true alone secures the RMI connection.",
    )
    truststore: ResolvedPath | None = Field(
        default=None,
        description="For `ssl`: a truststore (PKCS12 or JKS) holding the JMX agents' "
        "certificates or the CA that signed them; unset: the JDK's default trust (cacerts). "
        "As the JDK's own JMX client, the certificate is checked, the host name is not. "
        "Used for the brokers and the clients.",
    )
    truststore_password: Secret | None = Field(
        default=None, description="The truststore's password."
    )
    truststore_type: Literal["PKCS12", "JKS"] = Field(
        default="PKCS12", description="`PKCS12` or `JKS`."
    )
    keystore: ResolvedPath | None = Field(
        default=None,
        description="For agents that require client certificates "
        "(`jmxremote.ssl.need.client.auth`): a keystore (PKCS12 or JKS) with kafkascope's key "
        "and certificate; the key's password must be the keystore's.",
    )
    keystore_password: Secret | None = Field(
        default=None, description="The keystore's password (also its key's)."
    )
    keystore_type: Literal["PKCS12", "JKS"] = Field(
        default="PKCS12", description="`PKCS12` or `JKS`."
    )
    clients: JmxClientsConfig = Field(
        default_factory=JmxClientsConfig, description="Client JMX endpoints."
    )

    @field_validator("truststore", "keystore", mode="after")
    @classmethod
    def _store_file(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = resolve_path(value, info)
        if not path.is_file():
            make = (
                f"; make one with: keytool -importcert -file AGENT.crt -keystore {path.name} "
                "-storetype PKCS12"
                if info.field_name == "truststore"
                else ""
            )
            raise problem(
                f"{info.field_name} {path} does not exist (or is not a file)",
                f"correct the path{make}",
            )
        return path

    @model_validator(mode="after")
    def _tls_settings(self) -> JmxConfig:
        for store in ("truststore", "keystore"):
            if getattr(self, store) is not None and not (self.ssl or self.registry_ssl):
                raise problem(
                    f"{store} is set but ssl = false, so it would not be used",
                    "set ssl = true (the agent runs com.sun.management.jmxremote.ssl=true)",
                    store,
                )
        if self.keystore is not None and self.keystore_password is None:
            raise problem(
                "a keystore is set but no keystore_password: its key cannot be opened",
                'add keystore_password_file = "/path" or keystore_password = "env:NAME"',
                "keystore_password",
            )
        return self

    @model_validator(mode="after")
    def _credentials_pair(self) -> JmxConfig:
        if self.password is not None and self.username is None:
            raise problem(
                "a password is set but no username", 'add username = "..." next to it', "username"
            )
        if self.username is not None and self.password is None:
            raise problem(
                "a username is set but no password",
                'add password_file = "/path" or password = "env:NAME"',
                "password",
            )
        return self

    def client_credentials(self) -> tuple[str | None, Secret | None]:
        """Clients' JMX (username, password): their own, else the brokers'."""
        if self.clients.username is not None:
            return self.clients.username, self.clients.password
        return self.username, self.password


class LagConfig(Settings):
    """Burrow's sliding-window lag evaluation, and lag in seconds."""

    intervals: int = Field(
        default=10, ge=2, le=1000, description="Committed offsets kept per partition (the window)."
    )
    min_distance: Duration = Field(
        default=0.0,
        description="Commits closer than this to the previous one replace it (0: keep all).",
    )
    minimum_complete: float = Field(
        default=0.0, ge=0, le=1, description="A window filled below this fraction is reported OK."
    )
    allowed_lag: int = Field(
        default=0,
        ge=0,
        description="Records a partition may trail the log end and still count as caught up.",
    )
    stop_grace: Duration = Field(
        default=60.0,
        ge=0,
        description="A lagging partition is STOP only once its commits have been silent this "
        "long (and longer than its window spans, Burrow's rule). Keeps a healthy group from "
        "reading STOP between the first and second commit a fresh service sees; set it above "
        "your consumers' commit interval (Kafka Streams: 30 s). 0: Burrow's behaviour.",
    )
    expire_group_after: Duration = Field(
        default=7 * 86400.0,
        gt=0,
        description="A group with no commits for this long is forgotten (until then it "
        "stays visible after its members vanish).",
    )
    lag_seconds_threshold: Duration | None = Field(
        default=None,
        description="Threshold of the `consumer_group_lag_seconds` rule for this cluster; "
        "unset: the rule's own.",
    )


class LivenessConfig(Settings):
    """When a client's silence becomes a verdict."""

    hung_poll_seconds: Duration | None = Field(
        default=None,
        description="A consumer with records waiting that has not polled for longer is HUNG; "
        "unset: adaptive, 3 x its own recent time-between-poll-max, clamped to 30 s .. "
        "`max_poll_interval` (so a slow batch consumer is not called hung).",
    )
    max_poll_interval: Duration = Field(
        default=300.0,
        gt=0,
        description="Assumed max.poll.interval.ms when a consumer's is unknown.",
    )
    producer_stuck_seconds: Duration = Field(
        default=30.0,
        gt=0,
        description="A producer with queued records and nothing sent for this long is HUNG.",
    )
    retire_after: Duration = Field(
        default=86400.0,
        gt=0,
        description="A client DEAD for this long is RETIRED: still listed, its alert resolved "
        "(`kafkascope clients forget` removes it at once).",
    )
    expected_members: dict[str, Annotated[int, Field(ge=1)]] = Field(
        default_factory=dict,
        description="Group → member count it should have; fewer is reported. Unset groups "
        "learn their usual count.",
    )


_SECRET_PROPERTY = re.compile(
    r"password|passphrase|secret|jaas|token|credential|key\.pem|oauthbearer\.config",
    re.IGNORECASE,
)


def is_secret_property(name: str) -> bool:
    """Whether a librdkafka property's value is a credential (``sasl.password``,
    ``sasl.oauthbearer.config``, ``ssl.key.password``, ...): loaded as a :class:`Secret`,
    and never printed by the CLI."""
    return _SECRET_PROPERTY.search(name) is not None


class TelemetryConfig(Settings):
    """KIP-714 client telemetry: pushes the brokers' kafkascope plugin forwards to
    `POST /v1/metrics` (see docs/telemetry.md), and the `CLIENT_METRICS` subscription that
    makes clients push."""

    tokens: list[Secret] = Field(
        default_factory=list,
        description="Bearer tokens the brokers' plugin sends (`kafkascope.telemetry.token`). "
        "A telemetry token may only post pushes, and names the cluster they belong to; it "
        "cannot read the API nor change anything. With no API token configured at all, "
        "pushes need none.",
    )
    subscription: str = Field(
        default="kafkascope",
        min_length=1,
        max_length=200,
        description="Name of the `CLIENT_METRICS` subscription `telemetry subscribe` "
        "creates or updates.",
    )
    interval: Duration = Field(
        default=10.0,
        ge=0.1,
        le=3600,
        description="Push interval the subscription asks clients for (`interval.ms`). A "
        "telemetry-only client is DEAD after two missed pushes.",
    )
    metrics: list[str] = Field(
        default_factory=lambda: ["catalog"],
        min_length=1,
        description='Metric name prefixes the subscription asks for (`metrics`). "catalog" '
        "stands for the names kafkascope reads (32 consumer and producer metrics: "
        "`telemetry status` lists them), the smallest push that serves liveness; "
        '"org.apache.kafka.consumer." and the like ask for more, "*" for every metric.',
    )
    match: list[str] = Field(
        default_factory=list,
        description="Client selectors of the subscription (`match`), e.g. "
        '"client_software_name=apache-kafka-java"; none matches every client.',
    )
    keep_subscription: bool = Field(
        default=False,
        description="`serve` checks the subscription every minute and puts it back when "
        "it is missing or differs from this table.",
    )
    max_push_bytes: int = Field(
        default=1 << 20,
        ge=1024,
        le=64 << 20,
        description="Largest push accepted, in bytes (also bounded by [service] "
        "max_request_body); a larger one is refused with 413.",
    )


class ClusterConfig(Settings):
    """One monitored Kafka cluster."""

    name: Name = Field(
        description="Unique; used in URLs, metric labels and env overrides.",
        examples=['"prod"'],
    )
    bootstrap: Bootstrap = Field(
        description='Bootstrap servers: "host:port,host:port" or a list.',
        examples=['"kafka1:9092,kafka2:9092"'],
    )
    client_properties: Annotated[
        dict[str, str | Secret], Kind("table of librdkafka property → value")
    ] = Field(
        default_factory=dict,
        description="Passed to librdkafka as is (`security.protocol`, `sasl.*`, `ssl.*`). "
        "Values of keys naming a password, passphrase, secret, token, credential, JAAS, a key "
        "PEM or `sasl.oauthbearer.config`, and any value given as "
        '"env:NAME", "file:PATH" or `PROPERTY_file`, are secrets.',
    )
    admin_interval: Duration = Field(
        default=10.0, ge=1, description="How often cluster state and offsets are read."
    )
    jmx_interval: Duration = Field(default=10.0, ge=1, description="How often broker JMX is read.")
    client_interval: Duration = Field(
        default=5.0,
        ge=1,
        description="How often client JMX is read (liveness reacts within 2 of these).",
    )
    jmx_timeout: Duration = Field(
        default=5.0,
        gt=0,
        description="Bound of one JMX connect or read; past it a JVM is UNRESPONSIVE.",
    )
    jmx: JmxConfig = Field(
        default_factory=JmxConfig,
        description="Broker and controller metrics (JMX or an HTTP agent) and client JMX.",
    )
    lag: LagConfig = Field(default_factory=LagConfig, description="Consumer lag evaluation.")
    liveness: LivenessConfig = Field(
        default_factory=LivenessConfig, description="Client liveness thresholds."
    )
    telemetry: TelemetryConfig = Field(
        default_factory=TelemetryConfig,
        description="KIP-714 client telemetry: push tokens and the subscription.",
    )

    @field_validator("client_properties", mode="before")
    @classmethod
    def _properties(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, dict):
            return value
        env = context_env(info)
        out: dict[str, str | Secret] = {}
        for key, raw in value.items():
            if key == "bootstrap.servers":
                raise problem(
                    "bootstrap.servers is set here", "set the cluster's bootstrap key instead", key
                )
            if isinstance(raw, bool):
                raw = "true" if raw else "false"
            elif isinstance(raw, int | float):
                raw = str(raw)
            if not isinstance(raw, str):
                raise problem(
                    f"a {type(raw).__name__} is not a librdkafka value",
                    "write it as a string, number or boolean",
                    key,
                )
            if key.endswith("_file"):
                target = key.removesuffix("_file")
                if target in value:
                    raise problem(
                        f"both '{target}' and '{key}' are set", "keep only one of them", key
                    )
                text, source = read_secret_file(raw, key, info)
                out[target] = Secret(text, source)
            elif raw.startswith(("env:", "file:")) or is_secret_property(key):
                try:
                    out[key] = secret_from_string(raw, env, info)
                except PydanticCustomError as e:
                    raise problem(e.message(), str((e.context or {}).get("ks_fix")), key) from None
            else:
                out[key] = raw
        return out

    def librdkafka_config(self) -> dict[str, str]:
        """``bootstrap.servers`` plus the client properties, secrets revealed: for
        confluent-kafka only, never for logs."""
        props = {
            k: v.reveal() if isinstance(v, Secret) else v for k, v in self.client_properties.items()
        }
        return {"bootstrap.servers": self.bootstrap, **props}


class Config(Settings):
    """The whole configuration file."""

    service: ServiceConfig = Field(
        default_factory=ServiceConfig,
        description="Listen address, data directory, log level, API tokens, retention.",
    )
    clusters: list[ClusterConfig] = Field(
        min_length=1,
        description="`[[clusters]]`, one table per monitored cluster.",
        examples=['[[clusters]] with name = "prod" and bootstrap = "kafka1:9092"'],
    )
    alerts: AlertsConfig = Field(
        default_factory=AlertsConfig, description="Rule overrides, custom rules, routes, receivers."
    )

    _file: Path | None = PrivateAttr(default=None)
    _overrides: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _cross_checks(self) -> Config:
        seen: dict[str, int] = {}
        for i, cluster in enumerate(self.clusters):
            if cluster.name in seen:
                raise problem(
                    f"duplicate cluster name '{cluster.name}' (clusters[{seen[cluster.name]}] "
                    "has it too)",
                    "give every [[clusters]] its own name",
                    "clusters",
                    i,
                    "name",
                )
            seen[cluster.name] = i
        for i, route in enumerate(self.alerts.routes):
            for name in route.cluster:
                if name not in seen:
                    raise problem(
                        unknown_name("cluster", name, seen),
                        f"use a [[clusters]] name ({', '.join(seen)})",
                        "alerts",
                        "routes",
                        i,
                        "cluster",
                    )
        return self

    @property
    def file(self) -> Path | None:
        """The file this was loaded from (None: defaults and environment only)."""
        return self._file

    @property
    def env_overrides(self) -> tuple[str, ...]:
        """Names of the ``KAFKASCOPE_*`` variables that were applied."""
        return self._overrides

    def cluster(self, name: str) -> ClusterConfig:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

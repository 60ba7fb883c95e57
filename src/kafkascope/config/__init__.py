"""Typed settings, loaded once from one TOML file plus ``KAFKASCOPE_*`` environment overrides.

The composition root calls :func:`load_config` once and hands each component the part it
needs; nothing reads configuration from a global at run time.

* Every table forbids unknown keys, so a typo is an error with a suggestion, never a
  silently ignored setting.
* **Durations** are ``"500ms"``, ``"30s"``, ``"5m"``, ``"1h"``, ``"7d"``, ``"1w"``, compounds
  such as ``"1h30m"``, or a plain number of seconds; they load as ``float`` seconds.
* **Secrets** (passwords, API tokens, Slack webhook URLs, webhook headers, secret librdkafka
  properties) are :class:`Secret` objects whose ``repr``/``str``/``model_dump``/JSON is
  ``'***'``; call :meth:`Secret.reveal` at the one place the value is used. Each may be
  given inline, as ``env:NAME`` (read from the environment at load), or through a sibling
  ``KEY_file = PATH`` (read at load; must exist, be readable and non-empty).
* **Relative paths** resolve against the directory of the config file (the current
  directory when there is no file).
* **Environment overrides**: ``KAFKASCOPE_`` + the key path in upper case, segments joined
  by ``__``; entries of ``[[clusters]]`` and ``[[alerts.receivers]]`` are addressed by their
  ``name`` (upper case, every character other than a letter or digit written ``_``)::

      KAFKASCOPE_SERVICE__LISTEN=0.0.0.0:8321
      KAFKASCOPE_SERVICE__DATA_DIR=/var/lib/kafkascope
      KAFKASCOPE_SERVICE__LOG_LEVEL=debug
      KAFKASCOPE_SERVICE__ADMIN_TOKENS=tok1,tok2          (lists: comma-separated)
      KAFKASCOPE_CLUSTERS__PROD_EU__BOOTSTRAP=k1:9092,k2:9092
      KAFKASCOPE_CLUSTERS__PROD_EU__JMX__USERNAME=monitor
      KAFKASCOPE_CLUSTERS__PROD_EU__JMX__PASSWORD_FILE=/run/secrets/jmx
      KAFKASCOPE_CLUSTERS__PROD_EU__CLIENT_PROPERTIES__SASL_PASSWORD=...   (→ sasl.password)
      KAFKASCOPE_ALERTS__RECEIVERS__ONCALL_MAIL__PASSWORD=...

  The environment wins over the file. A cluster absent from the file is added when its
  ``BOOTSTRAP`` is set. Variables without ``__`` after the prefix (``KAFKASCOPE_CONFIG``,
  the tests' ``KAFKASCOPE_TEST_SANDBOX``) are not overrides; an override naming an unknown
  key is an error with a suggestion, like a typo in the file.

Errors become one :class:`~kafkascope.errors.ConfigError` that names the file (and line when
it can be found) or the environment variable, the key path (``clusters[0].jmx.broker_port``),
what is wrong and the fix. ``python -m kafkascope.config`` prints the reference
(``docs/config-reference.md``), generated from the models so it cannot drift.

This module is the package's face: it re-exports the public names. The work is done in
``values`` (value types, secrets), ``tables`` (the base table model and walking the
models), ``schema`` and ``alerting`` (the models), ``env`` (environment overrides),
``explain`` (error messages), ``load`` (:func:`load_config`) and ``reference`` (the
generated document).
"""

from __future__ import annotations

from kafkascope.config.alerting import (
    RULE_DESCRIPTIONS,
    AlertmanagerReceiver,
    AlertsConfig,
    CustomRule,
    EmailReceiver,
    Receiver,
    RouteConfig,
    RuleOverrideConfig,
    SlackReceiver,
    WebhookReceiver,
)
from kafkascope.config.load import load_config
from kafkascope.config.reference import render_reference
from kafkascope.config.schema import (
    ClusterConfig,
    Config,
    JmxClientsConfig,
    JmxConfig,
    LagConfig,
    LivenessConfig,
    RetentionConfig,
    ServiceConfig,
)
from kafkascope.config.values import (
    ENV_PREFIX,
    Secret,
    SeverityName,
    format_duration,
    parse_duration,
    port_range,
    split_host_port,
)

__all__ = [
    "ENV_PREFIX",
    "RULE_DESCRIPTIONS",
    "AlertmanagerReceiver",
    "AlertsConfig",
    "ClusterConfig",
    "Config",
    "CustomRule",
    "EmailReceiver",
    "JmxClientsConfig",
    "JmxConfig",
    "LagConfig",
    "LivenessConfig",
    "Receiver",
    "RetentionConfig",
    "RouteConfig",
    "RuleOverrideConfig",
    "Secret",
    "ServiceConfig",
    "SeverityName",
    "SlackReceiver",
    "WebhookReceiver",
    "format_duration",
    "load_config",
    "parse_duration",
    "port_range",
    "render_reference",
    "split_host_port",
]

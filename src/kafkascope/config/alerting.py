"""The ``[alerts]`` settings: overrides of the built-in rules, custom rules, routes and
receivers.

Kept apart from :mod:`kafkascope.config.schema` because it is a world of its own (it checks
rule names against the rule pack and route targets against the receivers). Its types carry
a ``Config`` suffix where the alert engine has a type of the same idea
(:class:`RuleOverrideConfig` vs ``kafkascope.alerts`` ``RuleOverride``,
:class:`RouteConfig` vs ``kafkascope.alerts.routing.Route``). The only thing of
``kafkascope.alerts`` imported here is the data-only rule pack.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, model_validator

from kafkascope.alerts.pack import BUILTIN_RULES
from kafkascope.config.tables import Settings
from kafkascope.config.values import (
    REFERENCE_DOC,
    ComparatorName,
    Duration,
    EmailAddress,
    Name,
    Port,
    Secret,
    SeverityName,
    one_or_many,
    problem,
    unknown_name,
)

#: Built-in rule name → what it fires on: the names ``[alerts.rules.NAME]`` accepts, so a
#: misspelt override is an error at load rather than being ignored.
RULE_DESCRIPTIONS: Mapping[str, str] = {r.name: r.description for r in BUILTIN_RULES}


class RuleOverrideConfig(Settings):
    """Changes to one built-in rule (`[alerts.rules.NAME]`); unset keys keep its defaults."""

    enabled: bool = Field(default=True, description="false turns the rule off.")
    severity: SeverityName | None = Field(default=None, description="info, warning or critical.")
    for_: Duration | None = Field(
        default=None, alias="for", description="How long the condition must hold before firing."
    )
    threshold: float | None = Field(default=None, description="The rule's threshold, in its unit.")
    critical_threshold: float | None = Field(
        default=None,
        description="For rules that escalate (request_handler_idle, produce_latency_p99): "
        "the threshold at which the alert becomes critical.",
    )
    window: Duration | None = Field(
        default=None,
        description="For counter rules (unclean_leader_election, producer_errors): how far "
        "back an increase counts.",
    )


class CustomRule(Settings):
    """A rule of your own: fires when `metric{labels} comparator threshold` holds for `for`."""

    name: Name = Field(description="Unique alert name.", examples=['"orders-lag-high"'])
    metric: str = Field(
        description="A catalog metric name, as on `/metrics` (broker, controller, producer "
        "and consumer metrics).",
        examples=['"kafka_consumer_records_lag_max"'],
    )
    labels: dict[str, str] = Field(
        default_factory=dict,
        description="Label selector: every label must equal its value. Samples carry their "
        "`/metrics` labels (`cluster`, `target` and the catalog's own, e.g. `client_id`, "
        "`topic`), plus `broker` (the node id) on broker metrics and `group` on a group "
        "member's consumer metrics; the alert fires once per distinct label set.",
    )
    comparator: ComparatorName = Field(description="One of > >= < <= == !=.", examples=['">"'])
    threshold: float = Field(description="Compared with the metric.", examples=["1000"])
    for_: Duration = Field(
        default=0.0, alias="for", description="How long the condition must hold before firing."
    )
    severity: SeverityName = Field(default="warning", description="info, warning or critical.")
    summary: str = Field(default="", description="One line for notifications; default: the rule.")


class RouteConfig(Settings):
    """Which alerts go to which receivers. Every matching route is used; an empty matcher
    matches everything. With no routes, every alert goes to every receiver."""

    name: Name | None = Field(
        default=None,
        description="Optional route name, for `kafkascope test-notify --config FILE NAME`.",
        examples=['"pager"'],
    )
    severity: Annotated[list[SeverityName], BeforeValidator(one_or_many)] = Field(
        default_factory=list, description="Severities that match; empty: any."
    )
    cluster: Annotated[list[str], BeforeValidator(one_or_many)] = Field(
        default_factory=list, description="Cluster names that match; empty: any."
    )
    labels: dict[str, str] = Field(
        default_factory=dict, description="Labels the alert must have with these values."
    )
    receivers: Annotated[list[str], BeforeValidator(one_or_many)] = Field(
        min_length=1, description="Receiver names to notify.", examples=['["oncall"]']
    )


_INSECURE_FIX = "set allow_insecure = true if the network path is trusted"


class WebhookReceiver(Settings):
    """POSTs the alert as JSON to a URL."""

    kind: Literal["webhook"] = Field(description="Receiver kind.", examples=['"webhook"'])
    name: Name = Field(description="Unique receiver name.", examples=['"oncall"'])
    url: Secret = Field(
        description="http(s) URL. A secret (tokens ride in its path, query or user info): "
        "messages and `check-config` show only scheme://host[:port].",
        examples=['"https://hooks.example.com/k"'],
    )
    headers: dict[str, Secret] = Field(
        default_factory=dict,
        description='Extra HTTP headers, e.g. Authorization = "env:HOOK_TOKEN"; values '
        "are secrets.",
    )
    timeout: Duration = Field(default=10.0, gt=0, description="Bound of one delivery attempt.")
    allow_insecure: bool = Field(
        default=False,
        description="Allow headers, or user info in the URL, over plain http:// (they would "
        "cross the network readable). Only for a trusted network path.",
    )

    @model_validator(mode="after")
    def _url(self) -> WebhookReceiver:
        try:
            parts = urllib.parse.urlsplit(self.url.reveal())
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise problem(
                "is not an http(s) URL with a host (value not shown: it is a secret)",
                'write the full URL, like "https://hooks.example.com/kafkascope"',
                "url",
            )
        if parts.scheme == "http" and not self.allow_insecure:
            if self.headers:
                raise problem(
                    f"is plain http:// but the headers ({', '.join(self.headers)}) are "
                    "secrets that would cross the network readable",
                    f"use an https:// URL, or {_INSECURE_FIX}",
                    "url",
                )
            if parts.username is not None or parts.password is not None:
                raise problem(
                    "is plain http:// with user info (a credential) that would cross the "
                    "network readable",
                    f"use an https:// URL, or {_INSECURE_FIX}",
                    "url",
                )
        return self


class SlackReceiver(Settings):
    """A Slack incoming webhook."""

    kind: Literal["slack"] = Field(description="Receiver kind.", examples=['"slack"'])
    name: Name = Field(description="Unique receiver name.", examples=['"slack-kafka"'])
    webhook_url: Secret = Field(
        description="The incoming-webhook URL (it is the credential).",
        examples=['"env:SLACK_WEBHOOK_URL"'],
    )
    timeout: Duration = Field(default=10.0, gt=0, description="Bound of one delivery attempt.")

    @model_validator(mode="after")
    def _https(self) -> SlackReceiver:
        if not self.webhook_url.reveal().startswith("https://"):
            raise problem(
                "is not an https:// URL (value not shown: it is a secret)",
                "copy the full webhook URL from Slack (https://hooks.slack.com/services/...)",
                "webhook_url",
            )
        return self


class EmailReceiver(Settings):
    """E-mail over SMTP."""

    kind: Literal["email"] = Field(description="Receiver kind.", examples=['"email"'])
    name: Name = Field(description="Unique receiver name.", examples=['"oncall-mail"'])
    host: str = Field(description="SMTP server.", examples=['"smtp.example.com"'])
    port: Port = Field(default=587, description='SMTP port; 465 by default with tls = "implicit".')
    tls: Literal["starttls", "implicit", "none"] = Field(
        default="starttls",
        description='"starttls": upgrade a plain connection (submission, port 587); '
        '"implicit": TLS from the first byte (SMTPS, port 465); "none": plain SMTP. The '
        "server's certificate is checked against the system's trust store.",
    )
    starttls: bool | None = Field(
        default=None,
        description='Older spelling of tls: true is tls = "starttls", false is tls = "none". '
        "Set one of the two.",
    )
    allow_insecure: bool = Field(
        default=False,
        description='Allow a password with tls = "none" (it would cross the network '
        "readable). Only for a trusted network path.",
    )
    username: str | None = Field(default=None, description="SMTP login; unset: no authentication.")
    password: Secret | None = Field(default=None, description="SMTP password.")
    from_: EmailAddress = Field(
        alias="from", description="Sender address.", examples=['"kafkascope@example.com"']
    )
    to: Annotated[list[EmailAddress], BeforeValidator(one_or_many)] = Field(
        min_length=1, description="Recipient addresses.", examples=['["oncall@example.com"]']
    )
    timeout: Duration = Field(default=30.0, gt=0, description="Bound of one delivery attempt.")

    @model_validator(mode="before")
    @classmethod
    def _tls_spelling(cls, data: Any) -> Any:
        """``starttls = true/false`` → ``tls``; ``tls = "implicit"`` without a port → 465."""
        if not isinstance(data, dict):
            return data
        out = dict(data)
        if isinstance(out.get("starttls"), bool):
            if "tls" in out:
                raise problem(
                    "both 'tls' and 'starttls' are set",
                    "keep only tls (starttls is its older spelling)",
                    "starttls",
                )
            out["tls"] = "starttls" if out["starttls"] else "none"
        if out.get("tls") == "implicit" and "port" not in out:
            out["port"] = 465
        return out

    @model_validator(mode="after")
    def _credentials(self) -> EmailReceiver:
        if self.password is not None and self.username is None:
            raise problem("a password is set but no username", 'add username = "..."', "username")
        if self.password is not None and self.tls == "none" and not self.allow_insecure:
            raise problem(
                'a password is set but tls is "none": it would cross the network readable',
                'set tls = "starttls" (port 587) or tls = "implicit" (port 465), or '
                + _INSECURE_FIX,
                "tls",
            )
        return self


class AlertmanagerReceiver(Settings):
    """Prometheus Alertmanager: alerts POSTed to its v2 API (`/api/v2/alerts`), re-posted
    every `resend_interval` while they fire (`docs/notifications.md`)."""

    kind: Literal["alertmanager"] = Field(description="Receiver kind.", examples=['"alertmanager"'])
    name: Name = Field(description="Unique receiver name.", examples=['"alertmanager"'])
    url: str = Field(
        description="Alertmanager's base URL, with its `--web.route-prefix` if any; "
        "`/api/v2/alerts` is added.",
        examples=['"http://alertmanager.example.com:9093"'],
    )
    username: str | None = Field(
        default=None, description="HTTP basic-auth user (Alertmanager behind a proxy)."
    )
    password: Secret | None = Field(default=None, description="HTTP basic-auth password.")
    bearer_token: Secret | None = Field(
        default=None, description="Sent as `Authorization: Bearer TOKEN`; instead of basic auth."
    )
    resend_interval: Duration = Field(
        default=60.0,
        ge=5,
        le=3600,
        description="A firing alert is posted again this often (Prometheus: 1 minute); each "
        "post is valid for 4 intervals, so Alertmanager ends an alert by itself 4 intervals "
        "after kafkascope last said it fires.",
    )
    timeout: Duration = Field(default=10.0, gt=0, description="Bound of one delivery attempt.")
    allow_insecure: bool = Field(
        default=False,
        description="Allow a password or bearer token over plain http:// (it would cross the "
        "network readable). Only for a trusted network path.",
    )

    @model_validator(mode="after")
    def _checks(self) -> AlertmanagerReceiver:
        try:
            parts = urllib.parse.urlsplit(self.url)
            host = parts.hostname
        except ValueError:
            parts, host = None, None
        if parts is None or parts.scheme not in ("http", "https") or not host:
            raise problem(
                f"{self.url!r} is not an http(s) URL with a host",
                'write Alertmanager\'s base URL, like "http://alertmanager:9093"',
                "url",
            )
        if parts.username is not None or parts.password is not None or parts.query:
            raise problem(
                "has user info or a query",
                "put credentials in username/password or bearer_token, and give the base URL",
                "url",
            )
        if self.bearer_token is not None and (
            self.username is not None or self.password is not None
        ):
            raise problem(
                "both bearer_token and username/password are set",
                "keep one of the two",
                "bearer_token",
            )
        if self.password is not None and self.username is None:
            raise problem("a password is set but no username", 'add username = "..."', "username")
        secret = self.password is not None or self.bearer_token is not None
        if secret and parts.scheme == "http" and not self.allow_insecure:
            raise problem(
                "is plain http:// but a password or bearer token would cross the network readable",
                f"use an https:// URL, or {_INSECURE_FIX}",
                "url",
            )
        return self


Receiver = Annotated[
    WebhookReceiver | SlackReceiver | EmailReceiver | AlertmanagerReceiver,
    Field(discriminator="kind"),
]


class AlertsConfig(Settings):
    """Alert rules, routes and receivers."""

    repeat_interval: Duration = Field(
        default=4 * 3600.0, ge=60, description="A still-firing alert is notified again this often."
    )
    rules: dict[str, RuleOverrideConfig] = Field(
        default_factory=dict,
        description="Overrides of built-in rules by name (`[alerts.rules.NAME]`).",
    )
    custom_rules: list[CustomRule] = Field(
        default_factory=list, description="Your own rules (`[[alerts.custom_rules]]`)."
    )
    routes: list[RouteConfig] = Field(
        default_factory=list, description="Which alerts go to which receivers."
    )
    receivers: list[Receiver] = Field(
        default_factory=list, description="`[[alerts.receivers]]`, each with a `kind`."
    )

    @model_validator(mode="after")
    def _references(self) -> AlertsConfig:
        for name in self.rules:
            if name not in RULE_DESCRIPTIONS:
                raise problem(
                    unknown_name("built-in rule", name, RULE_DESCRIPTIONS),
                    f"use a name from the rule pack ({REFERENCE_DOC}), or define it under "
                    "[[alerts.custom_rules]]",
                    "rules",
                    name,
                )
        seen: set[str] = set()
        for i, rule in enumerate(self.custom_rules):
            if rule.name in RULE_DESCRIPTIONS or rule.name in seen:
                raise problem(
                    f"rule name '{rule.name}' is already used"
                    + (" by a built-in rule" if rule.name in RULE_DESCRIPTIONS else ""),
                    "give the custom rule another name (override a built-in one under "
                    "[alerts.rules.NAME] instead)",
                    "custom_rules",
                    i,
                    "name",
                )
            seen.add(rule.name)
        names: set[str] = set()
        for i, receiver in enumerate(self.receivers):
            if receiver.name in names:
                raise problem(
                    f"duplicate receiver name '{receiver.name}'",
                    "give every [[alerts.receivers]] its own name",
                    "receivers",
                    i,
                    "name",
                )
            names.add(receiver.name)
        route_names: set[str] = set()
        for i, route in enumerate(self.routes):
            if route.name is not None:
                if route.name in route_names:
                    raise problem(
                        f"duplicate route name '{route.name}'",
                        "give every named [[alerts.routes]] its own name",
                        "routes",
                        i,
                        "name",
                    )
                route_names.add(route.name)
            for name in route.receivers:
                if name not in names:
                    defined = ", ".join(sorted(names)) or "none"
                    raise problem(
                        unknown_name("receiver", name, names),
                        f"define it in [[alerts.receivers]] or use a defined one ({defined})",
                        "routes",
                        i,
                        "receivers",
                    )
        return self

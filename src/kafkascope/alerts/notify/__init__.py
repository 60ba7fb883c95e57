"""Notifiers: the adapters that put a :class:`Notification` in front of a person.

Each is one method, ``send(n) -> str``: it delivers one notification to one receiver and
returns what the receiver answered (for ``kafkascope test-notify`` and the outbox history),
or raises :class:`~kafkascope.errors.NotifyError` saying whether trying again can help:

==========================================  ==========  ======================================
failure                                     retryable   why
==========================================  ==========  ======================================
connection refused / reset, DNS, timeout    yes         the receiver is down or slow
TLS handshake or certificate failure        yes         fixed at the receiver, not by resending
HTTP 5xx, 408, 429                          yes         the receiver says "later"
HTTP 3xx                                    no          wrong URL: configure the final one
HTTP 4xx (other)                            no          the request itself is refused
bad or unsupported URL                      no          configuration
SMTP 4xx reply (greylisting, 421, 450, 454) yes         SMTP's own "try again later"
SMTP 5xx reply (535 auth rejected, 550)     no          SMTP's own "permanent failure"
STARTTLS / AUTH not offered by the server   no          configuration
TLS expected, plain server (implicit TLS)   yes         fixed at the receiver, not by resending
==========================================  ==========  ======================================

Secrets (header values, webhook and Slack URLs, the SMTP password) never appear in an
error message, a returned answer or a log line: every text leaving this package passes
through a scrubber that replaces them with ``***``, and a URL is named by its origin
(``scheme://host[:port]``) alone, in httpx's own log lines too.

Every message carries the notification id (webhook JSON ``id``, header
``Idempotency-Key``, e-mail ``Message-ID``) so a receiver can drop the rare duplicate the
outbox may send after a crash (see ``docs/notifications.md``); Alertmanager merges a
repeated post of the same labels by itself.
"""

from __future__ import annotations

from kafkascope.alerts.notify.alertmanager import AlertmanagerNotifier, alertmanager_alert
from kafkascope.alerts.notify.base import Notifier
from kafkascope.alerts.notify.email import EmailNotifier, SmtpTls, email_subject, email_text
from kafkascope.alerts.notify.slack import SlackNotifier, slack_body
from kafkascope.alerts.notify.webhook import WEBHOOK_BODY_VERSION, WebhookNotifier, webhook_body

__all__ = [
    "WEBHOOK_BODY_VERSION",
    "AlertmanagerNotifier",
    "EmailNotifier",
    "Notifier",
    "SlackNotifier",
    "SmtpTls",
    "WebhookNotifier",
    "alertmanager_alert",
    "email_subject",
    "email_text",
    "slack_body",
    "webhook_body",
]

"""The HTTP POST that the webhook and Slack notifiers share, and how its failures are
classified (retryable or not) into :class:`~kafkascope.errors.NotifyError`.

A receiver's URL is a secret (tokens ride in its user info, path and query), so every
text that names one shows only its origin, ``scheme://host[:port]`` (:func:`public_url`).
That includes httpx's own ``HTTP Request: POST <url>`` log line: importing this module
installs a filter on the ``httpx`` logger that cuts each URL in it down to its origin.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import ssl
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from kafkascope.alerts.notify.base import ANSWER_CHARS, Scrubber
from kafkascope.errors import NotifyError

__all__ = ["parse_url", "post_json", "public_url"]

#: HTTP statuses that mean "try again later".
_RETRYABLE_STATUS = frozenset({408, 425, 429})
_USER_AGENT = "kafkascope-notifier/1"


def parse_url(url: str, what: str, shown: str) -> httpx.URL:
    """``url`` as an absolute http(s) URL, or ValueError naming ``shown`` (never the URL
    itself: it is a secret)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(f"{what}: {shown} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what}: {shown} is not an http:// or https:// URL with a host")
    return parsed


def public_url(url: httpx.URL) -> str:
    """Scheme, host and port: no user info, path or query (any of them may hold a token)."""
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{host}{port}"


class _OriginsOnly(logging.Filter):
    """Rewrites the ``httpx.URL`` arguments of a log record to their origin."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
            record.args = tuple(
                public_url(a) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def _install_log_filter() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _OriginsOnly) for f in logger.filters):
        logger.addFilter(_OriginsOnly())


_install_log_filter()


def _answer(response: httpx.Response) -> str:
    body = " ".join(response.text.split())
    if len(body) > ANSWER_CHARS:
        body = body[:ANSWER_CHARS] + "…"
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    return f"HTTP {response.status_code}{reason}" + (f": {body}" if body else "")


def post_json(
    *,
    url: httpx.URL,
    target: str,
    body: Mapping[str, Any] | Sequence[Any],
    headers: Mapping[str, str],
    timeout: float,
    verify: ssl.SSLContext | bool,
    scrub: Scrubber,
) -> str:
    """POST ``body`` (a JSON object or list); the receiver's answer on 2xx, else a
    classified ``NotifyError``."""

    def fail(message: str, retryable: bool) -> NotifyError:
        return NotifyError(scrub(f"{target}: {message}"), retryable=retryable)

    data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    all_headers = {
        "Content-Type": "application/json; charset=utf-8",
        "User-Agent": _USER_AGENT,
        **headers,
    }
    try:
        with httpx.Client(timeout=timeout, verify=verify, follow_redirects=False) as client:
            response = client.post(url, content=data, headers=all_headers)
    except (httpx.InvalidURL, httpx.UnsupportedProtocol) as e:
        raise fail(
            f"invalid URL ({type(e).__name__}). Fix: correct the receiver's URL", False
        ) from None
    except httpx.TimeoutException as e:
        raise fail(
            f"no answer within {timeout:g} s ({type(e).__name__}); will retry", True
        ) from None
    except httpx.TransportError as e:
        raise fail(f"cannot deliver: {_transport_reason(e)}; will retry", True) from None
    except httpx.HTTPError as e:
        # Anything else httpx raises (its messages may quote the URL): the type alone.
        raise fail(f"cannot deliver: {type(e).__name__}; will retry", True) from None
    code = response.status_code
    answer = _answer(response)
    if 200 <= code < 300:
        return scrub(answer)
    if code >= 500 or code in _RETRYABLE_STATUS:
        raise fail(f"receiver answered {answer}; will retry", True)
    if 300 <= code < 400:
        shown = "elsewhere"
        with contextlib.suppress(httpx.InvalidURL, ValueError):
            location = httpx.URL(response.headers.get("location", ""))
            if location.scheme and location.host:
                shown = public_url(location)
        raise fail(
            f"receiver answered {answer}, redirecting to {shown}. Fix: configure the final URL",
            False,
        )
    raise fail(f"receiver refused the notification: {answer}. Not retried", False)


def _transport_reason(e: httpx.TransportError) -> str:
    """The root cause of a transport failure in words (``connection refused``, ...)."""
    cause: BaseException | None = e
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message})"
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused (is the receiver running?)"
        if isinstance(cause, socket.gaierror):
            return f"host name not resolved ({cause.strerror})"
        cause = cause.__cause__ or cause.__context__
    return f"{type(e).__name__}: {e}" if str(e) else type(e).__name__

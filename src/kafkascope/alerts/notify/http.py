"""The HTTP POST that the webhook and Slack notifiers share, and how its failures are
classified (retryable or not) into :class:`~kafkascope.errors.NotifyError`."""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Mapping
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
    itself when it is a secret)."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError):
        raise ValueError(f"{what}: {shown} is not a valid URL") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"{what}: {shown} is not an http:// or https:// URL with a host")
    return parsed


def public_url(url: httpx.URL) -> str:
    """Scheme, host, port and path: no user info, no query (they often hold tokens)."""
    port = f":{url.port}" if url.port else ""
    return f"{url.scheme}://{url.host}{port}{url.path}"


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
    body: Mapping[str, Any],
    headers: Mapping[str, str],
    timeout: float,
    verify: ssl.SSLContext | bool,
    scrub: Scrubber,
) -> str:
    """POST ``body``; the receiver's answer on 2xx, else a classified ``NotifyError``."""

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
    code = response.status_code
    answer = _answer(response)
    if 200 <= code < 300:
        return scrub(answer)
    if code >= 500 or code in _RETRYABLE_STATUS:
        raise fail(f"receiver answered {answer}; will retry", True)
    if 300 <= code < 400:
        where = response.headers.get("location", "")
        shown = public_url(httpx.URL(where)) if "://" in where else "elsewhere"
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

"""What the HTTP side needs from the running service (``Backend``), and the request bodies
it takes (``SilenceIn``, ``AckIn``): a floor under both the JSON API (``app``) and the
console, so neither imports the other for them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel, Field, field_validator

from kafkascope.api.metrics import AlertCounts
from kafkascope.monitor.live import LiveState
from kafkascope.store.history import History

SILENCE_MAX = 366 * 86400


class AlertsBackend(Protocol):
    def list_alerts(self, state: str | None) -> list[dict[str, Any]]: ...
    def ack_alert(self, alert_id: str, by: str, note: str = "") -> dict[str, Any]: ...
    def list_silences(self) -> list[dict[str, Any]]: ...
    def add_silence(self, spec: Any, by: str) -> dict[str, Any]: ...
    def delete_silence(self, silence_id: str) -> bool: ...
    def alert_counts(self) -> AlertCounts: ...


class Backend(Protocol):
    """What the API needs from the running service."""

    @property
    def live(self) -> LiveState: ...
    @property
    def history(self) -> History: ...
    @property
    def read_tokens(self) -> Sequence[str]: ...
    @property
    def admin_tokens(self) -> Sequence[str]: ...
    @property
    def alerts(self) -> AlertsBackend | None: ...

    def health(self) -> dict[str, Any]: ...

    def forget_client(
        self, cluster: str, client_id: str, target: str | None
    ) -> list[dict[str, Any]]: ...


class SilenceIn(BaseModel):
    """A silence: label matchers (``{"cluster": "prod", "broker": "2"}``; a value starting
    with ``~`` is an anchored regex), for ``duration`` seconds or until ``expires_at``."""

    matchers: dict[str, str] = Field(min_length=1)
    duration: float | None = Field(default=None, gt=0, le=SILENCE_MAX, allow_inf_nan=False)
    expires_at: float | None = Field(default=None, allow_inf_nan=False)
    comment: str = Field(default="", max_length=2000)

    @field_validator("expires_at")
    @classmethod
    def _within_cap(cls, value: float | None) -> float | None:
        """A silence ends in the future and at most 366 days from now, like ``duration``
        (NaN and infinities are refused by ``allow_inf_nan`` before this)."""
        if value is None:
            return value
        now = time.time()
        if value <= now:
            raise ValueError("expires_at is in the past; give a unix time in the future")
        if value > now + SILENCE_MAX:
            raise ValueError(
                "expires_at is more than 366 days away; give a nearer time, or renew the "
                "silence later"
            )
        return value


class AckIn(BaseModel):
    """Who acknowledges, and an optional note (why, what is being done), kept with the
    alert and shown by the API, the console and ``kafkascope alerts``."""

    by: str = Field(default="api", min_length=1, max_length=200)
    note: str = Field(default="", max_length=2000)

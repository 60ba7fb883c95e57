"""The exception tree. Every error a user can hit says what happened, where, and the fix.

KafkascopeError
├── ConfigError            bad or missing setting (names the file, key and fix)
├── EnvironmentProblem     a tool kafkascope needs is missing (java, mvn, jars)
├── SandboxError           the local Kafka sandbox cannot do what was asked
├── SourceError            a monitored thing could not be read
│   ├── Unreachable        nothing listens, or the connection was refused
│   ├── Timeout            it connected but did not answer within the bound
│   └── AuthFailed         credentials were rejected
├── StoreError             the SQLite store failed
└── NotifyError            a notification failed (``retryable`` says whether to retry)
"""

from __future__ import annotations


class KafkascopeError(Exception):
    """Base of every error kafkascope raises on purpose."""


class ConfigError(KafkascopeError):
    """A setting is wrong or missing."""


class EnvironmentProblem(KafkascopeError):
    """A tool kafkascope needs (java, mvn, the Kafka jars) is missing."""


class SandboxError(KafkascopeError):
    """The local sandbox cannot do what was asked."""


class SourceError(KafkascopeError):
    """A monitored endpoint could not be read."""

    def __init__(self, target: str, message: str) -> None:
        super().__init__(f"{target}: {message}")
        self.target = target
        self.detail = message

    def __reduce__(self) -> tuple[type[SourceError], tuple[str, str]]:
        # Crosses process boundaries (the isolated Kafka admin worker): keep both parts.
        return (type(self), (self.target, self.detail))


class Unreachable(SourceError):
    """Nothing listens at the target, or it refused the connection."""


class Timeout(SourceError):
    """The target accepted the connection but did not answer within the bound."""


class AuthFailed(SourceError):
    """The target rejected the credentials."""


class StoreError(KafkascopeError):
    """The history store failed."""


class NotifyError(KafkascopeError):
    """A notification could not be delivered."""

    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable

    def __reduce__(self) -> tuple[object, ...]:
        return (_notify_error, (type(self), str(self), self.retryable))


def _notify_error(cls: type[NotifyError], message: str, retryable: bool) -> NotifyError:
    return cls(message, retryable=retryable)

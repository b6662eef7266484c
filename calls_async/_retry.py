"""Retry policy: which failures are retried, and how long to wait before each retry.

Retries are classified before they happen, by what the failure says about the
request:

- ``ConnectError`` means the request never reached the service: any method may be
  sent again.
- GET and DELETE are idempotent: they are also retried after a broken connection or a
  timeout, and on 429, 503 and 504.
- A POST or PATCH that may have reached the service (a broken connection after
  sending, a timeout, a 5xx) is not sent again, because a duplicate prompt, invite or
  call is worse than an error. 429 is retried for every method, since the service
  refused the request without acting on it. A caller who knows an action is safe to
  repeat can opt in for that call with ``RetryPolicy(retry_after_send=True)``.

Delays honour ``Retry-After`` on 429 and 503 (seconds, fractions too, or an HTTP
date) plus up to 10% jitter; otherwise they grow exponentially from ``base_delay``,
capped at ``max_delay``, with full jitter. Nothing is retried past ``deadline``
seconds after the first attempt.
"""

from __future__ import annotations

import random

import attrs

from calls_async._config import UseClientDefault
from calls_async._errors import (
    CallsError,
    ConnectError,
    HTTPStatusError,
    PoolTimeout,
    TooManyRequestsError,
    TransportError,
)

__all__ = ["DEFAULT_RETRY", "Retry", "RetryPolicy"]

_IDEMPOTENT = frozenset({"GET", "DELETE", "HEAD", "OPTIONS"})
_RETRY_STATUSES = frozenset({429, 503, 504})


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """The rules for retrying a request.

    Attributes:
        attempts: tries in all, the first one included; 1 turns retries off.
        base_delay: seconds before the first retry without ``Retry-After``.
        max_delay: upper bound of any single delay, ``Retry-After`` included.
        deadline: seconds after the first attempt after which nothing is retried.
        retry_after_send: also retry a POST or PATCH after a failure that may have
            reached the service (a broken connection, a timeout, 503 or 504).
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 30.0
    deadline: float = 60.0
    retry_after_send: bool = False

    def __attrs_post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(
                f"RetryPolicy.attempts is {self.attempts!r}; give at least 1 (1 means "
                "no retries)"
            )
        for name in ("base_delay", "max_delay", "deadline"):
            value = getattr(self, name)
            if value < 0:
                raise ValueError(
                    f"RetryPolicy.{name} is {value!r}; it must be 0 or more seconds"
                )

    @classmethod
    def none(cls) -> RetryPolicy:
        """Return a policy that never retries."""
        return cls(attempts=1)

    def should_retry(self, method: str, error: CallsError) -> bool:
        """Return True if ``error`` on a ``method`` request may be retried at all."""
        if isinstance(error, PoolTimeout):
            # Waiting for a connection again would only repeat the wait.
            return False
        if isinstance(error, ConnectError):
            return True
        safe = method.upper() in _IDEMPOTENT or self.retry_after_send
        if isinstance(error, HTTPStatusError):
            if error.status == 429:
                return True
            return safe and error.status in _RETRY_STATUSES
        if isinstance(error, TransportError):
            return safe
        return False

    def delay(self, attempt: int, error: CallsError) -> float:
        """Return the seconds to wait before retry number ``attempt`` (from 1)."""
        retry_after = _retry_after(error)
        if retry_after is not None:
            jitter = random.uniform(0, 0.1 * retry_after)
            return min(self.max_delay, retry_after + jitter)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return random.uniform(0, ceiling)


def _retry_after(error: CallsError) -> float | None:
    if isinstance(error, TooManyRequestsError):
        return error.retry_after
    if isinstance(error, HTTPStatusError) and error.status == 503:
        value = error.headers.get("Retry-After")
        if value is not None:
            from calls_async._protocol import parse_retry_after

            return parse_retry_after(value)
    return None


DEFAULT_RETRY = RetryPolicy()
"""Four tries over at most 60 s."""

Retry = RetryPolicy | UseClientDefault
"""A per-call retry override: a policy, or the client's default."""

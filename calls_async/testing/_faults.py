"""Fault rules for requests and notifications, and the request throttle.

A request rule matches a request by method and path, and a notification rule
matches a notification by its resourceUrl and changeType. Paths are shell-style
patterns (`*` also matches `/`) compared without case against the whole request
path, such as `/v1.0/communications/calls/*/playPrompt`. A rule fires on every
match, on the first `times` matches, or on a fraction of them: each match draws
from the rule's own `random.Random(seed)`, so a seeded rule fires on the same
requests in every run. Rules are tried in the order they were added, and at most
one fault applies to a request or a notification.

`processed` sets whether the emulator carries out the request before the fault.
A rule with `processed=False` models a request the service never saw, so it
leaves calls and operations unchanged. With `processed=True` the request takes
effect and only its response is lost or damaged, which is the case where a client
must not retry a POST blindly.

The throttle counts Graph requests that passed authentication. The emulator has
one app registration, so one window counts every such request, like the service's
per-app limit.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import email.utils
import enum
import fnmatch
import math
import random
import time
import uuid
from types import TracebackType
from typing import Any

from aiohttp import web

from calls_async.testing._settings import THROTTLE_MODES, EmulatorSettings
from calls_async.testing._stats import EmulatorStats
from calls_async.testing._wire import JsonObject

# How often a held request checks whether its client has disconnected, in seconds.
_POLL_INTERVAL = 0.02


class FaultKind(enum.StrEnum):
    """The misbehaviour that a fault rule applies to what it matches."""

    STATUS = "status"
    """Respond with `status` and a Graph error body, and Retry-After if set."""
    PROXY_ERROR = "proxy_error"
    """Respond with `status` and an HTML or plain-text page, as a proxy would."""
    RESET = "reset"
    """Read the request, then reset the connection without a response."""
    STALL = "stall"
    """Never respond, until the client disconnects or the rule is removed."""
    SLOW = "slow"
    """Respond normally after `delay` seconds."""
    INVALID_JSON = "invalid_json"
    """Respond with a success status and a body that is not JSON."""
    TRUNCATED = "truncated"
    """Send half the body under a Content-Length for all of it, then close."""
    DUPLICATE = "duplicate"
    """Deliver a notification twice."""
    LATE = "late"
    """Deliver a notification `delay` seconds late, after any queued since."""


NOTIFICATION_KINDS = frozenset({FaultKind.DUPLICATE, FaultKind.LATE})
# Whether the emulator carries out a request before each fault, unless the rule
# sets `processed`. A damaged body usually belongs to a request that took effect.
_PROCESSED_BY_DEFAULT = {
    FaultKind.STATUS: False,
    FaultKind.PROXY_ERROR: False,
    FaultKind.RESET: False,
    FaultKind.STALL: False,
    FaultKind.SLOW: False,
    FaultKind.INVALID_JSON: True,
    FaultKind.TRUNCATED: True,
}
_DEFAULT_STATUS = {FaultKind.STATUS: 503, FaultKind.PROXY_ERROR: 502}
_CONTENT_TYPES = frozenset({"text/html", "text/plain"})


def format_seconds(seconds: float) -> str:
    """Format a Retry-After delay, rounded up to the millisecond."""
    if float(seconds).is_integer():
        return str(int(seconds))
    rounded = math.ceil(seconds * 1000) / 1000
    return f"{rounded:.3f}".rstrip("0").rstrip(".")


@dataclasses.dataclass(eq=False)
class FaultRule:
    """One fault rule; `FaultInjector.add` creates it and `remove()` ends it.

    The rule is also a context manager that removes it on exit.
    """

    kind: FaultKind
    path: str = "*"
    method: str | None = None
    """The HTTP method matched, any method if None."""
    change_type: str | None = None
    """The notification changeType matched, any if None."""
    status: int | None = None
    retry_after: float | str | None = None
    """Retry-After in seconds, or a string sent as it is."""
    retry_after_date: bool = False
    """Send Retry-After as the HTTP date `retry_after` seconds from now."""
    delay: float = 0.0
    processed: bool = False
    content_type: str = "text/html"
    code: str | None = None
    message: str | None = None
    times: int | None = None
    """Fire on the first `times` matches only; on every match if None."""
    probability: float = 1.0
    seed: int | None = None
    id: str = dataclasses.field(default_factory=lambda: str(uuid.uuid4()))
    applied: int = 0
    """Requests or notifications this rule has changed so far."""
    removed: bool = False
    _random: random.Random = dataclasses.field(init=False, repr=False)
    _injector: FaultInjector | None = dataclasses.field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @property
    def remaining(self) -> int | None:
        """Matches left before the rule stops firing, or None without a limit."""
        return None if self.times is None else max(self.times - self.applied, 0)

    def remove(self) -> None:
        """Stop applying the rule and release the requests it keeps waiting."""
        if self._injector is not None:
            self._injector.remove(self)
        self.removed = True

    def __enter__(self) -> FaultRule:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.remove()

    def retry_after_header(self) -> str | None:
        if self.retry_after is None:
            return None
        if isinstance(self.retry_after, str):
            return self.retry_after
        if self.retry_after_date:
            moment = time.time() + math.ceil(self.retry_after)
            return email.utils.formatdate(moment, usegmt=True)
        return format_seconds(self.retry_after)

    def as_json(self) -> JsonObject:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "path": self.path,
            "method": self.method,
            "changeType": self.change_type,
            "status": self.status,
            "retryAfter": self.retry_after,
            "retryAfterDate": self.retry_after_date,
            "delay": self.delay,
            "processed": self.processed,
            "contentType": self.content_type,
            "code": self.code,
            "message": self.message,
            "times": self.times,
            "probability": self.probability,
            "seed": self.seed,
            "applied": self.applied,
            "remaining": self.remaining,
        }

    def _matches(self, path: str) -> bool:
        return fnmatch.fnmatchcase(path.lower(), self.path.lower())

    def _fires(self) -> bool:
        if self.times is not None and self.applied >= self.times:
            return False
        return self.probability >= 1.0 or self._random.random() < self.probability


class Throttle:
    """Admits at most `limit` requests per `window` seconds."""

    def __init__(
        self, limit: int, window: float, mode: str, retry_after: float | None
    ) -> None:
        self.limit = limit
        self.window = window
        self.mode = mode
        self.retry_after = retry_after
        self._times: collections.deque[float] = collections.deque()
        self._window_start = -math.inf
        self._count = 0

    def admit(self, now: float) -> float | None:
        """Count a request at `now`; return the seconds to wait if it is over."""
        if self.mode == "fixed":
            if now >= self._window_start + self.window:
                self._window_start = now
                self._count = 0
            if self._count >= self.limit:
                return self._window_start + self.window - now
            self._count += 1
            return None

        while self._times and self._times[0] <= now - self.window:
            self._times.popleft()
        if len(self._times) >= self.limit:
            return self._times[0] + self.window - now
        self._times.append(now)
        return None

    def as_json(self) -> JsonObject:
        return {
            "limit": self.limit,
            "window": self.window,
            "mode": self.mode,
            "retryAfter": self.retry_after,
        }


class FaultInjector:
    """The fault rules and the throttle of one emulator."""

    def __init__(self, settings: EmulatorSettings, stats: EmulatorStats) -> None:
        self._stats = stats
        self._request_rules: list[FaultRule] = []
        self._notification_rules: list[FaultRule] = []
        self._throttle: Throttle | None = None
        self.closed = False
        if settings.throttle_limit > 0:
            self.throttle(
                settings.throttle_limit,
                window=settings.throttle_window,
                mode=settings.throttle_mode,
            )

    @property
    def rules(self) -> list[FaultRule]:
        """The active rules, request rules first, each group in the order added."""
        return [*self._request_rules, *self._notification_rules]

    @property
    def has_request_rules(self) -> bool:
        return bool(self._request_rules)

    @property
    def has_notification_rules(self) -> bool:
        return bool(self._notification_rules)

    @property
    def throttling(self) -> Throttle | None:
        """The active throttle, or None when requests are not throttled."""
        return self._throttle

    def add(
        self,
        kind: FaultKind | str,
        *,
        path: str = "*",
        method: str | None = None,
        change_type: str | None = None,
        status: int | None = None,
        retry_after: float | str | None = None,
        retry_after_date: bool = False,
        delay: float = 0.0,
        processed: bool | None = None,
        content_type: str = "text/html",
        code: str | None = None,
        message: str | None = None,
        times: int | None = None,
        probability: float = 1.0,
        seed: int | None = None,
    ) -> FaultRule:
        """Add a fault rule and return it; see FaultKind for the kinds.

        Raises ValueError for an unknown kind or an option outside its range, and
        for an option that the kind does not use.
        """
        fault_kind = _fault_kind(kind)
        if fault_kind in NOTIFICATION_KINDS and method is not None:
            raise ValueError(f"a {fault_kind} fault matches notifications, not methods")
        if fault_kind not in NOTIFICATION_KINDS and change_type is not None:
            raise ValueError(f"a {fault_kind} fault matches requests, not change types")
        _check_rule_options(
            fault_kind,
            status=status,
            retry_after=retry_after,
            delay=delay,
            processed=processed,
            content_type=content_type,
            times=times,
            probability=probability,
        )
        rule = FaultRule(
            kind=fault_kind,
            path=path,
            method=method.upper() if method else None,
            change_type=change_type,
            status=status or _DEFAULT_STATUS.get(fault_kind),
            retry_after=retry_after,
            retry_after_date=retry_after_date,
            delay=delay,
            processed=(
                processed
                if processed is not None
                else _PROCESSED_BY_DEFAULT.get(fault_kind, False)
            ),
            content_type=content_type,
            code=code,
            message=message,
            times=times,
            probability=probability,
            seed=seed,
        )
        rule._injector = self
        if fault_kind in NOTIFICATION_KINDS:
            self._notification_rules.append(rule)
        else:
            self._request_rules.append(rule)
        return rule

    def get(self, rule_id: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    def remove(self, rule: FaultRule) -> bool:
        """Remove a rule; return False if it was not active."""
        rule.removed = True
        for rules in (self._request_rules, self._notification_rules):
            if rule in rules:
                rules.remove(rule)
                return True
        return False

    def clear(self) -> None:
        """Remove every rule; the throttle stays as it is."""
        for rule in self.rules:
            self.remove(rule)

    def throttle(
        self,
        limit: int,
        *,
        window: float = 1.0,
        mode: str = "sliding",
        retry_after: float | None = None,
    ) -> Throttle:
        """Respond 429 to Graph requests past `limit` per `window` seconds.

        `mode` is `sliding` (the last `window` seconds) or `fixed` (windows that
        start with the first request after the previous one ended). Retry-After
        is `retry_after` seconds, or else the time until a request is admitted.
        """
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"invalid throttle limit {limit!r}: expected an int >= 1")
        if not _is_positive(window):
            raise ValueError(
                f"invalid throttle window {window!r}: expected seconds > 0"
            )
        if mode not in THROTTLE_MODES:
            raise ValueError(
                f"invalid throttle mode {mode!r}: expected 'sliding' or 'fixed'"
            )
        if retry_after is not None and not _is_non_negative(retry_after):
            raise ValueError(
                f"invalid retry_after {retry_after!r}: expected seconds >= 0"
            )
        self._throttle = Throttle(limit, window, mode, retry_after)
        return self._throttle

    def stop_throttling(self) -> None:
        self._throttle = None

    def check_throttle(self) -> str | None:
        """Count one Graph request; return its Retry-After value if throttled."""
        throttle = self._throttle
        if throttle is None:
            return None
        wait = throttle.admit(time.monotonic())
        if wait is None:
            return None
        self._stats.requests_throttled += 1
        if throttle.retry_after is not None:
            return format_seconds(throttle.retry_after)
        return format_seconds(max(wait, 0.001))

    def match_request(self, method: str, path: str) -> FaultRule | None:
        """Return the rule that fires for this request, counting it, or None."""
        for rule in self._request_rules:
            if rule.method is not None and rule.method != method.upper():
                continue
            if rule._matches(path) and rule._fires():
                self._count(rule)
                return rule
        return None

    def match_notification(
        self, resource_url: str, change_type: str
    ) -> FaultRule | None:
        """Return the rule that fires for this notification, counting it, or None."""
        for rule in self._notification_rules:
            if rule.change_type is not None and rule.change_type != change_type:
                continue
            if rule._matches(resource_url) and rule._fires():
                self._count(rule)
                return rule
        return None

    async def hold(
        self, request: web.BaseRequest, rule: FaultRule, seconds: float | None
    ) -> bool:
        """Hold a request for `seconds`, or until released if None.

        The rule's removal releases the request early. Returns False when the
        client has disconnected or the emulator is closing, so the caller drops
        the request.
        """
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        while not rule.removed and not self.closed and not _client_gone(request):
            wait = _POLL_INTERVAL
            if deadline is not None:
                wait = min(wait, deadline - loop.time())
                if wait <= 0:
                    break
            await asyncio.sleep(wait)
        return not self.closed and not _client_gone(request)

    def open(self) -> None:
        """Hold requests again, after `close()`, when the emulator restarts."""
        self.closed = False

    def close(self) -> None:
        """Release every held request so that the server can stop."""
        self.closed = True

    def _count(self, rule: FaultRule) -> None:
        rule.applied += 1
        self._stats.faults_applied[str(rule.kind)] += 1


def _client_gone(request: web.BaseRequest) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _fault_kind(kind: FaultKind | str) -> FaultKind:
    try:
        return FaultKind(kind)
    except ValueError:
        expected = ", ".join(member.value for member in FaultKind)
        raise ValueError(
            f"unknown fault kind {kind!r}: expected one of {expected}"
        ) from None


def _check_rule_options(
    kind: FaultKind,
    *,
    status: int | None,
    retry_after: float | str | None,
    delay: float,
    processed: bool | None,
    content_type: str,
    times: int | None,
    probability: float,
) -> None:
    if status is not None and (
        isinstance(status, bool)
        or not isinstance(status, int)
        or not 100 <= status < 600
    ):
        raise ValueError(f"invalid status {status!r}: expected an int from 100 to 599")
    is_seconds = retry_after is not None and not isinstance(retry_after, str)
    if is_seconds and not _is_non_negative(retry_after):
        raise ValueError(
            f"invalid retry_after {retry_after!r}: expected seconds >= 0 or a string"
        )
    if not _is_non_negative(delay):
        raise ValueError(f"invalid delay {delay!r}: expected seconds >= 0")
    if kind in (FaultKind.SLOW, FaultKind.LATE) and delay <= 0:
        raise ValueError(f"a {kind} fault needs a delay in seconds > 0")
    if processed is not None and kind in NOTIFICATION_KINDS:
        raise ValueError(f"a {kind} fault applies to notifications, not requests")
    if kind == FaultKind.PROXY_ERROR and content_type not in _CONTENT_TYPES:
        raise ValueError(
            f"invalid content_type {content_type!r}: expected text/html or text/plain"
        )
    if times is not None and (
        isinstance(times, bool) or not isinstance(times, int) or times < 1
    ):
        raise ValueError(f"invalid times {times!r}: expected an int >= 1 or None")
    if not _is_non_negative(probability) or probability > 1:
        raise ValueError(
            f"invalid probability {probability!r}: expected a number from 0 to 1"
        )


def _is_non_negative(value: Any) -> bool:
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    return is_number and math.isfinite(value) and value >= 0


def _is_positive(value: Any) -> bool:
    return _is_non_negative(value) and value > 0

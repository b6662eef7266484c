"""Delivery of commsNotifications to each call's callback URI.

Every call has its own FIFO queue and at most one sender task, so a call's
notifications reach the bot in the order its state changed, while different calls
are delivered concurrently. A sender task exists only while its queue is not empty.

A delivery is retried with doubling backoff when the bot cannot be reached, times
out or responds with 5xx. Any other status ends the delivery: 2xx counts as sent,
3xx and 4xx as failed. Redirects are not followed, so a notification never leaves
the hosts in `EmulatorSettings.notify_hosts`. A callback URI on any other host is
logged as skipped and nothing is sent.

Notification fault rules act when a notification is queued: a `duplicate` queues
it twice, and a `late` one is queued only after its delay, so notifications of the
call queued in the meantime are delivered before it.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
from urllib.parse import urlsplit

import aiohttp

from calls_async.testing._change_feed import ChangeFeed
from calls_async.testing._faults import FaultInjector, FaultKind
from calls_async.testing._settings import EmulatorSettings
from calls_async.testing._stats import EmulatorStats
from calls_async.testing._tokens import NotificationTokenSigner
from calls_async.testing._wire import JsonObject, notification_envelope

_LOGGER = logging.getLogger("calls_async.testing.notifications")


@dataclasses.dataclass(frozen=True, slots=True)
class NotificationDelivery:
    """The outcome of one notification POST, after its last attempt."""

    time: float
    """Wall-clock time of the last attempt, in seconds since the epoch."""
    call_id: str
    callback_uri: str
    change_type: str
    resource_url: str
    status: int | None
    """HTTP status of the last attempt, or None when no response arrived."""
    error: str | None
    attempts: int
    body: JsonObject

    @property
    def delivered(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclasses.dataclass(frozen=True, slots=True)
class _Pending:
    call_id: str
    callback_uri: str
    entry: JsonObject


class Notifier:
    """Queues notifications per call and sends them with one shared HTTP session."""

    def __init__(
        self,
        settings: EmulatorSettings,
        signer: NotificationTokenSigner,
        stats: EmulatorStats,
        faults: FaultInjector,
        feed: ChangeFeed,
    ) -> None:
        self._settings = settings
        self._signer = signer
        self._stats = stats
        self._faults = faults
        self._feed = feed
        self.deliveries: collections.deque[NotificationDelivery] = collections.deque(
            maxlen=settings.notification_log_size
        )
        self._queues: dict[str, collections.deque[_Pending]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}
        # Tasks that queue a late notification once its delay has passed.
        self._late: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None
        self._allowed_by_uri: dict[str, bool] = {}

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.notification_timeout)
        self._session = aiohttp.ClientSession(timeout=timeout, trust_env=False)

    async def close(self) -> None:
        senders = [*self._senders.values(), *self._late]
        for sender in senders:
            sender.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        self._senders.clear()
        self._late.clear()
        self._queues.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    def enqueue(self, call_id: str, callback_uri: str, entry: JsonObject) -> None:
        """Queue one notification entry for a call; it is sent after earlier ones."""
        rule = None
        if self._faults.has_notification_rules:
            rule = self._faults.match_notification(
                entry["resourceUrl"], entry["changeType"]
            )
        if rule is not None and rule.kind == FaultKind.LATE:
            task = asyncio.create_task(
                self._enqueue_late(rule.delay, call_id, callback_uri, entry),
                name=f"notify-late-{call_id}",
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            return
        self._append(call_id, callback_uri, entry)
        if rule is not None and rule.kind == FaultKind.DUPLICATE:
            self._append(call_id, callback_uri, entry)

    async def drain(self) -> None:
        """Wait until every queued notification is delivered or given up.

        Late notifications count as queued from the start of their delay.
        """
        while self._senders or self._late:
            await asyncio.wait([*self._senders.values(), *self._late])

    async def _enqueue_late(
        self, delay: float, call_id: str, callback_uri: str, entry: JsonObject
    ) -> None:
        await asyncio.sleep(delay)
        self._append(call_id, callback_uri, entry)

    def _append(self, call_id: str, callback_uri: str, entry: JsonObject) -> None:
        queue = self._queues.get(call_id)
        if queue is None:
            queue = self._queues[call_id] = collections.deque()
        queue.append(_Pending(call_id, callback_uri, entry))
        if call_id not in self._senders:
            self._senders[call_id] = asyncio.create_task(
                self._send_queue(call_id, queue), name=f"notify-{call_id}"
            )

    async def _send_queue(
        self, call_id: str, queue: collections.deque[_Pending]
    ) -> None:
        try:
            while queue:
                await self._deliver(queue[0])
                queue.popleft()
        finally:
            # No await separates the emptiness check above from this cleanup, so no
            # entry can be queued in between without a sender to take it.
            del self._senders[call_id]
            del self._queues[call_id]

    async def _deliver(self, pending: _Pending) -> None:
        body = notification_envelope([pending.entry])
        if not self._is_allowed(pending.callback_uri):
            self._stats.notifications_skipped += 1
            skipped = "not sent: the callback host is not in notify_hosts"
            self._record(pending, body, None, skipped, attempts=0)
            return

        status, error, attempts = await self._post_with_retries(pending, body)
        if status is not None and 200 <= status < 300:
            self._stats.notifications_sent += 1
        else:
            self._stats.notifications_failed += 1
            _LOGGER.warning(
                "notification for call %s to %s failed after %d attempts: %s",
                pending.call_id,
                pending.callback_uri,
                attempts,
                error or f"HTTP {status}",
            )
        self._record(pending, body, status, error, attempts)

    async def _post_with_retries(
        self, pending: _Pending, body: JsonObject
    ) -> tuple[int | None, str | None, int]:
        backoff = self._settings.notification_retry_backoff
        attempts = self._settings.notification_attempts
        status: int | None = None
        error: str | None = None
        for attempt in range(1, attempts + 1):
            status, error = await self._post_once(pending.callback_uri, body)
            retryable = status is None or status >= 500
            if not retryable or attempt == attempts:
                return status, error, attempt

            self._stats.notification_retries += 1
            _LOGGER.info(
                "retrying notification for call %s to %s in %.3f s: %s",
                pending.call_id,
                pending.callback_uri,
                backoff,
                error or f"HTTP {status}",
            )
            await asyncio.sleep(backoff)
            backoff *= 2
        return status, error, attempts

    async def _post_once(
        self, url: str, body: JsonObject
    ) -> tuple[int | None, str | None]:
        assert self._session is not None, "Notifier.start() was not awaited"
        headers = {"Authorization": f"Bearer {self._signer.current_token()}"}
        try:
            async with self._session.post(
                url, json=body, headers=headers, allow_redirects=False
            ) as response:
                await response.read()
                return response.status, None
        except (aiohttp.ClientError, TimeoutError) as err:
            return None, f"{type(err).__name__}: {err}"

    def _is_allowed(self, callback_uri: str) -> bool:
        allowed = self._allowed_by_uri.get(callback_uri)
        if allowed is None:
            try:
                host = urlsplit(callback_uri).hostname
            except ValueError:
                host = None
            allowed = host in self._settings.notify_hosts
            if len(self._allowed_by_uri) < 10_000:
                self._allowed_by_uri[callback_uri] = allowed
        return allowed

    def _record(
        self,
        pending: _Pending,
        body: JsonObject,
        status: int | None,
        error: str | None,
        attempts: int,
    ) -> None:
        self.deliveries.append(
            NotificationDelivery(
                time=time.time(),
                call_id=pending.call_id,
                callback_uri=pending.callback_uri,
                change_type=pending.entry["changeType"],
                resource_url=pending.entry["resourceUrl"],
                status=status,
                error=error,
                attempts=attempts,
                body=body,
            )
        )
        self._feed.changed()

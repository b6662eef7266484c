"""The live calls of one emulator, their timers and their notifications.

Every state change runs synchronously inside the event loop and queues its
notification before returning, so the notifications of a call are queued in the
order of its state changes. Delays (establishing, prompts, timeouts) are
`loop.call_later` timers owned by the call. Ending a call cancels them and removes
the call, so no timer fires on a call that has ended and every later request for it
gets 404.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from calls_async.testing._change_feed import ChangeFeed
from calls_async.testing._errors import EmulatorError
from calls_async.testing._notifier import Notifier
from calls_async.testing._settings import EmulatorSettings
from calls_async.testing._state import TERMINATED, Call, Operation
from calls_async.testing._stats import EmulatorStats
from calls_async.testing._wire import (
    GraphError,
    JsonObject,
    notification_entry,
    result_info,
)

_LOGGER = logging.getLogger("calls_async.testing")

# Finished operations kept per call for GET .../operations; older ones are dropped.
MAX_OPERATIONS_PER_CALL = 1000


class CallRegistry:
    """Finds, schedules, notifies and ends the calls of one emulator."""

    def __init__(
        self,
        settings: EmulatorSettings,
        stats: EmulatorStats,
        notifier: Notifier,
        feed: ChangeFeed,
    ) -> None:
        self.settings = settings
        self.stats = stats
        self._notifier = notifier
        self._feed = feed
        # Call ids are compared without case, as the service shows them both ways.
        self._calls: dict[str, Call] = {}
        # Futures of wait_for_state() calls with the state they wait for (None for
        # the end of the call), by lower-case call id.
        self._state_waiters: dict[
            str, list[tuple[str | None, asyncio.Future[None]]]
        ] = {}

    def __len__(self) -> int:
        return len(self._calls)

    def all_calls(self) -> list[Call]:
        return list(self._calls.values())

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id.lower())

    def find(self, call_id: str) -> Call:
        """Return the live call with this id or raise a 404 GraphError."""
        call = self._calls.get(call_id.lower())
        if call is None:
            raise GraphError(
                404,
                "itemNotFound",
                f"Call '{call_id}' was not found: it has ended or never existed.",
            )
        return call

    def add(self, call: Call) -> None:
        self._calls[call.id.lower()] = call

    def set_state(self, call: Call, state: str) -> None:
        call.state = state
        for expected_state, waiter in self._state_waiters.get(call.id.lower(), []):
            if expected_state == state and not waiter.done():
                waiter.set_result(None)

    async def wait_for_state(self, call_id: str, state: str | None) -> None:
        """Wait until the call is in `state`, or has ended if `state` is None.

        Raises EmulatorError if the call has ended or ends before reaching `state`.
        """
        call = self.get(call_id)
        if (call.state if call is not None else None) == state:
            return
        if call is None:
            raise EmulatorError(404, f"call {call_id} was not found or has ended")

        key = call.id.lower()
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (state, waiter)
        self._state_waiters.setdefault(key, []).append(entry)
        try:
            await waiter
        finally:
            waiters = self._state_waiters.get(key, [])
            if entry in waiters:
                waiters.remove(entry)
            if not waiters:
                self._state_waiters.pop(key, None)

    async def wait_for_operation(self, call_id: str, operation_id: str) -> Operation:
        """Wait until the operation is completed or failed and return it.

        Raises EmulatorError if the call or the operation is unknown, or if the
        call ends while the operation is still running.
        """
        call = self.get(call_id)
        operation = call.operations.get(operation_id.lower()) if call else None
        if operation is None:
            raise EmulatorError(
                404, f"operation {operation_id} of call {call_id} was not found"
            )
        if operation.is_finished:
            return operation

        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        operation.waiters.append(waiter)
        try:
            await waiter
        finally:
            operation.waiters.remove(waiter)
        return operation

    def schedule(
        self, call: Call, delay: float, callback: Callable[[], object]
    ) -> asyncio.TimerHandle:
        """Run `callback` after `delay` seconds unless the call ends first."""

        def fire() -> None:
            call.timers.discard(handle)
            try:
                callback()
            except Exception:
                _LOGGER.exception("timer of call %s failed", call.id)
            self._feed.changed()

        handle = asyncio.get_running_loop().call_later(delay, fire)
        call.timers.add(handle)
        return handle

    def add_operation(
        self, call: Call, subtype: str, client_context: str | None, status: str
    ) -> Operation:
        """Create an operation of the call, dropping its oldest beyond the limit."""
        operation = Operation(
            call_id=call.id,
            subtype=subtype,
            client_context=client_context,
            status=status,
        )
        if len(call.operations) >= MAX_OPERATIONS_PER_CALL:
            del call.operations[next(iter(call.operations))]
        call.operations[operation.id.lower()] = operation
        self.stats.operations_started += 1
        return operation

    def notify_resource(
        self,
        call: Call,
        change_type: str,
        resource_url: str,
        resource_data: JsonObject | list[JsonObject],
    ) -> None:
        """Queue a notification about a part of the call, such as its roster."""
        entry = notification_entry(
            change_type, resource_url, resource_data, call.callback_uri
        )
        self._notifier.enqueue(call.id, call.callback_uri, entry)

    def notify_call(self, call: Call, change_type: str) -> None:
        entry = notification_entry(
            change_type, call.path, call.notification_resource(), call.callback_uri
        )
        self._notifier.enqueue(call.id, call.callback_uri, entry)

    def notify_operation(self, call: Call, operation: Operation) -> None:
        """Queue the `deleted` notification that reports a finished operation."""
        resource_data = {"@odata.id": operation.path, **operation.resource()}
        entry = notification_entry(
            "deleted", operation.path, resource_data, call.callback_uri
        )
        self._notifier.enqueue(call.id, call.callback_uri, entry)

    def end_call(self, call: Call, result: tuple[int, int, str] | None) -> None:
        """Terminate the call, send its `deleted` notification and forget it.

        Operations still queued or running end without notifications, because the
        call they belong to no longer exists.
        """
        call.cancel_timers()
        call.media_queue.clear()
        call.running_media = None
        call.result_info = result_info(*result) if result is not None else None
        self.set_state(call, TERMINATED)
        self._calls.pop(call.id.lower(), None)
        self.stats.calls_ended += 1
        self._release_waiters(call)
        self._feed.call_ended(call)

        entry = notification_entry(
            "deleted", call.path, call.notification_resource(), call.callback_uri
        )
        self._notifier.enqueue(call.id, call.callback_uri, entry)

    def _release_waiters(self, call: Call) -> None:
        """Resolve the waits for the end of the call and fail every other wait."""
        for expected_state, waiter in self._state_waiters.get(call.id.lower(), []):
            if waiter.done():
                continue
            if expected_state is None:
                waiter.set_result(None)
            else:
                message = f"call {call.id} ended before reaching state {expected_state}"
                waiter.set_exception(EmulatorError(409, message))
        for operation in call.operations.values():
            for waiter in operation.waiters:
                if not operation.is_finished and not waiter.done():
                    message = f"call {call.id} ended while operation {operation.id} ran"
                    waiter.set_exception(EmulatorError(409, message))

    def close(self) -> None:
        """Cancel every timer and every pending wait."""
        for call in self._calls.values():
            call.cancel_timers()
            for waiter in self._pending_waiters(call):
                waiter.cancel()
        self._calls.clear()
        self._state_waiters.clear()

    def _pending_waiters(self, call: Call) -> list[asyncio.Future[None]]:
        waiters = [waiter for _, waiter in self._state_waiters.get(call.id.lower(), [])]
        for operation in call.operations.values():
            waiters.extend(operation.waiters)
        return waiters

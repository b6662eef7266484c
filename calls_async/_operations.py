"""Operation handles and the registry that completes them.

An action such as playPrompt returns a commsOperation at once, usually with status
``running``; the final status arrives later. An :class:`Operation` handle stands for
that final status. It is done at once when the first reply already says completed or
failed, because the service then sends nothing more for it. Otherwise the
:class:`OperationRegistry` completes it from whichever source reports a final status
first: a notification (see the notifications layer) or, where the polling policy
allows, ``GET .../operations/{id}``. When the call ends, every pending handle of that
call fails at once with :class:`CallTerminated`.

Completion sources talk to the registry only through :meth:`OperationRegistry.resolve`
and :meth:`OperationRegistry.fail_call`, so new sources plug in without touching the
handle.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Generator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import attrs

from calls_async._config import (
    USE_CLIENT_DEFAULT,
    UseClientDefault,
    fold_id,
    random_uuid,
    real_number,
)
from calls_async._deadlines import Deadline, DeadlineQueue
from calls_async._errors import (
    CallsError,
    NotFoundError,
    OperationError,
    OperationFailed,
    OperationTimeout,
)
from calls_async._events import OperationCompleted
from calls_async.models import CommsOperation, ResultInfo

if TYPE_CHECKING:
    from calls_async._calls import Call

__all__ = ["Operation", "OperationRegistry", "PollingPolicy", "new_client_context"]

OperationT = TypeVar("OperationT", bound=CommsOperation)
ResultT = TypeVar("ResultT")

_log = logging.getLogger("calls_async.operations")


def new_client_context() -> str:
    """Return a fresh clientContext, so that every operation can be matched."""
    return random_uuid()


def check_wait_timeout(value: float | None, name: str) -> float | None:
    """Return ``value`` as float seconds to wait, or None to wait without limit.

    A timeout of 0 or less times out at once when the operation is still pending,
    and ``math.inf`` waits as None does.

    Raises:
        TypeError: ``value`` is not a real number.
        ValueError: ``value`` is NaN or too large for a float.
    """
    if value is None:
        return None
    return real_number(value, name)


def _check_default_timeout(value: float | None) -> float | None:
    timeout = check_wait_timeout(value, "operation_timeout")
    if timeout is not None and timeout < 0:
        # A single wait may use a negative timeout, but as the default it fails
        # every await.
        raise ValueError(
            f"operation_timeout is {value!r}; give 0 or more seconds, or None to "
            "wait without limit"
        )
    return timeout


class _Polling(enum.Enum):
    STOPPED = "stopped"
    """The polling task ended on its own, as after a 404, so it is not started again."""


@attrs.frozen(kw_only=True)
class PollingPolicy:
    """When and how often a pending operation is fetched with GET.

    Graph documents notifications as the way operations complete; ``GET
    .../operations/{id}`` exists in the metadata but its behaviour is not documented,
    so treat polling as a fallback.

    Attributes:
        enabled: False turns polling off, leaving notifications as the only source.
        grace: seconds to wait for a notification before the first GET.
        initial_delay: seconds between the first two GETs, more than 0.
        max_delay: upper bound of the delay, which grows by ``multiplier`` each
            time. It caps ``initial_delay`` too, and is more than 0.
        multiplier: growth factor of the delay, at least 1.

    Raises:
        TypeError: ``enabled`` is not a bool, or a number is not a real number.
        ValueError: a number is NaN, negative or out of the range above.
    """

    enabled: bool = True
    grace: float = 0.0
    initial_delay: float = 0.1
    max_delay: float = 2.0
    multiplier: float = 2.0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.enabled, bool):
            raise TypeError(
                f"PollingPolicy.enabled is {self.enabled!r}; give True or False"
            )
        # Each number is stored as a float, so a Decimal or a NumPy value behaves
        # as a float does in the delay arithmetic.
        for name in ("grace", "initial_delay", "max_delay"):
            value = getattr(self, name)
            seconds = real_number(value, f"PollingPolicy.{name}")
            if seconds < 0:
                raise ValueError(
                    f"PollingPolicy.{name} is {value!r}; it must be 0 or more seconds"
                )
            object.__setattr__(self, name, seconds)
        for name in ("initial_delay", "max_delay"):
            if getattr(self, name) == 0:
                raise ValueError(
                    f"PollingPolicy.{name} is 0, which would send GETs back to back "
                    "because the delay grows by multiplying; give more than 0 seconds"
                )
        multiplier = real_number(
            self.multiplier, "PollingPolicy.multiplier", unit="a factor"
        )
        if multiplier < 1:
            raise ValueError(
                f"PollingPolicy.multiplier is {self.multiplier!r}; it must be at least "
                "1 so the delay does not shrink"
            )
        object.__setattr__(self, "multiplier", multiplier)

    @classmethod
    def off(cls) -> PollingPolicy:
        """Return a policy that never polls."""
        return cls(enabled=False)


NOTIFICATION_FALLBACK_POLLING = PollingPolicy(
    grace=15.0, initial_delay=1.0, max_delay=5.0
)
"""The default polling while a webhook receives notifications: a safety net only."""

# The default polling while no webhook is attached, built once because every
# awaited handle reads it and the policy checks its fields when built.
_POLLING_WITHOUT_WEBHOOK = PollingPolicy()


class Operation(Generic[OperationT]):
    """A handle to a commsOperation that completes when the operation finishes.

    ``await op`` returns the final operation model (for a recording, a
    :class:`~calls_async.models.RecordOperation` with its location and access token)
    or raises :class:`OperationFailed`, :class:`CallTerminated` or
    :class:`OperationTimeout`.
    """

    __slots__ = (
        "__weakref__",
        "_call",
        "_client_context",
        "_done",
        "_error",
        "_grace",
        "_id",
        "_key",
        "_latest",
        "_poller",
        "_registry",
        "_waiters",
        "completed_by",
    )

    def __init__(
        self,
        call: Call,
        first: OperationT,
        *,
        client_context: str,
        registry: OperationRegistry,
    ) -> None:
        self._call = call
        self._latest: OperationT = first
        self._id = first.id
        # The registry's key of the operation id, which compares without case.
        self._key = fold_id(first.id) if first.id else None
        self._client_context = first.client_context or client_context
        self._registry = registry
        # One future per wait in progress, so a waiter that times out or is
        # cancelled takes only its own future with it.
        self._waiters: list[asyncio.Future[bool]] | None = None
        self._error: CallsError | None = None
        self._done = False
        # None until polling is scheduled; the policy during its grace period, then
        # the polling task, and STOPPED once that task ended by itself.
        self._poller: PollingPolicy | asyncio.Task[None] | _Polling | None = None
        # The grace period's entry in the registry's deadline queue.
        self._grace: Deadline | None = None
        self.completed_by: str | None = None
        """How the final status arrived: "response", "notification" or "polling"."""

    def __repr__(self) -> str:
        return (
            f"<Operation {type(self._latest).__name__} id={self._id!r} "
            f"call={self._call.id!r} status={self.status!r}>"
        )

    @property
    def call(self) -> Call:
        """The call this operation runs on."""
        return self._call

    @property
    def id(self) -> str | None:
        """The operation id from the service, or None when it gave none."""
        return self._id

    @property
    def client_context(self) -> str:
        """The clientContext sent with the action (generated when none was given)."""
        return self._client_context

    @property
    def latest(self) -> OperationT:
        """The operation as most recently reported by the service."""
        return self._latest

    @property
    def status(self) -> str:
        """The last known status, such as ``running`` or ``completed``."""
        return str(self._latest.status)

    @property
    def result_info(self) -> ResultInfo | None:
        """The last known resultInfo, or None while the operation runs."""
        return self._latest.result_info

    def done(self) -> bool:
        """Return True once the operation has a final outcome."""
        return self._done

    def __await__(self) -> Generator[Any, None, OperationT]:
        # A generator rather than a coroutine's wrapper, so the awaiting task
        # resumes through one frame.
        return self._outcome(self._registry.timeout)

    async def wait(
        self, timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT
    ) -> OperationT:
        """Wait for the final status and return the final operation model.

        Args:
            timeout: seconds to wait; None waits without limit; by default the
                client's ``operation_timeout``.

        Raises:
            OperationFailed: the service reported status failed.
            CallTerminated: the call ended first.
            OperationTimeout: no final status within ``timeout``; the handle stays
                pending and can be awaited again.
            TypeError: ``timeout`` is not a real number.
            ValueError: ``timeout`` is NaN or too large for a float.
        """
        if timeout is USE_CLIENT_DEFAULT:
            limit = self._registry.timeout
        else:
            limit = check_wait_timeout(timeout, "timeout")
        return await _Steps(self._outcome(limit))

    def _outcome(self, limit: float | None) -> Generator[Any, None, OperationT]:
        if not self._done:
            registry = self._registry
            deadlines = registry._wait_deadlines
            waiter: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            deadline = None if limit is None else deadlines.add(limit, waiter)
            if self._waiters is None:
                self._waiters = [waiter]
            else:
                self._waiters.append(waiter)
            try:
                registry.start_polling(self)
                finished = yield from waiter
            finally:
                # Also reached when the awaiting coroutine is closed or has an
                # exception thrown in, so the waiter and its deadline go too.
                if not self._done and self._waiters is not None:
                    self._waiters.remove(waiter)
                if deadline is not None:
                    deadlines.cancel(deadline)
                if not waiter.done():
                    waiter.cancel()
            # A completion in the same loop turn as the timeout wins, because the
            # handle has its outcome by the time the waiting task runs.
            if not finished and not self._done:
                assert limit is not None
                raise OperationTimeout(
                    f"operation {self._id} on call {self._call.id} did not finish "
                    f"within {limit:g} s; await it again to keep waiting, or give a "
                    "longer timeout (the client's operation_timeout is the default)",
                    call_id=self._call.id,
                    operation_id=self._id,
                    client_context=self._client_context,
                )
        if self._error is not None:
            raise self._error
        return self._latest

    def _finish(self, latest: OperationT | None, error: CallsError | None) -> None:
        if self._done:
            return
        if latest is not None:
            self._latest = latest
        self._error = error
        self._done = True
        waiters = self._waiters
        if waiters is not None:
            self._waiters = None
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(True)

    def _apply(self, update: CommsOperation, source: str) -> bool:
        """Take a newer report of this operation; return True if it was final."""
        if self._done:
            return False
        if not isinstance(update, type(self._latest)):
            # A notification typed as the base class still carries the final status.
            update = attrs.evolve(self._latest, **_common_fields(update))
        if not update.is_terminal:
            self._latest = update
            return False
        self.completed_by = source
        error = None if update.succeeded else self._failure(update)
        self._finish(update, error)
        return True

    def _failure(self, update: CommsOperation) -> OperationFailed:
        info = update.result_info
        return OperationFailed(
            call_id=self._call.id,
            operation_id=self._id,
            client_context=self._client_context,
            code=info.code if info is not None else None,
            subcode=info.subcode if info is not None else None,
            result_message=info.message if info is not None else None,
            operation=update,
        )


class _Steps(Generic[ResultT]):
    """An awaitable over the generator of :meth:`Operation.__await__`."""

    __slots__ = ("_steps",)

    def __init__(self, steps: Generator[Any, None, ResultT]) -> None:
        self._steps = steps

    def __await__(self) -> Generator[Any, None, ResultT]:
        return self._steps


def _time_out(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


def _common_fields(update: CommsOperation) -> dict[str, Any]:
    return {
        "status": update.status,
        "result_info": update.result_info,
        "client_context": update.client_context,
    }


class OperationRegistry:
    """Pending operation handles, found by call and operation id or clientContext.

    Ids are compared without case because the service writes the same id both in
    lower case with dashes and in upper case without them.
    """

    def __init__(
        self,
        *,
        timeout: float | None,
        polling: PollingPolicy | None,
        fetch: Callable[[str, str], Awaitable[CommsOperation]],
        notifications_active: Callable[[], bool] = lambda: False,
    ) -> None:
        self._timeout = _check_default_timeout(timeout)
        self.polling = polling
        self._notifications_active = notifications_active
        self._fetch = fetch
        # Operation ids are GUIDs, unique across calls, so they key alone; the call
        # is checked on lookup.
        self._by_id: dict[str, Operation[Any]] = {}
        # The pending handles of each call: the handle itself while there is one (the
        # usual case), a list once there are more. A report without an id is matched
        # by clientContext among these, since a caller's own clientContext may repeat
        # across calls.
        self._by_call: dict[str, Operation[Any] | list[Operation[Any]]] = {}
        self._pending = 0
        self.pollers = 0
        """Handles whose polling is scheduled or running."""
        self._polling_tasks: set[asyncio.Task[None]] = set()
        self._grace_deadlines: DeadlineQueue[Operation[Any]] = DeadlineQueue(
            self._begin_polling
        )
        # The timeouts of waits in progress; Operation._outcome adds to it.
        self._wait_deadlines: DeadlineQueue[asyncio.Future[bool]] = DeadlineQueue(
            _time_out
        )
        # Reports of operations not yet tracked: their POST has not returned yet.
        self._held: dict[str, list[tuple[float, CommsOperation]]] = {}
        self.completed_by: dict[str, int] = {
            "response": 0,
            "notification": 0,
            "polling": 0,
        }
        self.failed = 0

    def __len__(self) -> int:
        return self._pending

    @property
    def timeout(self) -> float | None:
        """Default seconds ``await op`` waits for a final status, or None to wait
        without limit. Waits already in progress keep the timeout they started with."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float | None) -> None:
        self._timeout = _check_default_timeout(seconds)

    def _of_call(self, call_key: str) -> list[Operation[Any]]:
        ops = self._by_call.get(call_key)
        if ops is None:
            return []
        return list(ops) if isinstance(ops, list) else [ops]

    def track(
        self, call: Call, first: OperationT, *, client_context: str
    ) -> Operation[OperationT]:
        """Make a handle for an operation the service just returned."""
        op = Operation(call, first, client_context=client_context, registry=self)
        if first.is_terminal:
            op._apply(first, "response")
            self._count(op)
            return op
        if call.ended:
            op._finish(None, call.termination_error(op.id, op.client_context))
            return op
        call_key = call.key
        if op._key is not None:
            self._by_id[op._key] = op
        others = self._by_call.get(call_key)
        if others is None:
            self._by_call[call_key] = op
        elif isinstance(others, list):
            others.append(op)
        else:
            self._by_call[call_key] = [others, op]
        self._pending += 1
        if call_key in self._held:
            self._apply_held(call)
        return op

    def hold(self, call_id: str, update: CommsOperation, expires_at: float) -> None:
        """Keep a report of an untracked operation until ``expires_at`` (monotonic)."""
        self._held.setdefault(fold_id(call_id), []).append((expires_at, update))

    def _apply_held(self, call: Call) -> None:
        held = self._held.pop(call.key, [])
        now = time.monotonic()
        unmatched = []
        for expires_at, update in held:
            if expires_at <= now:
                continue
            if not self.resolve(call.id, update, source="notification"):
                unmatched.append((expires_at, update))
        if unmatched:
            self._held[call.key] = unmatched

    def expire_held(self, now: float) -> None:
        """Drop held reports older than their expiry."""
        if not self._held:
            return
        for call_key in list(self._held):
            fresh = [item for item in self._held[call_key] if item[0] > now]
            if fresh:
                self._held[call_key] = fresh
            else:
                del self._held[call_key]

    def resolve(self, call_id: str, update: CommsOperation, *, source: str) -> bool:
        """Apply a report of an operation; return True if it matched a handle.

        The handle is found by operation id, or by clientContext when the report has
        no id.
        """
        op = self.find(call_id, update.id, update.client_context)
        if op is None:
            return False
        if op._apply(update, source):
            self._forget(op)
            self._count(op)
            call = op.call
            if call._subscribers:
                call._emit(
                    OperationCompleted(
                        call_id=call.id,
                        operation=op.latest,
                        succeeded=op._error is None,
                    )
                )
        return True

    def find(
        self, call_id: str, operation_id: str | None, client_context: str | None
    ) -> Operation[Any] | None:
        """Return the pending handle for these ids, or None.

        Without an operation id, the oldest pending handle of the call with that
        clientContext is returned, should a caller have reused one.
        """
        call_key = fold_id(call_id)
        if operation_id:
            op = self._by_id.get(fold_id(operation_id))
            if op is not None and op.call.key == call_key:
                return op
        if client_context:
            ops = self._by_call.get(call_key)
            if isinstance(ops, list):
                for op in ops:
                    if op.client_context == client_context:
                        return op
            elif ops is not None and ops.client_context == client_context:
                return ops
        return None

    def fail_call(self, call: Call) -> None:
        """Fail every pending handle of ``call``, which has ended."""
        for op in self._of_call(call.key):
            self._forget(op)
            op._finish(None, call.termination_error(op.id, op.client_context))
            self.failed += 1

    def fail_all(self, error_factory: Callable[[Operation[Any]], CallsError]) -> None:
        """Fail every pending handle, as when the client closes."""
        for call_key in list(self._by_call):
            for op in self._of_call(call_key):
                self._forget(op)
                op._finish(None, error_factory(op))
                self.failed += 1

    def _forget(self, op: Operation[Any]) -> None:
        call_key = op.call.key
        op_key = op._key
        if op_key is not None and self._by_id.get(op_key) is op:
            del self._by_id[op_key]
        ops = self._by_call.get(call_key)
        if ops is op:
            del self._by_call[call_key]
            self._pending -= 1
        elif isinstance(ops, list) and op in ops:
            ops.remove(op)
            self._pending -= 1
            if len(ops) == 1:
                self._by_call[call_key] = ops[0]
        self._stop_polling(op, None)

    def _stop_polling(self, op: Operation[Any], after: _Polling | None) -> None:
        """Stop the polling scheduled or running for ``op`` and set its poller to
        ``after``: None when the handle is forgotten, STOPPED at close."""
        poller = op._poller
        if poller is None or poller is _Polling.STOPPED:
            return
        op._poller = after
        self.pollers -= 1
        if isinstance(poller, PollingPolicy):
            if op._grace is not None:
                self._grace_deadlines.cancel(op._grace)
                op._grace = None
        elif poller is not asyncio.current_task():
            poller.cancel()

    def _count(self, op: Operation[Any]) -> None:
        if op._error is not None:
            self.failed += 1
        elif op.completed_by is not None:
            self.completed_by[op.completed_by] += 1

    def effective_polling(self) -> PollingPolicy:
        """Return the polling policy in force now.

        Without an explicit policy, pending operations are polled at once while no
        webhook delivers notifications, and only after a grace period once one does.
        """
        if self.polling is not None:
            return self.polling
        if self._notifications_active():
            return NOTIFICATION_FALLBACK_POLLING
        return _POLLING_WITHOUT_WEBHOOK

    def start_polling(self, op: Operation[Any]) -> None:
        """Start fetching ``op`` with GET if the policy allows and none runs yet."""
        if op._done or not op._id or op._poller is not None:
            return
        policy = self.effective_polling()
        if not policy.enabled:
            return
        if policy.grace > 0:
            op._grace = self._grace_deadlines.add(policy.grace, op)
            op._poller = policy
        else:
            op._poller = self._start_poll_task(op, policy)
        self.pollers += 1

    def _begin_polling(self, op: Operation[Any]) -> None:
        op._grace = None
        policy = op._poller
        if op._done or not isinstance(policy, PollingPolicy):
            return
        op._poller = self._start_poll_task(op, policy)

    def _start_poll_task(
        self, op: Operation[Any], policy: PollingPolicy
    ) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(self._poll(op, policy))
        self._polling_tasks.add(task)
        task.add_done_callback(self._polling_tasks.discard)
        return task

    async def _poll(self, op: Operation[Any], policy: PollingPolicy) -> None:
        try:
            await self._poll_until_done(op, policy)
        finally:
            # Still the handle's poller: the loop ended by itself (a 404, an
            # OperationError) or the task was cancelled from outside the registry,
            # as at the end of asyncio.run.
            if op._poller is asyncio.current_task():
                op._poller = _Polling.STOPPED
                self.pollers -= 1

    async def _poll_until_done(self, op: Operation[Any], policy: PollingPolicy) -> None:
        delay = min(policy.max_delay, policy.initial_delay)
        while not op.done():
            assert op.id is not None
            try:
                update = await self._fetch(op.call.id, op.id)
            except NotFoundError:
                # Graph does not document GET on operations, so a 404 here says
                # nothing certain about the call; leave completion to notifications.
                _log.info(
                    "GET of operation %s of call %s returned 404; stopped polling it",
                    op.id,
                    op.call.id,
                )
                return
            except OperationError:
                return
            except CallsError as err:
                _log.warning(
                    "Polling operation %s of call %s failed, will retry: %s",
                    op.id,
                    op.call.id,
                    err,
                )
            else:
                self.resolve(op.call.id, update, source="polling")
                if op.done():
                    return
            await asyncio.sleep(delay)
            delay = min(policy.max_delay, delay * policy.multiplier)

    async def aclose(self) -> None:
        """Stop every poller and wait until they have ended."""
        for call_key in list(self._by_call):
            for op in self._of_call(call_key):
                self._stop_polling(op, _Polling.STOPPED)
        self._grace_deadlines.clear()
        self._wait_deadlines.clear()
        tasks = list(self._polling_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

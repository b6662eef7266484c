"""The client: configuration, lifecycle, and the one send path every resource uses."""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections.abc import Sequence
from typing import Any

import aiohttp

from calls_async import _protocol
from calls_async._auth import GRAPH_SCOPE, AsyncTokenCredential, TokenCache
from calls_async._calls import Call, CallCollection
from calls_async._config import USE_CLIENT_DEFAULT, UseClientDefault
from calls_async._errors import ClientClosedError, NotFoundError
from calls_async._http import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONNECTION_LIMIT,
    DEFAULT_POOL_TIMEOUT,
    DEFAULT_TIMEOUT,
    HttpTransport,
    check_url,
)
from calls_async._notifications import (
    CallTakenOverHandler,
    IncomingCallHandler,
    NotificationDispatcher,
    NotificationEntry,
)
from calls_async._operations import Operation, OperationRegistry, PollingPolicy
from calls_async._retry import DEFAULT_RETRY, RetryPolicy
from calls_async.bus import InProcessBus, NotificationBus
from calls_async.models import CallProperties, CommsOperation

__all__ = ["DEFAULT_OPERATION_TIMEOUT", "GRAPH_BASE_URL", "CallsClient"]

GRAPH_BASE_URL = "https://graph.microsoft.com/v1.0"

DEFAULT_OPERATION_TIMEOUT = 300.0
"""Seconds ``await op`` waits by default: longer than the longest recording (120 s)
after a full prompt queue, short enough that a lost completion is noticed."""

_log = logging.getLogger("calls_async")


class CallsClient:
    """An async client for the Graph communications calls API.

    Use it as ``async with CallsClient(credential, callback_uri=...) as client:`` or
    call :meth:`aclose` when done. Every request goes over one
    ``aiohttp.ClientSession``.

    Args:
        credential: an azure-core async credential, such as
            ``azure.identity.aio.ClientSecretCredential``. The client never closes it.
        callback_uri: the https URL where the service posts notifications; the
            default for calls created or answered through this client.
        base_url: the Graph base URL. Plain http is accepted only for loopback hosts,
            such as the local emulator.
        session: an ``aiohttp.ClientSession`` to use; the client never closes it.
        timeout: default seconds per request, None for no limit; each method takes
            ``timeout=`` to override it.
        operation_timeout: default seconds ``await op`` waits for a final status.
        polling: when pending operations are fetched with GET; see
            :class:`PollingPolicy`.
        connection_limit: requests in flight at once (default 100, the number of
            concurrent calls Graph allows per app and tenant); also the connections
            of the client's own session.
        pool_timeout: seconds a request waits for a free connection before
            :class:`PoolTimeout`.
        connect_timeout: seconds a new connection may take to open.
        retry: the default :class:`RetryPolicy`; each method takes ``retry=`` to
            override it.
        scope: the token scope, Graph's ``.default`` scope by default.
        token_refresh_window: seconds before expiry at which tokens are renewed.
        token_timeout: seconds a credential call may take.
        user_agent: the ``User-Agent`` header value.
        bus: the :class:`~calls_async.bus.NotificationBus` that carries
            notifications between the instances of a bot, such as
            :class:`~calls_async.redis_bus.RedisBus`. By default an
            :class:`~calls_async.bus.InProcessBus`, for a bot of one process. The
            client starts the bus on first use and stops it in :meth:`aclose`, but
            closes only the default one: close a bus you pass in after the client.
    """

    def __init__(
        self,
        credential: AsyncTokenCredential,
        *,
        callback_uri: str,
        base_url: str = GRAPH_BASE_URL,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        operation_timeout: float | None = DEFAULT_OPERATION_TIMEOUT,
        polling: PollingPolicy | None = None,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        scope: str = GRAPH_SCOPE,
        token_refresh_window: float = 300.0,
        token_timeout: float = 30.0,
        user_agent: str | None = None,
        bus: NotificationBus | None = None,
    ) -> None:
        if not hasattr(credential, "get_token"):
            raise TypeError(
                f"credential must be an async token credential with get_token(), not "
                f"{type(credential).__name__}; use one from azure.identity.aio"
            )
        if bus is not None and not isinstance(bus, NotificationBus):
            raise TypeError(
                f"bus must be a calls_async.bus.NotificationBus, not "
                f"{type(bus).__name__}"
            )
        if connection_limit < 1:
            raise ValueError(
                f"connection_limit is {connection_limit!r}; it must be at least 1"
            )
        self._callback_uri = check_url(callback_uri, name="callback_uri")
        self._tokens = TokenCache(
            credential,
            scope=scope,
            refresh_window=token_refresh_window,
            timeout=token_timeout,
        )
        self._transport = HttpTransport(
            base_url=base_url,
            tokens=self._tokens,
            session=session,
            timeout=timeout,
            connection_limit=connection_limit,
            pool_timeout=pool_timeout,
            connect_timeout=connect_timeout,
            retry=retry,
            user_agent=user_agent,
        )
        self._operations = OperationRegistry(
            timeout=operation_timeout,
            polling=polling,
            fetch=self._fetch_operation,
            notifications_active=lambda: self.receives_notifications,
        )
        self.calls = CallCollection(self)
        """The calls of this client: ``create``, ``get`` and ``calls[call_id]``."""
        self.receives_notifications = False
        """True once a webhook delivers this client's notifications."""
        self._dispatcher: NotificationDispatcher | None = None
        self._bus = bus if bus is not None else InProcessBus()
        self._owns_bus = bus is None
        self._bus_started = False
        self._bus_lock: asyncio.Lock | None = None

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<CallsClient base_url={self.base_url!r} {state}>"

    @property
    def callback_uri(self) -> str:
        """The default callback URI for calls created or answered by this client.

        It can be changed, for example once a webhook's port is known.
        """
        return self._callback_uri

    @callback_uri.setter
    def callback_uri(self, value: str) -> None:
        self._callback_uri = check_url(value, name="callback_uri")

    @property
    def base_url(self) -> str:
        """The Graph base URL requests go to."""
        return self._transport.base_url

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._transport.closed

    @property
    def operations(self) -> OperationRegistry:
        """The registry of pending operation handles, with completion counts."""
        return self._operations

    @property
    def bus(self) -> NotificationBus:
        """The bus that carries this client's notifications."""
        return self._bus

    @property
    def requests_sent(self) -> int:
        """How many requests got a reply, successful or not."""
        return self._transport.requests_sent

    async def __aenter__(self) -> CallsClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the client: stop the bus, fail pending operations and close its own
        session.

        Pending handles fail with :class:`ClientClosedError`. A session, credential
        or bus passed in by the caller stays open; such a bus is only stopped.
        Calling it again does nothing.
        """
        if self.closed:
            return
        # The bus stops first, so that no entry starts a handler while the
        # dispatcher below cancels the running ones.
        if self._bus_started:
            await self._bus.stop()
        if self._owns_bus:
            await self._bus.aclose()
        self._operations.fail_all(_closed_error)
        await self._operations.aclose()
        if self._dispatcher is not None:
            await self._dispatcher.aclose()
        await self._transport.aclose()
        await self._tokens.aclose()
        self.calls._stop_expiry_timer()

    def __del__(self, _warn: Any = warnings.warn) -> None:
        transport = getattr(self, "_transport", None)
        if transport is None or transport.closed or not transport._owns_session:
            return
        if transport._session is not None:
            _warn(
                f"{self!r} was not closed; use 'async with CallsClient(...)' or "
                "await client.aclose()",
                ResourceWarning,
                source=self,
                stacklevel=2,
            )

    # -- notifications -----------------------------------------------------------

    @property
    def notifications(self) -> NotificationDispatcher:
        """The dispatcher that applies this client's notifications."""
        if self._dispatcher is None:
            self._dispatcher = NotificationDispatcher(self)
        return self._dispatcher

    def on_incoming_call(self, handler: IncomingCallHandler) -> IncomingCallHandler:
        """Register ``async def handler(call)`` for new incoming calls.

        Use it as a decorator or call it. The handler runs on its own task with a
        :class:`Call` in state incoming, which it can ``answer``, ``reject`` or
        ``redirect``; an exception in it is logged and other calls carry on. With a
        shared bus, only the instance that claims the call runs it.
        """
        self.notifications.set_incoming_call_handler(handler)
        return handler

    def on_call_taken_over(self, handler: CallTakenOverHandler) -> CallTakenOverHandler:
        """Register ``async def handler(call)`` for calls taken over from a dead
        instance.

        Only a shared bus such as :class:`~calls_async.redis_bus.RedisBus` takes
        calls over. When the instance that owned a call stops renewing its lease,
        another instance becomes the owner and fetches the call with GET, so that
        ``call.state`` is current. Then it runs this handler on its own task. Operations
        the old owner awaited are lost with it. A call still in state incoming goes
        to the incoming call handler when no handler is registered here. Use it as
        a decorator or call it.
        """
        self.notifications.set_takeover_handler(handler)
        return handler

    async def _start_bus(self) -> None:
        """Start the bus once; concurrent callers wait for the first."""
        if self._bus_started or self.closed:
            return
        if self._bus_lock is None:
            self._bus_lock = asyncio.Lock()
        async with self._bus_lock:
            if self._bus_started or self.closed:
                return
            await self._bus.start(self)
            self._bus_started = True

    async def _publish_notifications(
        self, entries: Sequence[NotificationEntry], *, tenant_id: str | None
    ) -> None:
        """Publish verified entries on the bus, starting it first if needed.

        Raises:
            PublishError: the bus could not store them in time.
        """
        if not entries:
            return
        if not self._bus_started:
            await self._start_bus()
        await self._bus.publish(entries, tenant_id=tenant_id)

    def _call_became_known(self, call: Call) -> None:
        if self._dispatcher is not None:
            self._dispatcher.release(call)

    # -- the send path ---------------------------------------------------------

    async def _send(
        self,
        request: _protocol.Request,
        *,
        timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        call: Call | None,
        operation: tuple[type[CommsOperation], str] | None = None,
    ) -> Any:
        """Send a built request and return its parsed body (None when it has none).

        A 404 on a request about a call means the call has ended: its pending
        operations fail at once. A call created here is claimed on the bus, so that
        this instance owns it. With ``operation`` (the expected operation type and
        the clientContext sent), the reply is tracked on ``call`` and the
        :class:`Operation` handle is returned; a reply without a commsOperation
        body gives a handle of that type with status notStarted.
        """
        if not self._bus_started:
            # Before the first request, so the bus already reads when the
            # notifications that the request causes are published.
            await self._start_bus()
        try:
            response = await self._transport.send(
                request.method,
                request.path,
                request.body,
                timeout=timeout,
                retry=retry,
            )
        except NotFoundError:
            if call is not None:
                self.calls._end(call, None)
            raise
        result = _protocol.parse_response(request.response, response.body)
        if operation is not None:
            assert call is not None
            expected, client_context = operation
            if not isinstance(result, CommsOperation):
                result = expected(
                    id=None, status="notStarted", client_context=client_context
                )
            return self._operations.track(call, result, client_context=client_context)
        if _creates_call(request) and isinstance(result, CallProperties) and result.id:
            await self._bus.claim(self.calls[result.id])
        return result

    async def _fetch_operation(self, call_id: str, operation_id: str) -> CommsOperation:
        request = _protocol.get_operation(call_id, operation_id)
        result = await self._send(request, call=None)
        assert isinstance(result, CommsOperation)
        return result


def _creates_call(request: _protocol.Request) -> bool:
    return request.method == "POST" and request.path == _protocol.CALLS_PATH


def _closed_error(op: Operation[Any]) -> ClientClosedError:
    return ClientClosedError(
        f"the client was closed while operation {op.id} on call {op.call.id} was "
        "pending"
    )

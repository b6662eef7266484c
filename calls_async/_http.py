"""The transport: one aiohttp session, the auth header, timeouts and error mapping.

Requests go only to paths under the configured base URL, so the Graph token never
leaves that origin. Redirects are not followed. The only request to a URL from the
service, a recording download, goes through :meth:`HttpTransport.fetch_recording`,
which carries the recording access token and never the Graph token.

The send path is split into named steps: ``send`` authorizes and times the request,
``_exchange`` takes a request slot, puts the request on the wire and reads the
reply, ``_map_client_error`` turns aiohttp's exceptions into the library's, and
``_status_error`` builds the exception for an error status.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import ipaddress
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from yarl import URL

from calls_async import _protocol
from calls_async._auth import TokenCache
from calls_async._config import USE_CLIENT_DEFAULT, UseClientDefault, random_uuid
from calls_async._errors import (
    CallsError,
    ClientClosedError,
    ConnectError,
    HTTPStatusError,
    PoolTimeout,
    ReadError,
    RequestTimeout,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
    status_error_class,
)
from calls_async._retry import DEFAULT_RETRY, RetryPolicy
from calls_async._version import __version__

__all__ = [
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_POOL_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "HttpTransport",
    "Response",
    "check_url",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds a request may take from start to the last byte of the reply."""

DEFAULT_CONNECTION_LIMIT = 100
"""Requests in flight at once, and connections the client's own session opens.

Graph allows 100 concurrent calls per app and tenant, so 100 requests in flight let
a client act on every call it may have at the same moment."""

DEFAULT_POOL_TIMEOUT = 10.0
"""Seconds a request may wait for a free connection before PoolTimeout."""

DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds a TCP and TLS connection may take to open."""

_log = logging.getLogger("calls_async.http")

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """Return True for localhost and loopback addresses such as 127.0.0.1 or ::1."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_url(
    url: str, *, name: str, example: str = "https://bot.example.com/calls"
) -> str:
    """Return ``url`` if it is https, or http on a loopback host; else raise.

    Raises:
        TypeError: ``url`` is not a string.
        ValueError: ``url`` is empty, has no host, or uses plain http elsewhere.
    """
    if not isinstance(url, str):
        raise TypeError(f"{name} must be a string URL, not {type(url).__name__}")
    parts = urlsplit(url)
    if not parts.hostname:
        raise ValueError(
            f"{name} {url!r} has no host; give an absolute URL such as {example}"
        )
    if parts.scheme == "https":
        return url
    if parts.scheme == "http" and is_loopback_host(parts.hostname):
        return url
    raise ValueError(
        f"{name} {url!r} must use https (plain http is accepted only for loopback "
        "hosts such as 127.0.0.1); change the scheme to https"
    )


class Response:
    """A reply read in full: status, headers and body bytes."""

    __slots__ = ("body", "client_request_id", "headers", "status")

    def __init__(
        self,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        client_request_id: str,
    ) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.client_request_id = client_request_id

    def json(self) -> Any:
        """Decode the body as JSON; an empty body gives None."""
        if not self.body:
            return None
        return _protocol.parse_json(self.body)


class _RequestSlots:
    """At most ``limit`` requests in flight; the others wait in arrival order.

    A free slot is taken without awaiting anything. Waiters queue in order and share
    one timeout, so the first in the queue always runs out first, and one timer for
    the whole queue replaces a timer per waiting request.
    """

    __slots__ = ("_free", "_timeout", "_timer", "_waiters")

    def __init__(self, limit: int, timeout: float | None) -> None:
        self._free = limit
        self._timeout = timeout
        self._timer: asyncio.TimerHandle | None = None
        # (deadline on the loop's clock, future set to True for a slot or False
        # when the deadline passed).
        self._waiters: collections.deque[tuple[float, asyncio.Future[bool]]] = (
            collections.deque()
        )

    @property
    def free(self) -> int:
        """Slots not in use."""
        return self._free

    @property
    def waiting(self) -> int:
        """Requests queued for a slot (cancelled ones until they are skipped)."""
        return len(self._waiters)

    def try_take(self) -> bool:
        """Take a slot if one is free and no request waits; return True if taken."""
        if self._free and not self._waiters:
            self._free -= 1
            return True
        return False

    def wait(self) -> asyncio.Future[bool]:
        """Queue for a slot and return a future: True once granted, False on timeout.

        A plain function rather than a coroutine, so a waiting request keeps no
        extra frame. Pass the future to :meth:`abandon` if the wait is cancelled.
        """
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        deadline = math.inf if self._timeout is None else loop.time() + self._timeout
        self._waiters.append((deadline, waiter))
        if self._timer is None and self._timeout is not None:
            self._timer = loop.call_at(deadline, self._expire)
        return waiter

    def abandon(self, waiter: asyncio.Future[bool]) -> None:
        """Pass on the slot of a cancelled wait if it was granted just before."""
        if waiter.done() and not waiter.cancelled() and waiter.result():
            self.release()

    def release(self) -> None:
        """Give a slot back: to the first waiter still waiting, else to the pool."""
        waiters = self._waiters
        while waiters:
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(True)
                return
        self._free += 1

    def _expire(self) -> None:
        self._timer = None
        waiters = self._waiters
        loop = asyncio.get_running_loop()
        now = loop.time()
        while waiters and (waiters[0][0] <= now or waiters[0][1].done()):
            _, waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(False)
        if waiters:
            self._timer = loop.call_at(waiters[0][0], self._expire)


class HttpTransport:
    """Sends Graph requests over one shared ``aiohttp.ClientSession``.

    Args:
        base_url: the Graph base URL, such as ``https://graph.microsoft.com/v1.0``.
        tokens: the token cache that supplies the bearer token.
        session: a session to use; it stays open when the transport closes.
        timeout: default seconds per request; None for no limit.
        connection_limit: requests in flight at most; also the connections of its
            own session.
        pool_timeout: seconds a request waits for one of those slots.
        connect_timeout: seconds a new connection may take to open.
        retry: the default retry policy.
        user_agent: the ``User-Agent`` header value.
    """

    def __init__(
        self,
        *,
        base_url: str,
        tokens: TokenCache,
        session: aiohttp.ClientSession | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
        connection_limit: int = DEFAULT_CONNECTION_LIMIT,
        pool_timeout: float | None = DEFAULT_POOL_TIMEOUT,
        connect_timeout: float | None = DEFAULT_CONNECT_TIMEOUT,
        retry: RetryPolicy = DEFAULT_RETRY,
        user_agent: str | None = None,
    ) -> None:
        self.base_url = check_url(
            base_url, name="base_url", example="https://graph.microsoft.com/v1.0"
        ).rstrip("/")
        self._tokens = tokens
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connection_limit = connection_limit
        self._pool_timeout = pool_timeout
        self._connect_timeout = connect_timeout
        self._slots = _RequestSlots(connection_limit, pool_timeout)
        self._client_timeouts: dict[float | None, aiohttp.ClientTimeout] = {}
        self.retry = retry
        self._user_agent = user_agent or f"calls-async/{__version__}"
        self._closed = False
        self.requests_sent = 0

    @property
    def closed(self) -> bool:
        """True once :meth:`aclose` was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError(
                "the client is closed; create a new CallsClient to send requests"
            )
        if self._session is None:
            # Made on first use so that the client can be built outside a running loop.
            connector = aiohttp.TCPConnector(
                limit=self._connection_limit, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def aclose(self) -> None:
        """Close the session if this transport created it."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        retry: RetryPolicy | UseClientDefault = USE_CLIENT_DEFAULT,
        client_request_id: str | None = None,
    ) -> Response:
        """Send a request to ``base_url + path``, retrying as the policy allows.

        Every attempt carries the same ``client-request-id``. A 401 that reports the
        token as invalid or expired refreshes the token once and sends once more.

        Raises:
            HTTPStatusError: the reply has a status of 300 or more (a subclass by
                status family).
            TransportError: no usable reply came back.
            AuthenticationError: the credential failed to produce a token.
            ClientClosedError: the client was closed.
        """
        session = self._get_session()
        request_id = client_request_id or random_uuid()
        data = (
            None if body is None else json.dumps(body, separators=(",", ":")).encode()
        )
        limit = self._timeout if timeout is USE_CLIENT_DEFAULT else timeout
        policy = self.retry if retry is USE_CLIENT_DEFAULT else retry

        started = time.monotonic()
        try:
            # The first attempt runs here rather than in _send_authorized and
            # _retrying, which keeps the coroutine chain of the common case short.
            token = self._tokens.cached() or await self._tokens.get()
            url = self.base_url + path
            response = await self._exchange(
                session,
                method,
                url,
                self._headers(token, request_id, data),
                data,
                limit,
                request_id,
            )
            return self._checked(method, path, url, token, response, started)
        except (HTTPStatusError, TransportError) as err:
            first_error: HTTPStatusError | TransportError = err
        # A partial rather than a closure: a closure would make every variable it
        # uses a cell, allocated on each call of send even when nothing fails.
        attempt = functools.partial(
            self._send_authorized, session, method, path, data, limit, request_id
        )
        return await self._retrying(
            policy,
            method,
            path,
            request_id,
            attempt,
            refresh_token=True,
            first_error=first_error,
            started=started,
        )

    async def _retrying(
        self,
        policy: RetryPolicy,
        method: str,
        where: str,
        request_id: str,
        attempt_once: Callable[[], Awaitable[Response]],
        *,
        refresh_token: bool,
        first_error: HTTPStatusError | TransportError | None = None,
        started: float | None = None,
    ) -> Response:
        """Run ``attempt_once`` until it succeeds or the policy gives up.

        ``first_error`` is the failure of an attempt the caller already made.
        """
        started = time.monotonic() if started is None else started
        attempt = 1
        refreshed = False
        error = first_error
        while True:
            if error is None:
                try:
                    return await attempt_once()
                except (HTTPStatusError, TransportError) as err:
                    error = err
            if (
                refresh_token
                and not refreshed
                and isinstance(error, UnauthorizedError)
                and _token_rejected(error)
            ):
                refreshed = True
                _log.warning(
                    "%s %s -> 401, getting a new token and sending once more "
                    "(request-id %s, client-request-id %s)",
                    method,
                    where,
                    error.request_id,
                    request_id,
                )
                error = None
                continue
            delay = self._retry_delay(policy, method, error, attempt, started)
            if delay is None:
                raise error
            _log.warning(
                "%s %s failed (%s), retry %d of %d in %.2f s "
                "(request-id %s, client-request-id %s)",
                method,
                where,
                _describe_failure(error),
                attempt,
                policy.attempts - 1,
                delay,
                getattr(error, "request_id", None),
                request_id,
            )
            await asyncio.sleep(delay)
            attempt += 1
            error = None

    @staticmethod
    def _retry_delay(
        policy: RetryPolicy,
        method: str,
        error: CallsError,
        attempt: int,
        started: float,
    ) -> float | None:
        """Return the wait before the next attempt, or None to give up."""
        if attempt >= policy.attempts or not policy.should_retry(method, error):
            return None
        delay = policy.delay(attempt, error)
        if time.monotonic() - started + delay > policy.deadline:
            return None
        return delay

    async def _send_authorized(
        self,
        session: aiohttp.ClientSession,
        method: str,
        path: str,
        data: bytes | None,
        timeout: float | None,
        client_request_id: str,
    ) -> Response:
        token = self._tokens.cached() or await self._tokens.get()
        url = self.base_url + path
        started = time.monotonic()
        response = await self._exchange(
            session,
            method,
            url,
            self._headers(token, client_request_id, data),
            data,
            timeout,
            client_request_id,
        )
        return self._checked(method, path, url, token, response, started)

    def _headers(
        self, token: str, client_request_id: str, data: bytes | None
    ) -> dict[str, str]:
        headers = {
            "Authorization": "Bearer " + token,
            "client-request-id": client_request_id,
            "User-Agent": self._user_agent,
        }
        if data is not None:
            headers["Content-Type"] = "application/json"
        return headers

    def _checked(
        self,
        method: str,
        path: str,
        url: str,
        token: str,
        response: Response,
        started: float,
    ) -> Response:
        """Count and log a reply; raise for an error status."""
        self.requests_sent += 1
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                "%s %s -> %d in %.1f ms (request-id %s, client-request-id %s)",
                method,
                path,
                response.status,
                (time.monotonic() - started) * 1000,
                response.headers.get("request-id"),
                response.client_request_id,
            )
        if response.status >= 300:
            if response.status == 401:
                self._tokens.invalidate(token)
            raise _status_error(method, url, response)
        return response

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        timeout: float | None,
        client_request_id: str,
    ) -> Response:
        """Take a request slot, send the request and read the whole reply.

        Waiting for a slot is bounded by ``pool_timeout`` and does not count against
        ``timeout``. The slots form a FIFO in front of the session, so a request
        that waits is served in turn. aiohttp's own connector queue lets a new
        request take a freed connection before a waiter it has just woken, so a
        worker sending requests back to back could starve the others.
        """
        slots = self._slots
        if not slots.try_take():
            waiter = slots.wait()
            try:
                granted = await waiter
            except asyncio.CancelledError:
                slots.abandon(waiter)
                raise
            if not granted:
                raise self._pool_timeout_error(method, url, client_request_id)
            if self._closed:
                slots.release()
                raise self._closed_error(method, url, sent=False)
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=self._client_timeout(timeout),
            ) as reply:
                body = await reply.read()
                return Response(reply.status, reply.headers, body, client_request_id)
        except (aiohttp.ClientError, TimeoutError, RuntimeError) as err:
            if self._closed:
                raise self._closed_error(method, url, sent=True) from err
            if isinstance(err, RuntimeError):
                raise
            raise _map_client_error(err, method, url, client_request_id) from err
        finally:
            slots.release()

    def _client_timeout(self, timeout: float | None) -> aiohttp.ClientTimeout:
        client_timeout = self._client_timeouts.get(timeout)
        if client_timeout is None:
            client_timeout = aiohttp.ClientTimeout(
                total=timeout, sock_connect=self._connect_timeout
            )
            self._client_timeouts[timeout] = client_timeout
        return client_timeout

    @staticmethod
    def _closed_error(method: str, url: str, *, sent: bool) -> ClientClosedError:
        where = _without_query(url)
        state = (
            "while it was in flight; it may have reached the service"
            if sent
            else "before it was sent"
        )
        return ClientClosedError(f"the client was closed {state} ({method} {where})")

    def _pool_timeout_error(
        self, method: str, url: str, client_request_id: str
    ) -> PoolTimeout:
        where = _without_query(url)
        return PoolTimeout(
            f"{method} {where} was not sent: all {self._connection_limit} "
            f"connections stayed busy for {self._pool_timeout:g} s; raise "
            "connection_limit or pool_timeout, or start fewer requests at once",
            method=method,
            url=where,
            client_request_id=client_request_id,
        )

    async def fetch_recording(
        self,
        url: str,
        access_token: str,
        *,
        timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> bytes:
        """Download a recording with its own access token, never the Graph token.

        Redirects are followed up to five times; the access token goes only to the
        recording location's own origin.

        Raises:
            ValueError: ``url`` is not https (or http on a loopback host).
            HTTPStatusError, TransportError: as for :meth:`send`.
        """
        check_url(url, name="recording location")
        session = self._get_session()
        request_id = random_uuid()
        limit = self._timeout if timeout is USE_CLIENT_DEFAULT else timeout

        def attempt() -> Awaitable[Response]:
            return self._fetch_following_redirects(
                session, url, access_token, limit, request_id
            )

        where = _without_query(url)
        response = await self._retrying(
            self.retry, "GET", where, request_id, attempt, refresh_token=False
        )
        return response.body

    async def _fetch_following_redirects(
        self,
        session: aiohttp.ClientSession,
        url: str,
        access_token: str,
        timeout: float | None,
        request_id: str,
    ) -> Response:
        origin = _origin(url)
        for _ in range(_MAX_REDIRECTS + 1):
            headers = {"client-request-id": request_id, "User-Agent": self._user_agent}
            if _origin(url) == origin:
                headers["Authorization"] = "Bearer " + access_token
            response = await self._exchange(
                session, "GET", url, headers, None, timeout, request_id
            )
            location = response.headers.get("Location")
            if response.status in _REDIRECT_STATUSES and location:
                url = check_url(urljoin(url, location), name="recording redirect")
                continue
            break
        if response.status >= 300:
            raise _status_error("GET", _without_query(url), response)
        return response


_MAX_REDIRECTS = 5
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _token_rejected(error: UnauthorizedError) -> bool:
    """Return True if a 401 reports the bearer token as invalid or expired."""
    text = " ".join(
        str(part or "")
        for part in (
            error.code,
            error.message,
            error.headers.get("WWW-Authenticate"),
        )
    ).lower()
    return any(word in text for word in ("token", "expired", "invalid"))


def _describe_failure(error: CallsError) -> str:
    if isinstance(error, HTTPStatusError):
        return f"HTTP {error.status}"
    return type(error).__name__


def _without_query(url: str) -> str:
    return url.split("?", 1)[0]


def _map_client_error(
    err: BaseException, method: str, url: str, client_request_id: str
) -> TransportError:
    where = _without_query(url)
    context = {"method": method, "url": where, "client_request_id": client_request_id}
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        return ConnectError(
            f"{method} {where} timed out while connecting; the request was not sent",
            **context,
        )
    if isinstance(err, TimeoutError):
        return RequestTimeout(
            f"{method} {where} timed out waiting for the reply", **context
        )
    if isinstance(err, aiohttp.ClientConnectorError):
        return ConnectError(
            f"{method} {where} could not connect: {err.os_error or err}; "
            "the request was not sent",
            **context,
        )
    return ReadError(
        f"{method} {where} failed after sending: {type(err).__name__}: {err}",
        **context,
    )


def _status_error(method: str, url: str, response: Response) -> HTTPStatusError:
    details = _protocol.parse_error_body(response.body)
    headers = response.headers
    kwargs: dict[str, Any] = {
        "code": details.code,
        "message": details.message,
        "request_id": details.request_id or headers.get("request-id"),
        "client_request_id": (
            headers.get("client-request-id") or response.client_request_id
        ),
        "date": details.date or headers.get("Date"),
        "body": response.body.decode("utf-8", "replace"),
        "headers": dict(headers),
        "method": method,
        "url": url,
    }
    cls = status_error_class(response.status)
    if cls is TooManyRequestsError:
        retry_after = _protocol.parse_retry_after(headers.get("Retry-After"))
        return TooManyRequestsError(response.status, retry_after=retry_after, **kwargs)
    return cls(response.status, **kwargs)

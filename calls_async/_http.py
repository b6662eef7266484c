"""The transport: one aiohttp session, the auth header, timeouts and error mapping.

Requests go only to paths under the configured base URL, so the Graph token never
leaves that origin. Redirects are not followed. The only request to a URL from the
service, a recording download, goes through :meth:`HttpTransport.fetch_recording`,
which carries the recording access token and never the Graph token.

The send path is split into named steps: ``send`` authorizes and times the request,
``_send_once`` puts it on the wire and reads the reply, ``_map_client_error`` turns
aiohttp's exceptions into the library's, and ``_status_error`` builds the exception
for an error status.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from calls_async import _protocol
from calls_async._auth import TokenCache
from calls_async._config import USE_CLIENT_DEFAULT, UseClientDefault
from calls_async._errors import (
    ClientClosedError,
    ConnectError,
    HTTPStatusError,
    ReadError,
    RequestTimeout,
    TooManyRequestsError,
    TransportError,
    status_error_class,
)
from calls_async._version import __version__

__all__ = [
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_TIMEOUT",
    "HttpTransport",
    "Response",
    "check_url",
]

DEFAULT_TIMEOUT = 30.0
"""Seconds a request may take from start to the last byte of the reply."""

DEFAULT_CONNECTION_LIMIT = 100
"""Connections open at once. Graph allows 100 concurrent calls per app and tenant."""

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


def check_url(url: str, *, name: str) -> str:
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
            f"{name} {url!r} has no host; give an absolute URL such as "
            "https://bot.example.com/calls"
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


class HttpTransport:
    """Sends Graph requests over one shared ``aiohttp.ClientSession``.

    Args:
        base_url: the Graph base URL, such as ``https://graph.microsoft.com/v1.0``.
        tokens: the token cache that supplies the bearer token.
        session: a session to use; it stays open when the transport closes.
        timeout: default seconds per request; None for no limit.
        connection_limit: connections the session opens at most (its own session only).
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
        user_agent: str | None = None,
    ) -> None:
        self.base_url = check_url(base_url, name="base_url").rstrip("/")
        self._tokens = tokens
        self._session = session
        self._owns_session = session is None
        self._timeout = timeout
        self._connection_limit = connection_limit
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
        client_request_id: str | None = None,
    ) -> Response:
        """Send one request to ``base_url + path`` and return its successful reply.

        Raises:
            HTTPStatusError: the reply has a status of 400 or more (a subclass by
                status family).
            TransportError: no usable reply came back.
            AuthenticationError: the credential failed to produce a token.
            ClientClosedError: the client was closed.
        """
        session = self._get_session()
        request_id = client_request_id or str(uuid.uuid4())
        url = self.base_url + path
        token = await self._tokens.get()
        headers = {
            "Authorization": "Bearer " + token,
            "client-request-id": request_id,
            "User-Agent": self._user_agent,
        }
        data: bytes | None = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            headers["Content-Type"] = "application/json"
        limit = self._timeout if timeout is USE_CLIENT_DEFAULT else timeout
        started = time.monotonic()
        response = await self._send_once(
            session, method, url, headers, data, limit, request_id
        )
        self.requests_sent += 1
        if _log.isEnabledFor(logging.INFO):
            _log.info(
                "%s %s -> %d in %.1f ms (request-id %s, client-request-id %s)",
                method,
                path,
                response.status,
                (time.monotonic() - started) * 1000,
                response.headers.get("request-id"),
                request_id,
            )
        if response.status >= 400:
            if response.status == 401:
                self._tokens.invalidate(token)
            raise _status_error(method, url, response)
        return response

    async def _send_once(
        self,
        session: aiohttp.ClientSession,
        method: str,
        url: str,
        headers: dict[str, str],
        data: bytes | None,
        timeout: float | None,
        client_request_id: str,
    ) -> Response:
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as reply:
                body = await reply.read()
                return Response(reply.status, reply.headers, body, client_request_id)
        except (aiohttp.ClientError, TimeoutError) as err:
            raise _map_client_error(err, method, url, client_request_id) from err

    async def fetch_recording(
        self,
        url: str,
        access_token: str,
        *,
        timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
    ) -> bytes:
        """Download a recording with its own access token, never the Graph token.

        Raises:
            ValueError: ``url`` is not https (or http on a loopback host).
            HTTPStatusError, TransportError: as for :meth:`send`.
        """
        check_url(url, name="recording location")
        session = self._get_session()
        request_id = str(uuid.uuid4())
        headers = {
            "Authorization": "Bearer " + access_token,
            "client-request-id": request_id,
            "User-Agent": self._user_agent,
        }
        limit = self._timeout if timeout is USE_CLIENT_DEFAULT else timeout
        response = await self._send_once(
            session, "GET", url, headers, None, limit, request_id
        )
        if response.status >= 400:
            raise _status_error("GET", _without_query(url), response)
        return response.body


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

"""The webhook: an aiohttp.web handler to mount at the bot's callback URI.

The handler checks the service's bearer token, reads the body within a size limit,
checks that it is a commsNotifications envelope, publishes the entries on the
client's bus (see :mod:`calls_async.bus`) and answers 202. With the default
in-process bus the entries are applied to this client's dispatcher before the reply.
Applying never waits on bot code, because handlers run on tasks of their own and
events go to queues. So a slow bot handler never delays the reply, and a task
awaiting an operation resumes on the next turn of the event loop. With a shared bus
the 202 is sent once the bus has stored the entries for every instance.

    app = create_app(client, app_id=APP_ID)          # serves POST /calls
    web.run_app(app, host="0.0.0.0", port=8080)

Replies: 202 accepted; 400 invalid JSON or not a commsNotifications envelope; 403
missing or invalid token; 413 body over ``max_body_size``; 503 the client is closed
or the bus could not store the entries in time, so the service sends the
notification again later.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable

import aiohttp
from aiohttp import web

from calls_async._client import CallsClient
from calls_async._errors import (
    ClientClosedError,
    InvalidNotificationToken,
    ResponseParseError,
)
from calls_async._inbound_auth import (
    DEFAULT_ISSUERS,
    DEFAULT_OPENID_CONFIGURATION_URL,
    NotificationTokenValidator,
    RejectionLog,
)
from calls_async._json import loads
from calls_async._notifications import parse_notifications
from calls_async.bus import PublishError

__all__ = [
    "DEFAULT_ISSUERS",
    "DEFAULT_MAX_BODY_SIZE",
    "DEFAULT_OPENID_CONFIGURATION_URL",
    "HANDLER_KEY",
    "CallbackHandler",
    "create_app",
]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024
"""Bytes a notification body may have; a larger one gets 413."""

_log = logging.getLogger("calls_async.notifications.webhook")

_READ_CHUNK = 64 * 1024


class _BodyTooLarge(Exception):
    pass


class CallbackHandler:
    """Receives the service's notifications for one client.

    Args:
        client: the client whose calls and operations the notifications update.
        app_id: the bot's app (client) id, the audience the tokens must name.
        verify_tokens: check the bearer token of every request. Turn it off only
            for local tests against an emulator that does not sign; every
            request is then taken as coming from the service.
        openid_configuration_url: where the signing keys are published.
        issuers: the token issuers accepted.
        max_body_size: bytes a body may have before it gets 413.
        validator: a validator to use instead of building one from the above.
    """

    def __init__(
        self,
        client: CallsClient,
        *,
        app_id: str | None = None,
        verify_tokens: bool = True,
        openid_configuration_url: str = DEFAULT_OPENID_CONFIGURATION_URL,
        issuers: Iterable[str] = DEFAULT_ISSUERS,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        validator: NotificationTokenValidator | None = None,
    ) -> None:
        if max_body_size < 1:
            raise ValueError(
                f"max_body_size is {max_body_size!r}; give at least 1 byte"
            )
        if verify_tokens and validator is None:
            if not app_id:
                raise ValueError(
                    "app_id is required to check the tokens of notifications; pass "
                    "the bot's app id, or verify_tokens=False for local tests only"
                )
            validator = NotificationTokenValidator(
                app_id=app_id,
                session=client._transport._get_session,
                openid_configuration_url=openid_configuration_url,
                issuers=issuers,
            )
        if not verify_tokens:
            _log.warning(
                "Notification tokens are not checked: anyone who can reach the "
                "callback URI can post notifications"
            )
            validator = None
        self._client = client
        self._validator = validator
        self._max_body_size = max_body_size
        self.accepted = 0
        self.rejected = 0
        self._rejection_log = RejectionLog(limit=10, window=60.0, logger=_log)
        client.receives_notifications = True

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Handle one POST of the service; mount this method as the route handler."""
        started = time.monotonic() if _log.isEnabledFor(logging.DEBUG) else 0.0
        tenant_id = None
        if self._client.closed:
            # 503 makes the service send the notification again, to a live instance.
            return self._reject(request, 503, "the client is closed")
        if self._validator is not None:
            try:
                claims = await self._validator.validate(
                    request.headers.get("Authorization")
                )
            except InvalidNotificationToken as err:
                return self._reject(request, 403, f"invalid token: {err.reason}")
            except ClientClosedError:
                return self._reject(request, 503, "the client is closed")
            tenant_id = claims.tenant_id
        try:
            body = self._body_received(request)
            if body is None:
                body = await self._read_body(request)
        except _BodyTooLarge:
            return self._reject(
                request, 413, f"body over the limit of {self._max_body_size} bytes"
            )
        except (
            aiohttp.ClientPayloadError,
            # aiohttp's server raises this for a body it cannot decode, such as
            # gzip that is not gzip data.
            web.RequestPayloadError,
            asyncio.IncompleteReadError,
            ConnectionError,
        ) as err:
            return self._reject(request, 400, f"body could not be read: {err}")
        try:
            entries = parse_notifications(loads(body))
        except (ValueError, RecursionError) as err:
            # JSONDecodeError and UnicodeDecodeError are ValueErrors. RecursionError
            # comes from a body nested too deeply to decode or to digest.
            return self._reject(request, 400, f"invalid JSON: {type(err).__name__}")
        except ResponseParseError as err:
            return self._reject(request, 400, f"not a commsNotifications body: {err}")
        try:
            await self._client._publish_notifications(entries, tenant_id=tenant_id)
        except PublishError as err:
            return self._reject(request, 503, f"the bus is unavailable: {err}")
        except ClientClosedError:
            return self._reject(request, 503, "the client is closed")
        self.accepted += 1
        if started:
            _log.debug(
                "Accepted %d notification entries in %.2f ms",
                len(entries),
                (time.monotonic() - started) * 1000,
            )
        return web.Response(status=202)

    def _body_received(self, request: web.Request) -> bytes | None:
        """Return the whole body if the parser has it already, else None.

        A small body arrives with the headers, so it is taken without an await.
        Its length is checked after decoding, which also covers a content coding.
        """
        content = request.content
        if not content.is_eof():
            return None
        body = content.read_nowait()
        if len(body) > self._max_body_size:
            raise _BodyTooLarge
        return body

    async def _read_body(self, request: web.Request) -> bytes:
        """Read a body that is still arriving."""
        length = request.content_length
        if length is not None and length > self._max_body_size:
            raise _BodyTooLarge
        content = request.content
        if length is not None and "Content-Encoding" not in request.headers:
            # Without a content coding the parser delivers exactly Content-Length
            # bytes, so one read does. A compressed body decodes to another length.
            return await content.readexactly(length)
        chunks = []
        total = 0
        async for chunk in content.iter_chunked(_READ_CHUNK):
            total += len(chunk)
            if total > self._max_body_size:
                raise _BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)

    def _reject(self, request: web.Request, status: int, reason: str) -> web.Response:
        self.rejected += 1
        # The token validator logs its own rejections (403), rate-limited; the rest
        # are rate-limited here, so a hostile sender cannot flood the log.
        if status != 403 and self._rejection_log.should_log():
            _log.warning(
                "Rejected a notification from %s with %d: %s",
                request.remote,
                status,
                reason,
            )
        return web.Response(status=status, text=reason)

    async def aclose(self) -> None:
        """Stop the token validator's key refresh; the client stays open."""
        if self._validator is not None:
            await self._validator.aclose()


HANDLER_KEY = web.AppKey("calls_async.webhook.handler", CallbackHandler)
"""The key under which :func:`create_app` stores its :class:`CallbackHandler`."""


def create_app(
    client: CallsClient,
    *,
    path: str = "/calls",
    app_id: str | None = None,
    verify_tokens: bool = True,
    openid_configuration_url: str = DEFAULT_OPENID_CONFIGURATION_URL,
    issuers: Iterable[str] = DEFAULT_ISSUERS,
    max_body_size: int = DEFAULT_MAX_BODY_SIZE,
    validator: NotificationTokenValidator | None = None,
) -> web.Application:
    """Return an aiohttp.web application that serves the webhook at ``path``.

    The other arguments are those of :class:`CallbackHandler`, which is stored in
    ``app[HANDLER_KEY]``. The application starts the client's bus on startup, so an
    instance reads the bus before its first request. It stops the handler on cleanup
    but does not close the client.
    """
    handler = CallbackHandler(
        client,
        app_id=app_id,
        verify_tokens=verify_tokens,
        openid_configuration_url=openid_configuration_url,
        issuers=issuers,
        max_body_size=max_body_size,
        validator=validator,
    )
    app = web.Application(client_max_size=max_body_size)
    app.router.add_post(path, handler.handle)

    async def start_bus(_: web.Application) -> None:
        await client._start_bus()

    async def close_handler(_: web.Application) -> None:
        await handler.aclose()

    app.on_startup.append(start_bus)
    app.on_cleanup.append(close_handler)
    app[HANDLER_KEY] = handler
    return app

"""A local emulator of the Microsoft Graph communications (calls) API.

It serves the call, operation, participant, audio routing group and content
sharing endpoints of Graph v1.0 and a client-credentials token endpoint that takes a
client secret or a certificate's client assertion. It posts signed notifications to
each call's callback URI, and offers a simulation API that plays the far side of
calls, fault injection, and a live view at /_emulator/. It serves HTTP, or HTTPS
with an `ssl_context`. It imports nothing from the rest of calls_async,
so it checks the client against an independent reading of the wire contract.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from calls_async.testing._context import RecordedRequest, RecordedTokenRequest
from calls_async.testing._credential import EmulatorCredential, TokenRequestError
from calls_async.testing._emulator import Emulator
from calls_async.testing._errors import EmulatorError
from calls_async.testing._faults import FaultInjector, FaultKind, FaultRule, Throttle
from calls_async.testing._notifier import NotificationDelivery
from calls_async.testing._settings import (
    DEFAULT_APP_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    EmulatorSettings,
)
from calls_async.testing._stats import EmulatorStats

__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_CLIENT_SECRET",
    "DEFAULT_TENANT_ID",
    "Emulator",
    "EmulatorCredential",
    "EmulatorError",
    "EmulatorSettings",
    "EmulatorStats",
    "FaultInjector",
    "FaultKind",
    "FaultRule",
    "NotificationDelivery",
    "RecordedRequest",
    "RecordedTokenRequest",
    "Throttle",
    "TokenRequestError",
    "serve",
]

_LOGGER = logging.getLogger("calls_async.testing")


async def serve(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ssl_context: ssl.SSLContext | None = None,
    **settings: Any,
) -> None:
    """Run an emulator until the task running this coroutine is cancelled.

    `settings` are fields of EmulatorSettings, and `ssl_context` makes it serve
    HTTPS. The emulator logs its URL at INFO.
    """
    async with Emulator(host, port, ssl_context=ssl_context, **settings) as emulator:
        _LOGGER.info(
            "Graph base URL %s, token URL %s, app id %s, tenant id %s",
            emulator.base_url,
            emulator.token_url,
            emulator.app_id,
            emulator.tenant_id,
        )
        await asyncio.Event().wait()

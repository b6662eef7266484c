"""A local emulator of the Microsoft Graph communications (calls) API.

It serves the call, operation, participant, audio routing group and content
sharing endpoints of Graph v1.0, a client-credentials token endpoint, signed
notifications to each call's callback URI, a simulation API that plays the far
side of calls, and fault injection. It imports nothing from the rest of calls_async,
so it checks the client against an independent reading of the wire contract.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from calls_async.testing._context import RecordedRequest
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
    "Throttle",
    "TokenRequestError",
    "serve",
]

_LOGGER = logging.getLogger("calls_async.testing")


async def serve(host: str = "127.0.0.1", port: int = 0, **settings: Any) -> None:
    """Run an emulator until the task running this coroutine is cancelled.

    `settings` are fields of EmulatorSettings. The emulator logs its URL at INFO.
    """
    async with Emulator(host, port, **settings) as emulator:
        _LOGGER.info(
            "Graph base URL %s, token URL %s, app id %s, tenant id %s",
            emulator.base_url,
            emulator.token_url,
            emulator.app_id,
            emulator.tenant_id,
        )
        await asyncio.Event().wait()

"""Async client for the Microsoft Graph communications (calls) API.

Start with :class:`CallsClient`; models and enums are re-exported here and live in
:mod:`calls_async.models`; the local emulator is :mod:`calls_async.testing`.
"""

from __future__ import annotations

import typing

from calls_async import models as _models
from calls_async._bulk import BulkResult, run_bulk
from calls_async._calls import Call, CallCollection
from calls_async._client import DEFAULT_OPERATION_TIMEOUT, GRAPH_BASE_URL, CallsClient
from calls_async._config import USE_CLIENT_DEFAULT, UseClientDefault
from calls_async._errors import (
    AuthenticationError,
    BadRequestError,
    CallsError,
    CallTerminated,
    ClientClosedError,
    ConflictError,
    ConnectError,
    ForbiddenError,
    HTTPStatusError,
    InvalidNotificationToken,
    NotFoundError,
    OperationError,
    OperationFailed,
    OperationTimeout,
    PoolTimeout,
    ReadError,
    RequestTimeout,
    ResponseParseError,
    ServerError,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
)
from calls_async._events import (
    CallEnded,
    CallEvent,
    ContentSharingUpdated,
    OperationCompleted,
    RosterUpdated,
    StateChanged,
    ToneReceived,
    UnknownNotification,
)
from calls_async._http import DEFAULT_CONNECTION_LIMIT, DEFAULT_TIMEOUT
from calls_async._operations import Operation, PollingPolicy
from calls_async._participants import Participant, ParticipantCollection, Roster
from calls_async._retry import DEFAULT_RETRY, RetryPolicy
from calls_async._version import __version__
from calls_async.models import __all__ as _models_all

if typing.TYPE_CHECKING:
    from calls_async.models import *  # noqa: F403
else:
    # A star import would read every name of models.__all__, which imports the
    # device quality models that calls_async.models loads on first use. Copying the
    # names loaded so far leaves the rest to __getattr__ below.
    globals().update(
        {name: value for name, value in vars(_models).items() if name in _models_all}
    )

__all__ = [
    "DEFAULT_CONNECTION_LIMIT",
    "DEFAULT_OPERATION_TIMEOUT",
    "DEFAULT_RETRY",
    "DEFAULT_TIMEOUT",
    "GRAPH_BASE_URL",
    "USE_CLIENT_DEFAULT",
    "AuthenticationError",
    "BadRequestError",
    "BulkResult",
    "Call",
    "CallCollection",
    "CallEnded",
    "CallEvent",
    "CallTerminated",
    "CallsClient",
    "CallsError",
    "ClientClosedError",
    "ConflictError",
    "ConnectError",
    "ContentSharingUpdated",
    "ForbiddenError",
    "HTTPStatusError",
    "InvalidNotificationToken",
    "NotFoundError",
    "Operation",
    "OperationCompleted",
    "OperationError",
    "OperationFailed",
    "OperationTimeout",
    "Participant",
    "ParticipantCollection",
    "PollingPolicy",
    "PoolTimeout",
    "ReadError",
    "RequestTimeout",
    "RetryPolicy",
    "ResponseParseError",
    "Roster",
    "RosterUpdated",
    "ServerError",
    "StateChanged",
    "ToneReceived",
    "TooManyRequestsError",
    "TransportError",
    "UnauthorizedError",
    "UnknownNotification",
    "UseClientDefault",
    "__version__",
    "run_bulk",
    *_models_all,
]


# Hidden from type checkers, which would accept any attribute name of a module that
# defines __getattr__. They read the names from the star import above.
if not typing.TYPE_CHECKING:

    def __getattr__(name: str) -> typing.Any:
        """Look up a model that calls_async.models imports on first use (PEP 562)."""
        if name not in _models_all:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        value = getattr(_models, name)
        globals()[name] = value
        return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

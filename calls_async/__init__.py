"""Async client for the Microsoft Graph communications (calls) API.

Start with :class:`CallsClient`; models and enums are re-exported here and live in
:mod:`calls_async.models`; the local emulator is :mod:`calls_async.testing`.
"""

from __future__ import annotations

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
from calls_async.models import *  # noqa: F403
from calls_async.models import __all__ as _models_all

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

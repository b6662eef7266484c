"""The exception tree of calls_async.

Every exception the library raises for a problem on the wire or in the service derives
from :class:`CallsError`. Errors in the caller's own input are plain ``ValueError`` or
``TypeError``, raised before any request is sent.

    CallsError
    ├── TransportError            nothing usable came back
    │   ├── ConnectError          the request never reached the service (safe to retry)
    │   ├── PoolTimeout           no free connection within the pool timeout
    │   ├── ReadError             sent, but the connection broke before the reply
    │   └── RequestTimeout        sent, but no complete reply within the timeout
    ├── HTTPStatusError           the service replied with an error status
    │   ├── BadRequestError       400
    │   ├── UnauthorizedError     401
    │   ├── ForbiddenError        403
    │   ├── NotFoundError         404
    │   ├── ConflictError         409
    │   ├── TooManyRequestsError  429
    │   └── ServerError           5xx
    ├── ResponseParseError        a reply or notification that cannot be read
    ├── AuthenticationError       the credential failed to produce a token
    ├── InvalidNotificationToken  a notification's bearer token failed validation
    ├── OperationError            an operation handle did not complete successfully
    │   ├── OperationFailed       the service reported status failed
    │   ├── OperationTimeout      no final status within the wait timeout
    │   └── CallTerminated        the call ended before the operation completed
    ├── ClientClosedError         the client was closed
    └── PublishError              a notification bus could not store a notification
                                  (defined in calls_async.bus)

This module imports nothing from the rest of the package, so every layer can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "AuthenticationError",
    "BadRequestError",
    "CallTerminated",
    "CallsError",
    "ClientClosedError",
    "ConflictError",
    "ConnectError",
    "ForbiddenError",
    "HTTPStatusError",
    "InvalidNotificationToken",
    "NotFoundError",
    "OperationError",
    "OperationFailed",
    "OperationTimeout",
    "PoolTimeout",
    "ReadError",
    "RequestTimeout",
    "ResponseParseError",
    "ServerError",
    "TooManyRequestsError",
    "TransportError",
    "UnauthorizedError",
    "status_error_class",
]


class CallsError(Exception):
    """Base class of every error raised by calls_async."""


class TransportError(CallsError):
    """No usable reply came back: the connection failed or the reply timed out.

    Attributes:
        method: HTTP method of the request.
        url: URL of the request, without query string.
        client_request_id: the ``client-request-id`` header sent with the request.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str = "",
        url: str = "",
        client_request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.method = method
        self.url = url
        self.client_request_id = client_request_id

    def __str__(self) -> str:
        text = super().__str__()
        if self.client_request_id:
            text += f" (client-request-id {self.client_request_id})"
        return text


class ConnectError(TransportError):
    """The request never reached the service, so sending it again is safe."""


class PoolTimeout(TransportError):
    """Every connection stayed busy for longer than the pool timeout.

    The request was not sent. Raise the client's connection limit or lower the number
    of requests started at once.
    """


class ReadError(TransportError):
    """The request was sent but the connection broke before a complete reply.

    The service may have acted on the request, so a call-control POST is not safe to
    send again blindly.
    """


class RequestTimeout(TransportError):
    """The request was sent but no complete reply arrived within the timeout.

    The service may have acted on the request, so a call-control POST is not safe to
    send again blindly.
    """


class HTTPStatusError(CallsError):
    """The service replied with an error status.

    Attributes:
        status: HTTP status code.
        code: Graph ``error.code`` (for calls errors often a numeric string), or None.
        message: Graph ``error.message``, or the raw body text when it is not JSON.
        request_id: the service's ``request-id`` for this reply, or None.
        client_request_id: the ``client-request-id`` sent with the request, or None.
        date: the ``innerError.date`` or ``Date`` header, or None.
        body: the raw reply body as text.
        headers: the reply headers.
        method: HTTP method of the request.
        url: URL of the request.
    """

    def __init__(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str = "",
        request_id: str | None = None,
        client_request_id: str | None = None,
        date: str | None = None,
        body: str = "",
        headers: Mapping[str, str] | None = None,
        method: str = "",
        url: str = "",
    ) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.date = date
        self.body = body
        self.headers: Mapping[str, str] = dict(headers or {})
        self.method = method
        self.url = url
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = [f"{self.method} {self.url} failed with HTTP {self.status}".strip()]
        if self.code:
            parts.append(f"code {self.code}")
        text = ", ".join(parts)
        if self.message:
            text += f": {self.message}"
        ids = []
        if self.request_id:
            ids.append(f"request-id {self.request_id}")
        if self.client_request_id:
            ids.append(f"client-request-id {self.client_request_id}")
        if ids:
            text += f" ({', '.join(ids)})"
        return text

    def __str__(self) -> str:
        return self._describe()


class BadRequestError(HTTPStatusError):
    """HTTP 400: the service rejected the request as invalid."""


class UnauthorizedError(HTTPStatusError):
    """HTTP 401: the bearer token is missing, invalid or expired."""


class ForbiddenError(HTTPStatusError):
    """HTTP 403: a permission is missing, or the tenant does not match (code 7505)."""


class NotFoundError(HTTPStatusError):
    """HTTP 404: the call, participant or operation does not exist (or has ended)."""


class ConflictError(HTTPStatusError):
    """HTTP 409: the request conflicts with the current state of the resource."""


class TooManyRequestsError(HTTPStatusError):
    """HTTP 429: the app is throttled.

    Attributes:
        retry_after: seconds from the ``Retry-After`` header, or None when absent.
    """

    def __init__(self, status: int, *, retry_after: float | None = None, **kwargs: Any):
        self.retry_after = retry_after
        super().__init__(status, **kwargs)


class ServerError(HTTPStatusError):
    """HTTP 5xx: the service failed to handle the request."""


_STATUS_CLASSES: dict[int, type[HTTPStatusError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: TooManyRequestsError,
}


def status_error_class(status: int) -> type[HTTPStatusError]:
    """Return the exception class for an error status."""
    if status >= 500:
        return ServerError
    return _STATUS_CLASSES.get(status, HTTPStatusError)


class ResponseParseError(CallsError):
    """A reply or notification from the service could not be read.

    Attributes:
        path: where in the document the problem is, such as ``value[0].status``.
    """

    def __init__(self, message: str, *, path: str = "") -> None:
        self.path = path
        super().__init__(f"{message} at {path}" if path else message)


class AuthenticationError(CallsError):
    """The credential failed to produce an access token; the message is its own."""


class InvalidNotificationToken(CallsError):
    """A notification's bearer token is missing or fails validation.

    Reply 403 Forbidden to the notification. ``reason`` is a short phrase such as
    ``"expired"`` or ``"wrong audience"``. Neither it nor the message contains the
    token.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"invalid notification token: {reason}")
        self.reason = reason


class OperationError(CallsError):
    """An operation handle did not complete successfully.

    Attributes:
        call_id: the call the operation belongs to.
        operation_id: the operation id, or None when the service gave none.
        client_context: the clientContext sent with the action.
    """

    def __init__(
        self,
        message: str,
        *,
        call_id: str,
        operation_id: str | None,
        client_context: str | None,
    ) -> None:
        super().__init__(message)
        self.call_id = call_id
        self.operation_id = operation_id
        self.client_context = client_context


class OperationFailed(OperationError):
    """The service reported the operation as failed.

    Attributes:
        code: resultInfo ``code`` (for example 400), or None.
        subcode: resultInfo ``subcode`` (such as 8508, a cancelled prompt), or None.
        result_message: resultInfo ``message``, or None.
        operation: the final operation model as the service reported it.
    """

    def __init__(
        self,
        *,
        call_id: str,
        operation_id: str | None,
        client_context: str | None,
        code: int | None,
        subcode: int | None,
        result_message: str | None,
        operation: Any = None,
    ) -> None:
        self.code = code
        self.subcode = subcode
        self.result_message = result_message
        self.operation = operation
        text = f"operation {operation_id} on call {call_id} failed"
        if code is not None or subcode is not None:
            text += f" with code {code}/{subcode}"
        if result_message:
            text += f": {result_message}"
        super().__init__(
            text,
            call_id=call_id,
            operation_id=operation_id,
            client_context=client_context,
        )


class OperationTimeout(OperationError):
    """No final status arrived for the operation within the wait timeout.

    The operation may still complete later; the handle stays pending.
    """


class CallTerminated(OperationError):
    """The call ended, so the operation can no longer complete.

    Attributes:
        code: resultInfo ``code`` of the call's termination, or None when unknown.
        subcode: resultInfo ``subcode`` of the call's termination, or None.
        result_message: resultInfo ``message`` of the call's termination, or None.
    """

    def __init__(
        self,
        *,
        call_id: str,
        operation_id: str | None = None,
        client_context: str | None = None,
        code: int | None = None,
        subcode: int | None = None,
        result_message: str | None = None,
    ) -> None:
        self.code = code
        self.subcode = subcode
        self.result_message = result_message
        text = f"call {call_id} has ended"
        if code is not None or subcode is not None:
            text += f" with code {code}/{subcode}"
        if result_message:
            text += f": {result_message}"
        super().__init__(
            text,
            call_id=call_id,
            operation_id=operation_id,
            client_context=client_context,
        )


class ClientClosedError(CallsError):
    """The client was closed; create a new CallsClient to send more requests."""

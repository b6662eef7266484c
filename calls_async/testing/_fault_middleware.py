"""The middleware that applies request fault rules.

It is the outermost middleware, so a fault that does not process the request
skips authentication, the request log and every handler: the emulator's state is
as if the request never arrived. A fault that processes the request first runs the
whole Graph middleware and handler, so the request is in `emu.requests` with the
status the handler chose, and only the response on the wire differs. Requests to
`/_emulator/` never match, so a rule can always be removed over HTTP.
"""

from __future__ import annotations

import contextlib
import http
import logging
import socket
import struct
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from calls_async.testing._context import CONTEXT
from calls_async.testing._faults import FaultInjector, FaultKind, FaultRule
from calls_async.testing._wire import GraphError, graph_error_body, throttled_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_Applier = Callable[
    [FaultRule, web.Request, Handler, FaultInjector], Awaitable[web.StreamResponse]
]

CONTROL_PREFIX = "/_emulator/"
# A body that starts like a Graph resource and is not valid JSON.
INVALID_JSON = b'{"@odata.type": "#microsoft.graph.call", "id": <not json>}'
# The body of a truncated response when the request produced no body of its own.
_PLACEHOLDER_BODY = b'{"@odata.type": "#microsoft.graph.entity", "id": "placeholder"}'
# Headers of the processed response that a damaged response keeps.
_KEPT_HEADERS = (hdrs.LOCATION, "request-id", "client-request-id")
_ERROR_CODES = {
    400: "invalidRequest",
    401: "InvalidAuthenticationToken",
    403: "accessDenied",
    404: "itemNotFound",
    409: "notAllowed",
    500: "generalException",
}

_LOGGER = logging.getLogger("calls_async.testing.faults")


@web.middleware
async def fault_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    faults = request.app[CONTEXT].faults
    if not faults.has_request_rules or request.path.startswith(CONTROL_PREFIX):
        return await handler(request)
    rule = faults.match_request(request.method, request.path)
    if rule is None:
        return await handler(request)

    _LOGGER.info(
        "applying fault %s (rule %s, processed=%s) to %s %s",
        rule.kind,
        rule.id,
        rule.processed,
        request.method,
        request.path,
    )
    return await _APPLIERS[rule.kind](rule, request, handler, faults)


async def _status(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    if rule.processed:
        await _process(request, handler)
    return _graph_error_response(rule, request)


async def _proxy_error(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    if rule.processed:
        await _process(request, handler)
    assert rule.status is not None
    phrase = _reason_phrase(rule.status)
    if rule.content_type == "text/plain":
        text = f"{rule.status} {phrase}\n"
    else:
        text = (
            f"<html><head><title>{rule.status} {phrase}</title></head><body>"
            f"<h1>{rule.status} {phrase}</h1><p>The proxy did not get a valid "
            "response from the upstream server.</p></body></html>"
        )
    return web.Response(status=rule.status, text=text, content_type=rule.content_type)


async def _reset(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    if rule.processed:
        await _process(request, handler)
    else:
        await request.read()
    return _abort(request)


async def _stall(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    response = await _process(request, handler) if rule.processed else None
    if not await faults.hold(request, rule, None):
        return _abort(request)
    if response is None:
        response = await _process(request, handler)
    return response


async def _slow(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    if rule.processed:
        response = await _process(request, handler)
        await faults.hold(request, rule, rule.delay)
        return response
    # A client that gives up during the delay never reaches the service.
    if not await faults.hold(request, rule, rule.delay):
        return _abort(request)
    return await _process(request, handler)


async def _invalid_json(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    status = rule.status or 200
    headers: dict[str, str] = {}
    if rule.processed:
        response = await _process(request, handler)
        if rule.status is None and response.status in (200, 201):
            status = response.status
        headers = _kept_headers(response)
    else:
        await request.read()
    return web.Response(
        status=status,
        body=INVALID_JSON,
        content_type="application/json",
        headers=headers,
    )


async def _truncated(
    rule: FaultRule, request: web.Request, handler: Handler, faults: FaultInjector
) -> web.StreamResponse:
    status = rule.status or 200
    body = _PLACEHOLDER_BODY
    headers: dict[str, str] = {}
    if rule.processed:
        response = await _process(request, handler)
        headers = _kept_headers(response)
        processed_body = getattr(response, "body", None)
        if isinstance(processed_body, bytes) and processed_body:
            body = processed_body
            status = rule.status or response.status
    else:
        await request.read()

    truncated = web.StreamResponse(status=status, headers=headers)
    truncated.content_type = "application/json"
    truncated.content_length = len(body)
    await truncated.prepare(request)
    await truncated.write(body[: len(body) // 2])
    # close() sends what is buffered before closing, unlike abort().
    if request.transport is not None:
        request.transport.close()
    return truncated


async def _process(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Run the request through the inner middleware and handler.

    The Graph middleware turns errors into responses for Graph paths only, so an
    HTTP error raised on another path becomes a response here.
    """
    try:
        return await handler(request)
    except web.HTTPException as err:
        return web.Response(status=err.status, reason=err.reason, text=err.text)


def _graph_error_response(rule: FaultRule, request: web.Request) -> web.Response:
    assert rule.status is not None
    request_id = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    retry_after = rule.retry_after_header()
    if rule.status == 429 and rule.code is None and rule.message is None:
        error = throttled_error(retry_after)
    else:
        default_code = "invalidRequest" if rule.status < 500 else "serviceNotAvailable"
        error = GraphError(
            rule.status,
            rule.code or _ERROR_CODES.get(rule.status, default_code),
            rule.message or f"Fault injected by the emulator: HTTP {rule.status}.",
        )
        if retry_after is not None:
            error.headers[hdrs.RETRY_AFTER] = retry_after
    body = graph_error_body(
        error.code, error.message, request_id, client_request_id, error.inner_error
    )
    headers = {
        **error.headers,
        "request-id": request_id,
        "client-request-id": client_request_id,
    }
    return web.json_response(body, status=error.status, headers=headers)


def _abort(request: web.Request) -> web.Response:
    """Reset the connection; the returned response is never sent.

    SO_LINGER with a zero timeout makes the close send RST instead of FIN. aiohttp
    then fails to write the response and drops it without logging an error.
    """
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                linger = struct.pack("ii", 1, 0)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
        transport.abort()
    return web.Response(status=500)


def _kept_headers(response: web.StreamResponse) -> dict[str, str]:
    return {
        name: response.headers[name]
        for name in _KEPT_HEADERS
        if name in response.headers
    }


def _reason_phrase(status: int) -> str:
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Error"


_APPLIERS: dict[FaultKind, _Applier] = {
    FaultKind.STATUS: _status,
    FaultKind.PROXY_ERROR: _proxy_error,
    FaultKind.RESET: _reset,
    FaultKind.STALL: _stall,
    FaultKind.SLOW: _slow,
    FaultKind.INVALID_JSON: _invalid_json,
    FaultKind.TRUNCATED: _truncated,
}

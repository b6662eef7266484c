"""The Graph API routes under /v1.0, the recording downloads, and the middleware.

The middleware gives every response a new `request-id` and echoes
`client-request-id`, or generates one. After a request that may change state, it
wakes the open live views. For Graph requests it also checks the bearer
token, applies the throttle, decodes the JSON body once and records the request in
the bounded request log. It turns a `GraphError` into the Graph error body and
counts statuses. The fault middleware runs outside it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from aiohttp import hdrs, web

from calls_async.testing import (
    _control,
    _identity,
    _live_view,
    _navigation_routes,
    _validation,
)
from calls_async.testing._context import CONTEXT, EmulatorContext, RecordedRequest
from calls_async.testing._fault_middleware import fault_middleware
from calls_async.testing._handlers import (
    BODY,
    CALLS_PATH,
    GRAPH_PREFIX,
    MalformedBody,
    collection_context,
    json_body,
    operation_response,
    strip_action_prefix,
)
from calls_async.testing._operations import OPERATION_ACTIONS
from calls_async.testing._recordings import RECORDING_CONTENT
from calls_async.testing._wire import (
    GraphError,
    JsonObject,
    graph_error_body,
    invalid_request,
    throttled_error,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Call actions without a response body, with their success status.
_CALL_ACTIONS_WITHOUT_BODY = {
    "answer": 202,
    "reject": 202,
    "redirect": 202,
    "transfer": 202,
    "changeScreenSharingRole": 202,
    "keepAlive": 200,
}
# Operation actions return 200, except these.
_OPERATION_STATUS = {"addLargeGalleryView": 202}
# Action names by their lower-case spelling, because Graph matches URL segments
# without case.
_ACTIONS_BY_LOWER_NAME = {
    name.lower(): name for name in [*_CALL_ACTIONS_WITHOUT_BODY, *OPERATION_ACTIONS]
}
# Collections contained in a call that a POST cannot address, by lower-case name.
_READ_ONLY_NAVIGATION = frozenset(
    {"participants", "contentsharingsessions", "operations"}
)

# Methods that change nothing, so they do not wake the live view.
_READ_METHODS = frozenset({hdrs.METH_GET, hdrs.METH_HEAD, hdrs.METH_OPTIONS})

_LOGGER = logging.getLogger("calls_async.testing")


def build_app(context: EmulatorContext) -> web.Application:
    app = web.Application(middlewares=[fault_middleware, _graph_middleware])
    app[CONTEXT] = context
    app.router.add_post(CALLS_PATH, _create_call)
    app.router.add_get(CALLS_PATH, _list_calls)
    app.router.add_get(CALLS_PATH + "/{call_id}", _get_call)
    app.router.add_delete(CALLS_PATH + "/{call_id}", _delete_call)
    app.router.add_post(CALLS_PATH + "/{call_id}", _post_on_call_collection)
    # The routes of participants and the other navigation properties come before
    # the catch-all action route, because aiohttp tries routes in order.
    _navigation_routes.add_routes(app)
    app.router.add_post(CALLS_PATH + "/{call_id}/{action}", _call_action)
    app.router.add_get(CALLS_PATH + "/{call_id}/operations", _list_operations)
    app.router.add_get(
        CALLS_PATH + "/{call_id}/operations/{operation_id}", _get_operation
    )
    app.router.add_get("/recordings/{recording_id}", _download_recording)
    _identity.add_routes(app)
    _control.add_routes(app)
    _live_view.add_routes(app)
    return app


@web.middleware
async def _graph_middleware(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    context = request.app[CONTEXT]
    context.stats.requests += 1
    request_id = str(uuid.uuid4())
    client_request_id = request.headers.get("client-request-id") or str(uuid.uuid4())
    is_graph = request.path.startswith(GRAPH_PREFIX)

    try:
        if is_graph:
            _authorize(context, request)
            _throttle(context)
            request[BODY] = await _decode_body(request)
        response = await handler(request)
    except GraphError as err:
        response = _error_response(err, request_id, client_request_id)
    except web.HTTPException as err:
        if not is_graph:
            raise
        response = _error_response(
            _graph_error_for(request, err), request_id, client_request_id
        )
    except Exception:
        if not is_graph:
            raise
        _LOGGER.exception("request %s %s failed", request.method, request.path)
        error = GraphError(500, "generalException", "The emulator failed; see its log.")
        response = _error_response(error, request_id, client_request_id)

    response.headers["request-id"] = request_id
    response.headers["client-request-id"] = client_request_id
    context.stats.responses_by_status[response.status] += 1
    if request.method not in _READ_METHODS:
        context.feed.changed()
    if is_graph:
        _record_request(context, request, response.status, request_id)
    return response


def _authorize(context: EmulatorContext, request: web.Request) -> None:
    if not context.settings.require_auth:
        return
    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    problem: str | None = "Access token is empty: send Authorization: Bearer <token>."
    if scheme.lower() == "bearer" and token.strip():
        problem = context.access_tokens.check(token.strip())
    if problem is None:
        return

    context.stats.auth_failures += 1
    raise GraphError(
        401,
        "InvalidAuthenticationToken",
        problem,
        headers={hdrs.WWW_AUTHENTICATE: 'Bearer error="invalid_token"'},
    )


def _throttle(context: EmulatorContext) -> None:
    retry_after = context.faults.check_throttle()
    if retry_after is not None:
        raise throttled_error(retry_after)


async def _decode_body(request: web.Request) -> object:
    """Decode a JSON body; return None when empty and MalformedBody when not JSON."""
    raw = await request.read()
    if not raw.strip():
        return None
    if request.content_type != "application/json":
        raise GraphError(
            415,
            "invalidRequest",
            "Content-Type must be application/json for a request body, got "
            f"{request.content_type!r}.",
        )
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return MalformedBody(raw.decode(errors="replace"))


def _error_response(
    err: GraphError, request_id: str, client_request_id: str
) -> web.Response:
    body = graph_error_body(
        err.code, err.message, request_id, client_request_id, err.inner_error
    )
    return web.json_response(body, status=err.status, headers=err.headers)


def _graph_error_for(request: web.Request, err: web.HTTPException) -> GraphError:
    """Translate aiohttp's routing errors into Graph errors."""
    if isinstance(err, web.HTTPMethodNotAllowed):
        allow = ", ".join(sorted(err.allowed_methods))
        return GraphError(
            405,
            "notSupported",
            f"{request.method} is not allowed on {request.path}; allowed: {allow}.",
            headers={hdrs.ALLOW: allow},
        )
    if isinstance(err, web.HTTPNotFound):
        return invalid_request(f"Resource not found for the path '{request.path}'.")
    return GraphError(err.status, "invalidRequest", err.reason)


def _record_request(
    context: EmulatorContext, request: web.Request, status: int, request_id: str
) -> None:
    headers = {
        name: "[redacted]" if name.lower() == "authorization" else value
        for name, value in request.headers.items()
    }
    body = request.get(BODY)
    if isinstance(body, MalformedBody):
        body = body.text
    context.request_log.append(
        RecordedRequest(
            time=time.time(),
            method=request.method,
            path=request.path,
            query=request.query_string,
            headers=headers,
            body=body,
            status=status,
            request_id=request_id,
        )
    )


async def _create_call(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.calls.create(json_body(request))
    body = {
        # The service's create response names the legacy entity set in its context URL.
        "@odata.context": f"{context.graph_url}/$metadata#app/calls/$entity",
        **call.resource(),
    }
    location = f"{context.graph_url}/communications/calls/{call.id}"
    return web.json_response(body, status=201, headers={hdrs.LOCATION: location})


async def _list_calls(request: web.Request) -> web.Response:
    raise GraphError(
        405,
        "notSupported",
        "Listing calls is not supported; GET /communications/calls/{id} reads a "
        "single call.",
        headers={hdrs.ALLOW: "POST"},
    )


async def _get_call(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    body = {
        "@odata.context": f"{context.graph_url}/$metadata#communications/calls/$entity",
        **call.resource(),
    }
    return web.json_response(body)


async def _delete_call(request: web.Request) -> web.Response:
    request.app[CONTEXT].calls.hang_up(request.match_info["call_id"])
    return web.Response(status=204)


async def _post_on_call_collection(request: web.Request) -> web.Response:
    segment = request.match_info["call_id"]
    if strip_action_prefix(segment).lower() != "logteleconferencedevicequality":
        raise GraphError(
            405,
            "notSupported",
            f"POST is not allowed on {request.path}; allowed: DELETE, GET.",
            headers={hdrs.ALLOW: "DELETE, GET"},
        )
    _validation.validate_log_device_quality(json_body(request))
    return web.Response(status=200)


async def _call_action(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    segment = request.match_info["action"]
    action = _ACTIONS_BY_LOWER_NAME.get(strip_action_prefix(segment).lower())
    if action is None and segment.lower() in _READ_ONLY_NAVIGATION:
        raise GraphError(
            405,
            "notSupported",
            f"POST is not allowed on {request.path}; allowed: GET.",
            headers={hdrs.ALLOW: "GET"},
        )
    if action is None:
        raise invalid_request(f"Resource not found for the segment '{segment}'.")
    call_id = request.match_info["call_id"]
    body = json_body(request)

    if action in OPERATION_ACTIONS:
        operation = context.operations.start(action, call_id, body)
        return operation_response(context, operation, _OPERATION_STATUS.get(action))
    _CALL_ACTION_METHODS[action](context, call_id, body)
    return web.Response(status=_CALL_ACTIONS_WITHOUT_BODY[action])


def _answer(context: EmulatorContext, call_id: str, body: object) -> None:
    context.calls.answer(call_id, body)


def _reject(context: EmulatorContext, call_id: str, body: object) -> None:
    context.calls.reject(call_id, body)


def _redirect(context: EmulatorContext, call_id: str, body: object) -> None:
    context.calls.redirect(call_id, body)


def _transfer(context: EmulatorContext, call_id: str, body: object) -> None:
    context.calls.transfer(call_id, body)


def _change_role(context: EmulatorContext, call_id: str, body: object) -> None:
    context.calls.change_screen_sharing_role(call_id, body)


def _keep_alive(context: EmulatorContext, call_id: str, body: object) -> None:
    context.calls.keep_alive(call_id)


_CALL_ACTION_METHODS: dict[str, Callable[[EmulatorContext, str, object], None]] = {
    "answer": _answer,
    "reject": _reject,
    "redirect": _redirect,
    "transfer": _transfer,
    "changeScreenSharingRole": _change_role,
    "keepAlive": _keep_alive,
}


async def _list_operations(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    operations: list[JsonObject] = [op.resource() for op in call.operations.values()]
    body = {
        "@odata.context": collection_context(context, call, "operations"),
        "value": operations,
    }
    return web.json_response(body)


async def _get_operation(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    operation = context.operations.find(
        request.match_info["call_id"], request.match_info["operation_id"]
    )
    return web.json_response(operation.resource())


async def _download_recording(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    expected = context.recordings.token_for(request.match_info["recording_id"])
    if expected is None:
        return _recording_error(404, "itemNotFound", "The recording was not found.")

    scheme, _, token = request.headers.get(hdrs.AUTHORIZATION, "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token == expected:
        return web.Response(
            body=RECORDING_CONTENT, content_type="application/octet-stream"
        )
    if token and context.access_tokens.check(token) is None:
        message = (
            "A Graph access token does not grant access to a recording; send "
            "Authorization: Bearer <recordingAccessToken>."
        )
    else:
        message = "Send Authorization: Bearer <recordingAccessToken>."
    return _recording_error(401, "unauthenticated", message)


def _recording_error(status: int, code: str, message: str) -> web.Response:
    return web.json_response(
        {"error": {"code": code, "message": message}}, status=status
    )

"""Paths, request bodies and response shapes shared by the Graph route handlers."""

from __future__ import annotations

import dataclasses

from aiohttp import hdrs, web

from calls_async.testing._context import EmulatorContext
from calls_async.testing._state import Call, Operation
from calls_async.testing._wire import ACTION_PREFIX, invalid_request

GRAPH_PREFIX = "/v1.0/"
CALLS_PATH = "/v1.0/communications/calls"

BODY = web.RequestKey("body", object)
"""The decoded JSON body of a Graph request, set by the Graph middleware."""


@dataclasses.dataclass(frozen=True, slots=True)
class MalformedBody:
    """A request body that is not valid JSON, kept as text for the request log."""

    text: str


def json_body(request: web.Request) -> object:
    body = request.get(BODY)
    if isinstance(body, MalformedBody):
        raise invalid_request("The request body is not valid JSON.")
    return body


def strip_action_prefix(segment: str) -> str:
    if segment.lower().startswith(ACTION_PREFIX):
        return segment[len(ACTION_PREFIX) :]
    return segment


def operation_response(
    context: EmulatorContext, operation: Operation, status: int | None
) -> web.Response:
    body = {
        "@odata.context": f"{context.graph_url}/$metadata#{operation.subtype}",
        **operation.resource(),
    }
    location = context.graph_url + operation.path
    return web.json_response(
        body, status=status or 200, headers={hdrs.LOCATION: location}
    )


def collection_context(context: EmulatorContext, call: Call, navigation: str) -> str:
    """Return the `@odata.context` of a collection contained in a call."""
    return (
        f"{context.graph_url}/$metadata#communications/calls('{call.id}')/{navigation}"
    )

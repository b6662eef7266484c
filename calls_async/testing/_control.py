"""The simulation API over HTTP, under /_emulator/.

These routes act as the far side of calls (ring the bot, press tones, hang up) and
expose the emulator's state for debugging. They take and return JSON, need no
token, and return errors as `{"error": {"code", "message"}}`.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from calls_async.testing._context import CONTEXT
from calls_async.testing._errors import EmulatorError

PREFIX = "/_emulator"

_ERROR_CODES = {400: "invalidRequest", 404: "itemNotFound", 409: "notAllowed"}

Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "/calls", _list_calls)
    app.router.add_post(PREFIX + "/ring", _guarded(_ring))
    app.router.add_post(PREFIX + "/calls/{call_id}/tones", _guarded(_press_tones))
    app.router.add_post(PREFIX + "/calls/{call_id}/hangup", _guarded(_hang_up))
    app.router.add_get(PREFIX + "/stats", _stats)
    app.router.add_get(PREFIX + "/notifications", _notifications)
    app.router.add_get(PREFIX + "/requests", _requests)


def _guarded(handler: Handler) -> Handler:
    """Turn an EmulatorError raised by the handler into a JSON error response."""

    async def guarded(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except EmulatorError as err:
            code = _ERROR_CODES.get(err.status, "invalidRequest")
            body = {"error": {"code": code, "message": str(err)}}
            return web.json_response(body, status=err.status)

    return guarded


async def _list_calls(request: web.Request) -> web.Response:
    registry = request.app[CONTEXT].registry
    calls = [
        {
            "id": call.id,
            "state": call.state,
            "direction": call.direction,
            "callbackUri": call.callback_uri,
            "operations": len(call.operations),
            "queuedMediaOperations": len(call.media_queue),
            "tonesSubscribed": call.tones_subscribed,
        }
        for call in registry.all_calls()
    ]
    return web.json_response({"value": calls})


async def _ring(request: web.Request) -> web.Response:
    body = await _json_object(request)
    callback_uri = body.get("callbackUri")
    if not isinstance(callback_uri, str):
        raise EmulatorError(400, "'callbackUri' is required and must be a string")
    caller = body.get("caller")
    if caller is not None and not isinstance(caller, dict):
        raise EmulatorError(400, "'caller' must be an identitySet object")
    modalities = body.get("modalities", ["audio"])
    if not isinstance(modalities, list):
        raise EmulatorError(400, "'modalities' must be a list of modality names")
    answer_timeout = body.get("answerTimeout")
    if answer_timeout is not None and not isinstance(answer_timeout, int | float):
        raise EmulatorError(400, "'answerTimeout' must be a number of seconds")

    call = request.app[CONTEXT].calls.ring(
        callback_uri,
        caller=caller,
        group=bool(body.get("group", False)),
        modalities=modalities,
        answer_timeout=answer_timeout,
    )
    return web.json_response(call.resource(), status=201)


async def _press_tones(request: web.Request) -> web.Response:
    body = await _json_object(request)
    tones = body.get("tones")
    if not isinstance(tones, list):
        raise EmulatorError(400, "'tones' is required and must be a list of tones")
    request.app[CONTEXT].calls.press_tones(request.match_info["call_id"], tones)
    return web.Response(status=204)


async def _hang_up(request: web.Request) -> web.Response:
    request.app[CONTEXT].calls.hang_up_remote(request.match_info["call_id"])
    return web.Response(status=204)


async def _stats(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    body = {**context.stats.as_dict(), "calls_live": len(context.registry)}
    return web.json_response(body)


async def _notifications(request: web.Request) -> web.Response:
    deliveries = request.app[CONTEXT].notifier.deliveries
    return web.json_response(
        {"value": [dataclasses.asdict(delivery) for delivery in deliveries]}
    )


async def _requests(request: web.Request) -> web.Response:
    recorded = request.app[CONTEXT].request_log
    return web.json_response(
        {"value": [dataclasses.asdict(entry) for entry in recorded]}
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EmulatorError(400, f"the request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise EmulatorError(400, "the request body must be a JSON object")
    return body

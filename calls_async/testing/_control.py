"""The simulation API over HTTP, under /_emulator/.

These routes act as the far side of calls (ring the bot, press tones, hang up,
join and leave participants, share screens), manage fault rules and the throttle,
and expose the emulator's state for debugging. They take and return JSON, need no
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
from calls_async.testing._faults import FaultRule

PREFIX = "/_emulator"

_ERROR_CODES = {400: "invalidRequest", 404: "itemNotFound", 409: "notAllowed"}
# JSON names of the options of FaultInjector.add, by keyword.
_FAULT_OPTIONS = {
    "path": "path",
    "method": "method",
    "changeType": "change_type",
    "status": "status",
    "retryAfter": "retry_after",
    "retryAfterDate": "retry_after_date",
    "delay": "delay",
    "processed": "processed",
    "contentType": "content_type",
    "code": "code",
    "message": "message",
    "times": "times",
    "probability": "probability",
    "seed": "seed",
}

Handler = Callable[[web.Request], Awaitable[web.Response]]


def add_routes(app: web.Application) -> None:
    app.router.add_get(PREFIX + "/calls", _list_calls)
    app.router.add_post(PREFIX + "/ring", _guarded(_ring))
    app.router.add_post(PREFIX + "/calls/{call_id}/tones", _guarded(_press_tones))
    app.router.add_post(PREFIX + "/calls/{call_id}/hangup", _guarded(_hang_up))
    participants = PREFIX + "/calls/{call_id}/participants"
    participant = participants + "/{participant_id}"
    app.router.add_get(participants, _guarded(_list_participants))
    app.router.add_post(participants, _guarded(_join))
    app.router.add_delete(participant, _guarded(_leave))
    app.router.add_post(participant + "/admit", _guarded(_admit))
    app.router.add_post(participant + "/screenSharing", _guarded(_start_sharing))
    app.router.add_delete(participant + "/screenSharing", _guarded(_stop_sharing))
    app.router.add_get(PREFIX + "/faults", _list_faults)
    app.router.add_post(PREFIX + "/faults", _guarded(_add_fault))
    app.router.add_delete(PREFIX + "/faults", _clear_faults)
    app.router.add_delete(PREFIX + "/faults/{rule_id}", _guarded(_remove_fault))
    app.router.add_get(PREFIX + "/throttle", _get_throttle)
    app.router.add_put(PREFIX + "/throttle", _guarded(_set_throttle))
    app.router.add_delete(PREFIX + "/throttle", _stop_throttle)
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
            "participants": len(call.roster),
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


async def _list_participants(request: web.Request) -> web.Response:
    call_id = request.match_info["call_id"]
    call = request.app[CONTEXT].registry.get(call_id)
    if call is None:
        raise EmulatorError(404, f"call {call_id} was not found or has ended")
    return web.json_response({"value": call.roster.resources()})


async def _join(request: web.Request) -> web.Response:
    body = await _json_object(request)
    identity = body.get("identity")
    if identity is not None and not isinstance(identity, dict):
        raise EmulatorError(400, "'identity' must be an identitySet object")
    display_name = _optional_string(body, "displayName")
    participant_id = _optional_string(body, "participantId")
    participant = request.app[CONTEXT].participants.join(
        request.match_info["call_id"],
        identity=identity,
        display_name=display_name,
        in_lobby=_flag(body, "inLobby"),
        muted=_flag(body, "muted"),
        participant_id=participant_id,
    )
    return web.json_response(participant.resource(), status=201)


async def _leave(request: web.Request) -> web.Response:
    request.app[CONTEXT].participants.leave(
        request.match_info["call_id"], request.match_info["participant_id"]
    )
    return web.Response(status=204)


async def _admit(request: web.Request) -> web.Response:
    request.app[CONTEXT].participants.admit(
        request.match_info["call_id"], request.match_info["participant_id"]
    )
    return web.Response(status=204)


async def _start_sharing(request: web.Request) -> web.Response:
    session = request.app[CONTEXT].participants.start_screen_sharing(
        request.match_info["call_id"], request.match_info["participant_id"]
    )
    return web.json_response(session.resource(), status=201)


async def _stop_sharing(request: web.Request) -> web.Response:
    request.app[CONTEXT].participants.stop_screen_sharing(
        request.match_info["call_id"], request.match_info["participant_id"]
    )
    return web.Response(status=204)


async def _list_faults(request: web.Request) -> web.Response:
    rules = request.app[CONTEXT].faults.rules
    return web.json_response({"value": [rule.as_json() for rule in rules]})


async def _add_fault(request: web.Request) -> web.Response:
    body = await _json_object(request)
    unknown = sorted(set(body) - {"kind", *_FAULT_OPTIONS})
    if unknown:
        raise EmulatorError(
            400,
            f"unknown fault rule properties {unknown}: expected kind and any of "
            f"{', '.join(_FAULT_OPTIONS)}",
        )
    kind = body.get("kind")
    if not isinstance(kind, str):
        raise EmulatorError(400, "'kind' is required and must be a fault kind name")
    options = {
        _FAULT_OPTIONS[key]: value for key, value in body.items() if key != "kind"
    }
    rule = _add_rule(request, kind, options)
    return web.json_response(rule.as_json(), status=201)


def _add_rule(request: web.Request, kind: str, options: dict[str, Any]) -> FaultRule:
    try:
        return request.app[CONTEXT].faults.add(kind, **options)
    except (TypeError, ValueError) as err:
        raise EmulatorError(400, str(err)) from None


async def _clear_faults(request: web.Request) -> web.Response:
    request.app[CONTEXT].faults.clear()
    return web.Response(status=204)


async def _remove_fault(request: web.Request) -> web.Response:
    faults = request.app[CONTEXT].faults
    rule_id = request.match_info["rule_id"]
    rule = faults.get(rule_id)
    if rule is None:
        raise EmulatorError(404, f"fault rule {rule_id} was not found")
    rule.remove()
    return web.Response(status=204)


async def _get_throttle(request: web.Request) -> web.Response:
    throttle = request.app[CONTEXT].faults.throttling
    return web.json_response(throttle.as_json() if throttle is not None else None)


async def _set_throttle(request: web.Request) -> web.Response:
    body = await _json_object(request)
    limit: Any = body.get("limit")
    try:
        throttle = request.app[CONTEXT].faults.throttle(
            limit,
            window=body.get("window", 1.0),
            mode=body.get("mode", "sliding"),
            retry_after=body.get("retryAfter"),
        )
    except (TypeError, ValueError) as err:
        raise EmulatorError(400, str(err)) from None
    return web.json_response(throttle.as_json())


async def _stop_throttle(request: web.Request) -> web.Response:
    request.app[CONTEXT].faults.stop_throttling()
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


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise EmulatorError(400, f"'{key}' must be a string")
    return value


def _flag(body: dict[str, Any], key: str) -> bool:
    value = body.get(key, False)
    if not isinstance(value, bool):
        raise EmulatorError(400, f"'{key}' must be true or false")
    return value


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise EmulatorError(400, f"the request body is not valid JSON: {err}") from None
    if not isinstance(body, dict):
        raise EmulatorError(400, "the request body must be a JSON object")
    return body

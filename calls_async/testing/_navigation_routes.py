"""The Graph routes of a call's participants, audio routing groups and content
sharing sessions.

Graph matches URL segments without case, so the navigation segments are matched
that way too, and action names also in their `microsoft.graph.` form.
"""

from __future__ import annotations

from aiohttp import hdrs, web

from calls_async.testing._context import CONTEXT, EmulatorContext
from calls_async.testing._handlers import (
    CALLS_PATH,
    collection_context,
    json_body,
    operation_response,
    strip_action_prefix,
)
from calls_async.testing._state import Call
from calls_async.testing._wire import GraphError, JsonObject, invalid_request

PARTICIPANTS_PATH = CALLS_PATH + "/{call_id}/{navigation:(?i:participants)}"
GROUPS_PATH = CALLS_PATH + "/{call_id}/{navigation:(?i:audioRoutingGroups)}"
SESSIONS_PATH = CALLS_PATH + "/{call_id}/{navigation:(?i:contentSharingSessions)}"

# Participant actions by lower-case name, with their success status.
_PARTICIPANT_ACTIONS = {"mute": 200, "startholdmusic": 202, "stopholdmusic": 202}


def add_routes(app: web.Application) -> None:
    app.router.add_get(PARTICIPANTS_PATH, _list_participants)
    app.router.add_post(PARTICIPANTS_PATH + "/{segment}", _post_on_participants)
    app.router.add_get(PARTICIPANTS_PATH + "/{participant_id}", _get_participant)
    app.router.add_delete(PARTICIPANTS_PATH + "/{participant_id}", _delete_participant)
    app.router.add_post(
        PARTICIPANTS_PATH + "/{participant_id}/{action}", _participant_action
    )
    app.router.add_get(GROUPS_PATH, _list_groups)
    app.router.add_post(GROUPS_PATH, _create_group)
    app.router.add_get(GROUPS_PATH + "/{group_id}", _get_group)
    app.router.add_patch(GROUPS_PATH + "/{group_id}", _update_group)
    app.router.add_delete(GROUPS_PATH + "/{group_id}", _delete_group)
    app.router.add_get(SESSIONS_PATH, _list_sessions)
    app.router.add_get(SESSIONS_PATH + "/{session_id}", _get_session)


async def _list_participants(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    return _collection(context, call, "participants", call.roster.resources())


async def _get_participant(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    participant = context.participants.find_participant(
        call, request.match_info["participant_id"]
    )
    return _entity(context, call, "participants", participant.resource())


async def _post_on_participants(request: web.Request) -> web.Response:
    """Invite participants; a POST on one participant's path is not allowed."""
    context = request.app[CONTEXT]
    segment = request.match_info["segment"]
    if strip_action_prefix(segment).lower() != "invite":
        raise GraphError(
            405,
            "notSupported",
            f"POST is not allowed on {request.path}; allowed: DELETE, GET.",
            headers={hdrs.ALLOW: "DELETE, GET"},
        )
    operation = context.participants.invite(
        request.match_info["call_id"], json_body(request)
    )
    return operation_response(context, operation, 200)


async def _delete_participant(request: web.Request) -> web.Response:
    request.app[CONTEXT].participants.remove(
        request.match_info["call_id"], request.match_info["participant_id"]
    )
    return web.Response(status=204)


async def _participant_action(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    segment = request.match_info["action"]
    action = strip_action_prefix(segment).lower()
    status = _PARTICIPANT_ACTIONS.get(action)
    if status is None:
        raise invalid_request(f"Resource not found for the segment '{segment}'.")

    call_id = request.match_info["call_id"]
    participant_id = request.match_info["participant_id"]
    body = json_body(request)
    participants = context.participants
    if action == "mute":
        operation = participants.mute(call_id, participant_id, body)
    elif action == "startholdmusic":
        operation = participants.start_hold_music(call_id, participant_id, body)
    else:
        operation = participants.stop_hold_music(call_id, participant_id, body)
    return operation_response(context, operation, status)


async def _list_groups(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    groups = list(call.audio_routing_groups.values())
    return _collection(context, call, "audioRoutingGroups", groups)


async def _create_group(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call, group = context.audio_routing_groups.create(
        request.match_info["call_id"], json_body(request)
    )
    # The reference documents 200 for this create, not 201.
    return _entity(context, call, "audioRoutingGroups", group)


async def _get_group(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    group = context.audio_routing_groups.find(call, request.match_info["group_id"])
    return _entity(context, call, "audioRoutingGroups", group)


async def _update_group(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call, group = context.audio_routing_groups.update(
        request.match_info["call_id"],
        request.match_info["group_id"],
        json_body(request),
    )
    return _entity(context, call, "audioRoutingGroups", group)


async def _delete_group(request: web.Request) -> web.Response:
    request.app[CONTEXT].audio_routing_groups.delete(
        request.match_info["call_id"], request.match_info["group_id"]
    )
    return web.Response(status=204)


async def _list_sessions(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    sessions = [s.resource() for s in call.content_sharing_sessions.values()]
    return _collection(context, call, "contentSharingSessions", sessions)


async def _get_session(request: web.Request) -> web.Response:
    context = request.app[CONTEXT]
    call = context.registry.find(request.match_info["call_id"])
    session_id = request.match_info["session_id"]
    session = call.content_sharing_sessions.get(session_id.lower())
    if session is None:
        raise GraphError(
            404,
            "itemNotFound",
            f"Content sharing session '{session_id}' was not found in call "
            f"'{call.id}'.",
        )
    return _entity(context, call, "contentSharingSessions", session.resource())


def _collection(
    context: EmulatorContext, call: Call, navigation: str, items: list[JsonObject]
) -> web.Response:
    body = {"@odata.context": collection_context(context, call, navigation)}
    return web.json_response({**body, "value": items})


def _entity(
    context: EmulatorContext, call: Call, navigation: str, item: JsonObject
) -> web.Response:
    entity_context = collection_context(context, call, navigation) + "/$entity"
    return web.json_response({"@odata.context": entity_context, **item})

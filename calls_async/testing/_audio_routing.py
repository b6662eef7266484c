"""Audio routing groups: private audio mixes between participants of a call.

Every source and receiver must be a participant of the call. A oneToOne group has
exactly one source and one receiver, and a multicast group one source and at least
one receiver. The client may choose the id of a new group, and ids are compared
without case. A participant who leaves stays listed in the groups that name it.
"""

from __future__ import annotations

from calls_async.testing import _state, _validation
from calls_async.testing._registry import CallRegistry
from calls_async.testing._state import CONTROLLABLE_STATES, Call
from calls_async.testing._wire import GraphError, JsonObject, invalid_request

AUDIO_ROUTING_GROUP = "#microsoft.graph.audioRoutingGroup"


class AudioRoutingGroups:
    """Creates, reads, updates and deletes the audio routing groups of calls."""

    def __init__(self, registry: CallRegistry) -> None:
        self._registry = registry

    def find(self, call: Call, group_id: str) -> JsonObject:
        group = call.audio_routing_groups.get(group_id.lower())
        if group is None:
            raise GraphError(
                404,
                "itemNotFound",
                f"Audio routing group '{group_id}' was not found in call '{call.id}'.",
            )
        return group

    def create(self, call_id: str, body: object) -> tuple[Call, JsonObject]:
        request = _validation.validate_audio_routing_group(body, partial=False)
        call = self._controllable_call(call_id, "POST audioRoutingGroups")
        group_id = request.get("id") or _state.new_id()
        if group_id.lower() in call.audio_routing_groups:
            raise GraphError(
                409,
                "notAllowed",
                f"Audio routing group '{group_id}' already exists in call "
                f"'{call.id}'; PATCH it or choose another id.",
            )
        group = {
            "@odata.type": AUDIO_ROUTING_GROUP,
            "id": group_id,
            "routingMode": request["routingMode"],
            "sources": list(request["sources"]),
            "receivers": list(request["receivers"]),
        }
        _check_group(call, group)
        call.audio_routing_groups[group_id.lower()] = group
        return call, group

    def update(
        self, call_id: str, group_id: str, body: object
    ) -> tuple[Call, JsonObject]:
        request = _validation.validate_audio_routing_group(body, partial=True)
        call = self._controllable_call(call_id, "PATCH audioRoutingGroups")
        current = self.find(call, group_id)
        new_id = request.get("id")
        if new_id is not None and new_id.lower() != current["id"].lower():
            raise invalid_request(
                f"Invalid value for 'id': the id of audio routing group "
                f"'{current['id']}' cannot change, got {new_id!r}."
            )
        updated = dict(current)
        for key in ("routingMode", "sources", "receivers"):
            if request.get(key) is not None:
                updated[key] = request[key]
        _check_group(call, updated)
        call.audio_routing_groups[group_id.lower()] = updated
        return call, updated

    def delete(self, call_id: str, group_id: str) -> None:
        call = self._controllable_call(call_id, "DELETE audioRoutingGroups")
        self.find(call, group_id)
        del call.audio_routing_groups[group_id.lower()]

    def _controllable_call(self, call_id: str, action: str) -> Call:
        call = self._registry.find(call_id)
        _state.require_state(call, action, CONTROLLABLE_STATES)
        return call


def _check_group(call: Call, group: JsonObject) -> None:
    """Check the source and receiver counts of the mode and each participant id."""
    sources = group["sources"]
    receivers = group["receivers"]
    if group["routingMode"] == "oneToOne" and (len(sources), len(receivers)) != (1, 1):
        raise invalid_request(
            "A oneToOne audio routing group needs exactly 1 source and 1 receiver, "
            f"got {len(sources)} and {len(receivers)}. Use multicast for one source "
            "and several receivers."
        )
    if group["routingMode"] == "multicast" and (len(sources) != 1 or not receivers):
        raise invalid_request(
            "A multicast audio routing group needs exactly 1 source and at least 1 "
            f"receiver, got {len(sources)} and {len(receivers)}."
        )
    for key in ("sources", "receivers"):
        for index, participant_id in enumerate(group[key]):
            if call.roster.get(participant_id) is None:
                raise invalid_request(
                    f"Invalid value for '{key}[{index}]': '{participant_id}' is not "
                    f"a participant of call '{call.id}'."
                )

"""Checks of request bodies against the v1.0 contract.

Each `validate_*` function takes the decoded JSON body of one action and raises a
400 `GraphError` whose message names the offending property by its JSON path, such
as `prompts[0].mediaInfo.uri`. Unknown properties are accepted, because the Graph
types involved are open types. A property sent as null counts as absent.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from calls_async.testing import _wire
from calls_async.testing._settings import LOOPBACK_HOSTS
from calls_async.testing._wire import JsonObject, invalid_request


def validate_create_call(body: object) -> JsonObject:
    call = _body_object(body)
    _callback_uri(call, "callbackUri", required=True)
    _media_config(call.get("mediaConfig"), "mediaConfig")
    _enum_list(call.get("requestedModalities"), "requestedModalities", _wire.MODALITIES)
    _typed_object(
        call.get("callOptions"),
        "callOptions",
        frozenset({_wire.OUTGOING_CALL_OPTIONS}),
        required=False,
    )
    if call.get("source") is not None:
        _participant_info(call["source"], "source")
    if call.get("direction") not in (None, "outgoing"):
        raise _invalid_value("direction", "'outgoing' or no value", call["direction"])
    _optional_string(call, "tenantId")
    _optional_string(call, "subject")
    _call_destination(call)
    return call


def validate_answer(body: object) -> JsonObject:
    answer = _body_object(body)
    _callback_uri(answer, "callbackUri", required=True)
    _media_config(answer.get("mediaConfig"), "mediaConfig")
    modalities = answer.get("acceptedModalities")
    if modalities is None:
        raise _missing("acceptedModalities")
    _enum_list(modalities, "acceptedModalities", _wire.MODALITIES, min_items=1)
    _typed_object(
        answer.get("callOptions"),
        "callOptions",
        frozenset({_wire.INCOMING_CALL_OPTIONS}),
        required=False,
    )
    _optional_int(answer, "participantCapacity", minimum=1)
    return answer


def validate_reject(body: object) -> JsonObject:
    reject = _body_object(body)
    _callback_uri(reject, "callbackUri", required=False)
    reason = reject.get("reason")
    if reason is not None:
        # The reference table spells the reasons capitalised and the schema does
        # not, so both spellings are accepted.
        _enum(reason, "reason", _wire.REJECT_REASONS, ignore_case=True)
    return reject


def validate_redirect(body: object) -> JsonObject:
    redirect = _body_object(body)
    targets = redirect.get("targets")
    if targets is None:
        raise _missing("targets")
    _participant_list(targets, "targets", max_items=_wire.MAX_REDIRECT_TARGETS)
    low, high = _wire.REDIRECT_TIMEOUT_RANGE
    _optional_int(redirect, "timeout", minimum=low, maximum=high)
    _callback_uri(redirect, "callbackUri", required=False)
    return redirect


def validate_transfer(body: object) -> JsonObject:
    transfer = _body_object(body)
    target = transfer.get("transferTarget")
    if target is None:
        raise _missing("transferTarget")
    _participant_info(target, "transferTarget")
    if transfer.get("transferee") is not None:
        _participant_info(transfer["transferee"], "transferee")
    return transfer


def validate_client_context_only(body: object) -> str | None:
    """Validate a body whose only parameter is clientContext and return it."""
    return _client_context(_body_object(body))


def validate_play_prompt(body: object) -> tuple[str | None, int]:
    """Validate a playPrompt body and return its clientContext and prompt count."""
    request = _body_object(body)
    client_context = _client_context(request)
    prompts = request.get("prompts")
    if prompts is None:
        raise _missing("prompts")
    _prompt_list(prompts, "prompts", min_items=1, max_items=_wire.MAX_PLAY_PROMPTS)
    return client_context, len(prompts)


def validate_record_response(body: object) -> tuple[str | None, int, bool]:
    """Validate a recordResponse body.

    Returns the clientContext, the number of prompts and whether bargeInAllowed is set.
    """
    request = _body_object(body)
    client_context = _client_context(request)
    prompts = request.get("prompts")
    prompt_count = 0
    if prompts is not None:
        _prompt_list(
            prompts, "prompts", min_items=0, max_items=_wire.MAX_RECORD_PROMPTS
        )
        prompt_count = len(prompts)
    low, high = _wire.RECORD_TIMER_RANGE
    for timer in (
        "initialSilenceTimeoutInSeconds",
        "maxSilenceTimeoutInSeconds",
        "maxRecordDurationInSeconds",
    ):
        _optional_int(request, timer, minimum=low, maximum=high)
    _optional_bool(request, "playBeep")
    barge_in = _optional_bool(request, "bargeInAllowed")
    stop_tones = request.get("stopTones")
    if stop_tones is not None:
        _string_list(stop_tones, "stopTones")
    return client_context, prompt_count, bool(barge_in)


def validate_send_dtmf_tones(body: object) -> tuple[str | None, list[str]]:
    """Validate a sendDtmfTones body and return its clientContext and tones."""
    request = _body_object(body)
    client_context = _client_context(request)
    tones = request.get("tones")
    if tones is None:
        raise _missing("tones")
    canonical = _enum_list(tones, "tones", _wire.TONES, min_items=1)
    _optional_int(request, "delayBetweenTonesMs", minimum=0)
    return client_context, canonical


def validate_update_recording_status(body: object) -> tuple[str | None, str]:
    request = _body_object(body)
    client_context = _client_context(request)
    status = request.get("status")
    if status is None:
        raise _missing("status")
    return client_context, _enum(status, "status", _wire.RECORDING_STATUSES)


def validate_change_screen_sharing_role(body: object) -> str:
    request = _body_object(body)
    role = request.get("role")
    if role is None:
        raise _missing("role")
    return _enum(role, "role", _wire.SCREEN_SHARING_ROLES)


def validate_log_device_quality(body: object) -> JsonObject:
    request = _body_object(body)
    quality = request.get("quality")
    if quality is None:
        raise _missing("quality")
    if not isinstance(quality, dict):
        raise _invalid_value("quality", "a teleconferenceDeviceQuality object", quality)
    return request


def validate_invite(body: object) -> tuple[str | None, list[JsonObject]]:
    """Validate a participants invite and return its clientContext and invitees."""
    request = _body_object(body)
    client_context = _client_context(request)
    participants = request.get("participants")
    if participants is None:
        raise _missing("participants")
    _participant_list(
        participants, "participants", max_items=_wire.MAX_INVITE_PARTICIPANTS
    )
    for index, invitee in enumerate(participants):
        path = f"participants[{index}]"
        for key in ("replacesCallId", "participantId"):
            value = invitee.get(key)
            if value is not None and (not isinstance(value, str) or not value):
                raise _invalid_value(f"{path}.{key}", "a non-empty string", value)
        for key in ("hidden", "removeFromDefaultAudioRoutingGroup"):
            value = invitee.get(key)
            if value is not None and not isinstance(value, bool):
                raise _invalid_value(f"{path}.{key}", "true or false", value)
    return client_context, participants


def validate_start_hold_music(body: object) -> str | None:
    """Validate a startHoldMusic body and return its clientContext."""
    request = _body_object(body)
    client_context = _client_context(request)
    prompt = request.get("customPrompt")
    if prompt is not None:
        _typed_object(
            prompt, "customPrompt", frozenset({_wire.MEDIA_PROMPT}), required=True
        )
        assert isinstance(prompt, dict)
        _media_info(prompt.get("mediaInfo"), "customPrompt.mediaInfo")
    return client_context


def validate_audio_routing_group(body: object, *, partial: bool) -> JsonObject:
    """Validate the properties of an audioRoutingGroup in a POST or a PATCH.

    A POST (`partial=False`) needs routingMode, sources and receivers; a PATCH
    may send any of them. The counts per routing mode are checked by the caller,
    on the group as it would be after the request.
    """
    group = _body_object(body)
    group_id = group.get("id")
    if group_id is not None and (not isinstance(group_id, str) or not group_id):
        raise _invalid_value("id", "a non-empty string", group_id)
    mode = group.get("routingMode")
    if mode is None and not partial:
        raise _missing("routingMode")
    if mode is not None:
        # unknownFutureValue is a marker for enum evolution that a client never
        # sends as a real choice.
        _enum(mode, "routingMode", _wire.ROUTING_MODES - {"unknownFutureValue"})
    for key in ("sources", "receivers"):
        ids = group.get(key)
        if ids is None:
            if not partial:
                raise _missing(key)
            continue
        _string_list(ids, key)
    return group


def is_valid_tone(tone: object) -> bool:
    return isinstance(tone, str) and tone in _wire.TONES


def check_callback_uri(value: object, path: str) -> str:
    """Return the URL if it is https, or http on a loopback host; else raise."""
    expected = "an https URL (http is allowed only for 127.0.0.1, localhost and ::1)"
    if not isinstance(value, str) or not value:
        raise _invalid_value(path, expected, value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        raise _invalid_value(path, expected, value) from None
    if not host:
        raise _invalid_value(path, expected, value)
    if parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS):
        return value
    raise _invalid_value(path, expected, value)


def _body_object(body: object) -> JsonObject:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid_request(
            f"The request body must be a JSON object, got {type(body).__name__}."
        )
    return body


def _call_destination(call: JsonObject) -> None:
    """Check that a new call names whom to call: targets, or a meeting to join."""
    targets = call.get("targets")
    meeting_info = call.get("meetingInfo")
    if targets is None and meeting_info is None:
        raise invalid_request(
            "Missing required property 'targets': a call needs targets, or "
            "meetingInfo (with chatInfo for an organizerMeetingInfo) to join a meeting."
        )
    if targets is not None:
        _participant_list(targets, "targets", max_items=_wire.MAX_CREATE_TARGETS)
    if meeting_info is None:
        return

    meeting_type = _typed_object(
        meeting_info,
        "meetingInfo",
        frozenset(_wire.MEETING_INFO_REQUIRED_FIELD),
        required=True,
    )
    required_field = _wire.MEETING_INFO_REQUIRED_FIELD[meeting_type]
    if meeting_info.get(required_field) is None:
        raise _missing(f"meetingInfo.{required_field}")
    chat_info = call.get("chatInfo")
    if meeting_type == _wire.ORGANIZER_MEETING_INFO and chat_info is None:
        raise _missing("chatInfo")
    if chat_info is not None and not isinstance(chat_info, dict):
        raise _invalid_value("chatInfo", "a chatInfo object", chat_info)


def _media_config(value: object, path: str) -> None:
    if value is None:
        raise _missing(path)
    media_type = _typed_object(value, path, _wire.MEDIA_CONFIG_TYPES, required=True)
    assert isinstance(value, dict)
    if media_type != _wire.SERVICE_HOSTED_MEDIA:
        return
    pre_fetch = value.get("preFetchMedia")
    if pre_fetch is None:
        return
    if not isinstance(pre_fetch, list):
        raise _invalid_value(f"{path}.preFetchMedia", "a list of mediaInfo", pre_fetch)
    for index, media_info in enumerate(pre_fetch):
        _media_info(media_info, f"{path}.preFetchMedia[{index}]")


def _prompt_list(value: object, path: str, min_items: int, max_items: int) -> None:
    prompts = _list(value, path, min_items, max_items)
    for index, prompt in enumerate(prompts):
        prompt_path = f"{path}[{index}]"
        _typed_object(
            prompt, prompt_path, frozenset({_wire.MEDIA_PROMPT}), required=True
        )
        assert isinstance(prompt, dict)
        _media_info(prompt.get("mediaInfo"), f"{prompt_path}.mediaInfo")


def _media_info(value: object, path: str) -> None:
    if value is None:
        raise _missing(path)
    if not isinstance(value, dict):
        raise _invalid_value(path, "a mediaInfo object", value)
    uri = value.get("uri")
    if uri is None:
        raise _missing(f"{path}.uri")
    if not _is_https_url(uri):
        raise _invalid_value(f"{path}.uri", "a non-empty https URL", uri)


def _is_https_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme == "https" and bool(parts.hostname)


def _participant_list(value: object, path: str, max_items: int) -> None:
    targets = _list(value, path, 1, max_items)
    for index, target in enumerate(targets):
        _participant_info(target, f"{path}[{index}]")


def _participant_info(value: object, path: str) -> None:
    if not isinstance(value, dict):
        raise _invalid_value(path, "a participant info object", value)
    identity = value.get("identity")
    if identity is None:
        raise _missing(f"{path}.identity")
    if not isinstance(identity, dict) or not identity:
        raise _invalid_value(f"{path}.identity", "a non-empty identitySet", identity)


def _typed_object(
    value: object, path: str, allowed_types: frozenset[str], *, required: bool
) -> str:
    """Check a polymorphic object and return its `@odata.type`.

    The service needs `@odata.type` on these objects to choose the subtype, so it is
    required whenever the object is present. Returns "" for an absent optional object.
    """
    if value is None:
        if required:
            raise _missing(path)
        return ""
    if not isinstance(value, dict):
        raise _invalid_value(path, "an object", value)
    odata_type = value.get("@odata.type")
    if odata_type is None:
        raise invalid_request(
            f"Missing required property '{path}.@odata.type': the service needs it to "
            f"choose the subtype ({_expected_list(allowed_types)})."
        )
    if odata_type not in allowed_types:
        raise _invalid_value(
            f"{path}.@odata.type", _expected_list(allowed_types), odata_type
        )
    return str(odata_type)


def _client_context(request: JsonObject) -> str | None:
    value = request.get("clientContext")
    if value is None:
        return None
    if not isinstance(value, str):
        raise _invalid_value("clientContext", "a string", value)
    if len(value) > _wire.MAX_CLIENT_CONTEXT:
        raise invalid_request(
            f"Invalid value for 'clientContext': expected at most "
            f"{_wire.MAX_CLIENT_CONTEXT} characters, got {len(value)}."
        )
    return value


def _callback_uri(request: JsonObject, key: str, *, required: bool) -> None:
    value = request.get(key)
    if value is None:
        if required:
            raise _missing(key)
        return
    check_callback_uri(value, key)


def _enum(
    value: object, path: str, allowed: frozenset[str], *, ignore_case: bool = False
) -> str:
    if isinstance(value, str):
        if value in allowed:
            return value
        if ignore_case:
            for member in allowed:
                if member.lower() == value.lower():
                    return member
    raise _invalid_value(path, f"one of {_expected_list(allowed)}", value)


def _enum_list(
    value: object, path: str, allowed: frozenset[str], min_items: int = 0
) -> list[str]:
    if value is None:
        return []
    items = _list(value, path, min_items, None)
    return [
        _enum(item, f"{path}[{index}]", allowed) for index, item in enumerate(items)
    ]


def _string_list(value: object, path: str) -> None:
    for index, item in enumerate(_list(value, path, 0, None)):
        if not isinstance(item, str):
            raise _invalid_value(f"{path}[{index}]", "a string", item)


def _list(value: object, path: str, min_items: int, max_items: int | None) -> list[Any]:
    if not isinstance(value, list):
        raise _invalid_value(path, "a list", value)
    too_many = max_items is not None and len(value) > max_items
    if len(value) < min_items or too_many:
        bounds = f"at least {min_items}"
        if max_items is not None:
            bounds = f"{min_items} to {max_items}"
        raise invalid_request(
            f"Invalid value for '{path}': expected {bounds} items, got {len(value)}."
        )
    return value


def _optional_int(
    request: JsonObject,
    key: str,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
) -> None:
    value = request.get(key)
    if value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid_value(key, "an integer", value)
    if (minimum is not None and value < minimum) or (
        maximum is not None and value > maximum
    ):
        expected = f"an integer >= {minimum}"
        if maximum is not None:
            expected = f"an integer from {minimum} to {maximum}"
        raise _invalid_value(key, expected, value)


def _optional_bool(request: JsonObject, key: str) -> bool | None:
    value = request.get(key)
    if value is not None and not isinstance(value, bool):
        raise _invalid_value(key, "true or false", value)
    return value


def _optional_string(request: JsonObject, key: str) -> None:
    value = request.get(key)
    if value is not None and not isinstance(value, str):
        raise _invalid_value(key, "a string", value)


def _missing(path: str) -> _wire.GraphError:
    return invalid_request(f"Missing required property '{path}'.")


def _invalid_value(path: str, expected: str, value: object) -> _wire.GraphError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return invalid_request(
        f"Invalid value for '{path}': expected {expected}, got {shown}."
    )


def _expected_list(allowed: frozenset[str]) -> str:
    return ", ".join(sorted(allowed))

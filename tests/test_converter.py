"""The wire converter: tolerant reading, polymorphic writing and parse errors."""

from __future__ import annotations

import json
import math
import types
import typing
from enum import Enum
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import calls_async.models as models
from calls_async._errors import ResponseParseError
from calls_async.models import (
    AppHostedMediaConfig,
    CallMediaState,
    CallOptions,
    CallProperties,
    CallState,
    ChangeType,
    CommsNotifications,
    CommsOperation,
    GraphModel,
    Identity,
    IdentitySet,
    IncomingCallOptions,
    InvitationParticipantInfo,
    InviteParticipantsOperation,
    JoinMeetingIdMeetingInfo,
    MediaConfig,
    MediaInfo,
    MediaPrompt,
    MeetingInfo,
    Modality,
    OperationStatus,
    OrganizerMeetingInfo,
    OutgoingCallOptions,
    ParticipantInfo,
    ParticipantProperties,
    PlayPromptOperation,
    Prompt,
    RecordOperation,
    ResultInfo,
    SendDtmfCompletionReason,
    SendDtmfTonesOperation,
    ServiceHostedMediaConfig,
    TeleconferenceDeviceMediaQuality,
    TeleconferenceDeviceVideoQuality,
    TokenMeetingInfo,
    Tone,
    ToneInfo,
    from_wire,
    to_wire,
)

MODEL_CLASSES = sorted(
    (
        value
        for value in vars(models).values()
        if isinstance(value, type)
        and issubclass(value, GraphModel)
        and value is not GraphModel
    ),
    key=lambda cls: cls.__name__,
)

# Notification examples of the Graph calls reference, with fake ids.
PLAY_PROMPT_COMPLETED = {
    "@odata.type": "#microsoft.graph.commsNotifications",
    "value": [
        {
            "@odata.type": "#microsoft.graph.commsNotification",
            "changeType": "deleted",
            "resourceUrl": "/communications/calls/c2/operations/o1",
            "resourceData": {
                "@odata.type": "#microsoft.graph.playPromptOperation",
                "@odata.id": "/communications/calls/c2/operations/o1",
                "@odata.etag": 'W/"7"',
                "id": "o1",
                "clientContext": "ctx-0001",
                "status": "completed",
                "resultInfo": {
                    "@odata.type": "#microsoft.graph.resultInfo",
                    "code": 200,
                    "subcode": 0,
                    "message": "Action completed successfully.",
                },
            },
        }
    ],
}

ROSTER_UPDATE = {
    "@odata.type": "#microsoft.graph.commsNotifications",
    "value": [
        {
            "@odata.type": "#microsoft.graph.commsNotification",
            "changeType": "updated",
            "resourceUrl": "/communications/calls/c3/participants",
            "resource": "/app/calls/c3/participants",
            "resourceData": [
                {"@odata.type": "#microsoft.graph.participant", "id": "p1"},
                {"@odata.type": "#microsoft.graph.participant", "id": "p2"},
            ],
        }
    ],
}


# Reading.


@pytest.mark.parametrize(
    ("odata_type", "expected"),
    [
        ("#microsoft.graph.playPromptOperation", PlayPromptOperation),
        ("#microsoft.graph.PLAYPROMPTOPERATION", PlayPromptOperation),
        ("#Microsoft.Graph.RecordOperation", RecordOperation),
        ("#microsoft.graph.commsOperation", CommsOperation),
        ("#microsoft.graph.someFutureOperation", CommsOperation),
    ],
)
def test_operation_subtype_from_odata_type(
    odata_type: str, expected: type[CommsOperation]
) -> None:
    operation = from_wire(CommsOperation, {"@odata.type": odata_type, "id": "o1"})

    assert type(operation) is expected
    assert operation.id == "o1"


def test_known_odata_type_is_dropped() -> None:
    operation = from_wire(
        CommsOperation, {"@odata.type": "#microsoft.graph.PLAYPROMPTOPERATION"}
    )

    assert operation.additional_data == {}
    assert to_wire(operation) == {"@odata.type": "#microsoft.graph.playPromptOperation"}


def test_unknown_subtype_keeps_everything_and_writes_it_back() -> None:
    wire = {
        "@odata.type": "#microsoft.graph.someFutureOperation",
        "id": "o1",
        "status": "completed",
        "futureField": {"nested": [1, 2]},
    }

    operation = from_wire(CommsOperation, wire)

    assert type(operation) is CommsOperation
    assert operation.status is OperationStatus.COMPLETED
    assert operation.additional_data == {
        "@odata.type": "#microsoft.graph.someFutureOperation",
        "futureField": {"nested": [1, 2]},
    }
    assert to_wire(operation) == wire


@pytest.mark.parametrize(
    ("base", "wire", "expected"),
    [
        (MediaConfig, {"blob": "b"}, AppHostedMediaConfig(blob="b")),
        (
            MediaConfig,
            {"preFetchMedia": []},
            ServiceHostedMediaConfig(pre_fetch_media=()),
        ),
        (MediaConfig, {}, MediaConfig()),
        (
            Prompt,
            {"mediaInfo": {"uri": "https://m/a.wav"}},
            MediaPrompt.from_uri("https://m/a.wav"),
        ),
        (Prompt, {}, Prompt()),
        (
            MeetingInfo,
            {"organizer": {"user": {"id": "u"}}},
            OrganizerMeetingInfo(organizer=IdentitySet(user=Identity(id="u"))),
        ),
        (MeetingInfo, {"token": "t"}, TokenMeetingInfo(token="t")),
        (
            MeetingInfo,
            {"joinMeetingId": "123"},
            JoinMeetingIdMeetingInfo(join_meeting_id="123"),
        ),
        (
            CommsOperation,
            {"recordingLocation": "x"},
            RecordOperation(recording_location="x"),
        ),
        (
            CommsOperation,
            {"participants": []},
            InviteParticipantsOperation(participants=()),
        ),
        (
            CommsOperation,
            {"completionReason": "completedSuccessfully"},
            SendDtmfTonesOperation(
                completion_reason=SendDtmfCompletionReason.COMPLETED_SUCCESSFULLY
            ),
        ),
        (CommsOperation, {"id": "o1"}, CommsOperation(id="o1")),
        (
            CallOptions,
            {"isDeltaRosterEnabled": True},
            CallOptions(is_delta_roster_enabled=True),
        ),
        (
            TeleconferenceDeviceMediaQuality,
            {"averageInboundBitRate": 10},
            TeleconferenceDeviceVideoQuality(average_inbound_bit_rate=10.0),
        ),
    ],
)
def test_missing_odata_type_is_inferred_from_fields(
    base: type[GraphModel], wire: dict[str, Any], expected: GraphModel
) -> None:
    parsed = from_wire(base, wire)

    assert type(parsed) is type(expected)
    assert parsed == expected


def test_unknown_fields_are_kept_and_written_back() -> None:
    wire = {
        "@odata.type": "#microsoft.graph.call",
        "@odata.etag": 'W/"1"',
        "id": "c1",
        "activeModalities": ["audio"],
        "answeredBy": None,
        "source": {
            "@odata.type": "#microsoft.graph.participantInfo",
            "identity": {
                "@odata.type": "#microsoft.graph.identitySet",
                "user": {
                    "@odata.type": "#microsoft.graph.identity",
                    "id": "u1",
                    "email": "user@example.com",
                },
            },
        },
    }

    call = from_wire(CallProperties, wire)

    assert call.additional_data == {
        "@odata.etag": 'W/"1"',
        "activeModalities": ["audio"],
        "answeredBy": None,
    }
    assert call.source is not None
    assert call.source.identity.user is not None
    assert call.source.identity.user.additional_data == {"email": "user@example.com"}
    assert to_wire(call) == wire


def test_foreign_odata_type_of_concrete_model_is_kept() -> None:
    wire = {
        "@odata.type": "#microsoft.graph.communicationsIdentitySet",
        "phone": {"@odata.type": "#microsoft.graph.identity", "id": "+1"},
    }

    identity = from_wire(IdentitySet, wire)

    assert identity.phone == Identity(id="+1")
    assert identity.additional_data == {
        "@odata.type": "#microsoft.graph.communicationsIdentitySet"
    }
    assert to_wire(identity) == wire


def test_participant_info_keeps_legacy_id_in_additional_data() -> None:
    info = from_wire(ParticipantInfo, {"id": "p-legacy", "identity": {}})

    assert info.participant_id is None
    assert info.additional_data == {"id": "p-legacy"}
    assert to_wire(info)["id"] == "p-legacy"


@pytest.mark.parametrize(
    ("wire_state", "expected"),
    [
        ("transferAccepted", CallState.TRANSFER_ACCEPTED),
        ("TRANSFERACCEPTED", CallState.TRANSFER_ACCEPTED),
        ("Established", CallState.ESTABLISHED),
        ("ringing", CallState.RINGING),
        ("parked", "parked"),
        ("", ""),
    ],
)
def test_enum_values_match_without_case(wire_state: str, expected: Any) -> None:
    call = from_wire(CallProperties, {"state": wire_state})

    assert call.state == expected
    assert type(call.state) is type(expected)


def test_unknown_enum_value_round_trip() -> None:
    wire = {
        "@odata.type": "#microsoft.graph.call",
        "state": "parked",
        "requestedModalities": ["Audio", "hologram"],
        "toneInfo": {"@odata.type": "#microsoft.graph.toneInfo", "tone": "buzz"},
    }

    call = from_wire(CallProperties, wire)

    assert call.state == "parked"
    assert call.requested_modalities == (Modality.AUDIO, "hologram")
    assert call.tone_info == ToneInfo(tone="buzz")
    assert to_wire(call) == {**wire, "requestedModalities": ["audio", "hologram"]}


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"code": 200, "subcode": 5001}, ResultInfo(code=200, subcode=5001)),
        ({"code": "200", "subcode": "5001"}, ResultInfo(code=200, subcode=5001)),
        ({"code": "0", "subCode": "7015"}, ResultInfo(code=0, subcode=7015)),
        ({"code": 500, "subCode": 7000}, ResultInfo(code=500, subcode=7000)),
        ({"code": " 408 ", "subcode": "-1"}, ResultInfo(code=408, subcode=-1)),
        ({"code": 200.0}, ResultInfo(code=200)),
        ({"code": None, "subcode": None, "message": None}, ResultInfo()),
    ],
)
def test_result_info_codes_accept_numbers_and_strings(
    wire: dict[str, Any], expected: ResultInfo
) -> None:
    parsed = from_wire(ResultInfo, wire)

    assert parsed == expected
    assert parsed.additional_data == {}


def test_result_info_with_both_spellings() -> None:
    parsed = from_wire(ResultInfo, {"subcode": 1, "subCode": 2})

    assert parsed.subcode == 1
    assert parsed.additional_data == {"subCode": 2}


def test_pascal_case_running_status() -> None:
    operation = from_wire(
        CommsOperation,
        {
            "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
            "status": "Running",
        },
    )

    assert operation.status is OperationStatus.RUNNING
    assert operation.is_running is True
    assert operation.is_terminal is False


def test_null_is_accepted_for_nullable_fields() -> None:
    call = from_wire(
        CallProperties,
        {
            "state": None,
            "targets": None,
            "resultInfo": None,
            "mediaConfig": None,
            "requestedModalities": None,
            "subject": None,
        },
    )

    assert call == CallProperties()


def test_numbers_for_double_fields() -> None:
    quality = from_wire(
        TeleconferenceDeviceVideoQuality,
        {
            "averageInboundBitRate": 5,
            "averageOutboundBitRate": "1.5",
            "averageInboundFrameRate": "NaN",
            "localIPAddress": "10.0.0.1",
        },
    )

    assert quality.average_inbound_bit_rate == 5.0
    assert type(quality.average_inbound_bit_rate) is float
    assert quality.average_outbound_bit_rate == 1.5
    assert quality.average_inbound_frame_rate is not None
    assert math.isnan(quality.average_inbound_frame_rate)
    assert quality.local_ip_address == "10.0.0.1"


def test_notification_with_operation_resource_data() -> None:
    notifications = from_wire(CommsNotifications, PLAY_PROMPT_COMPLETED)

    assert notifications.value is not None
    entry = notifications.value[0]
    assert entry.change_type is ChangeType.DELETED
    assert entry.resource_url == "/communications/calls/c2/operations/o1"
    raw = PLAY_PROMPT_COMPLETED["value"][0]["resourceData"]  # type: ignore[index]
    assert entry.resource_data is raw
    operation = from_wire(CommsOperation, entry.resource_data)
    assert type(operation) is PlayPromptOperation
    assert operation.succeeded is True
    assert operation.result_info == ResultInfo(
        code=200, subcode=0, message="Action completed successfully."
    )
    assert operation.additional_data == {
        "@odata.id": "/communications/calls/c2/operations/o1",
        "@odata.etag": 'W/"7"',
    }


def test_notification_with_roster_array() -> None:
    notifications = from_wire(CommsNotifications, ROSTER_UPDATE)

    assert notifications.value is not None
    entry = notifications.value[0]
    assert entry.change_type is ChangeType.UPDATED
    assert entry.resource == "/app/calls/c3/participants"
    assert isinstance(entry.resource_data, list)
    participants = [
        from_wire(ParticipantProperties, item) for item in entry.resource_data
    ]
    assert [participant.id for participant in participants] == ["p1", "p2"]
    assert to_wire(notifications) == ROSTER_UPDATE


def test_record_operation_completion_keeps_token_out_of_repr() -> None:
    operation = from_wire(
        CommsOperation,
        {
            "@odata.type": "#microsoft.graph.recordOperation",
            "status": "completed",
            "recordingLocation": "https://recordings.example.com/f001",
            "recordingAccessToken": "fake-recording-token",
        },
    )

    assert isinstance(operation, RecordOperation)
    assert operation.recording_location == "https://recordings.example.com/f001"
    assert operation.recording_access_token == "fake-recording-token"
    assert "fake-recording-token" not in repr(operation)


def test_tone_notification_call() -> None:
    call = from_wire(
        CallProperties,
        {
            "@odata.type": "#microsoft.graph.call",
            "state": "established",
            "toneInfo": {
                "@odata.type": "#microsoft.graph.toneInfo",
                "sequenceId": 3,
                "tone": "pound",
            },
        },
    )

    assert call.tone_info == ToneInfo(sequence_id=3, tone=Tone.POUND)
    assert call.state is CallState.ESTABLISHED


# Writing.


def test_polymorphic_values_carry_their_type() -> None:
    call = CallProperties(
        media_config=AppHostedMediaConfig(blob="b"),
        meeting_info=TokenMeetingInfo(token="t"),
        call_options=IncomingCallOptions(is_delta_roster_enabled=True),
    )

    wire = to_wire(call)

    assert wire["mediaConfig"] == {
        "@odata.type": "#microsoft.graph.appHostedMediaConfig",
        "blob": "b",
    }
    assert wire["meetingInfo"] == {
        "@odata.type": "#microsoft.graph.tokenMeetingInfo",
        "token": "t",
    }
    assert wire["callOptions"] == {
        "@odata.type": "#microsoft.graph.incomingCallOptions",
        "isDeltaRosterEnabled": True,
    }


def test_none_fields_are_left_out() -> None:
    assert to_wire(CallProperties()) == {"@odata.type": "#microsoft.graph.call"}
    assert to_wire(Identity(id="u1")) == {
        "@odata.type": "#microsoft.graph.identity",
        "id": "u1",
    }


def test_enums_become_plain_strings_and_tuples_lists() -> None:
    wire = to_wire(
        CallProperties(
            state=CallState.TRANSFER_ACCEPTED,
            requested_modalities=(Modality.AUDIO, Modality.VIDEO),
            media_state=CallMediaState(audio="active"),
        )
    )

    assert wire["state"] == "transferAccepted"
    assert type(wire["state"]) is str
    assert wire["requestedModalities"] == ["audio", "video"]
    assert type(wire["requestedModalities"]) is list
    assert all(type(value) is str for value in wire["requestedModalities"])
    assert wire["mediaState"]["audio"] == "active"


def test_model_field_wins_over_additional_data() -> None:
    identity = Identity(id="u1", additional_data={"id": "stale", "extra": 1})

    assert to_wire(identity) == {
        "@odata.type": "#microsoft.graph.identity",
        "id": "u1",
        "extra": 1,
    }


def test_to_wire_accepts_lists_of_models() -> None:
    wire = to_wire([MediaInfo(uri="a"), MediaInfo(uri="b")])

    assert wire == [
        {"@odata.type": "#microsoft.graph.mediaInfo", "uri": "a"},
        {"@odata.type": "#microsoft.graph.mediaInfo", "uri": "b"},
    ]


def test_to_wire_rejects_other_values() -> None:
    with pytest.raises(TypeError, match="dict"):
        to_wire({"uri": "a"})  # type: ignore[call-overload]


def test_from_wire_rejects_non_model_class() -> None:
    with pytest.raises(TypeError, match="model class"):
        from_wire(dict, {})  # type: ignore[type-var]


# Parse errors.


@pytest.mark.parametrize(
    ("cls", "data", "path", "fragment"),
    [
        (CallProperties, "x", "", "expected an object, got a string"),
        (CallProperties, None, "", "expected an object, got null"),
        (CallProperties, {"state": 5}, "state", "expected a string, got a number"),
        (CallProperties, {"id": ["x"]}, "id", "expected a string, got an array"),
        (CallProperties, {"targets": "abc"}, "targets", "expected an array"),
        (
            CallProperties,
            {"targets": [{"identity": "me"}]},
            "targets[0].identity",
            "expected an object",
        ),
        (
            CallProperties,
            {"targets": [{"identity": {}}, {"identity": {"user": {"id": 7}}}]},
            "targets[1].identity.user.id",
            "expected a string",
        ),
        (CallProperties, {"source": {}}, "source.identity", "missing required field"),
        (
            CallProperties,
            {"requestedModalities": [["audio"]]},
            "requestedModalities[0]",
            "expected a string, got an array",
        ),
        (
            CallProperties,
            {"mediaConfig": {"@odata.type": 1}},
            "mediaConfig.@odata.type",
            "expected a string",
        ),
        (
            CallProperties,
            {"chatInfo": {"@odata.type": ["x"]}},
            "chatInfo.@odata.type",
            "expected a string",
        ),
        (
            CommsOperation,
            {"resultInfo": {"code": "abc"}},
            "resultInfo.code",
            "expected an integer, got a string",
        ),
        (
            CommsOperation,
            {"resultInfo": {"code": True}},
            "resultInfo.code",
            "expected an integer, got a boolean",
        ),
        (
            CommsOperation,
            {"resultInfo": {"code": "9" * 40}},
            "resultInfo.code",
            "expected an integer",
        ),
        (
            CommsOperation,
            {
                "@odata.type": "#microsoft.graph.inviteParticipantsOperation",
                "participants": {},
            },
            "participants",
            "expected an array, got an object",
        ),
        (
            CommsNotifications,
            {"value": [{"resourceData": "x"}]},
            "value[0].resourceData",
            "expected an object or an array",
        ),
        (
            CommsNotifications,
            {"value": [{}, {"resourceData": [{}, 1]}]},
            "value[1].resourceData[1]",
            "expected an object, got a number",
        ),
        (ParticipantProperties, {"isMuted": "false"}, "isMuted", "expected a boolean"),
        (ToneInfo, {"sequenceId": 1.5}, "sequenceId", "expected an integer"),
        (
            TeleconferenceDeviceVideoQuality,
            {"averageInboundBitRate": "fast"},
            "averageInboundBitRate",
            "expected a number",
        ),
        (
            TeleconferenceDeviceVideoQuality,
            {"localIPAddress": 10},
            "localIPAddress",
            "expected a string",
        ),
        (MediaInfo, {}, "uri", "missing required field"),
        (MediaInfo, {"uri": None}, "uri", "expected a string, got null"),
    ],
)
def test_parse_errors_carry_the_path(
    cls: type[GraphModel], data: Any, path: str, fragment: str
) -> None:
    with pytest.raises(ResponseParseError) as caught:
        from_wire(cls, data)

    assert caught.value.path == path
    assert fragment in str(caught.value)
    assert cls.__name__ in str(caught.value)


def test_parse_error_does_not_quote_the_value() -> None:
    with pytest.raises(ResponseParseError) as caught:
        from_wire(
            CommsOperation,
            {
                "@odata.type": "#microsoft.graph.recordOperation",
                "recordingAccessToken": ["secret-token-value"],
            },
        )

    assert "secret-token-value" not in str(caught.value)
    assert caught.value.path == "recordingAccessToken"


# Property tests.

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
JSON_OBJECTS = st.dictionaries(st.text(max_size=6), JSON_VALUES, max_size=3)

_strategies: dict[Any, st.SearchStrategy[Any]] = {}


def wire_keys(cls: type[GraphModel]) -> set[str]:
    attrs.resolve_types(cls)
    keys = {"@odata.type", "subCode"}
    for field in attrs.fields(cls):
        keys.add(field.metadata.get("wire_name") or camel_case(field.name))
    return keys


def camel_case(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


def enum_or_text(enum_type: type[Enum]) -> st.SearchStrategy[Any]:
    folded = {str(member.value).lower() for member in enum_type}
    raw = st.text(max_size=8).filter(lambda text: text.lower() not in folded)
    return st.sampled_from(list(enum_type)) | raw


def strategy_for(type_: Any) -> st.SearchStrategy[Any]:
    if type_ in _strategies:
        return _strategies[type_]
    if type_ is str:
        return st.text(max_size=8)
    if type_ is int:
        return st.integers(-(2**53), 2**53)
    if type_ is float:
        return st.floats(allow_nan=False, allow_infinity=False)
    if type_ is bool:
        return st.booleans()
    if isinstance(type_, types.UnionType):
        args = typing.get_args(type_)
        members = [arg for arg in args if arg is not types.NoneType]
        if str in members and len(members) == 2:
            enum_type = members[0] if members[1] is str else members[1]
            inner = enum_or_text(enum_type)
        else:
            (member,) = members
            inner = strategy_for(member)
        return st.none() | inner if types.NoneType in args else inner
    if typing.get_origin(type_) is tuple:
        element = strategy_for(typing.get_args(type_)[0])
        return st.lists(element, max_size=2).map(tuple)
    if isinstance(type_, type) and issubclass(type_, GraphModel):
        return model_strategy(type_)
    raise AssertionError(f"no strategy for {type_!r}")


def concrete_model_strategy(cls: type[GraphModel]) -> st.SearchStrategy[Any]:
    attrs.resolve_types(cls)
    known = wire_keys(cls)
    extra = st.dictionaries(
        st.text(min_size=1, max_size=6).filter(lambda key: key not in known),
        JSON_VALUES,
        max_size=2,
    )
    fields: dict[str, st.SearchStrategy[Any]] = {"additional_data": extra}
    for field in attrs.fields(cls):
        if field.name == "additional_data":
            continue
        if field.metadata.get("raw_json"):
            fields[field.name] = st.none() | JSON_OBJECTS | st.lists(JSON_OBJECTS)
        else:
            fields[field.name] = strategy_for(field.type)
    return st.builds(cls, **fields)


def model_strategy(cls: type[GraphModel]) -> st.SearchStrategy[Any]:
    """Draw ``cls`` or any of its subclasses, since a field may hold a subtype."""
    if cls not in _strategies:
        _strategies[cls] = st.deferred(
            lambda: st.one_of(
                [concrete_model_strategy(sub) for sub in [cls, *descendants(cls)]]
            )
        )
    return _strategies[cls]


def descendants(cls: type) -> list[type]:
    found: list[type] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(descendants(sub))
    return found


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_every_model_survives_a_round_trip(
    cls: type[GraphModel], data: st.DataObject
) -> None:
    model = data.draw(model_strategy(cls))

    wire = json.loads(json.dumps(to_wire(model)))
    parsed = from_wire(cls, wire)

    assert type(parsed) is type(model)
    assert parsed == model


ALL_WIRE_KEYS = sorted(set().union(*(wire_keys(cls) for cls in MODEL_CLASSES)))
TYPE_NAMES = [cls.odata_type for cls in MODEL_CLASSES]
FUZZ_SCALARS = JSON_SCALARS | st.sampled_from(TYPE_NAMES)
FUZZ_VALUES = st.recursive(
    FUZZ_SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(
            st.sampled_from(ALL_WIRE_KEYS) | st.text(max_size=4), children, max_size=5
        )
    ),
    max_leaves=25,
)


@pytest.mark.parametrize(
    "cls",
    [CallProperties, CommsOperation, CommsNotifications, ParticipantProperties],
    ids=lambda cls: cls.__name__,
)
@settings(max_examples=200, deadline=None)
@given(data=FUZZ_VALUES)
def test_any_json_model_or_parse_error(cls: type[GraphModel], data: Any) -> None:
    try:
        parsed = from_wire(cls, data)
    except ResponseParseError:
        return
    assert isinstance(parsed, cls)


def leaf_paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    paths = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            paths.extend(leaf_paths(item, (*path, key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            paths.extend(leaf_paths(item, (*path, index)))
    return paths


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, *rest = path
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], tuple(rest), new)}
    copy = list(value)
    copy[head] = replaced(copy[head], tuple(rest), new)
    return copy


@pytest.mark.parametrize(
    "cls",
    [CallProperties, CommsOperation, CommsNotifications, InvitationParticipantInfo],
    ids=lambda cls: cls.__name__,
)
@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=st.data())
def test_corrupted_json_model_or_parse_error(
    cls: type[GraphModel], data: st.DataObject
) -> None:
    wire = json.loads(json.dumps(to_wire(data.draw(model_strategy(cls)))))
    path = data.draw(st.sampled_from(leaf_paths(wire)))
    corrupted = replaced(wire, path, data.draw(FUZZ_VALUES))

    try:
        parsed = from_wire(cls, corrupted)
    except ResponseParseError:
        return
    assert isinstance(parsed, cls)


def test_outgoing_call_options_type_survives() -> None:
    options = from_wire(
        CallOptions, to_wire(OutgoingCallOptions(hide_bot_after_escalation=True))
    )

    assert type(options) is OutgoingCallOptions


# -- shared values ------------------------------------------------------------


def _call_resource(call_id: str, user_id: str) -> dict[str, Any]:
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#app/calls/$entity",
        "@odata.type": "#microsoft.graph.call",
        "id": call_id,
        "callbackUri": "https://bot.example.com/" + "callback",
        "tenantId": "tenant-" + "1",
        "source": {
            "identity": {"application": {"id": "app-1", "displayName": "The bot"}}
        },
        "targets": [{"identity": {"user": {"id": user_id}}}],
        "mediaConfig": {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"},
    }


def test_equal_identities_and_repeated_strings_are_kept_once() -> None:
    first = from_wire(
        CallProperties, json.loads(json.dumps(_call_resource("c1", "u1")))
    )
    second = from_wire(
        CallProperties, json.loads(json.dumps(_call_resource("c2", "u2")))
    )
    assert first.source is not None
    assert second.source is not None
    assert first.source is second.source
    assert first.media_config is second.media_config
    assert first.callback_uri is second.callback_uri
    assert first.tenant_id is second.tenant_id
    # Different users stay different objects with their own values.
    assert first.targets is not None
    assert second.targets is not None
    assert first.targets[0] is not second.targets[0]
    assert first.targets[0].identity.user == Identity(id="u1")
    assert second.targets[0].identity.user == Identity(id="u2")
    # The response's @odata.context is dropped rather than kept per call.
    assert first.additional_data == {}


def test_models_with_unknown_fields_are_not_shared() -> None:
    data = {"id": "u1", "displayName": "A", "extension": {"k": ["v"]}}
    first = from_wire(Identity, json.loads(json.dumps(data)))
    second = from_wire(Identity, json.loads(json.dumps(data)))
    assert first == second
    assert first is not second
    assert first.additional_data == {"extension": {"k": ["v"]}}
    assert to_wire(first) == {"@odata.type": "#microsoft.graph.identity", **data}


def test_shared_table_stays_bounded() -> None:
    from calls_async.models import _converter

    for index in range(_converter._SHARED_LIMIT + 10):
        from_wire(Identity, {"id": f"user-{index}"})
    assert 0 < len(_converter._shared) <= _converter._SHARED_LIMIT
    # A value read after the table started again is still shared from then on.
    again = from_wire(Identity, {"id": "user-again"})
    assert from_wire(Identity, {"id": "user-again"}) is again

"""The model classes and enums: construction, reprs, hashing and helpers."""

from __future__ import annotations

import copy
import enum
import inspect
import pickle
import subprocess
import sys
from typing import ClassVar

import attrs
import pytest

import calls_async.models as models
from calls_async.models import (
    AudioRoutingGroup,
    CallProperties,
    CallState,
    CommsNotification,
    CommsOperation,
    GraphModel,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    JoinMeetingIdMeetingInfo,
    MediaConfig,
    MediaInfo,
    MediaPrompt,
    MeetingInfo,
    OperationStatus,
    OrganizerMeetingInfo,
    ParticipantInfo,
    Prompt,
    RecordOperation,
    TeleconferenceDeviceQuality,
    TokenMeetingInfo,
    Tone,
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
ENUM_CLASSES = sorted(
    (
        value
        for value in vars(models).values()
        if isinstance(value, type) and issubclass(value, enum.Enum)
    ),
    key=lambda cls: cls.__name__,
)

# The operation subtypes of Graph v1.0, by wire type name.
OPERATION_TYPES = [
    "muteParticipantOperation",
    "unmuteParticipantOperation",
    "playPromptOperation",
    "recordOperation",
    "cancelMediaProcessingOperation",
    "subscribeToToneOperation",
    "sendDtmfTonesOperation",
    "updateRecordingStatusOperation",
    "inviteParticipantsOperation",
    "startHoldMusicOperation",
    "stopHoldMusicOperation",
    "addLargeGalleryViewOperation",
]


def test_all_lists_every_public_name() -> None:
    public = {
        name
        for name, value in vars(models).items()
        if not name.startswith("_")
        and not inspect.ismodule(value)
        and name != "annotations"
    }

    assert set(models.__all__) == public
    assert len(models.__all__) == len(set(models.__all__))


def test_import_does_not_import_cattrs() -> None:
    code = "import sys, calls_async.models; print('cattrs' in sys.modules)"

    output = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout

    assert output.strip() == "False"


def test_import_defers_device_quality_models() -> None:
    code = """
import sys
import calls_async
from calls_async.models import from_wire

print("calls_async.models._quality" in sys.modules)
print("TeleconferenceDeviceQuality" in dir(calls_async))
print("TeleconferenceDeviceQuality" in dir(calls_async.models))
print("calls_async.models._quality" in sys.modules)
print(calls_async.TeleconferenceDeviceQuality.__module__)
print("calls_async.models._quality" in sys.modules)
quality = from_wire(
    calls_async.TeleconferenceDeviceMediaQuality, {"averageInboundBitRate": 10}
)
print(type(quality).__name__)
"""

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    lines = completed.stdout.split()

    assert len(lines) == 7, completed.stdout
    loaded_after_import, in_dir, in_models_dir, loaded_after_dir = lines[:4]
    module, loaded_after_access, inferred = lines[4:]
    assert loaded_after_import == "False"
    assert in_dir == "True"
    assert in_models_dir == "True"
    assert loaded_after_dir == "False"
    assert module == "calls_async.models._quality"
    assert loaded_after_access == "True"
    assert inferred == "TeleconferenceDeviceVideoQuality"


def test_lazy_quality_names_are_exported() -> None:
    import calls_async

    for name in models._QUALITY_NAMES:
        assert name in models.__all__
        assert name in calls_async.__all__
        assert getattr(calls_async, name) is getattr(models, name)


def test_unknown_module_attribute_raises() -> None:
    import calls_async

    with pytest.raises(AttributeError, match="NoSuchModel"):
        _ = models.NoSuchModel  # type: ignore[attr-defined]
    with pytest.raises(AttributeError, match="NoSuchModel"):
        _ = calls_async.NoSuchModel  # type: ignore[attr-defined]


def test_model_type_names_are_unique_graph_names() -> None:
    names = [cls.odata_type for cls in MODEL_CLASSES]

    assert len(names) == len(set(names))
    for name in names:
        assert name.startswith("#microsoft.graph.")
        assert name[len("#microsoft.graph.")].islower()


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_model_is_frozen_slotted_and_keyword_only(cls: type[GraphModel]) -> None:
    assert "__slots__" in vars(cls)
    params = attrs.fields(cls)
    assert all(field.kw_only for field in params)
    assert attrs.fields_dict(cls)["additional_data"].repr is False


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_model_inherits_repr_and_pickling(cls: type[GraphModel]) -> None:
    # attrs generates these unless the class passes repr=False and
    # getstate_setstate=False, which costs import time.
    assert cls.__repr__ is GraphModel.__repr__
    assert cls.__getstate__ is GraphModel.__getstate__
    assert cls.__setstate__ is GraphModel.__setstate__


@pytest.mark.parametrize("cls", MODEL_CLASSES, ids=lambda cls: cls.__name__)
def test_model_annotations_are_all_fields(cls: type[GraphModel]) -> None:
    # A class without its own attrs.define would silently ignore a field added to
    # it later; this catches that.
    own = {
        name
        for name, kind in vars(cls).get("__annotations__", {}).items()
        if not str(kind).startswith("ClassVar")
    }
    assert own <= set(attrs.fields_dict(cls))


def test_field_less_subclasses_compare_by_class() -> None:
    from calls_async.models import (
        CancelMediaProcessingOperation,
        PlayPromptOperation,
    )

    play = PlayPromptOperation(id="op", status="running")
    cancel = CancelMediaProcessingOperation(id="op", status="running")
    assert play == PlayPromptOperation(id="op", status="running")
    assert play != cancel
    assert hash(play) == hash(PlayPromptOperation(id="op", status="running"))
    assert repr(play) == (
        "PlayPromptOperation(id='op', client_context=None, status='running', "
        "result_info=None)"
    )
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        play.status = "completed"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        play.extra = 1  # type: ignore[attr-defined]


def test_events_inherit_one_repr() -> None:
    from calls_async import _events

    classes = [getattr(_events, name) for name in _events.__all__]
    assert len(classes) == 8
    for cls in classes:
        assert cls.__repr__ is _events.CallEvent.__repr__, cls
    event = _events.ToneReceived(call_id="c-1", tone=Tone.TONE1, sequence_id=3)
    assert repr(event) == (
        f"ToneReceived(call_id='c-1', tone={Tone.TONE1!r}, sequence_id=3)"
    )


@pytest.mark.parametrize("enum_type", ENUM_CLASSES, ids=lambda cls: cls.__name__)
def test_enum_members_are_upper_snake_with_wire_values(
    enum_type: type[enum.StrEnum],
) -> None:
    assert issubclass(enum_type, enum.StrEnum)
    for member in enum_type:
        assert member.name == member.name.upper()
        assert member.value[0].islower()
        assert member == member.value


@pytest.mark.parametrize(
    ("member", "value"),
    [
        (CallState.TRANSFER_ACCEPTED, "transferAccepted"),
        (CallState.RINGING, "ringing"),
        (CallState.UNKNOWN_FUTURE_VALUE, "unknownFutureValue"),
        (models.Modality.UNKNOWN, "unknown"),
        (models.Modality.VIDEO_BASED_SCREEN_SHARING, "videoBasedScreenSharing"),
        (
            models.EndpointType.SKYPE_FOR_BUSINESS_VOIP_PHONE,
            "skypeForBusinessVoipPhone",
        ),
        (models.RecordingStatus.NOT_RECORDING, "notRecording"),
        (models.Tone.POUND, "pound"),
        (models.MediaDirection.SEND_RECEIVE, "sendReceive"),
        (models.RoutingMode.ONE_TO_ONE, "oneToOne"),
        (
            models.SendDtmfCompletionReason.MEDIA_OPERATION_CANCELED,
            "mediaOperationCanceled",
        ),
        (OperationStatus.NOT_STARTED, "notStarted"),
        (models.CallTranscriptionState.NOT_STARTED, "notStarted"),
        (models.ChangeType.DELETED, "deleted"),
        (models.RoutingType.SELF_FORK, "selfFork"),
    ],
)
def test_enum_wire_values(member: enum.StrEnum, value: str) -> None:
    assert member.value == value


def test_tone_enum_has_every_dtmf_tone() -> None:
    expected = {f"tone{digit}" for digit in range(10)}
    expected |= {"star", "pound", "a", "b", "c", "d", "flash"}

    assert {tone.value for tone in models.Tone} == expected


@pytest.mark.parametrize(
    "build",
    [
        lambda: MediaInfo(),
        lambda: MediaPrompt(),
        lambda: TokenMeetingInfo(),
        lambda: OrganizerMeetingInfo(),
        lambda: JoinMeetingIdMeetingInfo(),
        lambda: ParticipantInfo(),
        lambda: InvitationParticipantInfo(),
        lambda: AudioRoutingGroup(),
        lambda: TeleconferenceDeviceQuality(call_chain_id="c"),
    ],
    ids=[
        "MediaInfo",
        "MediaPrompt",
        "TokenMeetingInfo",
        "OrganizerMeetingInfo",
        "JoinMeetingIdMeetingInfo",
        "ParticipantInfo",
        "InvitationParticipantInfo",
        "AudioRoutingGroup",
        "TeleconferenceDeviceQuality",
    ],
)
def test_required_fields_are_required(build: object) -> None:
    with pytest.raises(TypeError, match="missing"):
        build()  # type: ignore[operator]


def test_optional_fields_default_to_none() -> None:
    call = CallProperties()

    for field in attrs.fields(CallProperties):
        if field.name != "additional_data":
            assert getattr(call, field.name) is None
    assert call.additional_data == {}


def test_models_reject_positional_arguments() -> None:
    with pytest.raises(TypeError):
        MediaInfo("https://example.com/a.wav")  # type: ignore[misc]


def test_models_are_frozen() -> None:
    info = MediaInfo(uri="https://example.com/a.wav")

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        info.uri = "https://example.com/b.wav"  # type: ignore[misc]


def test_models_hash_and_compare_with_additional_data() -> None:
    first = Identity(id="u1", additional_data={"email": "a@example.com"})
    second = Identity(id="u1", additional_data={"email": "a@example.com"})
    other = Identity(id="u1", additional_data={"email": "b@example.com"})

    assert first == second
    assert hash(first) == hash(second)
    assert first != other
    assert len({first, second}) == 1


def test_repr_hides_additional_data() -> None:
    identity = Identity(id="u1", additional_data={"unknownSecret": "hidden-value"})

    assert "hidden-value" not in repr(identity)
    assert "u1" in repr(identity)


@pytest.mark.parametrize(
    "model",
    [
        TokenMeetingInfo(token="s3cret-token"),
        JoinMeetingIdMeetingInfo(join_meeting_id="123", passcode="s3cret-token"),
        RecordOperation(
            id="op",
            recording_location="https://r",
            recording_access_token="s3cret-token",
        ),
        CallProperties(meeting_info=TokenMeetingInfo(token="s3cret-token")),
    ],
    ids=["token", "passcode", "recording token", "nested token"],
)
def test_repr_hides_secrets(model: GraphModel) -> None:
    text = repr(model)

    assert "s3cret-token" not in text
    assert type(model).__name__ in text


def test_repr_prints_nested_models() -> None:
    prompt = MediaPrompt(media_info=MediaInfo(uri="https://a.example/hi.wav"))

    assert repr(prompt) == (
        "MediaPrompt(media_info=MediaInfo(uri='https://a.example/hi.wav', "
        "resource_id=None))"
    )


def test_repr_leaves_out_repr_false_field() -> None:
    info = JoinMeetingIdMeetingInfo(join_meeting_id="123", passcode="s3cret")
    call = CallProperties(id="c1", meeting_info=info)

    assert repr(info) == "JoinMeetingIdMeetingInfo(join_meeting_id='123')"
    assert "meeting_info=JoinMeetingIdMeetingInfo(join_meeting_id='123')" in repr(call)
    assert "s3cret" not in repr(call)


def test_repr_uses_field_repr_callable() -> None:
    @attrs.define(
        frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
    )
    class Masked(GraphModel):
        odata_type: ClassVar[str] = "#microsoft.graph.masked"

        name: str
        secret: str = attrs.field(repr=lambda value: "*" * len(value))

    assert repr(Masked(name="n", secret="abc")) == "Masked(name='n', secret=***)"


def test_repr_of_self_containing_model() -> None:
    data: dict[str, object] = {}
    notification = CommsNotification(resource_data=data)
    data["self"] = notification

    assert "resource_data={'self': ...}" in repr(notification)


@pytest.mark.parametrize(
    "model",
    [
        Identity(id="u1"),
        Identity(id="u1", additional_data={"email": "a@example.com"}),
        RecordOperation(id="op", recording_access_token="s3cret-token"),
        CallProperties(
            id="c1",
            state=CallState.ESTABLISHED,
            meeting_info=TokenMeetingInfo(token="s3cret-token"),
            targets=(
                InvitationParticipantInfo(identity=IdentitySet(user=Identity(id="u"))),
            ),
        ),
    ],
    ids=["plain", "additional data", "repr=False field", "nested"],
)
def test_model_pickle_and_copy_round_trip(model: GraphModel) -> None:
    unpickled = pickle.loads(pickle.dumps(model))
    deep_copy = copy.deepcopy(model)
    shallow_copy = copy.copy(model)

    assert unpickled == model
    assert type(unpickled) is type(model)
    assert unpickled.additional_data == model.additional_data
    assert deep_copy == model
    assert shallow_copy == model


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_field_less_model_pickles_at_every_protocol(protocol: int) -> None:
    for model in (GraphModel(), MediaConfig(), Prompt(), MeetingInfo()):
        copy_ = pickle.loads(pickle.dumps(model, protocol=protocol))
        assert copy_ == model
        assert copy_.additional_data == {}


def test_unpickled_model_stays_frozen() -> None:
    info = MediaInfo(uri="https://a.example/a.wav")
    unpickled: MediaInfo = pickle.loads(pickle.dumps(info))

    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        unpickled.uri = "https://a.example/b.wav"  # type: ignore[misc]


def test_media_prompt_from_uri() -> None:
    prompt = MediaPrompt.from_uri("https://cdn.example.com/hi.wav", resource_id="r1")
    bare = MediaPrompt.from_uri("https://cdn.example.com/hi.wav")

    assert prompt == MediaPrompt(
        media_info=MediaInfo(uri="https://cdn.example.com/hi.wav", resource_id="r1")
    )
    assert bare.media_info.resource_id is None


@pytest.mark.parametrize(
    ("status", "is_terminal", "succeeded", "is_running"),
    [
        (OperationStatus.COMPLETED, True, True, False),
        ("completed", True, True, False),
        ("Completed", True, True, False),
        (OperationStatus.FAILED, True, False, False),
        ("FAILED", True, False, False),
        (OperationStatus.RUNNING, False, False, True),
        ("Running", False, False, True),
        ("running", False, False, True),
        ("NotStarted", False, False, False),
        ("somethingNew", False, False, False),
        (None, False, False, False),
    ],
)
def test_operation_status_helpers(
    status: str | None, is_terminal: bool, succeeded: bool, is_running: bool
) -> None:
    operation = CommsOperation(status=status)

    assert operation.is_terminal is is_terminal
    assert operation.succeeded is succeeded
    assert operation.is_running is is_running


@pytest.mark.parametrize("type_name", OPERATION_TYPES)
def test_every_operation_subtype_exists(type_name: str) -> None:
    cls = getattr(models, type_name[0].upper() + type_name[1:])

    assert issubclass(cls, CommsOperation)
    assert cls.odata_type == f"#microsoft.graph.{type_name}"


def test_identity_set_carries_communications_identity_fields() -> None:
    names = {field.name for field in attrs.fields(IdentitySet)}

    assert names >= {
        "application",
        "device",
        "user",
        "application_instance",
        "phone",
        "guest",
        "encrypted",
        "asserted_identity",
        "azure_communication_services_user",
        "on_premises",
        "endpoint_type",
    }

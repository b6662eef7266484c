"""The input checks of the request builders, as a table of bad inputs.

Each row calls one builder with one bad argument and lists the fragments the error
message must contain: the argument's name, the offending value or count, and the
limit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from calls_async import _protocol as protocol
from calls_async._validation import (
    MAX_CLIENT_CONTEXT_LENGTH,
    MAX_PLAY_PROMPTS,
    MAX_REDIRECT_TARGETS,
    coerce_enum,
    coerce_stop_tone,
    coerce_tone,
    show,
)
from calls_async.models import (
    AppHostedMediaConfig,
    AudioRoutingGroup,
    CallState,
    ChatInfo,
    Identity,
    IdentitySet,
    IncomingCallOptions,
    InvitationParticipantInfo,
    JoinMeetingIdMeetingInfo,
    MediaConfig,
    MediaInfo,
    MediaPrompt,
    MeetingInfo,
    OrganizerMeetingInfo,
    OutgoingCallOptions,
    ParticipantInfo,
    Prompt,
    RejectReason,
    ServiceHostedMediaConfig,
    Tone,
)

CALL_ID = "call-1"
CALLBACK = "https://bot.example.com/api/calls"
TENANT = "tenant-1"
PROMPT = MediaPrompt.from_uri("https://media.example.com/a.wav")
TARGET = InvitationParticipantInfo(identity=IdentitySet(user=Identity(id="u1")))
PHONE_TARGET = InvitationParticipantInfo(identity=IdentitySet(phone=Identity(id="+1")))
SERVICE_MEDIA = ServiceHostedMediaConfig()
ORGANIZER = OrganizerMeetingInfo(organizer=IdentitySet(user=Identity(id="o1")))


def create(**overrides: Any) -> protocol.Request:
    arguments: dict[str, Any] = {
        "callback_uri": CALLBACK,
        "media_config": SERVICE_MEDIA,
        "targets": [TARGET],
    }
    arguments.update(overrides)
    return protocol.create_call(**arguments)


def answer(**overrides: Any) -> protocol.Request:
    arguments: dict[str, Any] = {
        "callback_uri": CALLBACK,
        "media_config": SERVICE_MEDIA,
    }
    arguments.update(overrides)
    return protocol.answer(CALL_ID, **arguments)


def record(**overrides: Any) -> protocol.Request:
    return protocol.record_response(CALL_ID, client_context=None, **overrides)


# (test id, call, exception type, fragments the message must contain)
BAD_INPUTS: list[tuple[str, Callable[[], Any], type[Exception], tuple[str, ...]]] = [
    # Ids.
    ("empty call id", lambda: protocol.get_call(""), ValueError, ("call_id", "empty")),
    ("blank call id", lambda: protocol.keep_alive("  "), ValueError, ("call_id",)),
    ("call id not str", lambda: protocol.get_call(42), TypeError, ("call_id", "int")),
    (
        "empty participant id",
        lambda: protocol.get_participant(CALL_ID, ""),
        ValueError,
        ("participant_id", "empty"),
    ),
    (
        "empty operation id",
        lambda: protocol.get_operation(CALL_ID, ""),
        ValueError,
        ("operation_id",),
    ),
    (
        "empty group id",
        lambda: protocol.delete_audio_routing_group(CALL_ID, ""),
        ValueError,
        ("group_id",),
    ),
    (
        "empty session id",
        lambda: protocol.get_content_sharing_session(CALL_ID, ""),
        ValueError,
        ("session_id",),
    ),
    # clientContext.
    (
        "client context too long",
        lambda: protocol.mute(CALL_ID, client_context="x" * 300),
        ValueError,
        ("client_context", "300 characters", "at most 256", "shorten"),
    ),
    (
        "client context empty",
        lambda: protocol.unmute(CALL_ID, client_context=""),
        ValueError,
        ("client_context", "empty", "None"),
    ),
    (
        "client context not str",
        lambda: protocol.subscribe_to_tone(CALL_ID, client_context=12),
        TypeError,
        ("client_context", "int"),
    ),
    # Prompts.
    (
        "play prompt without prompts",
        lambda: protocol.play_prompt(CALL_ID, prompts=[], client_context=None),
        ValueError,
        ("prompts", "0 entries", "at least 1"),
    ),
    (
        "play prompt with 21 prompts",
        lambda: protocol.play_prompt(
            CALL_ID, prompts=[PROMPT] * 21, client_context=None
        ),
        ValueError,
        ("prompts", "21 entries", "at most 20", "several requests"),
    ),
    (
        "play prompt with a string",
        lambda: protocol.play_prompt(CALL_ID, prompts="a.wav", client_context=None),
        TypeError,
        ("prompts", "list of Prompt", "str"),
    ),
    (
        "play prompt with a uri in the list",
        lambda: protocol.play_prompt(CALL_ID, prompts=["a.wav"], client_context=None),
        TypeError,
        ("prompts[0]", "Prompt", "str"),
    ),
    (
        "play prompt with abstract prompt",
        lambda: protocol.play_prompt(CALL_ID, prompts=[Prompt()], client_context=None),
        TypeError,
        ("prompts[0]", "abstract Prompt", "MediaPrompt"),
    ),
    (
        "prompt with http uri",
        lambda: protocol.play_prompt(
            CALL_ID,
            prompts=[MediaPrompt.from_uri("http://media.example.com/a.wav")],
            client_context=None,
        ),
        ValueError,
        ("prompts[0].media_info.uri", "http://media.example.com/a.wav", "https"),
    ),
    (
        "prompt with empty uri",
        lambda: protocol.play_prompt(
            CALL_ID, prompts=[MediaPrompt.from_uri("")], client_context=None
        ),
        ValueError,
        ("prompts[0].media_info.uri", "empty"),
    ),
    (
        "prompt with relative uri",
        lambda: protocol.play_prompt(
            CALL_ID, prompts=[MediaPrompt.from_uri("/a.wav")], client_context=None
        ),
        ValueError,
        ("prompts[0].media_info.uri", "'/a.wav'", "absolute URL"),
    ),
    (
        "record with two prompts",
        lambda: record(prompts=[PROMPT, PROMPT]),
        ValueError,
        ("prompts", "2 entries", "at most 1", "play_prompt"),
    ),
    (
        "hold music prompt with ftp uri",
        lambda: protocol.start_hold_music(
            CALL_ID,
            "p1",
            custom_prompt=MediaPrompt.from_uri("ftp://media.example.com/hold.wav"),
            client_context=None,
        ),
        ValueError,
        ("custom_prompt.media_info.uri", "ftp://media.example.com/hold.wav", "https"),
    ),
    # Record timers.
    (
        "initial silence timeout zero",
        lambda: record(initial_silence_timeout=0),
        ValueError,
        ("initial_silence_timeout", "is 0 seconds", "1 to 120"),
    ),
    (
        "max silence timeout 121",
        lambda: record(max_silence_timeout=121),
        ValueError,
        ("max_silence_timeout", "121", "1 to 120"),
    ),
    (
        "max record duration 300",
        lambda: record(max_record_duration=300),
        ValueError,
        ("max_record_duration", "300", "1 to 120"),
    ),
    (
        "timer as float",
        lambda: record(max_record_duration=5.5),
        TypeError,
        ("max_record_duration", "integer", "float"),
    ),
    (
        "timer as bool",
        lambda: record(max_record_duration=True),
        TypeError,
        ("max_record_duration", "bool"),
    ),
    (
        "barge in as string",
        lambda: record(barge_in_allowed="yes"),
        TypeError,
        ("barge_in_allowed", "str"),
    ),
    (
        "stop tone not a key",
        lambda: record(stop_tones=["x"]),
        ValueError,
        ("stop_tones[0]", "'x'", "0-9"),
    ),
    (
        "stop tone flash",
        lambda: record(stop_tones=[Tone.FLASH]),
        ValueError,
        ("stop_tones[0]", "flash", "no DTMF key"),
    ),
    # Redirect.
    (
        "redirect without targets",
        lambda: protocol.redirect(CALL_ID, targets=[]),
        ValueError,
        ("targets", "0 entries", "at least 1"),
    ),
    (
        "redirect with 26 targets",
        lambda: protocol.redirect(CALL_ID, targets=[TARGET] * 26),
        ValueError,
        ("targets", "26 entries", "at most 25"),
    ),
    (
        "redirect timeout 14",
        lambda: protocol.redirect(CALL_ID, targets=[TARGET], timeout=14),
        ValueError,
        ("timeout", "14 seconds", "15 to 90"),
    ),
    (
        "redirect timeout 91",
        lambda: protocol.redirect(CALL_ID, targets=[TARGET], timeout=91),
        ValueError,
        ("timeout", "91", "15 to 90"),
    ),
    (
        "redirect callback over http",
        lambda: protocol.redirect(
            CALL_ID, targets=[TARGET], callback_uri="http://bot.example.com/cb"
        ),
        ValueError,
        ("callback_uri", "http://bot.example.com/cb", "https"),
    ),
    (
        "redirect target without identity",
        lambda: protocol.redirect(
            CALL_ID, targets=[InvitationParticipantInfo(identity=IdentitySet())]
        ),
        ValueError,
        ("targets[0].identity", "empty IdentitySet"),
    ),
    # Callback URIs.
    (
        "create callback empty",
        lambda: create(callback_uri=""),
        ValueError,
        ("callback_uri", "empty", "https"),
    ),
    (
        "create callback over http",
        lambda: create(callback_uri="http://bot.example.com/api/calls"),
        ValueError,
        ("callback_uri", "http://bot.example.com/api/calls", "127.0.0.1"),
    ),
    (
        "callback query is hidden",
        lambda: create(callback_uri="http://bot.example.com/cb?token=secret"),
        ValueError,
        ("callback_uri", "http://bot.example.com/cb?...", "https"),
    ),
    (
        "create callback not str",
        lambda: create(callback_uri=None),
        TypeError,
        ("callback_uri", "NoneType"),
    ),
    (
        "answer callback over http",
        lambda: answer(callback_uri="http://10.0.0.1/cb"),
        ValueError,
        ("callback_uri", "http://10.0.0.1/cb", "https"),
    ),
    (
        "reject callback without host",
        lambda: protocol.reject(CALL_ID, callback_uri="https://"),
        ValueError,
        ("callback_uri", "'https://'", "host"),
    ),
    # Media config.
    (
        "create without media config",
        lambda: create(media_config=None),
        TypeError,
        ("media_config", "ServiceHostedMediaConfig", "NoneType"),
    ),
    (
        "create with abstract media config",
        lambda: create(media_config=MediaConfig()),
        TypeError,
        ("media_config", "abstract MediaConfig"),
    ),
    (
        "answer with dict media config",
        lambda: answer(media_config={"blob": "x"}),
        TypeError,
        ("media_config", "dict"),
    ),
    (
        "app hosted media without blob",
        lambda: create(media_config=AppHostedMediaConfig()),
        ValueError,
        ("media_config.blob", "None", "real-time media SDK"),
    ),
    (
        "app hosted media with empty blob",
        lambda: answer(media_config=AppHostedMediaConfig(blob="")),
        ValueError,
        ("media_config.blob", "''"),
    ),
    (
        "prefetch media over http",
        lambda: create(
            media_config=ServiceHostedMediaConfig(
                pre_fetch_media=(MediaInfo(uri="http://cdn.example.com/a.wav"),)
            )
        ),
        ValueError,
        ("media_config.pre_fetch_media[0].uri", "http://cdn.example.com/a.wav"),
    ),
    # Create scenarios.
    (
        "create with 6 targets",
        lambda: create(targets=[TARGET] * 6),
        ValueError,
        ("targets", "6 entries", "at most 5", "invite_participants"),
    ),
    (
        "create with no targets",
        lambda: create(targets=[]),
        ValueError,
        ("targets", "0 entries", "at least 1"),
    ),
    (
        "create with neither targets nor meeting",
        lambda: create(targets=None),
        ValueError,
        ("targets", "meeting_info"),
    ),
    (
        "create with targets and meeting",
        lambda: create(meeting_info=ORGANIZER, chat_info=ChatInfo(thread_id="t")),
        ValueError,
        ("targets", "chat_info", "meeting_info"),
    ),
    (
        "meeting join without tenant",
        lambda: create(
            targets=None, meeting_info=ORGANIZER, chat_info=ChatInfo(thread_id="t")
        ),
        ValueError,
        ("tenant_id", "meeting"),
    ),
    (
        "organizer meeting without chat info",
        lambda: create(targets=None, meeting_info=ORGANIZER, tenant_id=TENANT),
        ValueError,
        ("OrganizerMeetingInfo", "chat_info"),
    ),
    (
        "chat info without meeting info",
        lambda: create(
            targets=None, chat_info=ChatInfo(thread_id="t"), tenant_id=TENANT
        ),
        ValueError,
        ("chat_info", "meeting_info"),
    ),
    (
        "abstract meeting info",
        lambda: create(targets=None, meeting_info=MeetingInfo(), tenant_id=TENANT),
        TypeError,
        ("meeting_info", "abstract MeetingInfo"),
    ),
    (
        "pstn without tenant",
        lambda: create(
            targets=[PHONE_TARGET],
            source=ParticipantInfo(
                identity=IdentitySet(application_instance=Identity(id="ai"))
            ),
        ),
        ValueError,
        ("tenant_id", "PSTN"),
    ),
    (
        "pstn without source",
        lambda: create(targets=[PHONE_TARGET], tenant_id=TENANT),
        ValueError,
        ("source", "application_instance", "PSTN"),
    ),
    (
        "pstn with application source",
        lambda: create(
            targets=[PHONE_TARGET],
            tenant_id=TENANT,
            source=ParticipantInfo(identity=IdentitySet(application=Identity(id="a"))),
        ),
        ValueError,
        ("source", "application_instance"),
    ),
    (
        "empty tenant id",
        lambda: create(tenant_id=""),
        ValueError,
        ("tenant_id", "empty"),
    ),
    (
        "incoming options on create",
        lambda: create(call_options=IncomingCallOptions()),
        TypeError,
        ("call_options", "OutgoingCallOptions", "IncomingCallOptions"),
    ),
    (
        "outgoing options on answer",
        lambda: answer(call_options=OutgoingCallOptions()),
        TypeError,
        ("call_options", "IncomingCallOptions", "OutgoingCallOptions"),
    ),
    (
        "modality unknown",
        lambda: create(requested_modalities=["hologram"]),
        ValueError,
        ("requested_modalities[0]", "'hologram'", "audio", "video"),
    ),
    (
        "modalities empty",
        lambda: create(requested_modalities=[]),
        ValueError,
        ("requested_modalities", "0 entries", "at least 1"),
    ),
    (
        "modalities as one string",
        lambda: answer(accepted_modalities="audio"),
        TypeError,
        ("accepted_modalities", "list of modalities"),
    ),
    (
        "direction unknown",
        lambda: create(direction="sideways"),
        ValueError,
        ("direction", "'sideways'", "incoming", "outgoing"),
    ),
    (
        "participant capacity zero",
        lambda: answer(participant_capacity=0),
        ValueError,
        ("participant_capacity", "0", "1 or more"),
    ),
    # Enum arguments.
    (
        "reject reason unknown",
        lambda: protocol.reject(CALL_ID, reason="vacation"),
        ValueError,
        ("reason", "'vacation'", "none, busy, forbidden"),
    ),
    (
        "reject reason unknown future value",
        lambda: protocol.reject(CALL_ID, reason="unknownFutureValue"),
        ValueError,
        ("reason", "unknownFutureValue", "none, busy, forbidden"),
    ),
    (
        "reject reason of another enum",
        lambda: protocol.reject(CALL_ID, reason=CallState.INCOMING),
        ValueError,
        ("reason", "incoming", "none, busy, forbidden"),
    ),
    (
        "reject reason as int",
        lambda: protocol.reject(CALL_ID, reason=1),
        TypeError,
        ("reason", "RejectReason", "int"),
    ),
    (
        "recording status unknown",
        lambda: protocol.update_recording_status(
            CALL_ID, status="unknown", client_context=None
        ),
        ValueError,
        ("status", "'unknown'", "notRecording, recording, failed"),
    ),
    (
        "screen sharing role unknown",
        lambda: protocol.change_screen_sharing_role(CALL_ID, role="presenter"),
        ValueError,
        ("role", "'presenter'", "viewer, sharer"),
    ),
    # DTMF tones.
    (
        "tones empty",
        lambda: protocol.send_dtmf_tones(CALL_ID, tones=[], client_context=None),
        ValueError,
        ("tones", "0 entries", "at least 1"),
    ),
    (
        "tones as one string",
        lambda: protocol.send_dtmf_tones(CALL_ID, tones="123", client_context=None),
        TypeError,
        ("tones", "not a string"),
    ),
    (
        "tone unknown",
        lambda: protocol.send_dtmf_tones(
            CALL_ID, tones=["1", "x"], client_context=None
        ),
        ValueError,
        ("tones[1]", "'x'", "tone1", "0-9"),
    ),
    (
        "tone as int",
        lambda: protocol.send_dtmf_tones(CALL_ID, tones=[1], client_context=None),
        TypeError,
        ("tones[0]", "int"),
    ),
    (
        "negative tone delay",
        lambda: protocol.send_dtmf_tones(
            CALL_ID, tones=["1"], delay_between_tones_ms=-1, client_context=None
        ),
        ValueError,
        ("delay_between_tones_ms", "-1", "0 or more"),
    ),
    # Invitations and transfers.
    (
        "invite nobody",
        lambda: protocol.invite_participants(
            CALL_ID, participants=[], client_context=None
        ),
        ValueError,
        ("participants", "0 entries", "at least 1"),
    ),
    (
        "invite six",
        lambda: protocol.invite_participants(
            CALL_ID, participants=[TARGET] * 6, client_context=None
        ),
        ValueError,
        ("participants", "6 entries", "at most 5", "several requests"),
    ),
    (
        "invite with empty replaces call id",
        lambda: protocol.invite_participants(
            CALL_ID,
            participants=[
                InvitationParticipantInfo(
                    identity=IdentitySet(user=Identity(id="u")), replaces_call_id=""
                )
            ],
            client_context=None,
        ),
        ValueError,
        ("participants[0].replaces_call_id", "empty"),
    ),
    (
        "invite a participant info",
        lambda: protocol.invite_participants(
            CALL_ID,
            participants=[ParticipantInfo(identity=IdentitySet(user=Identity(id="u")))],
            client_context=None,
        ),
        TypeError,
        ("participants[0]", "InvitationParticipantInfo", "ParticipantInfo"),
    ),
    (
        "transfer target missing",
        lambda: protocol.transfer(CALL_ID, transfer_target=None),
        TypeError,
        ("transfer_target", "InvitationParticipantInfo", "NoneType"),
    ),
    (
        "transferee of wrong type",
        lambda: protocol.transfer(CALL_ID, transfer_target=TARGET, transferee=TARGET),
        TypeError,
        ("transferee", "ParticipantInfo", "InvitationParticipantInfo"),
    ),
    # Audio routing groups.
    (
        "one to one with two receivers",
        lambda: protocol.create_audio_routing_group(
            CALL_ID,
            AudioRoutingGroup(
                routing_mode="oneToOne", sources=("p1",), receivers=("p2", "p3")
            ),
        ),
        ValueError,
        ("group.receivers", "2 participant ids", "exactly 1", "multicast"),
    ),
    (
        "group without sources",
        lambda: protocol.create_audio_routing_group(
            CALL_ID,
            AudioRoutingGroup(routing_mode="multicast", receivers=("p2",)),
        ),
        TypeError,
        ("group.sources", "NoneType"),
    ),
    (
        "group with empty receivers",
        lambda: protocol.create_audio_routing_group(
            CALL_ID,
            AudioRoutingGroup(routing_mode="multicast", sources=("p1",), receivers=()),
        ),
        ValueError,
        ("group.receivers", "0 entries", "at least 1"),
    ),
    (
        "group with unknown mode",
        lambda: protocol.create_audio_routing_group(
            CALL_ID,
            AudioRoutingGroup(routing_mode="broadcast", sources=("p1",), receivers=()),
        ),
        ValueError,
        ("group.routing_mode", "'broadcast'", "oneToOne, multicast"),
    ),
    (
        "update one to one with two sources",
        lambda: protocol.update_audio_routing_group(
            CALL_ID, "g1", routing_mode="oneToOne", sources=["p1", "p2"]
        ),
        ValueError,
        ("sources", "2 participant ids", "exactly 1"),
    ),
    (
        "update with nothing",
        lambda: protocol.update_audio_routing_group(CALL_ID, "g1"),
        ValueError,
        ("routing_mode", "sources", "receivers"),
    ),
    (
        "update with empty receiver id",
        lambda: protocol.update_audio_routing_group(CALL_ID, "g1", receivers=[""]),
        ValueError,
        ("receivers[0]", "empty"),
    ),
]


@pytest.mark.parametrize(
    ("call", "error_type", "fragments"),
    [pytest.param(*row[1:], id=row[0]) for row in BAD_INPUTS],
)
def test_bad_input_is_rejected(
    call: Callable[[], Any], error_type: type[Exception], fragments: tuple[str, ...]
) -> None:
    with pytest.raises(error_type) as caught:
        call()

    message = str(caught.value)
    for fragment in fragments:
        assert fragment in message


def test_limits_match_documented_values() -> None:
    assert MAX_CLIENT_CONTEXT_LENGTH == 256
    assert MAX_PLAY_PROMPTS == 20
    assert MAX_REDIRECT_TARGETS == 25


def test_client_context_at_limit_is_accepted() -> None:
    request = protocol.mute(CALL_ID, client_context="x" * 256)

    assert request.body == {"clientContext": "x" * 256}


@pytest.mark.parametrize(
    "uri",
    [
        "http://127.0.0.1:8443/cb",
        "http://localhost/cb",
        "http://[::1]:9000/cb",
        "HTTPS://bot.example.com/cb",
    ],
)
def test_loopback_http_and_upper_case_https_are_accepted(uri: str) -> None:
    request = protocol.reject(CALL_ID, callback_uri=uri)

    assert request.body == {"callbackUri": uri}


def test_record_timers_at_bounds_are_accepted() -> None:
    request = record(initial_silence_timeout=1, max_record_duration=120)

    assert request.body == {
        "initialSilenceTimeoutInSeconds": 1,
        "maxRecordDurationInSeconds": 120,
    }


def test_redirect_timeout_bounds_are_accepted() -> None:
    low = protocol.redirect(CALL_ID, targets=[TARGET], timeout=15)
    high = protocol.redirect(CALL_ID, targets=[TARGET] * 25, timeout=90)

    assert low.body is not None
    assert low.body["timeout"] == 15
    assert high.body is not None
    assert high.body["timeout"] == 90
    assert len(high.body["targets"]) == 25


def test_meeting_join_by_id_needs_no_chat_info() -> None:
    request = create(
        targets=None,
        meeting_info=JoinMeetingIdMeetingInfo(join_meeting_id="123"),
        tenant_id=TENANT,
    )

    assert request.body is not None
    assert "chatInfo" not in request.body


def test_coerce_enum_ignores_case() -> None:
    assert coerce_enum(RejectReason, "BUSY", "reason") is RejectReason.BUSY
    assert coerce_enum(RejectReason, RejectReason.NONE, "reason") is RejectReason.NONE


@pytest.mark.parametrize(
    ("value", "tone"),
    [
        ("0", Tone.TONE0),
        ("9", Tone.TONE9),
        ("*", Tone.STAR),
        ("#", Tone.POUND),
        ("A", Tone.A),
        ("d", Tone.D),
        ("Pound", Tone.POUND),
        ("flash", Tone.FLASH),
        (Tone.TONE5, Tone.TONE5),
    ],
)
def test_coerce_tone_accepts_keys_and_names(value: str, tone: Tone) -> None:
    assert coerce_tone(value, "tone") is tone


@pytest.mark.parametrize(
    ("value", "key"),
    [("#", "#"), ("star", "*"), (Tone.TONE3, "3"), ("b", "B"), ("C", "C")],
)
def test_coerce_stop_tone_gives_dtmf_keys(value: str, key: str) -> None:
    assert coerce_stop_tone(value, "stop_tones[0]") == key


def test_show_shortens_long_values() -> None:
    text = show("y" * 200)

    assert len(text) == 60
    assert text.endswith("...")

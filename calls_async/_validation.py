"""Checks on the caller's input, run before a request is built.

Each check raises ``TypeError`` for a value of the wrong type and ``ValueError`` for a
value the service would reject. The message names the argument, shows the value
(shortened, and without the query string of a URL, which may carry a token), states
the limit and gives the fix. The limits are the documented ones of Graph v1.0.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import urlsplit

from calls_async.models import (
    AppHostedMediaConfig,
    IdentitySet,
    InvitationParticipantInfo,
    MediaConfig,
    MediaInfo,
    MediaPrompt,
    Prompt,
    ServiceHostedMediaConfig,
    Tone,
)

__all__ = [
    "DTMF_KEYS",
    "LOOPBACK_HOSTS",
    "MAX_CALL_TARGETS",
    "MAX_CLIENT_CONTEXT_LENGTH",
    "MAX_INVITE_PARTICIPANTS",
    "MAX_PLAY_PROMPTS",
    "MAX_RECORD_PROMPTS",
    "MAX_RECORD_TIMER_SECONDS",
    "MAX_REDIRECT_TARGETS",
    "MAX_REDIRECT_TIMEOUT_SECONDS",
    "MIN_RECORD_TIMER_SECONDS",
    "MIN_REDIRECT_TIMEOUT_SECONDS",
]

MAX_CLIENT_CONTEXT_LENGTH = 256
MAX_PLAY_PROMPTS = 20
MAX_RECORD_PROMPTS = 1
# Older localized copies of the recordResponse page give 300 s; the current one 120 s.
MIN_RECORD_TIMER_SECONDS = 1
MAX_RECORD_TIMER_SECONDS = 120
MAX_REDIRECT_TARGETS = 25
MIN_REDIRECT_TIMEOUT_SECONDS = 15
MAX_REDIRECT_TIMEOUT_SECONDS = 90
# Up to 5 users per ad-hoc group call and per invite request.
MAX_CALL_TARGETS = 5
MAX_INVITE_PARTICIPANTS = 5
# Hosts for which plain http is accepted, so a local emulator can serve media and
# receive notifications.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
# The keys a recordResponse stopTones entry may name.
DTMF_KEYS = frozenset("0123456789*#ABCD")

EnumT = TypeVar("EnumT", bound=Enum)
T = TypeVar("T")

_MAX_SHOWN_LENGTH = 60

# DTMF keys accepted in place of tone names: "1" means Tone.TONE1, "#" Tone.POUND.
_TONE_BY_KEY: dict[str, Tone] = {
    **{str(digit): Tone(f"tone{digit}") for digit in range(10)},
    "*": Tone.STAR,
    "#": Tone.POUND,
    "a": Tone.A,
    "b": Tone.B,
    "c": Tone.C,
    "d": Tone.D,
}
_KEY_BY_TONE: dict[Tone, str] = {
    tone: key.upper() for key, tone in _TONE_BY_KEY.items()
}


def show(value: Any) -> str:
    """Return the repr of ``value``, shortened for an error message."""
    text = repr(value)
    if len(text) > _MAX_SHOWN_LENGTH:
        text = text[: _MAX_SHOWN_LENGTH - 3] + "..."
    return text


def _show_uri(uri: str) -> str:
    base, separator, _query = uri.partition("?")
    return show(base + ("?..." if separator else ""))


def _type_name(value: Any) -> str:
    return type(value).__name__


def require_str(value: Any, name: str) -> str:
    """Check that ``value`` is a non-empty string."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string, got {_type_name(value)}")
    if not value.strip():
        raise ValueError(f"{name} is empty. Pass a non-empty string.")
    return value


def require_id(value: Any, name: str) -> str:
    """Check that ``value`` is a usable resource id."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a string id, got {_type_name(value)}")
    if not value.strip():
        raise ValueError(f"{name} is empty. Pass the id that the service returned.")
    return value


def optional_str(value: Any, name: str) -> str | None:
    """Check that ``value`` is None or a non-empty string."""
    if value is None:
        return None
    return require_str(value, name)


def check_client_context(value: Any) -> str | None:
    """Check a clientContext, which the service echoes in the operation."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(
            f"client_context must be a string or None, got {_type_name(value)}"
        )
    if not value:
        raise ValueError(
            "client_context is an empty string. Pass None to leave it out, "
            "or a non-empty string."
        )
    if len(value) > MAX_CLIENT_CONTEXT_LENGTH:
        raise ValueError(
            f"client_context is {len(value)} characters long, but the service accepts "
            f"at most {MAX_CLIENT_CONTEXT_LENGTH}, so shorten it"
        )
    return value


def check_https_uri(value: Any, name: str) -> str:
    """Check that ``value`` is an absolute https URL, or http on a loopback host."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a URL string, got {_type_name(value)}")
    if not value:
        raise ValueError(f"{name} is empty. Pass an https URL.")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError:
        host = None
        parts = None
    if parts is None or not host:
        raise ValueError(
            f"{name} {_show_uri(value)} is not an absolute URL with a host. "
            "Pass a URL such as 'https://bot.example.com/api/calls'."
        )
    scheme = parts.scheme.lower()
    if scheme == "https" or (scheme == "http" and host in LOOPBACK_HOSTS):
        return value
    raise ValueError(
        f"{name} {_show_uri(value)} is not an https URL, but the service accepts only "
        "https. Use https (plain http is accepted only for 127.0.0.1, localhost "
        "and ::1)."
    )


def optional_https_uri(value: Any, name: str) -> str | None:
    """Check that ``value`` is None or passes :func:`check_https_uri`."""
    if value is None:
        return None
    return check_https_uri(value, name)


@functools.cache
def _members_by_folded_value(enum_type: type[Enum]) -> dict[str, Enum]:
    return {str(member.value).lower(): member for member in enum_type}


@functools.cache
def _sendable_members(enum_type: type[Enum]) -> tuple[Enum, ...]:
    return tuple(
        member for member in enum_type if member.name != "UNKNOWN_FUTURE_VALUE"
    )


def coerce_enum(
    enum_type: type[EnumT],
    value: Any,
    name: str,
    allowed: tuple[EnumT, ...] | None = None,
) -> EnumT:
    """Return the member of ``enum_type`` that ``value`` names, ignoring case.

    ``allowed`` limits the members accepted. By default every member is accepted
    except ``UNKNOWN_FUTURE_VALUE``, which the service uses for values newer than a
    client and which is no value to send.
    """
    choices: tuple[Enum, ...] = (
        _sendable_members(enum_type) if allowed is None else allowed
    )
    member: Enum | None
    if isinstance(value, enum_type):
        member = value
    elif isinstance(value, str):
        member = _members_by_folded_value(enum_type).get(value.lower())
    else:
        raise TypeError(
            f"{name} must be a {enum_type.__name__} or its string value, "
            f"got {_type_name(value)}"
        )
    if member is None or member not in choices:
        values = ", ".join(str(choice.value) for choice in choices)
        raise ValueError(
            f"{name} {show(value)} is not a valid {enum_type.__name__}. "
            f"Use one of: {values}."
        )
    return member  # type: ignore[return-value]


def check_int_range(value: Any, name: str, low: int, high: int, unit: str) -> int:
    """Check that ``value`` is an integer from ``low`` to ``high`` inclusive."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(
            f"{name} must be an integer number of {unit}, got {_type_name(value)}"
        )
    if not low <= value <= high:
        raise ValueError(
            f"{name} is {value} {unit}, but the service accepts {low} to {high} "
            f"{unit}, so pick a value in that range"
        )
    return value


def check_bool(value: Any, name: str) -> bool | None:
    """Check that ``value`` is None, True or False."""
    if value is None or isinstance(value, bool):
        return value
    raise TypeError(f"{name} must be True, False or None, got {_type_name(value)}")


def check_instance(value: Any, expected: type[T], name: str) -> T:
    """Check that ``value`` is an instance of ``expected``."""
    if not isinstance(value, expected):
        raise TypeError(
            f"{name} must be a {expected.__name__}, got {_type_name(value)}"
        )
    return value


def check_sequence(
    items: Any,
    name: str,
    element_type: type[T],
    low: int,
    high: int | None,
    fix: str = "",
    element_name: str | None = None,
) -> tuple[T, ...]:
    """Check a list or tuple of ``element_type`` with ``low`` to ``high`` entries.

    ``fix`` completes the message for too many entries, as in "so ...", and
    ``element_name`` names the entries when ``element_type`` is ``object``.
    """
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        described = element_name or element_type.__name__
        raise TypeError(
            f"{name} must be a list of {described}, got {_type_name(items)}"
        )
    checked = tuple(items)
    for index, item in enumerate(checked):
        if not isinstance(item, element_type):
            raise TypeError(
                f"{name}[{index}] must be a {element_type.__name__}, "
                f"got {_type_name(item)}"
            )
    count = len(checked)
    if count < low:
        raise ValueError(
            f"{name} has {count} entries, but the service needs at least {low}"
        )
    if high is not None and count > high:
        message = f"{name} has {count} entries, but the service accepts at most {high}"
        raise ValueError(f"{message}, so {fix}" if fix else message)
    return checked


def check_media_info(value: Any, name: str) -> MediaInfo:
    """Check a mediaInfo and its URI."""
    media = check_instance(value, MediaInfo, name)
    check_https_uri(media.uri, f"{name}.uri")
    return media


def check_prompt(value: Any, name: str) -> Prompt:
    """Check a prompt to play; a MediaPrompt needs an https audio URI."""
    prompt = check_instance(value, Prompt, name)
    if isinstance(prompt, MediaPrompt):
        check_media_info(prompt.media_info, f"{name}.media_info")
    elif "@odata.type" not in prompt.additional_data:
        raise TypeError(
            f"{name} is the abstract Prompt. Use MediaPrompt, for example "
            "MediaPrompt.from_uri('https://cdn.example.com/hello.wav')."
        )
    return prompt


def check_prompts(
    prompts: Any, name: str, low: int, high: int, fix: str
) -> tuple[Prompt, ...]:
    """Check a list of prompts and each prompt in it."""
    checked = check_sequence(prompts, name, Prompt, low, high, fix)
    for index, prompt in enumerate(checked):
        check_prompt(prompt, f"{name}[{index}]")
    return checked


def check_media_config(value: Any, name: str = "media_config") -> MediaConfig:
    """Check the media configuration of a create or answer request."""
    if not isinstance(value, MediaConfig):
        raise TypeError(
            f"{name} must be a ServiceHostedMediaConfig or AppHostedMediaConfig, "
            f"got {_type_name(value)}"
        )
    if isinstance(value, AppHostedMediaConfig):
        if not isinstance(value.blob, str) or not value.blob:
            raise ValueError(
                f"{name}.blob is {show(value.blob)}, but app-hosted media needs the "
                "media session configuration that the real-time media SDK produces"
            )
    elif isinstance(value, ServiceHostedMediaConfig):
        for index, media in enumerate(value.pre_fetch_media or ()):
            check_media_info(media, f"{name}.pre_fetch_media[{index}]")
    elif "@odata.type" not in value.additional_data:
        raise TypeError(
            f"{name} is the abstract MediaConfig. Use ServiceHostedMediaConfig or "
            "AppHostedMediaConfig."
        )
    return value


def _has_identity(identity: IdentitySet) -> bool:
    return bool(
        identity.user is not None
        or identity.application is not None
        or identity.application_instance is not None
        or identity.phone is not None
        or identity.guest is not None
        or identity.device is not None
        or identity.encrypted is not None
        or identity.asserted_identity is not None
        or identity.azure_communication_services_user is not None
        or identity.on_premises is not None
        or identity.additional_data
    )


def check_identity_set(value: Any, name: str) -> IdentitySet:
    """Check that ``value`` is an IdentitySet naming at least one identity."""
    identity = check_instance(value, IdentitySet, name)
    if not _has_identity(identity):
        raise ValueError(
            f"{name} is an empty IdentitySet. Set user, phone, application or "
            "another identity."
        )
    return identity


def check_invitations(
    items: Any, name: str, low: int, high: int, fix: str
) -> tuple[InvitationParticipantInfo, ...]:
    """Check a list of invitation targets."""
    checked = check_sequence(items, name, InvitationParticipantInfo, low, high, fix)
    for index, item in enumerate(checked):
        check_invitation(item, f"{name}[{index}]")
    return checked


def check_invitation(value: Any, name: str) -> InvitationParticipantInfo:
    """Check one invitation target."""
    invitation = check_instance(value, InvitationParticipantInfo, name)
    check_identity_set(invitation.identity, f"{name}.identity")
    if invitation.replaces_call_id is not None:
        require_id(invitation.replaces_call_id, f"{name}.replaces_call_id")
    return invitation


def coerce_tone(value: Any, name: str) -> Tone:
    """Return the Tone that ``value`` names: a Tone, a tone name or a DTMF key."""
    if isinstance(value, Tone):
        return value
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a Tone or a string, got {_type_name(value)}")
    folded = value.lower()
    tone = _TONE_BY_KEY.get(folded)
    if tone is None:
        tone = _members_by_folded_value(Tone).get(folded)  # type: ignore[assignment]
    if tone is None:
        raise ValueError(
            f"{name} {show(value)} is not a DTMF tone. Use a Tone, a tone name such "
            "as 'tone1', 'star' or 'pound', or a key 0-9, *, #, A-D."
        )
    return tone


def coerce_stop_tone(value: Any, name: str) -> str:
    """Return the DTMF key that ``value`` names: a key, a Tone or a tone name."""
    tone = coerce_tone(value, name)
    key = _KEY_BY_TONE.get(tone)
    if key is None:
        raise ValueError(
            f"{name} {show(value)} has no DTMF key, so it cannot stop a recording. "
            f"Use one of the keys {', '.join(sorted(DTMF_KEYS))}."
        )
    return key

"""Media configuration, prompts, tones and media streams."""

from __future__ import annotations

from typing import ClassVar

import attrs

from calls_async.models._base import GraphModel
from calls_async.models._enums import MediaDirection, MediaState, Modality, Tone

__all__ = [
    "AppHostedMediaConfig",
    "CallMediaState",
    "MediaConfig",
    "MediaInfo",
    "MediaPrompt",
    "MediaStream",
    "Prompt",
    "ServiceHostedMediaConfig",
    "ToneInfo",
]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class MediaInfo(GraphModel):
    """An audio file the service fetches (Graph ``mediaInfo``).

    ``resource_id`` is a cache key for ``uri``. Prompts must be WAV files, mono,
    16-bit PCM at 16 kHz.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.mediaInfo"

    uri: str
    resource_id: str | None = None


class MediaConfig(GraphModel):
    """Media configuration of a call (abstract Graph ``mediaConfig``).

    Use :class:`ServiceHostedMediaConfig` or :class:`AppHostedMediaConfig`. An
    instance of this base class comes only from parsing a subtype this version does
    not model, and keeps that subtype's fields in ``additional_data``.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.mediaConfig"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class AppHostedMediaConfig(MediaConfig):
    """Media handled by the bot itself through the real-time media SDK."""

    odata_type: ClassVar[str] = "#microsoft.graph.appHostedMediaConfig"

    # The media session configuration produced by the media SDK, opaque to Graph.
    blob: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ServiceHostedMediaConfig(MediaConfig):
    """Media handled by the service; needed for prompts, recording and tones."""

    odata_type: ClassVar[str] = "#microsoft.graph.serviceHostedMediaConfig"

    # Prompts the service fetches and caches before they are played.
    pre_fetch_media: tuple[MediaInfo, ...] | None = None


class Prompt(GraphModel):
    """Something to play to a call (abstract Graph ``prompt``).

    Use :class:`MediaPrompt`. An instance of this base class comes only from parsing
    a subtype this version does not model.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.prompt"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class MediaPrompt(Prompt):
    """A prompt that plays an audio file."""

    odata_type: ClassVar[str] = "#microsoft.graph.mediaPrompt"

    media_info: MediaInfo

    @classmethod
    def from_uri(cls, uri: str, resource_id: str | None = None) -> MediaPrompt:
        """Build a prompt that plays the audio file at ``uri``."""
        return cls(media_info=MediaInfo(uri=uri, resource_id=resource_id))


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ToneInfo(GraphModel):
    """The last DTMF tone received on a call."""

    odata_type: ClassVar[str] = "#microsoft.graph.toneInfo"

    # Increases with each tone, so a repeated notification can be recognised.
    sequence_id: int | None = None
    tone: Tone | str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CallMediaState(GraphModel):
    """Media state of a call."""

    odata_type: ClassVar[str] = "#microsoft.graph.callMediaState"

    audio: MediaState | str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class MediaStream(GraphModel):
    """One media stream of a participant."""

    odata_type: ClassVar[str] = "#microsoft.graph.mediaStream"

    media_type: Modality | str | None = None
    source_id: str | None = None
    direction: MediaDirection | str | None = None
    server_muted: bool | None = None
    # Seen values include "main-audio" and "applicationsharing-video".
    label: str | None = None

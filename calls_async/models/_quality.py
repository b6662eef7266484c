"""Media quality reports of teleconference devices (logTeleconferenceDeviceQuality).

Durations are ISO 8601 duration strings, such as "PT0.05S", and ids are GUID strings,
both passed through as written.
"""

from __future__ import annotations

from typing import ClassVar

import attrs

from calls_async.models import _converter
from calls_async.models._base import GraphModel

__all__ = [
    "TeleconferenceDeviceAudioQuality",
    "TeleconferenceDeviceMediaQuality",
    "TeleconferenceDeviceQuality",
    "TeleconferenceDeviceScreenSharingQuality",
    "TeleconferenceDeviceVideoQuality",
]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class TeleconferenceDeviceMediaQuality(GraphModel):
    """Quality of one media stream (abstract Graph type).

    Use the audio, video or screen sharing subtype.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.teleconferenceDeviceMediaQuality"

    channel_index: int | None = None
    media_duration: str | None = None
    network_link_speed_in_bytes: int | None = None
    local_ip_address: str | None = attrs.field(
        default=None, metadata={"wire_name": "localIPAddress"}
    )
    local_port: int | None = None
    remote_ip_address: str | None = attrs.field(
        default=None, metadata={"wire_name": "remoteIPAddress"}
    )
    remote_port: int | None = None
    inbound_packets: int | None = None
    outbound_packets: int | None = None
    average_inbound_jitter: str | None = None
    average_outbound_jitter: str | None = None
    maximum_inbound_jitter: str | None = None
    maximum_outbound_jitter: str | None = None
    average_inbound_packet_loss_rate_in_percentage: float | None = None
    average_outbound_packet_loss_rate_in_percentage: float | None = None
    maximum_inbound_packet_loss_rate_in_percentage: float | None = None
    maximum_outbound_packet_loss_rate_in_percentage: float | None = None
    average_inbound_round_trip_delay: str | None = None
    average_outbound_round_trip_delay: str | None = None
    maximum_inbound_round_trip_delay: str | None = None
    maximum_outbound_round_trip_delay: str | None = None


class TeleconferenceDeviceAudioQuality(TeleconferenceDeviceMediaQuality):
    """Quality of an audio stream."""

    odata_type: ClassVar[str] = "#microsoft.graph.teleconferenceDeviceAudioQuality"
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class TeleconferenceDeviceVideoQuality(TeleconferenceDeviceMediaQuality):
    """Quality of a video stream."""

    odata_type: ClassVar[str] = "#microsoft.graph.teleconferenceDeviceVideoQuality"

    average_inbound_bit_rate: float | None = None
    average_inbound_frame_rate: float | None = None
    average_outbound_bit_rate: float | None = None
    average_outbound_frame_rate: float | None = None


class TeleconferenceDeviceScreenSharingQuality(TeleconferenceDeviceVideoQuality):
    """Quality of a screen sharing stream."""

    odata_type: ClassVar[str] = (
        "#microsoft.graph.teleconferenceDeviceScreenSharingQuality"
    )
    __slots__ = ()


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class TeleconferenceDeviceQuality(GraphModel):
    """A quality report of a video teleconference device joined to a call."""

    odata_type: ClassVar[str] = "#microsoft.graph.teleconferenceDeviceQuality"

    call_chain_id: str
    participant_id: str
    media_leg_id: str
    device_name: str
    device_description: str
    media_quality_list: tuple[TeleconferenceDeviceMediaQuality, ...]
    cloud_service_deployment_environment: str | None = None
    cloud_service_deployment_id: str | None = None
    cloud_service_instance_name: str | None = None
    cloud_service_name: str | None = None


# Without "@odata.type", a media quality entry that has a bit rate or frame rate is
# read as video quality. This module registers the entry itself because the package
# imports it only on first use (see calls_async.models.__getattr__).
_converter._INFERENCE_KEYS[TeleconferenceDeviceMediaQuality] = tuple(
    (key, TeleconferenceDeviceVideoQuality)
    for key in (
        "averageInboundBitRate",
        "averageInboundFrameRate",
        "averageOutboundBitRate",
        "averageOutboundFrameRate",
    )
)

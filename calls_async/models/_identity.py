"""Identities and participant descriptions."""

from __future__ import annotations

from typing import ClassVar

import attrs

from calls_async.models._base import GraphModel
from calls_async.models._enums import EndpointType

__all__ = ["Identity", "IdentitySet", "InvitationParticipantInfo", "ParticipantInfo"]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class Identity(GraphModel):
    """A user, application, phone number or other party (Graph ``identity``).

    ``tenant_id`` and ``identity_provider`` are not in the v1.0 schema of ``identity``
    but appear in payloads. A subtype such as ``communicationsUserIdentity`` is read
    as an Identity that keeps its ``@odata.type`` and extra fields in
    ``additional_data``.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.identity"

    id: str | None = None
    display_name: str | None = None
    tenant_id: str | None = None
    identity_provider: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class IdentitySet(GraphModel):
    """The identities of one party (Graph ``identitySet``).

    Carries the fields of ``communicationsIdentitySet`` too, because payloads put
    ``phone``, ``applicationInstance`` and ``encrypted`` into objects typed
    ``#microsoft.graph.identitySet``.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.identitySet"

    application: Identity | None = None
    device: Identity | None = None
    user: Identity | None = None
    application_instance: Identity | None = None
    phone: Identity | None = None
    guest: Identity | None = None
    encrypted: Identity | None = None
    asserted_identity: Identity | None = None
    azure_communication_services_user: Identity | None = None
    on_premises: Identity | None = None
    endpoint_type: EndpointType | str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class ParticipantInfo(GraphModel):
    """The identity and location of a participant (Graph ``participantInfo``).

    Older payloads name ``participantId`` as ``id``. That key is not mapped, so it stays
    in ``additional_data`` and is written back under its own name.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.participantInfo"

    identity: IdentitySet
    participant_id: str | None = None
    # ISO 3166-1 alpha-2 country code, such as "US".
    country_code: str | None = None
    endpoint_type: EndpointType | str | None = None
    # Culture name, such as "en-US".
    language_id: str | None = None
    # Home region, such as "westus" or "amer".
    region: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class InvitationParticipantInfo(GraphModel):
    """A party to call, invite, redirect to or transfer to.

    ``replaces_call_id`` names a call the invitee is in now. The service drops that
    call once the invitee joins, which moves a peer-to-peer call into a group call or
    makes a transfer consultative.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.invitationParticipantInfo"

    identity: IdentitySet
    participant_id: str | None = None
    hidden: bool | None = None
    replaces_call_id: str | None = None
    remove_from_default_audio_routing_group: bool | None = None
    # Not in the v1.0 schema of invitationParticipantInfo, but documented for transfer.
    endpoint_type: EndpointType | str | None = None

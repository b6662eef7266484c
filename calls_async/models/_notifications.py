"""The envelope of the notifications the service posts to a bot's callback URI."""

from __future__ import annotations

from typing import Any, ClassVar

import attrs

from calls_async.models._base import GraphModel
from calls_async.models._enums import ChangeType

__all__ = ["CommsNotification", "CommsNotifications"]


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CommsNotification(GraphModel):
    """One notification entry.

    ``resource_data`` stays the decoded JSON: one object for a call or an operation,
    an array for participants and content sharing sessions. Which model it contains
    depends on ``resource_url``, so the notification layer reads it.
    """

    odata_type: ClassVar[str] = "#microsoft.graph.commsNotification"

    change_type: ChangeType | str | None = None
    # Such as "/communications/calls/{id}/operations/{opId}". Hold-music
    # notifications leave out the leading "/".
    resource_url: str | None = None
    resource_data: dict[str, Any] | list[dict[str, Any]] | None = attrs.field(
        default=None, hash=False, metadata={"raw_json": True}
    )
    # The legacy "/app/calls/..." spelling of resource_url, present in some payloads.
    resource: str | None = None
    callback_uri: str | None = None


@attrs.define(
    frozen=True, slots=True, kw_only=True, repr=False, getstate_setstate=False
)
class CommsNotifications(GraphModel):
    """The body of one notification POST; it may batch several entries."""

    odata_type: ClassVar[str] = "#microsoft.graph.commsNotifications"

    value: tuple[CommsNotification, ...] | None = None

"""Audio routing groups and content sharing sessions of a call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from calls_async import _protocol
from calls_async._config import USE_CLIENT_DEFAULT, Timeout
from calls_async._retry import Retry
from calls_async.models import AudioRoutingGroup, ContentSharingSession, RoutingMode

if TYPE_CHECKING:
    from calls_async._calls import Call

__all__ = ["AudioRoutingGroupCollection", "ContentSharingSessionCollection"]


class AudioRoutingGroupCollection:
    """The private audio mixes of an app-hosted media call.

    Sources and receivers are participant ids. Graph forwards only the audio of the
    four dominant speakers, however many groups there are.
    """

    __slots__ = ("_call",)

    def __init__(self, call: Call) -> None:
        self._call = call

    async def create(
        self,
        group: AudioRoutingGroup,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> AudioRoutingGroup:
        """Create a group (POST, answered with 200) and return the service's copy."""
        request = _protocol.create_audio_routing_group(self._call.id, group)
        result = await self._call._send(request, timeout, retry)
        assert isinstance(result, AudioRoutingGroup)
        return result

    async def list(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> list[AudioRoutingGroup]:
        """Fetch every audio routing group of the call."""
        request = _protocol.list_audio_routing_groups(self._call.id)
        result: list[AudioRoutingGroup] = await self._call._send(
            request, timeout, retry
        )
        return result

    async def get(
        self,
        group_id: str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> AudioRoutingGroup:
        """Fetch one audio routing group by id."""
        request = _protocol.get_audio_routing_group(self._call.id, group_id)
        result = await self._call._send(request, timeout, retry)
        assert isinstance(result, AudioRoutingGroup)
        return result

    async def update(
        self,
        group_id: str,
        *,
        routing_mode: RoutingMode | str | None = None,
        sources: Sequence[str] | None = None,
        receivers: Sequence[str] | None = None,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> AudioRoutingGroup:
        """Change a group's mode, sources or receivers (PATCH) and return it."""
        request = _protocol.update_audio_routing_group(
            self._call.id,
            group_id,
            routing_mode=routing_mode,
            sources=sources,
            receivers=receivers,
        )
        result = await self._call._send(request, timeout, retry)
        assert isinstance(result, AudioRoutingGroup)
        return result

    async def delete(
        self,
        group_id: str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> None:
        """Delete an audio routing group (204)."""
        request = _protocol.delete_audio_routing_group(self._call.id, group_id)
        await self._call._send(request, timeout, retry)


class ContentSharingSessionCollection:
    """Screen sharing sessions in a call (``call.content_sharing_sessions``).

    Their notifications arrive as ContentSharingUpdated events when the call was
    created or answered with ``is_content_sharing_notification_enabled``.
    """

    __slots__ = ("_call",)

    def __init__(self, call: Call) -> None:
        self._call = call

    async def list(
        self,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> list[ContentSharingSession]:
        """Fetch the content sharing sessions of the call."""
        request = _protocol.list_content_sharing_sessions(self._call.id)
        result: list[ContentSharingSession] = await self._call._send(
            request, timeout, retry
        )
        return result

    async def get(
        self,
        session_id: str,
        *,
        timeout: Timeout = USE_CLIENT_DEFAULT,
        retry: Retry = USE_CLIENT_DEFAULT,
    ) -> ContentSharingSession:
        """Fetch one content sharing session by id."""
        request = _protocol.get_content_sharing_session(self._call.id, session_id)
        result = await self._call._send(request, timeout, retry)
        assert isinstance(result, ContentSharingSession)
        return result

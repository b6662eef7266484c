"""Change signals for the live view, and the summaries of calls it shows.

The code paths that change what the live view shows call `ChangeFeed.changed()`:
the HTTP middleware after every request other than GET and HEAD, call timers,
finished notification deliveries and the Emulator's simulation methods. Each open
live view subscribes with one `asyncio.Event`, which `changed()` sets. While no view
is open, `changed()` and `call_ended()` find no subscriber and return at once, so
the feed costs nothing.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from calls_async.testing._state import Call
from calls_async.testing._wire import JsonObject

# Ended calls kept for the live view, newest last.
ENDED_CALLS_KEPT = 50
# Operations listed per call, newest last.
OPERATIONS_SHOWN = 10


class ChangeFeed:
    """Wakes the open live views when the emulator's state changes."""

    def __init__(self) -> None:
        self._subscribers: set[asyncio.Event] = set()
        self.ended_calls: collections.deque[JsonObject] = collections.deque(
            maxlen=ENDED_CALLS_KEPT
        )
        """Summaries of the calls that ended while a live view was open."""
        self.closed = False

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def changed(self) -> None:
        for event in self._subscribers:
            event.set()

    def call_ended(self, call: Call) -> None:
        """Keep the summary of a call that has just ended, if a live view is open."""
        if self._subscribers:
            self.ended_calls.append(call_summary(call))
            self.changed()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[asyncio.Event]:
        """Yield an event that each change sets; it starts set, for a first view."""
        event = asyncio.Event()
        event.set()
        self._subscribers.add(event)
        try:
            yield event
        finally:
            self._subscribers.discard(event)

    def close(self) -> None:
        """Mark the feed closed and wake every subscriber so its stream can end."""
        self.closed = True
        self.changed()


def call_summary(call: Call) -> JsonObject:
    """Return what the live view shows of a call."""
    operations = list(call.operations.values())[-OPERATIONS_SHOWN:]
    return {
        "id": call.id,
        "state": call.state,
        "direction": call.direction,
        "callbackUri": call.callback_uri,
        "participants": [
            {
                "id": participant.id,
                "name": display_name(participant.identity),
                "bot": participant.is_bot,
                "inLobby": participant.is_in_lobby,
                "muted": participant.is_muted,
                "onHold": participant.on_hold,
            }
            for participant in call.roster.participants.values()
        ],
        "operations": [
            {
                "id": operation.id,
                "type": operation.subtype,
                "status": operation.status,
                "result": result_text(operation.result_info),
            }
            for operation in operations
        ],
        "operationCount": len(call.operations),
        "result": result_text(call.result_info),
    }


def display_name(identity: Mapping[str, Any]) -> str | None:
    """Return the first displayName in an identitySet (user, phone, guest...)."""
    for value in identity.values():
        if isinstance(value, dict):
            name = value.get("displayName")
            if isinstance(name, str):
                return name
    return None


def result_text(result: Mapping[str, Any] | None) -> str | None:
    """Format a resultInfo as `code/subcode message`, or return None."""
    if not result:
        return None
    text = f"{result.get('code')}/{result.get('subcode')}"
    message = result.get("message")
    return f"{text} {message}" if message else text

"""The notification bus: how verified notifications reach the instance that needs them.

A bot that runs as one process needs no bus: the webhook hands each verified
notification to the client's dispatcher. A bot that runs as several instances behind
a load balancer gets each call's notifications on whichever instance the balancer
picks, while the task awaiting an operation of that call, or running its handler,
lives on another. A shared bus closes that gap. Every instance's webhook publishes
what it verified, and every instance applies what concerns the calls it tracks.

    webhook (any instance) --publish--> bus --deliver--> dispatcher (every instance)

A bus also decides which instance owns a call. The owner is the only instance that
runs the incoming-call handler, and when an owner dies another instance takes the
call over and runs the handler registered with
:meth:`~calls_async.CallsClient.on_call_taken_over`.

Two implementations ship: :class:`InProcessBus`, the default, and
:class:`calls_async.redis_bus.RedisBus` on Redis Streams, from the
``calls-async[redis]`` extra.

The contract a bus keeps:

- :meth:`NotificationBus.publish` returns only once the entries are stored where
  every instance will read them, so a 202 from the webhook is never premature. It
  raises :class:`PublishError` when that cannot be done in time, and the webhook
  then replies 503 so that the service sends the notification again.
- The entries of one call reach every dispatcher in the order they were published.
- A dispatcher drops repeated entries by digest, so a bus may deliver an entry more
  than once, but it must not run the incoming-call handler of one call on two
  instances.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from calls_async._errors import CallsError

if TYPE_CHECKING:
    from calls_async._calls import Call
    from calls_async._client import CallsClient
    from calls_async._notifications import NotificationEntry

__all__ = ["InProcessBus", "NotificationBus", "PublishError"]

_log = logging.getLogger("calls_async.bus")


class PublishError(CallsError):
    """Notification entries could not be published on the bus in time.

    The webhook replies 503 to the service, which then sends the notification
    again, possibly to another instance.
    """


class NotificationBus(abc.ABC):
    """Carries verified notification entries from webhooks to dispatchers.

    A bus serves one :class:`~calls_async.CallsClient`, which starts it on first
    use and stops it in ``aclose``. The client closes only the bus it made itself:
    close a bus you pass in with ``CallsClient(bus=...)`` after the client.
    """

    def __init__(self) -> None:
        self._bound: CallsClient | None = None

    @property
    def client(self) -> CallsClient | None:
        """The client this bus delivers to, or None before it was started."""
        return self._bound

    def _bind(self, client: CallsClient) -> None:
        if self._bound is not None and self._bound is not client:
            raise ValueError(
                f"{self!r} already delivers to {self._bound!r}; every client needs "
                "a bus of its own"
            )
        self._bound = client

    @abc.abstractmethod
    async def start(self, client: CallsClient) -> None:
        """Begin delivering entries to ``client``'s dispatcher.

        Raises:
            ValueError: the bus already serves another client.
        """

    @abc.abstractmethod
    async def publish(
        self, entries: Sequence[NotificationEntry], *, tenant_id: str | None
    ) -> None:
        """Store verified entries for every instance; return once they are stored.

        ``tenant_id`` is the tenant named in the notification's token, or None when
        tokens are not checked.

        Raises:
            PublishError: the entries could not be stored in time.
        """

    async def claim(self, call: Call) -> None:  # noqa: B027
        """Make this instance the owner of a call it has just created.

        The base implementation does nothing, which is right when only one
        instance exists.
        """

    @abc.abstractmethod
    async def stop(self) -> None:
        """Stop delivering entries; the client calls this from its ``aclose``."""

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Stop the bus and release what it holds. Calling it again does nothing."""

    async def __aenter__(self) -> NotificationBus:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()


class InProcessBus(NotificationBus):
    """The default bus of one process: entries go straight to the local dispatcher.

    Entries are applied before the webhook replies, so an awaiting task resumes on
    the next turn of the event loop. Every call is owned by this process, so no call
    is ever taken over.
    """

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False
        """True once :meth:`stop` or :meth:`aclose` was called."""
        self.closed = False
        """True once :meth:`aclose` was called."""

    def __repr__(self) -> str:
        state = "open"
        if self.closed:
            state = "closed"
        elif self.stopped:
            state = "stopped"
        return f"<InProcessBus {state}>"

    async def start(self, client: CallsClient) -> None:
        """Deliver to ``client``'s dispatcher."""
        self._bind(client)

    async def publish(
        self, entries: Sequence[NotificationEntry], *, tenant_id: str | None
    ) -> None:
        """Apply the entries on the local dispatcher now.

        Raises:
            PublishError: the bus was stopped or never started.
        """
        client = self._bound
        if client is None or self.stopped:
            raise PublishError(f"{self!r} delivers to no client")
        client.notifications.apply(entries, tenant_id)

    async def stop(self) -> None:
        """Stop accepting entries."""
        self.stopped = True

    async def aclose(self) -> None:
        """Stop accepting entries."""
        self.stopped = True
        self.closed = True

"""Turning the service's notifications into call state, completed operations and events.

The webhook publishes each verified commsNotifications body on the client's bus (see
:mod:`calls_async.bus`). The in-process default hands it to
:meth:`NotificationDispatcher.apply` before the webhook replies: applying never waits,
and a task awaiting an operation then resumes on the next turn of the event loop
instead of one turn later. A shared bus such as the Redis one calls
:meth:`NotificationDispatcher.apply` from its reader task.

The service's callbacks are not tidy, and dispatch assumes so:

- Entries are applied one after another in the order they arrived. Applying an entry
  never waits on bot code: incoming-call handlers run on tasks of their own and
  events go to per-subscriber queues. So the entries of one call stay in order and a
  slow handler of one call holds up no other call.
- An operation's completion can arrive before the POST that started it has returned,
  and a call's notifications before ``create`` has returned. Entries for a call or an
  operation the client does not know yet wait in a backlog for ``backlog_ttl``
  seconds and are applied when the id becomes known.
- The service sends a notification again when it thinks the reply was late. Each
  entry's digest is remembered for ``dedup_ttl`` seconds, so a repeat changes nothing
  and reaches no handler.
- ``establishing`` may arrive after ``established``: the call's state only moves
  forward (see :mod:`calls_async._calls`).
- An entry of a kind this version does not interpret becomes an
  :class:`UnknownNotification` event with its raw payload.
"""

from __future__ import annotations

import asyncio
import collections
import enum
import hashlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs

from calls_async._config import fold_id, real_number
from calls_async._errors import ResponseParseError
from calls_async._events import (
    ContentSharingUpdated,
    UnknownNotification,
)
from calls_async._json import canonical
from calls_async.models import (
    CallProperties,
    CommsOperation,
    ContentSharingSession,
    DeltaParticipants,
    ParticipantProperties,
    from_wire,
)

if TYPE_CHECKING:
    from calls_async._calls import Call
    from calls_async._client import CallsClient

__all__ = [
    "DEFAULT_BACKLOG_TTL",
    "CallTakenOverHandler",
    "IncomingCallHandler",
    "NotificationDispatcher",
    "NotificationEntry",
    "ResourceKind",
    "parse_notifications",
    "parse_resource_url",
]

DEFAULT_BACKLOG_TTL = 30.0
"""Seconds an entry for a not yet known call or operation waits to be applied."""

DEFAULT_DEDUP_TTL = 600.0
"""Seconds an entry's digest is remembered to drop repeated deliveries."""

DEFAULT_DEDUP_MAX = 100_000
"""Digests remembered at most; the oldest are forgotten first."""

# Seconds between two sweeps of expired digests and held entries. A repeat and a
# held entry are checked against their own expiry when used, so the interval delays
# only the freeing of memory and the log line of a dropped call.
_SWEEP_INTERVAL = 1.0

IncomingCallHandler = Callable[["Call"], Awaitable[None]]
CallTakenOverHandler = Callable[["Call"], Awaitable[None]]

_log = logging.getLogger("calls_async.notifications")


class ResourceKind(enum.Enum):
    """The kind of resource a notification's ``resourceUrl`` names."""

    CALL = "call"
    OPERATION = "operation"
    PARTICIPANTS = "participants"
    CONTENT_SHARING = "contentSharingSessions"
    OTHER = "other"


_CHILD_KINDS = {
    "operations": ResourceKind.OPERATION,
    "participants": ResourceKind.PARTICIPANTS,
    "contentsharingsessions": ResourceKind.CONTENT_SHARING,
}


# "/communications/calls/{id}", optionally followed by "/{kind}" and "/{child id}".
_PLAIN_RESOURCE_URL = re.compile(
    r"/?(?i:communications|app)/(?i:calls)/([^/?#]+)(?:/([^/?#]+)(?:/([^/?#]+))?)?"
)


def parse_resource_url(url: str) -> tuple[str | None, ResourceKind, str | None]:
    """Split a notification's resource URL into call id, kind and child id.

    Accepts ``/communications/calls/{id}...`` with or without the leading slash, the
    legacy ``/app/calls/{id}...`` form, and absolute Graph URLs.
    """
    match = _PLAIN_RESOURCE_URL.fullmatch(url)
    if match is not None:
        # The form the service sends, read without splitting.
        call_id, child_kind, child = match.groups()
        if child_kind is None:
            return call_id, ResourceKind.CALL, None
        kind = _CHILD_KINDS.get(child_kind.lower(), ResourceKind.OTHER)
        return call_id, kind, child
    path = urlsplit(url).path if "://" in url else url
    segments = [s for s in path.split("/") if s]
    for start in range(len(segments) - 1):
        first, second = segments[start].lower(), segments[start + 1].lower()
        if second == "calls" and first in ("communications", "app"):
            rest = segments[start + 2 :]
            break
    else:
        return None, ResourceKind.OTHER, None
    if not rest:
        return None, ResourceKind.OTHER, None
    call_id = rest[0]
    if len(rest) == 1:
        return call_id, ResourceKind.CALL, None
    kind = _CHILD_KINDS.get(rest[1].lower(), ResourceKind.OTHER)
    child = rest[2] if len(rest) > 2 else None
    return call_id, kind, child


# Not frozen, because a frozen attrs class takes twice as long to build, and one is
# built for every entry of every body. Nothing changes an entry after parsing.
@attrs.define(slots=True)
class NotificationEntry:
    """One entry of a commsNotifications body, classified but not yet applied."""

    change_type: str
    """The change type in lower case: created, updated or deleted."""
    resource_url: str
    call_id: str | None
    kind: ResourceKind
    child_id: str | None
    resource_data: Any = attrs.field(repr=False)
    raw: Mapping[str, Any] = attrs.field(repr=False)
    digest: bytes = attrs.field(repr=False)


def _digest(entry: Mapping[str, Any]) -> bytes:
    # Sorted compact JSON, so that a repeat is recognised whatever its key order,
    # whitespace or the other entries of its body. Every process of one version
    # computes the same digest, so instances that share a bus agree.
    return hashlib.blake2b(canonical(entry), digest_size=16).digest()


def parse_notifications(data: Any) -> list[NotificationEntry]:
    """Classify the entries of a decoded commsNotifications body.

    Raises:
        ResponseParseError: ``data`` is not a commsNotifications envelope.
    """
    if not isinstance(data, dict):
        raise ResponseParseError(
            "a commsNotifications body must be a JSON object, not "
            f"{type(data).__name__}"
        )
    odata_type = data.get("@odata.type")
    if odata_type is not None and (
        not isinstance(odata_type, str)
        or not odata_type.lower().endswith("commsnotifications")
    ):
        raise ResponseParseError(
            f"@odata.type is {odata_type!r}; expected "
            "#microsoft.graph.commsNotifications"
        )
    value = data.get("value")
    if not isinstance(value, list):
        raise ResponseParseError("a commsNotifications body needs a 'value' array")
    return [_parse_entry(item, index) for index, item in enumerate(value)]


def _parse_entry(item: Any, index: int) -> NotificationEntry:
    if not isinstance(item, dict):
        raise ResponseParseError(
            "a notification entry must be an object", path=f"value[{index}]"
        )
    change_type = item.get("changeType")
    if not isinstance(change_type, str):
        raise ResponseParseError(
            "changeType is missing or not a string", path=f"value[{index}]"
        )
    url = item.get("resourceUrl") or item.get("resource")
    if not isinstance(url, str):
        raise ResponseParseError(
            "resourceUrl is missing or not a string", path=f"value[{index}]"
        )
    call_id, kind, child = parse_resource_url(url)
    data = item.get("resourceData")
    if kind is ResourceKind.CALL and isinstance(data, dict):
        own_id = data.get("id")
        if isinstance(own_id, str) and own_id:
            call_id = own_id
    # Positional, in field order, because keywords double the cost of the call.
    return NotificationEntry(
        change_type.lower(), url, call_id, kind, child, data, item, _digest(item)
    )


def starts_incoming_call(entry: NotificationEntry) -> bool:
    """Return True if ``entry`` announces a new incoming call."""
    if entry.kind is not ResourceKind.CALL or entry.change_type != "created":
        return False
    data = entry.resource_data
    return isinstance(data, dict) and str(data.get("state", "")).lower() in (
        "incoming",
        "",
    )


@attrs.define(slots=True)
class _Held:
    expires_at: float
    entry: NotificationEntry
    tenant_id: str | None


class NotificationDispatcher:
    """Applies notification entries to the client's calls and operation handles.

    Args:
        client: the client whose calls and operations the entries update.
        backlog_ttl: seconds an entry for an unknown call or operation is kept.
        dedup_ttl: seconds a delivered entry is remembered to drop repeats.
        dedup_max: entries remembered at most for that.
    """

    def __init__(
        self,
        client: CallsClient,
        *,
        backlog_ttl: float = DEFAULT_BACKLOG_TTL,
        dedup_ttl: float = DEFAULT_DEDUP_TTL,
        dedup_max: int = DEFAULT_DEDUP_MAX,
    ) -> None:
        self._client = client
        self.backlog_ttl = backlog_ttl
        self._dedup_ttl = _check_dedup_ttl(dedup_ttl)
        self._dedup_max = dedup_max
        self._seen: collections.OrderedDict[bytes, float] = collections.OrderedDict()
        self._held_calls: dict[str, list[_Held]] = {}
        self._held_order: collections.deque[tuple[float, str]] = collections.deque()
        self._next_sweep = 0.0
        self._incoming_handler: IncomingCallHandler | None = None
        self._takeover_handler: CallTakenOverHandler | None = None
        self._handler_tasks: set[asyncio.Task[None]] = set()
        self._tasks_by_call: dict[str, set[asyncio.Task[None]]] = {}
        self.dropped_call_log_level = logging.INFO
        """Level of the line logged when held entries of a call expire. A shared bus
        lowers it, because there every instance reads the entries of every call."""
        self.entries_applied = 0
        self.entries_duplicated = 0
        self.entries_held = 0
        self.entries_expired = 0
        self.entries_failed = 0

    @property
    def dedup_ttl(self) -> float:
        """Seconds a delivered entry's digest is kept to drop repeats of it.

        A longer value applies to entries delivered afterwards. A shorter one also
        shortens the time left to digests stored before, to at most the new value.
        """
        return self._dedup_ttl

    @dedup_ttl.setter
    def dedup_ttl(self, seconds: float) -> None:
        ttl = _check_dedup_ttl(seconds)
        if ttl < self._dedup_ttl:
            # Digests are swept in the order they were stored, which must stay the
            # order of expiry, so none may outlast a digest stored from now on.
            latest = time.monotonic() + ttl
            seen = self._seen
            for digest, expires_at in seen.items():
                if expires_at > latest:
                    seen[digest] = latest
        self._dedup_ttl = ttl

    # -- registration ----------------------------------------------------------

    def set_incoming_call_handler(self, handler: IncomingCallHandler) -> None:
        """Run ``handler(call)`` on its own task for each new incoming call."""
        if not callable(handler):
            raise TypeError(
                f"the incoming call handler must be an async function, not "
                f"{type(handler).__name__}"
            )
        self._incoming_handler = handler

    def set_takeover_handler(self, handler: CallTakenOverHandler) -> None:
        """Run ``handler(call)`` on its own task for each call this instance takes
        over from an instance that stopped renewing its lease."""
        if not callable(handler):
            raise TypeError(
                f"the takeover handler must be an async function, not "
                f"{type(handler).__name__}"
            )
        self._takeover_handler = handler

    # -- intake ----------------------------------------------------------------

    def submit(
        self, entries: Iterable[NotificationEntry], *, tenant_id: str | None = None
    ) -> None:
        """Queue entries to be applied on the next turn of the event loop."""
        batch = list(entries)
        if batch:
            asyncio.get_running_loop().call_soon(self.apply, batch, tenant_id)

    def apply(
        self, entries: Iterable[NotificationEntry], tenant_id: str | None
    ) -> None:
        """Apply entries now, in order; an entry that fails is logged and skipped."""
        now = time.monotonic()
        if now >= self._next_sweep:
            self._next_sweep = now + _SWEEP_INTERVAL
            self._expire(now)
        for entry in entries:
            if self._is_repeat(entry.digest, now):
                self.entries_duplicated += 1
                continue
            try:
                self._apply_entry(entry, tenant_id, now)
            except Exception:
                self.entries_failed += 1
                _log.exception(
                    "Failed to apply the %s notification for %s (call %s)",
                    entry.change_type,
                    entry.resource_url,
                    entry.call_id,
                )

    def _is_repeat(self, digest: bytes, now: float) -> bool:
        if not self._dedup_ttl:
            return False
        seen = self._seen
        expires_at = seen.get(digest)
        if expires_at is not None:
            if expires_at > now:
                return True
            # Expired but not yet swept: stored again at the end, so the order of
            # the dict stays the order of expiry.
            del seen[digest]
        seen[digest] = now + self._dedup_ttl
        if len(seen) > self._dedup_max:
            seen.popitem(last=False)
        return False

    def _expire(self, now: float) -> None:
        seen = self._seen
        while seen:
            digest, expires_at = next(iter(seen.items()))
            if expires_at > now:
                break
            del seen[digest]
        order = self._held_order
        while order and order[0][0] <= now:
            _, key = order.popleft()
            held = self._held_calls.get(key)
            if held is None:
                continue
            fresh = [h for h in held if h.expires_at > now]
            self.entries_expired += len(held) - len(fresh)
            if fresh:
                self._held_calls[key] = fresh
            else:
                del self._held_calls[key]
                _log.log(
                    self.dropped_call_log_level,
                    "Dropped notifications for call %s, which never became known",
                    key,
                )
        self._client._operations.expire_held(now)

    # -- applying --------------------------------------------------------------

    def _apply_entry(
        self, entry: NotificationEntry, tenant_id: str | None, now: float
    ) -> None:
        if entry.call_id is None:
            _log.warning(
                "Ignored a %s notification for %s, which names no call",
                entry.change_type,
                entry.resource_url,
            )
            return
        call = self._client.calls._known(entry.call_id)
        if call is None and self._starts_incoming_call(entry):
            call = self._client.calls[entry.call_id]
        if call is None:
            self._hold(entry, tenant_id, now)
            return
        if tenant_id and call.tenant_id is None:
            call.tenant_id = tenant_id
        self.entries_applied += 1
        if entry.kind is ResourceKind.CALL:
            self._apply_call(call, entry)
        elif entry.kind is ResourceKind.OPERATION:
            self._apply_operation(call, entry, now)
        elif entry.kind is ResourceKind.PARTICIPANTS:
            self._apply_roster(call, entry)
        elif entry.kind is ResourceKind.CONTENT_SHARING:
            sessions = _parse_list(ContentSharingSession, entry.resource_data)
            call._emit(
                ContentSharingUpdated(
                    call_id=call.id, change_type=entry.change_type, sessions=sessions
                )
            )
        else:
            call._emit(_unknown(call, entry))

    @staticmethod
    def _starts_incoming_call(entry: NotificationEntry) -> bool:
        return starts_incoming_call(entry)

    def _hold(
        self, entry: NotificationEntry, tenant_id: str | None, now: float
    ) -> None:
        assert entry.call_id is not None
        key = fold_id(entry.call_id)
        expires_at = now + self.backlog_ttl
        self._held_calls.setdefault(key, []).append(_Held(expires_at, entry, tenant_id))
        self._held_order.append((expires_at, key))
        self.entries_held += 1

    def release(self, call: Call) -> None:
        """Apply the held entries of ``call``, which has just become known."""
        held = self._held_calls.pop(call.key, None)
        if not held:
            return
        now = time.monotonic()
        for item in held:
            if item.expires_at > now:
                self._apply_entry(item.entry, item.tenant_id, now)
            else:
                self.entries_expired += 1

    def _apply_call(self, call: Call, entry: NotificationEntry) -> None:
        for data in _objects(entry.resource_data, "a call"):
            self._apply_call_data(call, entry, data)

    def _apply_call_data(
        self, call: Call, entry: NotificationEntry, data: dict[str, Any]
    ) -> None:
        props = from_wire(CallProperties, data)
        calls = self._client.calls
        new_incoming = entry.change_type == "created" and call.state is None
        calls._observe(call, props)
        if entry.change_type == "deleted":
            calls._end(call, props.result_info)
        elif new_incoming:
            self._start_handler(call)

    def _apply_operation(
        self, call: Call, entry: NotificationEntry, now: float
    ) -> None:
        for data in _objects(entry.resource_data, "an operation"):
            self._apply_operation_data(call, entry, data, now)

    def _apply_operation_data(
        self, call: Call, entry: NotificationEntry, data: dict[str, Any], now: float
    ) -> None:
        update = from_wire(CommsOperation, data)
        if update.id is None and entry.child_id and entry.child_id != "participants":
            update = attrs.evolve(update, id=entry.child_id)
        if entry.change_type == "deleted" and not update.is_terminal:
            # Graph reports a finished operation with changeType deleted; one without a
            # final status is taken as completed rather than left pending forever.
            update = attrs.evolve(update, status="completed")
        registry = self._client._operations
        if not registry.resolve(call.id, update, source="notification"):
            registry.hold(call.id, update, now + self.backlog_ttl)

    def _apply_roster(self, call: Call, entry: NotificationEntry) -> None:
        data = entry.resource_data
        if isinstance(data, dict) and "participants" in data:
            delta = from_wire(DeltaParticipants, data)
            call.roster.update(
                list(delta.participants or ()),
                delta=True,
                sequence=delta.sequence_number,
            )
            return
        participants = _parse_list(ParticipantProperties, data)
        call.roster.update(participants, delta=call.delta_roster)

    # -- incoming call handlers -------------------------------------------------

    def _start_handler(self, call: Call) -> None:
        handler = self._incoming_handler
        if handler is None:
            _log.warning(
                "Call %s is incoming but no incoming call handler is registered; "
                "register one with client.on_incoming_call",
                call.id,
            )
            return
        self._run_on_task(handler, call, "incoming call")

    def start_takeover_handler(self, call: Call) -> None:
        """Run the handler for a call this instance has just taken over.

        Without a registered takeover handler, a call still in state incoming goes
        to the incoming call handler instead, because its old owner never answered
        it; any other call is only logged.
        """
        handler = self._takeover_handler
        kind = "call taken over"
        if handler is None and str(call.state).lower() == "incoming":
            handler = self._incoming_handler
            kind = "incoming call"
        if handler is None:
            _log.warning(
                "Took over call %s in state %s but no handler is registered for "
                "it; register one with client.on_call_taken_over",
                call.id,
                call.state,
            )
            return
        self._run_on_task(handler, call, kind)

    def cancel_handlers(self, call: Call) -> int:
        """Cancel the handlers running for ``call``; return how many were running.

        A bus calls this when another instance has become the call's owner.
        """
        tasks = self._tasks_by_call.pop(call.key, set())
        for task in tasks:
            task.cancel()
        return len(tasks)

    def _run_on_task(self, handler: IncomingCallHandler, call: Call, kind: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._run_handler(handler, call, kind)
        )
        self._handler_tasks.add(task)
        self._tasks_by_call.setdefault(call.key, set()).add(task)
        task.add_done_callback(self._handler_tasks.discard)
        task.add_done_callback(lambda done: self._forget_task(call.key, done))

    def _forget_task(self, call_key: str, task: asyncio.Task[None]) -> None:
        tasks = self._tasks_by_call.get(call_key)
        if tasks is not None:
            tasks.discard(task)
            if not tasks:
                del self._tasks_by_call[call_key]

    async def _run_handler(
        self, handler: IncomingCallHandler, call: Call, kind: str = "incoming call"
    ) -> None:
        try:
            await handler(call)
        except asyncio.CancelledError:
            raise
        except Exception:
            _log.exception("The %s handler failed for call %s", kind, call.id)

    async def aclose(self) -> None:
        """Cancel running incoming-call handlers and wait until they have ended."""
        tasks = list(self._handler_tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


def _check_dedup_ttl(value: float) -> float:
    seconds = real_number(value, "dedup_ttl", allow_infinite=False)
    if seconds < 0:
        raise ValueError(
            f"dedup_ttl is {value!r}; give 0 or more seconds to remember a delivered "
            "entry (0 turns de-duplication off)"
        )
    return seconds


def _objects(data: Any, what: str) -> list[dict[str, Any]]:
    """Return resourceData as a list of objects; it may be one object or an array."""
    if isinstance(data, dict):
        return [data]
    if isinstance(data, list) and all(isinstance(item, dict) for item in data):
        return data
    raise ResponseParseError(
        f"resourceData of {what} notification must be an object or an array of objects",
        path="resourceData",
    )


def _parse_list(cls: type[Any], data: Any) -> list[Any]:
    if isinstance(data, list):
        items = data
    elif isinstance(data, dict):
        items = [data]
    else:
        items = []
    return [from_wire(cls, item) for item in items if isinstance(item, dict)]


def _unknown(call: Call, entry: NotificationEntry) -> UnknownNotification:
    return UnknownNotification(
        call_id=call.id,
        change_type=entry.change_type,
        resource_url=entry.resource_url,
        resource_data=entry.resource_data,
        raw=entry.raw,
    )

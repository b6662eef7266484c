"""A notification bus on Redis Streams, for a bot that runs as several instances.

Install it with the ``calls-async[redis]`` extra (redis-py 5 or later, asyncio API).

    bus = RedisBus("redis://redis.internal:6379/0", instance="bot-1")
    async with bus, CallsClient(credential, callback_uri=URI, bus=bus) as client:
        ...

How it works, with the default key prefix ``calls_async``:

Notifications. Every instance's webhook verifies a notification and adds its entries
as one stream entry to ``calls_async:notifications`` (XADD with an approximate
MAXLEN trim), then replies 202. Every instance reads the whole stream with XREAD,
so each sees every entry in the one order of the stream, and applies it to its own
calls and operation handles. An operation awaited on instance A therefore completes
when instance B receives its notification, and a call that ends fails A's pending
handles as soon as A reads the entry. The service sends a call's next notification
only after the previous one was answered, and the answer comes after the XADD, so
the stream keeps each call's order even when the notifications land on different
instances.

Consumer groups are not used, because every instance needs every entry, which is
what plain XREAD gives. A group per instance would also work, but it would keep a
pending-entries list nobody needs and leave groups behind when instances go away.
Instead each instance stores the id of the last entry it applied under
``calls_async:cursor:{instance}``, and on restart reads on from there. An instance
without a stored id starts at the stream's last entry.

Publishing is idempotent. A Lua script adds a body only if its digest is new
(``calls_async:seen:{digest}``, kept for ``dedup_ttl``), so a retry by the service
that lands on another instance, or a publish retried after a lost reply, is stored
once. When Redis cannot be reached, publishing is retried with backoff for up to
``publish_timeout`` seconds; after that the webhook replies 503 and the service
sends the notification again.

Ownership. Each call has one owner instance. For an incoming call, every instance
that reads the "created" entry runs a claim script, and only the first succeeds: it
writes ``calls_async:claim:{call}`` (kept for ``claim_ttl``; a claim is written
only where none exists) and the lease ``calls_async:owner:{call}``, which expires
after ``lease_ttl``. Only the owner runs the incoming-call handler. A call created
through the client is claimed by the instance that created it. The owner renews its
leases every third of ``lease_ttl``. The sorted set ``calls_async:leases`` holds
each call's lease deadline in Redis server time. Every instance scans that set as often
as it renews, and takes over calls whose lease has run out: it becomes the owner,
fetches the call with GET and runs the handler registered with
:meth:`~calls_async.CallsClient.on_call_taken_over`. When a call ends, its owner
marks the claim "ended" and drops the lease, so the call is never taken over. An
instance that closes normally hands its calls over at once by setting their
deadline to zero. An instance that finds another instance holding one of its
leases cancels its own handlers for that call.

Keys are built inside the Lua scripts from the prefix, so this bus needs a single
Redis primary (with replicas or Sentinel if wanted), not Redis Cluster.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from calls_async._errors import CallsError, NotFoundError, ResponseParseError
from calls_async._json import loads
from calls_async._notifications import (
    NotificationEntry,
    parse_notifications,
    starts_incoming_call,
)
from calls_async.bus import NotificationBus, PublishError

try:
    import redis.asyncio as aioredis
    import redis.exceptions as redis_errors
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        "calls_async.redis_bus needs the redis package; install it with "
        "pip install 'calls-async[redis]'"
    ) from err

if TYPE_CHECKING:
    from calls_async._calls import Call
    from calls_async._client import CallsClient

__all__ = [
    "DEFAULT_CLAIM_TTL",
    "DEFAULT_CURSOR_TTL",
    "DEFAULT_DEDUP_TTL",
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAX_LEN",
    "DEFAULT_PUBLISH_TIMEOUT",
    "DEFAULT_READ_COUNT",
    "DEFAULT_TAKEOVER_LIMIT",
    "RedisBus",
]

DEFAULT_MAX_LEN = 10_000
"""Stream entries kept, approximately. One entry is one notification POST."""

DEFAULT_LEASE_TTL = 6.0
"""Seconds a call's lease lasts without renewal. The owner renews every third of it,
so two missed renewals are tolerated. A dead owner's calls are taken over within
about 8 s (the lease plus one scan interval), inside the 15 s that the service
allows for answering an incoming call."""

DEFAULT_PUBLISH_TIMEOUT = 3.0
"""Seconds the webhook retries publishing before it replies 503. The service
expects a reply within about 5 s."""

DEFAULT_DEDUP_TTL = 600.0
"""Seconds a published body's digest is kept to store a retried body once."""

DEFAULT_CLAIM_TTL = 86_400.0
"""Seconds a call's claim is kept, so a replayed "created" entry is never claimed
again. It must outlast the stream's retention."""

DEFAULT_CURSOR_TTL = 7 * 86_400.0
"""Seconds an instance's last-read id is kept after its last update."""

DEFAULT_READ_COUNT = 500
"""Stream entries one XREAD returns at most."""

DEFAULT_TAKEOVER_LIMIT = 20
"""Calls one instance takes over per scan at most, so that a dead instance's calls
spread over the survivors rather than all going to the first that scans."""

_FORMAT = b"1"
_RETRY_MIN = 0.05
_RETRY_MAX = 1.0
_READ_SLACK = 5.0
_STOP_TIMEOUT = 1.0
_START_TIMEOUT = 1.0
_CANCEL_ROUNDS = 50
_CURSOR_INTERVAL = 0.1

_log = logging.getLogger("calls_async.bus")

_T = TypeVar("_T")

# Errors after which the same command may succeed: no connection, a timeout, a
# server still loading its data after a restart (a ConnectionError subclass), or
# a replica that was just demoted during a failover.
_RETRYABLE: tuple[type[BaseException], ...] = (
    redis_errors.ConnectionError,
    redis_errors.TimeoutError,
    redis_errors.ReadOnlyError,
    TimeoutError,
    OSError,
)
_REDIS_ERRORS: tuple[type[BaseException], ...] = (*_RETRYABLE, redis_errors.RedisError)

# KEYS: stream, seen. ARGV: max_len, seen_ms, field, value, ...
_PUBLISH = """
if redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
  return redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(ARGV, 3))
end
return false
"""

# Sorted-set members are call ids as the service wrote them. Key names use the id in
# lower case, because the client's identity map compares ids without case.

# KEYS: claim, owner, leases. ARGV: token, lease_ms, claim_ms, call_id.
# Returns 1 when the claim is this token's, 0 when it is another instance's.
_CLAIM = """
local claimed = redis.call('GET', KEYS[1])
if claimed then
  if claimed == ARGV[1] then return 1 end
  return 0
end
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[1], 'PX', ARGV[2])
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[2]), ARGV[4])
return 1
"""

# KEYS: leases. ARGV: token, lease_ms, claim_ms, prefix, call_id, ...
# Renews this token's leases. A lease that ran out without another instance taking
# it is renewed as well, and a call without a claim (one created here) gets one.
# Returns the calls whose lease another instance holds, and those marked ended.
_RENEW = """
local token, lease, claim_ms, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local lost, ended = {}, {}
for i = 5, #ARGV do
  local id = ARGV[i]
  local owner_key = prefix .. ':owner:' .. string.lower(id)
  local claim_key = prefix .. ':claim:' .. string.lower(id)
  local owner = redis.call('GET', owner_key)
  if owner == token then
    redis.call('PEXPIRE', owner_key, lease)
    redis.call('ZADD', KEYS[1], now + lease, id)
  elseif owner then
    table.insert(lost, id)
  else
    local claimed = redis.call('GET', claim_key)
    if claimed == 'ended' then
      table.insert(ended, id)
    else
      if not claimed then redis.call('SET', claim_key, token, 'PX', claim_ms) end
      redis.call('SET', owner_key, token, 'PX', lease)
      redis.call('ZADD', KEYS[1], now + lease, id)
    end
  end
end
return {lost, ended}
"""

# KEYS: owner, claim, leases. ARGV: token, claim_ms, call_id.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[3], ARGV[3])
end
redis.call('SET', KEYS[2], 'ended', 'PX', ARGV[2])
return 1
"""

# KEYS: leases. ARGV: token, prefix, call_id, ...
# Gives up this token's leases and makes the calls due for takeover at once.
_HAND_OVER = """
for i = 3, #ARGV do
  local owner_key = ARGV[2] .. ':owner:' .. string.lower(ARGV[i])
  if redis.call('GET', owner_key) == ARGV[1] then
    redis.call('DEL', owner_key)
    redis.call('ZADD', KEYS[1], 0, ARGV[i])
  end
end
return 1
"""

# KEYS: leases. ARGV: token, lease_ms, prefix, limit.
# Takes over calls whose lease deadline has passed and whose owner key is gone.
_TAKE_OVER = """
local token, lease, prefix = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = redis.call('TIME')
now = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[4])
local taken = {}
for _, id in ipairs(due) do
  local owner_key = prefix .. ':owner:' .. string.lower(id)
  local ttl = redis.call('PTTL', owner_key)
  if ttl == -2 then
    if redis.call('GET', prefix .. ':claim:' .. string.lower(id)) == 'ended' then
      redis.call('ZREM', KEYS[1], id)
    else
      redis.call('SET', owner_key, token, 'PX', lease)
      redis.call('ZADD', KEYS[1], now + lease, id)
      table.insert(taken, id)
    end
  elseif ttl > 0 then
    redis.call('ZADD', KEYS[1], now + ttl, id)
  else
    redis.call('ZADD', KEYS[1], now + lease, id)
  end
end
return taken
"""


class RedisBus(NotificationBus):
    """A notification bus on one Redis stream, shared by every instance of a bot.

    Args:
        redis: a ``redis://`` or ``rediss://`` URL, or a ``redis.asyncio.Redis``
            client. The bus closes only a client it built from a URL. A client
            passed in should have no retries of its own longer than
            ``publish_timeout``.
        instance: this instance's name, unique among the running instances and
            the same across restarts (a host or pod name), so that a restarted
            instance reads on from its stored position.
        key_prefix: the prefix of every Redis key, to share one database between
            several bots.
        max_len: stream entries kept, approximately (MAXLEN ~).
        lease_ttl: seconds a call's lease lasts without renewal.
        publish_timeout: seconds publishing may take, retries included, before
            :class:`~calls_async.bus.PublishError`.
        dedup_ttl: seconds a published body's digest is kept.
        claim_ttl: seconds a call's claim is kept.
        cursor_ttl: seconds this instance's stored position is kept.
        read_count: entries one XREAD returns at most.
        read_block: seconds one XREAD waits for new entries.
        takeover_limit: calls taken over per scan at most.
    """

    def __init__(
        self,
        redis: str | aioredis.Redis,
        *,
        instance: str,
        key_prefix: str = "calls_async",
        max_len: int = DEFAULT_MAX_LEN,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT,
        dedup_ttl: float = DEFAULT_DEDUP_TTL,
        claim_ttl: float = DEFAULT_CLAIM_TTL,
        cursor_ttl: float = DEFAULT_CURSOR_TTL,
        read_count: int = DEFAULT_READ_COUNT,
        read_block: float = 1.0,
        takeover_limit: int = DEFAULT_TAKEOVER_LIMIT,
    ) -> None:
        super().__init__()
        _check_name("instance", instance)
        _check_name("key_prefix", key_prefix)
        _check_at_least("max_len", max_len, 1)
        _check_at_least("read_count", read_count, 1)
        _check_at_least("takeover_limit", takeover_limit, 1)
        for name, seconds in (
            ("lease_ttl", lease_ttl),
            ("publish_timeout", publish_timeout),
            ("dedup_ttl", dedup_ttl),
            ("claim_ttl", claim_ttl),
            ("cursor_ttl", cursor_ttl),
            ("read_block", read_block),
        ):
            _check_positive(name, seconds)

        if isinstance(redis, str):
            self._redis = _redis_from_url(redis, instance)
            self._owns_redis = True
        elif isinstance(redis, aioredis.Redis):
            self._redis = redis
            self._owns_redis = False
        else:
            raise TypeError(
                f"redis must be a redis:// URL or a redis.asyncio.Redis client, not "
                f"{type(redis).__name__}"
            )

        self.instance = instance
        """This instance's name."""
        self.key_prefix = key_prefix
        self.max_len = max_len
        self.lease_ttl = lease_ttl
        self.publish_timeout = publish_timeout
        self.dedup_ttl = dedup_ttl
        self.claim_ttl = claim_ttl
        self.cursor_ttl = cursor_ttl
        self.read_count = read_count
        self.read_block = read_block
        self.takeover_limit = takeover_limit
        # A new token per bus object, so that a restarted instance is not taken
        # for its previous life and does not rerun handlers that one started.
        self.token = f"{instance}/{secrets.token_hex(6)}"
        """The value this instance writes into the keys it owns."""

        self.stream_key = f"{key_prefix}:notifications"
        self._leases_key = f"{key_prefix}:leases"
        self._cursor_key = f"{key_prefix}:cursor:{instance}"
        self._instance_key = f"{key_prefix}:instance:{instance}"
        self._publish_script = self._redis.register_script(_PUBLISH)
        self._claim_script = self._redis.register_script(_CLAIM)
        self._renew_script = self._redis.register_script(_RENEW)
        self._release_script = self._redis.register_script(_RELEASE)
        self._hand_over_script = self._redis.register_script(_HAND_OVER)
        self._take_over_script = self._redis.register_script(_TAKE_OVER)

        self._last_id: bytes | None = None
        self._saved_id: bytes | None = None
        self._saved_at = 0.0
        self._positioned: asyncio.Event | None = None
        self._owned: dict[str, Call] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._reader: asyncio.Task[None] | None = None
        self._lease_keeper: asyncio.Task[None] | None = None
        self._stopped = False
        self._announced = False
        self.closed = False

        self.published = 0
        """Bodies stored in the stream by this instance."""
        self.publish_duplicates = 0
        """Bodies not stored again because their digest was already there."""
        self.publish_retries = 0
        self.entries_read = 0
        """Stream entries this instance has read and applied."""
        self.claims_won = 0
        self.claims_lost = 0
        self.taken_over = 0
        """Calls this instance took over from another instance."""
        self.leases_lost = 0
        """Calls whose lease another instance took from this one."""
        self.name_conflicts = 0
        """Renewals that found another process writing under this instance name."""

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"<RedisBus instance={self.instance!r} stream={self.stream_key!r} {state}>"
        )

    @property
    def owned_calls(self) -> list[str]:
        """The ids of the calls this instance owns now."""
        return [call.id for call in self._owned.values()]

    @property
    def last_id(self) -> str | None:
        """The id of the last stream entry this instance has applied."""
        return None if self._last_id is None else self._last_id.decode()

    # -- lifecycle --------------------------------------------------------------

    async def start(self, client: CallsClient) -> None:
        """Start reading the stream and keeping leases for ``client``.

        Returns once the reader knows where to start, or after 1 s while Redis
        cannot be reached, in which case the reader keeps trying. The wait is
        short so that a webhook that starts the bus on its first request can
        still publish within the service's reply budget.

        Raises:
            ValueError: the bus already serves another client.
            RuntimeError: the bus was stopped or closed.
        """
        if self._stopped:
            raise RuntimeError(f"{self!r} was stopped; make a new RedisBus")
        self._bind(client)
        if self._reader is not None:
            return
        client.receives_notifications = True
        # Every instance reads the entries of every call, so entries for a call this
        # instance never tracked are normal, not worth an INFO line.
        client.notifications.dropped_call_log_level = logging.DEBUG
        self._positioned = asyncio.Event()
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._read_loop(), name="calls_async-bus-read")
        self._lease_keeper = loop.create_task(
            self._lease_loop(), name="calls_async-bus-leases"
        )
        try:
            await asyncio.wait_for(self._positioned.wait(), _START_TIMEOUT)
        except TimeoutError:
            # NOTE: until the reader is positioned, entries published for a call
            # this instance creates meanwhile may be missed.
            _log.warning(
                "Instance %s started before Redis could be reached; reading will "
                "start once it can",
                self.instance,
            )
        _log.info(
            "Instance %s reads %s from %s", self.instance, self.stream_key, self.last_id
        )

    async def stop(self, *, hand_over: bool = True) -> None:
        """Stop reading and renewing; with ``hand_over``, let other instances take
        this instance's calls over at once instead of after their leases run out.
        """
        if self._stopped:
            return
        self._stopped = True
        tasks = [t for t in (self._reader, self._lease_keeper) if t is not None]
        await _cancel_and_wait([*tasks, *self._tasks])
        self._tasks.clear()
        if hand_over and self._owned:
            await self._bounded(self._hand_over(), "hand calls over")
        await self._bounded(self._save_cursor(), "store the stream position")
        _log.info(
            "Instance %s stopped with %d calls %s",
            self.instance,
            len(self._owned),
            "handed over" if hand_over else "left to their leases",
        )
        self._owned.clear()

    async def aclose(self, *, hand_over: bool = True) -> None:
        """Stop the bus (see :meth:`stop`) and close a Redis client it built.

        ``hand_over=False`` leaves the leases to run out, as if the process died.
        """
        if self.closed:
            return
        await self.stop(hand_over=hand_over)
        self.closed = True
        if self._owns_redis:
            await self._redis.aclose()

    async def _bounded(self, work: Awaitable[None], what: str) -> None:
        try:
            async with asyncio.timeout(_STOP_TIMEOUT):
                await work
        except _REDIS_ERRORS as err:
            _log.warning(
                "Instance %s could not %s while stopping: %s", self.instance, what, err
            )

    # -- publishing -------------------------------------------------------------

    async def publish(
        self, entries: Sequence[NotificationEntry], *, tenant_id: str | None
    ) -> None:
        """Add the entries to the stream as one stream entry, once per body.

        Retries with backoff while Redis cannot be reached, for up to
        ``publish_timeout`` seconds in all.

        Raises:
            PublishError: the entries were not stored in time, or Redis rejected
                them.
        """
        if self._stopped:
            raise PublishError(f"{self!r} is stopped")
        payload = json.dumps([dict(entry.raw) for entry in entries]).encode()
        tenant = (tenant_id or "").encode()
        digest = hashlib.blake2b(digest_size=16)
        digest.update(tenant + b"\0")
        for entry in entries:
            digest.update(entry.digest)
        keys = [self.stream_key, f"{self.key_prefix}:seen:{digest.hexdigest()}"]
        args: list[bytes | str | int] = [
            self.max_len,
            _ms(self.dedup_ttl),
            "format",
            _FORMAT,
            "entries",
            payload,
            "tenant_id",
            tenant,
            "instance",
            self.instance,
        ]
        stored = await self._with_retries(
            lambda: self._publish_script(keys=keys, args=args),
            self.publish_timeout,
            f"publishing {len(entries)} notification entries",
        )
        if stored is None:
            self.publish_duplicates += 1
        else:
            self.published += 1

    async def _with_retries(
        self, attempt: Callable[[], Awaitable[_T]], budget: float, what: str
    ) -> _T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + budget
        delay = _RETRY_MIN
        tries = 0
        while True:
            tries += 1
            remaining = deadline - loop.time()
            try:
                async with asyncio.timeout(max(remaining, 0.001)):
                    return await attempt()
            except _RETRYABLE as err:
                remaining = deadline - loop.time()
                if remaining <= delay:
                    _log.warning(
                        "Instance %s gave up %s after %d attempts in %.2f s: %s",
                        self.instance,
                        what,
                        tries,
                        budget - remaining,
                        _describe(err),
                    )
                    raise PublishError(
                        f"{what} on Redis failed {tries} times within {budget:g} s: "
                        f"{_describe(err)}"
                    ) from err
                self.publish_retries += 1
                _log.info(
                    "Instance %s is retrying %s in %.2f s: %s",
                    self.instance,
                    what,
                    delay,
                    _describe(err),
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
            except redis_errors.RedisError as err:
                _log.error(
                    "Redis rejected %s from instance %s: %s", what, self.instance, err
                )
                raise PublishError(f"Redis rejected {what}: {err}") from err

    # -- reading ----------------------------------------------------------------

    async def _read_loop(self) -> None:
        failing_since: float | None = None
        delay = _RETRY_MIN
        rejected = 0
        client = self._bound
        assert client is not None
        while not (self._stopped or client.closed):
            try:
                if self._last_id is None:
                    self._last_id = await self._starting_id()
                    assert self._positioned is not None
                    self._positioned.set()
                reply = await self._read_once()
                if reply:
                    await self._deliver(reply)
            except _RETRYABLE as err:
                if failing_since is None:
                    failing_since = time.monotonic()
                    _log.warning(
                        "Instance %s lost Redis while reading %s, retrying: %s",
                        self.instance,
                        self.stream_key,
                        _describe(err),
                    )
                await asyncio.sleep(delay)
                delay = min(delay * 2, _RETRY_MAX)
                continue
            except redis_errors.RedisError as err:
                # Such as WRONGTYPE: retrying will not help until someone fixes the
                # key, so the error is logged once a minute rather than every second.
                rejected += 1
                if rejected % 60 == 1:
                    _log.error(
                        "Instance %s failed to read %s (%d times), retrying: %s",
                        self.instance,
                        self.stream_key,
                        rejected,
                        err,
                    )
                await asyncio.sleep(_RETRY_MAX)
                continue
            if failing_since is not None:
                _log.info(
                    "Instance %s reads %s again after %.1f s",
                    self.instance,
                    self.stream_key,
                    time.monotonic() - failing_since,
                )
                failing_since = None
                delay = _RETRY_MIN

    async def _starting_id(self) -> bytes:
        stored = await self._redis.get(self._cursor_key)
        if stored is not None:
            cursor = _as_bytes(stored)
            await self._warn_if_trimmed(cursor)
            return cursor
        last = await self._redis.xrevrange(self.stream_key, count=1)
        return _as_bytes(last[0][0]) if last else b"0-0"

    async def _warn_if_trimmed(self, cursor: bytes) -> None:
        # Trimming drops the oldest entries, so when the entry this instance read
        # last is gone, the entries right after it may be gone as well.
        first = await self._redis.xrange(self.stream_key, count=1)
        if first and _stream_id(_as_bytes(first[0][0])) > _stream_id(cursor):
            _log.warning(
                "Instance %s was stopped too long: entries after %s may have been "
                "trimmed from %s before it read them; raise max_len to keep more",
                self.instance,
                cursor.decode(),
                self.stream_key,
            )

    async def _read_once(self) -> Any:
        assert self._last_id is not None
        block_ms = _ms(self.read_block)
        async with asyncio.timeout(self.read_block + _READ_SLACK):
            return await self._redis.xread(
                {self.stream_key: self._last_id}, count=self.read_count, block=block_ms
            )

    async def _deliver(self, reply: Any) -> None:
        client = self._bound
        assert client is not None
        for message_id, fields in _messages(reply):
            if client.closed:
                return
            decoded = self._decode(message_id, fields)
            if decoded is not None:
                entries, tenant_id = decoded
                entries = await self._admit(client, entries)
                client.notifications.apply(entries, tenant_id)
                self._note_claimed(client, entries)
            self._last_id = message_id
            self.entries_read += 1
        # The position is stored at most every _CURSOR_INTERVAL while entries
        # stream in, and by the lease loop when they stop. A restart may so apply
        # the last entries again, which the claims and the digests make harmless.
        if time.monotonic() - self._saved_at < _CURSOR_INTERVAL:
            return
        try:
            await self._save_cursor()
        except _RETRYABLE as err:
            _log.info(
                "Instance %s could not store its stream position, will retry: %s",
                self.instance,
                _describe(err),
            )

    def _decode(
        self, message_id: bytes, fields: dict[Any, Any]
    ) -> tuple[list[NotificationEntry], str | None] | None:
        values = {_as_bytes(k): _as_bytes(v) for k, v in fields.items()}
        try:
            if values.get(b"format") != _FORMAT:
                raise ResponseParseError(
                    f"format {values.get(b'format')!r} is not {_FORMAT!r}"
                )
            raw = loads(values[b"entries"])
            entries = parse_notifications({"value": raw})
        except (KeyError, ValueError, RecursionError, ResponseParseError) as err:
            _log.error(
                "Instance %s skipped stream entry %s of %s, which it cannot read: %s",
                self.instance,
                message_id.decode(),
                self.stream_key,
                err,
            )
            return None
        tenant_id = values.get(b"tenant_id", b"").decode() or None
        return entries, tenant_id

    async def _admit(
        self, client: CallsClient, entries: list[NotificationEntry]
    ) -> list[NotificationEntry]:
        """Drop the new-call entries of calls another instance has claimed.

        All claims of a stream entry are made before any of it is applied. So a
        Redis error here leaves the whole entry unread, and the read loop reads it
        again.
        """
        admitted = []
        for entry in entries:
            claimed = True
            if entry.call_id is not None and starts_incoming_call(entry):
                claimed = await self._claim_incoming(entry.call_id)
            if claimed:
                admitted.append(entry)
        return admitted

    async def _claim_incoming(self, call_id: str) -> bool:
        key = call_id.lower()
        async with asyncio.timeout(self.lease_ttl / 3):
            won = await self._claim_script(
                keys=[
                    f"{self.key_prefix}:claim:{key}",
                    f"{self.key_prefix}:owner:{key}",
                    self._leases_key,
                ],
                args=[self.token, _ms(self.lease_ttl), _ms(self.claim_ttl), call_id],
            )
        if won:
            self.claims_won += 1
        else:
            self.claims_lost += 1
            _log.debug("Call %s is owned by another instance", call_id)
        return bool(won)

    def _note_claimed(
        self, client: CallsClient, entries: list[NotificationEntry]
    ) -> None:
        for entry in entries:
            if entry.call_id is not None and starts_incoming_call(entry):
                call = client.calls._known(entry.call_id)
                if call is not None and not call.ended:
                    self._owned[call.key] = call

    async def _save_cursor(self) -> None:
        last_id = self._last_id
        if last_id is None or last_id == self._saved_id:
            return
        await self._redis.set(self._cursor_key, last_id, px=_ms(self.cursor_ttl))
        self._saved_id = last_id
        self._saved_at = time.monotonic()

    # -- ownership --------------------------------------------------------------

    async def claim(self, call: Call) -> None:
        """Own a call this instance created; the lease is written now or, while
        Redis cannot be reached, by the next renewal."""
        if self._stopped or call.ended:
            return
        self._owned[call.key] = call
        try:
            async with asyncio.timeout(self.lease_ttl / 3):
                await self._renew([call])
        except _RETRYABLE as err:
            _log.warning(
                "Instance %s could not claim call %s yet, will retry: %s",
                self.instance,
                call.id,
                _describe(err),
            )

    async def _lease_loop(self) -> None:
        interval = self.lease_ttl / 3
        failing = False
        rejected = 0
        while not self._stopped:
            # Jitter, so that instances do not scan for takeovers in lockstep.
            await asyncio.sleep(interval * random.uniform(0.8, 1.0))
            try:
                async with asyncio.timeout(interval):
                    # After an outage every lease may have run out. The first
                    # round renews only, so that live owners renew theirs before
                    # anyone scans for calls to take over.
                    await self._keep_leases(take_over=not failing)
            except _RETRYABLE as err:
                if not failing:
                    _log.warning(
                        "Instance %s cannot renew its leases, retrying: %s",
                        self.instance,
                        _describe(err),
                    )
                failing = True
                continue
            except redis_errors.RedisError as err:
                rejected += 1
                if rejected % 30 == 1:
                    _log.error(
                        "Instance %s failed to renew its leases (%d times): %s",
                        self.instance,
                        rejected,
                        err,
                    )
                continue
            if failing:
                _log.info("Instance %s renews its leases again", self.instance)
                failing = False

    async def _keep_leases(self, *, take_over: bool) -> None:
        await self._save_cursor()
        await self._announce()
        for call in [c for c in self._owned.values() if c.ended]:
            await self._release(call)
        live = [c for c in self._owned.values() if not c.ended]
        if live:
            await self._renew(live)
        if take_over:
            await self._take_over_due()

    async def _announce(self) -> None:
        previous = await self._redis.set(
            self._instance_key, self.token, px=_ms(self.lease_ttl), get=True
        )
        first, self._announced = not self._announced, True
        # On the first write the key may still hold this instance's previous life,
        # so only a later mismatch means a second live process uses the name.
        if first or previous is None or _as_bytes(previous) == self.token.encode():
            return
        self.name_conflicts += 1
        if self.name_conflicts == 1 or self.name_conflicts % 100 == 0:
            _log.warning(
                "Instance name %s is also used by another running process (seen "
                "%d times); give every instance its own name",
                self.instance,
                self.name_conflicts,
            )

    async def _renew(self, calls: Sequence[Call]) -> None:
        lost, ended = await self._renew_script(
            keys=[self._leases_key],
            args=[
                self.token,
                _ms(self.lease_ttl),
                _ms(self.claim_ttl),
                self.key_prefix,
                *(call.id for call in calls),
            ],
        )
        for call_id in map(_as_str, ended):
            self._owned.pop(call_id.lower(), None)
        for call_id in map(_as_str, lost):
            self._lose(call_id.lower())

    def _lose(self, key: str) -> None:
        call = self._owned.pop(key, None)
        if call is None:
            return
        self.leases_lost += 1
        client = self._bound
        cancelled = client.notifications.cancel_handlers(call) if client else 0
        _log.warning(
            "Instance %s lost call %s to another instance and cancelled %d of its "
            "handlers",
            self.instance,
            call.id,
            cancelled,
        )

    async def _release(self, call: Call) -> None:
        await self._release_script(
            keys=[
                f"{self.key_prefix}:owner:{call.key}",
                f"{self.key_prefix}:claim:{call.key}",
                self._leases_key,
            ],
            args=[self.token, _ms(self.claim_ttl), call.id],
        )
        self._owned.pop(call.key, None)

    async def _hand_over(self) -> None:
        for call in [c for c in self._owned.values() if c.ended]:
            await self._release(call)
        await self._hand_over_script(
            keys=[self._leases_key],
            args=[self.token, self.key_prefix, *self.owned_calls],
        )

    async def _take_over_due(self) -> None:
        taken = await self._take_over_script(
            keys=[self._leases_key],
            args=[
                self.token,
                _ms(self.lease_ttl),
                self.key_prefix,
                self.takeover_limit,
            ],
        )
        for call_id in map(_as_str, taken):
            task = asyncio.get_running_loop().create_task(self._take_over(call_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _take_over(self, call_id: str) -> None:
        client = self._bound
        if client is None or client.closed:
            return
        call = client.calls[call_id]
        self._owned[call.key] = call
        self.taken_over += 1
        _log.warning(
            "Instance %s took over call %s, whose lease had run out or was handed over",
            self.instance,
            call_id,
        )
        if not call.ended:
            try:
                await call.refresh()
            except NotFoundError:
                pass  # The call has ended; the request marked it so.
            except CallsError as err:
                _log.warning(
                    "Instance %s could not fetch call %s it took over: %s",
                    self.instance,
                    call_id,
                    err,
                )
        if call.ended:
            _log.info("Call %s had ended before it was taken over", call_id)
            return
        if not client.closed:
            client.notifications.start_takeover_handler(call)


async def _cancel_and_wait(tasks: Sequence[asyncio.Task[None]]) -> None:
    # NOTE: redis-py 8.2 on Python 3.11 sometimes swallows a cancellation that
    # arrives during a command, and the task then carries on. So a task is
    # cancelled again until it ends, and the loops also end on the stop flag.
    pending = {task for task in tasks if not task.done()}
    for _ in range(_CANCEL_ROUNDS):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    _log.error("%d bus tasks did not end after being cancelled", len(pending))


def _redis_from_url(url: str, instance: str) -> aioredis.Redis:
    # The bus retries on its own, within the webhook's time budget, so the
    # client's built-in retries (10 by default in redis-py 8.2) are turned off.
    return aioredis.Redis.from_url(
        url,
        retry=Retry(NoBackoff(), 0),
        socket_connect_timeout=1.0,
        client_name=f"calls_async:{instance}",
    )


def _messages(reply: Any) -> list[tuple[bytes, dict[Any, Any]]]:
    # redis-py 8.2 returns [[stream, [(id, fields), ...]]] over both protocols.
    # Older versions return {stream: [[(id, fields), ...]]} over RESP3, and the
    # newer unified form is {stream: [(id, fields), ...]}.
    if isinstance(reply, dict):
        parts = [part for value in reply.values() for part in value]
    else:
        parts = [part for _, value in reply for part in value]
    messages = []
    for part in parts:
        if isinstance(part[0], bytes | str):
            messages.append(part)
        else:
            messages.extend(part)
    return [(_as_bytes(message_id), fields) for message_id, fields in messages]


def _stream_id(value: bytes) -> tuple[int, int]:
    ms, _, seq = value.partition(b"-")
    return int(ms), int(seq or 0)


def _as_bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _as_str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


def _describe(err: BaseException) -> str:
    return str(err) or type(err).__name__


def _check_name(name: str, value: object) -> None:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        raise ValueError(
            f"{name} is {value!r}; give a non-empty name without whitespace"
        )


def _check_at_least(name: str, value: int, minimum: int) -> None:
    if not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} is {value!r}; it must be an integer >= {minimum}")


def _check_positive(name: str, seconds: float) -> None:
    if not isinstance(seconds, int | float) or not seconds > 0:
        raise ValueError(f"{name} is {seconds!r}; give a number of seconds above 0")

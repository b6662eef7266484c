"""The Redis bus against real redis-server processes started by these tests.

Three client instances, each with its own webhook on loopback, sit behind a
round-robin proxy, and the emulator posts every notification to the proxy, so the
notifications of one call land on all three instances. The tests kill instances and
Redis itself, and deliver the same notification more than once.

redis-server must be installed (``apt-get install -y redis-server``); without it
these tests fail rather than skip.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import shutil
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import attrs
import pytest
import redis.asyncio as aioredis
from aiohttp import web

from calls_async import (
    Call,
    CallsClient,
    CallState,
    CallTerminated,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    OperationCompleted,
    PlayPromptOperation,
    PollingPolicy,
    ServiceHostedMediaConfig,
    ToneReceived,
)
from calls_async.bus import PublishError
from calls_async.redis_bus import RedisBus
from calls_async.testing import Emulator, EmulatorCredential
from calls_async.webhook import HANDLER_KEY, CallbackHandler, create_app

PROMPT = "https://media.example.com/menu.wav"
LEASE_TTL = 0.6
STREAM = "calls_async:notifications"


# -- redis-server processes ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process on 127.0.0.1, restartable on the same port."""

    def __init__(self, directory: Path, *, aof: bool) -> None:
        self.directory = directory
        self.aof = aof
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        executable = shutil.which("redis-server")
        assert executable is not None
        persistence = (
            ["--appendonly", "yes", "--appendfsync", "always"]
            if self.aof
            else ["--appendonly", "no"]
        )
        self._process = await asyncio.create_subprocess_exec(
            executable,
            "--bind",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--dir",
            str(self.directory),
            "--save",
            "",
            *persistence,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        await self._wait_until_ready()

    async def _wait_until_ready(self) -> None:
        probe = aioredis.Redis(port=self.port, socket_connect_timeout=0.2)
        try:
            async with asyncio.timeout(10):
                while True:
                    try:
                        if await probe.ping():
                            return
                    except (aioredis.ConnectionError, aioredis.BusyLoadingError):
                        await asyncio.sleep(0.02)
        finally:
            await probe.aclose()

    async def kill(self) -> None:
        """End the process with SIGKILL, as a crash would."""
        if self._process is not None and self._process.returncode is None:
            self._process.kill()
            await self._process.wait()
        self._process = None


@pytest.fixture
async def redis_servers(tmp_path: Path) -> AsyncIterator[Callable[..., Any]]:
    """Return a factory of started redis-server processes, killed at teardown."""
    if shutil.which("redis-server") is None:
        pytest.fail(
            "redis-server is not installed, and the Redis bus tests need a real "
            "one: run apt-get install -y redis-server"
        )
    servers: list[RedisServer] = []

    async def start(*, aof: bool = False) -> RedisServer:
        directory = tmp_path / f"redis-{len(servers)}"
        directory.mkdir()
        server = RedisServer(directory, aof=aof)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.kill()


# -- a round-robin load balancer -------------------------------------------------


class Proxy:
    """Forwards each POST to the next backend; skips a backend that refuses."""

    def __init__(self) -> None:
        self.backends: list[str] = []
        self.forwarded: collections.Counter[str] = collections.Counter()
        self.url = ""
        self._next = 0
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/calls", self._forward)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/calls"
        self._session = aiohttp.ClientSession()

    async def _forward(self, request: web.Request) -> web.Response:
        assert self._session is not None
        body = await request.read()
        headers = {
            name: request.headers[name]
            for name in ("Authorization", "Content-Type")
            if name in request.headers
        }
        for _ in range(len(self.backends)):
            backend = self.backends[self._next % len(self.backends)]
            self._next += 1
            try:
                async with self._session.post(
                    backend, data=body, headers=headers
                ) as reply:
                    text = await reply.read()
            except aiohttp.ClientConnectionError:
                continue
            self.forwarded[backend] += 1
            return web.Response(status=reply.status, body=text)
        return web.Response(status=502, text="no backend answered")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()


# -- bot instances ---------------------------------------------------------------


@attrs.define(eq=False)
class Instance:
    """One bot instance: a client with its own bus and webhook."""

    name: str
    client: CallsClient
    bus: RedisBus
    runner: web.AppRunner
    url: str
    handler: CallbackHandler
    answer: bool = True
    hold: bool = False
    incoming: list[str] = attrs.Factory(list)
    taken_over: list[tuple[str, Any]] = attrs.Factory(list)
    cancelled: list[str] = attrs.Factory(list)

    async def kill(self) -> None:
        """Stop as if the process died: the leases are left to run out."""
        await self.bus.aclose(hand_over=False)
        await self.runner.cleanup()
        await self.client.aclose()

    async def close(self) -> None:
        await self.runner.cleanup()
        await self.client.aclose()
        await self.bus.aclose()


@attrs.define(eq=False)
class Cluster:
    emulator: Emulator
    credential: EmulatorCredential
    redis: RedisServer
    proxy: Proxy
    inspect: aioredis.Redis
    session: aiohttp.ClientSession
    instances: list[Instance] = attrs.Factory(list)

    async def add(
        self,
        name: str,
        *,
        before_start: Callable[[CallsClient], None] | None = None,
        **bus_options: Any,
    ) -> Instance:
        """Start an instance and put it behind the proxy."""
        options: dict[str, Any] = {
            "lease_ttl": LEASE_TTL,
            "read_block": 0.2,
            "publish_timeout": 2.0,
        }
        options.update(bus_options)
        bus = RedisBus(self.redis.url, instance=name, **options)
        client = CallsClient(
            self.credential,
            callback_uri=self.proxy.url,
            base_url=self.emulator.base_url,
            polling=PollingPolicy.off(),
            operation_timeout=10,
            timeout=10,
            bus=bus,
        )
        if before_start is not None:
            before_start(client)

        app = create_app(
            client,
            app_id=self.emulator.app_id,
            openid_configuration_url=self.emulator.openid_configuration_url,
        )
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}/calls"

        instance = Instance(name, client, bus, runner, url, app[HANDLER_KEY])
        _register_handlers(instance)
        self.instances.append(instance)
        self.proxy.backends.append(url)
        return instance

    async def post(self, url: str, *entries: dict[str, Any]) -> int:
        """Post a signed notification body to one webhook, as the service would."""
        token = self.emulator.sign_notification_token()
        headers = {"Authorization": f"Bearer {token}"}
        body = {"@odata.type": "#microsoft.graph.commsNotifications", "value": entries}
        async with self.session.post(url, json=body, headers=headers) as reply:
            await reply.read()
            return reply.status

    async def close(self) -> None:
        for instance in self.instances:
            if not instance.client.closed:
                await instance.close()
        await self.proxy.close()


def _register_handlers(instance: Instance) -> None:
    client = instance.client

    @client.on_incoming_call
    async def on_incoming(call: Call) -> None:
        instance.incoming.append(call.id)
        if instance.answer:
            await call.answer(media_config=ServiceHostedMediaConfig())
        if instance.hold:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                instance.cancelled.append(call.id)
                raise

    @client.on_call_taken_over
    async def on_taken_over(call: Call) -> None:
        instance.taken_over.append((call.id, call.state))


@pytest.fixture
async def cluster_factory(
    emulator: Emulator,
    credential: EmulatorCredential,
    redis_servers: Callable[..., Awaitable[RedisServer]],
) -> AsyncIterator[Callable[..., Awaitable[Cluster]]]:
    """Return a factory of clusters (Redis, proxy, no instances yet)."""
    made: list[Cluster] = []
    session = aiohttp.ClientSession()

    async def make(*, aof: bool = False) -> Cluster:
        server = await redis_servers(aof=aof)
        proxy = Proxy()
        await proxy.start()
        inspect = aioredis.Redis.from_url(server.url)
        cluster = Cluster(emulator, credential, server, proxy, inspect, session)
        made.append(cluster)
        return cluster

    yield make
    for cluster in made:
        await cluster.close()
        await cluster.inspect.aclose()
    await session.close()


@pytest.fixture
async def trio(cluster_factory: Callable[..., Awaitable[Cluster]]) -> Cluster:
    """A cluster of three instances, bot-a, bot-b and bot-c."""
    cluster = await cluster_factory()
    for name in ("bot-a", "bot-b", "bot-c"):
        await cluster.add(name)
    return cluster


# -- helpers ---------------------------------------------------------------------


def _user() -> InvitationParticipantInfo:
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id="u-1")))


async def _established_call(instance: Instance) -> Call:
    call = await instance.client.calls.create(
        targets=[_user()], media_config=ServiceHostedMediaConfig()
    )
    await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
    return call


async def _eventually(check: Callable[[], object], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def _answered_incoming(cluster: Cluster, url: str) -> str:
    call_id = await cluster.emulator.ring(url)
    async with asyncio.timeout(5):
        await cluster.emulator.wait_for_state(call_id, "established")
    return call_id


def _call_entry(call_id: str, change: str, **data: Any) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.commsNotification",
        "changeType": change,
        "resourceUrl": f"/communications/calls/{call_id}",
        "resourceData": {"@odata.type": "#microsoft.graph.call", "id": call_id, **data},
    }


def _operation_entry(call_id: str, op_id: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.commsNotification",
        "changeType": "deleted",
        "resourceUrl": f"/communications/calls/{call_id}/operations/{op_id}",
        "resourceData": {
            "@odata.type": "#microsoft.graph.playPromptOperation",
            "id": op_id,
            "status": "completed",
            "clientContext": "ctx-dup",
        },
    }


def _owners(cluster: Cluster, call_id: str) -> list[str]:
    return [i.name for i in cluster.instances if call_id in i.bus.owned_calls]


# -- operations complete anywhere ------------------------------------------------


async def test_operations_complete_on_awaiting_instance(trio: Cluster) -> None:
    a, b, c = trio.instances
    call = await _established_call(a)
    for _ in range(6):
        op = await call.play_prompt([PROMPT])
        await op.wait(timeout=5)
        assert op.completed_by == "notification"
    assert b.handler.accepted > 0
    assert c.handler.accepted > 0
    assert call.id not in b.client.calls
    assert call.id not in c.client.calls
    assert _owners(trio, call.id) == ["bot-a"]


async def test_call_ended_elsewhere_fails_handles(trio: Cluster) -> None:
    a, b, _ = trio.instances
    call = await _established_call(a)
    op = await call.play_prompt([PROMPT] * 20)
    ended = _call_entry(
        call.id, "deleted", state="terminated", resultInfo={"code": 0, "subcode": 5001}
    )
    started = time.monotonic()
    assert await trio.post(b.url, ended) == 202
    with pytest.raises(CallTerminated) as info:
        await op.wait(timeout=0.5)
    assert time.monotonic() - started < 0.5
    assert info.value.subcode == 5001
    await _eventually(lambda: not a.bus.owned_calls)


async def test_call_order_kept_across_instances(trio: Cluster) -> None:
    a, b, c = trio.instances
    call = await _established_call(a)
    await (await call.subscribe_to_tone())
    events = call.events()
    pressed = ["tone1", "tone2", "tone3", "tone4", "tone5", "tone6"]
    pressed += ["tone7", "tone8", "tone9", "tone0", "star", "pound"]
    before = collections.Counter(trio.proxy.forwarded)
    await trio.emulator.press_tones(call.id, pressed)
    heard = []
    async with asyncio.timeout(5):
        async for event in events:
            if isinstance(event, ToneReceived):
                heard.append(event.tone)
                if len(heard) == len(pressed):
                    break
    assert heard == pressed
    spread = trio.proxy.forwarded - before
    assert spread[b.url] >= 3
    assert spread[c.url] >= 3


# -- one owner per call ----------------------------------------------------------


async def test_incoming_call_handled_once(trio: Cluster) -> None:
    call_ids = [await _answered_incoming(trio, trio.proxy.url) for _ in range(6)]
    handled = [cid for instance in trio.instances for cid in instance.incoming]
    assert sorted(handled) == sorted(call_ids)
    for call_id in call_ids:
        assert len(_owners(trio, call_id)) == 1
        owner = await trio.inspect.get(f"calls_async:owner:{call_id.lower()}")
        assert owner is not None


async def test_killed_owner_is_taken_over(trio: Cluster) -> None:
    for instance in trio.instances:
        instance.hold = True
    call_id = await _answered_incoming(trio, trio.proxy.url)
    (owner,) = [i for i in trio.instances if call_id in i.incoming]
    survivors = [i for i in trio.instances if i is not owner]
    killed_at = time.monotonic()
    await owner.kill()
    await _eventually(lambda: any(s.taken_over for s in survivors))
    took = time.monotonic() - killed_at
    await asyncio.sleep(LEASE_TTL)
    (taker,) = [s for s in survivors if s.taken_over]
    assert taker.taken_over == [(call_id, CallState.ESTABLISHED)]
    assert took < 2 * LEASE_TTL + 0.5
    assert not any(call_id in s.incoming for s in survivors)
    assert _owners(trio, call_id) == [taker.name]
    owner_key = await trio.inspect.get(f"calls_async:owner:{call_id.lower()}")
    assert owner_key == taker.bus.token.encode()
    op = await taker.client.calls[call_id].play_prompt([PROMPT])
    await op.wait(timeout=5)
    assert op.completed_by == "notification"


async def test_graceful_close_hands_over_at_once(
    cluster_factory: Callable[..., Awaitable[Cluster]],
) -> None:
    cluster = await cluster_factory()
    lease_ttl = 3.0
    for name in ("bot-a", "bot-b"):
        instance = await cluster.add(name, lease_ttl=lease_ttl)
        instance.hold = True
    call_id = await _answered_incoming(cluster, cluster.proxy.url)
    (owner,) = [i for i in cluster.instances if call_id in i.incoming]
    (other,) = [i for i in cluster.instances if i is not owner]
    closed_at = time.monotonic()
    await owner.close()
    await _eventually(lambda: other.taken_over, timeout=lease_ttl)
    assert time.monotonic() - closed_at < lease_ttl
    assert other.taken_over == [(call_id, CallState.ESTABLISHED)]


async def test_lost_lease_cancels_handler(trio: Cluster) -> None:
    for instance in trio.instances:
        instance.hold = True
    call_id = await _answered_incoming(trio, trio.proxy.url)
    (owner,) = [i for i in trio.instances if call_id in i.incoming]
    await trio.inspect.set(
        f"calls_async:owner:{call_id.lower()}", "elsewhere/1", px=60_000
    )
    await _eventually(lambda: owner.bus.leases_lost == 1)
    await _eventually(lambda: owner.cancelled == [call_id])
    assert call_id not in owner.bus.owned_calls


async def test_restarted_owner_does_not_rerun_handler(
    cluster_factory: Callable[..., Awaitable[Cluster]],
) -> None:
    cluster = await cluster_factory()
    first = await cluster.add("bot-a")
    call_id = await _answered_incoming(cluster, cluster.proxy.url)
    assert first.incoming == [call_id]
    await first.kill()
    cluster.proxy.backends.clear()
    # Replay the whole stream on restart, "created" entry included.
    await cluster.inspect.set("calls_async:cursor:bot-a", "0-0")
    second = await cluster.add("bot-a")
    await _eventually(lambda: second.taken_over)
    await asyncio.sleep(0.2)
    assert second.incoming == []
    assert second.taken_over == [(call_id, CallState.ESTABLISHED)]
    assert second.bus.claims_lost == 1


async def test_restarted_instance_catches_up(
    cluster_factory: Callable[..., Awaitable[Cluster]],
) -> None:
    cluster = await cluster_factory()
    call_id = str(uuid.uuid4())
    first = await cluster.add("bot-a")
    publisher = await cluster.add("bot-b")
    await first.close()
    for state in ("established", "hold"):
        entry = _call_entry(call_id, "updated", state=state)
        assert await cluster.post(publisher.url, entry) == 202

    def track(client: CallsClient) -> None:
        client.calls[call_id]

    restarted = await cluster.add("bot-a", before_start=track)
    fresh = await cluster.add("bot-c", before_start=track)
    await _eventually(lambda: restarted.client.calls[call_id].state == CallState.HOLD)
    await asyncio.sleep(0.2)
    assert fresh.client.calls[call_id].state is None


# -- nothing twice ---------------------------------------------------------------


async def test_duplicate_deliveries_reach_handler_once(trio: Cluster) -> None:
    for instance in trio.instances:
        instance.answer = False
    call_id = str(uuid.uuid4())
    created = _call_entry(call_id, "created", state="incoming", direction="incoming")
    length = await trio.inspect.xlen(STREAM)
    for instance in trio.instances:
        assert await trio.post(instance.url, created) == 202
    await _eventually(lambda: any(i.incoming for i in trio.instances))
    await asyncio.sleep(0.2)
    handled = [cid for instance in trio.instances for cid in instance.incoming]
    assert handled == [call_id]
    assert await trio.inspect.xlen(STREAM) == length + 1
    assert sum(i.bus.publish_duplicates for i in trio.instances) == 2


async def test_duplicate_completion_applied_once(trio: Cluster) -> None:
    a, b, c = trio.instances
    call_id, op_id = str(uuid.uuid4()), str(uuid.uuid4())
    call = a.client.calls[call_id]
    first = PlayPromptOperation(id=op_id, status="running", client_context="ctx-dup")
    op = a.client.operations.track(call, first, client_context="ctx-dup")
    events = call.events()
    for instance in (b, c, b):
        assert await trio.post(instance.url, _operation_entry(call_id, op_id)) == 202
    await op.wait(timeout=2)
    ended = _call_entry(call_id, "deleted", state="terminated")
    assert await trio.post(c.url, ended) == 202
    async with asyncio.timeout(5):
        seen = [event async for event in events]
    completed = [e for e in seen if isinstance(e, OperationCompleted)]
    assert len(completed) == 1
    assert a.client.operations.completed_by["notification"] == 1


# -- Redis failures --------------------------------------------------------------


async def test_redis_restart_loses_no_notification(
    cluster_factory: Callable[..., Awaitable[Cluster]],
) -> None:
    cluster = await cluster_factory(aof=True)
    for name in ("bot-a", "bot-b", "bot-c"):
        await cluster.add(name)
    a = cluster.instances[0]
    call = await _established_call(a)
    length = await cluster.inspect.xlen(STREAM)
    await cluster.redis.kill()
    ops = [await call.play_prompt([PROMPT]) for _ in range(3)]
    await asyncio.sleep(0.4)
    await cluster.redis.start()
    for op in ops:
        await op.wait(timeout=5)
        assert op.completed_by == "notification"
    assert [i.handler.rejected for i in cluster.instances] == [0, 0, 0]
    assert await cluster.inspect.xlen(STREAM) >= length + 3
    assert a.bus.owned_calls == [call.id]
    owner = await cluster.inspect.get(f"calls_async:owner:{call.id.lower()}")
    assert owner == a.bus.token.encode()


async def test_redis_down_replies_503_in_time(
    cluster_factory: Callable[..., Awaitable[Cluster]],
) -> None:
    cluster = await cluster_factory()
    instance = await cluster.add("bot-a", publish_timeout=0.5)
    await cluster.redis.kill()
    entry = _call_entry(str(uuid.uuid4()), "updated", state="established")
    started = time.monotonic()
    status = await cluster.post(instance.url, entry)
    elapsed = time.monotonic() - started
    assert status == 503
    assert elapsed < 1.5
    assert instance.handler.rejected == 1
    assert instance.bus.publish_retries >= 1
    with pytest.raises(PublishError):
        await instance.bus.publish([], tenant_id=None)


async def test_trimmed_stream_warns_late_reader(
    cluster_factory: Callable[..., Awaitable[Cluster]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    cluster = await cluster_factory()
    publisher = await cluster.add("bot-a", max_len=50)
    for index in range(400):
        entry = _call_entry(f"call-{index}", "updated", state="established")
        assert await cluster.post(publisher.url, entry) == 202
    assert await cluster.inspect.xlen(STREAM) < 200
    await cluster.inspect.set("calls_async:cursor:bot-late", "1-0")
    with caplog.at_level(logging.WARNING, "calls_async.bus"):
        await cluster.add("bot-late")
    assert any("trimmed" in r.getMessage() for r in caplog.records)


# -- arguments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"instance": ""}, "instance"),
        ({"instance": "bot 1"}, "instance"),
        ({"instance": "bot-1", "max_len": 0}, "max_len"),
        ({"instance": "bot-1", "lease_ttl": 0}, "lease_ttl"),
        ({"instance": "bot-1", "publish_timeout": -1}, "publish_timeout"),
        ({"instance": "bot-1", "key_prefix": ""}, "key_prefix"),
    ],
)
def test_bus_rejects_invalid_options(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisBus("redis://127.0.0.1:1/0", **options)


def test_bus_rejects_wrong_redis_type() -> None:
    with pytest.raises(TypeError, match="redis"):
        RedisBus(42, instance="bot-1")  # type: ignore[arg-type]


async def test_stream_entry_format(trio: Cluster) -> None:
    a = trio.instances[0]
    call_id = str(uuid.uuid4())
    assert await trio.post(a.url, _call_entry(call_id, "updated", state="hold")) == 202
    ((_, fields),) = await trio.inspect.xrevrange(STREAM, count=1)
    assert fields[b"format"] == b"1"
    assert fields[b"instance"] == b"bot-a"
    assert fields[b"tenant_id"] == trio.emulator.tenant_id.encode()
    (entry,) = json.loads(fields[b"entries"])
    assert entry["resourceData"]["state"] == "hold"


async def test_unreadable_stream_entries_are_skipped(trio: Cluster) -> None:
    # Another version may have stored entries this one cannot read. The readers log
    # and skip them, and keep applying the entries after them.
    a = trio.instances[0]
    for entries in (b"[" * 5000 + b"]" * 5000, b"[NaN-]", b"not json"):
        fields = {
            b"format": b"1",
            b"instance": b"bot-old",
            b"tenant_id": trio.emulator.tenant_id.encode(),
            b"entries": entries,
        }
        await trio.inspect.xadd(STREAM, fields)  # type: ignore[arg-type]
    call_id, op_id = str(uuid.uuid4()), str(uuid.uuid4())
    call = a.client.calls[call_id]
    first = PlayPromptOperation(id=op_id, status="running", client_context="ctx-skip")
    op = a.client.operations.track(call, first, client_context="ctx-skip")
    assert await trio.post(a.url, _operation_entry(call_id, op_id)) == 202
    await op.wait(timeout=5)
    assert op.completed_by == "notification"

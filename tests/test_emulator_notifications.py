"""Notifications the emulator posts to bots, their tokens, and the simulation API."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import jwt
import pytest
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from calls_async.testing import (
    DEFAULT_APP_ID,
    DEFAULT_TENANT_ID,
    Emulator,
    EmulatorError,
)

WAIT_TIMEOUT = 3.0
SERVICE_HOSTED = {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}
USER_TARGET = {"identity": {"user": {"id": "user-1", "displayName": "Test User"}}}
PROMPT = {
    "@odata.type": "#microsoft.graph.mediaPrompt",
    "mediaInfo": {"uri": "https://media.example.com/menu.wav"},
}
DELAYS = {
    "establish_delay": 0.02,
    "terminate_delay": 0.02,
    "transfer_delay": 0.02,
    "prompt_duration": 0.03,
    "record_duration": 0.03,
    "operation_delay": 0.02,
    "notification_retry_backoff": 0.01,
}


@dataclasses.dataclass
class Post:
    path: str
    headers: Any
    body: Any

    @property
    def entry(self) -> dict[str, Any]:
        entries = self.body["value"]
        assert len(entries) == 1
        entry: dict[str, Any] = entries[0]
        return entry


class Receiver:
    """A bot's callback endpoint on loopback that records every POST."""

    def __init__(self) -> None:
        self.posts: list[Post] = []
        self.failures_left = 0
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/{path:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        if self.failures_left > 0:
            self.failures_left -= 1
            return web.Response(status=503)
        post = Post(request.path, request.headers.copy(), await request.json())
        async with self._changed:
            self.posts.append(post)
            self._changed.notify_all()
        return web.Response(status=202)

    async def wait_for(self, count: int) -> list[Post]:
        """Wait until `count` posts arrived and return all posts so far."""
        async with asyncio.timeout(WAIT_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: len(self.posts) >= count)
        return self.posts

    async def entries_for(self, call_id: str, count: int) -> list[dict[str, Any]]:
        """Wait for `count` entries about one call and return them in arrival order."""

        def matching() -> list[dict[str, Any]]:
            prefix = f"/communications/calls/{call_id}"
            return [
                p.entry for p in self.posts if p.entry["resourceUrl"].startswith(prefix)
            ]

        async with asyncio.timeout(WAIT_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: len(matching()) >= count)
        return matching()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    bot = Receiver()
    await bot.start()
    yield bot
    await bot.close()


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(**DELAYS) as emu:
        yield emu


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


class Graph:
    def __init__(self, session: aiohttp.ClientSession, emulator: Emulator) -> None:
        self.session = session
        self.emulator = emulator
        self.headers = {"Authorization": f"Bearer {emulator.issue_token()}"}

    async def post(self, path: str, json: Any = None) -> tuple[int, Any]:
        url = self.emulator.base_url + path
        async with self.session.post(url, json=json, headers=self.headers) as response:
            body = await response.json() if await response.read() else None
            return response.status, body

    async def delete(self, path: str) -> int:
        url = self.emulator.base_url + path
        async with self.session.delete(url, headers=self.headers) as response:
            return response.status

    async def create_call(self, callback: str) -> str:
        status, call = await self.post(
            "/communications/calls",
            {
                "callbackUri": callback,
                "targets": [USER_TARGET],
                "requestedModalities": ["audio"],
                "mediaConfig": SERVICE_HOSTED,
            },
        )
        assert status == 201
        return str(call["id"])

    async def established_call(self, callback: str) -> str:
        call_id = await self.create_call(callback)
        async with asyncio.timeout(WAIT_TIMEOUT):
            await self.emulator.wait_for_state(call_id, "established")
        return call_id

    async def action(self, call_id: str, action: str, json: Any = None) -> Any:
        status, body = await self.post(
            f"/communications/calls/{call_id}/{action}", json
        )
        assert status in (200, 202), body
        return body


@pytest.fixture
def graph(session: aiohttp.ClientSession, emulator: Emulator) -> Graph:
    return Graph(session, emulator)


def states(entries: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(e["changeType"], e["resourceData"]["state"]) for e in entries]


async def fetch_signing_keys(
    session: aiohttp.ClientSession, emulator: Emulator
) -> tuple[dict[str, Any], dict[str, jwt.PyJWK]]:
    """Fetch the OpenID configuration and its JWKS, as a bot does."""
    async with session.get(emulator.openid_configuration_url) as response:
        assert response.status == 200
        config: dict[str, Any] = await response.json()
    async with session.get(config["jwks_uri"]) as response:
        jwks = await response.json()
    keys = {key["kid"]: jwt.PyJWK(key) for key in jwks["keys"]}
    return config, keys


def verify(token: str, keys: dict[str, jwt.PyJWK]) -> dict[str, Any]:
    key_id = jwt.get_unverified_header(token)["kid"]
    claims: dict[str, Any] = jwt.decode(
        token,
        keys[key_id],
        algorithms=["RS256"],
        audience=DEFAULT_APP_ID,
        issuer="https://api.botframework.com",
        options={"require": ["exp", "iat", "nbf", "iss", "aud"]},
    )
    return claims


# Envelope and order


async def test_outgoing_call_notification_sequence(
    graph: Graph, receiver: Receiver
) -> None:
    callback = f"{receiver.url}/api/calls"
    call_id = await graph.established_call(callback)
    assert await graph.delete(f"/communications/calls/{call_id}") == 204

    entries = await receiver.entries_for(call_id, 4)

    assert states(entries) == [
        ("updated", "establishing"),
        ("updated", "established"),
        ("updated", "terminating"),
        ("deleted", "terminated"),
    ]
    result = entries[-1]["resourceData"]["resultInfo"]
    assert (result["code"], result["subcode"]) == (200, 5001)
    assert {post.path for post in receiver.posts} == {"/api/calls"}


async def test_notification_envelope_shape(graph: Graph, receiver: Receiver) -> None:
    call_id = await graph.create_call(f"{receiver.url}/cb")

    post = (await receiver.wait_for(1))[0]

    assert post.headers["Content-Type"].startswith("application/json")
    assert post.body["@odata.type"] == "#microsoft.graph.commsNotifications"
    entry = post.entry
    assert entry["@odata.type"] == "#microsoft.graph.commsNotification"
    assert entry["changeType"] == "updated"
    assert entry["resourceUrl"] == f"/communications/calls/{call_id}"
    assert entry["resource"] == f"/app/calls/{call_id}"
    assert entry["callbackUri"] == f"{receiver.url}/cb"
    data = entry["resourceData"]
    assert data["@odata.type"] == "#microsoft.graph.call"
    assert data["@odata.id"] == f"/communications/calls/{call_id}"
    assert data["@odata.etag"].startswith('W/"')
    assert data["id"] == call_id
    assert data["direction"] == "outgoing"


async def test_notifications_keep_order_per_call(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    calls = [await graph.established_call(f"{receiver.url}/cb") for _ in range(3)]
    for call_id in calls:
        await graph.action(call_id, "subscribeToTone", {})
    tones = ["tone1", "tone2", "tone3", "tone4", "tone5", "star", "pound"]

    for tone in tones:
        for call_id in calls:
            await emulator.press_tones(call_id, [tone])

    for call_id in calls:
        entries = await receiver.entries_for(call_id, 2 + len(tones))
        tone_infos = [e["resourceData"]["toneInfo"] for e in entries[2:]]
        assert [info["tone"] for info in tone_infos] == tones
        assert [info["sequenceId"] for info in tone_infos] == list(range(1, 8))


# Tokens


async def test_notification_token_verifies_with_jwks(
    graph: Graph,
    emulator: Emulator,
    receiver: Receiver,
    session: aiohttp.ClientSession,
) -> None:
    await graph.create_call(f"{receiver.url}/cb")
    post = (await receiver.wait_for(1))[0]
    scheme, _, token = post.headers["Authorization"].partition(" ")

    config, keys = await fetch_signing_keys(session, emulator)
    claims = verify(token, keys)

    assert scheme == "Bearer"
    assert config["issuer"] == "https://api.botframework.com"
    assert config["jwks_uri"].startswith(emulator.url + "/")
    assert jwt.get_unverified_header(token)["kid"] == emulator.signing_key_id
    assert claims["tid"] == DEFAULT_TENANT_ID
    assert claims["aud"] == DEFAULT_APP_ID
    assert 3500 <= claims["exp"] - claims["iat"] <= 3700
    assert claims["nbf"] <= time.time()


async def test_signed_test_tokens_fail_as_asked(
    emulator: Emulator, session: aiohttp.ClientSession
) -> None:
    _, keys = await fetch_signing_keys(session, emulator)
    now = int(time.time())
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode(
        {"iss": "https://api.botframework.com", "aud": DEFAULT_APP_ID, "exp": now + 60},
        other_key,
        algorithm="RS256",
        headers={"kid": emulator.signing_key_id},
    )

    with pytest.raises(jwt.ExpiredSignatureError):
        verify(emulator.sign_notification_token(exp=now - 10), keys)
    with pytest.raises(jwt.InvalidAudienceError):
        verify(emulator.sign_notification_token(aud="someone-else"), keys)
    with pytest.raises(jwt.InvalidIssuerError):
        verify(emulator.sign_notification_token(iss="https://evil.example.com"), keys)
    with pytest.raises(jwt.InvalidSignatureError):
        verify(forged, keys)
    assert "tid" not in verify(emulator.sign_notification_token(tid=None), keys)
    assert verify(emulator.sign_notification_token(), keys)["tid"] == DEFAULT_TENANT_ID


# Operations


async def test_prompt_completion_notification(graph: Graph, receiver: Receiver) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")
    started = await graph.action(
        call_id, "playPrompt", {"clientContext": "ctx-1", "prompts": [PROMPT]}
    )

    entries = await receiver.entries_for(call_id, 3)

    entry = entries[2]
    operation_path = f"/communications/calls/{call_id}/operations/{started['id']}"
    assert entry["changeType"] == "deleted"
    assert entry["resourceUrl"] == operation_path
    operation = entry["resourceData"]
    assert operation["@odata.type"] == "#microsoft.graph.playPromptOperation"
    assert operation["@odata.id"] == operation_path
    assert operation["id"] == started["id"]
    assert operation["clientContext"] == "ctx-1"
    assert operation["status"] == "completed"
    assert operation["resultInfo"]["code"] == 200
    assert operation["resultInfo"]["subcode"] == 0


async def test_completed_at_once_sends_no_notification(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")
    for action in ["mute", "unmute", "subscribeToTone", "cancelMediaProcessing"]:
        await graph.action(call_id, action, {})

    await emulator.drain_notifications()

    urls = [post.entry["resourceUrl"] for post in receiver.posts]
    assert not [url for url in urls if "/operations/" in url]


async def test_record_notification_and_download(
    graph: Graph, receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")
    await graph.action(call_id, "recordResponse", {"clientContext": "rec"})

    operation = (await receiver.entries_for(call_id, 3))[2]["resourceData"]

    assert operation["@odata.type"] == "#microsoft.graph.recordOperation"
    assert operation["status"] == "completed"
    assert operation["resultInfo"]["subcode"] == 8515
    auth = {"Authorization": f"Bearer {operation['recordingAccessToken']}"}
    async with session.get(operation["recordingLocation"], headers=auth) as response:
        assert response.status == 200
        assert (await response.read())[:4] == b"RIFF"


async def test_cancel_sends_failed_notifications(
    graph: Graph, receiver: Receiver
) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")
    play = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT]})
    record = await graph.action(call_id, "recordResponse", {})
    await graph.action(call_id, "cancelMediaProcessing", {})

    entries = (await receiver.entries_for(call_id, 4))[2:]

    assert [e["resourceData"]["id"] for e in entries] == [play["id"], record["id"]]
    for entry in entries:
        operation = entry["resourceData"]
        assert entry["changeType"] == "deleted"
        assert operation["status"] == "failed"
        assert operation["resultInfo"]["code"] == 400
        assert operation["resultInfo"]["subcode"] == 8508
    assert entries[1]["resourceData"]["recordingLocation"] == ""


async def test_dtmf_and_gallery_notifications(graph: Graph, receiver: Receiver) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")
    await graph.action(call_id, "sendDtmfTones", {"tones": ["tone1"]})
    await graph.action(call_id, "addLargeGalleryView", {})

    entries = (await receiver.entries_for(call_id, 4))[2:]

    types = sorted(e["resourceData"]["@odata.type"] for e in entries)
    assert types == [
        "#microsoft.graph.addLargeGalleryViewOperation",
        "#microsoft.graph.sendDtmfTonesOperation",
    ]
    dtmf = next(e for e in entries if "Dtmf" in e["resourceData"]["@odata.type"])
    assert dtmf["resourceData"]["completionReason"] == "completedSuccessfully"


# Incoming calls


async def test_ring_sends_created_notification(
    emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await emulator.ring(f"{receiver.url}/incoming")

    entry = (await receiver.entries_for(call_id, 1))[0]

    assert entry["changeType"] == "created"
    data = entry["resourceData"]
    assert data["state"] == "incoming"
    assert data["direction"] == "incoming"
    assert data["source"]["identity"]["user"]["displayName"] == "Emulated Caller"
    assert data["targets"][0]["identity"]["application"]["id"] == DEFAULT_APP_ID
    assert data["requestedModalities"] == ["audio"]
    assert data["chatInfo"] is None
    assert emulator.call_state(call_id) == "incoming"


async def test_ring_group_call_with_caller(
    emulator: Emulator, receiver: Receiver
) -> None:
    caller = {"phone": {"id": "+15555550100"}}

    call_id = await emulator.ring(f"{receiver.url}/cb", caller=caller, group=True)

    data = (await receiver.entries_for(call_id, 1))[0]["resourceData"]
    assert data["source"]["identity"]["phone"] == {"id": "+15555550100"}
    assert data["chatInfo"]["threadId"].startswith("19:meeting_")
    assert data["meetingInfo"]["@odata.type"] == "#microsoft.graph.organizerMeetingInfo"


async def test_answer_notifies_answer_callback(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await emulator.ring(f"{receiver.url}/webhook")
    await receiver.entries_for(call_id, 1)

    await graph.action(
        call_id,
        "answer",
        {
            "callbackUri": f"{receiver.url}/per-call",
            "mediaConfig": SERVICE_HOSTED,
            "acceptedModalities": ["audio"],
        },
    )

    entries = await receiver.entries_for(call_id, 3)
    assert states(entries) == [
        ("created", "incoming"),
        ("updated", "establishing"),
        ("updated", "established"),
    ]
    assert [post.path for post in receiver.posts] == [
        "/webhook",
        "/per-call",
        "/per-call",
    ]


@pytest.mark.parametrize(
    ("action", "body"),
    [
        ("reject", {"reason": "busy"}),
        ("redirect", {"targets": [USER_TARGET]}),
    ],
)
async def test_reject_or_redirect_notifies_deleted(
    graph: Graph,
    emulator: Emulator,
    receiver: Receiver,
    action: str,
    body: dict[str, Any],
) -> None:
    call_id = await emulator.ring(f"{receiver.url}/cb")

    await graph.action(call_id, action, body)

    entries = await receiver.entries_for(call_id, 2)
    assert states(entries) == [("created", "incoming"), ("deleted", "terminated")]
    assert emulator.call_state(call_id) is None


async def test_unanswered_call_times_out_408(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await emulator.ring(f"{receiver.url}/cb", answer_timeout=0.05)

    entries = await receiver.entries_for(call_id, 2)

    assert states(entries) == [("created", "incoming"), ("deleted", "terminated")]
    result = entries[1]["resourceData"]["resultInfo"]
    assert (result["code"], result["subcode"]) == (408, 1106)
    status, body = await graph.post(
        f"/communications/calls/{call_id}/answer",
        {
            "callbackUri": f"{receiver.url}/cb",
            "mediaConfig": SERVICE_HOSTED,
            "acceptedModalities": ["audio"],
        },
    )
    assert status == 404
    assert body["error"]["code"] == "itemNotFound"


async def test_default_answer_timeout_is_setting(receiver: Receiver) -> None:
    async with Emulator(incoming_call_timeout=0.05) as emu:
        call_id = await emu.ring(f"{receiver.url}/cb")

        async with asyncio.timeout(WAIT_TIMEOUT):
            await emu.wait_for_state(call_id, None)

    entries = await receiver.entries_for(call_id, 2)
    assert entries[1]["resourceData"]["resultInfo"]["code"] == 408


async def test_transfer_notification_sequence(graph: Graph, receiver: Receiver) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")

    await graph.action(call_id, "transfer", {"transferTarget": USER_TARGET})

    entries = await receiver.entries_for(call_id, 5)
    assert states(entries)[2:] == [
        ("updated", "transferring"),
        ("updated", "transferAccepted"),
        ("deleted", "terminated"),
    ]
    result = entries[-1]["resourceData"]["resultInfo"]
    assert (result["code"], result["subcode"]) == (200, 7015)


# Far side


async def test_tones_after_subscribe(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")
    await graph.action(call_id, "subscribeToTone", {})

    await emulator.press_tones(call_id, ["tone1", "pound"])

    entries = (await receiver.entries_for(call_id, 4))[2:]
    assert [e["changeType"] for e in entries] == ["updated", "updated"]
    tone_infos = [e["resourceData"]["toneInfo"] for e in entries]
    assert [(t["sequenceId"], t["tone"]) for t in tone_infos] == [
        (1, "tone1"),
        (2, "pound"),
    ]
    assert all(e["resourceData"]["state"] == "established" for e in entries)


async def test_tones_without_subscribe_raise(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call("https://bot.example.com/cb")

    with pytest.raises(EmulatorError, match="subscribeToTone") as caught:
        await emulator.press_tones(call_id, ["tone1"])

    assert caught.value.status == 409


async def test_invalid_tone_raises(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call("https://bot.example.com/cb")
    await graph.action(call_id, "subscribeToTone", {})

    with pytest.raises(EmulatorError, match="hash") as caught:
        await emulator.press_tones(call_id, ["hash"])

    assert caught.value.status == 400


async def test_remote_hang_up(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    call_id = await graph.established_call(f"{receiver.url}/cb")

    await emulator.hang_up_remote(call_id)

    entries = await receiver.entries_for(call_id, 3)
    assert entries[-1]["changeType"] == "deleted"
    result = entries[-1]["resourceData"]["resultInfo"]
    assert (result["code"], result["subcode"]) == (200, 4521)
    status, _ = await graph.post(f"/communications/calls/{call_id}/keepAlive")
    assert status == 404


async def test_remote_hang_up_unknown_call_raises(emulator: Emulator) -> None:
    with pytest.raises(EmulatorError) as caught:
        await emulator.hang_up_remote("no-such-call")

    assert caught.value.status == 404


async def test_ring_rejects_non_https_callback(emulator: Emulator) -> None:
    with pytest.raises(EmulatorError, match="callback_uri") as caught:
        await emulator.ring("http://bot.example.com/cb")

    assert caught.value.status == 400


async def test_wait_for_state_fails_when_call_ends(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await emulator.ring("https://bot.example.com/cb", answer_timeout=0.02)

    with pytest.raises(EmulatorError, match="ended before reaching state established"):
        async with asyncio.timeout(WAIT_TIMEOUT):
            await emulator.wait_for_state(call_id, "established")


async def test_wait_for_operation_fails_when_call_ends(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call("https://bot.example.com/cb")
    started = await graph.action(call_id, "playPrompt", {"prompts": [PROMPT] * 20})

    waiting = asyncio.create_task(emulator.wait_for_operation(call_id, started["id"]))
    await asyncio.sleep(0)
    await emulator.hang_up_remote(call_id)

    with pytest.raises(EmulatorError, match="ended while operation"):
        await waiting


# Delivery


async def test_retry_until_receiver_recovers(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    receiver.failures_left = 2

    call_id = await graph.create_call(f"{receiver.url}/cb")

    entries = await receiver.entries_for(call_id, 1)
    await emulator.drain_notifications()
    assert entries[0]["resourceData"]["state"] == "establishing"
    first = emulator.notifications[0]
    assert first.attempts == 3
    assert first.status == 202
    assert first.delivered
    assert emulator.stats.notification_retries == 2
    assert emulator.stats.notifications_sent >= 1


async def test_unreachable_bot_gives_up(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    url = f"{receiver.url}/cb"
    await receiver.close()

    call_id = await graph.create_call(url)
    await emulator.drain_notifications()

    deliveries = [d for d in emulator.notifications if d.call_id == call_id]
    assert deliveries
    assert all(d.status is None for d in deliveries)
    assert all(
        d.attempts == emulator.settings.notification_attempts for d in deliveries
    )
    assert all(d.error for d in deliveries)
    assert emulator.stats.notifications_failed == len(deliveries)


async def test_bot_4xx_is_not_retried(graph: Graph, emulator: Emulator) -> None:
    async def forbid(request: web.Request) -> web.Response:
        return web.Response(status=403)

    bot = web.Application()
    bot.router.add_post("/cb", forbid)
    runner = web.AppRunner(bot, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]

    try:
        await graph.create_call(f"http://127.0.0.1:{port}/cb")
        await emulator.drain_notifications()
    finally:
        await runner.cleanup()

    first = emulator.notifications[0]
    assert first.status == 403
    assert first.attempts == 1
    assert not first.delivered


async def test_non_loopback_callback_is_skipped(
    graph: Graph, emulator: Emulator
) -> None:
    await graph.create_call("https://bot.example.com/cb")

    await emulator.drain_notifications()

    first = emulator.notifications[0]
    assert first.attempts == 0
    assert first.status is None
    assert first.error is not None
    assert "notify_hosts" in first.error
    assert emulator.stats.notifications_skipped >= 1


async def test_notification_log_is_bounded(receiver: Receiver) -> None:
    async with Emulator(notification_log_size=2, **DELAYS) as emu:
        for _ in range(3):
            await emu.ring(f"{receiver.url}/cb")
        await emu.drain_notifications()

        assert len(emu.notifications) == 2


# Simulation API over HTTP


async def test_http_simulation_api(
    session: aiohttp.ClientSession, emulator: Emulator, receiver: Receiver
) -> None:
    control = f"{emulator.url}/_emulator"

    async with session.post(
        f"{control}/ring", json={"callbackUri": f"{receiver.url}/cb"}
    ) as response:
        assert response.status == 201
        call_id = (await response.json())["id"]
    async with session.get(f"{control}/calls") as response:
        listed = (await response.json())["value"]
    async with session.post(
        f"{control}/calls/{call_id}/tones", json={"tones": ["tone1"]}
    ) as response:
        tones_status = response.status
        tones_error = await response.json()
    async with session.post(f"{control}/calls/{call_id}/hangup") as response:
        hang_up_status = response.status
    async with session.get(f"{control}/stats") as response:
        stats = await response.json()

    assert [(c["id"], c["state"]) for c in listed] == [(call_id, "incoming")]
    assert tones_status == 409
    assert tones_error["error"]["code"] == "notAllowed"
    assert hang_up_status == 204
    assert emulator.call_state(call_id) is None
    assert stats["calls_rung"] == 1
    assert stats["calls_live"] == 0
    entries = await receiver.entries_for(call_id, 2)
    assert states(entries) == [("created", "incoming"), ("deleted", "terminated")]


async def test_http_simulation_errors(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    control = f"{emulator.url}/_emulator"

    async with session.post(f"{control}/ring", json={}) as response:
        missing_callback = response.status
    async with session.post(f"{control}/ring", data="{bad") as response:
        bad_json = response.status
    async with session.post(f"{control}/calls/nope/hangup") as response:
        unknown_call = response.status
        unknown_body = await response.json()

    assert missing_callback == 400
    assert bad_json == 400
    assert unknown_call == 404
    assert unknown_body["error"]["code"] == "itemNotFound"


async def test_http_notification_and_request_logs(
    session: aiohttp.ClientSession, graph: Graph, emulator: Emulator
) -> None:
    await graph.create_call("https://bot.example.com/cb")
    await emulator.drain_notifications()

    async with session.get(f"{emulator.url}/_emulator/notifications") as response:
        notifications = (await response.json())["value"]
    async with session.get(f"{emulator.url}/_emulator/requests") as response:
        requests = (await response.json())["value"]

    assert notifications[0]["change_type"] == "updated"
    assert requests[0]["path"] == "/v1.0/communications/calls"
    assert requests[0]["headers"]["Authorization"] == "[redacted]"

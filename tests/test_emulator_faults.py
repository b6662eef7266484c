"""Fault injection and throttling in the emulator, driven over raw aiohttp."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from calls_async.testing import Emulator, FaultKind

WAIT_TIMEOUT = 3.0
CALLS = "/v1.0/communications/calls"
SERVICE_HOSTED = {"@odata.type": "#microsoft.graph.serviceHostedMediaConfig"}
PROMPT = {
    "@odata.type": "#microsoft.graph.mediaPrompt",
    "mediaInfo": {"uri": "https://media.example.com/menu.wav"},
}
CALL_BODY = {
    "callbackUri": "https://bot.example.com/api/calls",
    "targets": [{"identity": {"user": {"id": "user-1"}}}],
    "requestedModalities": ["audio"],
    "mediaConfig": SERVICE_HOSTED,
}
DELAYS = {"establish_delay": 0.02, "terminate_delay": 0.02, "operation_delay": 0.02}


class Graph:
    def __init__(self, session: aiohttp.ClientSession, emulator: Emulator) -> None:
        self.session = session
        self.emulator = emulator
        self.headers = {"Authorization": f"Bearer {emulator.issue_token()}"}

    async def send(
        self, method: str, path: str, json: Any = None, timeout: float = WAIT_TIMEOUT
    ) -> tuple[int, Any, bytes]:
        """Send a request to a path on the emulator; return status, headers, body."""
        async with self.session.request(
            method,
            self.emulator.url + path,
            json=json,
            headers=self.headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            return response.status, response.headers, await response.read()

    async def create(self, timeout: float = WAIT_TIMEOUT) -> tuple[int, Any, bytes]:
        return await self.send("POST", CALLS, CALL_BODY, timeout)

    async def established_call(self) -> str:
        status, _, raw = await self.create()
        assert status == 201
        call_id = str(json.loads(raw)["id"])
        async with asyncio.timeout(WAIT_TIMEOUT):
            await self.emulator.wait_for_state(call_id, "established")
        return call_id


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(**DELAYS) as emu:
        yield emu


@pytest.fixture
async def graph(emulator: Emulator) -> AsyncIterator[Graph]:
    async with aiohttp.ClientSession() as session:
        yield Graph(session, emulator)


def error_of(raw: bytes) -> dict[str, Any]:
    error: dict[str, Any] = json.loads(raw)["error"]
    return error


# Status faults


async def test_status_with_retry_after_seconds(
    graph: Graph, emulator: Emulator
) -> None:
    emulator.faults.add("status", path=CALLS, status=503, retry_after=1.25)

    status, headers, raw = await graph.create()

    assert status == 503
    assert headers["Retry-After"] == "1.25"
    assert headers["request-id"]
    error = error_of(raw)
    assert error["code"] == "serviceNotAvailable"
    assert error["innerError"]["request-id"] == headers["request-id"]
    assert emulator.stats.calls_created == 0
    assert len(emulator.requests) == 0


async def test_status_with_retry_after_date(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("status", status=503, retry_after=30, retry_after_date=True)

    _, headers, _ = await graph.create()

    moment = email.utils.parsedate_to_datetime(headers["Retry-After"])
    assert 25 <= moment.timestamp() - time.time() <= 35


async def test_status_429_has_throttling_body(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("status", status=429)

    status, headers, raw = await graph.create()

    assert status == 429
    assert "Retry-After" not in headers
    error = error_of(raw)
    assert error["code"] == "TooManyRequests"
    assert error["innerError"]["status"] == "429"


async def test_status_after_processing(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("status", status=500, processed=True)

    status, _, raw = await graph.create()

    assert status == 500
    assert error_of(raw)["code"] == "generalException"
    assert emulator.stats.calls_created == 1
    assert emulator.requests[-1].status == 201


async def test_status_with_custom_code(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("status", status=403, code="7505", message="Tenant mismatch.")

    status, _, raw = await graph.create()

    assert status == 403
    assert error_of(raw)["code"] == "7505"
    assert error_of(raw)["message"] == "Tenant mismatch."


@pytest.mark.parametrize("content_type", ["text/html", "text/plain"])
async def test_proxy_error_page(
    graph: Graph, emulator: Emulator, content_type: str
) -> None:
    emulator.faults.add("proxy_error", content_type=content_type)

    status, headers, raw = await graph.create()

    assert status == 502
    assert headers["Content-Type"].startswith(content_type)
    assert b"502 Bad Gateway" in raw
    assert emulator.stats.calls_created == 0


# Connection faults


async def test_reset_before_processing(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("reset", path=CALLS, method="POST")

    with pytest.raises(aiohttp.ClientConnectionError):
        await graph.create()

    assert emulator.stats.calls_created == 0
    assert len(emulator.requests) == 0


async def test_reset_after_processing(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("reset", path=CALLS, method="POST", processed=True)

    with pytest.raises(aiohttp.ClientConnectionError):
        await graph.create()

    assert emulator.stats.calls_created == 1
    assert emulator.requests[-1].status == 201


async def test_reset_before_processing_leaves_call_unchanged(
    graph: Graph, emulator: Emulator
) -> None:
    call_id = await graph.established_call()
    emulator.faults.add("reset", path=f"{CALLS}/*/playPrompt")

    with pytest.raises(aiohttp.ClientConnectionError):
        await graph.send("POST", f"{CALLS}/{call_id}/playPrompt", {"prompts": [PROMPT]})

    status, _, raw = await graph.send("GET", f"{CALLS}/{call_id}/operations")
    assert status == 200
    assert json.loads(raw)["value"] == []


async def test_stall_until_client_gives_up(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("stall", path=CALLS)

    with pytest.raises(TimeoutError):
        await graph.create(timeout=0.2)
    await asyncio.sleep(0.1)

    assert emulator.stats.calls_created == 0


async def test_stall_released_by_removal(graph: Graph, emulator: Emulator) -> None:
    rule = emulator.faults.add("stall", path=CALLS)
    pending = asyncio.create_task(graph.create())
    await asyncio.sleep(0.1)
    assert not pending.done()

    rule.remove()
    status, _, _ = await pending

    assert status == 201
    assert emulator.stats.calls_created == 1


async def test_slow_reply(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("slow", path=CALLS, delay=0.2)
    started = time.monotonic()

    status, _, _ = await graph.create()

    assert status == 201
    assert time.monotonic() - started >= 0.2


async def test_slow_request_dropped_when_client_gives_up(
    graph: Graph, emulator: Emulator
) -> None:
    emulator.faults.add("slow", path=CALLS, delay=0.3)

    with pytest.raises(TimeoutError):
        await graph.create(timeout=0.1)
    await asyncio.sleep(0.4)

    assert emulator.stats.calls_created == 0


async def test_slow_after_processing(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("slow", path=CALLS, delay=0.3, processed=True)

    with pytest.raises(TimeoutError):
        await graph.create(timeout=0.1)

    assert emulator.stats.calls_created == 1


# Damaged bodies


async def test_invalid_json_body(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("invalid_json", path=CALLS)

    status, headers, raw = await graph.create()

    assert status == 201
    assert headers["Content-Type"].startswith("application/json")
    assert "/communications/calls/" in headers["Location"]
    with pytest.raises(json.JSONDecodeError):
        json.loads(raw)
    assert emulator.stats.calls_created == 1


async def test_invalid_json_before_processing(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("invalid_json", path=CALLS, processed=False)

    status, _, _ = await graph.create()

    assert status == 200
    assert emulator.stats.calls_created == 0


async def test_truncated_body(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("truncated", path=CALLS)

    with pytest.raises(aiohttp.ClientPayloadError):
        await graph.create()

    assert emulator.stats.calls_created == 1


async def test_truncated_body_before_processing(
    graph: Graph, emulator: Emulator
) -> None:
    emulator.faults.add("truncated", path=CALLS, processed=False)

    with pytest.raises(aiohttp.ClientPayloadError):
        await graph.create()

    assert emulator.stats.calls_created == 0


# Matching and lifetime of rules


async def test_first_n_matches(graph: Graph, emulator: Emulator) -> None:
    rule = emulator.faults.add("status", path=CALLS, status=503, times=2)

    statuses = [(await graph.create())[0] for _ in range(3)]

    assert statuses == [503, 503, 201]
    assert rule.applied == 2
    assert rule.remaining == 0


async def test_probability_is_deterministic(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("status", path=CALLS, status=503, probability=0.5, seed=7)
    draws = random.Random(7)
    expected = [503 if draws.random() < 0.5 else 201 for _ in range(12)]

    statuses = [(await graph.create())[0] for _ in range(12)]

    assert statuses == expected
    assert 503 in statuses
    assert 201 in statuses


async def test_method_and_path_filters(graph: Graph, emulator: Emulator) -> None:
    call_id = await graph.established_call()
    emulator.faults.add("status", path="/V1.0/communications/calls/*", method="get")

    get_status, _, _ = await graph.send("GET", f"{CALLS}/{call_id}")
    post_status, _, _ = await graph.send("POST", f"{CALLS}/{call_id}/keepAlive")
    other_status, _, _ = await graph.create()

    assert get_status == 503
    assert post_status == 200
    assert other_status == 201


async def test_first_matching_rule_wins(graph: Graph, emulator: Emulator) -> None:
    first = emulator.faults.add("status", status=500, times=1)
    second = emulator.faults.add("status", status=503)

    statuses = [(await graph.create())[0] for _ in range(2)]

    assert statuses == [500, 503]
    assert first.applied == 1
    assert second.applied == 1


async def test_removed_rule_stops_applying(graph: Graph, emulator: Emulator) -> None:
    with emulator.faults.add("status", status=503) as rule:
        faulted, _, _ = await graph.create()
    after, _, _ = await graph.create()

    assert faulted == 503
    assert after == 201
    assert rule.removed
    assert emulator.faults.rules == []


async def test_control_routes_are_never_faulted(
    graph: Graph, emulator: Emulator
) -> None:
    emulator.faults.add("reset")

    async with graph.session.get(f"{emulator.url}/_emulator/faults") as response:
        listed = await response.json()

    assert response.status == 200
    assert listed["value"][0]["kind"] == "reset"


async def test_token_endpoint_can_be_faulted(emulator: Emulator) -> None:
    emulator.faults.add("status", path="*/oauth2/v2.0/token", status=503)

    async with aiohttp.ClientSession() as session:
        form = {
            "grant_type": "client_credentials",
            "client_id": emulator.app_id,
            "client_secret": emulator.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        async with session.post(emulator.token_url, data=form) as response:
            status = response.status

    assert status == 503
    assert emulator.stats.tokens_issued == 0


async def test_stats_count_faults(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.add("status", times=2)
    emulator.faults.add("invalid_json", times=1)

    for _ in range(4):
        await graph.create()

    assert emulator.stats.faults_applied == {"status": 2, "invalid_json": 1}
    assert emulator.stats.as_dict()["faults_applied"] == {
        "status": 2,
        "invalid_json": 1,
    }


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("explode", {}),
        ("status", {"status": 99}),
        ("status", {"probability": 1.5}),
        ("status", {"times": 0}),
        ("status", {"retry_after": -1}),
        ("slow", {}),
        ("late", {"delay": 0}),
        ("duplicate", {"processed": True}),
        ("proxy_error", {"content_type": "application/json"}),
        ("duplicate", {"method": "POST"}),
        ("reset", {"change_type": "deleted"}),
    ],
)
def test_invalid_rule_raises(
    emulator: Emulator, kind: str, options: dict[str, Any]
) -> None:
    with pytest.raises(ValueError, match=r"fault|invalid"):
        emulator.faults.add(kind, **options)


async def test_faults_over_http(graph: Graph, emulator: Emulator) -> None:
    base = f"{emulator.url}/_emulator/faults"
    session = graph.session
    rule = {"kind": "status", "path": CALLS, "status": 503, "retryAfter": 2, "times": 1}

    async with session.post(base, json=rule) as response:
        added_status = response.status
        added = await response.json()
    faulted, headers, _ = await graph.create()
    async with session.get(base) as response:
        listed = await response.json()
    async with session.delete(f"{base}/{added['id']}") as response:
        removed_status = response.status
    async with session.delete(f"{base}/{added['id']}") as response:
        missing_status = response.status
    async with session.post(base, json={"kind": "explode"}) as response:
        bad_kind_status = response.status
    async with session.post(base, json={"kind": "status", "colour": 1}) as response:
        bad_option_status = response.status
    async with session.post(base, json={"kind": "reset"}) as response:
        assert response.status == 201
    async with session.delete(base) as response:
        cleared_status = response.status

    assert added_status == 201
    assert added["kind"] == "status"
    assert added["remaining"] == 1
    assert faulted == 503
    assert headers["Retry-After"] == "2"
    assert listed["value"][0]["applied"] == 1
    assert removed_status == 204
    assert missing_status == 404
    assert bad_kind_status == 400
    assert bad_option_status == 400
    assert cleared_status == 204
    assert emulator.faults.rules == []


# Notification faults


class Receiver:
    """A callback endpoint that records the resourceUrl of each notification."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        self.url = ""
        self._runner: web.AppRunner | None = None
        self._changed = asyncio.Condition()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/callback", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}/callback"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        async with self._changed:
            self.posts.append(body["value"][0])
            self._changed.notify_all()
        return web.Response(status=202)

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(WAIT_TIMEOUT), self._changed:
            await self._changed.wait_for(lambda: len(self.posts) >= count)
        return self.posts


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    bot = Receiver()
    await bot.start()
    yield bot
    await bot.close()


async def test_notification_delivered_twice(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    emulator.faults.add("duplicate", path="/communications/calls/*", times=1)

    status, _, _ = await graph.send(
        "POST", CALLS, {**CALL_BODY, "callbackUri": receiver.url}
    )
    posts = await receiver.wait_for(3)

    assert status == 201
    states = [post["resourceData"]["state"] for post in posts]
    assert states == ["establishing", "establishing", "established"]
    assert posts[0] == posts[1]
    assert emulator.stats.faults_applied["duplicate"] == 1


async def test_notification_delivered_late(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    emulator.faults.add("late", change_type="updated", delay=0.2, times=1)

    await graph.send("POST", CALLS, {**CALL_BODY, "callbackUri": receiver.url})
    posts = await receiver.wait_for(2)

    states = [post["resourceData"]["state"] for post in posts]
    assert states == ["established", "establishing"]


async def test_late_notification_counts_for_drain(
    graph: Graph, emulator: Emulator, receiver: Receiver
) -> None:
    emulator.faults.add("late", delay=0.1)

    await graph.send("POST", CALLS, {**CALL_BODY, "callbackUri": receiver.url})
    await asyncio.sleep(0.05)
    async with asyncio.timeout(WAIT_TIMEOUT):
        await emulator.drain_notifications()

    assert len(receiver.posts) == 2


# Throttling


async def test_throttle_sliding_window(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.throttle(3, window=0.5)

    statuses = []
    for _ in range(4):
        status, headers, raw = await graph.create()
        statuses.append(status)
    await asyncio.sleep(0.55)
    recovered, _, _ = await graph.create()

    assert statuses == [201, 201, 201, 429]
    assert 0 < float(headers["Retry-After"]) <= 0.5
    error = error_of(raw)
    assert error["code"] == "TooManyRequests"
    assert error["message"] == "Please retry again later."
    assert error["innerError"]["code"] == "429"
    assert error["innerError"]["status"] == "429"
    assert error["innerError"]["request-id"] == headers["request-id"]
    assert recovered == 201
    assert emulator.stats.requests_throttled == 1
    assert emulator.stats.calls_created == 4


async def test_throttle_fixed_window(graph: Graph, emulator: Emulator) -> None:
    emulator.faults.throttle(2, window=0.3, mode="fixed", retry_after=5)

    statuses = []
    for _ in range(3):
        status, headers, _ = await graph.create()
        statuses.append(status)
    await asyncio.sleep(0.35)
    next_window = [(await graph.create())[0] for _ in range(3)]

    assert statuses == [201, 201, 429]
    assert headers["Retry-After"] == "5"
    assert next_window == [201, 201, 429]


async def test_throttle_ignores_control_routes(
    graph: Graph, emulator: Emulator
) -> None:
    emulator.faults.throttle(1, window=10)
    await graph.create()

    async with graph.session.get(f"{emulator.url}/_emulator/stats") as response:
        stats = await response.json()
    throttled, _, _ = await graph.create()

    assert response.status == 200
    assert stats["requests_throttled"] == 0
    assert throttled == 429


async def test_throttle_from_settings() -> None:
    async with (
        Emulator(throttle_limit=1, throttle_window=10) as emulator,
        aiohttp.ClientSession() as session,
    ):
        graph = Graph(session, emulator)

        statuses = [(await graph.create())[0] for _ in range(2)]

        emulator.faults.stop_throttling()
        after, _, _ = await graph.create()

    assert statuses == [201, 429]
    assert after == 201


async def test_throttle_over_http(graph: Graph, emulator: Emulator) -> None:
    url = f"{emulator.url}/_emulator/throttle"
    session = graph.session

    async with session.put(url, json={"limit": 1, "window": 10}) as response:
        set_status = response.status
        throttle = await response.json()
    statuses = [(await graph.create())[0] for _ in range(2)]
    async with session.put(url, json={"limit": 0}) as response:
        bad_status = response.status
    async with session.delete(url) as response:
        stop_status = response.status
    async with session.get(url) as response:
        stopped = await response.json()
    after, _, _ = await graph.create()

    assert set_status == 200
    assert throttle == {"limit": 1, "window": 10, "mode": "sliding", "retryAfter": None}
    assert statuses == [201, 429]
    assert bad_status == 400
    assert stop_status == 204
    assert stopped is None
    assert after == 201


def test_fault_kinds_are_strings() -> None:
    assert FaultKind("reset") is FaultKind.RESET
    assert str(FaultKind.INVALID_JSON) == "invalid_json"

"""The transport under faults: retries, tokens, timeouts, limits, cancellation.

Faults come from small aiohttp.web servers on 127.0.0.1 that misbehave on purpose
(stall, reset, throttle, answer with a proxy's HTML page), so each test controls the
exact wire behaviour it checks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import attrs
import pytest
from aiohttp import web

from calls_async import (
    AuthenticationError,
    CallsClient,
    ClientClosedError,
    ConnectError,
    HTTPStatusError,
    PoolTimeout,
    ReadError,
    RecordOperation,
    RequestTimeout,
    RetryPolicy,
    ServerError,
    TooManyRequestsError,
    UnauthorizedError,
)
from calls_async._auth import TokenCache
from calls_async._http import _RequestSlots
from calls_async._retry import RetryPolicy as _Policy
from calls_async.testing import Emulator

CALLBACK = "http://127.0.0.1:9/calls"
CALL_ID = "a1b2c3d4-0000-4000-8000-00000000c002"
OPERATION = (
    b'{"@odata.type":"#microsoft.graph.playPromptOperation","id":"op-1",'
    b'"status":"completed","clientContext":"c"}'
)
FAST = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05, deadline=5)


@attrs.define
class _Token:
    token: str
    expires_on: int


@attrs.define
class CountingCredential:
    """A credential that hands out numbered tokens and counts its calls."""

    delay: float = 0.0
    calls: int = 0
    tokens: list[str] = attrs.field(factory=list)

    async def get_token(self, *scopes: str, **kwargs: Any) -> _Token:
        self.calls += 1
        await asyncio.sleep(self.delay)
        token = f"token-{self.calls}"
        self.tokens.append(token)
        return _Token(token, int(time.time()) + 3600)


@attrs.define
class Stub:
    """A loopback server whose handler each test sets."""

    url: str
    seen: list[web.Request] = attrs.field(factory=list)
    in_flight: int = 0
    peak: int = 0


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def stub_server() -> AsyncIterator[Callable[[Handler], Awaitable[Stub]]]:
    runners: list[web.AppRunner] = []

    async def start(handler: Handler) -> Stub:
        stub = Stub(url="")

        async def counting(request: web.Request) -> web.StreamResponse:
            stub.seen.append(request)
            stub.in_flight += 1
            stub.peak = max(stub.peak, stub.in_flight)
            try:
                return await handler(request)
            finally:
                stub.in_flight -= 1

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", counting)
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        stub.url = f"http://127.0.0.1:{runner.addresses[0][1]}/v1.0"
        return stub

    yield start
    for runner in runners:
        await runner.cleanup()


def _client(url: str, credential: Any = None, **options: Any) -> CallsClient:
    options.setdefault("retry", FAST)
    return CallsClient(
        credential or CountingCredential(),
        callback_uri=CALLBACK,
        base_url=url,
        **options,
    )


def _json(body: bytes, status: int = 200, **headers: str) -> web.Response:
    return web.Response(
        body=body, status=status, content_type="application/json", headers=headers
    )


THROTTLED = (
    b'{"error":{"code":"TooManyRequests","message":"Please retry again later."}}'
)


# -- retry classification -------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "error", "expected"),
    [
        ("GET", ConnectError("x"), True),
        ("POST", ConnectError("x"), True),
        ("GET", ReadError("x"), True),
        ("POST", ReadError("x"), False),
        ("DELETE", RequestTimeout("x"), True),
        ("POST", RequestTimeout("x"), False),
        ("POST", TooManyRequestsError(429), True),
        ("GET", ServerError(503), True),
        ("GET", ServerError(504), True),
        ("GET", ServerError(500), False),
        ("POST", ServerError(503), False),
        ("POST", PoolTimeout("x"), False),
    ],
)
def test_retry_classification(method: str, error: Any, expected: bool) -> None:
    assert _Policy().should_retry(method, error) is expected


def test_opt_in_retries_posts_after_send() -> None:
    policy = RetryPolicy(retry_after_send=True)
    assert policy.should_retry("POST", ReadError("x"))
    assert policy.should_retry("POST", ServerError(503))


def test_retry_after_delay_has_small_jitter() -> None:
    delays = [
        _Policy().delay(1, TooManyRequestsError(429, retry_after=2.5))
        for _ in range(50)
    ]
    assert all(2.5 <= d <= 2.75 for d in delays)
    assert len(set(delays)) > 1


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0)
    assert all(0 <= policy.delay(1, ConnectError("x")) <= 1.0 for _ in range(20))
    assert all(0 <= policy.delay(10, ConnectError("x")) <= 4.0 for _ in range(20))


def test_invalid_retry_policy() -> None:
    with pytest.raises(ValueError, match="attempts"):
        RetryPolicy(attempts=0)
    with pytest.raises(ValueError, match="deadline"):
        RetryPolicy(deadline=-1)


# -- retries on the wire --------------------------------------------------------------


async def test_post_retried_on_429_with_same_request_id(
    stub_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async def handler(request: web.Request) -> web.Response:
        if len(stub.seen) < 3:
            return _json(THROTTLED, 429, **{"Retry-After": "0.02"})
        return _json(OPERATION)

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        with caplog.at_level(logging.WARNING, "calls_async.http"):
            op = await client.calls[CALL_ID].play_prompt(
                ["https://media.example.com/a.wav"]
            )
    assert op.done()
    ids = {r.headers["client-request-id"] for r in stub.seen}
    assert len(stub.seen) == 3
    assert len(ids) == 1
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert "HTTP 429" in retries[0].getMessage()
    assert ids.pop() in retries[0].getMessage()


async def test_retry_after_http_date_is_honoured(stub_server: Any) -> None:
    arrivals: list[float] = []

    async def handler(request: web.Request) -> web.Response:
        arrivals.append(time.time())
        if len(stub.seen) == 1:
            # Two seconds ahead, so the whole-second date is at least one second on.
            when = time.strftime(
                "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 2)
            )
            return _json(THROTTLED, 429, **{"Retry-After": when})
        return _json(b'{"id":"c","state":"established"}')

    stub = await stub_server(handler)
    async with _client(stub.url, retry=RetryPolicy(max_delay=5, deadline=10)) as client:
        await client.calls.get(CALL_ID)
    assert len(stub.seen) == 2
    assert arrivals[1] - arrivals[0] >= 0.9


async def test_post_not_retried_on_503(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(
            status=503, text="Service Unavailable", content_type="text/plain"
        )

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        with pytest.raises(ServerError) as info:
            await client.calls[CALL_ID].keep_alive()
    assert len(stub.seen) == 1
    assert info.value.body == "Service Unavailable"


async def test_get_retried_on_503_then_gives_up(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=503, text="busy")

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        with pytest.raises(ServerError):
            await client.calls.get(CALL_ID)
    assert len(stub.seen) == FAST.attempts


async def test_post_retried_after_send_when_opted_in(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        if len(stub.seen) == 1:
            return web.Response(status=504, text="gateway timeout")
        return _json(OPERATION)

    stub = await stub_server(handler)
    policy = RetryPolicy(retry_after_send=True, base_delay=0.01)
    async with _client(stub.url) as client:
        call = client.calls[CALL_ID]
        op = await call.play_prompt(["https://media.example.com/a.wav"], retry=policy)
    assert op.done()
    assert len(stub.seen) == 2


async def test_deadline_stops_retries(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return _json(THROTTLED, 429, **{"Retry-After": "5"})

    stub = await stub_server(handler)
    async with _client(stub.url, retry=RetryPolicy(deadline=1)) as client:
        with pytest.raises(TooManyRequestsError) as info:
            await client.calls.get(CALL_ID)
    assert info.value.retry_after == 5
    assert len(stub.seen) == 1


async def test_reset_connection_retried_for_get(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if len(stub.seen) == 1:
            assert request.transport is not None
            request.transport.close()
            await asyncio.sleep(0.05)
        return _json(b'{"id":"c","state":"established"}')

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        await client.calls.get(CALL_ID)
    assert len(stub.seen) == 2


async def test_reset_connection_not_retried_for_post(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        assert request.transport is not None
        request.transport.close()
        await asyncio.sleep(0.05)
        return web.Response()

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        with pytest.raises(ReadError):
            await client.calls[CALL_ID].play_prompt(["https://media.example.com/a.wav"])
    assert len(stub.seen) == 1


async def test_connect_error_retried_for_post() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    credential = CountingCredential()
    async with _client(f"http://127.0.0.1:{port}/v1.0", credential) as client:
        with pytest.raises(ConnectError, match="not sent"):
            await client.calls[CALL_ID].keep_alive()


# -- tokens -------------------------------------------------------------------------


async def test_thousand_first_requests_one_token(emulator: Emulator) -> None:
    credential = CountingCredential(delay=0.05)

    class _EmulatorToken:
        def __init__(self) -> None:
            self.inner = emulator.credential()

        async def get_token(self, *scopes: str, **kwargs: Any) -> Any:
            credential.calls += 1
            await asyncio.sleep(0.05)
            return await self.inner.get_token(*scopes)

    wrapper = _EmulatorToken()
    async with _client(emulator.base_url, wrapper) as client:
        results = await asyncio.gather(
            *(client.calls.get(f"missing-{i}") for i in range(1000)),
            return_exceptions=True,
        )
    await wrapper.inner.close()
    assert credential.calls == 1
    assert all(getattr(r, "status", None) == 404 for r in results)


async def test_rejected_token_refreshed_once(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.headers["Authorization"] == "Bearer token-1":
            body = (
                b'{"error":{"code":"InvalidAuthenticationToken","message":"expired"}}'
            )
            return _json(body, 401)
        return _json(b'{"id":"c","state":"established"}')

    stub = await stub_server(handler)
    credential = CountingCredential()
    async with _client(stub.url, credential) as client:
        await client.calls.get(CALL_ID)
    assert credential.calls == 2
    assert [r.headers["Authorization"] for r in stub.seen] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_rejected_token_twice_raises(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        return _json(
            b'{"error":{"code":"InvalidAuthenticationToken","message":"bad"}}', 401
        )

    stub = await stub_server(handler)
    credential = CountingCredential()
    async with _client(stub.url, credential) as client:
        with pytest.raises(UnauthorizedError) as info:
            await client.calls.get(CALL_ID)
    assert len(stub.seen) == 2
    for token in credential.tokens:
        assert token not in str(info.value)


async def test_token_waiters_share_one_fetch() -> None:
    credential = CountingCredential(delay=0.05)
    tokens = TokenCache(credential)
    loop = asyncio.get_running_loop()
    resumed: list[float] = []

    async def wait_for_token() -> str:
        token = await tokens.get()
        resumed.append(loop.time())
        return token

    waiters = [asyncio.ensure_future(wait_for_token()) for _ in range(50)]
    await asyncio.sleep(0.01)
    waiters[0].cancel()  # the caller that started the fetch goes away
    results = await asyncio.gather(*waiters, return_exceptions=True)
    assert isinstance(results[0], asyncio.CancelledError)
    assert results[1:] == ["token-1"] * 49
    assert credential.calls == 1
    # Released by one done callback, not one per event-loop turn as with a lock.
    assert max(resumed) - min(resumed) < 0.005
    assert tokens._fetching is None


async def test_token_failure_reaches_every_waiter_then_fetches_again() -> None:
    class FailingOnce(CountingCredential):
        async def get_token(self, *scopes: str, **kwargs: Any) -> _Token:
            if self.calls == 0:
                self.calls += 1
                await asyncio.sleep(0.01)
                raise ValueError("tenant not found")
            return await super().get_token(*scopes, **kwargs)

    credential = FailingOnce()
    tokens = TokenCache(credential)
    results = await asyncio.gather(
        *(tokens.get() for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, AuthenticationError) for r in results)
    assert "tenant not found" in str(results[0])
    assert await tokens.get() == "token-2"


async def test_closing_the_token_cache_stops_a_running_fetch() -> None:
    tokens = TokenCache(CountingCredential(delay=30))
    waiter = asyncio.ensure_future(tokens.get())
    await asyncio.sleep(0.01)
    fetching = tokens._fetching
    assert fetching is not None
    await tokens.aclose()
    assert fetching.cancelled()
    with pytest.raises(ClientClosedError, match="waited for a token"):
        await waiter


async def test_closing_the_client_fails_waiting_requests_as_closed(
    stub_server: Any,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    stub = await stub_server(handler)
    # Requests waiting for a token and requests waiting for a connection.
    slow_token = _client(stub.url, CountingCredential(delay=5))
    for_token = [
        asyncio.ensure_future(slow_token.calls[f"t{i}"].keep_alive()) for i in range(3)
    ]
    busy = _client(stub.url, connection_limit=1, pool_timeout=5)
    for_connection = [
        asyncio.ensure_future(busy.calls[f"c{i}"].keep_alive()) for i in range(4)
    ]
    await asyncio.sleep(0.2)
    await slow_token.aclose()
    await busy.aclose()
    token_results = await asyncio.gather(*for_token, return_exceptions=True)
    connection_results = await asyncio.gather(*for_connection, return_exceptions=True)
    assert [type(r) for r in token_results] == [ClientClosedError] * 3
    assert [type(r) for r in connection_results] == [ClientClosedError] * 4
    assert "in flight" in str(connection_results[0])
    assert all("before it was sent" in str(r) for r in connection_results[1:])
    assert len(stub.seen) == 1


async def test_pool_wait_outside_request_timeout(
    stub_server: Any,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        if request.path.endswith("/slow/keepAlive"):
            await asyncio.sleep(0.5)
        return web.Response()

    stub = await stub_server(handler)
    async with _client(
        stub.url, connection_limit=1, pool_timeout=5, timeout=0.4
    ) as client:
        # The first request keeps the only connection for longer than the second
        # request's timeout; the second waits, is sent, and succeeds.
        slow = asyncio.ensure_future(client.calls["slow"].keep_alive(timeout=2))
        await asyncio.sleep(0.05)
        await client.calls["fast"].keep_alive()
        await slow
    assert [r.path.split("/")[-2] for r in stub.seen] == ["slow", "fast"]


async def test_token_timeout_is_authentication_error(stub_server: Any) -> None:
    stub = await stub_server(lambda request: asyncio.sleep(0, _json(b"{}")))
    async with _client(
        stub.url, CountingCredential(delay=5), token_timeout=0.05
    ) as client:
        with pytest.raises(AuthenticationError, match="within"):
            await client.calls.get(CALL_ID)


def test_client_built_before_the_loop_runs() -> None:
    credential = CountingCredential()
    client = CallsClient(
        credential, callback_uri=CALLBACK, base_url="http://127.0.0.1:9/v1.0"
    )

    async def use() -> None:
        async with client:
            with pytest.raises(ConnectError):
                await client.calls.get(CALL_ID, retry=RetryPolicy.none())

    asyncio.run(use())
    assert credential.calls == 1


# -- nothing hangs -----------------------------------------------------------------


async def test_stalled_reply_times_out(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    stub = await stub_server(handler)
    async with _client(stub.url, timeout=0.2) as client:
        started = time.monotonic()
        with pytest.raises(RequestTimeout):
            await client.calls[CALL_ID].keep_alive()
    assert time.monotonic() - started < 2


async def test_pool_timeout_says_so(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return _json(b'{"id":"c","state":"established"}')

    stub = await stub_server(handler)
    async with _client(stub.url, connection_limit=1, pool_timeout=0.05) as client:
        slow = asyncio.ensure_future(client.calls.get(CALL_ID))
        await asyncio.sleep(0.05)
        with pytest.raises(PoolTimeout, match="connection_limit"):
            await client.calls.get("other-call")
        await slow
    assert len(stub.seen) == 1


async def test_html_error_page_is_kept(stub_server: Any) -> None:
    page = "<html><body><h1>502 Bad Gateway</h1></body></html>"

    async def handler(request: web.Request) -> web.Response:
        return web.Response(status=502, text=page, content_type="text/html")

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        with pytest.raises(ServerError) as info:
            await client.calls[CALL_ID].keep_alive()
    assert info.value.status == 502
    assert info.value.body == page
    assert info.value.code is None


async def test_empty_replies_are_read(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        status = 204 if request.method == "DELETE" else 202
        return web.Response(status=status)

    stub = await stub_server(handler)
    async with _client(stub.url) as client:
        call = client.calls[CALL_ID]
        await call.reject()
        await call.hang_up()
    assert [r.method for r in stub.seen] == ["POST", "DELETE"]


# -- cancellation and limits -----------------------------------------------------------


async def test_cancelled_requests_leak_nothing(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    stub = await stub_server(handler)
    async with _client(stub.url, connection_limit=10) as client:
        tasks = [
            asyncio.ensure_future(client.calls[f"c{i}"].keep_alive()) for i in range(50)
        ]
        await asyncio.sleep(0.2)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        session = client._transport._session
        assert session is not None
        connector = session.connector
        assert connector is not None
        assert len(connector._acquired) == 0
        slots = client._transport._slots
        assert (slots.free, slots.waiting) == (10, 0)
    # The stub server's own handler tasks are still waiting; only client tasks count.
    client_tasks = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and not t.get_coro().__qualname__.startswith("RequestHandler.")  # type: ignore[union-attr]
    ]
    assert client_tasks == []


async def test_in_flight_requests_stay_within_limit(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.005)
        return web.Response(status=200)

    stub = await stub_server(handler)
    async with _client(stub.url, connection_limit=20, pool_timeout=30) as client:
        await asyncio.gather(*(client.calls[f"c{i}"].keep_alive() for i in range(1000)))
    assert len(stub.seen) == 1000
    assert stub.peak <= 20


# -- credentials stay home ------------------------------------------------------


async def test_recording_redirect_drops_token(stub_server: Any) -> None:
    async def storage(request: web.Request) -> web.Response:
        return web.Response(body=b"RIFF....", content_type="application/octet-stream")

    other = await stub_server(storage)

    async def recordings(request: web.Request) -> web.Response:
        raise web.HTTPFound(other.url + "/blob/1")

    home = await stub_server(recordings)
    record = RecordOperation(
        id="op",
        status="completed",
        recording_location=home.url + "/recordings/1",
        recording_access_token="recording-secret",
    )
    async with _client(home.url) as client:
        audio = await client.calls[CALL_ID].download_recording(record)
    assert audio == b"RIFF...."
    assert home.seen[0].headers["Authorization"] == "Bearer recording-secret"
    assert "Authorization" not in other.seen[0].headers


async def test_graph_redirect_is_not_followed(stub_server: Any) -> None:
    async def elsewhere(request: web.Request) -> web.Response:
        return _json(b"{}")

    other = await stub_server(elsewhere)

    async def handler(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(other.url + "/communications/calls")

    home = await stub_server(handler)
    async with _client(home.url) as client:
        with pytest.raises(HTTPStatusError) as info:
            await client.calls.get(CALL_ID)
    assert info.value.status == 307
    assert other.seen == []


async def test_recording_location_must_be_https(stub_server: Any) -> None:
    record = RecordOperation(
        id="op",
        status="completed",
        recording_location="http://recordings.example.com/1",
        recording_access_token="t",
    )
    async with _client("http://127.0.0.1:9/v1.0") as client:
        with pytest.raises(ValueError, match="https"):
            await client.calls[CALL_ID].download_recording(record)


async def test_session_passed_in_gets_no_close(stub_server: Any) -> None:
    stub = await stub_server(lambda request: asyncio.sleep(0, web.Response()))
    async with aiohttp.ClientSession() as session:
        async with _client(stub.url, session=session) as client:
            await client.calls[CALL_ID].keep_alive()
        assert not session.closed


async def test_pool_timeout_with_a_callers_session(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(1)
        return _json(b'{"id":"c","state":"established"}')

    stub = await stub_server(handler)
    # The caller's connector allows 10 connections, but connection_limit still
    # limits the client to one request in flight.
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=10)
    ) as session:
        async with _client(
            stub.url, session=session, connection_limit=1, pool_timeout=0.05
        ) as client:
            slow = asyncio.ensure_future(client.calls.get(CALL_ID))
            await asyncio.sleep(0.05)
            with pytest.raises(PoolTimeout, match="connection_limit"):
                await client.calls.get("other-call")
            await slow
            slots = client._transport._slots
            assert slots is not None
            assert (slots.free, slots.waiting) == (1, 0)
    assert len(stub.seen) == 1


async def test_callers_session_cancel_frees_slots(
    stub_server: Any,
) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response()

    stub = await stub_server(handler)
    async with aiohttp.ClientSession() as session:
        async with _client(stub.url, session=session, connection_limit=3) as client:
            tasks = [
                asyncio.ensure_future(client.calls[f"c{i}"].keep_alive())
                for i in range(12)
            ]
            await asyncio.sleep(0.2)
            slots = client._transport._slots
            assert slots is not None
            assert (slots.free, slots.waiting) == (0, 9)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            assert (slots.free, slots.waiting) == (3, 0)


async def test_busy_workers_do_not_starve_waiting_requests(stub_server: Any) -> None:
    async def handler(request: web.Request) -> web.Response:
        await asyncio.sleep(0.005)
        return web.Response()

    stub = await stub_server(handler)
    async with _client(stub.url, connection_limit=1) as client:

        async def worker(name: str) -> None:
            for _ in range(5):
                await client.calls[name].keep_alive()

        await asyncio.gather(*(worker(f"w{i}") for i in range(4)))
    order = [r.path.split("/")[-2] for r in stub.seen]
    # Served in turn: a worker that just finished a request queues behind the
    # others instead of taking the freed connection again at once.
    assert order[:8] == ["w0", "w1", "w2", "w3"] * 2
    assert len(order) == 20


async def test_request_slots_are_handed_out_in_order() -> None:
    slots = _RequestSlots(1, timeout=5.0)
    assert slots.try_take()
    first, second = slots.wait(), slots.wait()
    assert not slots.try_take()  # no request jumps the queue
    slots.release()
    assert first.result() is True
    assert not second.done()
    slots.release()
    assert second.result() is True
    slots.release()
    assert (slots.free, slots.waiting) == (1, 0)


async def test_cancelled_slot_wait_passes_a_granted_slot_on() -> None:
    slots = _RequestSlots(1, timeout=5.0)
    assert slots.try_take()
    granted, cancelled, next_in_line = slots.wait(), slots.wait(), slots.wait()
    cancelled.cancel()
    slots.release()
    assert granted.result() is True
    # The task that owned `granted` was cancelled before it could run: the slot
    # goes to the next live waiter, skipping the cancelled one.
    slots.abandon(granted)
    assert next_in_line.result() is True
    slots.abandon(cancelled)  # a cancelled wait held no slot
    slots.release()
    assert (slots.free, slots.waiting) == (1, 0)


async def test_slot_waits_time_out_in_order() -> None:
    slots = _RequestSlots(1, timeout=0.05)
    assert slots.try_take()
    early = slots.wait()
    await asyncio.sleep(0.03)
    late = slots.wait()
    assert await early is False
    assert not late.done()
    assert await late is False
    slots.release()
    assert (slots.free, slots.waiting) == (1, 0)

"""pytest fixtures that test a bot against the local calls emulator.

calls-async registers this module as the pytest plugin ``calls_async`` (a
``pytest11`` entry point), so its fixtures are available in every test of a project
that has the package installed, without an import:

- ``calls_emulator_settings``: the keyword arguments of ``Emulator(...)`` for
  ``calls_emulator``, quick timings by default (:data:`QUICK_EMULATOR_SETTINGS`).
  Override this fixture in a conftest.py to change them for many tests.
- ``calls_emulator``: a started :class:`~calls_async.testing.Emulator` on 127.0.0.1
  with a free port. Mark a test ``@pytest.mark.calls_emulator(prompt_duration=1.0)``
  to change settings for that test, class or module; the marker wins over the
  fixture.
- ``calls_client``: a :class:`~calls_async.CallsClient` for the emulator, with a
  credential from the emulator's token endpoint and quick operation polling.
- ``calls_bot``: an async factory. ``bot = await calls_bot(handler)`` registers
  ``handler`` as the client's incoming-call handler, serves the webhook on a
  loopback port with token checking on, points ``calls_client.callback_uri`` at it
  and returns a :class:`CallsBot`. From then on calls and operations follow
  notifications.

Every fixture is function-scoped and closed at the end of its test. The async
fixtures need pytest-asyncio (``pip install 'calls-async[pytest]'``). They work in
its auto mode and in its strict mode; in strict mode mark each test that uses them
with ``@pytest.mark.asyncio``.

At start-up this module imports only pytest and pytest-asyncio. The emulator, the
webhook and ``aiohttp.web`` are imported when a fixture first runs.

NOTE: importing this module runs ``calls_async/__init__.py``, which imports the
client and with it aiohttp's client modules, in every pytest run of a project that
has calls-async installed.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pytest

try:
    from pytest_asyncio import fixture as _asyncio_fixture
except ImportError:  # pragma: no cover - exercised only without pytest-asyncio
    _asyncio_fixture = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from aiohttp import web

    from calls_async import Call, CallsClient
    from calls_async.testing import Emulator
    from calls_async.webhook import CallbackHandler

__all__ = [
    "QUICK_EMULATOR_SETTINGS",
    "CallsBot",
    "CallsBotFactory",
    "IncomingCallHandler",
    "calls_bot",
    "calls_client",
    "calls_emulator",
    "calls_emulator_settings",
]

QUICK_EMULATOR_SETTINGS: Mapping[str, Any] = {
    "establish_delay": 0.01,
    "terminate_delay": 0.01,
    "transfer_delay": 0.01,
    "prompt_duration": 0.05,
    "record_duration": 0.05,
    "operation_delay": 0.01,
    "incoming_call_timeout": 5.0,
    "notification_retry_backoff": 0.01,
}
"""The default ``calls_emulator_settings``: delays of 10 to 50 ms, so that a call
flow takes a fraction of a second, and 5 s for the bot to answer a ringing call."""

MARKER = "calls_emulator"

# The webhook path and the callback URI the client has before a bot serves it. The
# emulator sends notifications only to loopback hosts, so it skips this one.
WEBHOOK_PATH = "/calls"
UNSERVED_CALLBACK_URI = "https://calls-bot.invalid/calls"

IncomingCallHandler = Callable[["Call"], Awaitable[None]]
FunctionT = TypeVar("FunctionT", bound=Callable[..., Any])


def _async_fixture(function: FunctionT) -> FunctionT:
    """Declare an async fixture that pytest-asyncio runs in auto and strict mode."""
    decorate: Any = pytest.fixture
    if _asyncio_fixture is not None:
        decorate = _asyncio_fixture
    fixture: FunctionT = decorate(function)
    return fixture


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{MARKER}(**settings): EmulatorSettings fields for the calls_emulator "
        "fixture of this test, class or module, such as prompt_duration=1.0",
    )


def _marker_settings(node: pytest.Item) -> dict[str, Any]:
    """Merge the settings of every calls_emulator marker, the closest one last."""
    settings: dict[str, Any] = {}
    for marker in reversed(list(node.iter_markers(MARKER))):
        if marker.args:
            raise TypeError(
                f"@pytest.mark.{MARKER} takes keyword arguments only, not "
                f"{marker.args!r}; write it as "
                f"@pytest.mark.{MARKER}(prompt_duration=1.0)"
            )
        settings.update(marker.kwargs)
    return settings


class CallsBot:
    """The bot under test: a client whose webhook the emulator posts to.

    Get one from the ``calls_bot`` fixture. The methods play the far side of calls
    through the emulator.
    """

    def __init__(
        self,
        client: CallsClient,
        emulator: Emulator,
        webhook: CallbackHandler,
        callback_uri: str,
    ) -> None:
        self.client = client
        """The ``calls_client`` fixture, which receives the notifications."""
        self.emulator = emulator
        """The ``calls_emulator`` fixture."""
        self.webhook = webhook
        """The webhook's handler, with its ``accepted`` and ``rejected`` counts."""
        self.callback_uri = callback_uri
        """The webhook's URL, such as http://127.0.0.1:PORT/calls."""
        self.handler_errors: list[Exception] = []
        """Exceptions raised by the incoming-call handler, oldest first."""
        self._reported = 0
        self._rung: list[str] = []
        self._started: set[str] = set()
        self._running = 0
        self._handlers_changed = asyncio.Event()

    def __repr__(self) -> str:
        return f"<CallsBot callback_uri={self.callback_uri!r}>"

    def _wrap(self, handler: IncomingCallHandler) -> IncomingCallHandler:
        async def run_handler(call: Call) -> None:
            self._started.add(call.id.lower())
            self._running += 1
            self._handlers_changed.set()
            try:
                await handler(call)
            except Exception as err:
                self.handler_errors.append(err)
                raise
            finally:
                self._running -= 1
                self._handlers_changed.set()

        return run_handler

    async def ring(
        self,
        *,
        caller: Mapping[str, Any] | None = None,
        group: bool = False,
        modalities: Sequence[str] = ("audio",),
        answer_timeout: float | None = None,
    ) -> Call:
        """Ring the bot with an incoming call and return the client's handle to it.

        The arguments are those of :meth:`Emulator.ring
        <calls_async.testing.Emulator.ring>`. The handler receives the same
        :class:`~calls_async.Call` object, once the notification has arrived.
        """
        call_id = await self.emulator.ring(
            self.callback_uri,
            caller=caller,
            group=group,
            modalities=modalities,
            answer_timeout=answer_timeout,
        )
        self._rung.append(call_id)
        return self.client.calls[call_id]

    async def press_tones(
        self, call: Call | str, tones: Sequence[str], *, timeout: float = 10.0
    ) -> None:
        """Press DTMF tones on the far side, such as ``["tone1", "pound"]``.

        Waits up to ``timeout`` seconds for the call to be established and for the
        bot to subscribe to tones, which the emulator requires first.

        Raises:
            EmulatorError: the call has ended or a tone is invalid.
            TimeoutError: the bot did not subscribe to tones within ``timeout``.
        """
        from calls_async.testing import EmulatorError

        call_id = call if isinstance(call, str) else call.id
        names = [str(tone) for tone in tones]
        async with asyncio.timeout(timeout):
            while True:
                try:
                    await self.emulator.press_tones(call_id, names)
                    return
                except EmulatorError as err:
                    # 409: not established yet, or no subscribeToTone yet.
                    if err.status != 409:
                        raise
                await asyncio.sleep(0.01)

    async def hang_up_remote(self, call: Call | str) -> None:
        """End the call from the far side (resultInfo 200/4521)."""
        call_id = call if isinstance(call, str) else call.id
        await self.emulator.hang_up_remote(call_id)

    async def wait_for_handlers(self, timeout: float = 10.0) -> None:
        """Wait until the handler has run and returned for every call rung so far.

        Raises:
            Exception: the first error a handler raised since the last check, or
                an ``ExceptionGroup`` of all of them when there are several.
            TimeoutError: a handler has not started or not returned within
                ``timeout`` seconds; the message names the calls.
        """
        try:
            async with asyncio.timeout(timeout):
                while not self._all_started() or self._running:
                    self._handlers_changed.clear()
                    await self._handlers_changed.wait()
        except TimeoutError:
            waiting = [c for c in self._rung if c.lower() not in self._started]
            raise TimeoutError(
                f"incoming call handlers not done after {timeout} s: "
                f"{self._running} running, not started for calls {waiting}"
            ) from None
        self.raise_handler_errors()

    def _all_started(self) -> bool:
        return all(call_id.lower() in self._started for call_id in self._rung)

    def raise_handler_errors(self) -> None:
        """Raise the handler errors not raised yet, so the test fails on them."""
        errors = self.handler_errors[self._reported :]
        self._reported = len(self.handler_errors)
        if len(errors) == 1:
            raise errors[0]
        if errors:
            raise ExceptionGroup("incoming call handlers failed", errors)


class CallsBotFactory(Protocol):
    """The type of the ``calls_bot`` fixture, for annotating a test's argument."""

    def __call__(
        self, handler: IncomingCallHandler | None = None, *, path: str = WEBHOOK_PATH
    ) -> Awaitable[CallsBot]: ...


@pytest.fixture
def calls_emulator_settings() -> Mapping[str, Any]:
    """Keyword arguments of ``Emulator(...)``; override this fixture to change them."""
    return dict(QUICK_EMULATOR_SETTINGS)


@_async_fixture
async def calls_emulator(
    request: pytest.FixtureRequest, calls_emulator_settings: Mapping[str, Any]
) -> AsyncIterator[Emulator]:
    """A started emulator on 127.0.0.1, closed after the test."""
    from calls_async.testing import Emulator

    settings = {**calls_emulator_settings, **_marker_settings(request.node)}
    async with Emulator("127.0.0.1", 0, **settings) as emulator:
        yield emulator


@_async_fixture
async def calls_client(calls_emulator: Emulator) -> AsyncIterator[CallsClient]:
    """A client for ``calls_emulator``, closed after the test.

    Its callback URI is a placeholder that receives nothing, until ``calls_bot``
    serves a webhook; until then calls follow their state by polling.
    """
    from calls_async import CallsClient, PollingPolicy

    async with calls_emulator.credential() as credential:
        async with CallsClient(
            credential,
            callback_uri=UNSERVED_CALLBACK_URI,
            base_url=calls_emulator.base_url,
            timeout=10.0,
            operation_timeout=10.0,
            polling=PollingPolicy(initial_delay=0.02, max_delay=0.2),
        ) as client:
            yield client


@_async_fixture
async def calls_bot(
    calls_emulator: Emulator, calls_client: CallsClient
) -> AsyncIterator[CallsBotFactory]:
    """An async factory that serves ``calls_client`` as a bot behind a webhook.

    ``await calls_bot(handler, path="/calls")`` may be called once per test;
    ``handler`` may be None for a bot that only places calls. After the test the
    webhook stops, and a handler error not yet raised by
    :meth:`CallsBot.wait_for_handlers` fails the test at teardown.
    """
    from aiohttp import web

    from calls_async.webhook import HANDLER_KEY, create_app

    runners: list[web.AppRunner] = []
    bots: list[CallsBot] = []

    async def start_bot(
        handler: IncomingCallHandler | None = None, *, path: str = WEBHOOK_PATH
    ) -> CallsBot:
        if bots:
            raise RuntimeError(
                "calls_bot was already called in this test; it serves one webhook "
                "for calls_client. Register another handler with "
                "bot.client.on_incoming_call(handler)"
            )
        app = create_app(
            calls_client,
            path=path,
            app_id=calls_emulator.app_id,
            openid_configuration_url=calls_emulator.openid_configuration_url,
        )
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        callback_uri = f"http://127.0.0.1:{port}{path}"
        calls_client.callback_uri = callback_uri
        # Operations now complete by notification as in production, with the
        # client's default polling as a fallback after its grace period.
        calls_client.operations.polling = None
        bot = CallsBot(calls_client, calls_emulator, app[HANDLER_KEY], callback_uri)
        if handler is not None:
            calls_client.on_incoming_call(bot._wrap(handler))
        bots.append(bot)
        return bot

    yield start_bot

    for runner in runners:
        await runner.cleanup()
    for bot in bots:
        bot.raise_handler_errors()

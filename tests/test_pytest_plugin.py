"""The calls_async pytest plugin, run by pytester on small test files of a user."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parent.parent

# Hypothesis's plugin imports hypothesis afresh in each in-process run, which takes
# longer than the tests below, so the runs turn it off.
AUTO_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider -p no:hypothesispytest
filterwarnings = error
"""

STRICT_INI = AUTO_INI.replace("asyncio_mode = auto", "asyncio_mode = strict")


def readme_test_example() -> str:
    """Return the first python block under the README's "Testing your bot"."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## Testing your bot\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None, "no python block under 'Testing your bot'"
    return match.group(1)


def test_entry_point_is_registered() -> None:
    plugins = importlib.metadata.entry_points(group="pytest11")
    values = {entry.name: entry.value for entry in plugins}
    assert values.get("calls_async") == "calls_async.pytest_plugin"


def test_fixtures_are_listed(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    result = pytester.runpytest("--fixtures")
    output = result.stdout.str()
    for name in (
        "calls_emulator_settings",
        "calls_emulator",
        "calls_client",
        "calls_bot",
    ):
        assert re.search(rf"^{name} -- ", output, re.MULTILINE), name


def test_readme_example_passes(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(test_readme=readme_test_example())
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_readme_example_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_INI)
    source = readme_test_example().replace(
        "\nasync def test_", "\n@pytest.mark.asyncio\nasync def test_"
    )
    pytester.makepyfile(test_readme="import pytest\n" + source)
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_strict_mode_needs_the_mark(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        async def test_unmarked(calls_client):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)


def test_every_fixture_in_strict_mode(pytester: pytest.Pytester) -> None:
    pytester.makeini(STRICT_INI)
    pytester.makepyfile(
        """
        import pytest

        from calls_async import (
            CallState,
            Identity,
            IdentitySet,
            InvitationParticipantInfo,
            ServiceHostedMediaConfig,
        )

        @pytest.mark.asyncio
        async def test_outgoing_call(calls_client, calls_emulator):
            assert calls_client.base_url == calls_emulator.base_url
            call = await calls_client.calls.create(
                targets=[
                    InvitationParticipantInfo(
                        identity=IdentitySet(user=Identity(id="user-1"))
                    )
                ],
                media_config=ServiceHostedMediaConfig(),
            )
            await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
            await call.hang_up()

        @pytest.mark.asyncio
        async def test_bot(calls_bot):
            bot = await calls_bot()
            assert bot.client.callback_uri == bot.callback_uri
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_emulator_listens_on_loopback(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        from calls_async.pytest_plugin import QUICK_EMULATOR_SETTINGS

        async def test_settings(calls_emulator):
            assert calls_emulator.url.startswith("http://127.0.0.1:")
            for name, value in QUICK_EMULATOR_SETTINGS.items():
                assert getattr(calls_emulator.settings, name) == value
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_marker_overrides_settings(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        pytestmark = pytest.mark.calls_emulator(
            prompt_duration=0.3, record_duration=0.4
        )

        async def test_module_marker(calls_emulator):
            assert calls_emulator.settings.prompt_duration == 0.3
            assert calls_emulator.settings.record_duration == 0.4

        @pytest.mark.calls_emulator(prompt_duration=0.7)
        async def test_closest_marker_wins(calls_emulator):
            assert calls_emulator.settings.prompt_duration == 0.7
            assert calls_emulator.settings.record_duration == 0.4
            assert calls_emulator.settings.establish_delay == 0.01
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=2)


def test_settings_fixture_can_be_overridden(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture
        def calls_emulator_settings():
            return {"prompt_duration": 0.25, "incoming_call_timeout": 2.0}
        """
    )
    pytester.makepyfile(
        """
        async def test_overridden(calls_emulator):
            assert calls_emulator.settings.prompt_duration == 0.25
            assert calls_emulator.settings.incoming_call_timeout == 2.0
            # Settings left out of the override take the emulator's own defaults.
            assert calls_emulator.settings.establish_delay == 0.05
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_marker_positional_argument_errors(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.calls_emulator(0.5)
        async def test_positional(calls_emulator):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*takes keyword arguments only*"])


def test_unknown_setting_errors(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.calls_emulator(prompt_length=0.5)
        async def test_unknown(calls_emulator):
            pass
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*prompt_length*"])


def test_press_tones_reaches_handler(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        from calls_async import CallState, ServiceHostedMediaConfig, ToneReceived

        keys = []

        async def menu(call):
            events = call.events()
            await call.answer(media_config=ServiceHostedMediaConfig())
            await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
            await call.subscribe_to_tone()
            async for event in events:
                if isinstance(event, ToneReceived):
                    keys.append(str(event.tone))
                    if len(keys) == 2:
                        break
            await call.hang_up()

        async def test_keys(calls_bot):
            bot = await calls_bot(menu)
            call = await bot.ring()
            await bot.press_tones(call, ["tone1", "pound"])
            await bot.wait_for_handlers()
            assert keys == ["tone1", "pound"]
            assert call.ended
            assert bot.webhook.accepted > 0
            assert bot.webhook.rejected == 0
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_handler_error_fails_test(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        async def broken(call):
            raise AssertionError("the bot did not answer")

        async def test_waits(calls_bot):
            bot = await calls_bot(broken)
            await bot.ring()
            await bot.wait_for_handlers()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*AssertionError: the bot did not answer*"])


def test_unraised_handler_error_fails_teardown(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import asyncio

        async def broken(call):
            raise LookupError("no route for the caller")

        async def test_does_not_wait(calls_bot):
            bot = await calls_bot(broken)
            await bot.ring()
            async with asyncio.timeout(5):
                while not bot.handler_errors:
                    await asyncio.sleep(0.01)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*LookupError: no route for the caller*"])


def test_several_handler_errors_grouped(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        async def broken(call):
            raise LookupError(call.id)

        async def test_two_calls(calls_bot):
            bot = await calls_bot(broken)
            await bot.ring()
            await bot.ring()
            with pytest.raises(ExceptionGroup) as caught:
                await bot.wait_for_handlers()
            assert len(caught.value.exceptions) == 2
            assert len(bot.handler_errors) == 2
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_handler_never_started_times_out(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        async def idle(call):
            pass

        async def test_unreachable(calls_bot):
            bot = await calls_bot(idle)
            # Ring another URI, so the bot's handler never hears of the call.
            call_id = await bot.emulator.ring("https://elsewhere.invalid/calls")
            bot._rung.append(call_id)
            with pytest.raises(TimeoutError, match=call_id):
                await bot.wait_for_handlers(timeout=0.2)
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_second_bot_is_rejected(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import pytest

        async def test_twice(calls_bot):
            await calls_bot()
            with pytest.raises(RuntimeError, match="already called"):
                await calls_bot()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_teardown_with_running_handler(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import asyncio

        from calls_async import CallState, ServiceHostedMediaConfig

        async def waits_forever(call):
            await call.answer(media_config=ServiceHostedMediaConfig())
            await asyncio.Event().wait()

        async def test_leaves_call_open(calls_bot):
            bot = await calls_bot(waits_forever)
            call = await bot.ring()
            await call.wait_for_state(CallState.ESTABLISHED, timeout=5)
        """
    )
    result = pytester.runpytest("-W", "error")
    result.assert_outcomes(passed=1)


def test_custom_webhook_path(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        async def reject(call):
            await call.reject(reason="busy")

        async def test_path(calls_bot):
            bot = await calls_bot(reject, path="/api/notifications")
            assert bot.callback_uri.endswith("/api/notifications")
            call = await bot.ring()
            await bot.wait_for_handlers()
            assert [r.body for r in bot.emulator.requests] == [{"reason": "busy"}]
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(passed=1)


def test_startup_imports_no_emulator(pytester: pytest.Pytester) -> None:
    pytester.makeini(AUTO_INI)
    pytester.makepyfile(
        """
        import sys

        HEAVY = [
            "calls_async.testing",
            "calls_async.webhook",
            "aiohttp.web",
            "jwt",
            "azure.identity",
        ]

        def test_nothing_heavy_loaded():
            assert "calls_async.pytest_plugin" in sys.modules
            assert [name for name in HEAVY if name in sys.modules] == []
        """
    )
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1)

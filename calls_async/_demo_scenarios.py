"""The scenarios that ``calls-async demo`` drives, each through the public API.

Outbound: each call is created, waits until established, plays a prompt, records a
response and downloads it, updates its recording status, starts a long prompt and
cancels it (the prompt's handle must fail with subcode 8508), and hangs up.

Group: a group call of two targets invites two more and awaits both invitations,
mutes one participant, puts one on hold and takes them off, removes one, and hangs
up, checking the notified roster after each step.

Inbound: the emulator rings the bot. The bot's incoming-call handler routes by caller:
callers whose user id starts with ``busy-`` are rejected as busy, those starting with
``forward-`` are redirected, and the rest are answered. An answered call subscribes to
tones, plays a menu prompt, waits for the caller's key press and hangs up. The
emulated caller presses its key once the bot has subscribed, which the handler
signals through ``InboundScenario.subscribed``; a real caller needs no such signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import attrs

from calls_async._calls import Call
from calls_async._client import CallsClient
from calls_async._errors import CallsError, OperationFailed
from calls_async._events import CallEvent, ToneReceived
from calls_async._operations import Operation
from calls_async.models import (
    CallState,
    Identity,
    IdentitySet,
    InvitationParticipantInfo,
    MediaPrompt,
    RecordingStatus,
    RejectReason,
    ServiceHostedMediaConfig,
)

if TYPE_CHECKING:
    from calls_async.testing import Emulator

__all__ = [
    "CANCELLED_SUBCODE",
    "InboundScenario",
    "ScenarioStats",
    "run_group_call",
    "run_outbound_call",
]

CANCELLED_SUBCODE = 8508
MENU_TONE = "tone1"


@attrs.define
class ScenarioStats:
    """Counts and latencies gathered while the scenarios run."""

    operations_completed: int = 0
    operations_failed_expected: int = 0
    operation_latencies: list[float] = attrs.field(factory=list)
    inbound_outcomes: dict[str, int] = attrs.field(factory=dict)
    group_outcomes: dict[str, int] = attrs.field(factory=dict)

    def count_outcome(self, outcome: str) -> None:
        self.inbound_outcomes[outcome] = self.inbound_outcomes.get(outcome, 0) + 1

    def count_group(self, outcome: str) -> None:
        self.group_outcomes[outcome] = self.group_outcomes.get(outcome, 0) + 1


async def _timed(stats: ScenarioStats, op: Operation[Any], timeout: float) -> Any:
    started = time.monotonic()
    result = await op.wait(timeout)
    stats.operation_latencies.append(time.monotonic() - started)
    stats.operations_completed += 1
    return result


def user(user_id: str) -> InvitationParticipantInfo:
    """Return an invitation for the Entra user ``user_id``."""
    return InvitationParticipantInfo(identity=IdentitySet(user=Identity(id=user_id)))


async def run_outbound_call(
    client: CallsClient,
    stats: ScenarioStats,
    *,
    target_user_id: str,
    prompt: str,
    establish_timeout: float,
    operation_timeout: float,
) -> None:
    """Drive one outgoing call through the outbound scenario.

    Raises:
        AssertionError, CallsError: the call did not reach an expected outcome.
    """
    call = await client.calls.create(
        targets=[user(target_user_id)], media_config=ServiceHostedMediaConfig()
    )
    limit = operation_timeout
    try:
        await call.wait_for_state(CallState.ESTABLISHED, timeout=establish_timeout)
        await _timed(stats, await call.play_prompt([prompt]), limit)
        record = await _timed(
            stats, await call.record_response(max_record_duration=5), limit
        )
        audio = await call.download_recording(record)
        if not audio:
            raise AssertionError(f"call {call.id}: the recording download was empty")
        status = await call.update_recording_status(RecordingStatus.RECORDING)
        await _timed(stats, status, limit)
        long_prompt = await call.play_prompt([MediaPrompt.from_uri(prompt)] * 20)
        await _timed(stats, await call.cancel_media_processing(), limit)
        await _expect_cancelled(stats, call.id, long_prompt, limit)
    finally:
        with contextlib.suppress(CallsError):
            await call.hang_up()


async def _expect_cancelled(
    stats: ScenarioStats, call_id: str, op: Operation[Any], timeout: float
) -> None:
    try:
        await op.wait(timeout)
    except OperationFailed as err:
        if err.subcode != CANCELLED_SUBCODE:
            raise AssertionError(
                f"call {call_id}: the cancelled prompt failed with subcode "
                f"{err.subcode}, expected {CANCELLED_SUBCODE}"
            ) from err
        stats.operations_failed_expected += 1
        return
    raise AssertionError(
        f"call {call_id}: the cancelled prompt completed instead of failing"
    )


async def run_group_call(
    client: CallsClient, stats: ScenarioStats, *, index: int, timeout: float
) -> None:
    """Drive one group call: invite two, mute one, hold one, remove one, hang up.

    Raises:
        AssertionError, CallsError: the call did not reach an expected outcome.
    """
    targets = [user(f"group-{index}-{n}") for n in ("a", "b")]
    call = await client.calls.create(
        targets=targets, media_config=ServiceHostedMediaConfig()
    )
    try:
        await call.wait_for_state(CallState.ESTABLISHED, timeout=timeout)
        # A group call without chatInfo takes one invitee per request.
        invites = [
            await call.participants.invite([user(f"group-{index}-{n}")])
            for n in ("c", "d")
        ]
        for invite in invites:
            await _timed(stats, invite, timeout)
        await _wait_for_roster(call, 5, timeout)
        me = (call.properties.my_participant_id if call.properties else None) or ""
        others = [p.id for p in call.roster if p.id and p.id.lower() != me.lower()]
        muted, held, removed = others[0], others[1], others[2]
        await _timed(stats, await call.participants[muted].mute(), timeout)
        await _timed(stats, await call.participants[held].start_hold_music(), timeout)
        await _timed(stats, await call.participants[held].stop_hold_music(), timeout)
        await call.participants[removed].remove()
        await _wait_for_roster(call, 4, timeout)
        entry = call.roster.get(muted)
        if entry is None or not entry.is_muted:
            raise AssertionError(f"call {call.id}: participant {muted} is not muted")
        stats.count_group("invited, muted, held, removed")
    finally:
        with contextlib.suppress(CallsError):
            await call.hang_up()


async def _wait_for_roster(call: Call, size: int, timeout: float) -> None:
    """Wait until the notified roster of ``call`` has ``size`` participants."""
    events = call.events()
    async with asyncio.timeout(timeout):
        while len(call.roster) != size:
            await anext(events)


@attrs.define
class InboundScenario:
    """The bot side and the emulated callers of the inbound scenario."""

    client: CallsClient
    emulator: Emulator
    stats: ScenarioStats
    prompt: str
    timeout: float
    subscribed: dict[str, asyncio.Event] = attrs.field(factory=dict)
    finished: dict[str, asyncio.Future[str]] = attrs.field(factory=dict)

    def install(self) -> None:
        """Register the bot's incoming-call handler on the client."""
        self.client.on_incoming_call(self.on_call)

    def _finished(self, call_id: str) -> asyncio.Future[str]:
        future = self.finished.get(call_id.lower())
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self.finished[call_id.lower()] = future
        return future

    def _subscribed(self, call_id: str) -> asyncio.Event:
        return self.subscribed.setdefault(call_id.lower(), asyncio.Event())

    async def on_call(self, call: Call) -> None:
        """Route an incoming call by its caller, as the bot's handler."""
        caller = _caller_id(call)
        outcome = self._finished(call.id)
        try:
            if caller.startswith("busy-"):
                await call.reject(reason=RejectReason.BUSY)
                result = "rejected as busy"
            elif caller.startswith("forward-"):
                await call.redirect([user("operator")])
                result = "redirected"
            else:
                result = await self._answer(call)
        except BaseException as err:
            if not outcome.done():
                outcome.set_exception(err)
            raise
        if not outcome.done():
            outcome.set_result(result)

    async def _answer(self, call: Call) -> str:
        events = call.events()
        await call.answer(media_config=ServiceHostedMediaConfig())
        await call.wait_for_state(CallState.ESTABLISHED, timeout=self.timeout)
        await _timed(self.stats, await call.subscribe_to_tone(), self.timeout)
        self._subscribed(call.id).set()
        await _timed(self.stats, await call.play_prompt([self.prompt]), self.timeout)
        tone = await _first_tone(events, self.timeout)
        if tone != MENU_TONE:
            raise AssertionError(f"call {call.id}: got tone {tone!r}")
        await call.hang_up()
        return "answered, menu played, tone received"

    async def ring(self, caller_id: str) -> str:
        """Ring the bot as ``caller_id`` and return the outcome the bot reached."""
        caller = {"user": {"id": caller_id, "displayName": caller_id}}
        call_id = await self.emulator.ring(self.client.callback_uri, caller=caller)
        outcome = self._finished(call_id)
        if not caller_id.startswith(("busy-", "forward-")):
            await asyncio.wait_for(self._subscribed(call_id).wait(), self.timeout)
            await self.emulator.press_tones(call_id, [MENU_TONE])
        result = await asyncio.wait_for(outcome, self.timeout)
        call = self.client.calls[call_id]
        await call.wait_for_state(CallState.TERMINATED, timeout=self.timeout)
        self.stats.count_outcome(result)
        return result


async def _first_tone(events: AsyncIterator[CallEvent], timeout: float) -> str:
    async with asyncio.timeout(timeout):
        async for event in events:
            if isinstance(event, ToneReceived):
                return str(event.tone)
    raise AssertionError("the call ended before the caller pressed a key")


def _caller_id(call: Call) -> str:
    props = call.properties
    source = props.source if props is not None else None
    identity = source.identity if source is not None else None
    user_identity = identity.user if identity is not None else None
    return (user_identity.id if user_identity is not None else None) or ""


def inbound_callers(count: int) -> list[str]:
    """Return ``count`` caller ids: one redirected, one in five busy, rest answered."""
    callers = []
    for index in range(count):
        if index == 0:
            callers.append(f"forward-{index}")
        elif index % 5 == 1:
            callers.append(f"busy-{index}")
        else:
            callers.append(f"caller-{index}")
    return callers

"""The demo, the main job, run as users run it and under injected faults."""

from __future__ import annotations

import io
import subprocess
import sys

from calls_async._demo import DemoSettings, run_demo
from calls_async.testing import Emulator


def test_demo_command_passes() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "calls_async", "demo", "--calls", "5", "--inbound", "4"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "outbound calls as expected                       5 of 5" in result.stdout
    assert "PASSED" in result.stdout


def test_demo_rejects_bad_counts() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "calls_async", "demo", "--calls", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--calls is -1" in result.stderr


async def test_demo_survives_injected_faults() -> None:
    out = io.StringIO()
    async with Emulator() as emulator:
        settings = DemoSettings(calls=20, groups=3, inbound=6, fault_rate=0.1)
        summary = await run_demo(settings, out, emulator=emulator)
        applied = dict(emulator.stats.faults_applied)
    assert summary.ok, out.getvalue()
    assert applied.get("status", 0) > 0
    assert applied.get("reset", 0) > 0
    assert summary.outbound_ok == 20
    assert summary.groups_ok == 3
    assert summary.inbound_ok == 6

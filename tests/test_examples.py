"""The example programs run against the emulator as their docstrings say."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ivr_bot_on_emulator(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "ivr_bot.py"),
            "--emulator",
            "--calls",
            "3",
            "--recordings",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 3
    assert all(line.startswith("ok") for line in lines), result.stdout
    recordings = list(tmp_path.glob("*.wav"))
    assert len(recordings) == 1
    assert recordings[0].read_bytes().startswith(b"RIFF")

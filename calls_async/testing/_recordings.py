"""Recordings made by recordResponse, each guarded by its own access token."""

from __future__ import annotations

import collections
import secrets
import struct

from calls_async.testing._state import new_id

# The service keeps recordings only briefly; the emulator keeps the newest ones.
MAX_RECORDINGS = 10_000

_SAMPLE_RATE = 16_000
_SILENCE_SECONDS = 0.1


def _silent_wav() -> bytes:
    """Build a mono 16-bit 16 kHz PCM WAV file of silence, the format of prompts."""
    data = bytes(int(_SAMPLE_RATE * _SILENCE_SECONDS) * 2)
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(data),
        b"WAVE",
        b"fmt ",
        16,
        1,
        1,
        _SAMPLE_RATE,
        _SAMPLE_RATE * 2,
        2,
        16,
        b"data",
        len(data),
    )
    return header + data


RECORDING_CONTENT = _silent_wav()


class RecordingStore:
    """The recording ids the emulator serves, mapped to their access tokens."""

    def __init__(self) -> None:
        self._token_by_id: collections.OrderedDict[str, str] = collections.OrderedDict()

    def create(self) -> tuple[str, str]:
        """Store a new recording and return its id and access token."""
        recording_id = new_id()
        token = secrets.token_urlsafe(32)
        self._token_by_id[recording_id] = token
        if len(self._token_by_id) > MAX_RECORDINGS:
            self._token_by_id.popitem(last=False)
        return recording_id, token

    def token_for(self, recording_id: str) -> str | None:
        return self._token_by_id.get(recording_id)

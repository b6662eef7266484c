"""Shared settings types (the "use the client default" sentinel) and id folding."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["USE_CLIENT_DEFAULT", "Timeout", "UseClientDefault", "fold_id"]


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

    Graph writes most ids in lower case already; those come back as the same string
    object, so a key costs no second copy of the id.
    """
    folded = value.lower()
    return value if folded == value else folded

"""Shared settings types: the "use the client default" sentinel."""

from __future__ import annotations

import enum
from typing import Final

__all__ = ["USE_CLIENT_DEFAULT", "Timeout", "UseClientDefault"]


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

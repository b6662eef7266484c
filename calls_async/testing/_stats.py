"""Counters of what the emulator received and sent."""

from __future__ import annotations

import collections
import dataclasses
from typing import Any


@dataclasses.dataclass(slots=True)
class EmulatorStats:
    """Running totals since the emulator started; tests and the live view read them."""

    requests: int = 0
    responses_by_status: collections.Counter[int] = dataclasses.field(
        default_factory=collections.Counter
    )
    auth_failures: int = 0
    tokens_issued: int = 0
    calls_created: int = 0
    calls_rung: int = 0
    calls_ended: int = 0
    operations_started: int = 0
    notifications_sent: int = 0
    notifications_failed: int = 0
    notifications_skipped: int = 0
    notification_retries: int = 0
    faults_applied: collections.Counter[str] = dataclasses.field(
        default_factory=collections.Counter
    )
    """Requests and notifications changed by a fault rule, by fault kind."""
    requests_throttled: int = 0

    def as_dict(self) -> dict[str, Any]:
        totals = dataclasses.asdict(self)
        # asdict() would rebuild each Counter from its items, counting the pairs.
        totals["responses_by_status"] = {
            str(status): count for status, count in self.responses_by_status.items()
        }
        totals["faults_applied"] = dict(self.faults_applied)
        return totals

"""The deadline queue that serves operation timeouts and polling grace periods."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from calls_async._deadlines import DeadlineQueue


class Items:
    """Items to expire, each settled or not, and the order they expired in."""

    def __init__(self) -> None:
        self.expired: list[str] = []
        self.settled: set[str] = set()

    def expire(self, item: str) -> None:
        self.expired.append(item)

    def unsettled(self, item: str) -> bool:
        return item not in self.settled

    def queue(self) -> DeadlineQueue[str]:
        return DeadlineQueue(self.expire, self.unsettled)


async def test_items_expire_in_deadline_order() -> None:
    items = Items()
    queue = items.queue()
    queue.add(0.06, "late")
    queue.add(0.02, "early")
    queue.add(0.04, "middle")
    queue.add(0.04, "middle-second")
    await asyncio.sleep(0.1)
    assert items.expired == ["early", "middle", "middle-second", "late"]
    assert len(queue) == 0


async def test_nothing_expires_before_its_deadline() -> None:
    items = Items()
    queue = items.queue()
    queue.add(0.2, "later")
    await asyncio.sleep(0.05)
    assert items.expired == []
    await asyncio.sleep(0.2)
    assert items.expired == ["later"]


async def test_settled_items_are_skipped() -> None:
    items = Items()
    queue = items.queue()
    for name in ("a", "b", "c"):
        queue.add(0.02, name)
    items.settled.add("b")
    await asyncio.sleep(0.06)
    assert items.expired == ["a", "c"]


async def test_settled_head_does_not_delay_the_rest() -> None:
    items = Items()
    queue = items.queue()
    queue.add(0.01, "settled")
    queue.add(0.05, "open")
    items.settled.add("settled")
    await asyncio.sleep(0.1)
    assert items.expired == ["open"]


async def test_heap_drops_settled_entries() -> None:
    items = Items()
    queue = items.queue()
    for index in range(10_000):
        name = f"item-{index}"
        queue.add(60.0, name)
        items.settled.add(name)
    # Every entry settled at once, so sweeps keep the heap near the minimum.
    assert len(queue) <= 64
    queue.add(60.0, "open")
    queue.clear()
    assert len(queue) == 0


async def test_noted_settled_items_leave_heap() -> None:
    items = Items()
    queue = items.queue()
    names = [f"item-{index}" for index in range(100)]
    for name in names:
        queue.add(60.0, name)
    for name in names[:51]:
        items.settled.add(name)
        queue.note_settled()
    # More than half settled: the heap keeps only the others.
    assert len(queue) == 49
    for name in names[51:]:
        items.settled.add(name)
        queue.note_settled()
    assert len(queue) == 0


async def test_last_settled_item_empties_small_heap() -> None:
    items = Items()
    queue = items.queue()
    queue.add(60.0, "first")
    queue.add(60.0, "second")
    items.settled.add("first")
    queue.note_settled()
    assert len(queue) == 2
    items.settled.add("second")
    queue.note_settled()
    assert len(queue) == 0


async def test_sweeps_keep_unsettled_entries() -> None:
    items = Items()
    queue = items.queue()
    for index in range(1_000):
        queue.add(0.05 + index * 1e-5, f"item-{index}")
    # Nothing is settled, so nothing may be dropped.
    assert len(queue) == 1_000
    await asyncio.sleep(0.15)
    assert len(items.expired) == 1_000
    assert items.expired[0] == "item-0"
    assert items.expired[-1] == "item-999"


async def test_clear_stops_the_timer() -> None:
    items = Items()
    queue = items.queue()
    queue.add(0.02, "gone")
    queue.clear()
    await asyncio.sleep(0.05)
    assert items.expired == []


async def test_failing_expire_is_reported() -> None:
    expired: list[str] = []
    reported: list[dict[str, Any]] = []

    def expire(item: str) -> None:
        if item == "bad":
            raise RuntimeError("boom")
        expired.append(item)

    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        queue: DeadlineQueue[str] = DeadlineQueue(expire, lambda _item: True)
        queue.add(0.01, "bad")
        queue.add(0.01, "good")
        queue.add(0.03, "later")
        await asyncio.sleep(0.08)
    finally:
        loop.set_exception_handler(None)
    assert expired == ["good", "later"]
    assert len(reported) == 1
    assert isinstance(reported[0]["exception"], RuntimeError)


def test_queue_moves_to_a_new_loop() -> None:
    items = Items()
    queue = items.queue()

    async def add_and_leave() -> None:
        queue.add(0.01, "left behind")

    async def add_and_wait() -> None:
        queue.add(0.05, "served")
        await asyncio.sleep(0.1)

    # The first loop closes before its timer fires. The later deadline, added on
    # the second loop, must still start a timer there, which serves both.
    asyncio.run(add_and_leave())
    asyncio.run(add_and_wait())
    assert items.expired == ["left behind", "served"]


def test_add_needs_a_running_loop() -> None:
    queue = Items().queue()
    with pytest.raises(RuntimeError, match="no running event loop"):
        queue.add(1.0, "item")

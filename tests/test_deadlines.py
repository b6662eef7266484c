"""The deadline queue that serves operation timeouts and polling grace periods."""

from __future__ import annotations

import asyncio
import gc
import math
import weakref
from typing import Any

import pytest

from calls_async._deadlines import DeadlineQueue


class Items:
    """Items to expire and the order they expired in."""

    def __init__(self) -> None:
        self.expired: list[str] = []

    def expire(self, item: str) -> None:
        self.expired.append(item)

    def queue(self) -> DeadlineQueue[str]:
        return DeadlineQueue(self.expire)


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


async def test_cancelled_items_are_skipped() -> None:
    items = Items()
    queue = items.queue()
    entries = {name: queue.add(0.02, name) for name in ("a", "b", "c")}
    queue.cancel(entries["b"])
    await asyncio.sleep(0.06)
    assert items.expired == ["a", "c"]


async def test_cancelled_head_delays_nothing() -> None:
    items = Items()
    queue = items.queue()
    head = queue.add(0.01, "cancelled")
    queue.add(0.05, "open")
    queue.cancel(head)
    await asyncio.sleep(0.1)
    assert items.expired == ["open"]


async def test_cancel_releases_item_at_once() -> None:
    class Item:
        pass

    queue: DeadlineQueue[Item] = DeadlineQueue(lambda _item: None)
    queue.add(60.0, Item())
    item = Item()
    released = weakref.ref(item)
    entry = queue.add(60.0, item)
    del item
    queue.cancel(entry)
    gc.collect()
    # One live entry and one cancelled: the heap keeps both, but not the item.
    assert len(queue) == 2
    assert released() is None


async def test_heap_drops_cancelled_entries() -> None:
    items = Items()
    queue = items.queue()
    for index in range(10_000):
        queue.cancel(queue.add(60.0, f"item-{index}"))
    assert len(queue) == 0
    queue.add(60.0, "open")
    queue.clear()
    assert len(queue) == 0


async def test_cancelled_entries_never_outnumber_live() -> None:
    items = Items()
    queue = items.queue()
    names = [f"item-{index}" for index in range(100)]
    entries = [queue.add(60.0, name) for name in names]
    for entry in entries[:50]:
        queue.cancel(entry)
    # Half cancelled is not more than half, so nothing is dropped yet.
    assert len(queue) == 100
    queue.cancel(entries[50])
    assert len(queue) == 49
    for entry in entries[51:]:
        queue.cancel(entry)
    assert len(queue) == 0


async def test_one_live_entry_keeps_one_cancelled() -> None:
    items = Items()
    queue = items.queue()
    queue.add(60.0, "open")
    for index in range(40):
        queue.cancel(queue.add(60.0, f"item-{index}"))
        assert len(queue) <= 2


async def test_cancel_after_expiry_changes_nothing() -> None:
    items = Items()
    queue = items.queue()
    served = queue.add(0.01, "served")
    queue.add(60.0, "open")
    await asyncio.sleep(0.05)
    assert items.expired == ["served"]
    queue.cancel(served)
    queue.cancel(served)
    # A count of the served entry would make 1 of 1 entries cancelled and drop
    # the open one.
    assert len(queue) == 1
    assert items.expired == ["served"]


async def test_nan_delay_is_rejected() -> None:
    items = Items()
    queue = items.queue()
    with pytest.raises(ValueError, match="NaN"):
        queue.add(math.nan, "never")
    assert len(queue) == 0
    queue.add(0.01, "served")
    await asyncio.sleep(0.05)
    assert items.expired == ["served"]


async def test_infinite_delay_never_expires() -> None:
    items = Items()
    queue = items.queue()
    queue.add(math.inf, "forever")
    queue.add(0.01, "served")
    await asyncio.sleep(0.05)
    assert items.expired == ["served"]
    assert len(queue) == 1


async def test_sweeps_keep_live_entries() -> None:
    items = Items()
    queue = items.queue()
    for index in range(1_000):
        queue.add(0.05 + index * 1e-5, f"item-{index}")
    # Nothing is cancelled, so nothing may be dropped.
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
        queue: DeadlineQueue[str] = DeadlineQueue(expire)
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


def test_new_loop_arms_for_earliest_entry() -> None:
    items = Items()
    queue = items.queue()

    async def add_and_leave() -> None:
        queue.add(0.05, "early")

    async def add_later_and_wait() -> None:
        queue.add(1.0, "late")
        await asyncio.sleep(0.2)

    # The timer of the first loop never fires. The second loop must serve the
    # earlier deadline on time, not together with its own later one.
    asyncio.run(add_and_leave())
    asyncio.run(add_later_and_wait())
    assert items.expired == ["early"]


def test_cancel_on_new_loop_rearms_there() -> None:
    items = Items()
    queue = items.queue()
    entries: list[Any] = []

    async def add_and_leave() -> None:
        entries.extend(queue.add(0.05, name) for name in ("a", "b", "c"))

    async def cancel_two_and_wait() -> None:
        queue.cancel(entries[0])
        # Two of three cancelled: the sweep must arm a timer on this loop, not on
        # the closed one.
        queue.cancel(entries[1])
        await asyncio.sleep(0.15)

    asyncio.run(add_and_leave())
    asyncio.run(cancel_two_and_wait())
    assert items.expired == ["c"]
    assert len(queue) == 0


async def test_serving_sweeps_cancelled_majority() -> None:
    items = Items()
    queue = items.queue()
    for index in range(5):
        queue.add(0.01, f"due-{index}")
    queue.add(30.0, "open")
    # Due after the open entry, so serving never finds them at the head.
    waiting = [queue.add(60.0, f"cancelled-{index}") for index in range(5)]
    for entry in waiting:
        queue.cancel(entry)
    # 5 of 11 cancelled is not more than half, so they stay until serving.
    assert len(queue) == 11
    await asyncio.sleep(0.05)
    assert len(items.expired) == 5
    assert len(queue) == 1

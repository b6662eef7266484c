"""Run one coroutine per item with bounded concurrency, keeping every outcome.

Unlike ``asyncio.gather`` or a ``TaskGroup``, a failure does not cancel the other
items: each item's return value or exception ends up in its :class:`BulkResult`.
Cancelling the task that awaits :func:`run_bulk` cancels every item still running.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sized
from typing import Generic, TypeVar

import attrs

__all__ = ["BulkResult", "run_bulk"]

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")


@attrs.frozen
class BulkResult(Generic[ItemT, ResultT]):
    """The outcome for one item of :func:`run_bulk`.

    Attributes:
        index: the item's position in the input, from 0.
        item: the input item.
        value: what the item's coroutine returned, or None when it raised.
        error: the exception the coroutine raised, or None when it returned.
    """

    index: int
    item: ItemT
    value: ResultT | None = None
    error: Exception | None = None

    @property
    def ok(self) -> bool:
        """True when the coroutine returned instead of raising."""
        return self.error is None

    def unwrap(self) -> ResultT:
        """Return the value, or raise the item's exception."""
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


async def run_bulk(
    items: Iterable[ItemT],
    coroutine_factory: Callable[[ItemT], Awaitable[ResultT]],
    *,
    concurrency: int = 10,
    on_result: Callable[[BulkResult[ItemT, ResultT]], object] | None = None,
) -> list[BulkResult[ItemT, ResultT]]:
    """Await ``coroutine_factory(item)`` for every item, ``concurrency`` at a time.

    Items are taken from ``items`` lazily, one per free slot, so a generator is
    read only as fast as the work proceeds. An ``Exception`` raised by the factory
    or by its awaitable is stored in that item's result and the other items carry
    on. ``BaseException`` subclasses (``CancelledError``, ``KeyboardInterrupt``)
    propagate and cancel the items still running.

    Args:
        items: the inputs, such as call ids.
        coroutine_factory: builds the awaitable for one item.
        concurrency: how many awaitables run at once, at least 1.
        on_result: called with each result as soon as its item finishes, for
            progress reports; an exception it raises propagates.

    Returns:
        One :class:`BulkResult` per item, in input order.

    Raises:
        TypeError: ``concurrency`` is not an int.
        ValueError: ``concurrency`` is less than 1.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int):
        raise TypeError(f"concurrency must be an int, not {type(concurrency).__name__}")
    if concurrency < 1:
        raise ValueError(f"concurrency is {concurrency}; it must be at least 1")

    pending: Iterator[tuple[int, ItemT]] = enumerate(items)
    results: list[BulkResult[ItemT, ResultT]] = []

    async def worker() -> None:
        # The workers share one iterator. next() never awaits, so no two workers
        # can take the same item.
        for index, item in pending:
            result = await _run_one(index, item, coroutine_factory)
            results.append(result)
            if on_result is not None:
                on_result(result)

    if isinstance(items, Sized):
        concurrency = max(1, min(concurrency, len(items)))
    workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
    try:
        await asyncio.gather(*workers)
    finally:
        # After an error from on_result or a cancellation, stop the workers still
        # running. After success every worker is done and this changes nothing.
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    results.sort(key=lambda result: result.index)
    return results


async def _run_one(
    index: int,
    item: ItemT,
    coroutine_factory: Callable[[ItemT], Awaitable[ResultT]],
) -> BulkResult[ItemT, ResultT]:
    try:
        value = await coroutine_factory(item)
    except Exception as err:
        return BulkResult(index, item, error=err)
    return BulkResult(index, item, value=value)

"""Group commit: calls that arrive while a batch is being sent wait and go together
in the next one. Under load the batch grows by itself; alone, a call goes at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")

# The flush function answers each item with its result or the exception for it.
Flush = Callable[[list[Item]], Awaitable[Sequence["Result | BaseException"]]]


class GroupCommit(Generic[Item, Result]):
    def __init__(self, flush: Flush[Item, Result], max_batch: int = 512) -> None:
        self._flush = flush
        self._max_batch = max_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        if self._task is None or self._task.done():
            self._wake = asyncio.Event()  # bound to the running loop
            self._task = loop.create_task(self._run())
        future: asyncio.Future[Result] = loop.create_future()
        self._pending.append((item, future))
        self._wake.set()
        return await future

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                batch = self._pending[: self._max_batch]
                del self._pending[: self._max_batch]
                try:
                    results: Sequence[Result | BaseException] = await self._flush(
                        [item for item, _ in batch]
                    )
                except Exception as exc:  # the whole batch failed: every caller hears it
                    results = [exc] * len(batch)
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)

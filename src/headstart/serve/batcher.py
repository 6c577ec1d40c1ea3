"""Requests that arrive together share one forward pass.

Each request's inputs wait in a queue; one worker takes everything queued (up to ``max_batch`` inputs), runs it
through the model in a thread and hands each request its rows. Nothing waits on purpose: while one batch runs,
the next requests gather, so batches grow with the load and a lone request goes straight through.
"""

from __future__ import annotations

import asyncio
from typing import Any, Callable

import numpy as np

Run = Callable[[list[Any]], np.ndarray]


class MicroBatcher:
    """Batches :meth:`submit` calls through ``run`` (a function from a list of inputs to one row each)."""

    def __init__(self, run: Run, *, max_batch: int = 32):
        self.run = run
        self.max_batch = max_batch
        self.batches = 0
        self.inputs = 0
        self._queue: asyncio.Queue[tuple[list[Any], asyncio.Future]] | None = None
        self._worker: asyncio.Task | None = None

    async def start(self) -> None:
        self._queue = asyncio.Queue()
        self._worker = asyncio.create_task(self._serve())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    async def submit(self, items: list[Any]) -> np.ndarray:
        """The model's rows for ``items``, computed together with whatever else is waiting."""
        future = asyncio.get_running_loop().create_future()
        await self._queue.put((items, future))
        return await future

    async def _serve(self) -> None:
        while True:
            waiting = [await self._queue.get()]
            count = len(waiting[0][0])
            while count < self.max_batch and not self._queue.empty():
                waiting.append(self._queue.get_nowait())
                count += len(waiting[-1][0])
            items = [item for request, _ in waiting for item in request]
            try:
                rows = await asyncio.to_thread(self.run, items)
            except Exception as error:  # every request of the batch gets the error (the app answers it)
                for _, future in waiting:
                    if not future.done():
                        future.set_exception(error)
                continue
            self.batches, self.inputs = self.batches + 1, self.inputs + len(items)
            start = 0
            for request, future in waiting:
                if not future.done():  # a client that went away leaves a cancelled future
                    future.set_result(rows[start:start + len(request)])
                start += len(request)

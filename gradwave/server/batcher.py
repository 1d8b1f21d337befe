"""A bounded queue of sentences to speak, gathered into batches by one worker.

Requests put one job per sentence. The worker takes the first waiting job, waits up to
`window_s` for more (up to `max_batch`), drops jobs whose requester has gone, and runs the rest in a
thread, one batch per set of sampling settings. A full queue refuses new jobs at once (the caller
answers 503) instead of growing without bound.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

log = logging.getLogger("gradwave.server.batcher")


class QueueFull(RuntimeError):
    pass


@dataclass
class Job:
    text: str
    speaker: Optional[int]
    seed: int
    settings: tuple  # sampling settings; only jobs with equal settings share a batch
    future: asyncio.Future = field(default=None, repr=False)


class Batcher:
    def __init__(self, run_batch: Callable[[list[Job]], list[Any]], max_batch: int = 8, window_s: float = 0.02,
                 queue_size: int = 32):
        self.run_batch = run_batch
        self.max_batch, self.window_s = max_batch, window_s
        self.queue: asyncio.Queue[Job] = asyncio.Queue(maxsize=queue_size)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthesis")
        self.batches_run = 0
        self._worker: Optional[asyncio.Task] = None

    @property
    def depth(self) -> int:
        return self.queue.qsize()

    def start(self) -> None:
        self._worker = asyncio.get_running_loop().create_task(self._work())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            try:
                await self._worker
            except asyncio.CancelledError:
                pass
        self.executor.shutdown(wait=False, cancel_futures=True)

    def submit(self, jobs: list[Job]) -> list[asyncio.Future]:
        """Queue all of `jobs` or none of them (QueueFull)."""
        if self.queue.maxsize - self.queue.qsize() < len(jobs):
            raise QueueFull(f"{self.queue.qsize()} sentences are waiting (at most {self.queue.maxsize})")
        loop = asyncio.get_running_loop()
        for job in jobs:
            job.future = loop.create_future()
            self.queue.put_nowait(job)
        return [job.future for job in jobs]

    async def _gather(self) -> list[Job]:
        batch = [await self.queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window_s
        while len(batch) < self.max_batch:
            if not self.queue.empty():
                batch.append(self.queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self.queue.get(), remaining))
            except asyncio.TimeoutError:
                break
        return batch

    async def _work(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [job for job in await self._gather() if not job.future.done()]
            groups: dict[tuple, list[Job]] = {}
            for job in batch:
                groups.setdefault(job.settings, []).append(job)
            for group in groups.values():
                group = [job for job in group if not job.future.done()]
                if not group:
                    continue
                try:
                    results = await loop.run_in_executor(self.executor, self.run_batch, group)
                except Exception as err:  # handed to each requester, who answers 500
                    for job in group:
                        if not job.future.done():
                            job.future.set_exception(err)
                    continue
                self.batches_run += 1
                for job, result in zip(group, results):
                    if not job.future.done():
                        job.future.set_result(result)

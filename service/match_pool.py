"""A bounded thread pool for ``POST /v1/match`` (CPU-bound ranking).

``TRIALMATCH_MATCH_THREADS`` requests are ranked at once; up to
``TRIALMATCH_MATCH_QUEUE`` more may wait, each for at most
``TRIALMATCH_MATCH_QUEUE_TIMEOUT_S``. Anything beyond is refused at once with 503
``matching_busy`` and ``Retry-After``, so a burst is shed instead of piling up in
Starlette's shared thread pool (where it would also starve search and health routes).
Each ranking's wall time goes to ``trialmatch_match_duration_seconds``.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from service.errors import ServiceError

P = ParamSpec("P")
R = TypeVar("R")


class MatchPoolBusy(ServiceError):
    status_code = 503
    code = "matching_busy"

    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Too many match requests at once; retry in {retry_after_s} s (the server "
            "ranks TRIALMATCH_MATCH_THREADS at a time and queues TRIALMATCH_MATCH_QUEUE)."
        )
        self.retry_after_s = retry_after_s

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}


class MatchPool:
    """Runs functions on ``threads`` dedicated threads with a bounded wait queue.

    Use from one event loop. ``observe`` receives each call's duration in seconds.
    """

    def __init__(self, *, threads: int, queue: int, timeout_s: float,
                 observe: Callable[[float], None] | None = None) -> None:
        self.threads = threads
        self.queue = queue
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=threads,
                                            thread_name_prefix="trialmatch-match")
        self._running: asyncio.Semaphore | None = None
        self._admitted = 0
        self._observe = observe

    @property
    def admitted(self) -> int:
        """Requests running or waiting now."""
        return self._admitted

    def _retry_after(self) -> int:
        return max(1, math.ceil(self.timeout_s / 2))

    async def run(self, fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """``fn(*args, **kwargs)`` on a pool thread; raises :class:`MatchPoolBusy`
        when the queue is full or the wait exceeds ``timeout_s``."""
        if self._admitted >= self.threads + self.queue:
            raise MatchPoolBusy(self._retry_after())
        if self._running is None:
            self._running = asyncio.Semaphore(self.threads)
        running = self._running
        self._admitted += 1
        try:
            try:
                await asyncio.wait_for(running.acquire(), timeout=self.timeout_s)
            except TimeoutError:
                raise MatchPoolBusy(self._retry_after()) from None
            try:
                start = time.perf_counter()
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(
                    self._executor, functools.partial(fn, *args, **kwargs))
                if self._observe is not None:
                    self._observe(time.perf_counter() - start)
                return result
            finally:
                running.release()
        finally:
            self._admitted -= 1

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

"""A small in-process TTL + LRU cache for derived, non-patient payloads.

Used for answer pages (keyed by resolved OncoTree code and index generation). Patient
data never goes in here: the match endpoint is not cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class TTLCache(Generic[V]):
    """Map keys to values that expire ``ttl_s`` seconds after they were stored.

    At most ``max_entries`` are kept; the least recently used goes first. ``clock`` is
    a monotonic seconds function (injectable for tests). Not thread-safe: use it from
    the event loop only. ``ttl_s == 0`` disables caching (every ``get`` misses).
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if ttl_s < 0:
            raise ValueError("ttl_s must be >= 0")
        if max_entries < 1:
            raise ValueError("max_entries must be >= 1")
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._data: OrderedDict[Hashable, tuple[float, V]] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> V | None:
        """The live value for ``key``, or None if absent or expired."""
        entry = self._data.get(key)
        if entry is None or entry[0] <= self._clock():
            if entry is not None:
                del self._data[key]
            self.misses += 1
            return None
        self._data.move_to_end(key)
        self.hits += 1
        return entry[1]

    def remaining_s(self, key: Hashable) -> float:
        """Seconds until ``key`` expires (0 if absent or expired)."""
        entry = self._data.get(key)
        if entry is None:
            return 0.0
        return max(0.0, entry[0] - self._clock())

    def put(self, key: Hashable, value: V) -> None:
        """Store ``value`` under ``key`` for ``ttl_s`` seconds (no-op when ttl_s is 0)."""
        if self.ttl_s == 0:
            return
        self._data[key] = (self._clock() + self.ttl_s, value)
        self._data.move_to_end(key)
        while len(self._data) > self.max_entries:
            self._data.popitem(last=False)

    def clear(self) -> None:
        self._data.clear()

    def __len__(self) -> int:
        return len(self._data)

"""A :class:`trial_cache.progress.Progress` adapter that drives a ``rich`` progress bar.

Usage (CLI)::

    with rich.progress.Progress() as bar:
        report = await sync_trials(..., progress=RichProgress(bar))
"""

from __future__ import annotations

from rich.progress import Progress as RichBar
from rich.progress import TaskID

__all__ = ["RichProgress"]


class RichProgress:
    """Adds one task to ``bar`` on ``start`` and advances it; ``bar`` is owned (started
    and stopped) by the caller."""

    def __init__(self, bar: RichBar) -> None:
        self._bar = bar
        self._task: TaskID | None = None

    def start(self, *, description: str, total: int | None) -> None:
        self._task = self._bar.add_task(description, total=total)

    def advance(self, *, count: int) -> None:
        if self._task is None:
            self._task = self._bar.add_task("trials", total=None)
        self._bar.advance(self._task, count)

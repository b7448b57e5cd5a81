"""Progress reporting for syncs and imports, as a protocol.

The core loop only calls :class:`Progress`; the CLI passes an adapter such as
:class:`trial_cache.rich_progress.RichProgress`, tests a recorder, and the default is
:data:`NO_PROGRESS`. Nothing here imports a UI library.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["NO_PROGRESS", "NoProgress", "Progress"]


class Progress(Protocol):
    """Receives progress of one sync or import.

    ``start`` is called once, when the amount of work is known (``total`` records, or
    None when it cannot be known in advance, e.g. a JSONL dump); ``advance`` after each
    batch with the number of records it handled (valid and quarantined).
    """

    def start(self, *, description: str, total: int | None) -> None: ...

    def advance(self, *, count: int) -> None: ...


class NoProgress:
    """A :class:`Progress` that ignores everything."""

    def start(self, *, description: str, total: int | None) -> None:
        return None

    def advance(self, *, count: int) -> None:
        return None


NO_PROGRESS: Progress = NoProgress()

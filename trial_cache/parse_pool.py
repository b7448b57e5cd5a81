"""The parser a sync or an import runs: built only when needed, on one core or many.

:class:`ParserPool` is a :class:`~trial_cache.ingest.TrialParser` that knows its
``version`` up front (a sync compares it with its checkpoint before fetching anything)
and builds the real parser — through ``factory``, e.g. the spaCy pipeline, seconds of
CPU — only on its first :meth:`~ParserPool.parse_each` call. An up-to-date sync, or an
import whose every study is already parsed for this version, never builds it.

* ``workers == 1``: the parser is built in this process and parses here (in the
  ingest's worker thread).
* ``workers > 1``: a :class:`concurrent.futures.ProcessPoolExecutor` of ``workers``
  processes (``spawn`` start method: the importing process runs threads and an event
  loop, which ``fork`` must not copy), each calling ``factory`` once in its initializer.
  A batch is cut into small chunks (``chunk_size`` trials, fewer when the batch is
  small) that the processes take in turn; results come back in order, identical to
  in-process parsing (the parser is deterministic and parses each text on its own).

A trial the parser fails on never stops the run: the worker parses its chunk trial by
trial and reports that trial's error as a reason string (``"parser failed: ValueError:
…"``; the ingest quarantines it under its NCT id). A worker process that dies (killed,
out of memory, a crash in native code) breaks the pool: the pool is restarted for
the next batches, and this batch's trials are parsed one at a time on a one-process
pool of its own; a trial whose task kills that process is failed with ``"parser
worker process died while parsing it …"`` (after more than five such trials in one
batch, ParserUnavailable). If the parser cannot be built at all
(``factory`` raises, in this process or in a worker), :class:`~trial_cache.errors.
ParserUnavailable` is raised: that stops the run, as no trial could be parsed.

The ``factory`` given for ``workers > 1`` is pickled to each process: use a
module-level function or a :func:`functools.partial` of one.
"""

from __future__ import annotations

import logging
import math
import multiprocessing
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from types import TracebackType

from matchers.models import ParsedTrial, TrialSummary
from trial_cache.errors import ParserUnavailable
from trial_cache.ingest import TrialParser

__all__ = ["DEFAULT_CHUNK_SIZE", "ParseResult", "ParserFactory", "ParserPool"]

log = logging.getLogger(__name__)

ParserFactory = Callable[[], TrialParser]
"""Builds the real parser (called once per process that parses)."""

ParseResult = ParsedTrial | str
"""A parsed trial, or why the parser failed on it."""

DEFAULT_CHUNK_SIZE = 16
"""Trials a worker process parses per task (its ``nlp.pipe`` batch): small enough that
the processes share a batch evenly, large enough that pickling stays a few percent."""

_MAX_RESTARTS = 5
"""Trials of one batch whose task may kill a worker process before the batch gives up
with ParserUnavailable (each is failed and its process replaced)."""


class ParserPool:
    """A lazily built parser, in this process (``workers == 1``) or on a pool.

    Use it as a context manager (or call :meth:`close`) so the pool's processes exit.
    ``version`` must be the version the factory's parser reports (checked: a mismatch
    raises ParserUnavailable on the first parse). ``chunk_size`` is in trials.
    """

    def __init__(
        self,
        factory: ParserFactory,
        *,
        version: str,
        workers: int = 1,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, not {workers}")
        if chunk_size < 1:
            raise ValueError(f"chunk_size must be >= 1, not {chunk_size}")
        self._factory = factory
        self._version = version
        self.workers = workers
        self.chunk_size = chunk_size
        self._parser: TrialParser | None = None
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    @property
    def version(self) -> str:
        return self._version

    @property
    def concurrent_batches(self) -> int:
        """Batches the ingest may hand over at once: 2 on a pool (one queued while the
        other parses, so no worker waits for the importing process), 1 in-process."""
        return 2 if self.workers > 1 else 1

    @property
    def started(self) -> bool:
        """Whether the real parser was built (in-process) or the pool started."""
        return self._parser is not None or self._pool is not None

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the pool's processes (waits for running tasks); idempotent."""
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    # ----------------------------------------------------------------------------------

    def parse_many(self, summaries: Sequence[TrialSummary]) -> list[ParsedTrial]:
        """Parse ``summaries`` in order; raises ValueError naming the first trial the
        parser failed on, ParserUnavailable if it cannot be built."""
        out: list[ParsedTrial] = []
        for summary, result in zip(summaries, self.parse_each(summaries), strict=True):
            if isinstance(result, str):
                raise ValueError(f"{summary.nct_id}: {result}")
            out.append(result)
        return out

    def parse_each(self, summaries: Sequence[TrialSummary]) -> list[ParseResult]:
        """One result per summary, in order: the parsed trial, or the reason the parser
        failed on it. Raises ParserUnavailable when the parser cannot be built (or the
        pool keeps dying), RuntimeError after :meth:`close`."""
        if not summaries:
            return []
        if self.workers == 1:
            return _parse_chunk_with(self._in_process(), summaries)
        return self._on_pool(summaries)

    # ----------------------------------------------------------------------------------

    def _in_process(self) -> TrialParser:
        with self._lock:
            if self._closed:
                raise RuntimeError("the parser pool is closed")
            if self._parser is None:
                self._parser = _build(self._factory, self._version)
            return self._parser

    def _new_executor(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(self._factory, self._version),
        )

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the parser pool is closed")
            if self._pool is None:
                log.info("trial_cache: starting %d parse worker processes", self.workers)
                self._pool = self._new_executor(self.workers)
            return self._pool

    def _restart(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._pool is broken:
                self._pool = None
        broken.shutdown(wait=False, cancel_futures=True)

    def _solo_executor(self) -> ProcessPoolExecutor:
        """A one-process pool of this call's own, once its process has built its
        parser (a no-op task ran): what it runs is all that runs on it, so a death is
        that task's. A process that dies as it starts raises ParserUnavailable."""
        with self._lock:
            if self._closed:
                raise RuntimeError("the parser pool is closed")
        solo = self._new_executor(1)
        try:
            solo.submit(_ping).result()
        except BrokenProcessPool as exc:
            solo.shutdown(wait=False, cancel_futures=True)
            raise ParserUnavailable(
                "parse worker processes exit as they start (see their error output)"
            ) from exc
        except BaseException:
            solo.shutdown(wait=False, cancel_futures=True)
            raise
        return solo

    def _chunks(self, n: int) -> list[tuple[int, int]]:
        size = max(1, min(self.chunk_size, math.ceil(n / self.workers)))
        return [(start, min(n, start + size)) for start in range(0, n, size)]

    def _on_pool(self, summaries: Sequence[TrialSummary]) -> list[ParseResult]:
        pool = self._executor()
        try:
            futures = [
                pool.submit(_parse_in_worker, summaries[a:b])
                for a, b in self._chunks(len(summaries))
            ]
            results: list[ParseResult] = []
            for future in futures:
                results.extend(future.result())
            return results
        except BrokenProcessPool:
            self._restart(pool)
        log.warning(
            "trial_cache: a parse worker process died; parsing the batch's %d trials one "
            "at a time on a new pool",
            len(summaries),
        )
        return self._one_at_a_time(summaries)

    def _one_at_a_time(self, summaries: Sequence[TrialSummary]) -> list[ParseResult]:
        """Each trial alone on a one-process pool of this call's own, so a trial whose
        task kills the process is known for sure (another batch parsing at the same
        time runs elsewhere): it is failed with that reason and the process replaced."""
        results: list[ParseResult] = []
        deaths = 0
        solo = self._solo_executor()
        try:
            for summary in summaries:
                try:
                    results.extend(solo.submit(_parse_in_worker, [summary]).result())
                    continue
                except BrokenProcessPool:
                    solo.shutdown(wait=False, cancel_futures=True)
                deaths += 1
                log.warning(
                    "trial_cache: a parse worker process died parsing %s", summary.nct_id
                )
                results.append(
                    "parser worker process died while parsing it (killed, out of memory, "
                    "or a crash in native code)"
                )
                if deaths > _MAX_RESTARTS:
                    raise ParserUnavailable(
                        f"parse worker processes died on {deaths} trials of one batch "
                        f"(the last {summary.nct_id}); giving up"
                    )
                solo = self._solo_executor()
        finally:
            solo.shutdown(wait=True, cancel_futures=True)
        return results


# --------------------------------------------------------------------------------------
# In the worker processes (and, for workers == 1, in this one)
# --------------------------------------------------------------------------------------

_worker_parser: TrialParser | None = None
_worker_error: str | None = None


def _build(factory: ParserFactory, version: str) -> TrialParser:
    try:
        parser = factory()
    except Exception as exc:
        raise ParserUnavailable(
            f"the parser could not be built: {type(exc).__name__}: {exc}"
        ) from exc
    if parser.version != version:
        raise ParserUnavailable(
            f"the parser built is version {parser.version!r}, expected {version!r}"
        )
    return parser


def _init_worker(factory: ParserFactory, version: str) -> None:
    """Pool initializer: build this process's parser once. A failure is kept and
    raised by every task (an initializer that raises would only break the pool)."""
    global _worker_parser, _worker_error
    # Ctrl-C reaches the whole process group: the importing process handles it (and
    # shuts the pool down); a worker printing its own KeyboardInterrupt helps no one
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _worker_parser = _build(factory, version)
    except ParserUnavailable as exc:
        _worker_error = str(exc)


def _ping() -> None:
    """A no-op task: it runs once the worker's initializer is done."""
    if _worker_parser is None:
        raise ParserUnavailable(_worker_error or "the parse worker has no parser")


def _parse_in_worker(summaries: Sequence[TrialSummary]) -> list[ParseResult]:
    if _worker_parser is None:
        raise ParserUnavailable(_worker_error or "the parse worker has no parser")
    return _parse_chunk_with(_worker_parser, summaries)


def _parse_chunk_with(parser: TrialParser, summaries: Sequence[TrialSummary]) -> list[ParseResult]:
    """The chunk in one ``parse_many`` call; if that raises, trial by trial, each
    failure as its reason."""
    try:
        return list(parser.parse_many(summaries))
    except Exception as exc:  # one trial's failure never stops the run
        if len(summaries) == 1:
            return [_reason(exc)]
    return [_failure(parser, s) for s in summaries]


def _failure(parser: TrialParser, summary: TrialSummary) -> ParseResult:
    try:
        return parser.parse_many([summary])[0]
    except Exception as exc:
        return _reason(exc)


def _reason(exc: Exception) -> str:
    return f"parser failed: {type(exc).__name__}: {exc}"

"""Import a ClinicalTrials.gov bulk download (or any file of v2 study records).

Accepted files (by name):

* ``*.jsonl`` / ``*.ndjson`` — one study object per line;
* ``*.jsonl.gz`` / ``*.ndjson.gz`` — the same, gzip-compressed;
* ``*.json`` (or ``*.json.gz``) — one study object, ``{"studies": [...]}`` (an API page),
  or a list of study objects;
* ``*.zip`` — CT.gov's "download all" archive: one ``*.json`` per study, each in one of the
  ``.json`` shapes above; other members are skipped.

Records go through the same pipeline as a sync (:mod:`trial_cache.ingest`): unchanged
studies are not re-parsed, a broken record is quarantined with its location
(``file.jsonl.gz:120``, ``studies.zip!NCT01234567.json``) and reason. The import is then
published as a new generation that holds the file's valid studies (plus the last good
version of quarantined ones) and, unless ``prune=True`` (``trialmatch import --prune``),
every trial of the previous generation that the file lacks (counted as ``kept``): an
import never removes trials silently. The sync checkpoint is cleared, so the next sync
is a full one (cheap: it re-parses nothing that did not change). An import that changed
nothing (every study unchanged, nothing removed, same parser) publishes nothing and
leaves the checkpoint as it is (the report's ``published`` is False). The progress
total is the file's record count (:func:`count_records`).
"""

from __future__ import annotations

import asyncio
import gzip
import zipfile
from collections.abc import AsyncGenerator, Iterable, Iterator, Sequence
from contextlib import aclosing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from trial_cache.errors import DumpFormatError
from trial_cache.ingest import IndexCodes, TrialParser, ingest_generation
from trial_cache.models import QuarantineEntry, StudyRecord, validate_record
from trial_cache.progress import NO_PROGRESS, Progress
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncKind, SyncReport
from trial_cache.store import TrialStore

__all__ = ["count_records", "import_dump"]

_LINE_SUFFIXES = (".jsonl", ".ndjson")
MAX_RECORD_BYTES = 8 * 1024 * 1024
"""Largest JSONL line read, bytes (8 MiB; the largest study in the shared corpus, with
hundreds of sites, is 0.8 MB). A longer line is quarantined without being decoded."""


async def import_dump(
    path: Path,
    *,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    settings: TrialCacheSettings,
    progress: Progress | None = None,
    prune: bool = False,
    force: bool = False,
) -> SyncReport:
    """Load ``path`` into the store and publish it as a new generation (none when it
    changed nothing: the report's ``published`` is then False).

    Trials of the published generation that the file lacks are kept (the report's
    ``kept``), unless ``prune``: then they are removed, reported as ``"not in
    <file name>"``. Holds the namespace's sync lease (``force`` takes over a dead
    owner's). Raises DumpFormatError if the file cannot be read at all (unknown
    extension, not a zip, corrupt gzip: then nothing is published),
    SyncInProgressError, StoreError, ParserContractError or ParserUnavailable (the
    parser could not be built).
    """
    progress = progress or NO_PROGRESS
    started_at = datetime.now(UTC)
    _check_format(path)

    async def not_in_file(nct_ids: Sequence[str]) -> dict[str, list[str]]:
        return {f"not in {path.name}": list(nct_ids)}

    async with store.sync_lease(
        ttl_s=settings.sync_lease_ttl_s, command="import", force=force
    ) as lease:
        total = await asyncio.to_thread(count_records, path)
        progress.start(description=f"import {path.name}", total=total)
        async with aclosing(_records(path)) as items:
            return await ingest_generation(
                items,
                store=store,
                parser=parser,
                index_codes=index_codes,
                settings=settings,
                kind=SyncKind.IMPORT,
                source=str(path),
                checkpoint_for=lambda _generation: None,
                data_timestamp=None,
                progress=progress,
                started_at=started_at,
                prune=not_in_file if prune else None,
                before_publish=lease.ensure,
                took_over_lease_of=(
                    lease.took_over.describe() if lease.took_over is not None else None
                ),
            )


def count_records(path: Path) -> int | None:
    """How many records an import of ``path`` will read, for the progress bar: the
    non-blank lines of a JSONL file (gzip'd or not; one pass over the file, about 1 s
    for the 7.5k-study corpus), the ``.json`` members of a zip (one holding several
    studies counts once); None for a ``.json``
    document (read whole during the import) or a file that cannot be read (the import
    then reports the error)."""
    name = path.name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                return sum(
                    1
                    for info in archive.infolist()
                    if not info.is_dir()
                    and info.filename.lower().endswith(".json")
                    and not info.filename.startswith("__MACOSX/")
                )
        if not name.removesuffix(".gz").endswith(_LINE_SUFFIXES):
            return None
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            return sum(1 for line in fh if line.strip())
    except (OSError, EOFError, zipfile.BadZipFile):
        return None


def _check_format(path: Path) -> None:
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file():
        raise DumpFormatError(f"{path}: no such file")
    if not name.endswith((*_LINE_SUFFIXES, ".json", ".zip")):
        raise DumpFormatError(
            f"{path.name}: unknown dump format (expected .jsonl, .jsonl.gz, .json or .zip)"
        )


async def _records(path: Path) -> AsyncGenerator[StudyRecord | QuarantineEntry, None]:
    """Validated records; a repeated NCT id is quarantined (the first one is kept), by
    location, with the location of the first in its reason."""
    first_seen: dict[str, str] = {}
    for raw, location in _read_dump(path):
        if isinstance(raw, QuarantineEntry):
            yield raw
            continue
        result = validate_record(raw, location=location)
        if isinstance(result, StudyRecord):
            seen = first_seen.setdefault(result.nct_id, location)
            if seen != location:
                # nct_id stays None: the quarantine key is the location, so the entry
                # neither replaces nor releases the first record's
                yield QuarantineEntry(
                    location=location,
                    reason=f"duplicate NCT ID {result.nct_id}: first at {seen} (kept)",
                )
                continue
        yield result


def _read_dump(path: Path) -> Iterator[tuple[Any, str]]:
    """Every raw study object in ``path`` with its location; a part that is not JSON
    comes as a QuarantineEntry instead of an object. Raises DumpFormatError when the
    file as a whole cannot be read."""
    _check_format(path)
    name = path.name.lower()
    try:
        if name.endswith(".zip"):
            yield from _read_zip(path)
            return
        opener = gzip.open if name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            if name.removesuffix(".gz").endswith(_LINE_SUFFIXES):
                yield from _read_lines(fh, path.name)
            else:
                yield from _read_document(fh.read(), path.name)
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DumpFormatError(f"{path.name}: cannot be read: {exc}") from exc


def _read_lines(lines: Iterable[bytes], name: str) -> Iterator[tuple[Any, str]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        location = f"{name}:{number}"
        if len(line) > MAX_RECORD_BYTES:
            reason = f"record is {len(line):,} bytes (limit {MAX_RECORD_BYTES:,})"
            yield QuarantineEntry(location=location, reason=reason), location
            continue
        try:
            yield orjson.loads(line), location
        except orjson.JSONDecodeError as exc:
            yield QuarantineEntry(location=location, reason=f"invalid JSON: {exc}"), location


def _read_document(data: bytes, location: str) -> Iterator[tuple[Any, str]]:
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        yield QuarantineEntry(location=location, reason=f"invalid JSON: {exc}"), location
        return
    if isinstance(document, dict) and isinstance(document.get("studies"), list):
        items: list[Any] = document["studies"]
    elif isinstance(document, list):
        items = document
    else:
        yield document, location
        return
    for index, item in enumerate(items, start=1):
        yield item, f"{location}#{index}"


def _read_zip(path: Path) -> Iterator[tuple[Any, str]]:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            member = info.filename
            if info.is_dir() or not member.lower().endswith(".json"):
                continue
            if member.startswith("__MACOSX/"):
                continue
            yield from _read_document(archive.read(info), f"{path.name}!{member}")

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
published as a new generation that holds exactly the file's valid studies (plus the last
good version of quarantined ones), and the sync checkpoint is cleared, so the next sync
is a full one (cheap: it re-parses nothing that did not change).
"""

from __future__ import annotations

import gzip
import zipfile
from collections.abc import AsyncGenerator, Iterable, Iterator
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

__all__ = ["import_dump"]

_LINE_SUFFIXES = (".jsonl", ".ndjson")


async def import_dump(
    path: Path,
    *,
    store: TrialStore,
    parser: TrialParser,
    index_codes: IndexCodes,
    settings: TrialCacheSettings,
    progress: Progress | None = None,
) -> SyncReport:
    """Load ``path`` into the store and publish it as a new generation.

    Holds the namespace's sync lock. Raises DumpFormatError if the file cannot be read
    at all (unknown extension, not a zip, corrupt gzip: then nothing is published),
    SyncInProgressError, StoreError or ParserContractError.
    """
    progress = progress or NO_PROGRESS
    started_at = datetime.now(UTC)
    _check_format(path)
    async with store.sync_lock(ttl_s=settings.sync_lock_ttl_s):
        progress.start(description=f"import {path.name}", total=None)
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
            )


def _check_format(path: Path) -> None:
    name = path.name.lower().removesuffix(".gz")
    if not path.is_file():
        raise DumpFormatError(f"{path}: no such file")
    if not name.endswith((*_LINE_SUFFIXES, ".json", ".zip")):
        raise DumpFormatError(
            f"{path.name}: unknown dump format (expected .jsonl, .jsonl.gz, .json or .zip)"
        )


async def _records(path: Path) -> AsyncGenerator[StudyRecord | QuarantineEntry, None]:
    for raw, location in _read_dump(path):
        yield raw if isinstance(raw, QuarantineEntry) else validate_record(raw, location=location)


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

"""Redis key layout of the trial cache.

Every key starts with the namespace (``TRIALMATCH_REDIS_NAMESPACE``, default
``trialmatch``), so tests and deployments can share a server. The suffixes below are the
only key shapes the store writes; none has a TTL except the sync lock.

Immutable, content-addressed documents (shared by all generations)::

    {ns}:study:{nct_id}:{content_hash}                    HASH   raw, summary
    {ns}:parsed:{parser_version}:{nct_id}:{content_hash}  HASH   trial, oncotree

A changed study gets a new key instead of being overwritten, so a published generation
never changes under a reader, and a parser change (new ``parser_version``) re-parses.

Generations (one per sync/import; a reader only ever sees a published one)::

    {ns}:gen:{g}:meta                    STRING GenerationInfo JSON
    {ns}:gen:{g}:members                 HASH   nct_id -> content_hash
    {ns}:gen:{g}:tags                    HASH   nct_id -> JSON list of index tags
    {ns}:gen:{g}:idx:{kind}:{value}      SET    nct_ids (kind: oncotree | status | type)
    {ns}:generations                     SET    every generation id not yet deleted
    {ns}:gen:seq                         STRING last generation id handed out (INCR)

Pointers and bookkeeping::

    {ns}:current         STRING id of the published generation; swapped with one SET in
                         the same MULTI/EXEC as the checkpoint
    {ns}:checkpoint      STRING SyncCheckpoint JSON of the last successful sync
    {ns}:quarantine      HASH   nct_id (or file location) -> QuarantineEntry JSON
    {ns}:sync:stats      STRING SyncReport JSON of the last sync/import
    {ns}:sync:lock       HASH   the sync/import lease: token, host, pid, command,
                                acquired_at, renewed_at; TTL = sync_lease_ttl_s (seconds),
                                renewed every third of it (trial_cache.lease)
    {ns}:sync:resume     STRING ResumePoint JSON of an interrupted sync (absent otherwise)

After a publish, generations other than the published one and the one it replaced are
deleted, and so are documents that neither of those two references (the replaced
generation is kept so a reader that started just before the swap can finish).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["IndexKind", "KeySpace", "tag"]

STUDY = "study"
"""``{ns}:study:{nct_id}:{content_hash}`` HASH: ``raw`` (canonical projected study JSON),
``summary`` (TrialSummary JSON). Immutable; no TTL; deleted by garbage collection."""

PARSED = "parsed"
"""``{ns}:parsed:{parser_version}:{nct_id}:{content_hash}`` HASH: ``trial`` (ParsedTrial
JSON), ``oncotree`` (JSON list of OncoTree codes for the index). Immutable; no TTL."""

GEN = "gen"
"""``{ns}:gen:{g}:...``: one generation's members, tags, indexes and meta. No TTL."""

GENERATIONS = "generations"
"""``{ns}:generations`` SET of generation ids (decimal strings) that still have keys."""

GEN_SEQ = "gen:seq"
"""``{ns}:gen:seq`` STRING counter; INCR hands out generation ids 1, 2, 3, ..."""

CURRENT = "current"
"""``{ns}:current`` STRING: the published generation id. Absent until the first publish."""

CHECKPOINT = "checkpoint"
"""``{ns}:checkpoint`` STRING: SyncCheckpoint JSON; absent after an import (next sync is
full)."""

QUARANTINE = "quarantine"
"""``{ns}:quarantine`` HASH: nct_id or location -> QuarantineEntry JSON. A record that
validates later removes its entry."""

SYNC_STATS = "sync:stats"
"""``{ns}:sync:stats`` STRING: SyncReport JSON of the last sync or import."""

SYNC_LOCK = "sync:lock"
"""``{ns}:sync:lock`` HASH lease (:class:`trial_cache.lease.LeaseOwner` fields) with a
TTL of ``sync_lease_ttl_s`` seconds, renewed by the holder's heartbeat."""

SYNC_RESUME = "sync:resume"
"""``{ns}:sync:resume`` STRING :class:`trial_cache.state.ResumePoint` JSON: the paging
progress of an unfinished sync and the unpublished generation it is building. Written
after each page is stored, deleted when the sync publishes. No TTL."""


class IndexKind(StrEnum):
    """Kinds of per-generation index sets (``{ns}:gen:{g}:idx:{kind}:{value}``)."""

    ONCOTREE = "oncotree"
    """value: an OncoTree code from the injected ``index_codes`` (e.g. ``PLEMESO``)."""
    STATUS = "status"
    """value: ``overallStatus`` (e.g. ``RECRUITING``); no set for records without one."""
    TYPE = "type"
    """value: ``studyType`` (e.g. ``INTERVENTIONAL``); no set for records without one."""


@dataclass(frozen=True)
class KeySpace:
    """Builds the keys of one namespace. Pure string formatting; no I/O."""

    namespace: str

    def _k(self, *parts: str | int) -> str:
        return ":".join((self.namespace, *map(str, parts)))

    # documents
    def study(self, nct_id: str, content_hash: str) -> str:
        return self._k(STUDY, nct_id, content_hash)

    def parsed(self, parser_version: str, nct_id: str, content_hash: str) -> str:
        return self._k(PARSED, parser_version, nct_id, content_hash)

    @property
    def study_pattern(self) -> str:
        """SCAN pattern of every study document."""
        return self._k(STUDY, "*")

    @property
    def parsed_pattern(self) -> str:
        """SCAN pattern of every parsed document."""
        return self._k(PARSED, "*")

    # generations
    def gen_meta(self, generation: int) -> str:
        return self._k(GEN, generation, "meta")

    def gen_members(self, generation: int) -> str:
        return self._k(GEN, generation, "members")

    def gen_tags(self, generation: int) -> str:
        return self._k(GEN, generation, "tags")

    def gen_index(self, generation: int, tag: str) -> str:
        """``tag`` is ``"{kind}:{value}"``, e.g. ``"status:RECRUITING"``."""
        return self._k(GEN, generation, "idx", tag)

    @property
    def generations(self) -> str:
        return self._k(GENERATIONS)

    @property
    def gen_seq(self) -> str:
        return self._k(GEN_SEQ)

    # pointers and bookkeeping
    @property
    def current(self) -> str:
        return self._k(CURRENT)

    @property
    def checkpoint(self) -> str:
        return self._k(CHECKPOINT)

    @property
    def quarantine(self) -> str:
        return self._k(QUARANTINE)

    @property
    def sync_stats(self) -> str:
        return self._k(SYNC_STATS)

    @property
    def sync_lock(self) -> str:
        return self._k(SYNC_LOCK)

    @property
    def sync_resume(self) -> str:
        return self._k(SYNC_RESUME)

    @property
    def all_pattern(self) -> str:
        """SCAN pattern of every key of the namespace (used by tests to clean up)."""
        return self._k("*")


def tag(kind: IndexKind, value: str) -> str:
    """An index tag: ``tag(IndexKind.STATUS, "RECRUITING") == "status:RECRUITING"``."""
    return f"{kind}:{value}"

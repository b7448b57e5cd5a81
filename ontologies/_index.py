"""Name → id lookup shared by the small vocabularies (internal).

One :class:`NameIndex` per vocabulary: exact lookup on :func:`~ontologies._text.compact`
keys, "longest name contained in the text" lookup on token keys, and an optional fuzzy
fallback (rapidfuzz) with a high cutoff for typos in drug and class names.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from rapidfuzz import fuzz, process

from ._text import (
    abbreviation_variants,
    compact,
    contains_phrase,
    is_ambiguous_abbreviation,
    key,
    surface_variants,
)
from .errors import OntologyDataError


class NameIndex:
    """Surface names of vocabulary ids, with exact, contained and fuzzy lookup.

    ``entries`` maps id → names. Two ids may not share a name (after normalization):
    that is reported as an OntologyDataError naming both, because a name must resolve
    to one id.
    """

    def __init__(self, entries: Mapping[str, Iterable[str]], *, path: Path, section: str):
        self._exact: dict[str, str] = {}
        self._names: dict[str, tuple[str, ...]] = {}
        by_key: dict[str, str] = {}
        for entry_id, names in entries.items():
            kept = tuple(names)
            self._names[entry_id] = kept
            for name in kept:
                k = key(name)
                c = k.replace(" ", "")
                if not c:
                    raise OntologyDataError(
                        f"name {name!r} is empty after normalization",
                        file=path,
                        entry=f"{section}.{entry_id}",
                    )
                other = self._exact.get(c)
                if other is not None and other != entry_id:
                    raise OntologyDataError(
                        f"name {name!r} also belongs to {section}.{other}",
                        file=path,
                        entry=f"{section}.{entry_id}",
                    )
                self._exact[c] = entry_id
                by_key.setdefault(k, entry_id)
        self._keys = sorted(by_key, key=len, reverse=True)
        self._key_ids = [by_key[k] for k in self._keys]

    def exact(self, text: str) -> str | None:
        """The id whose name equals ``text`` (normalized), or None."""
        c = compact(text)
        return self._exact.get(c) if c else None

    def contained(self, text: str) -> list[tuple[str, str]]:
        """(id, name key) for names found in ``text`` on token boundaries, longest first,
        skipping names inside an already-found longer name."""
        tk = key(text)
        if not tk:
            return []
        found: list[tuple[str, str]] = []
        for k, entry_id in zip(self._keys, self._key_ids, strict=True):
            if contains_phrase(tk, k) and not any(contains_phrase(f, k) for _, f in found):
                found.append((entry_id, k))
        return found

    def longest(self, text: str) -> str | None:
        """The id of the longest name contained in ``text``, or None."""
        hits = self.contained(text)
        return hits[0][0] if hits else None

    def fuzzy(self, text: str, cutoff: float) -> str | None:
        """The id of the name nearest ``text`` by ``token_sort_ratio`` ≥ ``cutoff``."""
        tk = key(text)
        if not tk:
            return None
        best = process.extractOne(
            tk, self._keys, scorer=fuzz.token_sort_ratio, processor=None, score_cutoff=cutoff
        )
        return self._key_ids[best[2]] if best else None

    def resolve(self, text: str, *, fuzzy_cutoff: float | None = None) -> str | None:
        """Exact name, else fuzzy (when a cutoff is given), else None."""
        found = self.exact(text)
        if found is None and fuzzy_cutoff is not None:
            found = self.fuzzy(text, fuzzy_cutoff)
        return found

    def names(self, entry_id: str) -> tuple[str, ...]:
        """The names of one id as written in the data file."""
        return self._names.get(entry_id, ())

    def phrases(self) -> Iterator[tuple[str, str]]:
        """(lower-case surface form, id) pairs; ambiguous short abbreviations excluded."""
        seen: set[tuple[str, str]] = set()
        for entry_id, names in self._names.items():
            for name in names:
                if is_ambiguous_abbreviation(name):
                    continue
                for form in surface_variants(name):
                    if (form, entry_id) not in seen:
                        seen.add((form, entry_id))
                        yield form, entry_id

    def abbreviations(self) -> Iterator[tuple[str, str]]:
        """(case-preserved abbreviation, id) pairs for the ambiguous short abbreviations
        left out of :meth:`phrases`, to match case-sensitively."""
        seen: set[tuple[str, str]] = set()
        for entry_id, names in self._names.items():
            for name in names:
                if not is_ambiguous_abbreviation(name):
                    continue
                for form in abbreviation_variants(name):
                    if (form, entry_id) not in seen:
                        seen.add((form, entry_id))
                        yield form, entry_id

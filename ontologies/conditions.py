"""Comorbidities and patient states used by exclusions (``data/conditions.toml``)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

from pydantic import Field

from ._index import NameIndex
from ._loading import (
    StrictModel,
    check_sections,
    closure,
    read_toml,
    require_known,
    validate_table,
)

__all__ = ["Comorbidity", "ComorbidityVocab"]


class Comorbidity(StrictModel):
    """A comorbidity (``hiv``, ``hepatitis_b``, ``interstitial_lung_disease``,
    ``pregnancy`` …). ``covers`` lists ids it includes (``cardiac_disease`` →
    heart failure, MI, …); ``nci`` NCIt codes where NCI's criteria use them."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    names: tuple[str, ...] = Field(min_length=1)
    covers: tuple[str, ...] = ()
    nci: tuple[str, ...] = ()


class ComorbidityVocab:
    """Comorbidities with name resolution and inclusion closure."""

    def __init__(self, conditions: Mapping[str, Comorbidity], *, path: Path):
        self._conditions = dict(conditions)
        for cid, c in self._conditions.items():
            require_known(
                c.covers, self._conditions, "condition id(s) in covers", path, f"conditions.{cid}"
            )
        self._closure: dict[str, frozenset[str]] = {
            cid: closure(cid, lambda c: self._conditions[c].covers) for cid in self._conditions
        }
        self._index = NameIndex(
            {cid: c.names for cid, c in self._conditions.items()}, path=path, section="conditions"
        )

    @classmethod
    def load(cls, path: Path) -> ComorbidityVocab:
        """Read ``conditions.toml``; OntologyDataError on unknown keys, ids or duplicate names."""
        doc = read_toml(path)
        check_sections(doc, {"conditions"}, path)
        return cls(validate_table(Comorbidity, doc, "conditions", path), path=path)

    @property
    def conditions(self) -> Mapping[str, Comorbidity]:
        """All conditions by id."""
        return self._conditions

    def resolve(self, text: str) -> str | None:
        """The condition id for ``text``: an id, an exact name ("ILD" →
        ``interstitial_lung_disease``), else the longest name it contains ("known HIV
        infection on ART" → ``hiv``). None if no name occurs."""
        if text in self._conditions:
            return text
        return self._index.exact(text) or self._index.longest(text)

    def find(self, text: str) -> tuple[str, ...]:
        """Every condition named in ``text`` (longest names first, non-overlapping)."""
        return tuple(dict.fromkeys(cid for cid, _ in self._index.contained(text)))

    def covers(self, condition_id: str) -> frozenset[str]:
        """``condition_id`` and the conditions it includes, transitively. KeyError if unknown."""
        return self._closure[condition_id]

    def phrases(self) -> Iterator[tuple[str, str]]:
        """(lower-case surface form, condition id) pairs for a PhraseMatcher
        (``attr="LOWER"``), abbreviations included ("hiv", "ild", "hbv"); ambiguous short
        ones ("MI", "TB", "AIDS") come from :meth:`abbreviations`."""
        return self._index.phrases()

    def abbreviations(self) -> Iterator[tuple[str, str]]:
        """(abbreviation, condition id) pairs for case-sensitive matching (``attr="ORTH"``):
        the ambiguous short names left out of :meth:`phrases`."""
        return self._index.abbreviations()

"""Histologic subtypes (``data/histology.toml``): names, inclusion, OncoTree links.

Rules: WHO Classification of Tumours 5th ed. (thoracic 2021, breast 2019, female genital
2020); the pemetrexed label for "nonsquamous NSCLC". See the data file's comments.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from pydantic import Field

from ._index import NameIndex
from ._loading import (
    StrictModel,
    check_sections,
    covers_closure,
    read_toml,
    require_known,
    validate_table,
)
from .errors import OntologyDataError

__all__ = ["HistologyTerm", "HistologyVocab"]


class HistologyTerm(StrictModel):
    """One histology. ``covers`` lists the ids it directly includes (``non_epithelioid``
    → sarcomatoid, biphasic); ``cancer_codes`` the OncoTree codes that imply it."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    names: tuple[str, ...] = Field(min_length=1)
    covers: tuple[str, ...] = ()
    cancer_codes: tuple[str, ...] = ()


class HistologyVocab:
    """Histology terms with name resolution, inclusion closure and OncoTree links."""

    def __init__(
        self,
        terms: Mapping[str, HistologyTerm],
        *,
        path: Path,
        ancestors: Callable[[str], tuple[str, ...]] | None = None,
    ) -> None:
        self._terms = dict(terms)
        for tid, term in self._terms.items():
            require_known(
                term.covers, self._terms, "histology id(s) in covers", path, f"terms.{tid}"
            )
        self._closure: dict[str, frozenset[str]] = {
            tid: covers_closure(tid, lambda t: self._terms[t].covers, path, f"terms.{tid}")
            for tid in self._terms
        }
        self._by_code: dict[str, str] = {}
        for tid, term in self._terms.items():
            for code in term.cancer_codes:
                other = self._by_code.get(code)
                if other is not None:
                    raise OntologyDataError(
                        f"OncoTree code {code} already implies {other!r}",
                        file=path,
                        entry=f"terms.{tid}",
                    )
                self._by_code[code] = tid
        self._ancestors = ancestors
        self._index = NameIndex(
            {t: term.names for t, term in self._terms.items()}, path=path, section="terms"
        )

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        known_codes: Mapping[str, object] | None = None,
        ancestors: Callable[[str], tuple[str, ...]] | None = None,
    ) -> HistologyVocab:
        """Read ``histology.toml``; OntologyDataError on unknown keys, ids or codes.

        ``known_codes`` (the OncoTree nodes) is used to check every ``cancer_codes``
        entry; ``ancestors`` lets :meth:`of_oncotree` inherit down the tree.
        """
        doc = read_toml(path)
        check_sections(doc, {"terms"}, path)
        terms = validate_table(HistologyTerm, doc, "terms", path)
        if known_codes is not None:
            for tid, term in terms.items():
                require_known(
                    term.cancer_codes, known_codes, "OncoTree code(s)", path, f"terms.{tid}"
                )
        return cls(terms, path=path, ancestors=ancestors)

    @property
    def terms(self) -> Mapping[str, HistologyTerm]:
        """All terms by id."""
        return self._terms

    def resolve(self, text: str) -> str | None:
        """The term id for ``text``: an exact name ("IDC" → ``ductal``), else the longest
        name it contains ("Epithelioid mesothelioma, biopsy-proven" → ``epithelioid``,
        "non-squamous NSCLC" → ``non_squamous``). None if no name occurs."""
        return self._index.exact(text) or self._index.longest(text)

    def find(self, text: str) -> tuple[str, ...]:
        """Every term whose name occurs in ``text`` (longest first, non-overlapping)."""
        return tuple(dict.fromkeys(tid for tid, _ in self._index.contained(text)))

    def covers(self, term_id: str) -> frozenset[str]:
        """``term_id`` and every term it includes, transitively.

        ``non_epithelioid`` → {non_epithelioid, sarcomatoid, biphasic, desmoplastic}.
        Raises KeyError for an unknown id.
        """
        return self._closure[term_id]

    def satisfies(self, patient_term: str, required_term: str) -> bool:
        """True if a tumour of histology ``patient_term`` meets a requirement for
        ``required_term`` (the patient's term is covered by the required one)."""
        return patient_term in self._closure.get(required_term, frozenset())

    def of_oncotree(self, code: str) -> str | None:
        """The histology implied by an OncoTree code, inherited from the nearest listed
        ancestor: PLEMESO → ``epithelioid``, LUAD → ``adenocarcinoma``, READ →
        ``adenocarcinoma`` (via COADREAD), PLMESO → None (unspecified)."""
        code = code.upper()
        if code in self._by_code:
            return self._by_code[code]
        if self._ancestors is not None:
            for anc in self._ancestors(code):
                if anc in self._by_code:
                    return self._by_code[anc]
        return None

    def phrases(self) -> Iterator[tuple[str, str]]:
        """(lower-case surface form, term id) pairs for a PhraseMatcher (``attr="LOWER"``),
        with hyphen/plural variants and abbreviations ("idc", "scc", "non-squamous",
        "nonsquamous", "non squamous")."""
        return self._index.phrases()

    def abbreviations(self) -> Iterator[tuple[str, str]]:
        """(abbreviation, term id) pairs for case-sensitive matching (``attr="ORTH"``): the
        ambiguous short ones left out of :meth:`phrases` (none at present)."""
        return self._index.abbreviations()

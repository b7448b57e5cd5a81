"""Therapy classes (a DAG) and drugs (``data/therapies.toml``).

``systemic`` ⊃ ``chemotherapy`` ⊃ ``platinum`` …, ``systemic`` ⊃ ``immunotherapy`` ⊃
``checkpoint_inhibitor`` ⊃ ``pd1_pdl1`` ⊃ {``pd1``, ``pdl1``}, ``systemic`` ⊃ ``targeted``
⊃ ``tki`` ⊃ ``egfr_tki`` ⊃ ``egfr_tki_3g`` …, ``systemic`` ⊃ ``endocrine`` ⊃ ``serd`` …;
``radiotherapy``, ``surgery``, ``local_ablation`` and ``transplant`` are roots of their own
(not systemic). Class membership follows FDA label pharmacologic classes and NCCN/ESMO
usage; NCIt codes are the ones NCI's curated criteria use (see the data file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from pydantic import Field

from ._index import NameIndex
from ._loading import StrictModel, check_sections, read_toml, require_known, validate_table
from .errors import OntologyDataError

__all__ = ["Drug", "TherapyClass", "TherapyVocab"]

_ID = r"^[a-z0-9][a-z0-9_]*$"


class TherapyClass(StrictModel):
    """A therapy class. ``parents`` are the classes it is a kind of (DAG edges)."""

    id: str = Field(pattern=_ID)
    names: tuple[str, ...] = Field(min_length=1)
    parents: tuple[str, ...] = ()
    nci: tuple[str, ...] = ()


class Drug(StrictModel):
    """A drug: generic name first in ``names``, then brands and codes; ``classes`` are its
    most specific class ids (ancestors implied, see :meth:`TherapyVocab.classes_of`)."""

    id: str = Field(pattern=_ID)
    names: tuple[str, ...] = Field(min_length=1)
    classes: tuple[str, ...] = Field(min_length=1)
    nci: tuple[str, ...] = ()


class Regimen(StrictModel):
    """A named combination regimen ("FOLFOX", "R-CHOP") and its anticancer drugs (drug
    ids; supportive agents such as leucovorin or prednisone are not listed)."""

    id: str = Field(pattern=_ID)
    names: tuple[str, ...] = Field(min_length=1)
    drugs: tuple[str, ...] = Field(min_length=1)


class TherapyVocab:
    """Therapy classes and drugs with resolution and class closure.

    Class ids and drug ids are disjoint, so :meth:`phrases` can return both.
    """

    fuzzy_cutoff: float = 90.0
    """Minimum ``token_sort_ratio`` for a fuzzy drug/class match (typos only)."""

    def __init__(
        self, classes: Mapping[str, TherapyClass], drugs: Mapping[str, Drug], *, path: Path,
        regimens: Mapping[str, Regimen] | None = None,
    ):
        self._classes = dict(classes)
        self._drugs = dict(drugs)
        self._regimens = dict(regimens or {})
        for rid, r in self._regimens.items():
            require_known(r.drugs, self._drugs, "drug(s)", path, f"regimens.{rid}")
        self._regimen_index = NameIndex(
            {rid: r.names for rid, r in self._regimens.items()}, path=path, section="regimens"
        )
        both = sorted(set(self._classes) & set(self._drugs))
        if both:
            raise OntologyDataError(f"ids used both as class and drug: {both}", file=path)
        for cid, c in self._classes.items():
            require_known(c.parents, self._classes, "parent class(es)", path, f"classes.{cid}")
        for did, d in self._drugs.items():
            require_known(d.classes, self._classes, "class(es)", path, f"drugs.{did}")
        self._ancestors: dict[str, frozenset[str]] = {}
        for cid in self._classes:
            self._ancestors[cid] = self._up(cid, path)
        self._drug_classes = {
            did: frozenset().union(*(self._ancestors[c] for c in d.classes))
            for did, d in self._drugs.items()
        }
        self._class_index = NameIndex(
            {cid: c.names for cid, c in self._classes.items()}, path=path, section="classes"
        )
        self._drug_index = NameIndex(
            {did: d.names for did, d in self._drugs.items()}, path=path, section="drugs"
        )

    def _up(self, cid: str, path: Path) -> frozenset[str]:
        seen: set[str] = set()
        stack: list[tuple[str, tuple[str, ...]]] = [(cid, ())]
        while stack:
            cur, trail = stack.pop()
            if cur in trail:
                raise OntologyDataError(
                    f"parent cycle {' -> '.join((*trail, cur))}", file=path, entry=f"classes.{cid}"
                )
            if cur in seen:
                continue
            seen.add(cur)
            stack.extend((p, (*trail, cur)) for p in self._classes[cur].parents)
        return frozenset(seen)

    @classmethod
    def load(cls, path: Path) -> TherapyVocab:
        """Read ``therapies.toml``; OntologyDataError on unknown keys, ids, cycles or a
        name shared by two classes (or two drugs)."""
        doc = read_toml(path)
        check_sections(doc, {"classes", "drugs", "regimens"}, path)
        classes = validate_table(TherapyClass, doc, "classes", path)
        drugs = validate_table(Drug, doc, "drugs", path)
        regimens = validate_table(Regimen, doc, "regimens", path) if "regimens" in doc else {}
        return cls(classes, drugs, path=path, regimens=regimens)

    # ------------------------------------------------------------------ data
    @property
    def classes(self) -> Mapping[str, TherapyClass]:
        """All classes by id."""
        return self._classes

    @property
    def drugs(self) -> Mapping[str, Drug]:
        """All drugs by id."""
        return self._drugs

    @property
    def regimens(self) -> Mapping[str, Regimen]:
        """Named combination regimens by id."""
        return self._regimens

    def find_regimens(self, text: str) -> tuple[str, ...]:
        """Every regimen named in ``text`` ("mFOLFOX6 + bevacizumab" → ("mfolfox6",))."""
        return _found_in(text, self._regimen_index)

    # ------------------------------------------------------------------ resolution
    def resolve_drug(self, text: str) -> str | None:
        """The drug id for ``text``: an id, an exact name or brand ("Enhertu", "T-DXd" →
        ``trastuzumab_deruxtecan``), the one drug named inside it ("osimertinib 80 mg
        daily"), or a near spelling ("pembrolizumub"). None when no drug or several
        drugs are named ("carboplatin/pemetrexed": use :meth:`find_drugs`)."""
        return self._resolve(text, self._drugs, self._drug_index)

    def find_drugs(self, text: str) -> tuple[str, ...]:
        """Every drug named in ``text`` (longest names first, de-duplicated):
        "letrozole + palbociclib" → ("palbociclib", "letrozole")."""
        return _found_in(text, self._drug_index)

    def resolve_class(self, text: str) -> str | None:
        """The class id for ``text``: an id ("pd1_pdl1"), an exact name ("CDK4/6
        inhibitor" → ``cdk46``, "platinum doublet" → ``platinum_doublet``), the one class
        named inside it, or a near spelling. None when none or several are named."""
        return self._resolve(text, self._classes, self._class_index)

    def find_classes(self, text: str) -> tuple[str, ...]:
        """Every class named in ``text`` (longest names first): "aromatase inhibitor +
        CDK4/6 inhibitor" → ("aromatase_inhibitor", "cdk46")."""
        return _found_in(text, self._class_index)

    def _resolve(self, text: str, ids: Mapping[str, object], index: NameIndex) -> str | None:
        """An id, an exact name, the one id named inside ``text``, or a near spelling."""
        if text in ids:
            return text
        found = index.exact(text)
        if found is not None:
            return found
        inside = _found_in(text, index)
        if inside:
            return inside[0] if len(inside) == 1 else None
        return index.fuzzy(text, self.fuzzy_cutoff)

    # ------------------------------------------------------------------ hierarchy
    def class_closure(self, class_ids: Iterable[str]) -> frozenset[str]:
        """The classes and all their ancestors: {"platinum"} → {platinum, chemotherapy,
        systemic}. Raises KeyError for an unknown id."""
        out: set[str] = set()
        for cid in class_ids:
            try:
                out |= self._ancestors[cid]
            except KeyError:
                raise KeyError(f"unknown therapy class {cid!r}") from None
        return frozenset(out)

    def classes_of(self, drug_id: str) -> frozenset[str]:
        """Every class of a drug, ancestors included: carboplatin → {platinum,
        chemotherapy, systemic}. Raises KeyError for an unknown drug."""
        try:
            return self._drug_classes[drug_id]
        except KeyError:
            raise KeyError(f"unknown drug {drug_id!r}") from None

    def is_a(self, item: str, class_id: str) -> bool:
        """True if a drug or class ``item`` belongs to ``class_id`` (closure)."""
        if item in self._drugs:
            return class_id in self._drug_classes[item]
        return class_id in self._ancestors.get(item, frozenset())

    def subclasses(self, class_id: str) -> frozenset[str]:
        """``class_id`` and every class below it."""
        return frozenset(cid for cid, anc in self._ancestors.items() if class_id in anc)

    def drugs_in(self, class_id: str) -> frozenset[str]:
        """Every drug whose classes (closure) include ``class_id``."""
        return frozenset(did for did, cls in self._drug_classes.items() if class_id in cls)

    # ------------------------------------------------------------------ phrases
    def phrases(self) -> Iterator[tuple[str, str]]:
        """(lower-case surface form, id) pairs for classes and drugs, for a PhraseMatcher
        (``attr="LOWER"``); the id is a class id or a drug id (check :attr:`classes`).
        Abbreviations are included ("tki", "adc", "t-dxd"); ambiguous short ones ("IO",
        "AI", "ET", "RT", "ACT") come from :meth:`abbreviations`."""
        yield from self._class_index.phrases()
        yield from self._drug_index.phrases()

    def abbreviations(self) -> Iterator[tuple[str, str]]:
        """(abbreviation, id) pairs for case-sensitive matching (``attr="ORTH"``): the
        ambiguous short names left out of :meth:`phrases`."""
        yield from self._class_index.abbreviations()
        yield from self._drug_index.abbreviations()

    def class_phrases(self) -> Iterator[tuple[str, str]]:
        """Like :meth:`phrases`, classes only."""
        return self._class_index.phrases()

    def drug_phrases(self) -> Iterator[tuple[str, str]]:
        """Like :meth:`phrases`, drugs only."""
        return self._drug_index.phrases()


def _found_in(text: str, index: NameIndex) -> tuple[str, ...]:
    """Every id named in ``text`` (longest names first, de-duplicated)."""
    return tuple(dict.fromkeys(i for i, _ in index.contained(text)))

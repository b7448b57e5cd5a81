"""Biomarkers and variants (``data/biomarkers.toml``) and the HER2 category rule.

:func:`her2_category` implements the ASCO/CAP HER2 testing guideline for breast cancer
(Wolff et al., J Clin Oncol 2018; 2023 update, Arch Pathol Lab Med 2023/JCO 2023) with
the HER2-low / HER2-ultralow categories used by DESTINY-Breast04 and -06.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal

from pydantic import Field

from ._index import NameIndex
from ._loading import (
    StrictModel,
    check_sections,
    closure,
    covers_closure,
    read_toml,
    require_known,
    validate_table,
)
from ._text import fold
from .errors import OntologyDataError

__all__ = [
    "HER2_NEGATIVE_CATEGORIES",
    "BiomarkerVocab",
    "FindingStatus",
    "Her2Category",
    "Marker",
    "MarkerKind",
    "Variant",
    "her2_category",
]

MarkerKind = Literal["gene", "protein", "score"]
FindingStatus = Literal[
    "positive",
    "negative",
    "mutated",
    "wild_type",
    "amplified",
    "rearranged",
    "expressed",
    "high",
    "low",
    "stable",
    "deficient",
    "loss",
]
Her2Category = Literal["zero", "ultralow", "low", "positive"]

HER2_NEGATIVE_CATEGORIES: frozenset[str] = frozenset({"zero", "ultralow", "low"})
"""Categories that ASCO/CAP calls HER2-negative (HER2-low and -ultralow included)."""


class Marker(StrictModel):
    """A biomarker. ``kind`` is ``gene``, ``protein`` or ``score``; ``gene`` the HGNC
    symbol (None for groups and signatures); ``members`` the marker ids a group marker
    stands for (``HR`` → ER, PR); ``findings`` NCIt codes by status (sec_poc usage)."""

    id: str = Field(min_length=1)
    names: tuple[str, ...] = Field(min_length=1)
    kind: MarkerKind
    gene: str | None = None
    members: tuple[str, ...] = ()
    findings: dict[FindingStatus, tuple[str, ...]] = Field(default_factory=dict)
    status_names: dict[Literal["positive", "negative"], tuple[str, ...]] = Field(
        default_factory=dict)
    """Names that carry a status themselves ("MSI-H" is MSI positive, "MSS" negative,
    "dMMR" MMR-deficient = positive): each must also be one of ``names``."""

    @property
    def nci(self) -> tuple[str, ...]:
        """Every NCIt code of the marker's findings, in file order."""
        return tuple(dict.fromkeys(c for codes in self.findings.values() for c in codes))


class Variant(StrictModel):
    """A specific alteration of one marker (``G12C`` of KRAS, ``exon19del`` of EGFR).
    ``covers`` lists variant ids it includes (``common`` → exon19del, L858R)."""

    id: str = Field(min_length=1)
    marker: str
    names: tuple[str, ...] = Field(min_length=1)
    covers: tuple[str, ...] = ()
    nci: tuple[str, ...] = ()


class BiomarkerVocab:
    """Markers and variants with name resolution and inclusion closure."""

    def __init__(
        self, markers: Mapping[str, Marker], variants: Mapping[str, Variant], *, path: Path
    ):
        self._markers = dict(markers)
        self._variants = dict(variants)
        for mid, m in self._markers.items():
            require_known(
                m.members, self._markers, "marker id(s) in members", path, f"markers.{mid}"
            )
            names = {n.lower() for n in m.names}
            stray = [n for ns in m.status_names.values() for n in ns if n.lower() not in names]
            if stray:
                raise OntologyDataError(f"status names not among the marker's names: {stray}",
                                        file=path, entry=f"markers.{mid}")
        for vid, v in self._variants.items():
            require_known([v.marker], self._markers, "marker", path, f"variants.{vid}")
            require_known(
                v.covers, self._variants, "variant id(s) in covers", path, f"variants.{vid}"
            )
            for covered in v.covers:
                if self._variants[covered].marker != v.marker:
                    raise OntologyDataError(
                        f"covers {covered!r} of another marker", file=path, entry=f"variants.{vid}"
                    )
        self._variant_closure = {
            vid: covers_closure(vid, lambda v: self._variants[v].covers, path, f"variants.{vid}")
            for vid in self._variants
        }
        self._member_closure = {
            mid: closure(mid, lambda m: self._markers[m].members) for mid in self._markers
        }
        self._marker_index = NameIndex(
            {mid: m.names for mid, m in self._markers.items()}, path=path, section="markers"
        )
        self._variant_index = NameIndex(
            {vid: v.names for vid, v in self._variants.items()}, path=path, section="variants"
        )

    @classmethod
    def load(cls, path: Path) -> BiomarkerVocab:
        """Read ``biomarkers.toml``; OntologyDataError on unknown keys, ids or duplicate names."""
        doc = read_toml(path)
        check_sections(doc, {"markers", "variants"}, path)
        markers = validate_table(Marker, doc, "markers", path)
        variants = validate_table(Variant, doc, "variants", path)
        return cls(markers, variants, path=path)

    @property
    def markers(self) -> Mapping[str, Marker]:
        """All markers by id (``HER2``, ``ER``, ``EGFR``, ``PD-L1``, …)."""
        return self._markers

    @property
    def variants(self) -> Mapping[str, Variant]:
        """All variants by id (``G12C``, ``V600E``, ``exon19del``, ``common``, …)."""
        return self._variants

    def status_names(self) -> dict[str, tuple[str, str]]:
        """Lower-case name → (marker id, status) for names that carry a status
        ("msi-h" → ("MSI", "positive"), "pmmr" → ("MMR", "negative"))."""
        return {name.lower(): (mid, status) for mid, m in self._markers.items()
                for status, names in m.status_names.items() for name in names}

    def resolve_marker(self, text: str) -> str | None:
        """The marker id for ``text``: an exact name ("ERBB2" → ``HER2``,
        "hormone receptor" → ``HR``), else the longest marker name it contains
        ("HER2_IHC" → ``HER2``, "PD-L1 TPS" → ``PD-L1``). None if none occurs."""
        return self._marker_index.exact(text) or self._marker_index.longest(text)

    def resolve_variant(self, text: str, marker: str | None = None) -> str | None:
        """The variant id named in ``text`` ("exon 19 deletion (E746_A750del)" →
        ``exon19del``, "KRAS p.G12C" → ``G12C``), restricted to ``marker`` when given.
        None if no variant name occurs."""
        exact = self._variant_index.exact(text)
        if exact is not None and (marker is None or self._variants[exact].marker == marker):
            return exact
        for vid, _ in self._variant_index.contained(text):
            if marker is None or self._variants[vid].marker == marker:
                return vid
        return None

    def variants_of(self, marker: str) -> Mapping[str, Variant]:
        """The variants of one marker, by id."""
        return {vid: v for vid, v in self._variants.items() if v.marker == marker}

    def variant_covers(self, variant_id: str) -> frozenset[str]:
        """``variant_id`` and the variants it includes, transitively (``sensitizing`` →
        {sensitizing, common, exon19del, L858R, G719X, S768I, L861Q}). KeyError if unknown."""
        return self._variant_closure[variant_id]

    def members(self, marker_id: str) -> frozenset[str]:
        """``marker_id`` and the markers a group stands for, transitively (``HR`` →
        {HR, ER, PR}; ``BRCA`` → {BRCA, BRCA1, BRCA2}). KeyError if unknown."""
        return self._member_closure[marker_id]

    def phrases(self) -> Iterator[tuple[str, str]]:
        """(lower-case surface form, marker id) pairs for a PhraseMatcher (``attr="LOWER"``)
        ("her2", "her-2/neu", "estrogen receptor", "pd-l1", "pdl1"). Ambiguous short names
        ("ER", "PR", "HR", "AR", "MET", "KIT") come from :meth:`abbreviations`."""
        return self._marker_index.phrases()

    def abbreviations(self) -> Iterator[tuple[str, str]]:
        """(abbreviation, marker id) pairs for case-sensitive matching (``attr="ORTH"``):
        the ambiguous short names left out of :meth:`phrases` ("ER", "PR", "HR", "MET")."""
        return self._marker_index.abbreviations()

    def variant_phrases(self) -> Iterator[tuple[str, str]]:
        """(lower-case surface form, variant id) pairs ("exon 19 deletion", "l858r")."""
        return self._variant_index.phrases()

    def variant_abbreviations(self) -> Iterator[tuple[str, str]]:
        """(abbreviation, variant id) pairs for case-sensitive matching (ambiguous short
        names left out of :meth:`variant_phrases`)."""
        return self._variant_index.abbreviations()


# ---------------------------------------------------------------------------- HER2
_ISH_SPLIT = re.compile(
    r"\b(?:ish|fish|sish|cish|ddish|brightfield ish|in situ hybridi[sz]ation)\b"
)
_ISH_NEGATIVE = re.compile(
    r"\b(?:not|non|no|un)[\s-]*amplifi(?:ed|cation)|\bnegative\b|\bneg\b|\bnot detected\b|"
    r"\bnormal\b|\b(?:f|s|c|dd)?ish\s*-|(?:^|\s)-(?:\s|$)|\bgroup\s*5\b"
)
_ISH_POSITIVE = re.compile(
    r"\bamplifi(?:ed|cation)\b|\bpositive\b|\bpos\b|\bdetected\b|\b(?:f|s|c|dd)?ish\s*\+|"
    r"(?:^|\s)\+(?:\s|$)|"
    r"\bgroup\s*1\b"
)
_IHC_SCORE = re.compile(r"(?<![\d.>])([0-3])\s*(\+)?(?![\d.%])")
# explicit "ultralow" wording, or a score between 0 and 1+ (">0 <1+", "0 < x < 1+")
_ULTRALOW = re.compile(
    r"ultra[\s-]?low|>\s*0\s*\+?\s*(?:but|and|,)?\s*<\s*1\s*\+|\b0\s*<\s*\w*\s*<?\s*1\s*\+"
)
# an IHC 0 described with faint/incomplete staining is ultralow (1+ is also "faint",
# so these words only count with a 0 score)
_FAINT = re.compile(r"\bfaint\b|barely perceptible|\bincomplete\b")


def _ish_status(text: str) -> bool | None:
    """True = amplified, False = not amplified, None = unknown/equivocal."""
    t = fold(text)
    if not t or "equivocal" in t:
        return None
    if _ISH_NEGATIVE.search(t):
        return False
    if _ISH_POSITIVE.search(t):
        return True
    return None


def _ihc_score(text: str) -> Literal["zero", "ultralow", "1", "2", "3", "positive", "low"] | None:
    t = fold(text)
    t = re.sub(
        r"\b(?:her[\s-]?2(?:/neu)?|erbb2|ihc|score|immunohistochemistry|status|by)\b", " ", t
    )
    if not t.strip():
        return None
    if _ULTRALOW.search(t):
        return "ultralow"
    m = _IHC_SCORE.search(t)
    if m:
        score = m.group(1)
        if score == "0":
            return "ultralow" if _FAINT.search(t) else "zero"
        return "1" if score == "1" else "2" if score == "2" else "3"
    if re.search(r"\b(?:zero|null|no staining|absent)\b", t):
        return "zero"
    if re.search(r"\blow\b", t):
        return "low"
    if re.search(r"\bequivocal\b", t):
        return "2"
    if re.search(r"\bpositive\b|\bpos\b|\+\s*$", t) and not re.search(r"\bnegative\b", t):
        return "positive"
    return None


def her2_category(ihc: str | None, ish: str | None) -> Her2Category | None:
    """HER2 category of a breast tumour from its IHC score and ISH result.

    Rule (ASCO/CAP HER2 guideline 2018, reaffirmed with the 2023 update that defines
    reporting of HER2-low and -ultralow; DESTINY-Breast04/06 definitions):

    ==========================  ==========================
    IHC                         category
    ==========================  ==========================
    0 (no staining)             ``"zero"``
    0 with faint/incomplete     ``"ultralow"`` ("ultralow", ">0 <1+", "0+ faint")
    1+                          ``"low"``
    2+ and ISH not amplified    ``"low"``
    2+ and ISH amplified        ``"positive"``
    2+ and ISH unknown          ``None`` (equivocal, undetermined)
    3+                          ``"positive"``
    ==========================  ==========================

    An amplified ISH result (ASCO/CAP group 1) makes the tumour positive whatever the IHC
    score; ISH alone when not amplified cannot separate zero from low → ``None``.

    ``ihc`` accepts "2+", "IHC 2+", "HER2 1+", "0", "0+ faint", "ultralow", "3+ (positive)",
    "low", "equivocal", "positive"; a combined string such as "2+/ISH-" or "IHC 2+, FISH
    not amplified" is read for both when ``ish`` is None. ``ish`` accepts "amplified",
    "not amplified", "negative", "positive", "ISH-", "ISH+", "FISH+", "non-amplified".
    "negative" as an IHC result (0, 1+ or 2+/ISH-) is undetermined → ``None``.
    Unparseable input gives ``None``; this function never raises.
    """
    ihc_text = ihc or ""
    ish_text = ish or ""
    if ihc_text and not ish_text:
        parts = _ISH_SPLIT.split(fold(ihc_text), maxsplit=1)
        if len(parts) == 2:
            ihc_text, ish_text = parts[0], "ish " + parts[1]
        else:
            after_slash = re.split(r"[/,;]", fold(ihc_text), maxsplit=1)
            if len(after_slash) == 2 and re.search(r"amplif", after_slash[1]):
                ihc_text, ish_text = after_slash
    amplified = _ish_status(ish_text) if ish_text else None
    if amplified is True:
        return "positive"
    score = _ihc_score(ihc_text) if ihc_text else None
    if score in ("3", "positive"):
        return "positive"
    if score == "2":
        return "low" if amplified is False else None
    if score in ("1", "low"):
        return "low"
    if score == "zero":
        return "zero"
    if score == "ultralow":
        return "ultralow"
    return None

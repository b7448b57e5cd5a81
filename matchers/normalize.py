"""Patient normalization: a validated :class:`PatientProfile` → :class:`NormalizedPatient`.

Everything the evaluator compares against trial facts is resolved here, once per
request, through the ontology that is passed in (no module-level ontology):

* cancer type → OncoTree code (``ontology.cancer_types.resolve_one``; codes accepted
  as given) plus its ancestors, tissue, solid/haematologic and malignant flags;
* histology → histology term id (from the text, else implied by the OncoTree code:
  PLEMESO → ``epithelioid``, LUAD → ``adenocarcinoma``);
* stage → AJCC 8th stage label and group (``ontologies.stage``) plus disease-extent
  truths (stage IV → metastatic; III → locally advanced; resectable flag);
* biomarkers → canonical per-marker results (:class:`MarkerResult`), HER2 category per
  ASCO/CAP 2023 (``ontologies.biomarkers.her2_category``: HER2-low = IHC 1+ or IHC
  2+/ISH−; HER2-positive = IHC 3+ or ISH amplified; zero/ultralow/low are all
  HER2-negative), HR status (HR+ if ER or PR positive, ASCO/CAP 2020: ≥1 % staining),
  PD-L1 TPS/CPS as closed ranges (``"<1%"`` → [0, 0.999]);
* prior therapies → drug ids and therapy-class closure (``ontology.therapies``),
  regimens split into drugs ("letrozole + palbociclib"), class words resolved
  ("third-generation EGFR tyrosine kinase inhibitor"), systemic lines overall and in
  the advanced/metastatic setting;
* comorbidities → condition ids present / explicitly absent;
* location → (lat, lon) from ``lat``/``lon`` or the ZIP code (offline ``zipcodes``).

Errors: :class:`PatientProfileError` (``field``, ``message``, ``suggestions``) when the
cancer type cannot be resolved. Everything else that cannot be interpreted is kept as
"unknown" (None) — never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from matchers.errors import MatcherError
from matchers.geo import zip_to_latlon
from matchers.patient import PatientProfile, PriorTherapy

if TYPE_CHECKING:
    from ontologies import Ontology
    from ontologies.cancer_types import CancerTypeTree

class PatientProfileError(MatcherError):
    """A patient profile field cannot be interpreted.

    ``field`` names the profile field (``"cancer_type"``), ``message`` says why, and
    ``suggestions`` lists close vocabulary entries the caller could send instead. The
    service maps it to HTTP 422.
    """

    def __init__(self, field: str, message: str, suggestions: Iterable[str] = ()) -> None:
        self.field = field
        self.message = message
        self.suggestions = list(suggestions)
        super().__init__(f"{field}: {message}")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MarkerResult(_Frozen):
    """What is known of one biomarker for the patient.

    ``positive`` is the overall call: for a gene, altered (mutated, rearranged,
    amplified, deleted, loss); for a protein, expressed/positive. ``None`` = unknown.
    ``variants`` are variant ids known present (``exon19del``, ``G12C``, plus the
    derived groups ``common``/``sensitizing``/``rare`` for EGFR), ``absent_variants``
    those tested and not found. ``percent`` keeps a reported staining percentage
    (ER 90 %). ``germline`` is True for a germline result (gBRCA).
    """

    marker: str
    positive: bool | None = None
    variants: frozenset[str] = frozenset()
    absent_variants: frozenset[str] = frozenset()
    amplified: bool | None = None
    rearranged: bool | None = None
    germline: bool | None = None
    percent: float | None = None
    raw: tuple[str, ...] = ()


class NormalizedTherapy(_Frozen):
    """One prior therapy, resolved. ``classes`` is the class closure (``platinum`` →
    ``chemotherapy`` → ``systemic``). ``systemic`` is None when neither a drug nor a
    class could be resolved and the words do not say surgery/radiotherapy.
    ``setting_family`` is ``advanced`` (metastatic, locally advanced, recurrent,
    unresectable, palliative), ``early`` (adjuvant, neoadjuvant, perioperative) or None.
    """

    name: str
    drugs: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    line: int | None = None
    setting: str | None = None
    setting_family: str | None = None
    systemic: bool | None = None
    progressed: bool | None = None


class NormalizedPatient(_Frozen):
    """A patient resolved against the ontology; the evaluator's only patient input.

    Shapes and units: ages in years; ``ecog`` 0–4; ``pdl1_tps``/``pdl1_cps`` are closed
    ranges ``(low, high)`` in percent / score; ``lat``/``lon`` decimal degrees.
    ``extents`` maps :class:`matchers.models.DiseaseExtent` values to what is known
    (absent key = unknown). ``cancer_lineage`` is the code followed by its ancestors
    (parent first, up to the tissue node).
    """

    cancer_code: str
    cancer_name: str
    cancer_lineage: tuple[str, ...]
    tissue: str | None = None
    hematologic: bool = False
    malignant: bool = True
    carcinoma: bool | None = None
    """True if the cancer is a carcinoma (an OncoTree name in its lineage says
    carcinoma), False if it is named as a non-epithelial cancer (mesothelioma, sarcoma,
    melanoma, lymphoma, …) or is haematologic or not malignant, None if neither (e.g.
    "Small Cell Lung Cancer"). Decides trials whose only cancer word is "carcinoma"."""
    histology: str | None = None
    stage: str | None = None
    stage_group: str | None = None
    extents: dict[str, bool] = Field(default_factory=dict)
    resectable: bool | None = None
    markers: dict[str, MarkerResult] = Field(default_factory=dict)
    her2_category: str | None = None
    hr_positive: bool | None = None
    pdl1_tps: tuple[float, float] | None = None
    pdl1_cps: tuple[float, float] | None = None
    therapies: tuple[NormalizedTherapy, ...] = ()
    drugs: frozenset[str] = frozenset()
    classes: frozenset[str] = frozenset()
    systemic_lines: int = 0
    systemic_lines_advanced: int = 0
    therapy_unresolved: bool = False
    ecog: int | None = None
    age: float | None = None
    sex: str | None = None
    brain_metastases: str | None = None
    measurable_disease: bool | None = None
    pregnant: bool | None = None
    conditions_present: frozenset[str] = frozenset()
    conditions_absent: frozenset[str] = frozenset()
    lat: float | None = None
    lon: float | None = None

    @property
    def cancer_codes(self) -> frozenset[str]:
        """The patient's code and all its ancestors."""
        return frozenset(self.cancer_lineage)


# --------------------------------------------------------------------------------------
# Cancer type
# --------------------------------------------------------------------------------------

HEMATOLOGIC_TISSUES = frozenset({"LYMPH", "MYELOID"})
"""OncoTree tissue nodes whose tumours are haematologic (not solid)."""

def _resolve_cancer(text: str, ontology: Ontology) -> str:
    tree = ontology.cancer_types
    candidate = text.strip()
    for piece in (candidate, candidate.split("/")[-1], candidate.upper()):
        if tree.get(piece) is not None:
            return piece
    try:
        match = tree.resolve_one(candidate)
    except Exception as exc:  # UnknownConditionError from ontologies
        suggestions = list(getattr(exc, "suggestions", []) or [])
        names = [
            str(getattr(s, "name", s)) + (f" ({s.code})" if hasattr(s, "code") else "")
            for s in suggestions
        ]
        raise PatientProfileError(
            field="cancer_type",
            message=f"cannot resolve cancer type {text!r} to an OncoTree code",
            suggestions=names,
        ) from exc
    return str(match.code)


# --------------------------------------------------------------------------------------
# Stage
# --------------------------------------------------------------------------------------

_STAGE_LABEL = re.compile(r"^(?:STAGE\s*)?(0|IV|I{1,3})([ABC][0-9]?)?$")


def _stage_label(text: str) -> str | None:
    t = re.sub(r"[\s\-]+", "", text.upper().replace("STAGE", ""))
    t = t.replace("1", "I") if re.fullmatch(r"[1-4][ABC]?", t) else t
    if re.fullmatch(r"[234][ABC]?", t):
        t = {"2": "II", "3": "III", "4": "IV"}[t[0]] + t[1:]
    m = _STAGE_LABEL.match(t)
    if not m:
        return None
    return m.group(1) + (m.group(2)[0] if m.group(2) else "")


def _extents_from(
    group: str | None,
    label: str | None,
    words: str,
    resectable: bool | None,
    malignant: bool,
) -> tuple[dict[str, bool], str | None]:
    """Disease-extent truths implied by stage, stage words and resectability.

    Rules (AJCC 8th; NCI definitions of "advanced", "locally advanced", "metastatic"):
    stage IV = metastatic, advanced, not curable by resection (unless stated resectable);
    stage III = locally advanced, not metastatic; IIIB/IIIC count as advanced, IIIA
    only when unresectable; stage 0–II = early/localized, neither metastatic nor locally
    advanced nor advanced — unless the caller states it unresectable. A non-malignant
    (intermediate, e.g. desmoid) neoplasm does not metastasize.
    """
    w = words.lower()
    ext: dict[str, bool] = {}
    if "metasta" in w:
        group = group or "IV"
    elif "locally advanced" in w:
        group = group or "III"
    if group == "IV":
        ext.update(metastatic=True, advanced=True, locally_advanced=False, early=False,
                   localized=False)
        ext["unresectable"] = resectable is not True
        ext["resectable"] = resectable is True
    elif group == "III":
        ext.update(metastatic=False, locally_advanced=True, early=False, localized=False)
        if label in ("IIIB", "IIIC") or resectable is False:
            ext["advanced"] = True
        elif resectable is True:
            ext["advanced"] = False
    elif group in ("0", "I", "II"):
        ext.update(metastatic=False, locally_advanced=False, early=True, localized=True)
        ext["advanced"] = resectable is False
    if resectable is not None:
        ext["resectable"] = resectable
        ext["unresectable"] = not resectable
        if not resectable and group not in ("IV",):
            ext["advanced"] = True
    if "unresectable" in w or "inoperable" in w:
        ext.update(unresectable=True, resectable=False, advanced=True)
    if "recurren" in w or "relaps" in w:
        ext["recurrent"] = True
    if not malignant:
        ext["metastatic"] = False
    return ext, group


# --------------------------------------------------------------------------------------
# Biomarkers
# --------------------------------------------------------------------------------------

_UNKNOWN_VALUE = re.compile(
    r"\b(unknown|pending|not (?:tested|done|assessed|performed|available)|equivocal"
    r"|indeterminate|n/?a|insufficient)\b",
    re.I,
)
_NEGATIVE_VALUE = re.compile(
    r"\b(negative|neg|not detected|undetected|wild[- ]?type|wt|not mutated|non-?mutated"
    r"|unmutated|no (?:mutation|alteration|amplification|fusion|rearrangement)s?"
    r"|absent|not amplified|non-?amplified|not expressed|intact|retained|none)\b",
    re.I,
)
_POSITIVE_VALUE = re.compile(
    r"\b(positive|pos|detected|mutated|mutation|mutant|present|amplified|amplification"
    r"|rearranged|rearrangement|fusion|over-?expressed|overexpression|expressed|deletion"
    r"|insertion|loss|deficient|altered|alteration|high)\b|\+",
    re.I,
)
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)\s*%")

_FALLBACK_VARIANTS: tuple[tuple[str, str, re.Pattern[str]], ...] = (
    ("EGFR", "exon19del", re.compile(r"exon\s*19\s*del|ex19\s*del|del\s*19|E746_A750", re.I)),
    ("EGFR", "L858R", re.compile(r"L858R", re.I)),
    ("EGFR", "exon20ins", re.compile(r"exon\s*20\s*ins|ex20\s*ins", re.I)),
    ("EGFR", "T790M", re.compile(r"T790M", re.I)),
    ("EGFR", "C797S", re.compile(r"C797S", re.I)),
    ("KRAS", "G12C", re.compile(r"G12C", re.I)),
    ("BRAF", "V600E", re.compile(r"V600E", re.I)),
)

_HER2_CATEGORY_WORDS = (
    ("ultralow", "ultralow"),
    ("ultra-low", "ultralow"),
    ("low", "low"),
    ("zero", "zero"),
    ("positive", "positive"),
    ("amplified", "positive"),
)


def _polarity(value: str | float | bool) -> bool | None:
    """True (altered/positive), False (negative/wild-type) or None (unknown)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return value > 0
    text = value.strip()
    if not text or _UNKNOWN_VALUE.search(text):
        return None
    if _NEGATIVE_VALUE.search(text) or text.endswith("-") or text in {"0", "0%"}:
        return False
    if _POSITIVE_VALUE.search(text):
        return True
    return None


def _score_range(value: str | float | bool) -> tuple[float, float] | None:
    """A PD-L1 TPS (%) or CPS value as a closed range.

    ``60`` → (60, 60); ``"<1%"`` → (0, 0.999); ``"1-49%"`` → (1, 49); ``"≥50%"`` →
    (50, 100); ``"negative"`` → (0, 0.999); ``"high"`` → (50, 100); else None.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value), float(value)
    t = value.strip().lower().replace("≥", ">=").replace("≤", "<=")
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*%?\s*(?:-|–|to)\s*(\d+(?:\.\d+)?)\s*%?", t)
    if m:
        return float(m.group(1)), float(m.group(2))
    m = re.fullmatch(r"(<=|<|>=|>)\s*(\d+(?:\.\d+)?)\s*%?", t)
    if m:
        op, x = m.group(1), float(m.group(2))
        if op == "<":
            return 0.0, max(0.0, x - 0.001)
        if op == "<=":
            return 0.0, x
        if op == ">=":
            return x, 100.0
        return x + 0.001, 100.0
    m = re.search(r"(\d+(?:\.\d+)?)", t)
    if m:
        x = float(m.group(1))
        return x, x
    if re.search(r"negative|not expressed", t):
        return 0.0, 0.999
    if "high" in t:
        return 50.0, 100.0
    return None


def _detect_variants(marker: str, text: str, ontology: Ontology) -> set[str]:
    """Variant ids of ``marker`` named in ``text`` (ontology names; a few regexes as a
    safety net for spellings such as "E746_A750del")."""
    found: set[str] = set()
    vid = ontology.biomarkers.resolve_variant(text, marker)
    if vid:
        found.add(str(vid))
    low = text.lower()
    for var in ontology.biomarkers.variants_of(marker).values():
        for name in (var.id, *var.names):
            n = name.lower()
            if n and re.search(r"(?<![a-z0-9])" + re.escape(n) + r"(?![a-z0-9])", low):
                found.add(var.id)
                break
    for m, fid, pat in _FALLBACK_VARIANTS:
        if m == marker and pat.search(text):
            found.add(fid)
    return found


def _variant_groups(marker: str, variants: set[str], ontology: Ontology) -> set[str]:
    """``variants`` plus every variant group of ``marker`` that covers one of them
    (ontology ``variant_covers``: exon19del → common, sensitizing)."""
    vocab = ontology.biomarkers
    out = set(variants)
    for gid in vocab.variants_of(marker):
        try:
            covered = vocab.variant_covers(gid)
        except KeyError:
            continue
        if gid not in out and (covered - {gid}) & variants:
            out.add(gid)
    return out


def _marker_id(base: str, ontology: Ontology) -> str:
    resolved = ontology.biomarkers.resolve_marker(base)
    if resolved:
        return str(resolved)
    return base.upper()


def _split_key(key: str) -> tuple[list[str], str, bool | None]:
    """``"gBRCA1/2"`` → (["BRCA1", "BRCA2"], "", True); ``"HER2_IHC"`` → (["HER2"], "IHC",
    None); ``"PD-L1_TPS"`` → (["PD-L1"], "TPS", None)."""
    k = key.strip()
    germline: bool | None = None
    m = re.match(r"^g(?=[A-Z])", k)
    if m:
        germline, k = True, k[1:]
    m = re.match(r"^[ts](?=BRCA)", k)
    if m:
        germline, k = False, k[1:]
    parts = re.split(r"[_\s]+", k, maxsplit=1)
    base = parts[0]
    qual = parts[1].upper() if len(parts) > 1 else ""
    if "GERMLINE" in qual:
        germline, qual = True, qual.replace("GERMLINE", "").strip("_ ")
    if "SOMATIC" in qual:
        germline, qual = False, qual.replace("SOMATIC", "").strip("_ ")
    bases = [base]
    m2 = re.fullmatch(r"([A-Za-z]+)(\d)/(\d)", base)
    if m2:
        bases = [m2.group(1) + m2.group(2), m2.group(1) + m2.group(3)]
    return bases, qual, germline


def _normalize_biomarkers(
    raw: Mapping[str, str | float | bool], ontology: Ontology
) -> tuple[
    dict[str, MarkerResult], str | None, bool | None,
    tuple[float, float] | None, tuple[float, float] | None,
]:
    from ontologies.biomarkers import her2_category

    acc: dict[str, dict[str, Any]] = {}
    her2_ihc: str | None = None
    her2_ish: str | None = None
    her2_cat: str | None = None
    tps: tuple[float, float] | None = None
    cps: tuple[float, float] | None = None

    def slot(marker: str) -> dict[str, Any]:
        return acc.setdefault(
            marker,
            {"positive": None, "variants": set(), "absent": set(), "amplified": None,
             "rearranged": None, "germline": None, "percent": None, "raw": []},
        )

    for key, value in raw.items():
        bases, qual, germline = _split_key(key)
        text = str(value)
        for base in bases:
            marker = _marker_id(base, ontology)
            if qual in {"ASSAY", "METHOD", "CLONE", "PLATFORM", "DATE"}:
                continue
            if marker in {"PD-L1", "PDL1"} or base.upper().replace("-", "") == "PDL1":
                marker = "PD-L1"
                score_kind = qual or ("CPS" if "cps" in text.lower() else "TPS")
                rng = _score_range(value)
                if rng is not None:
                    if "CPS" in score_kind:
                        cps = rng
                    else:
                        tps = rng
                s = slot(marker)
                s["raw"].append(f"{key}: {text}")
                if rng is not None:
                    s["positive"] = rng[0] >= 1.0 if rng[0] >= 1.0 or rng[1] < 1.0 else None
                continue
            if marker == "HER2" or base.upper() in {"HER2", "ERBB2"}:
                marker = "HER2"
                if qual in {"IHC", ""} and re.search(r"[0-3]\s*\+|^\s*0\s*$", text):
                    her2_ihc = text
                elif qual in {"ISH", "FISH", "CISH", "SISH", "AMPLIFICATION"}:
                    her2_ish = text
                elif qual in {"CATEGORY", "STATUS", "", "IHC"}:
                    # (also a category word given as the IHC result: "ultralow")
                    low = text.lower()
                    for word, cat in _HER2_CATEGORY_WORDS:
                        if word in low:
                            her2_cat = her2_cat or cat
                            break
                    else:
                        pol = _polarity(value)
                        if pol is not None:
                            slot(marker)["positive"] = pol
                slot(marker)["raw"].append(f"{key}: {text}")
                continue
            s = slot(marker)
            s["raw"].append(f"{key}: {text}")
            if germline is not None:
                s["germline"] = germline
            pol = _polarity(value)
            qual_variants = _detect_variants(marker, qual, ontology) if qual else set()
            if qual_variants:
                if pol is True:
                    s["variants"] |= qual_variants
                    s["positive"] = True
                elif pol is False:
                    s["absent"] |= qual_variants
                continue
            if qual.startswith("AMP") or "AMPLIF" in qual:
                s["amplified"] = pol
                if pol:
                    s["positive"] = True
                continue
            if qual in {"FUSION", "REARRANGEMENT"}:
                s["rearranged"] = pol
                if pol:
                    s["positive"] = True
                continue
            variants = _detect_variants(marker, text, ontology)
            if variants and pol is not False:
                pol = True
                s["variants"] |= variants
            if pol is not None:
                s["positive"] = pol if s["positive"] is not True else True
            if pol and re.search(r"amplif", text, re.I):
                s["amplified"] = True
            if pol and re.search(r"fusion|rearrang|translocat", text, re.I):
                s["rearranged"] = True
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                s["percent"] = float(value)
                s["positive"] = value >= 1.0
            else:
                pm = _PERCENT.search(text)
                if pm:
                    s["percent"] = float(pm.group(1))

    if her2_ihc is not None or her2_ish is not None:
        computed = her2_category(her2_ihc, her2_ish)
        if computed is not None:
            her2_cat = str(computed)

    if her2_cat is not None:
        slot("HER2")["positive"] = her2_cat == "positive"
        if her2_cat == "positive":
            slot("HER2")["amplified"] = None

    markers: dict[str, MarkerResult] = {}
    for marker, s in acc.items():
        variants = _variant_groups(marker, set(s["variants"]), ontology)
        markers[marker] = MarkerResult(
            marker=marker,
            positive=s["positive"],
            variants=frozenset(variants),
            absent_variants=frozenset(s["absent"] - variants),
            amplified=s["amplified"],
            rearranged=s["rearranged"],
            germline=s["germline"],
            percent=s["percent"],
            raw=tuple(s["raw"]),
        )
    # Group markers (ontology ``members``: BRCA = BRCA1/BRCA2, RAS = KRAS/NRAS/HRAS, …):
    # altered if any member is, not altered if every member is known not to be.
    for gid in ontology.biomarkers.markers:
        if gid in markers:
            continue
        try:
            members = ontology.biomarkers.members(gid) - {gid}
        except KeyError:
            continue
        known = [markers[m] for m in members if m in markers]
        if not members or not known:
            continue
        pos: bool | None = None
        if any(k.positive for k in known):
            pos = True
        elif len(known) == len(members) and all(k.positive is False for k in known):
            pos = False
        markers[gid] = MarkerResult(
            marker=gid, positive=pos,
            germline=next((k.germline for k in known if k.germline is not None), None),
            raw=tuple(r for k in known for r in k.raw),
        )
    er = markers.get("ER")
    pr = markers.get("PR")
    hr: bool | None = None
    if (er and er.positive) or (pr and pr.positive):
        hr = True
    elif er and pr and er.positive is False and pr.positive is False:
        hr = False
    if "HR" in markers and markers["HR"].positive is not None:
        hr = markers["HR"].positive
    return markers, her2_cat, hr, tps, cps


# --------------------------------------------------------------------------------------
# Prior therapies
# --------------------------------------------------------------------------------------

_SPLIT_REGIMEN = re.compile(r"\s*(?:\+|/|,|;|&|\band\b|\bwith\b|\bplus\b|\bthen\b)\s*", re.I)
_DOSE = re.compile(
    r"\b\d+(?:\.\d+)?\s*(?:mg/m2|mg/kg|mg|mcg|µg|ug|g|iu|units?|auc\s*\d*|gy)\b.*$"
    r"|\b(?:daily|once|twice|bid|tid|qd|weekly|q\d+w|every .*|x\s*\d+.*|cycles?.*)\b.*$",
    re.I,
)
_LOCAL_THERAPY = re.compile(
    r"surg|resect|ectomy|radiat|radiother|\brt\b|sbrt|srs|ablat|biopsy|decortication"
    r"|transplant|hifu|cryo|embolization|\bstereotactic",
    re.I,
)
_ADVANCED_SETTING = re.compile(
    r"metasta|advanced|recurr|relaps|progress|unresect|palliat|incurable|first[- ]line"
    r"|second[- ]line|1l|2l",
    re.I,
)
_EARLY_SETTING = re.compile(r"adjuvant|neoadjuvant|neo-adjuvant|perioperat|curative|early",
                            re.I)


def _setting_family(setting: str | None) -> str | None:
    if not setting:
        return None
    if _EARLY_SETTING.search(setting):
        return "early"
    if _ADVANCED_SETTING.search(setting):
        return "advanced"
    return None


def _resolve_therapy(t: PriorTherapy, ontology: Ontology) -> NormalizedTherapy:
    vocab = ontology.therapies
    drugs: set[str] = set()
    direct_classes: set[str] = set()
    name = (t.name or "").strip()
    if name:
        whole = vocab.resolve_drug(_DOSE.sub("", name).strip() or name)
        pieces = [p for p in _SPLIT_REGIMEN.split(name) if p and p.strip()]
        for piece in pieces:
            clean = _DOSE.sub("", piece).strip(" .-()")
            if not clean:
                continue
            d = vocab.resolve_drug(clean)
            if d:
                drugs.add(str(d))
                continue
            c = vocab.resolve_class(clean)
            if c:
                direct_classes.add(str(c))
        if not drugs and whole and len(pieces) <= 1:
            drugs.add(str(whole))
    if t.therapy_class:
        for piece in re.split(r"\s*(?:\+|,|;|&|\band\b|\bplus\b)\s*", t.therapy_class):
            if not piece.strip():
                continue
            c = vocab.resolve_class(piece.strip())
            if c:
                direct_classes.add(str(c))
    classes: set[str] = set(vocab.class_closure(frozenset(direct_classes)))
    for d in drugs:
        classes |= set(vocab.classes_of(d))
    words = f"{name} {t.therapy_class or ''}"
    systemic: bool | None
    if "systemic" in classes:
        systemic = True
    elif classes or drugs:
        drug_like = bool(classes & {"chemotherapy", "immunotherapy", "targeted", "endocrine"})
        systemic = drug_like and not _LOCAL_THERAPY.search(words)
    else:
        systemic = False if _LOCAL_THERAPY.search(words) else None
    progressed = t.progressed
    return NormalizedTherapy(
        name=name or (t.therapy_class or ""),
        drugs=frozenset(drugs),
        classes=frozenset(classes),
        line=t.line,
        setting=t.setting,
        setting_family=_setting_family(t.setting),
        systemic=systemic,
        progressed=progressed,
    )


def count_lines(therapies: Iterable[NormalizedTherapy]) -> int:
    """Number of distinct lines among ``therapies``: therapies sharing a ``line`` number
    are one line (a regimen); a therapy without a number counts as its own line."""
    numbered: set[int] = set()
    unnumbered = 0
    for t in therapies:
        if t.line is None:
            unnumbered += 1
        else:
            numbered.add(t.line)
    return len(numbered) + unnumbered


# --------------------------------------------------------------------------------------
# Conditions
# --------------------------------------------------------------------------------------

_NEGATED_CONDITION = re.compile(r"^\s*(no|not|without|denies|negative for|never)\b", re.I)


def _normalize_conditions(
    items: Iterable[str], ontology: Ontology
) -> tuple[frozenset[str], frozenset[str]]:
    present: set[str] = set()
    absent: set[str] = set()
    for item in items:
        text = item.strip()
        if not text:
            continue
        negated = bool(_NEGATED_CONDITION.match(text))
        core = _NEGATED_CONDITION.sub("", text).strip(" :,-")
        for piece in re.split(r"\s*(?:/|,|;|\bor\b|\band\b)\s*", core) if negated else [core]:
            if not piece:
                continue
            cid = ontology.conditions.resolve(piece)
            if cid:
                (absent if negated else present).add(str(cid))
    return frozenset(present), frozenset(absent - present)


# --------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------


_CARCINOMA_NAME = re.compile(r"carcinoma|non-small cell", re.I)
_NON_EPITHELIAL = re.compile(
    r"mesothelioma|sarcoma|melanoma|lymphoma|leuka?emia|myeloma|glioma|blastoma|"
    r"fibromatosis|stromal tumou?r|germ cell|histiocyt", re.I)


def _is_carcinoma(lineage: tuple[str, ...], tree: CancerTypeTree, *, hematologic: bool,
                  malignant: bool) -> bool | None:
    """Carcinoma or not, from the OncoTree names of the code and its ancestors (see
    :attr:`NormalizedPatient.carcinoma`). "Carcinosarcoma" counts as a carcinoma."""
    names = [str(getattr(tree.get(c), "name", "")) for c in lineage]
    if any(_CARCINOMA_NAME.search(n) for n in names):
        return True
    if hematologic or not malignant or any(_NON_EPITHELIAL.search(n) for n in names):
        return False
    return None


def normalize_patient(profile: PatientProfile, ontology: Ontology) -> NormalizedPatient:
    """Resolve a validated profile against the ontology (pure; no I/O but the offline
    ZIP table).

    Raises :class:`PatientProfileError` (field ``cancer_type``) when the cancer type
    resolves to no OncoTree code; the error carries the closest names as suggestions.

    Conventions: an empty ``prior_therapies`` list means "no prior therapy reported",
    which the evaluator treats as treatment-naive (callers send what is known; the
    API documents that prior therapies must be listed). Missing fields stay unknown.
    """
    from ontologies.stage import stage_group as _stage_group

    tree = ontology.cancer_types
    code = _resolve_cancer(profile.cancer_type, ontology)
    node = tree.get(code)
    ancestors = tuple(tree.ancestors(code))
    lineage = (code, *ancestors)
    tissue = lineage[-1] if lineage else None
    hematologic = bool(set(lineage) & HEMATOLOGIC_TISSUES)
    # Curated in the ontology: benign/intermediate codes (desmoid, …) and subtrees.
    malignant = tree.is_malignant(code)
    carcinoma = _is_carcinoma(lineage, tree, hematologic=hematologic, malignant=malignant)

    histology: str | None = None
    if profile.histology:
        histology = ontology.histology.resolve(profile.histology)
    if histology is None:
        histology = ontology.histology.of_oncotree(code)
    if histology is None:
        for anc in ancestors:
            histology = ontology.histology.of_oncotree(anc)
            if histology is not None:
                break

    label = _stage_label(profile.stage) if profile.stage else None
    group = _stage_group(label) if label else None
    extents, group = _extents_from(
        group, label, profile.stage or "", profile.resectable, malignant
    )

    markers, her2, hr, tps, cps = _normalize_biomarkers(profile.biomarkers, ontology)

    therapies = tuple(_resolve_therapy(t, ontology) for t in profile.prior_therapies or ())
    drugs: set[str] = set()
    classes: set[str] = set()
    for t in therapies:
        drugs |= t.drugs
        classes |= t.classes
    systemic = [t for t in therapies if t.systemic]
    advanced_lines = count_lines(t for t in systemic if t.setting_family == "advanced")
    unresolved = any(t.systemic is None for t in therapies)
    if group != "IV" and any(t.setting_family == "advanced" for t in systemic):
        extents.setdefault("recurrent", True)
    if not therapies and group in ("0", "I", "II"):
        extents.setdefault("recurrent", False)
        extents.setdefault("refractory", False)

    present, absent = _normalize_conditions(profile.conditions, ontology)
    pregnant = profile.pregnant
    if profile.sex == "male":
        pregnant = False
    if pregnant is True:
        present |= {"pregnancy"}
    elif pregnant is False:
        absent |= {"pregnancy"}
    if profile.brain_metastases == "none":
        absent |= {"brain_metastases"}

    lat, lon = profile.lat, profile.lon
    if lat is None and profile.zip:
        ll = zip_to_latlon(profile.zip)
        if ll:
            lat, lon = ll

    return NormalizedPatient(
        cancer_code=code,
        cancer_name=str(getattr(node, "name", code)),
        cancer_lineage=lineage,
        tissue=tissue,
        hematologic=hematologic,
        malignant=malignant,
        carcinoma=carcinoma,
        histology=histology,
        stage=label,
        stage_group=group,
        extents=extents,
        resectable=profile.resectable,
        markers=markers,
        her2_category=her2,
        hr_positive=hr,
        pdl1_tps=tps,
        pdl1_cps=cps,
        therapies=therapies,
        drugs=frozenset(drugs),
        classes=frozenset(classes),
        systemic_lines=count_lines(systemic),
        systemic_lines_advanced=advanced_lines,
        therapy_unresolved=unresolved,
        ecog=profile.ecog,
        age=profile.age,
        sex=profile.sex,
        brain_metastases=profile.brain_metastases,
        measurable_disease=profile.measurable_disease,
        pregnant=pregnant,
        conditions_present=frozenset(present),
        conditions_absent=frozenset(absent - present),
        lat=lat,
        lon=lon,
    )

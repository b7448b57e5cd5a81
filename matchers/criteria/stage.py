"""Stage and extent: AJCC stage groups and disease-extent words.

**Extraction** (:func:`extract_stage`) — AJCC stage expressions ("stage IIIB-IV", "stage
III or IV", "stage IIIB/IV", "stage 4") expanded by :func:`ontologies.stage.parse_stage`,
and the extent words of ``matchers/rules/stage.toml`` ("metastatic", "unresectable",
"locally advanced", "recurrent", …). Ambiguous words ("advanced", "recurrent",
"refractory", "localized") count only next to a cancer word ("advanced solid tumours",
"recurrent disease"), never for other organs ("advanced liver disease"). "Brain
metastases" is not an extent (:mod:`matchers.criteria.brain_metastases`), nor is the
setting of a therapy ("prior chemotherapy for metastatic disease").

**Patient side** (:func:`read_stage`) — the profile's AJCC stage label and group plus the
extent truths they imply (AJCC 8th; NCI definitions of "advanced", "locally advanced",
"metastatic"): stage IV = metastatic and advanced; III = locally advanced; IIIB/IIIC
advanced; 0–II early/localized — each overridden by a stated resectability; advanced
therapy lines imply recurrent disease below stage IV, and progression on a therapy
makes the disease refractory (and recurrent below stage IV).

**Comparison** (:func:`compare_stage`) — the patient's stage within the fact's stages (a
group with sub-stages half inside is unknown: "exact stage?"), else the extent words.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import (
    CriterionText,
    compiled_per_rules,
    direct_negation,
    keep_mention,
)
from matchers.logic import Tri
from matchers.models import DiseaseExtent, Fact, StageFact
from matchers.rules import ExtentRules, Rules

if TYPE_CHECKING:
    from matchers.criteria.cancer_type import PatientCancer
    from matchers.criteria.prior_therapy import PatientTherapies
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = [
    "CATEGORY",
    "PatientStage",
    "compare_stage",
    "extract_stage",
    "parse_stage_text",
    "read_stage",
]

_EXTENT_GATE = re.compile(
    r"stage|metasta|m1|resect|operab|incurable|advanced|recurr|relaps|refractory|early|locali|"
    r"confined|dissemin|amenable|candidate"
)


_SETTING_BEFORE = re.compile(
    r"\b(?:for|in|of)\s+(?:the\s+|their\s+|his/her\s+)?(?:treatment\s+of\s+|management\s+of\s+)?"
    r"(?:[\w-]+\s*(?:,|/|or|and|and/or)?\s*){0,3}$",
    re.I,
)
_THERAPY_WORD = re.compile(
    r"\b(?:therap\w*|treat\w*|regimens?|lines?|chemo\w*|agents?|drugs?|received|prior|previous\w*|"
    r"progress\w*|refractory|administered|course)\b",
    re.I,
)


def _therapy_setting(c: CriterionText, s: int, e: int) -> bool:
    """True if a stage/extent mention is the setting of a therapy ("prior chemotherapy
    for metastatic disease", "in the advanced setting"): the prior-therapy fact holds it;
    as a stage fact it would be read as a requirement on the patient's disease."""
    if re.match(r"[\s/,-]*(?:\w+\s+){0,3}?setting", c.norm[e : e + 40], re.I):
        return True
    before = c.norm[max(c.start, s - 60) : s]
    if _SETTING_BEFORE.search(before) is None:
        return False
    sent = max(c.norm.rfind(". ", c.start, s), c.norm.rfind(";", c.start, s), c.start)
    head = c.norm[sent:s]
    return bool(_THERAPY_WORD.search(head)) or any(
        sent <= t.start < s for t in c.terms_of("THERAPY_CLASS", "DRUG")
    )


_ROMAN = r"(?:IV|I{1,3}|0)[ABCD]?[12]?"
_PAREN = r"(?:\s*\([^()]{1,80}\))?"
"""A parenthetical between two stages of a list or range: "stage IIIB (with pleural
effusion) or IV", "stage IIA (with class 2 DecisionDx Score) through IV" — read without it."""
_STAGE_RX = re.compile(
    rf"""\b(?:AJCC\s+(?:\d+(?:th|st|nd|rd)\s+edition\s+)?|clinical\s+|pathologic(?:al)?\s+|FIGO\s+|TNM\s+)?
    stages?\s*(?:group\s*)?:?\s*
    (?P<expr>{_ROMAN}(?:{_PAREN}\s*(?:-|–|to|through|or|and|/|,|,\s*or|,\s*and|and/or)\s*(?:stage\s*)?{_ROMAN})*
      |[0-4][ABCabc]?(?:\s*(?:-|to|or|and|/|,)\s*[0-4][ABCabc]?)*(?![\d.]))
    (?![a-z])""",
    re.X | re.I,
)
_ARABIC = {"0": "0", "1": "I", "2": "II", "3": "III", "4": "IV"}


def parse_stage_text(expr: str) -> tuple[str, ...]:
    """AJCC stage groups covered by a stage expression ("IIIB-IV", "III or IV",
    "IIIB/IV", "3-4"), via :func:`ontologies.stage.parse_stage`, in stage order.
    Empty if not readable."""
    from ontologies.stage import STAGE_ORDER, parse_stage

    e = re.sub(r"\s*\([^()]*\)", "", expr).strip()
    e = re.sub(r"\b([0-4])([ABCabc]?)\b", lambda m: _ARABIC[m.group(1)] + m.group(2).upper(), e)
    e = re.sub(r"\s*(?:,\s*or|,\s*and|and/or|or|and|,)\s*", " or ", e)
    e = e.replace("/", " or ").replace("–", "-").replace(" to ", "-").replace(" through ", "-")
    try:
        stages = parse_stage(e)
    except Exception:
        return ()
    order = {s: i for i, s in enumerate(STAGE_ORDER)}
    return tuple(sorted(stages, key=lambda s: order.get(s, 99)))


@compiled_per_rules
def _extent_rx(rules: ExtentRules) -> re.Pattern[str]:
    parts = []
    for name, words in rules.extents.items():
        DiseaseExtent(name)  # validates the key
        parts.append(f"(?P<{name}>" + "|".join(sorted(words, key=len, reverse=True)) + ")")
    return re.compile(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])", re.I)


_CANCER_WORD = re.compile(
    r"^[\s,/-]*(?:(?:or|and|and/or)\s+(?:\w+[\s-]+){0,2}?)?(?:\w+[\s-]+){0,3}?"
    r"(?:cancers?|carcinomas?|malignan\w*|tumou?rs?|neoplasms?|disease|sarcomas?|lymphomas?|leuk\w+|"
    r"melanomas?|myelomas?|nsclc|sclc|setting|stage|solid|adenocarcinomas?|mesotheliomas?|gliomas?|"
    r"glioblastomas?|hcc|crc|mcrpc|crpc|tnbc|cholangiocarcinomas?)\b",
    re.I,
)
_ORGAN_DISEASE = re.compile(
    r"\b(?:liver|kidney|renal|heart|cardiac|lung|pulmonary|hepatic|cardiovascular|hiv|chronic|"
    r"autoimmune|inflammatory|infectious|periodontal|parkinson|alzheimer|copd|age|maternal)\b",
    re.I,
)
_AMBIGUOUS = {
    "advanced",
    "recurrent",
    "refractory",
    "localized",
    "early",
    "resectable",
    "metastatic",
}
# The extent follows its cancer in a relative clause: "solid tumor malignancy that is
# metastatic or unresectable", "a cancer which has become refractory".
_CANCER_THEN_CLAUSE = re.compile(
    r"\b(?:cancers?|carcinomas?|malignan\w*|tumou?rs?|neoplasms?|sarcomas?|lymphomas?|"
    r"melanomas?|mesotheliomas?|adenocarcinomas?|nsclc|sclc)"
    r"\s*,?\s*(?:that|which)\s+(?:is|are|was|were|has|have)(?:\s+become)?\b[^.;:]{0,40}$",
    re.I,
)
_BRAIN_AFTER = re.compile(
    r"[\s-]*(?:to\s+the\s+)?(?:brain|cns|central\s+nervous|intracranial|cerebral|leptomeningeal|spinal|bone)",
    re.I,
)


def extract_stage(c: CriterionText, rules: Rules) -> list[StageFact]:
    """Stage/extent facts of criterion ``c`` (see the module docstring)."""
    facts: list[StageFact] = []
    body = c.body
    base = c.start
    low = c.body_lower
    if not _EXTENT_GATE.search(low):
        return facts  # fast path: no stage or extent word at all
    cancer_terms = c.terms_of("CANCER")
    for m in _STAGE_RX.finditer(body) if "stage" in low else ():
        stages = parse_stage_text(m.group("expr"))
        if not stages:
            continue
        before = body[max(0, m.start() - 30) : m.start()]
        if re.search(
            r"\b(?:tanner|ckd|kidney|renal|heart|nyha|hypertension|sleep|pubertal)\b",
            before + m.group(0),
            re.I,
        ):
            continue
        s, e = base + m.start(), base + m.end()
        keep, neg, exc = keep_mention(c, s, e)
        if not keep or _therapy_setting(c, s, e) or (neg and not direct_negation(c, s)):
            continue
        facts.append(
            StageFact(span=(s, e), text=c.text[s:e], negated=neg, exception=exc, stages=stages)
        )
    rx = _extent_rx(rules.stage)
    stage_spans = [f.span for f in facts]
    for m in rx.finditer(body):
        name = m.lastgroup
        if name is None:
            continue
        s, e = base + m.start(), base + m.end()
        if any(a <= s < b for a, b in stage_spans):
            continue
        word = m.group(0).lower()
        if name == "metastatic" and (
            _BRAIN_AFTER.match(body, m.end()) or word.startswith(("metastases", "metastasis"))
        ):
            continue
        if name == "metastatic" and re.search(
            r"\b(?:brain|cns|bone|liver|lung|nodal)\s*$", body[: m.start()], re.I
        ):
            continue
        ambiguous = name in _AMBIGUOUS or name in (
            "unresectable",
            "recurrent",
            "refractory",
            "localized",
            "locally_advanced",
        )
        if ambiguous:
            near_cancer = any(0 <= t.start - e <= 70 for t in cancer_terms) or (
                _CANCER_THEN_CLAUSE.search(body, max(0, m.start() - 90), m.start()) is not None
            )
            after = body[m.end() : m.end() + 60]
            cw = _CANCER_WORD.match(after)
            if not near_cancer and (cw is None or _ORGAN_DISEASE.search(after[: cw.end()])):
                continue
        keep, neg, exc = keep_mention(c, s, e)
        if not keep or _therapy_setting(c, s, e) or (neg and not direct_negation(c, s)):
            continue
        facts.append(
            StageFact(
                span=(s, e),
                text=c.text[s:e],
                negated=neg,
                exception=exc,
                extents=(DiseaseExtent(name),),
            )
        )
    facts.sort(key=lambda f: f.span)
    return facts


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "stage.ajcc" if f.stages else "stage.extent"})
            for f in extract_stage(c, ctx.rules)]


# --------------------------------------------------------------------------------------
# patient side
# --------------------------------------------------------------------------------------


class PatientStage(BaseModel):
    """The patient's AJCC stage (``label`` "IIIB", ``group`` "III") and disease-extent
    truths: ``extents`` maps :class:`~matchers.models.DiseaseExtent` values to what is
    known (absent key = unknown); ``resectable`` as stated."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    label: str | None = None
    group: str | None = None
    extents: dict[str, bool] = Field(default_factory=dict)
    resectable: bool | None = None


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



def read_stage(profile: PatientProfile, cancer: PatientCancer,
               therapy: PatientTherapies) -> PatientStage:
    """The patient's :class:`PatientStage`: stage label/group from ``profile.stage``
    (AJCC 8th; words such as "metastatic" set the group), extents from stage,
    resectability and therapy history (see :func:`_extents_from`). A stage given "at
    diagnosis" beside "now recurrent" says nothing of the recurrence's extent; brain
    metastases, ``metastasis_sites`` or a ``metastatic_diagnosis_date`` make the disease
    metastatic."""
    from ontologies.stage import stage_group as _stage_group

    label = _stage_label(profile.stage) if profile.stage else None
    group = _stage_group(label) if label else None
    extents, group = _extents_from(
        group, label, profile.stage or "", profile.resectable, cancer.malignant
    )
    w = (profile.stage or "").lower()
    if group not in (None, "IV") and ("recurren" in w or "relaps" in w) and (
            "diagnos" in w or "initial" in w):
        # "IIIC (FIGO, at diagnosis); now recurrent": the stage describes the disease
        # when first diagnosed, not the recurrence, whose extent it leaves open.
        for k in ("metastatic", "localized", "early", "locally_advanced"):
            extents.pop(k, None)
    if (profile.brain_metastases in ("treated_stable", "active") or profile.metastasis_sites
            or profile.metastatic_diagnosis_date is not None):
        # Brain metastases, named distant sites or a date of metastatic diagnosis are
        # distant (M1) disease, whatever stage was stated at diagnosis (AJCC 8th: M1 is
        # stage IV).
        extents.update(metastatic=True, advanced=True, early=False, localized=False,
                       locally_advanced=False)
    if group != "IV" and any(t.setting_family == "advanced" for t in therapy.therapies
                             if t.systemic):
        extents.setdefault("recurrent", True)
    if any(t.progressed for t in therapy.therapies):
        # Disease that progressed on or after a therapy is refractory to it, and (short of
        # stage IV, where "metastatic" already says it) recurrent.
        extents.setdefault("refractory", True)
        if group != "IV":
            extents.setdefault("recurrent", True)
    if therapy.known and not therapy.therapies and group in ("0", "I", "II"):
        extents.setdefault("recurrent", False)
        extents.setdefault("refractory", False)
    if therapy.known and not any(t.systemic for t in therapy.therapies):
        # Refractory means progression on therapy; for a blood cancer, relapse means
        # return after a remission that therapy brought: neither without systemic
        # therapy (hydroxyurea cytoreduction is none). A solid tumour may recur after
        # surgery alone, so "recurrent" stays open there.
        extents.setdefault("refractory", False)
        if cancer.hematologic:
            extents.setdefault("recurrent", False)
    return PatientStage(label=label, group=group, extents=extents,
                        resectable=profile.resectable)


# --------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------


def compare_stage(f: StageFact, patient: NormalizedPatient, ctx: CompareContext) -> Atom:
    """The patient's AJCC stage against the fact's stages, else the disease-extent
    truths against its extent words (any one true → true; all false → false)."""
    p = patient.stage
    stage_order = ctx.stage_order
    stages = set(f.stages)
    if stages and p.label:
        label = p.label
        group = p.group or label
        if label in stages:
            return Atom(f, True, f"stage {label}")
        subs = [s for s in stage_order if s != group and s.startswith(group)
                and s[len(group):len(group) + 1] in ("A", "B", "C")]
        if label == group:
            inside = [s for s in subs if s in stages]
            if inside and len(inside) < len(subs):
                return Atom(f, None, f"stage {label} (sub-stage not given)", "exact stage?")
            if inside:
                return Atom(f, True, f"stage {label}")
        elif group in stages and not any(s in stages for s in subs):
            return Atom(f, True, f"stage {label}")
        if f.extents and p.extents.get("recurrent") is True and "recurrent" in f.extents:
            return Atom(f, True, f"stage {label}, recurrent")
        return Atom(f, False, f"stage {label}")
    if f.extents:
        values: list[Tri] = [p.extents.get(str(e)) for e in f.extents]
        desc = _extent_desc(p)
        if any(v is True for v in values):
            return Atom(f, True, desc)
        if all(v is False for v in values):
            return Atom(f, False, desc)
        return Atom(f, None, desc, _extent_question(f))
    if stages:
        return Atom(f, None, "stage not given", "stage?")
    return Atom(f, None, "stage not given", "stage?", key=False)


def _extent_desc(p: PatientStage) -> str:
    bits: list[str] = []
    if p.label:
        bits.append(f"stage {p.label}")
    if p.extents.get("metastatic") is True:
        bits.append("metastatic")
    elif p.extents.get("metastatic") is False:
        bits.append("not metastatic")
    if p.resectable is True:
        bits.append("resectable")
    elif p.resectable is False:
        bits.append("unresectable")
    return ", ".join(bits) if bits else "extent of disease not given"


def _extent_question(f: StageFact) -> str:
    words = {str(e) for e in f.extents}
    if words & {"resectable", "unresectable"}:
        return "resectable?"
    if words & {"recurrent", "refractory"}:
        return "recurrent or refractory disease?"
    return "stage / metastatic?"



CATEGORY = Category(
    name="stage",
    fact_type=StageFact,
    extract=_extract,
    compare=compare_stage,
    patient_part="stage",
    reader=read_stage,
    key=True,
    priority=4,
    rules_file="stage.toml",
    cases_file="stage.toml",
    module=__name__,
)

"""Cancer type: which cancers a trial enrols, and whether the patient's is one.

**Extraction** (:func:`extract_cancer_types`) — ontology ``CANCER`` terms (OncoTree
codes) and the generic phrases of ``matchers/rules/cancer_type.toml`` ("solid tumours"
→ ``any_solid_tumor``, "haematologic malignancies" → ``any_hematologic``, "advanced
malignancy" → ``any_malignancy``). Mentions preceded by "non-" are not read ("non-small
cell" is not "small cell"); a cancer named as *another* malignancy ("history of other
malignancy … except basal cell carcinoma") is left to the ``other_malignancy`` condition
(:mod:`matchers.criteria.comorbidity`).

**Patient side** (:func:`read_cancer`) — the profile's ``cancer_type`` (free text or an
OncoTree code) resolved to an OncoTree code with its lineage (code, then ancestors up to
the tissue node), solid/haematologic (``LYMPH``/``MYELOID`` tissues), malignant
(curated in the ontology: desmoid-type fibromatosis is intermediate) and carcinoma
(from the lineage's OncoTree names). Raises :class:`matchers.errors.PatientProfileError`
when the text resolves to no code.

**Comparison** — judged once per trial (:func:`cancer_fit`) from the trial's conditions
and title and its inclusion cancer-type facts, against the patient's lineage: a trial
code equal to or an ancestor of the patient's code accepts ("mesothelioma" accepts
pleural epithelioid); a sibling does not ("epithelioid" rejects sarcomatoid); a trial
code more specific than the patient's is unknown; "solid tumour" accepts any malignant
solid tumour and no haematologic one; a bare "Carcinoma" accepts carcinomas only.
Non-malignant (intermediate) neoplasms such as desmoid-type fibromatosis are not
accepted by their malignant parents ("soft tissue sarcoma") and are only *possibly*
accepted by generic wording. Criteria naming another cancer type describe another cohort
and are not held against the patient when the trial accepts the patient's cancer
elsewhere (:func:`criterion_cancer_value`). A cancer type in an exclusion excludes the
patient's cancer trial-wide only when it stands alone and is not the cancer the trial
enrols (:func:`prepare_cancer_scope`).
"""

from __future__ import annotations

import re
import typing
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from matchers.criteria.base import Category, ExtractContext
from matchers.criteria.common import (
    OTHER_CONTEXT,
    CriterionText,
    compiled_per_rules,
    direct_negation,
    keep_mention,
    keep_terms,
)
from matchers.errors import PatientProfileError
from matchers.logic import Tri, not_, or_
from matchers.models import (
    CancerTypeFact,
    CriterionKind,
    CriterionStatus,
    Fact,
    OncoTreeCode,
    ParsedCriterion,
)
from matchers.rules import CancerRules, Rules

if TYPE_CHECKING:
    from matchers.patient import PatientProfile
    from ontologies import Ontology
    from ontologies.cancer_types import CancerTypeTree

__all__ = [
    "CANCER_GATE",
    "CATEGORY",
    "NOT_DISEASE_AFTER",
    "CancerFit",
    "PatientCancer",
    "PreparedCancerFact",
    "TrialCancerScope",
    "cancer_fit",
    "cancer_rx",
    "coordinated_cancers",
    "criterion_cancer_value",
    "extract_cancer_types",
    "mention_fits",
    "prepare_cancer_scope",
    "read_cancer",
]

CANCER_GATE = re.compile(r"cancer|malignan|tumou?r|neoplas|carcinom|solid|hema|haema|blood")
# The shared model's OncoTree code pattern (some real codes, e.g. "MDS/MPN", fail it).
_ONCOTREE_CODE = re.compile(typing.get_args(OncoTreeCode)[1].pattern)

# --------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class _CancerRx:
    solid: re.Pattern[str]
    malignancy: re.Pattern[str]
    hematologic: re.Pattern[str]
    other: re.Pattern[str]
    neighbours: frozenset[str]


@compiled_per_rules
def cancer_rx(rules: CancerRules) -> _CancerRx:
    def rx(words: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile(
            r"(?<![\w-])(?:" + "|".join(sorted(words, key=len, reverse=True)) + r")(?![\w-])", re.I
        )

    return _CancerRx(
        solid=rx(rules.any_solid_tumor),
        malignancy=rx(rules.any_malignancy),
        hematologic=rx(rules.any_hematologic),
        other=rx(rules.other_malignancy),
        neighbours=frozenset(w.lower() for w in rules.generic_neighbours),
    )


_GENERIC_QUAL = re.compile(
    r"\b(?:advanced|metastatic|histologically|cytologically|pathologically|confirmed|diagnosis\s+of|"
    r"diagnosed\s+with|refractory|relapsed|recurrent|incurable|unresectable|any|documented|"
    r"proven|known|locally\s+advanced|progressive|measurable)\b[^.;]{0,30}$",
    re.I,
)
_STAGE_NUMERAL = re.compile(r"(?:i{1,3}|iv|[0-4])[abc]?")


def _generic_neighbour(before: str, neighbours: frozenset[str]) -> bool:
    """True if the word right before a generic cancer word keeps it generic: a word of
    ``cancer_type.toml``'s ``generic_neighbours`` ("histologically confirmed cancer",
    "diagnosis of a malignancy") or a stage numeral ("stage IV cancer"). Any other word
    names a site or type the ontology did not resolve ("a periampullary cancer", "GI
    cancer"); reading it as *any* cancer would offer the trial to every patient."""
    m = re.search(r"([\w/+-]+)\W*$", before)
    if m is None:
        return True
    word = m.group(1).lower()
    return word in neighbours or _STAGE_NUMERAL.fullmatch(word) is not None


NOT_DISEASE_AFTER = re.compile(
    r"[\s-]*(?:therapy|therapies|treatment|treatments|center|centre|institute|care|related|"
    r"directed|antigen|pain|screening|survivors?|registry|staging|surgery|drugs?|agents?|cells?|"
    r"specific|free|predisposition|syndrome|stage\b|grade\b|size\b|burden\b|board\b)",
    re.I,
)


def extract_cancer_types(c: CriterionText, rules: Rules) -> list[CancerTypeFact]:
    """Cancer-type facts of criterion ``c`` (see the module docstring)."""
    rx = cancer_rx(rules.cancer_type)
    facts: list[CancerTypeFact] = []
    if not c.terms_of("CANCER") and not CANCER_GATE.search(c.body_lower):
        return facts  # fast path: no cancer term and no generic cancer word
    other_spans = [(c.start + m.start(), c.start + m.end()) for m in rx.other.finditer(c.body)]
    terms = keep_terms(c, ("CANCER",))
    for t in terms:
        if any(s <= t.start and t.end <= e for s, e in other_spans):
            continue
        codes = tuple(code for code in t.codes if _ONCOTREE_CODE.fullmatch(code))
        if not codes:
            continue  # e.g. "MDS/MPN": an OncoTree code the shared model cannot hold
        if (
            OTHER_CONTEXT.search(c.norm[max(c.start, t.start - 50) : t.start])
            and c.kind.value == "exclusion"
        ):
            continue
        if t.end - t.start <= 5 and (
            c.norm[max(c.start, t.start - 1) : t.start] in ("/", "^")
            or re.match(
                r"\s*(?:score|scale|grade|criteria|titer|level)", c.norm[t.end : t.end + 12], re.I
            )
        ):
            continue  # "/mcL", "IGA score": a unit or a scale, not a cancer
        keep, neg, exc = keep_mention(c, t.start, t.end)
        if not keep or (neg and not direct_negation(c, t.start)):
            continue
        facts.append(
            CancerTypeFact(
                span=(t.start, t.end),
                text=c.text[t.start : t.end],
                negated=neg,
                exception=exc,
                codes=codes,
            )
        )
    occupied = [(t.start, t.end) for t in terms] + other_spans
    for kind, pat in (("solid", rx.solid), ("hematologic", rx.hematologic), ("any", rx.malignancy)):
        for m in pat.finditer(c.body):
            s, e = c.start + m.start(), c.start + m.end()
            if any(os < e and s < oe for os, oe in occupied):
                continue
            if NOT_DISEASE_AFTER.match(c.body, m.end()):
                continue
            if kind == "any" and c.kind.value == "exclusion":
                continue  # a malignancy in an exclusion is another one (see conditions)
            if kind == "any":
                before = c.norm[max(c.start, s - 45) : s]
                if not _GENERIC_QUAL.search(before) or OTHER_CONTEXT.search(before):
                    continue
                if not _generic_neighbour(before, rx.neighbours):
                    continue  # "a periampullary cancer", "skin cancer": a site, not "any"
            keep, neg, exc = keep_mention(c, s, e)
            if not keep or (neg and not direct_negation(c, s)):
                continue
            occupied.append((s, e))
            facts.append(
                CancerTypeFact(
                    span=(s, e),
                    text=c.text[s:e],
                    negated=neg,
                    exception=exc,
                    any_solid_tumor=kind == "solid",
                    any_hematologic=kind == "hematologic",
                    any_malignancy=kind == "any",
                )
            )
    facts.sort(key=lambda f: f.span)
    return facts


_HEAD_NOUN = re.compile(
    r"(?:cancers?|carcinomas?|adenocarcinomas?|tumou?rs?|malignanc(?:y|ies)|neoplasms?)$", re.I)
_LIST_ITEM_BEFORE = re.compile(
    r"(?P<item>[A-Za-z][\w-]*(?:\s+[A-Za-z][\w-]*){0,2})\s*"
    r"(?:,\s*(?:and/or\s+|or\s+|and\s+)?|\s+(?:and/or|or|and)\s+|\s*/\s*)$")


def coordinated_cancers(c: CriterionText, facts: Sequence[CancerTypeFact],
                        ontology: Ontology) -> list[CancerTypeFact]:
    """Cancer types named by coordination ellipsis before a cancer mention: in
    "breast, ovarian or prostate cancer" and "ovarian, primary peritoneal or fallopian
    tube cancer" the head noun is written once. Each list item (1–3 words) is read
    with the mention's head ("ovarian" + "cancer") through the ontology's exact aliases
    (no fuzzy matching); items that name no cancer type are left alone. The new facts
    share the mention's polarity."""
    out: list[CancerTypeFact] = []
    taken = [f.span for f in facts]
    for f in facts:
        if not f.codes or not _HEAD_NOUN.search(f.text):
            continue
        words = f.text.split()
        heads = [" ".join(words[-k:]) for k in range(1, min(3, len(words)) + 1)]
        pos = f.span[0]
        for _ in range(8):
            m = _LIST_ITEM_BEFORE.search(c.norm, max(c.start, pos - 80), pos)
            if m is None:
                break
            item_words = m.group("item").split()
            found: tuple[str, tuple[str, ...]] | None = None
            for k in range(len(item_words), 0, -1):
                item = " ".join(item_words[-k:])
                for head in heads:
                    codes = tuple(code for code in ontology.cancer_types.exact(f"{item} {head}")
                                  if _ONCOTREE_CODE.fullmatch(code))
                    if codes:
                        found = (item, codes)
                        break
                if found:
                    break
            if found is None:
                break
            item, codes = found
            s = m.end("item") - len(item)
            e = m.end("item")
            if any(a < e and s < b for a, b in taken):
                break
            taken.append((s, e))
            out.append(CancerTypeFact(span=(s, e), text=c.text[s:e], negated=f.negated,
                                      exception=f.exception, codes=codes,
                                      rule="cancer_type.coordination"))
            pos = s
    return out


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    facts = [f.model_copy(update={"rule": "cancer_type.generic" if not f.codes
                                  else "cancer_type.ontology_term"})
             for f in extract_cancer_types(c, ctx.rules)]
    extra = coordinated_cancers(c, facts, ctx.ontology)
    return sorted([*facts, *extra], key=lambda f: f.span)


# --------------------------------------------------------------------------------------
# patient side
# --------------------------------------------------------------------------------------


class PatientCancer(BaseModel):
    """The patient's cancer, resolved against OncoTree.

    ``code`` is the OncoTree code, ``lineage`` the code followed by its ancestors
    (parent first, up to the tissue node), ``tissue`` the tissue node. ``carcinoma`` is
    True if an OncoTree name in the lineage says carcinoma, False if it is named as a
    non-epithelial cancer (mesothelioma, sarcoma, melanoma, lymphoma, …) or is
    haematologic or not malignant, None if neither (e.g. "Small Cell Lung Cancer"): it
    decides trials whose only cancer word is "carcinoma".
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str
    name: str
    lineage: tuple[str, ...]
    tissue: str | None = None
    hematologic: bool = False
    malignant: bool = True
    carcinoma: bool | None = None


HEMATOLOGIC_TISSUES = frozenset({"LYMPH", "MYELOID"})
"""OncoTree tissue nodes whose tumours are haematologic (not solid)."""


def _resolve_code(text: str, ontology: Ontology) -> str:
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


_CARCINOMA_NAME = re.compile(r"carcinoma|non-small cell", re.I)


_NON_EPITHELIAL = re.compile(
    r"mesothelioma|sarcoma|melanoma|lymphoma|leuka?emia|myeloma|glioma|blastoma|"
    r"fibromatosis|stromal tumou?r|germ cell|histiocyt", re.I)


def _is_carcinoma(lineage: tuple[str, ...], tree: CancerTypeTree, *, hematologic: bool,
                  malignant: bool) -> bool | None:
    """Carcinoma or not, from the OncoTree names of the code and its ancestors (see
    :attr:`PatientCancer.carcinoma`). "Carcinosarcoma" counts as a carcinoma."""
    names = [str(getattr(tree.get(c), "name", "")) for c in lineage]
    if any(_CARCINOMA_NAME.search(n) for n in names):
        return True
    if hematologic or not malignant or any(_NON_EPITHELIAL.search(n) for n in names):
        return False
    return None



def read_cancer(profile: PatientProfile, ontology: Ontology) -> PatientCancer:
    """The patient's :class:`PatientCancer` from ``profile.cancer_type``; raises
    :class:`~matchers.errors.PatientProfileError` (field ``cancer_type``, with the
    closest names as suggestions) when it resolves to no OncoTree code."""
    tree = ontology.cancer_types
    code = _resolve_code(profile.cancer_type, ontology)
    node = tree.get(code)
    lineage = (code, *tree.ancestors(code))
    hematologic = bool(set(lineage) & HEMATOLOGIC_TISSUES)
    # Curated in the ontology: benign/intermediate codes (desmoid, …) and subtrees.
    malignant = tree.is_malignant(code)
    return PatientCancer(
        code=code,
        name=str(getattr(node, "name", code)),
        lineage=lineage,
        tissue=lineage[-1] if lineage else None,
        hematologic=hematologic,
        malignant=malignant,
        carcinoma=_is_carcinoma(lineage, tree, hematologic=hematologic, malignant=malignant),
    )


# --------------------------------------------------------------------------------------
# comparison (trial level)
# --------------------------------------------------------------------------------------


def _quote(text: str, limit: int = 180) -> str:
    t = " ".join(text.split())
    return f'"{t if len(t) <= limit else t[: limit - 1] + "…"}"'


EXACT, ANCESTOR, GENERIC, SPECIFIC, NONE = 4, 3, 2, 1, 0
"""Cancer-type match levels, best first: exact code; trial code is an ancestor; generic
("solid tumour"); trial code more specific than the patient's (unknown); no match."""


@dataclass(frozen=True, slots=True)
class PreparedCancerFact:
    """A cancer-type fact with its codes' ancestors and levels precomputed."""

    fact: CancerTypeFact
    source: str  # "condition" | "inclusion" | "exclusion"
    criterion: ParsedCriterion | None
    ancestors: tuple[frozenset[str], ...]
    levels: tuple[int, ...]
    names: tuple[str, ...]


def _prepare_cancer(
    fact: CancerTypeFact, source: str, crit: ParsedCriterion | None, onto: Ontology
) -> PreparedCancerFact:
    tree = onto.cancer_types
    anc: list[frozenset[str]] = []
    levels: list[int] = []
    names: list[str] = []
    for code in fact.codes:
        node = tree.get(code)
        anc.append(frozenset(tree.ancestors(code)) if node is not None else frozenset())
        levels.append(int(getattr(node, "level", 2)) if node is not None else 2)
        names.append(str(getattr(node, "name", code)) if node is not None else code)
    return PreparedCancerFact(fact, source, crit, tuple(anc), tuple(levels), tuple(names))


_NARROWING_BARE = frozenset({"cancer", "carcinoma", "tumor"})
"""Bare generic words that, in a criterion naming specific cancers too, are part of a
name the vocabulary missed ("locally advanced cancer cervix")."""


_BARE_CANCER_WORDS = frozenset({"cancer", "tumor", "neoplasm", "malignancy"})
"""A generic cancer word with no qualifier at all ("Tumor" in a spine-surgery study);
a bare "Carcinoma" is handled by :attr:`CancerTypeFact.carcinoma_only`."""


def _generic_conditions_narrowed(
    scope: TrialCancerScope, p: PatientCancer
) -> tuple[str, ParsedCriterion] | None:
    """Generic conditions ("Locally Advanced Malignant Neoplasm", "cancer") narrowed by
    the inclusion criteria: when every cancer type the inclusion criteria name is
    specific, none of them fits the patient even as a parent or subtype, and no
    inclusion criterion keeps a generic scope ("any solid tumour"), the list *is* the
    population (head and neck, cervix, breast, oesophagus, anorectum).
    Returns (the listed names, the first criterion naming them) or None.
    """
    inclusion = [c for c in scope.positive if c.source == "inclusion"]
    # A bare "cancer(s)" in a criterion that also names specific cancers is part of a
    # name the vocabulary missed ("locally advanced cancer cervix"), not a scope.
    with_specific = {id(c.criterion) for c in inclusion if c.fact.codes}
    inclusion = [
        c for c in inclusion
        if c.fact.codes or id(c.criterion) not in with_specific
        or c.fact.generic_word not in _NARROWING_BARE
    ]
    if not inclusion or any(
        c.fact.any_solid_tumor or c.fact.any_malignancy or c.fact.any_hematologic
        or not c.fact.codes for c in inclusion
    ):
        return None
    if any(_match_level(c, p)[0] >= SPECIFIC for c in inclusion):
        return None
    first = next((c.criterion for c in inclusion if c.criterion is not None), None)
    if first is None:
        return None
    names = sorted({n for c in inclusion for n in c.names})[:6]
    return ", ".join(names), first


def _is_evidence(pf: PreparedCancerFact, scope: TrialCancerScope) -> bool:
    """True if the mention is evidence of whom the trial enrols: any mention of the
    conditions, title or an enrolling inclusion criterion, except a bare generic word in
    a criterion ("tumour" in a PD-L1 criterion, "cancers" closing a list) and a bare
    generic word among non-cancer conditions ("Cancer" beside "Cardiovascular Diseases";
    "Tumor" beside "Degenerative Disc Disease")."""
    f = pf.fact
    if pf.source == "inclusion" and f.generic_word is not None:
        return False
    return not (pf.source == "condition" and scope.conditions_non_cancer
                and not scope.conditions_specific and f.generic_word in _BARE_CANCER_WORDS)


def _narrowed(scope: TrialCancerScope, p: PatientCancer,
              scored: Sequence[tuple[PreparedCancerFact, int]],
              best: PreparedCancerFact) -> tuple[PreparedCancerFact, bool] | None:
    """The specific mention that narrows a broad fit, or None.

    The trial's best fit for the patient is a broad mention — a tissue-level class
    ("lung cancer", "ovarian cancer") or a group ("leukemia", "GI cancers") — while it
    also names, among its population mentions, a more specific type under that mention
    that is not the patient's, and no mention names the patient's type more closely:
    the broad word is shorthand for the specific one ("Lung Cancer; NSCLC" is an NSCLC
    trial, "Leukemia, Other" titled "Hairy Cell Leukemia Registry" is an HCL registry,
    "Cancer Gi" whose inclusion criteria say "a periampullary cancer" is a periampullary
    trial). A criterion that lists the specific type beside one that fits the patient
    ("ovarian carcinoma, fallopian tube carcinoma or primary peritoneal carcinoma") is a
    list of alternatives, not a narrowing, and so is a mention of a member of an
    inclusion group that fits the patient (the conditions' "fallopian tube cancer" beside
    the inclusion's "ovarian epithelial cancer"). Returns the narrowing mention and
    whether the broad mention is a tissue node or group (True: the trial is not for the
    patient) or a deeper class (False: possibly not).
    """
    lineage = set(p.lineage)
    group = set(best.fact.codes) if len(best.fact.codes) > 1 else set()
    broad = ({c for c in best.fact.codes if c in lineage} | group)
    if not broad:
        return None
    tissue_level = bool(group) or any(
        not anc for code, anc in zip(best.fact.codes, best.ancestors, strict=False)
        if code in broad)
    if any(p.code in q.fact.codes and len(q.fact.codes) <= 2
           and set(q.fact.codes) != set(best.fact.codes) for q, _ in scored):
        # another mention names the patient's own type ("colon cancer" in a colorectal
        # trial's conditions, beside "rectal cancer"): the trial is not narrowed away
        # from it
        return None
    fitting = {id(q.criterion) for q, lvl in scored if lvl >= SPECIFIC and q.criterion}
    # The codes of inclusion mentions that name the patient's class below the tissue
    # level (specificity ≥ 0.9): a type such a mention includes is one of its members
    # (the group "ovarian epithelial cancer" = OVT/HGSFT/PSEC includes "fallopian tube
    # cancer"), not narrower than it; "uveal melanoma" is not a member of the group
    # "melanoma" (it lies under ocular melanoma) and still narrows it.
    members = {c for q, lvl in scored
               if q.source == "inclusion" and lvl >= ANCESTOR and _match_level(q, p)[1] >= 0.9
               for c in q.fact.codes}
    for q, lvl in scored:
        if lvl != NONE or not q.fact.codes or q is best:
            continue
        if q.criterion is not None and id(q.criterion) in fitting:
            continue
        if best.source == "inclusion" and q.source == "inclusion":
            continue  # two criteria: other cohorts, not a shorthand
        if set(q.fact.codes) <= members:
            # the conditions' "fallopian tube cancer" of a trial whose inclusion names
            # "ovarian epithelial cancer": an alternative
            continue
        if any(code in broad or anc & broad
               for code, anc in zip(q.fact.codes, q.ancestors, strict=False)):
            return q, tissue_level
    return None


def _codes_heme(positive: Sequence[PreparedCancerFact], onto: Ontology) -> bool | None:
    kinds: set[bool] = set()
    for pf in positive:
        for code, anc in zip(pf.fact.codes, pf.ancestors, strict=False):
            tissue = {code, *anc}
            kinds.add(bool(tissue & {"LYMPH", "MYELOID"}))
    return kinds.pop() if len(kinds) == 1 else None


def _match_level(pf: PreparedCancerFact, p: PatientCancer) -> tuple[int, float, str]:
    """Best match level of one cancer fact for the patient, with a specificity in [0, 1]
    and the name of the matching trial code."""
    f = pf.fact
    best = (NONE, 0.0, "")
    lineage = p.lineage
    for code, anc, level, name in zip(f.codes, pf.ancestors, pf.levels, pf.names,
                                      strict=False):
        if code == p.code:
            if len(f.codes) == 1:
                return EXACT, 1.0, name
            # one member of a group ("leukemia", "melanoma", "ovarian cancer"): the
            # mention is the broad class, not the patient's type by name
            best = (ANCESTOR, 0.8, name)
            continue
        if code in lineage:
            if not p.malignant:
                continue  # an intermediate neoplasm is not its malignant parent class
            depth = len(lineage) - lineage.index(code)  # 1 = tissue node
            spec = 0.7 if depth <= 1 else 0.9
            if level <= 1:
                spec = 0.7
            if best[0] < ANCESTOR or spec > best[1]:
                best = (ANCESTOR, spec, name)
        elif p.code in anc and best[0] < SPECIFIC:
            best = (SPECIFIC, 0.5, name)
    if best[0] >= ANCESTOR:
        return best
    generic: tuple[int, float, str] | None = None
    if f.carcinoma_only:
        # "Carcinoma": a carcinoma fits, a non-epithelial cancer does not, and a cancer
        # the ontology names as neither ("Small Cell Lung Cancer") is an open question.
        if p.carcinoma is True:
            generic = (GENERIC, 0.4, "carcinomas")
        elif p.carcinoma is None:
            generic = (SPECIFIC, 0.3, "carcinomas")
    else:
        if f.any_malignancy:
            generic = (GENERIC, 0.4, "any malignancy") if p.malignant else (
                SPECIFIC, 0.3, "any malignancy")
        if f.any_solid_tumor and not p.hematologic:
            generic = (GENERIC, 0.4, "solid tumours") if p.malignant else (
                SPECIFIC, 0.3, "solid tumours")
    if f.any_hematologic and p.hematologic:
        generic = (GENERIC, 0.4, "haematologic malignancies")
    if generic and generic[0] > best[0]:
        return generic
    return best


def mention_fits(pf: PreparedCancerFact, p: PatientCancer) -> bool:
    """True if the mention accepts the patient's cancer (exactly, as an ancestor or
    group, or by generic wording)."""
    return _match_level(pf, p)[0] >= GENERIC


@dataclass(slots=True)
class CancerFit:
    """Trial-level cancer-type fit: status, specificity in [0, 1], and the deciding
    mention (text, span, or None for the trial's conditions list)."""

    status: CriterionStatus
    specificity: float
    reason: str
    text: str
    span: tuple[int, int]
    level: int = NONE
    question: str | None = None
    """What would settle an ``unknown`` fit (None: the default "cancer subtype?")."""


def cancer_fit(scope: TrialCancerScope, p: PatientCancer) -> CancerFit:
    """Judge the trial's cancer types against the patient's (see the module docstring).

    In order: a trial-wide exclusion of the patient's cancer → ``not_met``; no
    population evidence (:func:`_is_evidence`) → ``not_met``; the best-fitting mention
    narrowed by a more specific one (:func:`_narrowed`) → ``not_met`` (or ``unknown``
    below the tissue level); generic conditions narrowed by the inclusion criteria →
    ``not_met``; a fit only through a criterion while the conditions name other cancers
    → ``unknown``; then by the best match level: exact or ancestor → ``met``, generic
    wording → ``met`` (``unknown`` beside other named cancers, or when the generic
    wording belongs to one part and other parts name cancers), a more specific trial
    type → ``unknown``, none → ``not_met``.
    """
    pname = p.name
    for neg in scope.negative:
        f = neg.fact
        if any(code in p.lineage for code in f.codes):
            text = neg.criterion.text if neg.criterion else scope.condition_text
            span = neg.criterion.span if neg.criterion else (0, 0)
            return CancerFit(CriterionStatus.NOT_MET, 0.0,
                             f"Trial excludes {_quote(f.text)}; patient has {pname}.",
                             text, span)
    if not scope.positive:
        # Precision first: a trial naming no recognizable cancer type (most often a
        # non-oncology study) is not offered; the index never selects it either.
        return CancerFit(CriterionStatus.NOT_MET, 0.0,
                         "No cancer type recognized in the trial's conditions, title or "
                         f"criteria; not a trial for {pname}.",
                         f"Conditions: {scope.condition_text}", (0, 0), NONE)
    evidence = [pf for pf in scope.positive if _is_evidence(pf, scope)]
    if not evidence:
        words = ", ".join(dict.fromkeys(_quote(pf.fact.text, 40) for pf in scope.positive))
        return CancerFit(CriterionStatus.NOT_MET, 0.0,
                         f"Trial names cancer only as a bare word ({words}) beside "
                         f"non-cancer conditions or inside a criterion; it is not a study "
                         f"of a cancer population such as {pname}.",
                         f"Conditions: {scope.condition_text}", (0, 0), NONE)
    scored: list[tuple[PreparedCancerFact, int]] = []
    best: tuple[int, float, str, PreparedCancerFact | None] = (NONE, 0.0, "", None)
    cond_best = NONE
    for cand in evidence:
        lvl, sp, nm = _match_level(cand, p)
        scored.append((cand, lvl))
        if cand.source == "condition":
            cond_best = max(cond_best, lvl)
        if (lvl, sp) > (best[0], best[1]):
            best = (lvl, sp, nm, cand)
    level, spec, name, pf = best
    if (level == GENERIC and name == "any malignancy" and scope.codes_heme is not None
            and scope.codes_heme != p.hematologic):
        # "Lymphoid Malignancies": the generic word is qualified by the named cancers.
        level, spec = NONE, 0.0
    mention = pf.fact.text if pf else ""
    text = pf.criterion.text if (pf and pf.criterion) else (
        f"Conditions: {scope.condition_text}")
    span = pf.criterion.span if (pf and pf.criterion) else (0, 0)
    if level == ANCESTOR and pf is not None:
        narrowed = _narrowed(scope, p, scored, pf)
        if narrowed is not None:
            q, decisive = narrowed
            where = q.criterion.text if q.criterion else f"Conditions: {scope.condition_text}"
            qspan = q.criterion.span if q.criterion else (0, 0)
            reason = (f"Trial names {_quote(mention)} but its population is "
                      f"{_quote(q.fact.text)}, which is not the patient's {pname}.")
            if decisive:
                return CancerFit(CriterionStatus.NOT_MET, 0.0, reason, where, qspan, NONE)
            return CancerFit(CriterionStatus.UNKNOWN, 0.4, reason, where, qspan, SPECIFIC)
    if (level >= GENERIC and pf is not None and pf.source == "inclusion" and cond_best
            < SPECIFIC and ((scope.conditions_specific and not scope.conditions_generic) or (
                not scope.conditions_generic and not scope.conditions_specific
                and scope.condition_entries))):
        # Only a criterion mention fits while the conditions list names other cancers
        # (or none: "chronic heart failure"): one cohort among others or a stray mention
        # ("MBC-CML", a history of breast cancer in a cardiology study) — not a clear fit.
        return CancerFit(CriterionStatus.UNKNOWN, 0.3,
                         f"Trial's conditions name other cancer types; {pname} appears only "
                         f"in a criterion ({_quote(pf.fact.text)}).",
                         pf.criterion.text if pf.criterion else "", pf.criterion.span
                         if pf.criterion else (0, 0), SPECIFIC)
    if level >= ANCESTOR:
        how = "exactly" if level == EXACT else f"as {name}"
        return CancerFit(CriterionStatus.MET, spec,
                         f"Trial enrols {_quote(mention)}; patient's {pname} matches {how}.",
                         text, span, level)
    if level == GENERIC:
        narrowed_g = _generic_conditions_narrowed(scope, p)
        if narrowed_g is not None:
            return CancerFit(
                CriterionStatus.NOT_MET, 0.0,
                f"Trial's conditions are generic ({_quote(mention)}), but its inclusion "
                f"criteria enrol only {narrowed_g[0]}; patient has {pname}.",
                narrowed_g[1].text, narrowed_g[1].span, NONE)
        if scope.conditions_specific and not scope.conditions_generic and cond_best < SPECIFIC:
            return CancerFit(
                CriterionStatus.UNKNOWN, 0.3,
                f"Trial lists other cancer types in its conditions; {pname} fits only the "
                f"generic wording {_quote(mention)}.", text, span, level)
        generic_inc = [c for c, lvl in scored if lvl == GENERIC and c.source == "inclusion"]
        parts = [(c, _other_parts(c, evidence)) for c in generic_inc]
        if parts and all(others for _, others in parts):
            g, others = parts[0]
            crit = g.criterion
            assert crit is not None  # _other_parts is empty for a mention outside criteria
            named = ", ".join(dict.fromkeys(_quote(q.fact.text, 40) for q in others[:4]))
            return CancerFit(
                CriterionStatus.UNKNOWN, 0.3,
                f"{pname} fits only the generic part {_quote(crit.scope or '', 40)} "
                f"({_quote(g.fact.text)}); the trial's other parts are for {named}.",
                crit.text, crit.span, level,
                question=f"is the part {_quote(crit.scope or '', 40)} still enrolling?")
        return CancerFit(CriterionStatus.MET, spec,
                         f"Trial enrols {_quote(mention)}; {pname} is one.", text, span, level)
    if level == SPECIFIC:
        if not p.malignant:
            reason = (f"{pname} is an intermediate (non-metastasizing) neoplasm; whether it "
                      f"counts as {_quote(mention)} is a clinical judgement.")
        else:
            reason = f"Trial is for {name}; the patient's subtype of {pname} is not specified."
        return CancerFit(CriterionStatus.UNKNOWN, spec, reason, text, span, level)
    names = sorted({n for pf2 in evidence for n in pf2.names})[:6]
    generic = [g for g in ("solid tumours" if any(pf2.fact.any_solid_tumor
                                                   for pf2 in evidence) else "",)
               if g]
    listed = ", ".join(names + generic) or "other cancers"
    reason = f"Trial is for {listed}; patient has {pname}."
    if not p.malignant and any(code in p.lineage for pf2 in evidence
                               for code in pf2.fact.codes):
        reason = (f"Trial is for malignant {listed}; {pname} is an intermediate "
                  "(non-metastasizing) neoplasm, not a malignant tumour of that class.")
    return CancerFit(CriterionStatus.NOT_MET, 0.0, reason, text, span, NONE)


def _other_parts(pf: PreparedCancerFact,
                 evidence: Sequence[PreparedCancerFact]) -> list[PreparedCancerFact]:
    """Specific cancers named by inclusion criteria of *other* parts of the trial than
    the part whose generic wording ``pf`` is ("Phase Ib: … solid tumor" beside "Phase II:
    … HER2 negative breast cancer"; "Part 1: … solid tumor" beside "Part 2:
    … breast cancer"): the patient fits only the generic part, often a
    dose-escalation part with a few places, so the fit is a question, not a match."""
    own = pf.criterion.scope_key if pf.criterion is not None else None
    if pf.source != "inclusion" or not own:
        return []
    return [q for q in evidence
            if q.source == "inclusion" and q.criterion is not None and q.fact.codes
            and q.criterion.scope_key and q.criterion.scope_key != own
            and not (q.fact.any_solid_tumor or q.fact.any_malignancy
                     or q.fact.any_hematologic)]


def _qualifier_read(crit: ParsedCriterion, f: CancerTypeFact) -> bool:
    """True if the criterion holds a histology/biomarker/stage fact that qualifies the
    excluded cancer (evaluated with it), so the cancer part itself may be True."""
    return any(g.category in ("histology", "biomarker", "stage") for g in crit.facts)


def criterion_cancer_value(
    crit: ParsedCriterion, facts: Sequence[PreparedCancerFact], p: PatientCancer
) -> tuple[Tri, float, str]:
    """The cancer-type part of one criterion: True if any of its mentions accepts the
    patient (exclusion: the patient is within a mention), with the best specificity."""
    vals: list[Tri] = []
    spec = 0.0
    desc = p.name
    for pf in facts:
        present = pf.source == "inclusion"
        if present:
            level, s, _ = _match_level(pf, p)
            v: Tri = True if level >= GENERIC else (None if level == SPECIFIC else False)
            spec = max(spec, s)
        else:
            f = pf.fact
            if any(code in p.lineage for code in f.codes):
                # a qualified exclusion ("AML with t(15;17)", "squamous NSCLC") holds
                # for the patient only if the qualifier does, which its own facts (if
                # any were read) or a question settle
                v = None if f.qualified and not _qualifier_read(crit, f) else True
            elif any(p.code in anc for anc in pf.ancestors):
                v = None
            elif (f.any_solid_tumor and not p.hematologic) or (
                    f.any_hematologic and p.hematologic) or f.any_malignancy:
                v = True if crit.kind is CriterionKind.INCLUSION else None
            else:
                v = False
            v = not_(v)  # the negative mention holds for the patient iff not within it
        vals.append(v)
    return or_(vals), spec, desc



@dataclass(frozen=True, slots=True)
class TrialCancerScope:
    """A trial's cancer types, prepared at index time: the mentions that enrol
    (``positive``: conditions, title and inclusion facts) and those that exclude
    trial-wide (``negative``), with what the conditions list says.

    ``codes_heme`` is True if every specific cancer code the trial enrols is
    haematologic, False if every one is solid, None if mixed or none (a generic word
    beside them, "Relapsed/Refractory Lymphoid Malignancies", does not open the trial to
    the other kind). ``condition_text`` is the conditions-and-title text
    (:attr:`matchers.models.ParsedTrial.condition_text`), ``condition_entries`` the
    conditions list.
    """

    positive: tuple[PreparedCancerFact, ...]
    negative: tuple[PreparedCancerFact, ...]
    conditions_generic: bool
    conditions_specific: bool
    conditions_non_cancer: bool
    codes_heme: bool | None
    condition_text: str
    condition_entries: tuple[str, ...]


def prepare_cancer_scope(
    conditions: Iterable[Fact],
    criteria: Iterable[ParsedCriterion],
    *,
    conditions_non_cancer: bool,
    condition_text: str,
    condition_entries: Sequence[str],
    ontology: Ontology,
) -> tuple[TrialCancerScope, dict[int, tuple[PreparedCancerFact, ...]]]:
    """The trial's :class:`TrialCancerScope` and, per criterion index, its prepared
    cancer facts. A cancer type named in an exclusion excludes trial-wide only when it
    stands alone ("Diagnosis of GIST or Kaposi sarcoma") and is not the very cancer the
    trial enrols ("Predominantly squamous cell histology NSCLC" in an NSCLC trial
    narrows by histology; it does not exclude NSCLC)."""
    positive: list[PreparedCancerFact] = []
    negative: list[PreparedCancerFact] = []
    cond_generic = False
    cond_specific = False
    for f in conditions:
        if isinstance(f, CancerTypeFact):
            pf = _prepare_cancer(f, "condition", None, ontology)
            if f.negated:
                negative.append(pf)
            else:
                positive.append(pf)
                cond_generic |= f.any_solid_tumor or f.any_malignancy or f.any_hematologic
                cond_specific |= bool(f.codes)
    per_criterion: dict[int, tuple[PreparedCancerFact, ...]] = {}
    excl: list[PreparedCancerFact] = []
    for c in criteria:
        mine: list[PreparedCancerFact] = []
        for f in c.facts:
            if not isinstance(f, CancerTypeFact):
                continue
            present = (c.kind is CriterionKind.INCLUSION) != f.negated
            pf = _prepare_cancer(f, "inclusion" if present else "exclusion", c, ontology)
            mine.append(pf)
            (positive if present else excl).append(pf)
        if mine:
            per_criterion[c.index] = tuple(mine)
    enrolled_anc = {code for pf in positive for code in pf.fact.codes}
    for pf in positive:
        for anc in pf.ancestors:
            enrolled_anc |= anc
    for pf in excl:
        if pf.fact.negated and pf.criterion is not None \
                and pf.criterion.kind is CriterionKind.INCLUSION:
            negative.append(pf)  # "other than …" in an inclusion: always trial-wide
            continue
        if pf.fact.qualified or any(code in enrolled_anc for code in pf.fact.codes):
            continue
        negative.append(pf)
    scope = TrialCancerScope(
        positive=tuple(positive),
        negative=tuple(negative),
        conditions_generic=cond_generic,
        conditions_specific=cond_specific,
        conditions_non_cancer=conditions_non_cancer,
        codes_heme=_codes_heme(positive, ontology),
        condition_text=condition_text,
        condition_entries=tuple(condition_entries),
    )
    return scope, per_criterion


CATEGORY = Category(
    name="cancer_type",
    fact_type=CancerTypeFact,
    extract=_extract,
    compare=None,  # judged trial-wide: cancer_fit, criterion_cancer_value
    patient_part="cancer",
    reader=read_cancer,
    key=True,
    priority=0,
    rules_file="cancer_type.toml",
    cases_file="cancer_type.toml",
    module=__name__,
)

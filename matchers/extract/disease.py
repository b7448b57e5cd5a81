"""Disease facts: cancer type, histology, stage/extent, comorbid conditions.

* :func:`extract_cancer_types` — ontology ``CANCER`` terms (OncoTree codes) and the
  generic phrases of ``matchers/rules/cancer.toml`` ("solid tumours" →
  ``any_solid_tumor``, "haematologic malignancies" → ``any_hematologic``, "advanced
  malignancy" → ``any_malignancy``). Mentions preceded by "non-" are not read
  ("non-small cell" is not "small cell"); a cancer named as *another* malignancy
  ("history of other malignancy … except basal cell carcinoma") is left to the
  ``other_malignancy`` condition.
* :func:`extract_histology` — ontology ``HISTOLOGY`` terms (term ids).
* :func:`extract_stage` — AJCC stage expressions ("stage IIIB-IV", "stage III or IV",
  "stage IIIB/IV", "stage 4") expanded by :func:`ontologies.stage.parse_stage`, and
  extent words of ``matchers/rules/extents.toml`` ("metastatic", "unresectable",
  "locally advanced", "recurrent", …). Ambiguous words ("advanced", "recurrent",
  "refractory", "localized") count only next to a cancer word ("advanced solid
  tumours", "recurrent disease"), never for other organs ("advanced liver disease").
  "Brain metastases" is not an extent (see :mod:`matchers.extract.brain`).
* :func:`extract_conditions` — ontology ``CONDITION`` terms (HIV, hepatitis B/C,
  ILD, autoimmune disease, pregnancy, …) and "other malignancy" phrases; tests are not
  conditions ("HIV test"), except "negative pregnancy test" → pregnancy, negated.
"""

from __future__ import annotations

import re
import typing
from dataclasses import dataclass

from matchers.extract.common import CriterionText, compiled_per_rules, conditional_subject, polarity
from matchers.models import (
    CancerTypeFact,
    ConditionFact,
    DiseaseExtent,
    HistologyFact,
    OncoTreeCode,
    StageFact,
)
from matchers.pipeline import Term
from matchers.rules import CancerRules, ExtentRules, Rules

__all__ = [
    "extract_cancer_types",
    "extract_conditions",
    "extract_histology",
    "extract_stage",
    "parse_stage_text",
]

# The shared model's OncoTree code pattern (some real codes, e.g. "MDS/MPN", fail it).
# Cheap gates (substring-level) that let most criteria skip the larger patterns; they
# are supersets of what the patterns below can match.
_CANCER_GATE = re.compile(r"cancer|malignan|tumou?r|neoplas|carcinom|solid|hema|haema|blood")
_EXTENT_GATE = re.compile(
    r"stage|metasta|m1|resect|operab|incurable|advanced|recurr|relaps|refractory|early|locali|"
    r"confined|dissemin|amenable|candidate"
)
_ONCOTREE_CODE = re.compile(typing.get_args(OncoTreeCode)[1].pattern)
_NON_BEFORE = re.compile(r"non[\s-]*$", re.I)
_OTHER_CTX = re.compile(
    r"\b(?:other|another|second|secondary|prior|previous|history\s+of|concurrent|additional|"
    r"synchronous|metachronous|past)\b[^.;]{0,40}$",
    re.I,
)


def _keep_terms(c: CriterionText, labels: tuple[str, ...]) -> list[Term]:
    terms = c.terms_of(*labels)
    out: list[Term] = []
    for t in terms:
        if any(
            o is not t
            and o.label in labels
            and o.start <= t.start
            and t.end <= o.end
            and (o.end - o.start) > (t.end - t.start)
            for o in terms
        ):
            continue
        if _NON_BEFORE.search(c.norm[max(c.start, t.start - 5) : t.start]) and not c.lower[
            t.start : t.end
        ].startswith("non"):
            continue
        if out and (out[-1].start, out[-1].end) == (t.start, t.end):
            continue
        out.append(t)
    return out


_EXCLUSION_MALIGNANCY_CUE = (
    r"\b(?:any|active|diagnos\w*|known|history|suspected|concurrent|current|invasive|"
    r"prior|previous|other|second|malignant)\b"
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


def _direct_negation(c: CriterionText, s: int) -> bool:
    """True if the negation cue governing a mention at ``s`` is close and no therapy
    term lies between ("no history of breast cancer"), as opposed to a cancer named as
    the setting of something negated ("no prior chemotherapy for NSCLC")."""
    sc = c.in_scope(s, s + 1, "NEGATED_EXISTENCE")
    if sc is None:
        return c.in_scope(s, s + 1, "EXCLUDED") is not None
    between = c.norm[sc.cue_end : s]
    if len(between) > 60:
        return False
    if any(sc.cue_end <= t.start < s for t in c.terms_of("THERAPY_CLASS", "DRUG")):
        return False
    return not re.search(
        r"\b(?:for|to\s+treat|treatment\s+of|therapy|treatment|eligible|trials?)\b", between, re.I
    )


def _keep(c: CriterionText, s: int, e: int) -> tuple[bool, bool, str | None]:
    pol = polarity(c, s, e)
    if pol.drop or pol.permitted or conditional_subject(c, s, e):
        return False, False, None
    return True, pol.negated, pol.exception


# --------------------------------------------------------------------------------------
# cancer types
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CancerRx:
    solid: re.Pattern[str]
    malignancy: re.Pattern[str]
    hematologic: re.Pattern[str]
    other: re.Pattern[str]
    neighbours: frozenset[str]


@compiled_per_rules
def _cancer_rx(rules: CancerRules) -> _CancerRx:
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
    ``cancer.toml``'s ``generic_neighbours`` ("histologically confirmed cancer",
    "diagnosis of a malignancy") or a stage numeral ("stage IV cancer"). Any other word
    names a site or type the ontology did not resolve ("a periampullary cancer", "GI
    cancer"); reading it as *any* cancer would offer the trial to every patient."""
    m = re.search(r"([\w/+-]+)\W*$", before)
    if m is None:
        return True
    word = m.group(1).lower()
    return word in neighbours or _STAGE_NUMERAL.fullmatch(word) is not None


_NOT_DISEASE_AFTER = re.compile(
    r"[\s-]*(?:therapy|therapies|treatment|treatments|center|centre|institute|care|related|"
    r"directed|antigen|pain|screening|survivors?|registry|staging|surgery|drugs?|agents?|cells?|"
    r"specific|free|predisposition|syndrome|stage\b|grade\b|size\b|burden\b|board\b)",
    re.I,
)


def extract_cancer_types(c: CriterionText, rules: Rules) -> list[CancerTypeFact]:
    """Cancer-type facts of criterion ``c`` (see the module docstring)."""
    rx = _cancer_rx(rules.cancer)
    facts: list[CancerTypeFact] = []
    if not c.terms_of("CANCER") and not _CANCER_GATE.search(c.body_lower):
        return facts  # fast path: no cancer term and no generic cancer word
    other_spans = [(c.start + m.start(), c.start + m.end()) for m in rx.other.finditer(c.body)]
    terms = _keep_terms(c, ("CANCER",))
    for t in terms:
        if any(s <= t.start and t.end <= e for s, e in other_spans):
            continue
        codes = tuple(code for code in t.codes if _ONCOTREE_CODE.fullmatch(code))
        if not codes:
            continue  # e.g. "MDS/MPN": an OncoTree code the shared model cannot hold
        if (
            _OTHER_CTX.search(c.norm[max(c.start, t.start - 50) : t.start])
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
        keep, neg, exc = _keep(c, t.start, t.end)
        if not keep or (neg and not _direct_negation(c, t.start)):
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
            if _NOT_DISEASE_AFTER.match(c.body, m.end()):
                continue
            if kind == "any" and c.kind.value == "exclusion":
                continue  # a malignancy in an exclusion is another one (see conditions)
            if kind == "any":
                before = c.norm[max(c.start, s - 45) : s]
                if not _GENERIC_QUAL.search(before) or _OTHER_CTX.search(before):
                    continue
                if not _generic_neighbour(before, rx.neighbours):
                    continue  # "a periampullary cancer", "skin cancer": a site, not "any"
            keep, neg, exc = _keep(c, s, e)
            if not keep or (neg and not _direct_negation(c, s)):
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


# --------------------------------------------------------------------------------------
# histology
# --------------------------------------------------------------------------------------


def extract_histology(c: CriterionText, rules: Rules) -> list[HistologyFact]:
    """Histology facts of criterion ``c``: one per ontology histology mention."""
    facts: list[HistologyFact] = []
    for t in _keep_terms(c, ("HISTOLOGY",)):
        if (
            _OTHER_CTX.search(c.norm[max(c.start, t.start - 50) : t.start])
            and c.kind.value == "exclusion"
        ):
            continue
        keep, neg, exc = _keep(c, t.start, t.end)
        if not keep or (neg and not _direct_negation(c, t.start)):
            continue
        facts.append(
            HistologyFact(
                span=(t.start, t.end),
                text=c.text[t.start : t.end],
                negated=neg,
                exception=exc,
                terms=t.codes,
            )
        )
    return facts


# --------------------------------------------------------------------------------------
# stage and extent
# --------------------------------------------------------------------------------------

_ROMAN = r"(?:IV|I{1,3}|0)[ABCD]?[12]?"
_STAGE_RX = re.compile(
    rf"""\b(?:AJCC\s+(?:\d+(?:th|st|nd|rd)\s+edition\s+)?|clinical\s+|pathologic(?:al)?\s+|FIGO\s+|TNM\s+)?
    stages?\s*(?:group\s*)?:?\s*
    (?P<expr>{_ROMAN}(?:\s*(?:-|–|to|through|or|and|/|,|,\s*or|,\s*and|and/or)\s*(?:stage\s*)?{_ROMAN})*
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

    e = expr.strip()
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
        keep, neg, exc = _keep(c, s, e)
        if not keep or _therapy_setting(c, s, e) or (neg and not _direct_negation(c, s)):
            continue
        facts.append(
            StageFact(span=(s, e), text=c.text[s:e], negated=neg, exception=exc, stages=stages)
        )
    rx = _extent_rx(rules.extents)
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
        keep, neg, exc = _keep(c, s, e)
        if not keep or _therapy_setting(c, s, e) or (neg and not _direct_negation(c, s)):
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


# --------------------------------------------------------------------------------------
# conditions
# --------------------------------------------------------------------------------------

_TEST_AFTER = re.compile(
    r"[\s-]*(?:tests?|testing|screen\w*|serolog\w*|status|antibod\w*|vaccin\w*|rna|dna|viral\s+loads?|"
    r"pcr|measurements?|levels?|titers?|titres?|counts?|results?|genotyp\w*|prophylaxis)\b",
    re.I,
)
_NEG_TEST = re.compile(r"\bnegative\s+(?:serum\s+|urine\s+|blood\s+)?(?:\w+\s+)?$", re.I)
_POS_TEST = re.compile(r"\bpositive\s+(?:serum\s+|blood\s+)?$|\bknown\s+", re.I)
_AVOID = re.compile(
    r"\b(?:avoid|prevent\w*|prevention\s+of|risk\s+of|potential|plans?\s+to|planning|intend\w*|attempting)\b[^.;]{0,25}$",
    re.I,
)


def extract_conditions(c: CriterionText, rules: Rules) -> list[ConditionFact]:
    """Condition facts of criterion ``c`` (see the module docstring)."""
    facts: list[ConditionFact] = []
    if not c.terms_of("CONDITION") and not _CANCER_GATE.search(c.body_lower):
        return facts  # fast path
    rx = _cancer_rx(rules.cancer)
    for t in _keep_terms(c, ("CONDITION",)):
        before = c.norm[max(c.start, t.start - 40) : t.start]
        neg_test = False
        if _TEST_AFTER.match(c.norm, t.end):
            if _NEG_TEST.search(before) and t.codes[0] == "pregnancy":
                neg_test = True
            elif not _POS_TEST.search(before):
                continue
        if _AVOID.search(before):
            continue
        keep, neg, exc = _keep(c, t.start, t.end)
        if not keep:
            continue
        if neg_test:
            neg = not neg
        facts.append(
            ConditionFact(
                span=(t.start, t.end),
                text=c.text[t.start : t.end],
                negated=neg,
                exception=exc,
                condition=t.codes[0],
            )
        )
    if not any(f.condition == "other_malignancy" for f in facts):
        found = list(rx.other.finditer(c.body))
        if c.kind.value == "exclusion":
            # in an exclusion, "any malignancy", "diagnosis of malignant disease" is
            # another malignancy than the trial's (as a cancer-type fact it would
            # exclude every patient)
            for m in rx.malignancy.finditer(c.body):
                ms, me = c.start + m.start(), c.start + m.end()
                if any(ms < t.end and t.start < me for t in c.terms_of("CANCER")):
                    continue
                if re.search(
                    _EXCLUSION_MALIGNANCY_CUE, c.body[max(0, m.start() - 40) : m.start()], re.I
                ):
                    found.append(m)
        for m in sorted(found, key=lambda x: x.start()):
            s, e = c.start + m.start(), c.start + m.end()
            if _NOT_DISEASE_AFTER.match(c.body, m.end()):
                continue  # "prior cancer therapy"
            keep, neg, exc = _keep(c, s, e)
            if not keep:
                continue
            facts.append(
                ConditionFact(
                    span=(s, e),
                    text=c.text[s:e],
                    negated=neg,
                    exception=exc,
                    condition="other_malignancy",
                )
            )
            break
    return facts

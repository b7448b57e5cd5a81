"""Clinic note → :class:`~matchers.patient.PatientProfile` draft, with evidence.

>>> nlp = add_note_cues(build_nlp(ontology))            # doctest: +SKIP
>>> extractor = NoteExtractor(nlp, ontology)             # doctest: +SKIP
>>> result = extractor.extract(note, today=date.today())  # doctest: +SKIP

The note goes through the eligibility parser's own components
(:func:`matchers.notes.document.read_note`): the spaCy pipeline of
:func:`matchers.pipeline.build_nlp` finds the ontology terms (cancer types, histology,
biomarkers and variants, drugs and therapy classes, comorbidities) and ConText marks
negated, historical, family and planned mentions; the ``matchers.criteria`` extractors
read stage (:func:`~matchers.criteria.stage.extract_stage`), performance status
(:func:`~matchers.criteria.performance_status.extract_performance`), cancer types and
histology, brain metastases, labs, measurable disease and comorbid conditions from each
sentence. What a note states differently from a criterion is read here, field by field:

* ``cancer_type`` — the OncoTree code most mentions agree on: each current (not
  negated, historical, family or planned) cancer mention, the noun phrase around it
  resolved whole ("adenocarcinoma of the sigmoid colon" → COAD), and the OncoTree codes
  the ontology ties to each histology term are votes; the code at or below the most
  votes wins, the broader one on a tie. Historical cancers go to ``conditions``
  ("history of breast cancer") unless no current one is named;
* ``stage`` — the AJCC group stated ("stage IVB"), else ``IV`` from an ``M1`` TNM
  category, else extent words ("metastatic", "recurrent");
* ``biomarkers`` — each biomarker/variant term with the result written after it (or,
  for a list "KRAS, NRAS and BRAF wild-type", after the list): ``positive (90%)``,
  ``2+``, ``not amplified``, ``exon 19 deletion``, ``V600E``, ``wild-type``,
  ``negative``; the key says the assay where it matters (``HER2_IHC``, ``HER2_ISH``,
  ``PD-L1_TPS``, ``PD-L1_CPS``) and a ``g`` prefix marks a germline result; "not
  tested" / "pending" leave the marker unknown;
* ``prior_therapies`` — drug and therapy-class terms and surgery / radiotherapy words,
  not negated and not planned, grouped per clause into regimens ("letrozole +
  palbociclib"); ``line`` from "first line" / "2L", a maintenance, adjuvant or
  concurrent regimen staying on the previous line; ``progressed`` from progression words
  in the clause; month dates from "(April 2021 - June 2023)". "No anticancer treatment
  of any kind" / "treatment-naive" with no therapy found → ``[]``; otherwise absent
  stays unknown;
* ``brain_metastases`` — ``none`` from a negated mention or a negative brain MRI/CT,
  ``treated_stable`` when the mention's sentence or the next says radiosurgery / treated
  / stable, else ``active``;
* ``age``, ``sex``, ``menopausal_status``, ``pregnant``, ``measurable_disease``,
  ``resectable``, ``metastasis_sites``, ``diagnosis_date``, ``labs`` (values stated with
  a unit), ``conditions`` (comorbidity terms, negated ones as "no …").

Nothing here reads the clock: relative dates need ``today``.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from spacy.language import Language

from matchers.criteria.brain_metastases import extract_brain_metastases
from matchers.criteria.cancer_type import extract_cancer_types
from matchers.criteria.comorbidity import extract_conditions
from matchers.criteria.histology import extract_histology
from matchers.criteria.labs import extract_labs
from matchers.criteria.measurable_disease import extract_measurable
from matchers.criteria.performance_status import extract_performance
from matchers.criteria.stage import extract_stage
from matchers.models import (
    BrainMetastasesFact,
    CancerTypeFact,
    ConditionFact,
    HistologyFact,
    LabFact,
    MeasurableDiseaseFact,
    PerformanceStatusFact,
    StageFact,
)
from matchers.notes.document import NoteDocument, read_note
from matchers.notes.models import (
    EXPLICIT,
    INFERRED,
    PROFILE_FIELDS,
    TERM,
    WEAK,
    Evidence,
    Ignored,
    NoteExtraction,
)
from matchers.patient import PatientProfile
from matchers.rules import Rules, load_rules

if TYPE_CHECKING:
    from ontologies import Ontology
    from ontologies.therapies import TherapyVocab

MAX_NOTE_CHARS = 20_000
"""Longest note :meth:`NoteExtractor.extract` reads (characters); the rest is ignored."""

# --------------------------------------------------------------------------------------
# Grammar
# --------------------------------------------------------------------------------------

_MONTHS = {m.lower(): i for i, m in enumerate(calendar.month_name) if m}
_MONTHS |= {m.lower(): i for i, m in enumerate(calendar.month_abbr) if m}
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?" \
         r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = (rf"(?:(?:\d{{1,2}}\s+)?{_MONTH}\.?\s+\d{{4}}|\d{{4}}-\d{{2}}(?:-\d{{2}})?"
         rf"|{_MONTH}\s+\d{{4}})")
_RANGE = re.compile(
    rf"(?P<a>{_DATE}|{_MONTH})\s*(?:-|–|to|through|until)\s*(?P<b>{_DATE}|present|now|ongoing)",
    re.I)
_SINCE = re.compile(rf"\b(?:since|from|started(?:\s+on)?|beginning)\s+(?P<a>{_DATE})", re.I)
_AGE = re.compile(
    r"\b(?P<n>\d{1,3})\s*(?:-|\s)?\s*(?:year|yr)s?\s*(?:-|\s)?\s*old\b"
    r"|\b(?P<m>\d{1,3})\s*(?:yo|y/o|y\.o\.|yrs?)\b"
    r"|\b(?:aged?|age of)\s+(?P<k>\d{1,3})\b"
    r"|(?<![\w.])(?P<j>\d{1,3})\s?(?-i:[MF])\b", re.I | re.M)
_FEMALE = re.compile(r"\b(?:woman|women|female|lady|girl|she|her|mrs|ms)\b", re.I)
_MALE = re.compile(r"\b(?:man|men|male|gentleman|boy|he|his|him|mr)\b", re.I)
_SEX_AT = re.compile(r"(?<![\w.])\d{1,3}\s?(?P<s>(?-i:[MF]))\b"
                     r"|\b\d{1,3}[- ]?(?:year|yr)s?[- ]?old\s+(?:\w+\s+){0,3}?"
                     r"(?P<w>woman|female|lady|girl|man|male|gentleman|boy)\b",
                     re.I | re.M)
_MENO = re.compile(r"\b(pre|peri|post)[- ]?menopausal\b", re.I)
_NOT_PREGNANT = re.compile(r"\bnot\s+pregnant\b|\bpregnancy\s+test\s+(?:was\s+)?negative\b"
                           r"|\bnegative\s+pregnancy\s+test\b", re.I)
_PREGNANT = re.compile(r"\b(?:is|currently)\s+pregnant\b|\bpregnant\s+at\b"
                       r"|\b\d+\s+weeks?\s+pregnant\b", re.I)
_M1 = re.compile(r"\b[cpy]{0,2}T[0-4xX][a-d]?\s*N[0-3xX][a-c]?\s*M1[a-d]?\b|\bM1[a-d]?\b")
_STAGE_WORDS = re.compile(r"\b(metastatic|recurrent|locally advanced|unresectable)\b", re.I)
_UNRESECTABLE = re.compile(
    r"\b(?:unresectable|not\s+resectable|inoperable|not\s+(?:a\s+)?(?:surgical\s+)?candidate"
    r"\s+for\s+(?:re-?)?(?:resection|surgery)|not\s+amenable\s+to\s+(?:surgery|resection))\b",
    re.I)
_RESECTABLE = re.compile(r"\b(?:technically\s+)?resectable\b", re.I)
_MEASURABLE = re.compile(r"\bmeasurable\b|\bRECIST[- ]measurable\b", re.I)
_NOT_MEASURABLE = re.compile(r"\b(?:non-?measurable|no\s+measurable|not\s+measurable)\b", re.I)
_DIAGNOSED = re.compile(rf"\bdiagnosed\s+(?:in|on|at)?\s*(?P<d>{_DATE}|\d{{4}})\b", re.I)
_NAIVE = re.compile(
    r"\b(?:treatment[- ]na[iï]ve|therapy[- ]na[iï]ve|chemo(?:therapy)?[- ]na[iï]ve|untreated"
    r"|(?:has\s+)?received\s+no\s+(?:prior\s+)?(?:anti-?cancer|oncologic|systemic|cancer)\s+"
    r"(?:treatment|therapy)|no\s+(?:prior\s+)?(?:anti-?cancer|oncologic|systemic)\s+"
    r"(?:treatment|therapy)\s+(?:of\s+any\s+kind|to\s+date|so\s+far)?)\b", re.I)
_LINE = re.compile(r"\b(?P<n>first|1st|second|2nd|third|3rd|fourth|4th|fifth|5th)[- ]line\b"
                   r"|\b(?P<k>[1-5])L\b", re.I)
_LINE_NUMBER = {"first": 1, "1st": 1, "second": 2, "2nd": 2, "third": 3, "3rd": 3,
                "fourth": 4, "4th": 4, "fifth": 5, "5th": 5}
_ADVANCED_BEFORE = re.compile(r"\b(?:metastatic|metastases|recurrence|recurrent|relapsed?"
                              r"|progression|stage\s+IV|unresectable)\b", re.I)
_SAME_LINE = re.compile(r"\b(?:maintenance|adjuvant|concurrent|concomitant|consolidation)\b",
                        re.I)
_SETTING = re.compile(r"\b(neoadjuvant|adjuvant|maintenance|metastatic|perioperative"
                      r"|first[- ]line|second[- ]line|third[- ]line)\b", re.I)
_PROGRESSED = re.compile(r"\b(?:progress(?:ion|ed|ing|ive\s+disease)|refractory|relapsed?\s+on"
                         r"|recurrence\s+on|failed)\b", re.I)
_PROGRESSED_ON = re.compile(r"\b(?:progress(?:ing|ed|ion)\s+(?:on|after|through|despite)"
                            r"|refractory\s+to|relapsed?\s+(?:on|after)|failed)\s+"
                            r"(?:(?:first|second|third|1st|2nd|3rd)[- ]line\s+)?(?:\w+\s+)?$", re.I)
_NO_PROGRESSION = re.compile(r"\b(?:no|without)\s+(?:\w+\s+){0,2}progression\b", re.I)
_SURGERY = re.compile(
    r"\b(?:[a-z]+ectomy|resection|resected|excision|excised|debulking(?:\s+surgery)?"
    r"|turbt|surgery|surgical\s+resection|pleurectomy(?:/decortication)?|mastectomy"
    r"|lumpectomy|whipple)\b", re.I)
_RADIO = re.compile(
    r"\b(?:radiotherapy|radiation(?:\s+therapy)?|chemoradiation|chemoradiotherapy"
    r"|stereotactic\s+radiosurgery|radiosurgery|srs|sbrt|wbrt|whole[- ]brain\s+radiation"
    r"|\d+(?:\.\d+)?\s*gy)\b", re.I)
_NOT_THERAPY = re.compile(r"\b(?:biopsy|biopsies|ectomy\s+specimen|specimen)\b", re.I)
_NEG_BEFORE = re.compile(r"\b(?:no|not|never|without|denies|denied|nor|neither|none|free\s+of"
                         r"|negative\s+for|no\s+prior|no\s+other)\b[^.;,()]{0,40}$", re.I)
_BRAIN = re.compile(r"\b(?:brain|cerebral|cerebellar|intracranial|cns|frontal|parietal"
                    r"|temporal|occipital)\s+(?:\w+\s+){0,2}?(?:metastas[ie]s|mets?|lesions?"
                    r"|metastatic\s+disease)\b", re.I)
_BRAIN_NEGATIVE = re.compile(
    r"\b(?:brain|head)\s+(?:mri|ct|imaging|scan)s?\s+(?:\w+\s+){0,3}?"
    r"(?:negative|normal|unremarkable|(?:showed\s+)?no\s+(?:evidence\s+of\s+)?(?:metasta|lesion))"
    r"|\bno\s+(?:evidence\s+of\s+)?(?:brain|cns|intracranial)\s+(?:metastas|mets|disease|lesion)",
    re.I)
_BRAIN_TREATED = re.compile(r"\b(?:radiosurgery|srs|gamma\s+knife|wbrt|whole[- ]brain|"
                            r"resected|treated|stable|craniotomy)\b", re.I)
_SITES = (
    ("bone", r"bone|osseous|skeletal"), ("liver", r"liver|hepatic"),
    ("lung", r"lung|pulmonary"), ("brain", r"brain|cerebral|intracranial"),
    ("lymph node", r"lymph[- ]node|nodal|lymphatic"), ("peritoneum", r"peritone\w*"),
    ("adrenal", r"adrenal"), ("pleura", r"pleura\w*"), ("skin", r"skin|cutaneous"),
    ("soft tissue", r"soft[- ]tissue"),
)
_SITE_RE = [(name, re.compile(
    rf"\b(?:{pat})\s+(?:and\s+\w+\s+)?(?:metastas[ie]s|mets|lesions|metastatic\s+disease)\b"
    rf"|\bmetastas[ie]s\s+(?:to|in)\s+(?:the\s+)?(?:\w+\s+(?:and|,)\s+)?(?:{pat})\b"
    rf"|\b(?:{pat})(?:,|\s+and)\s+(?:\w+\s+){{0,2}}?metastas[ie]s\b", re.I))
    for name, pat in _SITES]
_NOT_A_RESULT = re.compile(
    r"^[\s-]*(?:inhibitors?|antibod(?:y|ies)|blockers?|tkis?|targeted|directed|-?based"
    r"|antagonists?|agents?|therapy|vaccine|car[- ]?t)\b", re.I)
_INELIGIBLE = re.compile(r"^\s*-?\s*(?:ineligible|unfit|intolerant|na[iï]ve|free)\b", re.I)
_ECOG = re.compile(r"\b(?:ecog|zubrod|who)(?:\s+(?:performance\s+status|ps))?\s*(?:of|score|=|:)?"
                   r"\s*(?P<v>[0-4])(?!\s*[-–]\s*\d)\b", re.I)
_KPS = re.compile(r"\b(?:karnofsky(?:\s+performance\s+(?:status|score))?|kps)\s*(?:of|score|=|:)?"
                  r"\s*(?P<v>\d{2,3})\s*%?", re.I)
_STAGE_LABEL = re.compile(r"\b[Ss]tage\s+(?P<s>IV|I{1,3}|0)(?P<l>[ABCabc])?\d?(?![A-Za-z])")
_FIGO = re.compile(r"\bFIGO\s+(?:stage\s+)?(?P<s>IV|I{1,3})(?P<l>[ABC])?\d?\b")
_MSI_VALUE = (("MSS", re.compile(r"\bmss\b|microsatellite[- ]stable", re.I)),
              ("MSI-H", re.compile(r"msi[- ]?h(?:igh)?\b|instability[- ]?high|unstable", re.I)),
              ("MSI-L", re.compile(r"msi[- ]?l(?:ow)?\b", re.I)))
_GERMLINE = re.compile(r"\bgermline\b|\bg(?=BRCA)", re.I)
_SOMATIC_NGS = re.compile(r"\b(?:tumou?r|tissue|somatic)\b", re.I)
_UNKNOWN_VALUE = re.compile(r"^\W*(?:not\s+(?:tested|done|assessed|performed|available|known)"
                            r"|pending|unknown|equivocal|indeterminate)\b", re.I)
_MARKER_SEP = re.compile(r"^\s*(?:,|and|/|or|&)\s*$", re.I)
_VALUE = re.compile(
    r"^(?:/[A-Z0-9]{1,2}\b)?(?:[\s:=(]|-(?=[A-Za-z+]))*(?P<v>"
    r"(?:IHC\s*)?[0-3]\s*\+(?:\s*\(?\s*(?:by\s+)?IHC\)?)?"
    r"|(?:TPS|CPS|TC|IC)\s*(?:of\s+)?(?:<|>|≥|≤|>=|<=)?\s*\d+(?:\.\d+)?\s*%?"
    r"|(?:<|>|≥|≤|>=|<=)?\s*\d+(?:\.\d+)?\s*%"
    r"|(?:not|non)[- ]?(?:amplified|detected|mutated|expressed)"
    r"|(?:mutation|alteration|rearrangement|fusion|amplification)s?\s+not\s+detected"
    r"|no\s+(?:mutation|alteration|rearrangement|fusion|amplification)s?"
    r"|\d+(?:\.\d+)?\s*(?:mut(?:ation)?s?\s*/\s*Mb|muts/Mb)"
    r"|(?:likely\s+)?pathogenic\s+(?:germline\s+)?(?:variant|mutation)|deleterious\s+mutation"
    r"|wild[- ]?type|wt\b|negative|neg\b|positive|pos\b|low|ultra[- ]?low|zero|high"
    r"|amplified|amplification|mutated|mutant|mutation|rearranged|rearrangement|fusion"
    r"|overexpress\w*|loss|lost|deficient|proficient|intact|retained|unmethylated|methylated"
    r"|stable|unstable|detected|present|absent|homozygous\s+deletion|deletion|deleted"
    r"|(?:exon\s*\d+\s*(?:deletion|insertion|del|ins|skipping|mutation))"
    r"|(?:p\.)?[A-Z]\d{1,4}(?:[A-Z]|del|fs\*?\d*|ins\w*|_[A-Z]\d+del)"
    r"|c\.\d+[_\d]*(?:del|ins|dup)?[A-Z]*(?:>[A-Z])?"
    r"|[+-](?=\W|$))", re.I)


def _month_date(text: str, *, end: bool = False) -> date | None:
    """"April 2021" → 2021-04-01 (``end``: still the first day: the profile reads months
    as their first day); "18 December 2024" → 2024-12-18; "2021-04" → 2021-04-01."""
    t = text.strip().lower().rstrip(".")
    m = re.fullmatch(r"(\d{4})-(\d{2})(?:-(\d{2}))?", t)
    if m:
        return date(int(m.group(1)), int(m.group(2)), int(m.group(3) or 1))
    m = re.fullmatch(r"(?:(\d{1,2})\s+)?([a-z]+)\.?\s+(\d{4})", t)
    if m and m.group(2) in _MONTHS:
        try:
            return date(int(m.group(3)), _MONTHS[m.group(2)], int(m.group(1) or 1))
        except ValueError:
            return None
    m = re.fullmatch(r"\d{4}", t)
    if m:
        return date(int(t), 1, 1)
    return None


# --------------------------------------------------------------------------------------
# Accumulator
# --------------------------------------------------------------------------------------


@dataclass
class _Found:
    draft: dict[str, Any] = field(default_factory=dict)
    evidence: dict[str, list[Evidence]] = field(default_factory=dict)
    ignored: list[Ignored] = field(default_factory=list)

    def put(self, key: str, value: Any, span: tuple[int, int], text: str, confidence: float,
            note: str | None = None, *, evidence_key: str | None = None) -> None:
        self.draft[key] = value
        self.evidence.setdefault(evidence_key or key, []).append(Evidence(
            field=evidence_key or key, value=value, span=span, text=text,
            confidence=confidence, note=note))

    def skip(self, category: str, span: tuple[int, int], text: str, reason: str) -> None:
        self.ignored.append(Ignored(category=category, span=span, text=text, reason=reason))


@dataclass
class _Regimen:
    names: list[str]
    start: int
    end: int
    systemic: bool
    classes: list[str]
    clause: tuple[int, int]
    drugs: frozenset[str] = frozenset()


def regimen_names(vocab: TherapyVocab) -> dict[str, tuple[str, ...]]:
    """Regimen name (lower case) → drug ids, from the therapy ontology's regimens
    (``ontologies/data/therapies.toml`` ``[regimens]``: "FOLFOX", "R-CHOP", …)."""
    return {name.lower(): r.drugs for r in vocab.regimens.values() for name in r.names}


class NoteExtractor:
    """Reads clinic notes (see the module docstring).

    ``nlp`` is a pipeline from :func:`matchers.pipeline.build_nlp` for ``ontology`` with
    :func:`matchers.notes.document.add_note_cues` applied (:func:`build_note_nlp` does
    both). Not thread-safe: spaCy components keep per-call state; serialize calls.
    """

    def __init__(self, nlp: Language, ontology: Ontology, *, rules: Rules | None = None) -> None:
        self._nlp = nlp
        self._onto = ontology
        self._rules = rules or load_rules()

    # ---- entry point ----------------------------------------------------------------

    def extract(self, note: str, *, today: date) -> NoteExtraction:
        """Read ``note`` (at most :data:`MAX_NOTE_CHARS` characters) into a profile draft.

        ``today`` dates "10 months ago"-style phrases and checks ages. Never raises on odd
        text: a field that cannot be read is listed in ``missing``.
        """
        doc = read_note(self._nlp, note[:MAX_NOTE_CHARS])
        f = _Found()
        self._demographics(doc, f)
        self._cancer(doc, f)
        self._stage(doc, f)
        self._biomarkers(doc, f)
        self._performance(doc, f)
        self._therapies(doc, f, today)
        self._brain(doc, f)
        self._other(doc, f)
        profile = self._profile(f)
        missing = [k for k in PROFILE_FIELDS if k not in f.draft]
        return NoteExtraction(profile=profile, draft=f.draft, evidence=f.evidence,
                              missing=missing, ignored=f.ignored)

    def _profile(self, f: _Found) -> PatientProfile | None:
        if "cancer_type" not in f.draft:
            return None
        draft = dict(f.draft)
        for _ in range(len(draft)):
            try:
                return PatientProfile.model_validate(draft)
            except ValidationError as exc:
                bad = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
                if not bad or "cancer_type" in bad:
                    return None
                for key in bad:
                    draft.pop(key, None)
        return None

    # ---- context helpers --------------------------------------------------------------

    def _status(self, doc: NoteDocument, s: int, e: int) -> str | None:
        """Why a mention at ``[s, e)`` is not a current fact of the patient, or None:
        ConText scopes first, then the note heading it sits under."""
        heading = doc.heading_context(s)
        if doc.scope(s, e, "FAMILY") or heading == "FAMILY":
            return "family"
        if doc.scope(s, e, "NEGATED_EXISTENCE") or _NEG_BEFORE.search(
                doc.norm[doc.clause_of(s)[0]:s]):
            return "negated"
        if doc.scope(s, e, "HYPOTHETICAL") or heading == "HYPOTHETICAL":
            return "hypothetical"
        if doc.scope(s, e, "HISTORICAL") or heading == "HISTORICAL":
            return "historical"
        return None

    # ---- demographics -----------------------------------------------------------------

    def _demographics(self, doc: NoteDocument, f: _Found) -> None:
        text = doc.norm
        for m in _AGE.finditer(text):
            raw = m.group("n") or m.group("m") or m.group("k") or m.group("j")
            age = int(raw)
            if 0 < age <= 120:
                f.put("age", age, m.span(), doc.text[m.start():m.end()], EXPLICIT)
                break
        m2 = _SEX_AT.search(text)
        if m2:
            word = (m2.group("s") or m2.group("w") or "").lower()
            sex = "female" if word in {"f", "woman", "female", "lady", "girl"} else "male"
            f.put("sex", sex, m2.span(), doc.text[m2.start():m2.end()], EXPLICIT)
        else:
            fem = list(_FEMALE.finditer(text))
            mal = list(_MALE.finditer(text))
            if fem or mal:
                pick = fem if len(fem) > len(mal) else mal
                sex = "female" if pick is fem else "male"
                hit = pick[0]
                f.put("sex", sex, hit.span(), doc.text[hit.start():hit.end()], INFERRED,
                      f"{len(pick)} {sex} words against {len(mal if pick is fem else fem)}")
        m3 = _MENO.search(text)
        if m3:
            status = {"pre": "premenopausal", "peri": "perimenopausal",
                      "post": "postmenopausal"}[m3.group(1).lower()]
            f.put("menopausal_status", status, m3.span(), doc.text[m3.start():m3.end()],
                  EXPLICIT)
        if m4 := _NOT_PREGNANT.search(text):
            f.put("pregnant", False, m4.span(), doc.text[m4.start():m4.end()], EXPLICIT)
        elif m5 := _PREGNANT.search(text):
            f.put("pregnant", True, m5.span(), doc.text[m5.start():m5.end()], EXPLICIT)

    # ---- cancer type and histology ----------------------------------------------------

    def _cancer(self, doc: NoteDocument, f: _Found) -> None:
        tree = self._onto.cancer_types
        votes: list[tuple[tuple[str, ...], tuple[int, int], bool]] = []  # codes, span, historical
        histology: list[tuple[str, tuple[int, int]]] = []
        for s, e in doc.sentences:
            unit = doc.unit(s, e)
            for fact in extract_cancer_types(unit, self._rules):
                if not isinstance(fact, CancerTypeFact) or not fact.codes:
                    continue
                fs, fe = fact.span
                why = self._status(doc, fs, fe)
                if why in {"negated", "family", "hypothetical"}:
                    f.skip("cancer_type", fact.span, fact.text, why or "")
                    continue
                votes.append((fact.codes, fact.span, why == "historical"))
                phrase = self._phrase_code(doc, fs, fe, fact.codes)
                if phrase:
                    votes.append(((phrase,), fact.span, why == "historical"))
            for hf in extract_histology(unit, self._rules):
                if isinstance(hf, HistologyFact) and self._status(doc, *hf.span) is None:
                    for term in hf.terms:
                        histology.append((term, hf.span))
                        phrase = self._phrase_code(doc, hf.span[0], hf.span[1], ())
                        if phrase:
                            votes.append(((phrase,), hf.span, False))
        if not votes:
            return  # a histology word alone ("squamous intraepithelial lesion") names no cancer
        for term, span in histology:
            codes = tuple(c for c in self._onto.histology.terms[term].cancer_codes
                          if tree.get(c) is not None) if term in self._onto.histology.terms else ()
            if codes:
                votes.append((codes, span, False))
        current = [v for v in votes if not v[2]]
        pool = current or votes
        if not pool:
            return
        best = self._vote(pool, [doc.norm[v[1][0]:v[1][1]] for v in pool])
        if best is None:
            return
        code, _support = best
        span = next(v[1] for v in pool if any(tree.is_within(code, c) for c in v[0]))
        confidence = TERM if current else WEAK
        note = None if current else "only historical mentions name a cancer"
        f.put("cancer_type", code, span, doc.text[span[0]:span[1]], confidence, note)
        for codes, sp, hist in votes:
            if hist and current and not any(tree.is_within(code, c) or tree.is_within(c, code)
                                             for c in codes):
                f.draft.setdefault("conditions", []).append(
                    f"history of {doc.text[sp[0]:sp[1]]}")
                f.skip("cancer_type", sp, doc.text[sp[0]:sp[1]], "historical")
        if histology:
            term, span = next(((t, s) for t, s in histology
                               if code in self._onto.histology.terms[t].cancer_codes
                               or any(tree.is_within(code, c)
                                      for c in self._onto.histology.terms[t].cancer_codes)),
                              histology[0])
            f.put("histology", term.replace("_", " "), span, doc.text[span[0]:span[1]], TERM)

    def _phrase_code(self, doc: NoteDocument, s: int, e: int, codes: Sequence[str]) -> str | None:
        """The OncoTree code the noun phrase around ``[s, e)`` resolves to ("superficial
        spreading melanoma", "adenocarcinoma of the sigmoid colon"), if it is at or below
        one of ``codes`` (any code when ``codes`` is empty) with score >= 90."""
        tree = self._onto.cancer_types
        before = re.search(r"((?:[A-Za-z-]+\s+){0,3})$", doc.norm[max(0, s - 60):s])
        after = re.match(r"\s+(?:of|in)\s+the\s+(?:(?:left|right)\s+)?([A-Za-z-]+(?:\s+[a-z-]+)?)"
                         r"|\s+(?:of|in)\s+(?:(?:left|right)\s+)?([A-Za-z-]+)", doc.norm[e:e + 60])
        tail = f" of {after.group(1) or after.group(2)}" if after else ""
        lead = before.group(1) if before else ""
        core = doc.norm[s:e]
        for query in (f"{lead}{core}{tail}", f"{core}{tail}", f"{lead}{core}"):
            query = query.strip()
            if query == core or not query:
                continue
            for match in tree.resolve(query, limit=1):
                if match.score >= 90 and (not codes or any(tree.is_within(match.code, c)
                                                           for c in codes)):
                    return str(match.code)
        return None

    def _vote(self, pool: Sequence[tuple[tuple[str, ...], tuple[int, int], bool]],
              texts: Sequence[str]) -> tuple[str, int] | None:
        tree = self._onto.cancer_types
        candidates = list(dict.fromkeys(c for codes, _, _ in pool for c in codes))
        support = {c: sum(1 for codes, _, _ in pool if any(tree.is_within(c, x) for x in codes))
                   for c in candidates}
        top = max(support.values())
        best = [c for c in candidates if support[c] == top]
        # among equally supported codes keep the broader one (a tie is no evidence for the
        # narrower), first mention first
        broad = [c for c in best if not any(o != c and tree.is_within(c, o) for o in best)]
        if len(broad) > 1 and texts:
            order = [m.code for t in texts for m in tree.resolve(t, limit=10)]
            broad.sort(key=lambda c: order.index(c) if c in order else len(order))
        return (broad[0], top) if broad else None

    # ---- stage ------------------------------------------------------------------------

    def _stage(self, doc: NoteDocument, f: _Found) -> None:
        from ontologies.stage import STAGE_ORDER

        best: tuple[str, tuple[int, int]] | None = None
        extent: tuple[str, tuple[int, int]] | None = None
        found: list[tuple[str, tuple[int, int]]] = []
        for s, e in doc.sentences:
            for fact in extract_stage(doc.unit(s, e), self._rules):
                if not isinstance(fact, StageFact) or self._status(doc, *fact.span) in {
                        "negated", "hypothetical", "family"}:
                    continue
                if fact.stages:
                    label = min(fact.stages, key=lambda x: (len(x), STAGE_ORDER.index(x)
                                                            if x in STAGE_ORDER else 99))
                    found.append((label, fact.span))
                elif fact.extents and extent is None:
                    extent = (str(fact.extents[0].value).replace("_", " "), fact.span)
        for rx in (_FIGO, _STAGE_LABEL):
            for fm in rx.finditer(doc.norm):
                if self._status(doc, *fm.span()) not in {"negated", "hypothetical", "family"}:
                    found.append((fm.group("s") + (fm.group("l") or "").upper(), fm.span()))
        found = sorted(set(found), key=lambda x: x[1])
        for label, span in found:
            # a later statement wins (restaging, recurrence) unless it only repeats the
            # group of a more specific earlier one ("stage IVB ... stage IV")
            if best is None or not best[0].startswith(label):
                best = (label, span)
        if best is not None:
            f.put("stage", best[0], best[1], doc.text[best[1][0]:best[1][1]], EXPLICIT)
            return
        m = _M1.search(doc.norm)
        if m:
            f.put("stage", "IV", m.span(), doc.text[m.start():m.end()], INFERRED,
                  "distant metastasis (M1) is AJCC stage IV")
            return
        if extent is not None:
            f.put("stage", extent[0], extent[1], doc.text[extent[1][0]:extent[1][1]], TERM)

    # ---- biomarkers -------------------------------------------------------------------

    def _biomarkers(self, doc: NoteDocument, f: _Found) -> None:
        terms = sorted(doc.terms_of("BIOMARKER", "VARIANT"), key=lambda t: (t.start, -t.end))
        # "IDH1/IDH2" is also matched whole (as the IDH group): keep the named genes
        terms = [t for t in terms if not (re.search(r"/[A-Za-z]", doc.norm[t.start:t.end]) and any(
            o is not t and o.label == "BIOMARKER" and t.start <= o.start and o.end <= t.end
            for o in terms))]
        markers: list[tuple[str, int, int, str | None]] = []  # marker, start, end, variant text
        last_end = -1
        for t in terms:
            if t.start < last_end:
                continue
            last_end = t.end
            if t.label == "BIOMARKER":
                if _NOT_A_RESULT.match(doc.norm[t.end:t.end + 20]):
                    continue  # "anti-EGFR antibody", "FGFR inhibitor": a drug, not a result
                markers.append((t.codes[0], t.start, t.end, None))
                continue
            known = self._onto.biomarkers.variants.get(t.codes[0])
            if known is None:
                continue
            prev = markers[-1] if markers else None
            if prev is not None and prev[0] == known.marker and prev[3] is None and (
                    re.fullmatch(r"[\s:(-]*(?:gene\s+)?", doc.norm[prev[2]:t.start])):
                markers[-1] = (prev[0], prev[1], prev[2], doc.norm[t.start:t.end])
            elif prev is None or prev[0] != known.marker or t.start - prev[2] > 40:
                markers.append((known.marker, t.start, t.end, doc.norm[t.start:t.end]))
        i = 0
        while i < len(markers):
            # a list "KRAS, NRAS and BRAF wild-type": the markers share the value after it
            j = i
            while j + 1 < len(markers) and markers[j][3] is None and _MARKER_SEP.match(
                    doc.norm[markers[j][2]:markers[j + 1][1]]):
                j += 1
            shared, sspan = self._marker_value(doc, markers[j][2])
            for k in range(i, j + 1):
                marker, s, e, variant = markers[k]
                own, ospan = (shared, sspan) if k == j else self._marker_value(doc, e)
                if variant is not None:
                    own, ospan = self._variant_value(doc, variant, e)
                value, vspan = (own, ospan) if own else (shared, sspan)
                self._record_marker(doc, f, marker, s, e, value, vspan)
            i = j + 1

    def _marker_value(self, doc: NoteDocument, end: int) -> tuple[str | None, tuple[int, int]]:
        window = doc.norm[end:end + 60]
        m = _VALUE.match(window)
        if not m:
            return None, (end, end)
        v = m.group("v").strip()
        vs, ve = end + m.start("v"), end + m.end("v")
        if re.fullmatch(r"(?:p\.)?[A-Z]\d{1,4}\S*|exon.*", v, re.I):
            return self._variant_value(doc, v, ve)[0], (vs, ve)
        return v, (vs, ve)

    def _variant_value(self, doc: NoteDocument, variant: str, end: int
                       ) -> tuple[str, tuple[int, int]]:
        """A variant result with what follows it: "(E746_A750del)" kept, "IHC negative"
        / "not detected" turning it into an absent variant."""
        after = doc.norm[end:end + 40]
        full = len(variant)
        variant = re.sub(r"^[A-Z][A-Z0-9-]{1,9}\s+(?=\S)", "", variant)  # "BRAF V600E" → V600E
        paren = re.match(r"\s*(\([^()]{1,30}\))", after)
        word = re.match(r"\s*(mutation|mutated|mutant|deletion|insertion|amplification|fusion"
                        r"|rearrangement|alteration)\b", after, re.I)
        text = variant + (f" {paren.group(1)}" if paren else "") + (
            f" {word.group(1)}" if word and not paren else "")
        if re.match(r"[\s)(\w-]{0,15}?\b(?:negative|not\s+detected|absent|wild[- ]?type)\b",
                    after, re.I):
            text = f"{variant} negative"
        return text, (end - full, end + (paren.end() if paren else 0))

    def _negated_marker(self, doc: NoteDocument, s: int) -> bool:
        """Negated by a cue before it in its clause, with only other markers, commas and
        "and"/"or" between ("no EGFR, ALK or ROS1 alteration"), never across a value."""
        clause = doc.clause_of(s)
        before = doc.norm[clause[0]:s]
        cues = list(re.finditer(r"\b(?:no|not|never|without|negative\s+for|nor|neither)\b",
                                before, re.I))
        if not cues:
            return False
        between = before[cues[-1].end():]
        if len(between) > 60 or re.search(r"[.;()]", between):
            return False
        words = re.findall(r"[A-Za-z0-9-]+", between)
        allowed = {"and", "or", "other", "known", "evidence", "of", "the", "a", "an",
                   "prior", "germline", "somatic", "tumour", "tumor"}
        return all(w.lower() in allowed or self._onto.biomarkers.resolve_marker(w)
                   for w in words)

    def _record_marker(self, doc: NoteDocument, f: _Found, marker: str, s: int, e: int,
                       value: str | None, vspan: tuple[int, int]) -> None:
        mention = doc.norm[s:e]
        clause = doc.clause_of(s)
        if self._status(doc, s, e) in {"family", "hypothetical"}:
            return
        negated = self._negated_marker(doc, s)
        if re.match(r"^\W*(?:and\s+[\w\s-]{1,30}?\s+)?not\s+(?:tested|done|assessed|performed"
                    r"|available|known)", doc.norm[e:e + 50], re.I) or (
                value and _UNKNOWN_VALUE.match(value)):
            f.skip("biomarkers", (s, e), mention, "not tested")
            return
        key = marker
        if re.fullmatch(r"[A-Za-z]+\d/\d", mention.strip()):
            key = mention.strip()  # "BRCA1/2", "IDH1/2": the normalizer splits them
        germline = bool(_GERMLINE.search(doc.norm[max(clause[0], s - 40):s]))
        if marker == "MSI":
            for label, rx in _MSI_VALUE:
                if rx.search(mention) or (value and rx.search(value)):
                    value = label
                    break
        if value is None and not negated:
            # the criteria grammar reads "HER2-positive", "EGFR-mutant" and the like
            self._marker_from_facts(doc, f, marker, s, e, germline)
            return
        text = value or "negative"
        low = text.lower()
        if marker == "HER2":
            assay = doc.norm[max(clause[0], s - 10):vspan[1] + 12].upper()
            if re.search(r"[0-3]\s*\+", text) or ("IHC" in assay and text == "0"):
                key = "HER2_IHC"
                text = re.sub(r"\s|IHC|\(|\)|by", "", text, flags=re.I) or text
            elif re.search(r"\b(?:ISH|FISH|CISH|SISH)\b", assay) or "amplif" in low:
                key = "HER2_ISH"
            self._her2_ish(doc, f, vspan[1], clause)
        elif marker == "PD-L1":
            kind = "CPS" if "CPS" in text.upper() or "CPS" in doc.norm[e:e + 12].upper() else "TPS"
            num = re.search(r"(<|>|≥|≤|>=|<=)?\s*(\d+(?:\.\d+)?)", text)
            key = f"PD-L1_{kind}"
            if num:
                text = (num.group(1) or "") + num.group(2) + ("%" if kind == "TPS" else "")
        elif re.fullmatch(r"[<>≥≤=]*\s*\d+(?:\.\d+)?\s*%", text):
            pct = float(re.sub(r"[^\d.]", "", text))
            text = f"{'positive' if pct >= 1 else 'negative'} ({text.replace(' ', '')})"
        if negated and value is not None and not re.search(r"neg|wild|not|no\b|absent", low):
            text = f"no {text}"
        if marker != "HER2" and re.fullmatch(r"(?:no\s+|not\s+)?(?:amplification|amplified)"
                                             r"|amplification\s+not\s+detected", text.lower()):
            # "no MET amplification" says nothing of MET mutations: an amplification result
            key = f"{marker}_amplification"
            text = "not detected" if re.match(r"no|not|amplification\s+not", text.lower()) else (
                "detected")
        if germline and not key.startswith("g"):
            key = "g" + key
        self._put_marker(f, key, text, (s, max(e, vspan[1])), doc.text[s:max(e, vspan[1])],
                         EXPLICIT if value else TERM)

    def _put_marker(self, f: _Found, key: str, text: str, span: tuple[int, int], quote: str,
                    confidence: float) -> None:
        markers = f.draft.setdefault("biomarkers", {})
        if key in markers:
            return  # the first statement wins (later ones mostly repeat it)
        markers[key] = text
        f.evidence.setdefault(f"biomarkers.{key}", []).append(Evidence(
            field=f"biomarkers.{key}", value=text, span=span, text=quote,
            confidence=confidence))

    def _her2_ish(self, doc: NoteDocument, f: _Found, pos: int, clause: tuple[int, int]) -> None:
        """"HER2 IHC 2+ with ISH not amplified": the ISH result later in the clause."""
        m = re.search(r"\b(?:ISH|FISH|CISH|SISH|in\s+situ\s+hybridi[sz]ation)\b[\s:]*(?:was\s+)?"
                      r"(?P<v>not\s+amplified|non-?amplified|negative|amplified|positive"
                      r"|equivocal)", doc.norm[pos:clause[1]], re.I)
        if m and not m.group("v").lower().startswith("equivocal"):
            v = m.group("v").lower()
            value = "negative" if ("not" in v or "non" in v or v == "negative") else "positive"
            s, e = pos + m.start(), pos + m.end()
            self._put_marker(f, "HER2_ISH", value, (s, e), doc.text[s:e], EXPLICIT)

    def _marker_from_facts(self, doc: NoteDocument, f: _Found, marker: str, s: int,
                           e: int, germline: bool) -> None:
        from matchers.criteria.biomarker import extract_biomarkers
        from matchers.models import BiomarkerFact

        ss, se = doc.sentence_of(s)
        variants = {vid: v.marker for vid, v in self._onto.biomarkers.variants.items()}
        for fact in extract_biomarkers(doc.unit(ss, se), self._rules, variants):
            if not isinstance(fact, BiomarkerFact) or fact.marker != marker:
                continue
            if not (fact.span[0] <= s < fact.span[1] + 1 or s <= fact.span[0] < e + 1):
                continue
            status = {"wild_type": "wild-type", "mutated": fact.variant or "mutated"}.get(
                fact.status, fact.status)
            key = ("g" if germline else "") + marker
            self._put_marker(f, key, status, fact.span, fact.text, TERM)
            return

    # ---- performance status -------------------------------------------------------------

    def _performance(self, doc: NoteDocument, f: _Found) -> None:
        # single stated values first ("ECOG 1", "Karnofsky 70%"), then the criteria
        # grammar for the rest (ranges "ECOG 0-1"); a WHO *grade* is not a performance
        # status ("CNS WHO grade 4")
        for key, rx, lo, hi in (("ecog", _ECOG, 0, 4), ("karnofsky", _KPS, 0, 100)):
            for m in rx.finditer(doc.norm):
                if re.search(r"who\s*$", doc.norm[max(0, m.start() - 4):m.start() + 3], re.I) and (
                        re.search(r"grade", doc.norm[m.start():m.end() + 8], re.I)):
                    continue
                if "grade" in doc.norm[m.start():m.end()].lower():
                    continue
                value = int(m.group("v"))
                if lo <= value <= hi and key not in f.draft:
                    f.put(key, value, m.span(), doc.text[m.start():m.end()], EXPLICIT)
        for s, e in doc.sentences:
            for fact in extract_performance(doc.unit(s, e), self._rules):
                if not isinstance(fact, PerformanceStatusFact):
                    continue
                lo_v, hi_v = fact.value_min, fact.value_max
                if (lo_v is None and hi_v is None) or "grade" in fact.text.lower():
                    continue
                value = int(hi_v if hi_v is not None else lo_v or 0)
                note = None if lo_v == hi_v else "a range was written; its upper end is kept"
                conf = EXPLICIT if lo_v == hi_v else INFERRED
                if fact.scale in ("ECOG", "ZUBROD") and "ecog" not in f.draft and value <= 4:
                    f.put("ecog", value, fact.span, fact.text, conf, note)
                elif fact.scale == "KPS" and "karnofsky" not in f.draft and value <= 100:
                    f.put("karnofsky", value, fact.span, fact.text, conf, note)

    # ---- prior therapies ----------------------------------------------------------------

    def _therapies(self, doc: NoteDocument, f: _Found, today: date) -> None:
        mentions = self._therapy_mentions(doc, f)
        regimens = self._regimens(doc, mentions)
        out: list[dict[str, Any]] = []
        line = 0
        for n, r in enumerate(regimens):
            entry: dict[str, Any] = {"name": " + ".join(dict.fromkeys(r.names))}
            next_start = regimens[n + 1].start if n + 1 < len(regimens) else len(doc.norm)
            cs, ce = r.clause
            window = doc.norm[r.start:ce]
            lead = doc.norm[cs:r.start]
            lm = _LINE.search(lead) or _LINE.search(doc.norm[r.start:r.end])
            if r.systemic:
                if lm:
                    line = _LINE_NUMBER[(lm.group("n") or "").lower()] if lm.group("n") else int(
                        lm.group("k"))
                elif not (_SAME_LINE.search(doc.norm[max(cs, r.start - 25):min(ce, r.end + 40)])
                          and line > 0):
                    line += 1
                entry["line"] = line
            else:
                entry["class"] = r.classes[0] if r.classes else None
            sm = _SETTING.search(f"{lead} {doc.norm[r.start:min(ce, r.end + 40)]}")
            if sm:
                entry["setting"] = sm.group(1).lower().replace("-", " ")
            elif r.systemic and _ADVANCED_BEFORE.search(doc.norm[:cs]):
                # advanced disease is stated before this regimen's clause: given for it
                entry["setting"] = "advanced"
            if (_PROGRESSED.search(window) and not _NO_PROGRESSION.search(window)) or (
                    _PROGRESSED_ON.search(doc.norm[max(cs, r.start - 30):r.start])):
                entry["progressed"] = True
            entry.update(self._dates(doc, r, min(ce, next_start)))
            out.append({k: v for k, v in entry.items() if v is not None})
            key = f"prior_therapies[{len(out) - 1}]"
            f.evidence.setdefault(key, []).append(Evidence(
                field=key, value=out[-1], span=(r.start, r.end), text=doc.text[r.start:r.end],
                confidence=TERM if r.systemic or lm else INFERRED,
                note=None if lm or not r.systemic else "line from the order of regimens"))
        if out:
            f.draft["prior_therapies"] = [{k: (v.isoformat() if isinstance(v, date) else v)
                                           for k, v in t.items()} for t in out]
            return
        m = _NAIVE.search(doc.norm)
        if m:
            f.put("prior_therapies", [], m.span(), doc.text[m.start():m.end()], EXPLICIT)

    def _dates(self, doc: NoteDocument, r: _Regimen, clause_end: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        rm = _RANGE.search(doc.norm, r.start, min(len(doc.norm), clause_end))
        if rm:
            a, b = rm.group("a"), rm.group("b")
            yb = re.search(r"\d{4}", b)
            if not re.search(r"\d{4}", a) and yb:
                a = f"{a} {yb.group(0)}"
            start = _month_date(a)
            ongoing = b.lower() in {"present", "now", "ongoing"}
            end = None if ongoing else _month_date(b)
            if start:
                out["start_date"] = start
            if end and (start is None or end >= start):
                out["end_date"] = end
            if ongoing:
                out["ongoing"] = True
        elif sm := _SINCE.search(doc.norm, max(0, r.start - 40), clause_end):
            d = _month_date(sm.group("a"))
            if d:
                out["start_date"] = d
        return out

    def _therapy_mentions(self, doc: NoteDocument, f: _Found
                          ) -> list[tuple[int, int, str, bool, list[str], frozenset[str]]]:
        """(start, end, words, systemic, classes, drug ids) of every prior-therapy
        mention that is not negated, planned or a relative's."""
        vocab = self._onto.therapies
        found: list[tuple[int, int, str, bool, list[str], frozenset[str]]] = []

        def usable(s: int, e: int, *, historical_ok: bool = True) -> bool:
            why = self._status(doc, s, e)
            if _INELIGIBLE.match(doc.norm[e:e + 15]):
                why = "hypothetical"
            if why is not None and not (historical_ok and why == "historical"):
                f.skip("prior_therapies", (s, e), doc.text[s:e], why)
                return False
            return True

        for t in sorted(doc.terms_of("DRUG", "THERAPY_CLASS"), key=lambda t: (t.start, -t.end)):
            if found and t.start < found[-1][1]:
                continue
            if not usable(t.start, t.end):
                continue
            code = t.codes[0]
            if t.label == "DRUG":
                classes = sorted(vocab.classes_of(code))
                found.append((t.start, t.end, doc.text[t.start:t.end], "systemic" in classes,
                              classes, frozenset({code})))
            else:
                if code in {"systemic", "targeted", "immunotherapy", "chemotherapy"} and re.search(
                        r"^\s*(?:yet|so\s+far|is\s+recommended)|recommend", doc.norm[
                            t.end:t.end + 30]):
                    continue
                classes = sorted(vocab.class_closure(frozenset({code})))
                found.append((t.start, t.end, doc.text[t.start:t.end],
                              "systemic" in classes, [code, *classes], frozenset()))
        for name, drugs in regimen_names(vocab).items():
            for m in re.finditer(rf"(?<![\w-]){re.escape(name)}(?![\w-])", doc.norm, re.I):
                s, e = m.span()
                if any(a <= s < b for a, b, *_ in found) or not usable(s, e):
                    continue
                ids = frozenset(d for d in drugs if d in vocab.drugs)
                classes = sorted(set().union(*(vocab.classes_of(d) for d in ids)) if ids else set())
                # the drugs spelled out, so the normalizer resolves the regimen's classes
                words = f"{doc.text[s:e]} ({' + '.join(drugs)})"
                found.append((s, e, words, True, classes, ids))
        for rx, cls in ((_SURGERY, "surgery"), (_RADIO, "radiotherapy")):
            for m in rx.finditer(doc.norm):
                s, e = m.span()
                if any(a <= s < b or s <= a < e for a, b, *_ in found):
                    continue
                clause = doc.clause_of(s)
                if _NOT_THERAPY.search(doc.norm[s:min(clause[1], e + 25)]) or re.search(
                        r"\b(?:specimen|field|after|since|from)\s*$|re-$",
                        doc.norm[max(clause[0], s - 12):s]):
                    continue
                if not usable(s, e):
                    continue
                found.append((s, e, doc.text[s:e], False, [cls], frozenset()))
        found.sort()
        return found

    def _regimens(self, doc: NoteDocument,
                  mentions: Iterable[tuple[int, int, str, bool, list[str], frozenset[str]]]
                  ) -> list[_Regimen]:
        """Group mentions into regimens: drugs joined in a clause ("carboplatin +
        paclitaxel", "radiotherapy 60 Gy with concurrent temozolomide") are one; a later
        mention of a drug or class already given ("last nivolumab dose", "after the last
        platinum"), or one in a parenthetical after a regimen, belongs to that regimen;
        surgery and radiotherapy are kept once each."""
        out: list[_Regimen] = []
        for s, e, name, systemic, classes, drugs in mentions:
            clause = doc.clause_of(s)
            prev = out[-1] if out else None
            if prev is not None and prev.clause == clause:
                gap = doc.norm[prev.end:s]
                joined = (len(gap.strip(" ()/,-")) <= 2 or re.fullmatch(
                    r"[\s\w.%/()-]{0,25}?(?:\+|/|,|\band\b|\bwith\b|\bplus\b|\bconcurrent\b"
                    r"|\bconcomitant\b)[\s\w.%/()-]{0,25}", gap, re.I)) and not re.search(
                    r"\bthen\b|followed by|\bafter\b", gap, re.I)
                inside = doc.norm.rfind("(", prev.end, s) > doc.norm.rfind(")", prev.end, s)
                if joined or (inside and systemic and prev.systemic):
                    prev.names.append(name)
                    prev.end = e
                    prev.systemic = prev.systemic or systemic
                    prev.classes = list(dict.fromkeys(prev.classes + classes))
                    prev.drugs = prev.drugs | drugs
                    continue
            earlier = next((r for r in out if (drugs and drugs & r.drugs) or (
                not drugs and classes and classes[0] in r.classes)), None)
            if earlier is not None and not _LINE.search(doc.norm[max(clause[0], s - 30):e]):
                earlier.drugs = earlier.drugs | drugs
                continue
            out.append(_Regimen([name], s, e, systemic, list(classes), clause, drugs))
        return out

    # ---- brain metastases -------------------------------------------------------------

    def _brain(self, doc: NoteDocument, f: _Found) -> None:
        neg = _BRAIN_NEGATIVE.search(doc.norm)
        positive: tuple[int, int] | None = None
        for s, e in doc.sentences:
            for fact in extract_brain_metastases(doc.unit(s, e), self._rules):
                if not isinstance(fact, BrainMetastasesFact) or fact.leptomeningeal:
                    continue
                why = self._status(doc, *fact.span)
                if why == "negated" or (fact.negated and why is None and _NEG_BEFORE.search(
                        doc.norm[doc.clause_of(fact.span[0])[0]:fact.span[0]])):
                    f.put("brain_metastases", "none", fact.span, fact.text, EXPLICIT)
                    return
                if why is None and positive is None:
                    positive = fact.span
        if positive is None:
            m = _BRAIN.search(doc.norm)
            if m and self._status(doc, *m.span()) is None:
                positive = m.span()
        if positive is not None:
            # treated if the mention's sentence, or a later one about the brain / the
            # lesions, says radiosurgery, resection, treated or stable
            s0 = doc.sentence_of(positive[0])
            related = [doc.norm[a:b] for a, b in doc.sentences if a >= s0[1] and re.search(
                r"\b(?:brain|cerebr\w*|intracranial|lesions?|metastas[ie]s)\b", doc.norm[a:b],
                re.I)]
            treated = any(_BRAIN_TREATED.search(x) for x in [doc.norm[s0[0]:s0[1]], *related])
            value = "treated_stable" if treated else "active"
            f.put("brain_metastases", value, positive, doc.text[positive[0]:positive[1]],
                  TERM if treated else INFERRED,
                  None if treated else "no treatment of the brain metastases is mentioned")
            return
        if neg is not None:
            f.put("brain_metastases", "none", neg.span(), doc.text[neg.start():neg.end()],
                  EXPLICIT)

    # ---- everything else --------------------------------------------------------------

    def _other(self, doc: NoteDocument, f: _Found) -> None:
        text = doc.norm
        for s, e in doc.sentences:
            unit = doc.unit(s, e)
            for mfact in extract_measurable(unit, self._rules):
                if isinstance(mfact, MeasurableDiseaseFact) and "measurable_disease" not in f.draft:
                    flag = not (self._status(doc, *mfact.span) == "negated" or mfact.negated)
                    f.put("measurable_disease", flag, mfact.span, mfact.text, EXPLICIT)
            for fact in extract_labs(unit, self._rules):
                if isinstance(fact, LabFact) and fact.comparator == "=":
                    labs = f.draft.setdefault("labs", {})
                    if fact.lab in labs:
                        continue
                    unit_name = None if fact.unit in {"cells/uL", "/uL", "cells/µL"} else fact.unit
                    value: dict[str, Any] = {"value": fact.value}
                    if fact.lab in {"anc", "wbc", "platelets"}:
                        value["unit"] = "/uL"
                    elif unit_name:
                        value["unit"] = unit_name
                    labs[fact.lab] = value
                    f.evidence.setdefault(f"labs.{fact.lab}", []).append(Evidence(
                        field=f"labs.{fact.lab}", value=value, span=fact.span, text=fact.text,
                        confidence=EXPLICIT))
            for cfact in extract_conditions(unit, self._rules):
                if not isinstance(cfact, ConditionFact) or cfact.condition in {
                        "pregnancy", "breastfeeding"}:
                    continue
                self._condition(doc, f, cfact)
        if "measurable_disease" not in f.draft:
            if m := _NOT_MEASURABLE.search(text):
                f.put("measurable_disease", False, m.span(), doc.text[m.start():m.end()], EXPLICIT)
            elif m2 := _MEASURABLE.search(text):
                f.put("measurable_disease", True, m2.span(), doc.text[m2.start():m2.end()],
                      EXPLICIT)
        if m3 := _UNRESECTABLE.search(text):
            f.put("resectable", False, m3.span(), doc.text[m3.start():m3.end()], EXPLICIT)
        elif (m4 := _RESECTABLE.search(text)) and self._status(doc, *m4.span()) is None:
            f.put("resectable", True, m4.span(), doc.text[m4.start():m4.end()], TERM)
        sites: list[str] = []
        for name, rx in _SITE_RE:
            for m5 in rx.finditer(text):
                why = self._status(doc, *m5.span())
                if why is None and name not in sites:
                    sites.append(name)
                    f.evidence.setdefault("metastasis_sites", []).append(Evidence(
                        field="metastasis_sites", value=name, span=m5.span(),
                        text=doc.text[m5.start():m5.end()], confidence=TERM))
                    break
        if sites:
            f.draft["metastasis_sites"] = sites
        if m6 := _DIAGNOSED.search(text):
            d = _month_date(m6.group("d"))
            if d:
                f.put("diagnosis_date", d.isoformat(), m6.span(), doc.text[m6.start():m6.end()],
                      EXPLICIT)


    def _condition(self, doc: NoteDocument, f: _Found, fact: ConditionFact) -> None:
        why = self._status(doc, *fact.span)
        if why in {"family", "hypothetical"}:
            f.skip("conditions", fact.span, fact.text, why or "")
            return
        after = doc.norm[fact.span[1]:doc.clause_of(fact.span[0])[1]]
        listed_negative = bool(re.match(r"^[\w\s,/-]{0,50}?\b(?:negative|not\s+detected)\b",
                                        after, re.I))
        negated = why == "negated" or fact.negated or listed_negative or (
            fact.condition == "other_malignancy"
            and bool(re.search(r"\bno\s+(?:other\s+)?$",
                               doc.norm[max(0, fact.span[0] - 9):fact.span[0]], re.I)))
        name = fact.condition.replace("_", " ")
        entry = f"no {name}" if negated else name
        conds = f.draft.setdefault("conditions", [])
        if entry not in conds and (f"no {name}" if not negated else name) not in conds:
            conds.append(entry)
            f.evidence.setdefault("conditions", []).append(Evidence(
                field="conditions", value=entry, span=fact.span, text=fact.text,
                confidence=TERM))


def build_note_nlp(ontology: Ontology, settings: Any = None) -> Language:
    """A note pipeline: :func:`matchers.pipeline.build_nlp` plus the note cues (a pipeline
    of its own, so the eligibility parser's stays unchanged). ``settings`` is a
    :class:`matchers.settings.MatcherSettings` (default: from the environment)."""
    from matchers.notes.document import add_note_cues
    from matchers.pipeline import build_nlp

    return add_note_cues(build_nlp(ontology, settings))

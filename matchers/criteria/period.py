"""Calendar windows: retrospective cohorts ("imaging available between January 2010 and
December 2022"; "treated with radiation between January 2010 and December
2022").

**Extraction** (:func:`extract_periods`) — a window of months/years (``period.toml``
``window`` patterns: "between <month> <year> and <month> <year>", "from <year> to
<year>"), with what must fall in it read from the words before it in the clause:
``diagnosis``, ``treatment``, else ``care`` (imaging, visits, records).

**Patient side** (:func:`read_dates`) — the diagnosis date and the dated therapies of
the profile (:class:`PatientDates`).

**Comparison** (:func:`compare_period`) — ``diagnosis``: the diagnosis date in the
window; ``treatment``: a therapy given (start to end) during it, false only when every
therapy is dated and none overlaps; ``care``: care for the cancer starts at its
diagnosis, so a diagnosis after the window's end is false; otherwise unknown. Never key
(the window is a study-records matter), but a false value excludes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict

from matchers.criteria.base import Atom, Category, CompareContext, ExtractContext
from matchers.criteria.common import CriterionText, compiled_per_rules, keep_mention
from matchers.models import Fact, PeriodFact
from matchers.rules import PeriodRules, Rules

if TYPE_CHECKING:
    from matchers.normalize import NormalizedPatient
    from matchers.patient import PatientProfile

__all__ = ["CATEGORY", "PatientDates", "compare_period", "extract_periods", "read_dates"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov",
           "dec")
_CLAUSE_BREAK = re.compile(r"[.;]\s")


@compiled_per_rules
def _cues(rules: PeriodRules) -> tuple[tuple[re.Pattern[str], ...], re.Pattern[str],
                                        re.Pattern[str], re.Pattern[str]]:
    def words(ws: tuple[str, ...]) -> re.Pattern[str]:
        return re.compile(r"\b(?:" + "|".join(ws) + r")\b", re.I)

    windows = tuple(re.compile(p, re.I) for p in rules.window)
    return (windows, words(rules.diagnosis_words), words(rules.treatment_words),
            words(rules.skip_words))


def _month(word: str | None, default: int) -> int | None:
    """Month number of a month name (first three letters), ``default`` when absent;
    None when the word is not a month ("between 2010 and 2022" has none)."""
    if not word:
        return default
    w = word[:3].lower()
    return _MONTHS.index(w) + 1 if w in _MONTHS else None


def _last_day(year: int, month: int) -> date:
    nxt = date(year + (month == 12), month % 12 + 1, 1)
    return date.fromordinal(nxt.toordinal() - 1)


def extract_periods(c: CriterionText, rules: Rules) -> list[PeriodFact]:
    """Calendar-window facts of criterion ``c`` (see the module docstring)."""
    body = c.body
    if not re.search(r"(?:19|20)\d\d", body):
        return []  # fast path: no year written
    windows, diagnosis, treatment, skip = _cues(rules.period)
    facts: list[PeriodFact] = []
    for rx in windows:
        for m in rx.finditer(body):
            y2 = int(m.group("y2"))
            y1 = int(m.group("y1")) if m.group("y1") else y2
            m1, m2 = _month(m.group("m1"), 1), _month(m.group("m2"), 12)
            if m1 is None or m2 is None or not 1900 < y1 <= y2 < 2100:
                continue
            start, end = date(y1, m1, 1), _last_day(y2, m2)
            if end < start:
                continue
            s, e = c.start + m.start(), c.start + m.end()
            keep, neg, exc = keep_mention(c, s, e)
            if not keep:
                continue
            before = body[: m.start()]
            cut = list(_CLAUSE_BREAK.finditer(before))
            before = before[cut[-1].end():] if cut else before
            if skip.search(before[-60:]):
                continue  # "born between 1950 and 1960": no window of care
            event = ("diagnosis" if diagnosis.search(before) else
                     "treatment" if treatment.search(before) else "care")
            facts.append(PeriodFact(span=(s, e), text=c.text[s:e], negated=neg,
                                    exception=exc, start=start, end=end, event=event))
    return facts


def _extract(c: CriterionText, ctx: ExtractContext) -> list[Fact]:
    return [f.model_copy(update={"rule": "period.window"})
            for f in extract_periods(c, ctx.rules)]


# --------------------------------------------------------------------------------------
# patient side
# --------------------------------------------------------------------------------------


class PatientDates(BaseModel):
    """The dates of the patient's care: ``diagnosis`` (None = not stated), and each
    stated therapy as ``(start, end)`` (either may be None; ``end`` None and ongoing
    means to this day); ``therapies_known`` is False when the profile lists none."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    diagnosis: date | None = None
    therapies: tuple[tuple[date | None, date | None, bool], ...] = ()
    therapies_known: bool = False


def read_dates(profile: PatientProfile) -> PatientDates:
    """The patient's :class:`PatientDates` from ``diagnosis_date`` and the therapies'
    ``start_date``/``end_date``/``ongoing``."""
    items = profile.prior_therapies
    return PatientDates(
        diagnosis=profile.diagnosis_date,
        therapies=tuple((t.start_date, t.end_date, bool(t.ongoing)) for t in items or ()),
        therapies_known=items is not None,
    )


# --------------------------------------------------------------------------------------
# comparison
# --------------------------------------------------------------------------------------


def _overlaps(spans: Sequence[tuple[date | None, date | None, bool]], lo: date, hi: date,
              today: date) -> bool | None:
    """Whether some therapy ran during ``[lo, hi]``: True if one overlaps, False if all
    are dated and none does, else None."""
    unknown = False
    for start, end, ongoing in spans:
        if start is None and end is None:
            unknown = True
            continue
        s = start or end
        e = end or (today if ongoing else start)
        assert s is not None and e is not None
        if s <= hi and lo <= e:
            return True
        if start is None or (end is None and not ongoing):
            unknown = True  # one end unknown: it may have reached into the window
    return None if unknown or not spans else False


def compare_period(f: PeriodFact, p: NormalizedPatient, ctx: CompareContext) -> Atom:
    """Whether the patient's care falls in the window (see the module docstring)."""
    d = p.dates
    window = f"{f.start:%b %Y}–{f.end:%b %Y}"
    question = f"{'diagnosis' if f.event == 'diagnosis' else 'care'} dates ({window})?"
    if f.event == "diagnosis":
        if d.diagnosis is None:
            return Atom(f, None, "diagnosis date not stated", question, key=False)
        inside = f.start <= d.diagnosis <= f.end
        return Atom(f, inside, f"diagnosed {d.diagnosis:%b %Y}", key=False)
    if f.event == "treatment" and d.therapies_known:
        hit = _overlaps(d.therapies, f.start, f.end, ctx.today)
        if hit is not None:
            return Atom(f, hit, "treated during the window" if hit else
                        f"no therapy dated {window}", key=False)
    if d.diagnosis is not None and d.diagnosis > f.end:
        return Atom(f, False, f"diagnosed {d.diagnosis:%b %Y}, after the window", key=False)
    return Atom(f, None, "dates of care not stated", question, key=False)


CATEGORY = Category(
    name="period",
    fact_type=PeriodFact,
    extract=_extract,
    compare=compare_period,
    patient_part="dates",
    reader=read_dates,
    key=False,
    priority=9,
    rules_file="period.toml",
    cases_file="period.toml",
    module=__name__,
)

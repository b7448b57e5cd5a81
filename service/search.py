"""Navigator search and answer pages over the in-memory index (pure, no I/O).

Condition matching uses each trial's *own* cancer-type codes (the codes its
conditions, title and inclusion criteria name, before ancestor expansion):

* ``within`` — the trial names the queried node or a descendant (a PLEMESO trial for a
  "pleural mesothelioma" query);
* ``broader`` — the trial names an ancestor of the queried node (a "pleural
  mesothelioma" trial for an "epithelioid pleural mesothelioma" query), tissue level
  included but never the OncoTree root;
* ``generic`` — a basket trial ("any solid tumour", "any malignancy"); only with
  ``include_generic``.

``within`` hits sort before ``broader`` before ``generic``. Sorting then goes by
distance (when a location is given), recruiting status, latest phase, most recent
update, NCT id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import TYPE_CHECKING

from matchers.evaluate import evaluate_prepared
from matchers.geo import nearest_site
from matchers.index import STATUS_ORDER, TrialIndex, trial_cancer_facts
from matchers.models import IndexedTrial, SiteDistance, Verdict
from matchers.normalize import normalize_patient
from matchers.patient import PatientProfile

if TYPE_CHECKING:
    from ontologies import Ontology

PHASE_RANK = {"NA": 0, "EARLY_PHASE1": 1, "PHASE1": 2, "PHASE2": 3, "PHASE3": 4, "PHASE4": 5}
STATUS_RANK = STATUS_ORDER  # one status order for the ranker and the navigator


class Relation(IntEnum):
    """How a trial relates to the queried condition (lower sorts first)."""

    WITHIN = 0
    BROADER = 1
    GENERIC = 2
    ANY = 3  # no condition asked


@dataclass(frozen=True, slots=True)
class SearchData:
    """Per-trial data for search, aligned with the index's positions.

    ``haystack`` is the lower-cased NCT id, titles, conditions, keywords and
    interventions; ``own_codes`` maps an OncoTree code to the positions of trials
    that name it themselves.
    """

    haystack: tuple[str, ...]
    own_codes: dict[str, tuple[int, ...]]
    generic: frozenset[int]
    max_phase: tuple[int, ...]
    last_update: tuple[int, ...]

    @classmethod
    def build(cls, index: TrialIndex, ontology: Ontology) -> SearchData:
        tree = ontology.cancer_types
        hay: list[str] = []
        own: dict[str, list[int]] = {}
        generic: set[int] = set()
        phase: list[int] = []
        updated: list[int] = []
        for i, trial in enumerate(index):
            s = trial.summary
            hay.append(
                " \u241f ".join(
                    (s.nct_id, s.title, s.official_title or "", *s.conditions, *s.keywords,
                     *s.interventions)
                ).lower()
            )
            codes = {c for f in trial_cancer_facts(trial.parsed) for c in f.codes}
            for code in codes:
                if tree.get(code) is not None:
                    own.setdefault(code, []).append(i)
            if trial.any_solid_tumor or trial.any_malignancy:
                generic.add(i)
            phase.append(max((PHASE_RANK.get(p, 0) for p in s.phases), default=-1))
            updated.append(s.last_update.toordinal() if s.last_update else 0)
        return cls(
            haystack=tuple(hay),
            own_codes={k: tuple(v) for k, v in own.items()},
            generic=frozenset(generic),
            max_phase=tuple(phase),
            last_update=tuple(updated),
        )


@dataclass(frozen=True)
class TrialQuery:
    """A navigator search. Empty/None fields do not filter.

    ``codes``: OncoTree codes of the condition (a group alias gives several);
    ``statuses``/``phases``/``study_types``: CT.gov enum values (upper case;
    ``study_types`` may contain ``""`` for records without a study type);
    ``text``: words that must all occur (case-insensitive substrings) in the NCT id,
    titles, conditions, keywords or interventions; ``near`` (lat, lon) in decimal
    degrees with ``max_km``: keep trials with an open site within that many km.
    """

    codes: tuple[str, ...] = ()
    statuses: frozenset[str] | None = None
    phases: frozenset[str] | None = None
    study_types: frozenset[str] | None = None
    text: str | None = None
    near: tuple[float, float] | None = None
    max_km: float | None = None
    include_generic: bool = False


@dataclass(frozen=True, slots=True)
class Hit:
    """One search hit: index position, condition relation, nearest open site."""

    position: int
    trial: IndexedTrial
    relation: Relation
    nearest: SiteDistance | None = None
    sort_key: tuple[object, ...] = field(default=(), compare=False)


def condition_positions(
    data: SearchData, index: TrialIndex, codes: Iterable[str], ontology: Ontology,
    *, include_generic: bool = False,
) -> dict[int, Relation]:
    """Positions of trials related to any of ``codes``, with their best relation."""
    tree = ontology.cancer_types
    rel: dict[int, Relation] = {}
    for code in codes:
        for nct in index.by_code(code):
            pos = index.position(nct)
            if pos is not None:
                rel[pos] = Relation.WITHIN
        for ancestor in tree.ancestors(code):
            for pos in data.own_codes.get(ancestor, ()):
                rel.setdefault(pos, Relation.BROADER)
    if include_generic:
        for pos in data.generic:
            rel.setdefault(pos, Relation.GENERIC)
    return rel


def search(index: TrialIndex, data: SearchData, query: TrialQuery,
           ontology: Ontology) -> list[Hit]:
    """Every trial matching ``query``, sorted (see the module docstring)."""
    if query.codes:
        relations = condition_positions(
            data, index, query.codes, ontology, include_generic=query.include_generic
        )
        positions: Iterable[int] = sorted(relations)
    else:
        relations = {}
        positions = range(len(index))
    words = [w for w in (query.text or "").lower().split() if w]
    hits: list[Hit] = []
    for pos in positions:
        trial = index.at(pos)
        s = trial.summary
        status = (s.overall_status or "").upper()
        if query.statuses is not None and status not in query.statuses:
            continue
        if query.study_types is not None and (s.study_type or "").upper() not in query.study_types:
            continue
        if query.phases is not None and not query.phases.intersection(s.phases):
            continue
        if words and not all(w in data.haystack[pos] for w in words):
            continue
        nearest: SiteDistance | None = None
        if query.near is not None:
            nearest = nearest_site(index.sites_at(pos), query.near[0], query.near[1])
            if query.max_km is not None and (nearest is None or nearest.distance_km > query.max_km):
                continue
        relation = relations.get(pos, Relation.ANY)
        key = (
            int(relation),
            nearest.distance_km if nearest is not None else (0.0 if query.near is None else 1e9),
            STATUS_RANK.get(status, 9),
            -data.max_phase[pos],
            -data.last_update[pos],
            s.nct_id,
        )
        hits.append(Hit(pos, trial, relation, nearest, key))
    hits.sort(key=lambda h: h.sort_key)
    return hits


def answer_trials(
    index: TrialIndex, data: SearchData, codes: tuple[str, ...], ontology: Ontology
) -> list[Hit]:
    """Recruiting treatment trials for an answer page: status ``RECRUITING``, study type
    interventional or unknown (converted records carry none), condition within or
    broader; ``within`` before ``broader``, then latest phase first, then most recently
    updated."""
    return search(
        index,
        data,
        TrialQuery(
            codes=codes,
            statuses=frozenset({"RECRUITING"}),
            study_types=frozenset({"INTERVENTIONAL", ""}),
        ),
        ontology,
    )


@dataclass(frozen=True, slots=True)
class ExpandedAccessHit:
    """An AVAILABLE expanded-access program (see ``schemas.ExpandedAccessProgram``)."""

    nct_id: str
    title: str | None
    source: str  # "record" | "linked"
    linked_from: tuple[str, ...]


def expanded_access(
    index: TrialIndex, data: SearchData, codes: tuple[str, ...], ontology: Ontology
) -> list[ExpandedAccessHit]:
    """AVAILABLE expanded-access programs for the condition, from two sources:

    1. ``EXPANDED_ACCESS`` study records for the condition whose status is
       ``AVAILABLE`` (``NO_LONGER_AVAILABLE``, ``TEMPORARILY_NOT_AVAILABLE`` and
       ``APPROVED_FOR_MARKETING`` are left out);
    2. ``statusModule.expandedAccessInfo`` links of trials for the condition (any
       status) with ``hasExpandedAccess`` and ``statusForNctId == AVAILABLE``.

    A program found both ways is listed once (``source="record"``, with the linking
    trials in ``linked_from``). A link whose program record is in the index with
    another status is dropped (the record is the fresher word). Records first, then
    links; each by NCT id.
    """
    relations = condition_positions(data, index, codes, ontology)
    records: dict[str, str] = {}
    links: dict[str, list[str]] = {}
    for pos in sorted(relations):
        s = index.at(pos).summary
        if (s.study_type or "").upper() == "EXPANDED_ACCESS":
            if (s.overall_status or "").upper() == "AVAILABLE":
                records[s.nct_id] = s.title or s.official_title or ""
            continue
        ea = s.expanded_access
        if (
            ea is not None
            and ea.has_expanded_access
            and ea.nct_id
            and (ea.status or "").upper() == "AVAILABLE"
        ):
            links.setdefault(ea.nct_id, []).append(s.nct_id)
    out = [
        ExpandedAccessHit(nct, title, "record", tuple(sorted(links.get(nct, ()))))
        for nct, title in sorted(records.items())
    ]
    for nct, via in sorted(links.items()):
        if nct in records:
            continue
        known = index.get(nct)
        if known is not None and (known.summary.overall_status or "").upper() != "AVAILABLE":
            continue  # the program's own record is newer than the link: not available
        title = (known.summary.title or None) if known is not None else None
        out.append(ExpandedAccessHit(nct, title, "linked", tuple(sorted(via))))
    return out


def not_ruled_out(
    index: TrialIndex, hits: Sequence[Hit], code: str, biomarkers: Mapping[str, str],
    ontology: Ontology, today: date,
) -> list[Hit]:
    """The hits a patient with cancer ``code`` and these ``biomarkers`` (a profile's
    ``biomarkers``, e.g. ``{"HER2": "low"}``) is not ineligible for, by the matcher's
    own evaluation of each trial (HER2-positive-only trials are dropped for HER2-low;
    what the qualifiers do not say stays unknown and keeps a trial). Raises
    ``PatientProfileError`` if ``code`` does not resolve."""
    patient = normalize_patient(
        PatientProfile(cancer_type=code, biomarkers=dict(biomarkers)), ontology)
    return [h for h in hits
            if evaluate_prepared(index.prepared_at(h.position), patient, ontology, today,
                                 full=False).verdict is not Verdict.INELIGIBLE]

"""What changed for one member since the previous completed run (pure functions).

:func:`member_diff` compares a member's matches in two runs, given the trial states
(:class:`~service.cohorts.models.TrialState`) of the two index generations and a way
to ask the current verdict of one trial for this member. Rules, per NCT ID:

* matched now, not before → ``new_match``; reason ``new_member`` (member absent from
  the previous run), ``new_trial`` (not in the previous generation),
  ``trial_reopened`` (was not open), ``trial_updated`` (record fingerprint changed),
  else ``criteria_now_met``;
* matched before, not now → ``lost_match``; reason ``trial_removed`` (not in the
  current generation), ``trial_closed`` (open before, not now), ``trial_updated`` (record
  changed and the verdict is now ineligible), ``criteria_not_met`` (same record, now
  ineligible), else ``ranked_out`` (still a fit, below the cohort's limit);
* matched in both with another verdict → ``verdict_changed``;
* matched in both, overall status or site list changed → ``trial_changed`` with
  ``changes`` ⊆ {``status``, ``sites``}.

A member whose result is an error in either run gets no entries (nothing to compare).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

import orjson

from matchers.index import OPEN_STATUSES
from matchers.models import IndexedTrial
from service.cohorts.models import (
    CompactMatch,
    DiffEntry,
    DiffKind,
    DiffReason,
    MemberResult,
    TrialState,
)

VerdictOf = Callable[[str], str | None]
"""``nct_id -> verdict`` of the current trial for the member (None: not in the index)."""


def _fingerprint(data: object) -> str:
    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:16]


def trial_state(trial: IndexedTrial) -> TrialState:
    """The diff-relevant state of an indexed trial. The content fingerprint covers the
    summary without ``overall_status``, ``sites`` and ``last_update`` (which changes on
    any edit) plus the parsed criteria, so a re-parse by a new parser counts as an
    update too."""
    s = trial.summary
    content = s.model_dump(mode="json", exclude={"overall_status", "sites", "last_update"})
    parsed = trial.parsed.model_dump(mode="json")
    sites = sorted(
        [x.facility or "", x.city or "", x.state or "", x.zip or "", x.country or "",
         x.status or ""]
        for x in s.sites
    )
    status = (s.overall_status or "").upper() or None
    return TrialState(
        nct_id=s.nct_id,
        status=status,
        open=status in OPEN_STATUSES,
        content=_fingerprint([content, parsed]),
        sites=_fingerprint(sites),
        open_sites=sum(1 for x in s.sites if (x.status or "").upper() in OPEN_STATUSES),
    )


def member_diff(
    *,
    previous: MemberResult | None,
    current: MemberResult,
    previous_trials: Mapping[str, TrialState],
    current_trials: Mapping[str, TrialState],
    verdict_of: VerdictOf,
) -> list[DiffEntry]:
    """The member's diff entries, ordered by kind then NCT ID (module docstring)."""
    member = current.member_id
    if current.error or (previous is not None and previous.error):
        return []
    now: dict[str, CompactMatch] = {m.nct_id: m for m in current.matches}
    out: list[DiffEntry] = []
    if previous is None:
        return [
            DiffEntry(member_id=member, kind=DiffKind.NEW_MATCH, nct_id=n,
                      reason=DiffReason.NEW_MEMBER, after=m.verdict,
                      status_after=m.overall_status)
            for n, m in sorted(now.items())
        ]
    before: dict[str, CompactMatch] = {m.nct_id: m for m in previous.matches}

    for nct in sorted(now.keys() - before.keys()):
        old, cur = previous_trials.get(nct), current_trials.get(nct)
        if old is None:
            reason = DiffReason.NEW_TRIAL
        elif not old.open and (cur is None or cur.open):
            reason = DiffReason.TRIAL_REOPENED
        elif cur is not None and cur.content != old.content:
            reason = DiffReason.TRIAL_UPDATED
        else:
            reason = DiffReason.CRITERIA_NOW_MET
        out.append(DiffEntry(
            member_id=member, kind=DiffKind.NEW_MATCH, nct_id=nct, reason=reason,
            after=now[nct].verdict, status_before=old.status if old else None,
            status_after=now[nct].overall_status,
        ))

    for nct in sorted(before.keys() - now.keys()):
        old, cur = previous_trials.get(nct), current_trials.get(nct)
        verdict: str | None = None
        if cur is None:
            reason = DiffReason.TRIAL_REMOVED
        elif not cur.open and (old is None or old.open):
            reason = DiffReason.TRIAL_CLOSED
        else:
            verdict = verdict_of(nct)
            updated = old is not None and cur.content != old.content
            if verdict is None or verdict == "ineligible":
                reason = DiffReason.TRIAL_UPDATED if updated else DiffReason.CRITERIA_NOT_MET
            else:
                reason = DiffReason.RANKED_OUT
        out.append(DiffEntry(
            member_id=member, kind=DiffKind.LOST_MATCH, nct_id=nct, reason=reason,
            before=before[nct].verdict, after=verdict,
            status_before=before[nct].overall_status,
            status_after=cur.status if cur else None,
        ))

    for nct in sorted(now.keys() & before.keys()):
        a, b = before[nct], now[nct]
        if a.verdict != b.verdict:
            out.append(DiffEntry(
                member_id=member, kind=DiffKind.VERDICT_CHANGED, nct_id=nct,
                before=a.verdict, after=b.verdict, status_before=a.overall_status,
                status_after=b.overall_status,
            ))
        old, cur = previous_trials.get(nct), current_trials.get(nct)
        if old is None or cur is None:
            continue
        changes: list[str] = []
        if old.status != cur.status:
            changes.append("status")
        if old.sites != cur.sites:
            changes.append("sites")
        if changes:
            out.append(DiffEntry.model_validate({
                "member_id": member, "kind": DiffKind.TRIAL_CHANGED, "nct_id": nct,
                "changes": changes, "status_before": old.status, "status_after": cur.status,
            }))
    return out

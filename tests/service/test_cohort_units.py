"""Pure parts of cohorts: opaque ids, encryption and rotation, cron parsing, webhook
signatures, and the diff rules (no Redis, no index)."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr, ValidationError

from service.cohorts.crypto import ProfileCipher, generate_key
from service.cohorts.diff import member_diff
from service.cohorts.errors import CohortKeyInvalid, CohortKeyMissing
from service.cohorts.ids import check_opaque_id
from service.cohorts.jobs import parse_cron
from service.cohorts.models import (
    CohortPut,
    CompactMatch,
    DiffKind,
    DiffReason,
    MemberResult,
    TrialState,
)
from service.cohorts.webhook import sign, verify_signature


@pytest.mark.parametrize("good", ["p1", "m-0001", "c7-0042", "a3f9c2e1b7d04e55", "site2:17"])
def test_opaque_ids_accepted(good: str) -> None:
    assert check_opaque_id(good) == good


@pytest.mark.parametrize(
    ("bad", "rule"),
    [
        ("Jane Doe", "characters"),
        ("jane.doe", "no digit"),
        ("JaneDoe", "no digit"),
        ("jane@example.org", "e-mail"),
        ("12345678", "record"),
        ("MRN-004512", "record"),
        ("123-45-6789", "record"),
        ("p-1961-04-12", "date"),
        ("x19610412", "date"),
        ("pt_12.04.61", "date"),
        ("", "characters"),
    ],
)
def test_identifying_ids_rejected_with_the_rule(bad: str, rule: str) -> None:
    with pytest.raises(ValueError, match=rule) as info:
        check_opaque_id(bad)
    if bad:
        assert bad not in str(info.value)  # the message never echoes the id


def test_cohort_body_rejects_duplicate_and_identifying_member_ids() -> None:
    member = {"patient": {"cancer_type": "NSCLC"}}
    with pytest.raises(ValidationError, match="repeats"):
        CohortPut.model_validate({"members": [{"id": "m1", **member}, {"id": "m1", **member}]})
    with pytest.raises(ValidationError, match="no digit"):
        CohortPut.model_validate({"members": [{"id": "smith", **member}]})


def test_cipher_encrypts_and_rotates_between_keys() -> None:
    old, new = generate_key(), generate_key()
    before = ProfileCipher.from_setting(SecretStr(old))
    token = before.encrypt(b'{"cancer_type": "NSCLC"}')
    assert b"NSCLC" not in token
    both = ProfileCipher.from_setting(SecretStr(f"{new}, {old}"))
    assert both.decrypt(token) == b'{"cancer_type": "NSCLC"}'
    rotated = both.rotate(token)
    only_new = ProfileCipher.from_setting(SecretStr(new))
    assert only_new.decrypt(rotated) == b'{"cancer_type": "NSCLC"}'
    with pytest.raises(CohortKeyInvalid):
        only_new.decrypt(token)  # the old token needs the old key
    Fernet(new.encode()).decrypt(rotated)  # rotated token is the new key's


def test_cipher_needs_a_valid_key() -> None:
    with pytest.raises(CohortKeyMissing):
        ProfileCipher.from_setting(None)
    with pytest.raises(CohortKeyMissing):
        ProfileCipher.from_setting(SecretStr(" , "))
    with pytest.raises(ValueError, match="key #2"):
        ProfileCipher.from_setting(SecretStr(f"{generate_key()},not-a-key"))


def test_parse_cron() -> None:
    assert parse_cron("0 2 * * *") == {"minute": {0}, "hour": {2}, "day": None,
                                       "month": None, "weekday": None}
    assert parse_cron("*/15 1-3 * * 0,6")["minute"] == {0, 15, 30, 45}
    assert parse_cron("*/15 1-3 * * 0,6")["hour"] == {1, 2, 3}
    assert parse_cron("*/15 1-3 * * 0,6")["weekday"] == {0, 6}
    with pytest.raises(ValueError, match="5 fields"):
        parse_cron("0 2 * *")
    with pytest.raises(ValueError, match="hour"):
        parse_cron("0 24 * * *")
    with pytest.raises(ValueError, match="minute"):
        parse_cron("x 2 * * *")


def test_webhook_signature_round_trip() -> None:
    body = b'{"event": "run.finished"}'
    header = sign("s" * 20, body, 1_700_000_000)
    assert verify_signature("s" * 20, body, header, now=1_700_000_010)
    assert not verify_signature("t" * 20, body, header, now=1_700_000_010)
    assert not verify_signature("s" * 20, body + b" ", header, now=1_700_000_010)
    assert not verify_signature("s" * 20, body, header, now=1_700_009_999)  # too old
    assert not verify_signature("s" * 20, body, "garbage")


def _state(nct: str, *, status: str = "RECRUITING", content: str = "c1",
           sites: str = "s1") -> TrialState:
    return TrialState(nct_id=nct, status=status, open=status in {"RECRUITING", "AVAILABLE"},
                      content=content, sites=sites, open_sites=1)


def _result(*matches: tuple[str, str], member: str = "m1") -> MemberResult:
    return MemberResult(member_id=member, total=10, matches=[
        CompactMatch(nct_id=n, verdict=v, score=0.5, overall_status="RECRUITING")  # type: ignore[arg-type]
        for n, v in matches])


def test_member_diff_rules() -> None:
    prev_trials = {n: _state(n) for n in ("NCT00000001", "NCT00000002", "NCT00000003",
                                          "NCT00000004", "NCT00000005", "NCT00000006")}
    cur_trials = dict(prev_trials)
    cur_trials["NCT00000001"] = _state("NCT00000001", status="COMPLETED")  # closed
    del cur_trials["NCT00000002"]  # removed from the index
    cur_trials["NCT00000003"] = _state("NCT00000003", content="c2")  # updated
    cur_trials["NCT00000005"] = _state("NCT00000005", sites="s2")  # sites changed
    cur_trials["NCT00000009"] = _state("NCT00000009")  # new trial
    previous = _result(("NCT00000001", "eligible"), ("NCT00000002", "eligible"),
                       ("NCT00000003", "possibly_eligible"), ("NCT00000004", "eligible"),
                       ("NCT00000005", "eligible"), ("NCT00000006", "eligible"))
    current = _result(("NCT00000005", "eligible"), ("NCT00000006", "possibly_eligible"),
                      ("NCT00000009", "eligible"))
    verdicts = {"NCT00000003": "ineligible", "NCT00000004": "eligible"}
    entries = member_diff(previous=previous, current=current, previous_trials=prev_trials,
                          current_trials=cur_trials, verdict_of=verdicts.get)
    got = {(e.kind, e.nct_id, e.reason, tuple(e.changes)) for e in entries}
    assert got == {
        (DiffKind.NEW_MATCH, "NCT00000009", DiffReason.NEW_TRIAL, ()),
        (DiffKind.LOST_MATCH, "NCT00000001", DiffReason.TRIAL_CLOSED, ()),
        (DiffKind.LOST_MATCH, "NCT00000002", DiffReason.TRIAL_REMOVED, ()),
        (DiffKind.LOST_MATCH, "NCT00000003", DiffReason.TRIAL_UPDATED, ()),
        (DiffKind.LOST_MATCH, "NCT00000004", DiffReason.RANKED_OUT, ()),
        (DiffKind.TRIAL_CHANGED, "NCT00000005", None, ("sites",)),
        (DiffKind.VERDICT_CHANGED, "NCT00000006", None, ()),
    }
    assert len(entries) == len(got)
    # same record, now ineligible: the criteria (or the member) changed
    again = member_diff(previous=_result(("NCT00000004", "eligible")), current=_result(),
                        previous_trials=prev_trials, current_trials=cur_trials,
                        verdict_of=lambda n: "ineligible")
    assert [(e.kind, e.reason) for e in again] == [(DiffKind.LOST_MATCH,
                                                    DiffReason.CRITERIA_NOT_MET)]


def test_member_diff_new_member_and_errors() -> None:
    entries = member_diff(previous=None, current=_result(("NCT00000001", "eligible")),
                          previous_trials={}, current_trials={}, verdict_of=lambda n: None)
    assert [(e.kind, e.reason) for e in entries] == [(DiffKind.NEW_MATCH, DiffReason.NEW_MEMBER)]
    failed = MemberResult(member_id="m1", error="invalid patient: cancer_type")
    assert member_diff(previous=_result(("NCT00000001", "eligible")), current=failed,
                       previous_trials={}, current_trials={}, verdict_of=lambda n: None) == []

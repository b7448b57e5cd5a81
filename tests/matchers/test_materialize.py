"""The page's fast result constructor builds what ``model_construct`` builds."""

from __future__ import annotations

from matchers.evaluate import _construct_result
from matchers.models import CriterionKind, CriterionResult, CriterionStatus


def test_construct_result_equals_model_construct() -> None:
    rows = [
        dict(text="ECOG 0-1", kind=CriterionKind.INCLUSION, status=CriterionStatus.MET,
             reason="Meets \"ECOG 0-1\": ECOG 1.", span=(3, 11), category="performance_status",
             question=None, key=False),
        dict(text="No brain metastases", kind=CriterionKind.EXCLUSION,
             status=CriterionStatus.UNKNOWN, reason="Cannot decide.", span=(0, 19),
             category=None, question="brain metastases?", key=True),
    ]
    for values in rows:
        fast = _construct_result(dict(values))
        slow = CriterionResult.model_construct(**values)
        assert fast == slow
        assert fast.model_dump() == slow.model_dump()
        assert fast.model_dump_json() == slow.model_dump_json()
        assert fast.model_fields_set == slow.model_fields_set
        assert hash(fast) == hash(slow)
        assert CriterionResult.model_validate(fast.model_dump()) == fast

"""Errors of the FHIR adapter.

::

    FhirError                  base; ``status_code`` and an OperationOutcome ``code``
     ├── InvalidBundle         422: the input is not valid FHIR R4 (names the element)
     ├── NotMappable           422: valid FHIR, but no patient profile can be built
     │                          (no primary cancer condition, a code resolving to nothing)
     └── InvalidFhirRequest    400: the request envelope is wrong (no ``patientData``,
                                not a Bundle)

Each carries ``issues``: ``(expression, message)`` pairs, where ``expression`` is a
FHIRPath-like element path (``Bundle.entry[2].resource.valueQuantity.value``). The
service renders them as an OperationOutcome (:func:`service.fhir.outcome.operation_outcome`)
and maps the classes to HTTP in ``service/errors.py``. Messages never quote the value
that was sent (it is health data), only the element and what is expected.
"""

from __future__ import annotations

from collections.abc import Sequence


class FhirError(Exception):
    """Base of the adapter's errors. ``issue_code`` is the OperationOutcome issue type
    (``invalid``, ``structure``, ``required``, ``not-supported``, ``processing``)."""

    status_code = 422
    issue_code = "invalid"

    def __init__(self, message: str, issues: Sequence[tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.issues = list(issues) or [("Bundle", message)]


class InvalidBundle(FhirError):
    """The Bundle (or one of its resources) does not validate against the FHIR R4
    models (``fhir.resources``, R4B)."""

    issue_code = "structure"


class NotMappable(FhirError):
    """A valid Bundle that cannot become a patient profile (e.g. no cancer diagnosis)."""

    issue_code = "required"


class InvalidFhirRequest(FhirError):
    """The request envelope is wrong (``{"patientData": <Bundle>}`` expected)."""

    status_code = 400
    issue_code = "invalid"

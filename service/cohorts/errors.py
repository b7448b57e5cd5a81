"""Errors of the cohorts feature. All are :class:`service.errors.ServiceError`
subclasses, so :mod:`service.errors` maps them to HTTP (status and ``error`` code
below) with the rest of the service's errors.

* :class:`CohortNotFound` 404 ``cohort_not_found``; :class:`RunNotFound` 404
  ``run_not_found``;
* :class:`RunInProgress` 409 ``run_in_progress`` — one run per cohort at a time;
* :class:`CohortKeyMissing` 503 ``cohort_key_missing`` — no ``TRIALMATCH_COHORT_KEYS``;
* :class:`CohortKeyInvalid` 500 ``cohort_key_invalid`` — stored data that no configured
  key decrypts (a key was dropped before ``trialmatch batch rotate-keys``).
"""

from __future__ import annotations

from service.errors import ServiceError


class CohortNotFound(ServiceError):
    status_code = 404
    code = "cohort_not_found"

    def __init__(self, cohort_id: str) -> None:
        super().__init__(
            f"No cohort {cohort_id!r}; register it with PUT /v1/cohorts/{cohort_id}."
        )


class RunNotFound(ServiceError):
    status_code = 404
    code = "run_not_found"

    def __init__(self, cohort_id: str, run_id: str) -> None:
        super().__init__(
            f"No run {run_id!r} of cohort {cohort_id!r}: the id is wrong or the run was "
            "pruned (TRIALMATCH_BATCH_RUN_RETENTION); list runs with "
            f"GET /v1/cohorts/{cohort_id}/runs."
        )


class RunInProgress(ServiceError):
    status_code = 409
    code = "run_in_progress"

    def __init__(self, cohort_id: str, run_id: str) -> None:
        super().__init__(
            f"Cohort {cohort_id!r} has a run in progress ({run_id}); wait for it to "
            f"finish (GET /v1/cohorts/{cohort_id}/runs/{run_id})."
        )
        self.run_id = run_id


class CohortKeyMissing(ServiceError):
    status_code = 503
    code = "cohort_key_missing"

    def __init__(self) -> None:
        super().__init__(
            "Cohorts are stored encrypted and no key is configured: set "
            "TRIALMATCH_COHORT_KEYS to a key from `trialmatch batch keygen` (API and "
            "workers) and restart."
        )


class CohortKeyInvalid(ServiceError):
    status_code = 500
    code = "cohort_key_invalid"

    def __init__(self) -> None:
        super().__init__(
            "Stored cohort data cannot be decrypted with the configured "
            "TRIALMATCH_COHORT_KEYS (was a key removed before `trialmatch batch "
            "rotate-keys`?)."
        )

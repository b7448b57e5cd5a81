"""The FHIR adapter (an I/O adapter of the service, like the HTTP routes).

* :mod:`service.fhir.mcode` — mCODE STU3 patient Bundle → ``PatientProfile`` (validated
  with ``fhir.resources``; every mapping documented with its element path and code
  system; unmapped elements reported with their paths);
* :mod:`service.fhir.bundle` — ``PatientProfile`` → mCODE Bundle (examples, round trips);
* :mod:`service.fhir.research_study` — trials as R4 ResearchStudy, searchset Bundles,
  CapabilityStatement, OperationOutcome;
* :mod:`service.fhir.routes` — ``POST /getClinicalTrial``, ``POST
  /fhir/ResearchStudy/$match``, ``GET /fhir/ResearchStudy/{nct_id}``, ``GET
  /fhir/metadata``, ``POST /v1/patients/from-fhir``;
* :mod:`service.fhir.vocab` / :mod:`service.fhir.build` — code systems and code tables
  (``data/mcode_codes.json`` is built from the shared mCODE vocabularies);
* :mod:`service.fhir.errors` — the adapter's error tree (mapped in ``service/errors.py``).
"""

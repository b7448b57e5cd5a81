"""Cohorts that persist, and their scheduled, sharded, diffed runs.

Modules by concern (arq's style):

* :mod:`~service.cohorts.ids` — the opaque-token rule for cohort and member ids;
* :mod:`~service.cohorts.crypto` — Fernet encryption of profiles and results at rest;
* :mod:`~service.cohorts.keys` — the Redis key layout (every key under the namespace);
* :mod:`~service.cohorts.models` — stored records and API shapes;
* :mod:`~service.cohorts.store` — :class:`CohortStore`: cohorts, runs, shards, results;
* :mod:`~service.cohorts.diff` — what changed for a member since the previous run (pure);
* :mod:`~service.cohorts.jobs` — the arq jobs (``match_shard``, ``finish_run``, the
  nightly cron) and :func:`start_run`;
* :mod:`~service.cohorts.webhook` — the HMAC-signed run summary (counts only);
* :mod:`~service.cohorts.routes` — ``/v1/cohorts/...``; :mod:`~service.cohorts.cli` —
  ``trialmatch batch ...``.

Life of a run: :func:`~service.cohorts.jobs.start_run` snapshots the cohort's encrypted
profiles, splits the member ids into shards of ``TRIALMATCH_BATCH_SHARD_SIZE`` and
enqueues one ``match_shard`` arq job per shard (job id ``{ns}:shard:{run}:{n}``, so a
shard is queued once). Any worker takes a shard, matches its members against its
index, computes each member's diff against the previous completed run and commits
results, diffs and counts in one Lua call that is a no-op if the shard was already
committed (a retried shard never counts twice). The worker that commits the last shard
enqueues ``finish_run`` (job id ``{ns}:finish:{run}``), which closes the run record,
prunes old runs and sends the webhook.
"""

"""Redis key layout of cohorts and runs (all under the namespace ``{ns}``).

Values marked *token* are Fernet tokens (:mod:`service.cohorts.crypto`); everything
else holds no patient data (opaque ids, counts, states, trial facts). No key has a TTL
except ``ACTIVE``; runs are deleted by retention (``TRIALMATCH_BATCH_RUN_RETENTION``)
or with their cohort.
"""

from __future__ import annotations

from dataclasses import dataclass

COHORTS = "cohorts"
"""``{ns}:cohorts`` SET of registered cohort ids."""

COHORT = "cohort"
"""``{ns}:cohort:{cid}:meta`` STRING CohortMeta JSON (webhook inside as a token);
``{ns}:cohort:{cid}:members`` HASH member id -> token(PatientProfile JSON);
``{ns}:cohort:{cid}:runs`` ZSET run id scored by creation time (ms since the epoch);
``{ns}:cohort:{cid}:active`` STRING id of the run in progress, TTL ``ACTIVE_TTL_S``."""

ACTIVE_TTL_S = 86_400
"""Lifetime (seconds) of a cohort's run-in-progress marker: a run whose workers all
died for good stops blocking new runs after a day."""

RUN = "run"
"""``{ns}:run:{rid}:meta`` STRING RunRecord JSON (without live shard counts);
``{ns}:run:{rid}:profiles`` HASH member id -> token: the cohort's profiles as the run
started (COPY of the members hash, so a PUT during a run does not change it);
``{ns}:run:{rid}:shard-members`` HASH shard no -> JSON list of member ids;
``{ns}:run:{rid}:shard-state`` HASH shard no -> ``pending|running|done|failed``;
``{ns}:run:{rid}:shard-info`` HASH shard no -> ShardRecord JSON;
``{ns}:run:{rid}:results`` HASH member id -> token(MemberResult JSON);
``{ns}:run:{rid}:diff`` HASH member id -> token(JSON list of DiffEntry);
``{ns}:run:{rid}:counts`` HASH counter -> integer (``matched``, ``failed``, ``diff:{kind}``).
"""

RUNS_ACTIVE = "runs:active"
"""``{ns}:runs:active`` SET of run ids not finished yet (read by ``/metrics``)."""

RUN_STATS = "runs:stats"
"""``{ns}:runs:stats`` HASH of counters for ``/metrics``: ``runs:{status}``,
``shards_failed``, ``duration_sum`` (seconds, float), ``duration_count``,
``duration_le:{bucket}`` (cumulative-ready counts per histogram bucket)."""

GEN_TRIALS = "gen-trials"
"""``{ns}:gen-trials:{g}`` HASH NCT ID -> TrialState JSON of every trial of index
generation ``g`` (what diffs compare); ``{ns}:gen-trials:{g}:ready`` STRING ``1`` once
complete. Deleted when no retained run refers to ``g``."""


@dataclass(frozen=True)
class CohortKeys:
    """Key builder of one namespace (pure string formatting)."""

    namespace: str

    def _k(self, *parts: str | int) -> str:
        return ":".join((self.namespace, *map(str, parts)))

    @property
    def cohorts(self) -> str:
        return self._k(COHORTS)

    def meta(self, cohort_id: str) -> str:
        return self._k(COHORT, cohort_id, "meta")

    def members(self, cohort_id: str) -> str:
        return self._k(COHORT, cohort_id, "members")

    def runs(self, cohort_id: str) -> str:
        return self._k(COHORT, cohort_id, "runs")

    def active(self, cohort_id: str) -> str:
        return self._k(COHORT, cohort_id, "active")

    def run(self, run_id: str, part: str) -> str:
        """``part`` is one of ``meta profiles shard-members shard-state shard-info
        results diff counts``."""
        return self._k(RUN, run_id, part)

    def run_parts(self, run_id: str) -> list[str]:
        return [self.run(run_id, p) for p in (
            "meta", "profiles", "shard-members", "shard-state", "shard-info", "results",
            "diff", "counts")]

    @property
    def runs_active(self) -> str:
        return self._k(RUNS_ACTIVE)

    @property
    def run_stats(self) -> str:
        return self._k(RUN_STATS)

    def gen_trials(self, generation: int) -> str:
        return self._k(GEN_TRIALS, generation)

    def gen_trials_ready(self, generation: int) -> str:
        return self._k(GEN_TRIALS, generation, "ready")

    @property
    def gen_trials_pattern(self) -> str:
        return self._k(GEN_TRIALS, "*")

    def shard_job_id(self, run_id: str, shard: int) -> str:
        """arq job id of a shard: arq's own keys are not namespaced, so ours is."""
        return self._k("shard", run_id, shard)

    def finish_job_id(self, run_id: str) -> str:
        return self._k("finish", run_id)

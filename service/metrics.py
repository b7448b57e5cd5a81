"""``GET /metrics`` (Prometheus text format, ``prometheus-client``).

Series (no label carries patient data, ids or raw paths — routes are labelled by
their *template*, e.g. ``/v1/cohorts/{cohort_id}/runs/{run_id}``, and requests that
match no route by ``<unmatched>``):

==============================================  =========  ================================
name                                            type       labels
==============================================  =========  ================================
``trialmatch_http_requests_total``              counter    method, route, status
``trialmatch_http_request_duration_seconds``    histogram  method, route
``trialmatch_match_duration_seconds``           histogram  (ranking time of /v1/match)
``trialmatch_index_generation``                 gauge      (served generation; -1 none)
``trialmatch_index_trials``                     gauge      (trials in the served index)
``trialmatch_last_sync_age_seconds``            gauge      (since the last sync/import ended)
``trialmatch_batch_shards``                     gauge      state (queued/running/done/failed
                                                           over unfinished runs)
``trialmatch_batch_shards_failed_total``        counter    (shards given up on, ever)
``trialmatch_batch_runs_total``                 counter    status
``trialmatch_batch_run_duration_seconds``       histogram  (finished runs)
``trialmatch_redis_errors_total``               counter    component
==============================================  =========  ================================

Request series live in a registry per app (:class:`Metrics`); the Redis-derived ones are
read when ``/metrics`` is scraped (a few commands), because runs are finished by
workers in other processes and their counters live in Redis
(``{ns}:runs:stats``). ``/metrics`` itself is public, like the health routes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.cohorts.store import RUN_DURATION_BUCKETS
from service.metrics_registry import PROCESS_REGISTRY, redis_error
from trial_cache.errors import TrialCacheError

if TYPE_CHECKING:
    from service.deps import ServiceState

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Request and match latency histogram bounds, seconds."""
UNMATCHED = "<unmatched>"


class _BatchCollector(Collector):
    """Yields the Redis-derived batch series from the last :meth:`Metrics.refresh`."""

    def __init__(self) -> None:
        self.shards: dict[str, int] = {}
        self.stats: dict[str, float] = {}

    def collect(self) -> Iterator[Metric]:
        shards = GaugeMetricFamily("trialmatch_batch_shards",
                                   "Shards of unfinished cohort runs, by state.",
                                   labels=["state"])
        for state, n in sorted(self.shards.items()):
            # a pending shard is one queued for a worker: the label says so
            shards.add_metric(["queued" if state == "pending" else state], n)
        yield shards
        failed = CounterMetricFamily("trialmatch_batch_shards_failed",
                                     "Shards given up on after their last try.")
        failed.add_metric([], self.stats.get("shards_failed", 0.0))
        yield failed
        runs = CounterMetricFamily("trialmatch_batch_runs", "Finished cohort runs, by status.",
                                   labels=["status"])
        for name, count in sorted(self.stats.items()):
            if name.startswith("runs:"):
                runs.add_metric([name.removeprefix("runs:")], count)
        yield runs
        hist = HistogramMetricFamily("trialmatch_batch_run_duration_seconds",
                                     "Wall time of finished cohort runs (queued to finished).")
        buckets: list[tuple[str, float]] = [
            (str(le), self.stats.get(f"duration_le:{le}", 0.0))
            for le in RUN_DURATION_BUCKETS]
        buckets.append(("+Inf", self.stats.get("duration_count", 0.0)))
        hist.add_metric([], buckets, sum_value=self.stats.get("duration_sum", 0.0))
        yield hist


class Metrics:
    """The per-app registry and its series (module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("trialmatch_http_requests", "HTTP requests.",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("trialmatch_http_request_duration_seconds",
                                 "HTTP request latency.", ["method", "route"],
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.match_latency = Histogram("trialmatch_match_duration_seconds",
                                       "Ranking time of one /v1/match request.",
                                       buckets=LATENCY_BUCKETS, registry=self.registry)
        self.generation = Gauge("trialmatch_index_generation",
                                "Store generation of the served index (-1: none).",
                                registry=self.registry)
        self.trials = Gauge("trialmatch_index_trials", "Trials in the served index.",
                            registry=self.registry)
        self.sync_age = Gauge("trialmatch_last_sync_age_seconds",
                              "Seconds since the last sync or import finished (-1: never).",
                              registry=self.registry)
        self._batch = _BatchCollector()
        self.registry.register(self._batch)

    async def refresh(self, state: ServiceState) -> None:
        """Read the index and Redis-derived values (called by ``/metrics``)."""
        current = state.holder.current
        self.generation.set(
            current.generation if current is not None and current.generation is not None
            else -1)
        self.trials.set(len(current) if current is not None else 0)
        if state.store is not None:
            try:
                report = await state.store.last_report()
            except TrialCacheError:
                redis_error("metrics")
                report = None
            self.sync_age.set(
                (datetime.now(UTC) - report.finished_at).total_seconds()
                if report is not None else -1)
        if state.cohorts is not None:
            try:
                self._batch.shards = await state.cohorts.active_shard_counts()
                self._batch.stats = await state.cohorts.run_stats()
            except TrialCacheError:
                pass  # counted by the cohort store

    def render(self) -> bytes:
        return generate_latest(self.registry) + generate_latest(PROCESS_REGISTRY)


class MetricsMiddleware:
    """Counts every HTTP request by method, route template and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def _send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, _send)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = str(scope.get("method", "GET"))
            self.metrics.requests.labels(method=method, route=template,
                                         status=str(status)).inc()
            self.metrics.latency.labels(method=method, route=template).observe(
                time.perf_counter() - start)


router = APIRouter()


@router.get("/metrics", tags=["health"], summary="Prometheus metrics",
            response_class=Response)
async def metrics_endpoint(request: Request) -> Response:
    """The series listed in :mod:`service.metrics`, in Prometheus text format."""
    metrics: Metrics = request.app.state.metrics
    state: Any = getattr(request.app.state, "trialmatch", None)
    if state is not None:
        await metrics.refresh(state)
    return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

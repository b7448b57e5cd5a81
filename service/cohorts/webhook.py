"""The run-finished webhook: a signed summary, counts only.

``POST {url}`` with JSON body::

    {"event": "run.finished", "cohort_id": "...", "run_id": "...", "status": "complete",
     "generation": 12, "members": 1000, "matched": 998, "failed_members": 2,
     "shards": {"total": 5, "done": 5, "failed": 0}, "diff": {"new_match": 14, ...},
     "duration_s": 41.2, "finished_at": "2026-12-03T02:01:41Z"}

No member id, profile or trial list is sent — a receiver that wants the details calls
``GET /v1/cohorts/{id}/runs/{run_id}/diff`` with its API key.

Signature (as Stripe's): header ``X-Trialmatch-Signature: t=<unix seconds>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256 over ``f"{t}.{body}"`` with the cohort's webhook secret;
a receiver recomputes it (:func:`verify_signature`) and rejects old timestamps.

Delivery: up to 3 attempts (1 s, 2 s backoff) on connection errors and 5xx; any other
answer is final. Failures are logged with the URL's host only and never fail the run.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time

import httpx
import orjson

from service.cohorts.models import RunRecord, WebhookConfig

log = logging.getLogger("trialmatch.cohorts.webhook")

SIGNATURE_HEADER = "X-Trialmatch-Signature"
ATTEMPTS = 3


def summary(record: RunRecord) -> dict[str, object]:
    """The webhook body: the run's counts (module docstring)."""
    return {
        "event": "run.finished",
        "cohort_id": record.cohort_id,
        "run_id": record.run_id,
        "status": record.status.value,
        "generation": record.generation,
        "members": record.members,
        "matched": record.matched,
        "failed_members": record.failed_members,
        "shards": {"total": record.shards.total, "done": record.shards.done,
                   "failed": record.shards.failed},
        "diff": dict(sorted(record.diff.items())),
        "duration_s": record.duration_s,
        "finished_at": record.finished_at.isoformat() if record.finished_at else None,
    }


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Trialmatch-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, body: bytes, header: str, *, tolerance_s: int = 300,
                     now: float | None = None) -> bool:
    """Whether ``header`` signs ``body`` with ``secret`` within ``tolerance_s``."""
    try:
        parts = dict(p.split("=", 1) for p in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now if now is not None else time.time()) - timestamp) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


async def send_run_webhook(client: httpx.AsyncClient, hook: WebhookConfig, record: RunRecord,
                           *, timeout_s: float) -> bool:
    """POST the signed summary; True when the receiver answered 2xx."""
    body = orjson.dumps(summary(record))
    host = hook.url.host
    for attempt in range(1, ATTEMPTS + 1):
        headers = {"content-type": "application/json",
                   SIGNATURE_HEADER: sign(hook.secret, body, int(time.time())),
                   "user-agent": "trialmatch-webhook/1"}
        try:
            response = await client.post(str(hook.url), content=body, headers=headers,
                                         timeout=timeout_s)
        except httpx.HTTPError as exc:
            log.warning("webhook to %s, attempt %d: %s", host, attempt, type(exc).__name__)
        else:
            if response.is_success:
                return True
            log.warning("webhook to %s, attempt %d: HTTP %d", host, attempt,
                        response.status_code)
            if response.status_code < 500:
                return False
        if attempt < ATTEMPTS:
            await asyncio.sleep(float(attempt))
    return False

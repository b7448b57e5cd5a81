"""HTTP throughput of ``POST /v1/match`` relative to ``GET /healthz``, same server, same run.

    python -m benchmarks.http_throughput [--requests 400] [--concurrency 8] [--workers 1]

Starts ``trialmatch serve --workers N`` (uvicorn, ``--workers`` processes, each loading
its own index) on 127.0.0.1 at a free port against the configured store (the embedded
Redis by default; the corpus is imported first if nothing is published), waits until
``/readyz`` answers 200 on ten fresh connections per worker in a row (every process
has its index), then sends ``--requests``
``/healthz`` requests and ``--requests`` ``/v1/match`` requests (the benchmark patients
in turn, limit 20) with ``--concurrency`` concurrent connections from this process.
Prints requests/s for each and their ratio; stops the server. The server's rate limits
are lifted (``TRIALMATCH_RATE_LIMIT_PER_KEY`` / ``_PUBLIC`` empty). Loopback only, bounded
counts. Client and server share this machine's cores, so absolute figures are
conservative; the ratio is the comparable figure.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

import httpx

from benchmarks.service_common import PATIENTS, ROOT, ensure_published, percentile
from ontologies import load_ontology
from service.settings import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def run_load(
    client: httpx.AsyncClient, make: Sequence[tuple[str, str, Any]], n: int, concurrency: int
) -> tuple[float, list[float], int]:
    """Send n requests (cycling ``make``) with ``concurrency`` workers; returns
    (requests/s, latencies ms, errors)."""
    it = itertools.islice(itertools.cycle(make), n)
    lock = asyncio.Lock()
    latencies: list[float] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        while True:
            async with lock:
                item = next(it, None)
            if item is None:
                return
            method, path, body = item
            start = time.perf_counter()
            r = await client.request(method, path, json=body)
            latencies.append((time.perf_counter() - start) * 1000)
            if r.status_code != 200:
                errors += 1

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return n / (time.perf_counter() - start), latencies, errors


async def wait_ready(base: str, workers: int) -> None:
    """Until ``/readyz`` is 200 on ``10 * workers`` fresh connections in a row (the
    kernel hands each new connection to any worker process)."""
    fresh = httpx.Limits(max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, limits=fresh, timeout=60) as probe:
        deadline = time.monotonic() + 600
        streak = 0
        while streak < 10 * workers:
            try:
                ok = (await probe.get("/readyz")).status_code == 200
            except httpx.TransportError:
                ok = False
            streak = streak + 1 if ok else 0
            if time.monotonic() > deadline:
                raise SystemExit("server not ready after 600 s")
            if not ok:
                await asyncio.sleep(0.5)


async def bench(base: str, n: int, concurrency: int, workers: int) -> None:
    await wait_ready(base, workers)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=60) as client:
        matches = [("POST", "/v1/match", {"patient": p, "limit": 20}) for p in PATIENTS.values()]
        await run_load(client, [("GET", "/healthz", None)], 50, concurrency)  # warm-up
        await run_load(client, matches, len(matches), concurrency)
        h_rps, h_lat, h_err = await run_load(client, [("GET", "/healthz", None)], n, concurrency)
        m_rps, m_lat, m_err = await run_load(client, matches, n, concurrency)
    print(f"{'endpoint':12} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6}")
    print(f"{'/healthz':12} {n:8d} {h_rps:9.1f} {percentile(h_lat, 50):8.1f} "
          f"{percentile(h_lat, 99):8.1f} {h_err:6d}")
    print(f"{'/v1/match':12} {n:8d} {m_rps:9.1f} {percentile(m_lat, 50):8.1f} "
          f"{percentile(m_lat, 99):8.1f} {m_err:6d}")
    print(f"\n/v1/match throughput = {m_rps / h_rps:.3f} x /healthz "
          f"({workers} server worker(s), concurrency {concurrency}, {os.cpu_count()} cores "
          "shared by client and server)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--workers", type=int, default=1, help="server worker processes")
    args = ap.parse_args()
    settings = Settings()
    asyncio.run(ensure_published(settings, load_ontology()))  # import first if needed
    port = free_port()
    # rate limits lifted: this one loopback client would exceed the per-key 600/minute
    # (counted in Redis, so across back-to-back runs too) and measure 429s
    env = {**os.environ, "TRIALMATCH_LOG_LEVEL": "warning", "TRIALMATCH_RATE_LIMIT_PER_KEY": "",
           "TRIALMATCH_RATE_LIMIT_PUBLIC": ""}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(args.workers)],
        cwd=ROOT, env=env,
    )
    try:
        asyncio.run(
            bench(f"http://127.0.0.1:{port}", args.requests, args.concurrency, args.workers)
        )
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()

"""Sustained concurrent load on a served index: ``/v1/match`` and ``/v1/answer-page``.

    python -m benchmarks.load [--clients 32 64] [--seconds 30]

Starts ``trialmatch serve`` (uvicorn, one process) on 127.0.0.1 at a free port against
the configured store (the embedded Redis by default; the shared corpus is imported
first if nothing is published), waits for ``/readyz``, then for each ``--clients``
count runs that many concurrent clients for ``--seconds`` seconds. Each client loops:
``POST /v1/match`` (the benchmark patients in turn, limit 20), then ``GET
/v1/answer-page`` (a condition in turn; cached per condition and generation, as in
production). Prints per endpoint: requests, throughput (req/s), p50 and p99 latency
(ms), and errors (non-200 answers and transport failures, by kind). Loopback only;
every loop is bounded by the time limit; the server is stopped at the end. Client and
server share the machine's cores, so figures are conservative.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

from benchmarks.http_throughput import free_port
from benchmarks.service_common import PATIENTS, ROOT, ensure_published, percentile
from ontologies import load_ontology
from service.settings import Settings

CONDITIONS = (
    "Desmoid_tumors",
    "pleural mesothelioma",
    "breast cancer",
    "non-small cell lung cancer",
    "melanoma",
    "glioblastoma",
    "acute myeloid leukemia",
    "multiple myeloma",
)


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def add(self, ms: float, outcome: str | None) -> None:
        self.latencies_ms.append(ms)
        if outcome is not None:
            self.errors[outcome] += 1


async def client_loop(
    client: httpx.AsyncClient, until: float, offset: int, match: Tally, answer: Tally
) -> None:
    patients = itertools.islice(itertools.cycle(PATIENTS.values()), offset, None)
    conditions = itertools.islice(itertools.cycle(CONDITIONS), offset, None)
    while time.monotonic() < until:
        for tally, method, path, kwargs in (
            (match, "POST", "/v1/match", {"json": {"patient": next(patients), "limit": 20}}),
            (answer, "GET", "/v1/answer-page", {"params": {"condition": next(conditions)}}),
        ):
            start = time.perf_counter()
            try:
                r = await client.request(method, path, **kwargs)
                outcome = None if r.status_code == 200 else f"HTTP {r.status_code}"
            except httpx.TransportError as exc:
                outcome = type(exc).__name__
            tally.add((time.perf_counter() - start) * 1000, outcome)


async def run(base: str, clients: int, seconds: float) -> None:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=120) as client:
        match, answer = Tally(), Tally()
        started = time.monotonic()
        await asyncio.gather(
            *(client_loop(client, started + seconds, i, match, answer) for i in range(clients))
        )
        elapsed = time.monotonic() - started
    print(f"\n{clients} concurrent clients for {elapsed:.1f} s")
    print(f"{'endpoint':16} {'requests':>8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8}  errors")
    for name, tally in (("/v1/match", match), ("/v1/answer-page", answer)):
        lat = tally.latencies_ms
        errors = ", ".join(f"{k}: {v}" for k, v in tally.errors.most_common()) or "0"
        print(f"{name:16} {len(lat):8d} {len(lat) / elapsed:8.1f} {percentile(lat, 50):8.1f} "
              f"{percentile(lat, 99):8.1f}  {errors}")


async def wait_ready(base: str) -> int:
    async with httpx.AsyncClient(base_url=base, timeout=10) as client:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                r = await client.get("/readyz")
                if r.status_code == 200:
                    trials: int = r.json()["index"]["trials"]
                    return trials
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.5)
    raise SystemExit("server not ready after 600 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--clients", type=int, nargs="+", default=[32, 64])
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    settings = Settings()
    asyncio.run(ensure_published(settings, load_ontology()))  # import first if needed
    port = free_port()
    env = {**os.environ, "TRIALMATCH_LOG_LEVEL": "warning"}
    server = subprocess.Popen(
        [sys.executable, "-m", "service.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        trials = asyncio.run(wait_ready(base))
        print(f"serving {trials:,} trials; {os.cpu_count()} cores shared by client and server")
        for clients in args.clients:
            asyncio.run(run(base, clients, args.seconds))
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


if __name__ == "__main__":
    main()

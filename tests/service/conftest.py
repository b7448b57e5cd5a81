"""Fixtures for the service tests.

* ``small_loaded`` — a real index: a handful of corpus studies (mesothelioma, desmoid,
  HER2/HR breast, trials with expanded-access links) plus the synthetic
  expanded-access fixture (``data/expanded_access.jsonl``), validated by
  ``trial_cache``, parsed by the real parser and indexed by ``matchers``.
* ``client`` — a ``TestClient`` over ``create_app(state=...)`` serving that index
  without Redis.
* ``real_redis`` — the Redis on 127.0.0.1:6379 (db 15), with a fresh key namespace per
  test, cleaned up afterwards. Its absence fails the test (``.ci/run`` starts Redis).
* ``real_cache`` — a trial cache in ``real_redis``'s namespace (settings and store) that
  imports lists of raw studies with the real parser and the ontology's index codes.
"""

from __future__ import annotations

import gzip
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from redis.asyncio import Redis

from matchers.index import index_trial
from matchers.settings import MatcherSettings
from service.app import create_app, new_answer_cache
from service.deps import ServiceState
from service.engine import (
    IndexHolder,
    LoadedIndex,
    build_loaded_index,
    index_codes_for,
    make_parser,
)
from service.settings import Settings
from trial_cache.importer import import_dump
from trial_cache.models import StudyRecord, validate_record
from trial_cache.settings import TrialCacheSettings
from trial_cache.state import SyncReport
from trial_cache.store import TrialStore

DATA = Path(__file__).parent / "data"
EA_FIXTURE = DATA / "expanded_access.jsonl"
REDIS_URL = "redis://127.0.0.1:6379/15"

CORPUS_IDS = (
    # pleural mesothelioma (converted records; none recruiting in the corpus)
    "NCT00700336",
    "NCT01211275",
    "NCT02639767",
    # desmoid-type fibromatosis
    "NCT02066181",
    # breast: HR+/HER2- after CDK4/6i, HER2-low, HER2-expressing, HER2+
    "NCT04862663",
    "NCT06380751",
    "NCT06131424",
    "NCT04482309",
    "NCT06038539",
    # expanded-access links: AVAILABLE (leukemia, NSCLC) and APPROVED_FOR_MARKETING (NSCLC)
    "NCT05326516",
    "NCT06140836",
    "NCT04613596",
)


def read_corpus(corpus: Path, ids: tuple[str, ...]) -> list[dict[str, Any]]:
    """The raw studies with these NCT ids from the shared corpus, in ``ids`` order."""
    wanted = set(ids)
    found: dict[str, dict[str, Any]] = {}
    with gzip.open(corpus, "rb") as fh:
        for line in fh:
            if not any(i.encode() in line[:200] for i in wanted):
                continue
            raw = orjson.loads(line)
            nct = raw["protocolSection"]["identificationModule"]["nctId"]
            if nct in wanted:
                found[nct] = raw
    missing = wanted - set(found)
    assert not missing, f"corpus lacks {sorted(missing)}"
    return [found[i] for i in ids]


def read_fixture() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in EA_FIXTURE.read_bytes().splitlines() if line.strip()]


@pytest.fixture(scope="session")
def raw_studies(shared_dir: Path) -> list[dict[str, Any]]:
    return read_corpus(shared_dir / "data" / "ctgov" / "studies.jsonl.gz", CORPUS_IDS) + (
        read_fixture()
    )


@pytest.fixture(scope="session")
def parser(ontology: Any) -> Any:
    """The real eligibility parser (spaCy + scispaCy + medspacy), built once."""
    return make_parser(ontology, MatcherSettings())


@pytest.fixture(scope="session")
def small_loaded(ontology: Any, parser: Any, raw_studies: list[dict[str, Any]]) -> LoadedIndex:
    records = [validate_record(raw, location=f"fixture #{i}") for i, raw in enumerate(raw_studies)]
    bad = [r for r in records if not isinstance(r, StudyRecord)]
    assert not bad, bad
    summaries = [r.summary for r in records if isinstance(r, StudyRecord)]
    parsed = parser.parse_many(summaries)
    trials = [index_trial(s, p, ontology) for s, p in zip(summaries, parsed, strict=True)]
    return build_loaded_index(trials, ontology, generation=7, parser_version=parser.version)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        cache=TrialCacheSettings(
            redis_url=None,
            redis_db_path=tmp_path / "unused.rdb",
            redis_namespace=f"tmtest-{uuid.uuid4().hex[:8]}",
        ),
        answer_page_ttl_s=60,
        cors_origins=[],
    )


@pytest.fixture
def state(settings: Settings, ontology: Any, small_loaded: LoadedIndex) -> ServiceState:
    return ServiceState(
        settings=settings,
        ontology=ontology,
        holder=IndexHolder(small_loaded),
        answer_cache=new_answer_cache(settings),
    )


@pytest.fixture
def client(state: ServiceState) -> Iterator[TestClient]:
    with TestClient(create_app(state=state), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture
async def real_redis() -> AsyncIterator[tuple[Redis, str]]:
    """(client, namespace) on 127.0.0.1:6379 db 15; keys under the namespace are
    deleted afterwards."""
    redis = Redis.from_url(REDIS_URL)
    try:
        await redis.ping()
    except Exception as exc:
        await redis.aclose()
        pytest.fail(f"these tests need Redis on 127.0.0.1:6379 ({exc}); .ci/run starts it")
    namespace = f"tmtest-{uuid.uuid4().hex[:12]}"
    try:
        yield redis, namespace
    finally:
        keys = [k async for k in redis.scan_iter(match=f"{namespace}:*", count=1000)]
        if keys:
            await redis.delete(*keys)
        await redis.aclose()


def write_jsonl(path: Path, studies: list[dict[str, Any]]) -> Path:
    """``studies`` as a .jsonl dump at ``path``."""
    path.write_bytes(b"".join(orjson.dumps(s) + b"\n" for s in studies))
    return path


@dataclass
class RealCache:
    """A trial cache on the real Redis: ``settings`` and ``store`` share the namespace."""

    redis: Redis
    namespace: str
    settings: TrialCacheSettings
    store: TrialStore
    parser: Any
    ontology: Any
    tmp_path: Path

    async def import_studies(
        self, name: str, studies: list[dict[str, Any]], *, prune: bool = False
    ) -> SyncReport:
        """Write ``studies`` to ``tmp_path / name`` and ``import_dump`` it into the store."""
        return await import_dump(
            write_jsonl(self.tmp_path / name, studies),
            store=self.store,
            parser=self.parser,
            index_codes=index_codes_for(self.ontology),
            settings=self.settings,
            prune=prune,
        )


@pytest.fixture
def real_cache(
    tmp_path: Path, real_redis: tuple[Redis, str], parser: Any, ontology: Any
) -> RealCache:
    redis, namespace = real_redis
    return RealCache(
        redis=redis,
        namespace=namespace,
        settings=TrialCacheSettings(redis_url=REDIS_URL, redis_namespace=namespace),
        store=TrialStore(redis, namespace),
        parser=parser,
        ontology=ontology,
        tmp_path=tmp_path,
    )

"""``trialmatch batch ...``: cohorts and runs from the command line.

Commands::

    trialmatch batch keygen                 print a new TRIALMATCH_COHORT_KEYS key
    trialmatch batch put COHORT FILE.json   register/replace ({"members": [...]} or a list)
    trialmatch batch list                   registered cohorts
    trialmatch batch run COHORT             queue a run and follow it (needs workers)
    trialmatch batch run COHORT --local     run it in this process (no worker needed)
    trialmatch batch status COHORT [RUN]    a run's shards and counts (default: the last)
    trialmatch batch diff COHORT [RUN] [--member M] [--kind K] [--json]
    trialmatch batch delete COHORT
    trialmatch batch rotate-keys            re-encrypt everything with the first key

Same settings and Redis as the other commands. Exit codes: 0 success, 1 a reported
error, 2 bad usage.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import Progress
from rich.table import Table

from service.cohorts.models import FINISHED, CohortPut, DiffKind, RunRecord, WebhookConfig
from service.settings import Settings

if TYPE_CHECKING:
    from arq.connections import ArqRedis

    from service.cohorts.store import CohortStore

app = typer.Typer(help="Cohorts and their scheduled runs.", no_args_is_help=True)


def _cli() -> Any:
    from service import cli  # the parent module: settings, console, error handling

    return cli


@asynccontextmanager
async def _open(settings: Settings) -> AsyncIterator[tuple[CohortStore, ArqRedis, Any]]:
    """(cohort store, arq pool, redis) on the configured Redis; closed on exit."""
    from service.batch import arq_pool
    from service.cohorts.crypto import ProfileCipher
    from service.cohorts.errors import CohortKeyMissing
    from service.cohorts.store import CohortStore
    from trial_cache.embedded import open_redis

    redis, close = await open_redis(settings.cache)
    ns = settings.cache.redis_namespace
    try:
        try:
            cipher: ProfileCipher | None = ProfileCipher.from_setting(settings.cohort_keys)
        except CohortKeyMissing:
            cipher = None
        yield CohortStore(redis, ns, cipher), arq_pool(redis, ns), redis
    finally:
        await close()


def _run_table(record: RunRecord) -> Table:
    table = Table(title=f"run {record.run_id} of {record.cohort_id}: {record.status.value}")
    for column in ("members", "matched", "failed", "shards", "done", "failed shards",
                   "pending", "running", "generation", "duration s"):
        table.add_column(column, justify="right")
    table.add_row(
        str(record.members), str(record.matched), str(record.failed_members),
        str(record.shards.total), str(record.shards.done), str(record.shards.failed),
        str(record.shards.pending), str(record.shards.running), str(record.generation),
        f"{record.duration_s:.1f}" if record.duration_s is not None else "")
    return table


def _print_run(record: RunRecord) -> None:
    cli = _cli()
    cli.console.print(_run_table(record))
    if record.diff:
        cli.console.print("diff: " + ", ".join(f"{k} {v}" for k, v in sorted(record.diff.items())))
    elif record.previous_run_id is None and record.status in FINISHED:
        cli.console.print("first run of this cohort: no diff")
    if record.error:
        cli.console.print(f"[yellow]errors:[/] {record.error}")


@app.command()
def keygen() -> None:
    """Print a new Fernet key for TRIALMATCH_COHORT_KEYS (put it first to rotate)."""
    from service.cohorts.crypto import generate_key

    sys.stdout.write(generate_key() + "\n")


@app.command()
def put(
    cohort: Annotated[str, typer.Argument(help="Cohort id (an opaque token).")],
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help='JSON: {"members": [...]} or a list of members.')],
    limit: Annotated[int | None, typer.Option(min=1, max=200)] = None,
    include_closed: Annotated[bool, typer.Option(help="Rank every status.")] = False,
    webhook_url: Annotated[str | None, typer.Option(help="Run-finished webhook URL.")] = None,
    webhook_secret: Annotated[str | None, typer.Option(help="Its HMAC secret.")] = None,
) -> None:
    """Register or replace a cohort (profiles are stored encrypted)."""
    from service.cohorts.ids import check_opaque_id
    from service.errors import validation_body

    cli = _cli()
    settings = cli._settings()
    data = json.loads(file.read_text())
    body: dict[str, Any] = {"members": data} if isinstance(data, list) else dict(data)
    if limit is not None:
        body["limit"] = limit
    if include_closed:
        body["include_closed"] = True
    try:
        check_opaque_id(cohort)
        if webhook_url:
            body["webhook"] = WebhookConfig(url=webhook_url, secret=webhook_secret or "")
        parsed = CohortPut.model_validate(body)
    except ValidationError as exc:
        cli.err.print(f"[bold red]error:[/] {validation_body(exc.errors())['message']}")
        raise typer.Exit(2) from None
    except ValueError as exc:
        cli.err.print(f"[bold red]error:[/] cohort id {exc}")
        raise typer.Exit(2) from None

    async def go() -> Any:
        async with _open(settings) as (store, _, _r):
            return await store.put(cohort, parsed, default_limit=settings.batch_match_limit)

    meta = cli._run(go)
    cli.console.print(f"cohort [bold]{cohort}[/]: {meta.members} members stored (limit "
                      f"{meta.limit})")


@app.command("list")
def list_() -> None:
    """List the registered cohorts."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> list[Any]:
        async with _open(settings) as (store, _, _r):
            return [await store.meta(c) for c in await store.list_ids()]

    table = Table(title="cohorts")
    for column in ("cohort", "members", "limit", "last run", "last finished run"):
        table.add_column(column)
    for m in cli._run(go):
        table.add_row(m.cohort_id, str(m.members), str(m.limit), m.last_run_id or "",
                      m.last_completed_run_id or "")
    cli.console.print(table)


async def _local_run(settings: Settings, store: CohortStore, pool: ArqRedis, redis: Any,
                     cohort: str, bar: Progress) -> RunRecord:
    import httpx

    from ontologies import load_ontology
    from service.batch import BatchQueue
    from service.cohorts.jobs import CohortRuntime, finish_run, match_shard, start_run
    from service.engine import IndexHolder
    from service.worker import WorkerRuntime
    from trial_cache.store import TrialStore

    ns = settings.cache.redis_namespace
    ontology = await asyncio.to_thread(load_ontology)
    trials = TrialStore(redis, ns)
    async with httpx.AsyncClient() as http:
        runtime = WorkerRuntime(
            settings=settings, ontology=ontology, holder=IndexHolder(),
            queue=BatchQueue(pool, ns, settings.batch_result_ttl_s), store=trials,
            cohorts=CohortRuntime(store=store, http=http))
        task = bar.add_task("loading the trial index", total=None)
        loaded = await runtime.index()
        record = await start_run(store, pool, cohort, settings=settings,
                                 generation=loaded.generation, trigger="cli", enqueue=False)
        bar.update(task, description=f"matching {cohort}", total=record.members, completed=0)
        ctx = {"trialmatch": runtime, "job_try": 1, "redis": pool, "local": True}
        for n in range(record.shards.total):
            await match_shard(ctx, record.run_id, n)
            live = await store.run(record.run_id)
            bar.update(task, completed=live.matched + live.failed_members)
        await finish_run(ctx, record.run_id)
    return await store.run(record.run_id)


async def _follow(store: CohortStore, record: RunRecord, bar: Progress) -> RunRecord:
    task = bar.add_task(f"run {record.run_id}", total=record.members)
    while True:
        live = await store.run(record.run_id)
        bar.update(task, completed=live.matched + live.failed_members,
                   description=f"{live.status.value}: shards {live.shards.done}/"
                               f"{live.shards.total} done, {live.shards.failed} failed")
        if live.status in FINISHED:
            return live
        await asyncio.sleep(0.5)


@app.command()
def run(
    cohort: Annotated[str, typer.Argument(help="Cohort id.")],
    local: Annotated[bool, typer.Option(help="Match in this process, not on workers.")] = False,
    wait: Annotated[bool, typer.Option(help="Follow the run until it finishes.")] = True,
) -> None:
    """Run a cohort now against the current index generation, with a progress bar.

    Without ``--local`` the shards are queued for ``trialmatch worker`` processes (the
    command follows them; Ctrl-C stops following, not the run)."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> RunRecord:
        from service.cohorts.jobs import start_run
        from trial_cache.store import TrialStore

        async with _open(settings) as (store, pool, redis):
            with cli._progress() as bar:
                if local:
                    return await _local_run(settings, store, pool, redis, cohort, bar)
                generation = await TrialStore(redis, settings.cache.redis_namespace
                                              ).current_generation()
                record = await start_run(store, pool, cohort, settings=settings,
                                         generation=generation, trigger="cli")
                if not wait:
                    return record
                return await _follow(store, record, bar)

    _print_run(cli._run(go))


@app.command()
def status(
    cohort: Annotated[str, typer.Argument(help="Cohort id.")],
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: the last run).")]
    = None,
) -> None:
    """Show a run: status, shards done / failed / pending, counts."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> RunRecord:
        async with _open(settings) as (store, _, _r):
            rid = run_id or (await store.meta(cohort)).last_run_id
            if rid is None:
                from service.cohorts.errors import RunNotFound

                raise RunNotFound(cohort, "last")
            return await store.run(rid, cohort_id=cohort)

    _print_run(cli._run(go))


@app.command()
def diff(
    cohort: Annotated[str, typer.Argument(help="Cohort id.")],
    run_id: Annotated[str | None, typer.Argument(help="Run id (default: last finished).")]
    = None,
    member: Annotated[list[str] | None, typer.Option(help="Only these members.")] = None,
    kind: Annotated[list[DiffKind] | None, typer.Option(help="Only these kinds.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """What changed in a run since the previous one (as GET .../diff)."""
    from service.cohorts.models import RunDiff

    cli = _cli()
    settings = cli._settings()

    async def go() -> RunDiff:
        from service.cohorts.errors import RunNotFound

        async with _open(settings) as (store, _, _r):
            rid = run_id or (await store.meta(cohort)).last_completed_run_id
            if rid is None:
                raise RunNotFound(cohort, "latest")
            record = await store.run(rid, cohort_id=cohort)
            entries = await store.diff_entries(rid, member)
            if kind:
                entries = [e for e in entries if e.kind in set(kind)]
            return RunDiff(run_id=rid, cohort_id=cohort, previous_run_id=record.previous_run_id,
                           generation=record.generation, counts=record.diff, entries=entries)

    result = cli._run(go)
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"diff of run {result.run_id} (previous {result.previous_run_id})")
    for column in ("member", "kind", "NCT ID", "reason", "before", "after", "changes"):
        table.add_column(column, overflow="fold")
    for e in result.entries:
        table.add_row(e.member_id, e.kind.value, e.nct_id, e.reason.value if e.reason else "",
                      e.before or e.status_before or "", e.after or e.status_after or "",
                      ", ".join(e.changes))
    cli.console.print(table)
    cli.console.print("counts: " + (", ".join(f"{k} {v}" for k, v in sorted(
        result.counts.items())) or "no changes"))


@app.command()
def delete(cohort: Annotated[str, typer.Argument(help="Cohort id.")]) -> None:
    """Delete a cohort with its runs and results."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> int:
        async with _open(settings) as (store, _, _r):
            return await store.delete(cohort)

    runs = cli._run(go)
    cli.console.print(f"cohort {cohort} deleted ({runs} runs)")


@app.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt every stored cohort token with the first TRIALMATCH_COHORT_KEYS key."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> int:
        async with _open(settings) as (store, _, _r):
            return await store.rotate_keys()

    cli.console.print(f"{cli._run(go)} tokens re-encrypted with the first key")

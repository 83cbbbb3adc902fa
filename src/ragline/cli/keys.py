"""``ragline keys create|list|revoke``: API keys of the HTTP server.

A key is shown once, at creation; the store keeps its SHA-256 only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ragline.cli.common import print_json

if TYPE_CHECKING:
    from ragline.store.keys_base import ApiKeyStore

keys_app = typer.Typer(
    help="API keys for `ragline serve`: each has a role (read, ingest, admin) and the "
    "collections it may use. With no key the server runs open on loopback only.",
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
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with the key)."),
) -> None:
    """Create a key and print it — once: it cannot be shown again."""
    store = _store()
    try:
        made = store.create_key(name, role, collection)  # type: ignore[arg-type]
    finally:
        store.close()
    if as_json:
        print_json({**made.key.to_dict(), "key": made.secret})
        return
    typer.echo(made.secret)
    scope = ", ".join(made.key.collections)
    typer.echo(
        f"key {made.key.id} ({made.key.name}): role {made.key.role}, collections {scope}. "
        "Store it now: it is not shown again.",
        err=True,
    )


@keys_app.command("list")
def list_keys(
    all_keys: bool = typer.Option(False, "--all", help="Also revoked keys."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List keys (ids, names, roles, collections — never the keys)."""
    store = _store()
    try:
        keys = store.list_keys(include_revoked=all_keys)
    finally:
        store.close()
    if as_json:
        print_json([k.to_dict() for k in keys])
        return
    if not keys:
        typer.echo("no API keys: `ragline serve` runs open, on loopback only")
        return
    table = Table("id", "name", "role", "collections", "created", "revoked")
    for k in keys:
        table.add_row(
            k.id, k.name, k.role, ", ".join(k.collections), k.created_at, k.revoked_at or ""
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

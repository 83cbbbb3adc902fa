"""``ragline handoff list|show|reply|close``: the human handoff inbox from the terminal.

When a guard (or the router) hands a conversation to a person, the answer says so with the
item's id; the person reads the inbox here (or under ``/api/handoff``, or on the web UI's
Handoff page), replies, and closes the item. The user's client polls for the reply.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from ragline.cli.common import print_json

if TYPE_CHECKING:
    from ragline.store.handoff_base import HandoffItem, HandoffStore

handoff_app = typer.Typer(
    help="The human handoff inbox: conversations a guard or the router handed to a person "
    "(and agent steps waiting for approval). List them, read a thread, reply, close.",
    no_args_is_help=True,
)


def _store() -> HandoffStore:
    from ragline.config import load_settings
    from ragline.store.factory import open_handoffs

    return open_handoffs(load_settings())


def _get(store: HandoffStore, item_id: str, *, messages: bool = True) -> HandoffItem:
    from ragline.store.handoff_base import not_found

    item = store.get_item(item_id.strip(), messages=messages)
    if item is None:
        raise not_found(item_id)
    return item


def _short(text: str, width: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@handoff_app.command("list")
def list_items(
    status: str = typer.Option(
        "open", "--status", "-s", help="open (waiting for a person), answered, closed or all."
    ),
    kind: str | None = typer.Option(None, "--kind", help="handoff or approval (default: both)."),
    collection: str | None = typer.Option(
        None, "--collection", "-c", help="Only this collection's items (default: all)."
    ),
    limit: int = typer.Option(50, "--limit", "-n", help="How many, newest first."),
    offset: int = typer.Option(0, "--offset", help="Skip this many (the next page)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List items, newest first (default: the open ones)."""
    from ragline.store.handoff_base import HandoffQuery, check_kind, check_status

    query = HandoffQuery(
        status=check_status(status),
        kind=check_kind(kind) if kind else None,
        collections=(collection,) if collection else None,
        limit=limit,
        offset=offset,
    )
    store = _store()
    try:
        items = store.list_items(query)
    finally:
        store.close()
    if as_json:
        print_json([i.to_dict(messages=False) for i in items])
        return
    if not items:
        typer.echo(f"no {status if status != 'all' else ''} handoff items".replace("  ", " "))
        return
    table = Table()
    for name in ("id", "status", "kind", "created"):
        table.add_column(name, no_wrap=True)
    for name in ("collection", "guard", "question"):
        table.add_column(name)
    for i in items:
        table.add_row(
            i.id,
            i.status,
            i.kind,
            i.created_at,
            Text(i.collection or "—"),
            Text(i.guard or "—"),
            Text(_short(i.question)),
        )
    Console().print(table)


@handoff_app.command("show")
def show(
    item_id: str = typer.Argument(..., help="The item's id (from `handoff list`)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (with the thread)."),
) -> None:
    """Show an item and its whole thread."""
    store = _store()
    try:
        item = _get(store, item_id)
    finally:
        store.close()
    if as_json:
        print_json(item.to_dict())
        return
    typer.echo(f"{item.id}  {item.kind}  {item.status}  (opened {item.created_at})")
    for label, value in (
        ("collection", item.collection),
        ("conversation", item.conversation_id),
        ("owner key", item.owner),
        ("guard", item.guard),
        ("reason", item.reason),
        ("trace", item.trace_id),
        ("resolution", item.resolution),
    ):
        if value:
            typer.echo(f"  {label}: {value}")
    typer.echo("")
    for m in item.messages:
        who = m.role if m.author is None else f"{m.role} ({m.author})"
        typer.echo(f"[{m.seq}] {m.created_at} {who}:")
        typer.echo("    " + m.text.replace("\n", "\n    "))


@handoff_app.command("reply")
def reply(
    item_id: str = typer.Argument(..., help="The item's id."),
    text: str = typer.Argument(..., help="The reply the user will see."),
    author: str | None = typer.Option(
        None, "--author", "-a", help="Who replies (default: your login name)."
    ),
) -> None:
    """Reply to the user: the reply reaches their conversation at its next poll."""
    who = author or os.environ.get("USER") or "operator"
    store = _store()
    try:
        _get(store, item_id, messages=False)
        message = store.reply(item_id.strip(), text, author=who)
    finally:
        store.close()
    typer.echo(f"replied to {item_id.strip()} as {who} (message {message.seq})")


@handoff_app.command("close")
def close(
    item_id: str = typer.Argument(..., help="The item's id."),
    resolution: str | None = typer.Option(
        None, "--resolution", "-r", help="How it ended (e.g. resolved; approved / rejected)."
    ),
    author: str | None = typer.Option(
        None, "--author", "-a", help="Who closes it (default: your login name)."
    ),
) -> None:
    """Close an item: it takes no more messages (closing twice changes nothing)."""
    who = author or os.environ.get("USER") or "operator"
    store = _store()
    try:
        _get(store, item_id, messages=False)
        item = store.close_item(item_id.strip(), author=who, resolution=resolution)
    finally:
        store.close()
    typer.echo(f"closed {item.id}" + (f" ({item.resolution})" if item.resolution else ""))


def register(app: typer.Typer) -> None:
    app.add_typer(handoff_app, name="handoff")


__all__ = ["register"]

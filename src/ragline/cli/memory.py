"""``ragline memory list|forget|users``: what long-term memory keeps about each user.

With ``memory.long_term`` on, the answer flow remembers the facts a user states about
themselves ("I moved to Lyon"), replaces a fact when contradicted (the old one is kept as
history) and recalls them in later conversations. Here an operator (or the user at their
own terminal) lists them, with their history and source turns, and forgets them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from ragline.cli.common import print_json

if TYPE_CHECKING:
    from ragline.memory.longterm import LongTermMemory
    from ragline.store.memory_base import MemoryFact

memory_app = typer.Typer(
    help="Long-term memory: the facts each user told the assistant (memory.long_term). "
    "List them with their history, forget one or all.",
    no_args_is_help=True,
)
UserOpt = typer.Option(
    None, "--user", "-u", help="Whose memory (default: memory.default_user, 'local')."
)


def _memory() -> tuple[LongTermMemory, str]:
    from ragline.config import load_settings
    from ragline.memory.longterm import LongTermMemory
    from ragline.models.embedder import get_embedder
    from ragline.store.factory import open_memory

    settings = load_settings()
    memory = LongTermMemory(
        lambda: open_memory(settings),
        lambda: get_embedder(settings.embedder),  # only "forget that …" by similarity
        settings.memory,
    )
    return memory, settings.memory.default_user


def _short(text: str, width: int = 50) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _table(facts: list[MemoryFact], history: bool) -> Table:
    table = Table(show_lines=False)
    for column in ("id", "key", "value", "said", "when"):
        table.add_column(column, overflow="fold")
    if history:
        table.add_column("superseded by")
    for f in facts:
        row = [f.id, f.key, f.value, _short(f.source.text), f.source.at[:16]]
        if history:
            row.append(f.superseded_by or "[green]current[/]")
        table.add_row(*row, style=None if f.current else "dim")
    return table


@memory_app.command("list")
def list_facts(
    user: str | None = UserOpt,
    history: bool = typer.Option(
        False, "--history", help="Also the facts that were replaced, with what replaced them."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a user's remembered facts, oldest first (current ones; --history: all)."""
    memory, default = _memory()
    try:
        facts = memory.facts(user or default, history=history)
    finally:
        memory.close()
    if as_json:
        print_json([f.to_dict() for f in facts])
        return
    console = Console()
    if not facts:
        console.print(f"[dim]nothing remembered for {user or default!r}[/]")
        return
    console.print(_table(facts, history))


@memory_app.command("forget")
def forget(
    fact_id: str | None = typer.Argument(
        None, help="The fact to forget (a current one goes with the values it replaced)."
    ),
    user: str | None = UserOpt,
    everything: bool = typer.Option(False, "--all", help="Forget everything about the user."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Forget one fact (FACT_ID, from `ragline memory list`) or all of a user's (--all)."""
    from ragline.errors import ConfigError

    if (fact_id is None) == (not everything):
        raise ConfigError(
            "name one fact id or --all",
            hint="ragline memory forget m1a2b3c4d5 --user ana, or ragline memory forget --all",
        )
    memory, default = _memory()
    who = user or default
    try:
        done = memory.forget_all(who) if everything else memory.forget(who, fact_id or "")
    finally:
        memory.close()
    if as_json:
        print_json({"user": who, "forgotten": done.count})
        return
    Console().print(f"forgot {done.count} fact(s) of {who!r}")


@memory_app.command("users")
def users(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """The users that have remembered facts."""
    memory, _ = _memory()
    try:
        names = memory.store.users()
    finally:
        memory.close()
    if as_json:
        print_json(names)
        return
    for name in names:
        typer.echo(name)


def register(app: typer.Typer) -> None:
    app.add_typer(memory_app, name="memory")


__all__ = ["register"]

"""``ragline plugins``: what the plugin registry holds, per group, with the package of each.

Reading the registry imports no plugin: a broken third-party package shows up here (and in
the command that uses it, with a clear error), never as a crash of unrelated commands.
"""

from __future__ import annotations

import typer

from ragline.cli.common import print_json


def plugins(
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    check: bool = typer.Option(
        False, "--check", help="Also import each plugin and report the ones that fail."
    ),
) -> None:
    """List chat-model providers, embedders, rerankers and store backends, and who provides
    them. Built-ins come from ragline itself; others from installed packages."""
    from ragline import plugins as registry
    from ragline.errors import RaglineError

    rows = []
    for group in registry.GROUPS:
        for p in registry.available(group):
            row: dict[str, str | None] = p.to_dict()
            if check:
                try:
                    registry.load(group, p.name)
                    row["status"] = "ok"
                except RaglineError as exc:
                    row["status"] = f"error: {exc.message}"
            rows.append(row)
    if as_json:
        print_json(rows)
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("group", "name", "provided by", "target", *(["status"] if check else []))
    for r in rows:
        dist = f"{r['distribution']} {r['version'] or ''}".strip()
        cells = [str(r["group"]), str(r["name"]), dist, str(r["value"])]
        table.add_row(*cells, *([str(r["status"])] if check else []))
    Console().print(table)
    reserved = ", ".join(registry.FUTURE_GROUPS.values())
    typer.echo(f"reserved for coming components: {reserved}", err=True)


def register(app: typer.Typer) -> None:
    app.command("plugins")(plugins)


__all__ = ["register"]

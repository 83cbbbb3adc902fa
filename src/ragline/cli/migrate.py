"""``ragline migrate``: apply pending schema migrations, or move a home to PostgreSQL.

``ragline migrate`` brings the store ``store.url`` names (or ``--to URL``) up to this
release's schema. ``ragline migrate --from sqlite:///home/ragline.db --to postgresql://…``
copies every table of a SQLite home into an empty PostgreSQL database with a progress bar,
resumable after a kill (run the same command again), then verifies counts and checksums.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ragline.cli.common import print_json


def migrate_cmd(
    to: str | None = typer.Option(
        None, "--to", help="The store to migrate (a URL; default: store.url)."
    ),
    source: str | None = typer.Option(
        None,
        "--from",
        help="Copy this SQLite home (sqlite:///path/ragline.db) into --to, a PostgreSQL URL.",
    ),
    batch: int = typer.Option(500, "--batch", min=1, help="Rows per transaction when copying."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    as_json: bool = typer.Option(False, "--json", help="Print the outcome as JSON."),
) -> None:
    """Apply pending schema migrations (or, with --from, copy a SQLite home into PostgreSQL).

    Example: [bold]ragline migrate --to postgresql://me@db/ragline[/]

    Move a home (run it again after a kill to resume; every table is verified at the end):

    [bold]ragline migrate --from sqlite:////home/me/.ragline/ragline.db --to postgresql://…[/]
    """

    from ragline.config import load_settings
    from ragline.errors import ConfigError
    from ragline.store.factory import migrate, scheme_of

    settings = load_settings()
    url = to or settings.store_url
    if to:
        settings = settings.model_copy(
            update={"store": settings.store.model_copy(update={"url": to})}
        )
    if source is None:
        applied = migrate(settings)
        if as_json:
            print_json({"store": _shown(url), "applied": applied})
        elif applied:
            Console().print(
                f"applied {len(applied)} migration(s) to {_shown(url)}: " + ", ".join(applied)
            )
        else:
            Console().print(f"{_shown(url)} is up to date")
        return
    if scheme_of(source) != "sqlite" or scheme_of(url) not in ("postgresql", "postgres"):
        raise ConfigError(
            f"cannot copy {source!r} to {_shown(url)!r}",
            hint="copy a SQLite home into PostgreSQL: --from sqlite:////abs/ragline.db "
            "--to postgresql://USER@HOST/DB",
        )
    from ragline.store.transfer import copy_sqlite_to_postgres

    with Progress(
        TextColumn("{task.description:<12}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=quiet or as_json,
    ) as bar:
        tasks: dict[str, int] = {}

        def update(table: str, done: int, total: int) -> None:
            if table not in tasks:
                tasks[table] = bar.add_task(table, total=total)
            bar.update(tasks[table], completed=done, total=total)

        report = copy_sqlite_to_postgres(source, url, settings, batch=batch, progress=update)
    if as_json:
        print_json(report.to_dict())
        return
    table = Table(title=f"{source} → {report.target}" + (" (resumed)" if report.resumed else ""))
    for col in ("table", "rows", "copied", "checksum"):
        table.add_column(col, justify="right" if col in ("rows", "copied") else "left")
    for t in report.tables:
        table.add_row(
            t.table,
            str(t.source_rows),
            str(t.target_rows),
            ("[green]match[/] " if t.ok else "[red]differs[/] ") + t.target_checksum[:12],
        )
    console = Console()
    console.print(table)
    if report.not_copied:
        console.print(
            "[yellow]not copied[/] (no PostgreSQL table in this release): "
            + ", ".join(report.not_copied)
        )
    console.print(f"verified: every table matches; set store.url to {report.target}")


def _shown(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if at and ":" in creds:
        return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"
    return url


def register(app: typer.Typer) -> None:
    app.command("migrate")(migrate_cmd)

"""``ragline feedback``: judge an answer, list feedback, export it as an evaluation data set."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from ragline.cli.common import open_api, print_json
from ragline.errors import InvalidQueryError

feedback_app = typer.Typer(
    help="Feedback on answers: thumbs, ratings, comments, and the implicit signals ragline "
    "detects (corrections, regenerations, early stops).",
    no_args_is_help=True,
)


@feedback_app.command("add")
def add(
    trace_id: str = typer.Argument(..., help="The answer's trace id (or a prefix)."),
    up: bool = typer.Option(False, "--up", help="Thumbs up."),
    down: bool = typer.Option(False, "--down", help="Thumbs down."),
    rating: int | None = typer.Option(None, "--rating", "-r", min=1, max=5, help="1 to 5."),
    comment: str | None = typer.Option(None, "--comment", "-m", help="A comment."),
    as_json: bool = typer.Option(False, "--json", help="Print the records as JSON."),
) -> None:
    """Judge one answer.

    Examples:
      ragline feedback add 3f2a9c --down --comment "cites the 2019 policy"
      ragline feedback add 3f2a9c --rating 4
    """
    if up and down:
        raise InvalidQueryError("give --up or --down, not both")
    if not (up or down or rating is not None or comment):
        raise InvalidQueryError(
            "nothing to record", hint="give --up, --down, --rating N and/or --comment TEXT"
        )
    with open_api() as rag:
        fb = rag.feedback
        records = []
        if up or down:
            records.append(fb.thumbs(trace_id, up=up))
        if rating is not None:
            records.append(fb.rate(trace_id, rating))
        if comment:
            records.append(fb.comment(trace_id, comment))
    if as_json:
        print_json([r.to_dict() for r in records])
    else:
        kinds = ", ".join(r.kind for r in records)
        typer.echo(f"recorded {kinds} on trace {records[0].trace_id}")


@feedback_app.command("list")
def list_(
    since: str | None = typer.Option(None, "--since", help="Only after this: 1h, 7d, a date."),
    trace_id: str | None = typer.Option(None, "--trace", help="Only on this trace."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List feedback, oldest first."""
    from ragline.store.traces_base import FeedbackQuery
    from ragline.trace.windows import parse_point

    with open_api() as rag:
        ids = None
        if trace_id:
            trace = rag.traces.get_trace(trace_id)
            ids = (trace.trace_id,) if trace else ("",)
        records = rag.traces.list_feedback(
            FeedbackQuery(trace_ids=ids, since_ns=parse_point(since) if since else None)
        )
    if as_json:
        print_json([r.to_dict() for r in records])
        return
    if not records:
        typer.echo("no feedback yet: `ragline feedback add TRACE_ID --up` records some")
        return
    table = Table("trace", "kind", "value", "source", "comment")
    for r in records:
        value = "" if r.value is None else f"{r.value:g}"
        table.add_row(r.trace_id[:12], r.kind, value, r.source, r.comment or "")
    Console().print(table)


@feedback_app.command("export")
def export(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="JSONL file to write (default: standard output)."
    ),
    since: str | None = typer.Option(None, "--since", help="Feedback given after this."),
    explicit_only: bool = typer.Option(
        False, "--explicit-only", help="Leave out implicit signals."
    ),
) -> None:
    """Write judged answers as JSONL: question, answer, contexts, label, signals."""
    from ragline.feedback.export import export_feedback
    from ragline.trace.windows import parse_point

    with open_api() as rag:
        kwargs = {
            "since_ns": parse_point(since) if since else None,
            "include_implicit": not explicit_only,
        }
        if output is None:
            n = export_feedback(rag.traces, sys.stdout, **kwargs)  # type: ignore[arg-type]
        else:
            output.parent.mkdir(parents=True, exist_ok=True)
            with output.open("w", encoding="utf-8") as out:
                n = export_feedback(rag.traces, out, **kwargs)  # type: ignore[arg-type]
    if output is not None:
        typer.echo(f"wrote {n} judged answers to {output}")


def register(app: typer.Typer) -> None:
    app.add_typer(feedback_app, name="feedback")

"""``ragline ask``: a grounded answer with citations, streamed; or a batch file of questions.

The terminal shows each sentence of the answer once it has been checked against the passage
it cites, so an unsupported sentence never appears (``--show-draft`` also prints the model's
raw draft as it is written). Then the citations ``[n]`` with source and page. A decline says
so and lists the closest passages instead.
"""

from __future__ import annotations

import json
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import Progress

from ragline.cli.common import CollectionOpt, open_api, parse_metadata, print_json
from ragline.errors import InvalidQueryError, MalformedInputError

if TYPE_CHECKING:
    from ragline.answer.events import AnswerEvent, Retrieved
    from ragline.types import Answer, Passage

SamplesOpt = typer.Option(
    None, "--samples", "-n", help="Best-of-N: draw N answers, keep the most likely one."
)
ModelOpt = typer.Option(None, "--model", help="Chat model (default: gateway.default_model).")
StyleOpt = typer.Option(
    None,
    "--style",
    help="extractive: quote the passage sentence; generative: the model writes, checked; "
    "auto: generative, quoting when nothing passes the check (default: answer.style).",
)


def ask(
    question: str | None = typer.Argument(None, help="The question."),
    collection: str | None = CollectionOpt,
    samples: int | None = SamplesOpt,
    model: str | None = ModelOpt,
    style: str | None = StyleOpt,
    source: str | None = typer.Option(None, "--source", help="Only sources matching this glob."),
    where: list[str] = typer.Option([], "--where", help="Metadata filter KEY=VALUE (repeatable)."),
    as_json: bool = typer.Option(
        False, "--json", help="Print the answer, citations and decline flag as JSON."
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show the query, passages, draft and dropped sentences."
    ),
    show_draft: bool = typer.Option(
        False, "--show-draft", help="Also stream the model's unchecked draft."
    ),
    questions: Path | None = typer.Option(
        None, "--questions", help='Batch mode: a JSONL file of {"id", "question"} lines.'
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Batch mode: write one JSON answer per line here."
    ),
) -> None:
    """Answer a question from a collection, citing the passages it comes from.

    Examples:
      ragline ask "how hot is Venus" -c sample
      ragline ask "what is the meal allowance" -c handbook --json
      ragline ask --questions questions.jsonl --output answers.jsonl -c handbook
    """
    metadata = parse_metadata(where)
    options: dict[str, Any] = {
        "collection": collection,
        "samples": samples,
        "model": model,
        "style": style,
        "source": source,
        "metadata": metadata,
    }
    if questions is not None:
        _batch(questions, output, options)
        return
    if not question or not question.strip():
        raise typer.BadParameter("give a question, or --questions FILE for batch mode")
    with open_api() as rag:
        if as_json:
            print_json(rag.ask(question, **options).to_dict())
            return
        render_stream(rag.ask_stream(question, **options), verbose=verbose, draft=show_draft)


# --------------------------------------------------------------------------- rendering


def render_stream(
    events: Iterator[AnswerEvent],
    *,
    verbose: bool = False,
    draft: bool = False,
    console: Console | None = None,
) -> Answer:
    """Print an answer as it is checked; return it. Shared by ``ask`` and ``chat``.

    Reads the answer vocabulary (``ragline.answer.events``); other kinds are skipped."""
    from ragline.answer.events import (
        AnswerDone,
        MemoryUsed,
        Retrieved,
        SentenceChecked,
        TokenDelta,
    )

    out = console or Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    answer: Answer | None = None
    started = False
    for event in events:
        if isinstance(event, MemoryUsed):
            if verbose:
                for f in event.remembered:
                    err.print(f"[dim]remembered {f.key} = {f.value}[/]", markup=True)
                for r in event.recalled:
                    err.print(f"[dim]recalled {r.fact.key} = {r.fact.value}[/]", markup=True)
        elif isinstance(event, Retrieved):
            if verbose:
                _print_retrieval(err, event)
        elif isinstance(event, TokenDelta):
            if draft:
                err.print(event.text, end="", style="dim", markup=False)
        elif isinstance(event, SentenceChecked):
            s = event.sentence
            if verbose and not s.kept:
                err.print(f"dropped ({s.reason}): {s.text}", style="dim", markup=False)
            if s.kept:
                style = "yellow" if s.status == "flagged" else None
                text = ("" if not started else " ") + s.rendered()
                out.print(text, end="", style=style, markup=False)
                started = True
        elif isinstance(event, AnswerDone):
            answer = event.answer
    assert answer is not None
    if draft:
        err.print()
    if answer.declined:
        if started:
            out.print()
        _print_decline(out, answer)
    else:
        out.print()
        _print_citations(out, answer)
    if verbose:
        _print_summary(err, answer)
    return answer


def _where(p: Passage) -> str:
    c = p.chunk
    where = c.source
    if c.page is not None:
        where += f", p. {c.page}"
    if c.heading_path:
        where += f" › {' › '.join(c.heading_path)}"
    return where


def _print_citations(out: Console, answer: Answer) -> None:
    if not answer.citations:
        return
    out.print()
    for p in answer.cited_passages:
        out.print(f"[{p.number}] {_where(p)}", markup=False)


def _print_decline(out: Console, answer: Answer) -> None:
    out.print(answer.text)
    reasons = {
        "no_relevant_passages": "nothing in the collection is close enough to the question",
        "not_answerable": "the closest passages do not answer the question",
        "model_declined": "the model found no answer in the passages",
        "unsupported": "no sentence of the draft answer was supported by the passages",
        "blocked": "a guard refused it (docs/guardrails.md)",
        "handoff": "a guard or the router handed it to a person",
        "out_of_scope": "the router found a request the assistant does not do",
    }
    if answer.decline_reason:
        why = reasons.get(answer.decline_reason, answer.decline_reason)
        out.print(f"({why})", style="dim", markup=False)
    if answer.decline_detail:
        out.print(f"({answer.decline_detail})", style="dim", markup=False)
    if answer.passages:
        out.print("\nThe closest passages:")
    for p in answer.passages:
        out.print(f"[{p.number}] {_where(p)} (relevance {p.relevance:.2f})", markup=False)
        snippet = textwrap.shorten(" ".join(p.text.split()), width=300)
        out.print(textwrap.indent(textwrap.fill(snippet, 96), "    "), markup=False)


def _print_retrieval(err: Console, event: Retrieved) -> None:
    r = event.rewrite
    if r.method != "none":
        err.print(f"rewritten ({r.method}): {r.query}", style="dim", markup=False)
    ctx = event.context
    err.print(
        f"[dim]best relevance {ctx.best_relevance:.2f}; "
        f"{len(ctx.passages)} passage(s) sent to the model[/]",
        markup=True,
    )
    for p in ctx.passages:
        err.print(f"  [{p.number}] {_where(p)}: {p.text}", style="dim", markup=False)


def _print_summary(err: Console, answer: Answer) -> None:
    t = ", ".join(f"{k} {v:.2f}" for k, v in answer.timings.items())
    usage = answer.result.usage if answer.result is not None else None
    tokens = f"; tokens {usage.prompt_tokens}+{usage.completion_tokens}" if usage else ""
    summary = f"prompt {answer.prompt_version}; model {answer.model}{tokens}; {t}"
    err.print(summary, style="dim", markup=False)


# --------------------------------------------------------------------------- batch


def read_questions(path: Path) -> list[tuple[str, str]]:
    """``(id, question)`` pairs from JSONL: ``question`` or ``text``; ``id`` or ``_id``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInputError(str(path), f"cannot read questions: {exc}") from exc
    out = []
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            text = obj.get("question", obj.get("text"))
            if not isinstance(text, str) or not text.strip():
                raise KeyError("question")
        except (json.JSONDecodeError, KeyError, AttributeError) as exc:
            raise InvalidQueryError(
                f"{path}:{n}: not a question object ({exc})",
                hint='each line must be like {"id": "q1", "question": "..."}',
            ) from exc
        out.append((str(obj.get("id", obj.get("_id", n))), text))
    return out


def _batch(path: Path, output: Path | None, options: dict[str, Any]) -> None:
    """Answer every question of a file with one process: the models load once."""
    items = read_questions(path)
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    declined = 0
    try:
        with (
            open_api() as rag,
            Progress(console=Console(stderr=True), disable=output is None) as bar,
        ):
            task = bar.add_task("answering", total=len(items))
            for qid, text in items:
                answer = rag.ask(text, **options)
                declined += answer.declined
                out.write(json.dumps({"id": qid, **answer.to_dict()}, ensure_ascii=False) + "\n")
                out.flush()
                bar.advance(task)
    finally:
        if output:
            out.close()
    if output:
        typer.echo(f"wrote {len(items)} answers to {output} ({declined} declined)", err=True)


def register(app: typer.Typer) -> None:
    app.command("ask")(ask)

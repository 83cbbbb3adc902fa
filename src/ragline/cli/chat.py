"""``ragline chat``: a conversation over a collection, one question per line on stdin.

Interactive in a terminal (``you>`` prompt); piped input works the same, one line per turn,
so a script or a test can drive it. Follow-ups are rewritten into standalone queries
(``--verbose`` shows the rewrite). ``/reset`` forgets the history, ``/exit`` or end of input
stops. With ``--json`` each turn prints one JSON line (the answer, its citations, the query).
"""

from __future__ import annotations

import json
import sys

import typer
from rich.console import Console

from ragline.cli.ask import ModelOpt, SamplesOpt, render_stream
from ragline.cli.common import CollectionOpt, open_api

_EXIT = {"/exit", "/quit", "exit", "quit"}


def chat(
    collection: str | None = CollectionOpt,
    samples: int | None = SamplesOpt,
    model: str | None = ModelOpt,
    as_json: bool = typer.Option(False, "--json", help="One JSON line per turn."),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Show rewritten queries, passages and dropped sentences."
    ),
    user: str | None = typer.Option(
        None,
        "--user",
        "-u",
        help="Whose long-term memory (memory.long_term): facts you state are remembered for "
        "this user and recalled later (default: memory.default_user).",
    ),
) -> None:
    """Chat with a collection: answers keep the conversation's context.

    Example: ragline chat -c sample   (then: "how hot is Venus?", "and what about Mars?")
    """
    from ragline.answer.conversation import Conversation
    from ragline.answer.events import final_answer

    interactive = sys.stdin.isatty()
    out = Console(highlight=False, soft_wrap=True)
    conversation = Conversation()
    with open_api() as rag:
        while True:
            if interactive:
                out.print("[bold]you>[/] ", end="")
            line = sys.stdin.readline()
            if not line:
                break
            message = line.strip()
            if not message:
                continue
            if message in _EXIT:
                break
            if message == "/reset":
                conversation.reset()
                if not as_json:
                    out.print("[dim](history cleared)[/]")
                continue
            events = rag.ask_stream(
                message,
                collection=collection,
                conversation=conversation,
                samples=samples,
                model=model,
                user=user,
            )
            if as_json:
                answer = final_answer(events)
                typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
            else:
                if not interactive:
                    out.print(f"[bold]you>[/] {message}")
                answer = render_stream(events, verbose=verbose, console=out)
                out.print()
            conversation.add(answer)


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)

"""The ``ragline`` command. Each command group lives in its own module; errors are mapped to
messages and exit codes here, in one place."""

from __future__ import annotations

import os
import sys

import typer
from rich.console import Console

from ragline.errors import RaglineError

app = typer.Typer(
    name="ragline",
    help="Trustworthy talk-to-your-documents assistants, offline by default.\n\n"
    "Data lives in one SQLite file under $RAGLINE_HOME (default ~/.ragline).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)
err_console = Console(stderr=True)


def _register() -> None:
    from ragline.cli import collections, drift, evaluate, feedback, ingest, search, traces

    for module in (ingest, search, collections, traces, feedback, drift, evaluate):
        module.register(app)
    from ragline.cli import handoff, keys, serve  # the HTTP server's commands, the inbox

    for module in (serve, keys, handoff):
        module.register(app)
    from ragline.cli import plugins  # the plugin registry

    plugins.register(app)
    from ragline.cli import ask, chat  # grounded answers and conversations

    for module in (ask, chat):
        module.register(app)
    from ragline.cli import prompts  # prompt files

    prompts.register(app)
    from ragline.cli import redteam  # the red-team suite

    redteam.register(app)
    from ragline.cli import migrate  # schema migrations; SQLite -> PostgreSQL

    migrate.register(app)
    from ragline.cli import guard  # guardrails

    guard.register(app)
    from ragline.cli import cache  # the answer caches

    cache.register(app)
    from ragline.cli import tools  # agents' tools and one step of function calling

    tools.register(app)
    from ragline.cli import agent  # the agent loop

    agent.register(app)
    from ragline.cli import data  # dataset engineering

    data.register(app)
    from ragline.cli import memory  # long-term memory per user

    memory.register(app)
    from ragline.cli import finetune  # LoRA adapters and finetuned embedders

    finetune.register(app)


_register()


def main() -> None:
    """Console-script entry point: run the app, turning ragline errors into exit codes."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from ragline.trace.redact import install_log_redaction

    install_log_redaction()  # no key or secret in what ragline (or its server) logs
    try:
        app()
    except RaglineError as exc:
        err_console.print(f"[bold red]error:[/] {exc.message}", highlight=False)
        if exc.hint:
            err_console.print(f"[dim]hint: {exc.hint}[/]", highlight=False)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err_console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()

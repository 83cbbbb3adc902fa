"""``ragline tools``: the tools an agent gets, and one step of function calling on a batch.

``ragline tools list`` shows the default registry (built-ins and the ``ragline.tools``
plugins). ``ragline tools call --tools tools.json --input requests.jsonl`` asks a model which
functions each request calls, for users testing their own tool sets: ``tools.json`` is a list
of OpenAI-format function definitions, each input line ``{"id", "text"}`` (or ``"messages"``),
each output line ``{"id", "calls": [{"name", "arguments"}]}`` (an empty list when no tool
fits). A bad line gets ``{"id", "error"}`` and the batch goes on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import Progress

from ragline.cli.common import CollectionOpt, print_json
from ragline.errors import ConfigError, MalformedInputError, RaglineError

tools_app = typer.Typer(
    help="Agents' tools: list them, or run one step of function calling on a batch.",
    no_args_is_help=True,
)


@tools_app.command("list")
def list_tools(
    collection: str | None = CollectionOpt,
    as_json: bool = typer.Option(False, "--json", help="Print the tools as JSON."),
) -> None:
    """The default tools: search, read_document, calculator, now, and plugin tools."""
    from ragline.agent.tools import ToolRegistry
    from ragline.cli.common import open_api

    with open_api() as rag:
        reg = ToolRegistry.default(
            rag.settings,
            collection=collection,
            retriever=rag.retriever,
            tracer=rag.tracer,
        )
    rows = [
        {
            "name": t.name,
            "description": t.description,
            "side_effects": t.side_effects,
            "parameters": t.parameters,
        }
        for t in reg
    ]
    if as_json:
        print_json({"tools": rows, "broken": reg.broken})
        return
    from rich.table import Table

    table = Table("tool", "parameters", "side effects", "description")
    for r in rows:
        params = ", ".join(
            name + ("" if name in r["parameters"].get("required", []) else "?")
            for name in r["parameters"].get("properties", {})
        )
        table.add_row(r["name"], params, "yes" if r["side_effects"] else "", r["description"])
    Console().print(table)
    for name, error in reg.broken.items():
        typer.echo(f"plugin tool {name!r} left out: {error}", err=True)


def _read_tools(path: Path) -> list[Any]:
    from ragline.agent.calling import tool_definitions

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{path} is not JSON: {exc.msg} (line {exc.lineno})",
            hint="write a JSON list of OpenAI-format function definitions",
        ) from exc
    if isinstance(data, dict) and isinstance(data.get("tools"), list):
        data = data["tools"]
    if not isinstance(data, list):
        raise ConfigError(
            f"{path} holds a JSON {type(data).__name__}, not a list of tool definitions",
            hint='use [{"type": "function", "function": {"name", "description", "parameters"}}]',
        )
    tool_definitions(data)  # every definition checked before the first model call
    return data


def _line_id(line: str) -> str | None:
    """The ``id`` of an input line, when it is a JSON object that has one."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError:
        return None
    qid = item.get("id") if isinstance(item, dict) else None
    return None if qid is None else str(qid)


def _request(line: str, where: str) -> Any:
    """The text (or messages) of one input line; :class:`MalformedInputError` otherwise."""
    try:
        item = json.loads(line)
    except json.JSONDecodeError as exc:
        raise MalformedInputError(where, f"not JSON: {exc.msg}") from exc
    if not isinstance(item, dict):
        raise MalformedInputError(where, "not a JSON object", hint='use {"id", "text"}')
    if item.get("id") is None:
        raise MalformedInputError(where, "no 'id'", hint='use {"id", "text"}')
    request = item.get("text", item.get("messages"))
    if (isinstance(request, str) and request.strip()) or (isinstance(request, list) and request):
        return request
    raise MalformedInputError(
        where, "no 'text' (or 'messages')", hint='give each line a non-empty "text"'
    )


@tools_app.command("call")
def call(
    tools: Path = typer.Option(
        ...,
        "--tools",
        "-t",
        exists=True,
        dir_okay=False,
        help="JSON list of OpenAI-format function definitions.",
    ),
    input: Path = typer.Option(
        ..., "--input", "-i", exists=True, dir_okay=False, help='JSONL: {"id", "text"} a line.'
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help='JSONL of {"id", "calls"} (default: stdout).'
    ),
    model: str | None = typer.Option(
        None, "--model", "-m", help="Chat model (default: gateway.default_model)."
    ),
    tool_choice: str = typer.Option(
        "auto", "--tool-choice", help="auto, required, none, or the name of one tool."
    ),
    parallel: bool = typer.Option(
        True, "--parallel/--single", help="Several calls per request, or at most one."
    ),
) -> None:
    """One step of function calling for each request of a JSONL file."""
    from ragline.agent.calling import function_calls
    from ragline.config import load_settings
    from ragline.models.gateway import Gateway

    settings = load_settings()
    definitions = _read_tools(tools)
    lines = input.read_text(encoding="utf-8").splitlines()
    todo = [(n, line) for n, line in enumerate(lines, 1) if line.strip()]
    out = output.open("w", encoding="utf-8") if output else sys.stdout
    counts = {"requests": 0, "with_calls": 0, "no_call": 0, "errors": 0}
    name = model or settings.gateway.default_model
    try:
        with (
            Gateway(settings) as gateway,
            Progress(console=Console(stderr=True), disable=output is None) as bar,
        ):
            task = bar.add_task("calling", total=len(todo))
            for n, line in todo:
                record: dict[str, Any]
                qid = _line_id(line)
                try:
                    request = _request(line, f"{input.name}:{n}")
                    made = function_calls(
                        name,
                        request,
                        definitions,
                        settings=settings,
                        tool_choice=tool_choice,
                        parallel=parallel,
                        gateway=gateway,
                    )
                    record = {"id": qid, "calls": [c.to_dict() for c in made.calls]}
                    if made.withheld:  # calls with values the request does not give
                        record["withheld"] = made.to_dict()["withheld"]
                    counts["with_calls" if made.calls else "no_call"] += 1
                except RaglineError as exc:  # one bad line never stops the batch
                    record = {"id": qid if qid is not None else f"line {n}", "error": str(exc)}
                    counts["errors"] += 1
                counts["requests"] += 1
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                out.flush()
                bar.advance(task)
    finally:
        if output:
            out.close()
    if output:
        typer.echo(
            f"{counts['requests']} requests: {counts['with_calls']} with calls, "
            f"{counts['no_call']} with none, {counts['errors']} errors -> {output}",
            err=True,
        )


def register(app: typer.Typer) -> None:
    app.add_typer(tools_app, name="tools")


__all__ = ["register"]

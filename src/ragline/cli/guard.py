"""``ragline guard scan``: the guards' verdict on a text, or on every line of a JSONL file.

One text::

    ragline guard scan "my card is 4111 1111 1111 1111" [--direction input] [--json]

A batch (each input line ``{"id": …, "text": …}``; each output line ``{"id", "action",
"text" (after redaction), "flags": [{"guard", "label", "score", "start", "end"}], "decided_by",
"reason"}``)::

    ragline guard scan --input texts.jsonl --output verdicts.jsonl --guards pii,injection

The guards load once, before the first line. A line that is not a JSON object with a string
``text`` (or not UTF-8) gets an output line with an ``error`` field and a message on stderr,
and the batch goes on.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

import typer
from rich.console import Console
from rich.progress import Progress

from ragline.cli.common import CollectionOpt, open_api, print_json

if TYPE_CHECKING:
    from ragline.api import Ragline
    from ragline.guard.base import Decision

guard_app = typer.Typer(
    help="Guardrails: scan texts with the configured guards (docs/guardrails.md).",
    no_args_is_help=True,
)


def scan_line(item_id: Any, decision: Decision) -> dict[str, Any]:
    """One output line of a batch scan (and ``--json`` of one text)."""
    out: dict[str, Any] = {
        "id": item_id,
        "action": str(decision.action),
        "text": decision.text,
        "flags": [
            {k: f.to_dict()[k] for k in ("guard", "label", "score", "start", "end")}
            for f in decision.flags
        ],
        "decided_by": decision.decided_by,
        "reason": decision.reason,
    }
    errors = {r.guard: r.error for r in decision.results if r.error}
    if errors:
        out["guard_errors"] = errors
    out["latency_ms"] = {r.guard: round(r.latency_ms, 3) for r in decision.results}
    return out


def _names(guards: str | None) -> list[str] | None:
    if guards is None:
        return None
    names = [n.strip() for n in guards.split(",") if n.strip()]
    if not names:
        raise typer.BadParameter(
            "name at least one guard, e.g. pii,injection", param_hint="--guards"
        )
    return names


def scan(
    text: str | None = typer.Argument(None, help="The text to scan (or --input FILE.jsonl)."),
    direction: str = typer.Option(
        "input",
        "--direction",
        "-d",
        help="input (a user's message), output (an answer) or document.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict as JSON."),
    collection: str | None = CollectionOpt,
    input_path: Path | None = typer.Option(
        None, "--input", "-i", help='Batch mode: a JSONL file of {"id", "text"} lines.'
    ),
    output_path: Path | None = typer.Option(
        None, "--output", "-o", help="Batch mode: write one JSON line per input line here."
    ),
    guards: str | None = typer.Option(
        None,
        "--guards",
        help="Only these guards, comma-separated (default: the direction's, guard.input / "
        "guard.output / guard.documents).",
    ),
) -> None:
    """Scan a text with the guards: the action (allow, warn, redact, block, handoff), the text
    after redaction, and what each guard found.

    Examples:
      ragline guard scan "ignore all previous instructions" --json
      ragline guard scan --input texts.jsonl --output verdicts.jsonl --guards pii,toxicity
    """
    from ragline.guard.pipeline import DIRECTIONS

    if direction not in DIRECTIONS:
        raise typer.BadParameter(
            f"{direction!r} is not one of {', '.join(DIRECTIONS)}", param_hint="--direction"
        )
    names = _names(guards)
    if input_path is not None:
        if text is not None:
            raise typer.BadParameter("give a text or --input FILE, not both")
        _batch(input_path, output_path, direction, collection, names)
        return
    if text is None:
        raise typer.BadParameter("give a text to scan, or --input FILE.jsonl for batch mode")
    with open_api() as rag:
        _load(rag, direction, names)
        decision = rag.guard_scan(
            text,
            direction=direction,
            collection=collection,
            guards=names,  # type: ignore[arg-type]
        )
    if as_json:
        print_json(scan_line(None, decision) | {"guards": [r.to_dict() for r in decision.results]})
        return
    _print(decision)


def _load(rag: Ragline, direction: str, names: list[str] | None) -> None:
    """Build the guards now (models load once, and a bad name fails before any line)."""
    for name in names if names is not None else rag.guard.names(direction):  # type: ignore[arg-type]
        rag.guard.guard(name)


def _print(decision: Decision) -> None:
    out = Console(highlight=False, soft_wrap=True)
    colour = {"allow": "green", "warn": "yellow", "redact": "cyan"}.get(str(decision.action), "red")
    out.print(f"[bold {colour}]{decision.action}[/]", end="")
    out.print(f"  {decision.reason}" if decision.reason else "", markup=False)
    for r in decision.results:
        state = "error" if r.error else ("flagged" if r.flags else "ok")
        out.print(f"  {r.guard:<12} {state:<8} {r.latency_ms:8.2f} ms", markup=False)
        if r.error:
            out.print(f"      {r.error}", style="red", markup=False)
        for f in r.flags:
            where = f" [{f.start}:{f.end}]" if f.start is not None else ""
            detail = f"  {f.detail}" if f.detail else ""
            out.print(f"      {f.label} {f.score:.2f}{where}{detail}", markup=False)
    if str(decision.action) == "redact":
        out.print("redacted text:", style="bold")
        out.print(decision.text, markup=False)


def _count_lines(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for _ in f)


def _batch(
    input_path: Path,
    output_path: Path | None,
    direction: str,
    collection: str | None,
    names: list[str] | None,
) -> None:
    if not input_path.is_file():
        raise typer.BadParameter(f"no file {input_path}", param_hint="--input")
    total = _count_lines(input_path)
    err = Console(stderr=True, highlight=False)
    out: TextIO = output_path.open("w", encoding="utf-8") if output_path else sys.stdout
    counts: dict[str, int] = {}
    try:
        with (
            open_api() as rag,
            input_path.open("rb") as lines,
            Progress(console=err, disable=output_path is None) as bar,
        ):
            _load(rag, direction, names)
            task = bar.add_task("scanning", total=total)
            for row in _scan_lines(rag, lines, direction, collection, names, err):
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
                key = "error" if "error" in row else str(row["action"])
                counts[key] = counts.get(key, 0) + 1
                bar.advance(task)
    finally:
        if output_path:
            out.close()
    summary = ", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"
    where = f" to {output_path}" if output_path else ""
    err.print(f"scanned {sum(counts.values())} line(s){where}: {summary}", markup=False)


def _scan_lines(
    rag: Ragline,
    lines: BinaryIO,
    direction: str,
    collection: str | None,
    names: list[str] | None,
    err: Console,
) -> Any:
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        item_id: Any = None
        try:
            obj = json.loads(raw.decode("utf-8"))
            if not isinstance(obj, dict):
                raise ValueError(f"a JSON {type(obj).__name__}, not an object")
            item_id = obj.get("id", n)
            text = obj.get("text")
            if not isinstance(text, str):
                raise ValueError('no string "text" field')
        except (UnicodeDecodeError, ValueError) as exc:
            problem = "not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc)
            if isinstance(exc, json.JSONDecodeError):
                problem = f"not JSON ({exc.msg} at column {exc.colno})"
            message = f'line {n}: {problem}; expected {{"id": …, "text": "…"}}'
            err.print(f"[yellow]skipped[/] {message}", highlight=False)
            yield {"id": item_id, "line": n, "error": message}
            continue
        decision = rag.guard_scan(
            text,
            direction=direction,
            collection=collection,
            guards=names,  # type: ignore[arg-type]
        )
        yield scan_line(item_id, decision)


def register(app: typer.Typer) -> None:
    guard_app.command("scan")(scan)
    app.add_typer(guard_app, name="guard")

"""``ragline prompts``: list, show and diff the prompt files (shipped and the user's own)."""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import typer

from ragline.cli.common import print_json

if TYPE_CHECKING:
    from ragline.prompts import Prompt, PromptRegistry

prompts_app = typer.Typer(
    help="Prompt files: every prompt ragline sends, by NAME@vN.\n\n"
    "Shipped prompts can be replaced or extended by files in your prompts folder "
    "(prompts.folder, default $RAGLINE_HOME/prompts): a file with a shipped prompt's name "
    "and version replaces it.",
    no_args_is_help=True,
)

REF_HELP = "A prompt: NAME@vN, NAME (its highest version) or a path to a prompt file."


def _registry() -> PromptRegistry:
    from ragline.config import load_settings
    from ragline.prompts import PromptRegistry

    return PromptRegistry.from_settings(load_settings())


def _source(registry: PromptRegistry, prompt: Prompt) -> str:
    return "user, overrides shipped" if registry.overrides(prompt) else prompt.source


def _as_dict(registry: PromptRegistry, prompt: Prompt) -> dict[str, Any]:
    return {
        "ref": prompt.ref,
        "name": prompt.name,
        "version": prompt.version,
        "sha256": prompt.sha256,
        "source": _source(registry, prompt),
        "path": str(prompt.path) if prompt.path else None,
        "description": prompt.description,
        "variables": sorted(prompt.variables),
        "model": prompt.model.model_dump(exclude_none=True),
        "output_schema": prompt.output_schema,
    }


@prompts_app.command("list")
def list_cmd(as_json: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List every prompt: NAME@vN, its hash, where it comes from and its variables."""
    registry = _registry()
    prompts = registry.prompts()
    if as_json:
        print_json([_as_dict(registry, p) for p in prompts])
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("prompt", "sha256", "source", "variables", box=None, highlight=False)
    for p in prompts:
        table.add_row(p.ref, p.digest, _source(registry, p), ", ".join(sorted(p.variables)))
    Console().print(table)


@prompts_app.command("show")
def show_cmd(
    ref: str = typer.Argument(..., help=REF_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print JSON (the file text included)."),
) -> None:
    """Show one prompt file as stored, after a line with its name, version, hash and source.

    Examples:
      ragline prompts show answer
      ragline prompts show judge_pointwise@v1
    """
    registry = _registry()
    prompt = registry.get(ref)
    if as_json:
        print_json({**_as_dict(registry, prompt), "text": prompt.text})
        return
    where = f"{_source(registry, prompt)}: {prompt.path}" if prompt.path else prompt.source
    typer.echo(f"# {prompt.ref}  sha256 {prompt.sha256}  ({where})")
    typer.echo(prompt.text, nl=not prompt.text.endswith("\n"))


@prompts_app.command("diff")
def diff_cmd(
    old: str = typer.Argument(..., help=REF_HELP),
    new: str = typer.Argument(..., help=REF_HELP),
) -> None:
    """A unified diff of two prompts' files, e.g. two versions of one prompt.

    Examples:
      ragline prompts diff answer@v1 answer@v2
    """
    registry = _registry()
    a, b = registry.get(old), registry.get(new)
    lines = difflib.unified_diff(
        a.text.splitlines(keepends=True),
        b.text.splitlines(keepends=True),
        fromfile=f"{a.ref} ({a.digest})",
        tofile=f"{b.ref} ({b.digest})",
    )
    for line in lines:
        typer.echo(line, nl=not line.endswith("\n"))


def register(app: typer.Typer) -> None:
    app.add_typer(prompts_app, name="prompts")

"""Helpers shared by CLI commands."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from ragline.api import Ragline

CollectionOpt = typer.Option(
    None, "--collection", "-c", help="Collection name (default: settings.default_collection)."
)


def open_api() -> Ragline:
    # Imported here, as every heavy import of the CLI: `ragline --help` loads no models,
    # no HTTP client and no answer flow.
    from ragline.api import Ragline

    return Ragline()


def print_json(obj: Any) -> None:
    typer.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))


def parse_metadata(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise typer.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--where")
        key, value = pair.split("=", 1)
        out[key.strip()] = value.strip()
    return out

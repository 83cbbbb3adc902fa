"""What a model call cost, from a price table the user owns.

The table is a JSON file (default: ``prices.json`` next to this module; setting
``gateway.price_table`` points elsewhere) mapping model names to USD per million input and
output tokens. Cost is always computed here from token usage -- never taken from a
provider's own cost field -- so every provider is priced the same way.

Lookup of a model name such as ``openai:gpt-4o-mini``: an exact key wins; then the longest
matching ``fnmatch`` pattern (``openai:gpt-4o*``); then the same two steps for the bare model
name after the first ``:``. No match: the cost is ``None`` (unknown), not zero.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from ragline.errors import ConfigError
from ragline.models.chat import Usage

DEFAULT_PRICE_TABLE = Path(__file__).with_name("prices.json")


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million prompt (input) and completion (output) tokens."""

    input_per_million: float
    output_per_million: float

    def cost(self, usage: Usage) -> float:
        return (
            usage.prompt_tokens * self.input_per_million
            + usage.completion_tokens * self.output_per_million
        ) / 1_000_000


class PriceTable:
    """Model name -> :class:`Price`; see the module docstring for how names match."""

    def __init__(self, prices: Mapping[str, Price], *, source: str = "<memory>") -> None:
        self._prices = dict(prices)
        self.source = source

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str = "<memory>") -> PriceTable:
        """Build from ``{"models": {name: {"input_per_million": x, "output_per_million": y}}}``."""
        models = data.get("models")
        if not isinstance(models, Mapping):
            raise ConfigError(
                f"price table {source} has no 'models' object",
                hint='expected {"models": {"name": {"input_per_million": ..., '
                '"output_per_million": ...}}}',
            )
        prices: dict[str, Price] = {}
        for name, entry in models.items():
            try:
                price = Price(float(entry["input_per_million"]), float(entry["output_per_million"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise ConfigError(
                    f"price table {source}: bad entry for {name!r}: {entry!r}",
                    hint="each entry needs numeric input_per_million and output_per_million",
                ) from exc
            if price.input_per_million < 0 or price.output_per_million < 0:
                raise ConfigError(f"price table {source}: negative price for {name!r}")
            prices[str(name)] = price
        return cls(prices, source=source)

    @classmethod
    def load(cls, path: str | Path | None = None) -> PriceTable:
        """Read a JSON price table (``None``: the packaged default)."""
        file = Path(path).expanduser() if path is not None else DEFAULT_PRICE_TABLE
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                f"price table {file} does not exist",
                hint=f"copy {DEFAULT_PRICE_TABLE} there or unset gateway.price_table",
            ) from exc
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ConfigError(f"price table {file} is not readable JSON: {exc}") from exc
        if not isinstance(data, Mapping):
            raise ConfigError(f"price table {file} must be a JSON object")
        return cls.from_mapping(data, source=str(file))

    def _match(self, name: str) -> Price | None:
        if name in self._prices:
            return self._prices[name]
        patterns = [k for k in self._prices if any(c in k for c in "*?[") and fnmatchcase(name, k)]
        return self._prices[max(patterns, key=len)] if patterns else None

    def price_of(self, model: str) -> Price | None:
        price = self._match(model)
        if price is None and ":" in model:
            price = self._match(model.split(":", 1)[1])
        return price

    def cost(self, model: str, usage: Usage) -> float | None:
        """USD for ``usage`` on ``model``, or ``None`` when the table has no price for it."""
        price = self.price_of(model)
        return None if price is None else round(price.cost(usage), 10)

    def __contains__(self, model: object) -> bool:
        return isinstance(model, str) and self.price_of(model) is not None

    def __repr__(self) -> str:
        return f"PriceTable({len(self._prices)} models from {self.source})"


__all__ = ["DEFAULT_PRICE_TABLE", "Price", "PriceTable"]

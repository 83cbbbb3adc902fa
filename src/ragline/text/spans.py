"""Character spans of a text: ``(start, end)`` pairs that index into it."""

from __future__ import annotations

__all__ = ["strip_span"]


def strip_span(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """``text[start:end]`` without its surrounding whitespace, as a span: ``[(s, e)]``, or
    ``[]`` when only whitespace is left (so callers can ``spans.extend(...)``)."""
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return []
    s = start + len(piece) - len(piece.lstrip())
    return [(s, s + len(stripped))]

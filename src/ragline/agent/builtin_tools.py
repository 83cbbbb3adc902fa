"""The built-in tools: ``calculator`` (arithmetic by walking the syntax tree, never
``eval``), ``now`` (the date and time in a time zone), and ``search`` / ``read_document``
over one collection: typed, documented functions, which
:meth:`ragline.agent.tools.ToolRegistry.default` makes tools (this module does not import
the registry)."""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ragline.config import ToolSettings
    from ragline.retrieve.retriever import Retriever

# --------------------------------------------------------------------------- built-ins

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": math.factorial,
    "gcd": math.gcd,
    "hypot": math.hypot,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}
_MAX_EXPONENT = 10_000
_MAX_FACTORIAL = 1_000
_MAX_EXPRESSION_CHARS = 500


def evaluate_arithmetic(expression: str) -> int | float:
    """The value of an arithmetic expression, by walking its syntax tree (no ``eval``):
    numbers, ``+ - * / // % **``, parentheses, ``pi``/``e``/``tau`` and a few math
    functions (``sqrt``, ``log``, ``sin``, ``round``, ``min``…). Raises ValueError otherwise."""
    if len(expression) > _MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is over {_MAX_EXPRESSION_CHARS} characters")
    text = expression.replace("^", "**").replace("×", "*").replace("÷", "/").strip()
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"not an arithmetic expression: {exc.msg}") from None
    return _walk(tree.body)


def _walk(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return node.value
    if isinstance(node, ast.Name) and node.id in _CONSTANTS:
        return _CONSTANTS[node.id]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left), _walk(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_EXPONENT:
            raise ValueError(f"exponent {right} is too large (at most {_MAX_EXPONENT})")
        if (
            isinstance(node.op, ast.Pow)
            and isinstance(left, int)
            and abs(left) > 1
            and abs(right) * math.log2(abs(left)) > 64 * _MAX_EXPONENT
        ):
            raise ValueError("the result would be too large")
        try:
            return _BINARY[type(node.op)](left, right)
        except ZeroDivisionError:
            raise ValueError("division by zero") from None
        except OverflowError:
            raise ValueError("the result is too large") from None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        args = [_walk(a) for a in node.args]
        if node.func.id == "factorial" and args and args[0] > _MAX_FACTORIAL:
            raise ValueError(f"factorial of more than {_MAX_FACTORIAL} is too large")
        try:
            return _FUNCTIONS[node.func.id](*args)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"{node.func.id}: {exc}") from None
    what = ast.unparse(node) if isinstance(node, ast.expr) else type(node).__name__
    raise ValueError(
        f"{what!r} is not allowed: use numbers, + - * / // % **, parentheses, pi, e and "
        f"{', '.join(sorted(_FUNCTIONS))}"
    )


def calculator(expression: str) -> dict[str, Any]:
    """Evaluate an arithmetic expression exactly and safely.

    Args:
        expression: the arithmetic to compute, e.g. "(17.5 * 3) / 4" or "sqrt(2) ** 2";
            numbers, + - * / // % ** (or ^), parentheses, pi, e, and sqrt, log, exp, sin,
            cos, tan, round, min, max, abs, floor, ceil, factorial
    """
    value = evaluate_arithmetic(expression)
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        value = int(value)
    return {"expression": expression, "result": value}


def now(timezone: str | None = None) -> dict[str, Any]:
    """The current date and time.

    Args:
        timezone: an IANA time zone such as "Europe/Paris" or "UTC" (default: UTC)
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    name = timezone or "UTC"
    try:
        tz = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris' or 'UTC'"
        ) from None
    t = datetime.now(tz)
    return {
        "datetime": t.isoformat(timespec="seconds"),
        "date": t.date().isoformat(),
        "time": t.strftime("%H:%M:%S"),
        "weekday": t.strftime("%A"),
        "timezone": name,
    }


def document_tools(
    retriever: Retriever, collection: str, settings: ToolSettings
) -> list[Callable[..., Any]]:
    """``search`` and ``read_document`` over one collection of ``retriever``'s store."""

    def doc_id_of(hit_chunk_id: str, fallback: str) -> str:
        idx = retriever.index(collection)
        row = idx.row_of.get(hit_chunk_id)
        return idx.doc_ids[row] if row is not None else fallback

    def search(query: str, k: int | None = None) -> list[dict[str, Any]]:
        """Search the documents for passages relevant to a query.

        Args:
            query: what to look for, in a few words or a question
            k: how many passages to return (default: a few)
        """
        if not query.strip():
            raise ValueError("the query is empty; say what to look for")
        n = settings.search_k if k is None else max(1, min(int(k), 50))
        hits = retriever.search(query, collection=collection, k=n)
        return [
            {
                "doc_id": doc_id_of(h.chunk.id, h.chunk.document_key or h.chunk.document_id),
                "chunk_id": h.chunk.id,
                "source": h.chunk.source,
                "title": h.chunk.title,
                "location": h.chunk.location,
                "score": round(float(h.score), 4),
                "text": h.chunk.text,
            }
            for h in hits
        ]

    def read_document(doc_id: str) -> dict[str, Any]:
        """Read a whole document by its id (the doc_id of a search result).

        Args:
            doc_id: the document's id, as the search tool returned it
        """
        idx = retriever.index(collection)
        wanted = {doc_id}
        for key, doc in retriever.store.documents(collection).items():
            if doc_id in (doc.id, doc.source):
                wanted.add(key)
        rows = [i for i, d in enumerate(idx.doc_ids) if d in wanted]
        if not rows:
            raise ValueError(
                f"no document {doc_id!r} in collection {collection!r}; pass the doc_id of a "
                "search result"
            )
        chunks = retriever.store.get_chunks(collection, [idx.chunk_ids[i] for i in rows])
        chunks.sort(key=lambda c: c.ordinal)
        text = "\n\n".join(c.text for c in chunks)
        cut = len(text) > settings.read_max_chars
        first = chunks[0]
        return {
            "doc_id": doc_id,
            "source": first.source,
            "title": first.title,
            "text": text[: settings.read_max_chars],
            "truncated": cut,
            "chars": len(text),
        }

    return [search, read_document]


__all__ = ["calculator", "document_tools", "evaluate_arithmetic", "now"]

"""Defaults of search and generation knobs live only in ``Settings``.

The CLI options, the server's request bodies, the Python API and the retriever take
``None`` for "use the setting"; one place (``RetrievalSettings.resolve``, the answer flow's
sampling) fills it in. A hard-coded ``k=10`` or ``max_tokens=256`` at an edge would drift from
the user's config file, so this test fails when one comes back."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "ragline"
KNOBS = {
    "k",
    "mode",
    "max_tokens",
    "temperature",
    "top_p",
    "max_passages",
    "samples",
    "candidates",
    "batch_k",
    "model",
    "seed",
    "min_tokens",
}
#: Same names, other concepts: the Elo K factor of `ragline eval rank`.
NOT_KNOBS = {"rank_cmd(k=…)"}
FILES = [
    *sorted((SRC / "cli").glob("*.py")),
    *sorted((SRC / "server").rglob("*.py")),
    SRC / "api.py",
    SRC / "retrieve" / "retriever.py",
    # the evaluation harness: a spec's answering system, the judges, synthetic questions
    SRC / "evaluate" / "spec.py",
    SRC / "evaluate" / "judge.py",
    SRC / "evaluate" / "synthetic.py",
]


def _is_set(node: ast.expr | None, names: dict[str, ast.expr]) -> bool:
    """A default that is a value, not None: ``10``, ``"hybrid"``, ``typer.Option(10, …)``,
    ``Field(256, …)``, or a module-level name bound to one (``SamplesOpt``)."""
    if node is None:
        return False
    if isinstance(node, ast.Name) and node.id in names:
        return _is_set(names[node.id], {})
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute | ast.Name):
        name = node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id
        if name in ("Option", "Field", "Query", "Body"):
            first = node.args[0] if node.args else None
            return first is not None and not (
                isinstance(first, ast.Constant) and first.value in (None, ...)
            )
        return False
    return not (isinstance(node, ast.Constant) and node.value is None)


def _module_names(tree: ast.Module) -> dict[str, ast.expr]:
    """Module-level ``NAME = value`` (``SamplesOpt = typer.Option(None, …)``)."""
    return {
        t.id: stmt.value
        for stmt in tree.body
        if isinstance(stmt, ast.Assign)
        for t in stmt.targets
        if isinstance(t, ast.Name)
    }


#: Options shared between command modules (``from ragline.cli.ask import SamplesOpt``).
SHARED = {
    name: value
    for path in sorted((SRC / "cli").glob("*.py"))
    for name, value in _module_names(ast.parse(path.read_text(encoding="utf-8"))).items()
    if name.endswith("Opt")
}


def hard_coded(path: Path) -> list[str]:
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {**SHARED, **_module_names(tree)}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            pos = args.posonlyargs + args.args
            pairs = list(zip(pos[len(pos) - len(args.defaults) :], args.defaults, strict=True))
            pairs += [(a, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)]
            for arg, default in pairs:
                where = f"{node.name}({arg.arg}=…)"
                if arg.arg in KNOBS and where not in NOT_KNOBS and _is_set(default, names):
                    found.append(f"{where} line {node.lineno}")
        elif isinstance(node, ast.ClassDef) and any(  # request bodies (pydantic models)
            (b.id if isinstance(b, ast.Name) else getattr(b, "attr", "")).endswith(
                ("Body", "Model", "Request")
            )
            for b in node.bases
        ):
            for stmt in node.body:
                if (
                    isinstance(stmt, ast.AnnAssign)
                    and isinstance(stmt.target, ast.Name)
                    and stmt.target.id in KNOBS
                    and _is_set(stmt.value, names)
                ):
                    found.append(f"{node.name}.{stmt.target.id} line {stmt.lineno}")
    return found


def test_the_scan_sees_a_hard_coded_default(tmp_path: Path):
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import typer\nfrom pydantic import BaseModel, Field\n"
        "def search(k: int = typer.Option(10, '-k'), mode: str = 'hybrid', q=None): ...\n"
        "def ok(k: int | None = typer.Option(None, '-k'), model: str = typer.Option(...)): ...\n"
        "class AskIn(BaseModel):\n    max_tokens: int = Field(256, ge=1)\n"
        "    k: int | None = None\n"
        "Five = typer.Option(5)\ndef shared(samples: int = Five): ...\n"
        "class Event:\n    model: str = ''\n"
    )
    assert hard_coded(bad) == [
        "search(k=…) line 3",
        "search(mode=…) line 3",
        "AskIn.max_tokens line 6",
        "shared(samples=…) line 9",
    ]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_edges_leave_defaults_to_settings(path: Path):
    assert hard_coded(path) == [], (
        f"{path.relative_to(SRC)} hard-codes a default that belongs in Settings: take None "
        "and let the settings fill it (RetrievalSettings.resolve, answer.*, gateway.*)"
    )

"""One definition per concept: a public class or type name means one thing in ragline.

Read as a newcomer would, two ``Scorer`` protocols (an evaluation metric's and the
gateway's best-of-N judge) or two ``SearchMode`` aliases make every new component pick a
copy. These tests scan ``src/ragline`` and fail when a second definition appears.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "ragline"

# Names defined twice on purpose: none. Keep it so; give a second concept its own name.
KNOWN_TWICE: set[str] = set()


def _definitions() -> dict[str, list[str]]:
    """Public module-level classes and CamelCase aliases -> the modules defining them."""
    out: dict[str, list[str]] = defaultdict(list)
    for path in sorted(SRC.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef):
                names = [node.name]
            elif isinstance(node, ast.Assign):
                names = [t.id for t in node.targets if isinstance(t, ast.Name)]
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                names = [node.target.id]
            elif isinstance(node, ast.FunctionDef):
                names = [node.name] if node.name == "split_sentences" else []
            else:
                names = []
            for name in names:
                camel = name[:1].isupper() and not name.isupper() and len(name) > 1
                if camel or name == "split_sentences":
                    out[name].append(path.relative_to(SRC).as_posix())
    return out


def test_each_public_class_or_type_name_is_defined_once():
    defs = _definitions()
    twice = {n: where for n, where in defs.items() if len(where) > 1 and n != "split_sentences"}
    assert set(twice) <= KNOWN_TWICE, {n: twice[n] for n in set(twice) - KNOWN_TWICE}


def test_one_scorer_protocol_and_one_search_mode():
    defs = _definitions()
    assert defs["Scorer"] == ["evaluate/scoring.py"]  # scores one eval item for a metric
    assert defs["CandidateScorer"] == ["models/gateway.py"]  # picks a best-of-N candidate
    assert defs["SearchMode"] == ["types.py"]  # the lowest layer; config.py imports it


def test_one_sentence_splitter():
    # ragline's own splitter, and IFEval's reference splitter that its scores must reproduce
    assert sorted(_definitions()["split_sentences"]) == [
        "evaluate/ifeval/text.py",
        "text/sentences.py",
    ]


def test_the_same_objects_are_reexported():
    import ragline.config
    import ragline.types
    from ragline.evaluate import scoring
    from ragline.models import gateway

    assert ragline.config.SearchMode is ragline.types.SearchMode
    assert not hasattr(gateway, "Scorer")
    assert scoring.Scorer is not gateway.CandidateScorer


def _body_dump(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    """A function's body without its docstring, names of the function itself left out."""
    body = fn.body
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return "\n".join(ast.dump(node) for node in body)


def test_one_span_stripper():
    # chunking and the sentence splitter cut text into stripped spans with one helper
    from ragline.ingest import chunking
    from ragline.text import sentences, spans

    assert chunking.strip_span is spans.strip_span and sentences.strip_span is spans.strip_span
    assert spans.strip_span("  a b \n", 0, 7) == [(2, 5)] and spans.strip_span(" \n", 0, 2) == []
    (original,) = (
        node
        for node in ast.parse((SRC / "text" / "spans.py").read_text(encoding="utf-8")).body
        if isinstance(node, ast.FunctionDef) and node.name == "strip_span"
    )
    copies = [
        f"{path.relative_to(SRC).as_posix()}:{node.name}"
        for path in sorted(SRC.rglob("*.py"))
        if path != SRC / "text" / "spans.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and _body_dump(node) == _body_dump(original)
    ]
    assert copies == []

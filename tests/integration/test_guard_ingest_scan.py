"""Document guards at ingestion (flagged chunks marked; flag / exclude / quarantine) and
``ragline guard scan`` (one text, and a JSONL batch with bad lines), with the guards found
through the plugin registry: a test distribution registers word-list guards in the
``ragline.guards`` entry-point group, as a third-party package would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ragline import plugins
from ragline.api import Ragline
from ragline.config import load_settings
from ragline.guard.pipeline import GuardPipeline
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.guard_conformance import WordGuard

pytestmark = pytest.mark.integration

PLANTED = (
    "Coffee storage. Keep the beans in a forbidden airtight jar, away from light, and grind "
    "them just before brewing coffee."
)
CLEAN = "Coffee storage tips. Keep coffee beans cool and dry in an opaque container."


def _plugin_dir(root: Path) -> Path:
    """A distribution on sys.path that registers ``flagger`` and ``crasher`` guards."""
    info = root / "ragline_test_guards-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ragline-test-guards\nVersion: 0\n")
    (info / "entry_points.txt").write_text(
        "[ragline.guards]\n"
        "flagger = ragline.testing.guard_conformance:flagger\n"
        "crasher = ragline.testing.guard_conformance:crasher\n"
    )
    return root


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = _plugin_dir(tmp_path_factory.mktemp("plugins"))
    sys.path.insert(0, str(root))
    plugins.refresh()
    yield root
    sys.path.remove(str(root))
    plugins.refresh()


def _settings(home: Path, **guard: Any) -> Any:
    base = {
        "input": ["flagger"],
        "output": [],
        "documents": ["flagger"],
        "actions": {"flagger": "block", "crasher": "block"},
    }
    return load_settings(home=home, answer={"style": "extractive"}, guard=base | guard)


def _corpus(folder: Path) -> Path:
    folder.mkdir()
    (folder / "planted.txt").write_text(PLANTED, encoding="utf-8")
    (folder / "clean.txt").write_text(CLEAN, encoding="utf-8")
    return folder


def test_the_registry_finds_guards_and_builds_them_once(plugin_path: Path, tmp_path: Path):
    assert {"flagger", "crasher"} <= set(plugins.names("guards"))
    pipeline = GuardPipeline(_settings(tmp_path))
    assert pipeline.load("input") == ["flagger"]
    assert pipeline.guard("flagger") is pipeline.guard("flagger")
    assert pipeline.check("a forbidden word", "input").decided_by == "flagger"


@pytest.mark.parametrize("policy", ["flag", "exclude", "quarantine"])
def test_flagged_chunks_are_marked_and_kept_out_by_policy(
    plugin_path: Path, tmp_path: Path, policy: str
) -> None:
    settings = _settings(tmp_path, document_action=policy, input=[])
    corpus = _corpus(tmp_path / "corpus")
    with Ragline(settings) as rag:
        report = rag.ingest([corpus], collection="c")
        assert report.flagged_chunks == 1 and report.to_dict()["flagged_chunks"] == 1
        hits = rag.search("coffee beans storage airtight jar", collection="c", k=5)
        sources = {Path(h.chunk.source).name: h for h in hits}
        if policy == "quarantine":
            assert "planted.txt" not in sources  # unsearchable
        else:
            finding = sources["planted.txt"].chunk.metadata["guard"]
            assert finding["decided_by"] == "flagger" and finding["action"] == policy
            assert finding["flags"][0]["label"] == "forbidden_word"
            assert finding["flags"][0]["start"] is not None
        assert "guard" not in sources["clean.txt"].chunk.metadata
        answer = rag.ask("How should coffee beans be stored?", collection="c")
        used = {Path(p.chunk.source).name for p in answer.passages}
        assert ("planted.txt" in used) == (policy == "flag"), used
        assert "clean.txt" in used


def test_search_cli_shows_the_flag(plugin_path: Path, tmp_path: Path, monkeypatch) -> None:
    from ragline.cli.main import app

    settings = _settings(tmp_path, document_action="flag")
    with Ragline(settings) as rag:
        rag.ingest([_corpus(tmp_path / "corpus")], collection="c")
    monkeypatch.setattr("ragline.cli.search.open_api", lambda: Ragline(settings))
    res = CliRunner().invoke(app, ["search", "airtight jar", "-c", "c", "-k", "2"])
    assert res.exit_code == 0, res.output
    assert "⚠ flagged by the flagger guard (forbidden_word)" in res.stdout
    res = CliRunner().invoke(app, ["search", "airtight jar", "-c", "c", "-k", "2", "--json"])
    hits = json.loads(res.stdout)
    assert any(h["metadata"].get("guard") for h in hits)


# --------------------------------------------------------------------------- guard scan


def _ragline(home: Path, plugin_path: Path, *args: str, **kw: Any) -> subprocess.CompletedProcess:
    env = {
        **os.environ,
        "RAGLINE_HOME": str(home),
        "PYTHONPATH": os.pathsep.join(
            [str(plugin_path), *filter(None, [os.environ.get("PYTHONPATH")])]
        ),
        "RAGLINE_GUARD__INPUT": '["flagger"]',
        "RAGLINE_GUARD__ACTIONS": '{"flagger": "block", "crasher": "block"}',
    }
    return subprocess.run(
        [sys.executable, "-m", "ragline.cli.main", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        **kw,
    )


def test_scan_one_text_as_json(plugin_path: Path, tmp_path: Path) -> None:
    res = _ragline(tmp_path, plugin_path, "guard", "scan", "a forbidden question", "--json")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["action"] == "block" and out["decided_by"] == "flagger"
    assert out["flags"] == [
        {"guard": "flagger", "label": "forbidden_word", "score": 0.9, "start": 2, "end": 11}
    ]
    res = _ragline(tmp_path, plugin_path, "guard", "scan", "hello there")
    assert res.returncode == 0 and res.stdout.startswith("allow")


def test_scan_batch_goes_on_past_bad_lines(plugin_path: Path, tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "text": "a forbidden thing"}),
        json.dumps({"id": "b", "text": ""}),
        "{not json",
        json.dumps({"id": "c"}),
        json.dumps(["a", "list"]),
        "",
        json.dumps({"id": "big", "text": "x " * 500_000}),
        json.dumps({"id": 7, "text": "ok"}),
    ]
    data = ("\n".join(lines) + "\n").encode() + b"\xff\xfe\x00junk\n"
    data += json.dumps({"id": "last", "text": "forbidden"}).encode() + b"\n"
    src, dst = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(data)
    res = _ragline(
        tmp_path, plugin_path, "guard", "scan", "--input", str(src), "--output", str(dst),
        "--guards", "flagger,crasher",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in dst.read_text(encoding="utf-8").splitlines()]
    by_id = {r["id"]: r for r in rows if "error" not in r}
    errors = [r for r in rows if "error" in r]
    assert [r["line"] for r in errors] == [3, 4, 5, 9]
    assert "not JSON" in errors[0]["error"] and 'no string "text"' in errors[1]["error"]
    assert "not UTF-8" in errors[3]["error"]
    assert "line 3: not JSON" in res.stderr and "line 9: not UTF-8" in res.stderr
    # the crasher is a block guard: it fails closed on every line, and says so
    assert all(r["action"] == "block" for r in by_id.values())
    assert by_id["a"]["flags"][0]["guard"] == "flagger"
    assert by_id["a"]["guard_errors"]["crasher"].startswith("RuntimeError")
    assert set(by_id) == {"a", "b", "big", 7, "last"}
    assert "scanned 9 line(s)" in res.stderr


def test_scan_rejects_a_bad_direction_and_an_unknown_guard(
    plugin_path: Path, tmp_path: Path
) -> None:
    res = _ragline(tmp_path, plugin_path, "guard", "scan", "x", "--direction", "sideways")
    assert res.returncode != 0 and "sideways" in res.stderr
    res = _ragline(tmp_path, plugin_path, "guard", "scan", "x", "--guards", "nope")
    assert res.returncode != 0 and "no guards plugin named 'nope'" in res.stderr


def test_api_guard_scan_with_a_collection_policy(tmp_path: Path) -> None:
    settings = load_settings(
        home=tmp_path,
        guard={"actions": {"w": "warn"}, "collections": {"strict": {"actions": {"w": "block"}}}},
    )
    with Ragline(settings, guard=GuardPipeline(settings, [WordGuard(["x"], name="w")])) as rag:
        assert str(rag.guard_scan("x", collection="other").action) == "warn"
        assert str(rag.guard_scan("x", collection="strict").action) == "block"
        assert str(rag.guard_scan("y", direction="output").action) == "allow"


def test_unused_fake_model_is_never_called(tmp_path: Path) -> None:
    """An input refusal costs no model call: the fake is never asked."""
    settings = load_settings(
        home=tmp_path, answer={"style": "generative"}, guard={"actions": {"w": "block"}}
    )
    model = FakeChatModel(["never"])
    with Ragline(settings, guard=GuardPipeline(settings, [WordGuard(["x"], name="w")])) as rag:
        rag.gateway = Gateway(settings, models={"embedded": model})
        rag.ingest([_corpus(tmp_path / "corpus")], collection="c")
        assert rag.ask("x marks the spot", collection="c").decline_reason == "blocked"
    assert model.calls == []

"""The ``ragline`` console script, run as a real process and through typer's runner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from ragline.cli.main import app

pytestmark = pytest.mark.integration
SAMPLE = REPO / "examples" / "sample"
runner = CliRunner()


def ragline(*args: str, env_home: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("ragline")
    return subprocess.run(
        [str(exe), *args],
        capture_output=True,
        text=True,
        env={**os.environ, "RAGLINE_HOME": str(env_home)},
        timeout=120,
    )


def test_console_script_end_to_end(tmp_path: Path, ragline_home: Path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    r = ragline("ingest", str(docs), "-c", "sample", env_home=ragline_home)
    assert r.returncode == 0, r.stderr
    assert "4 added" in r.stdout
    r = ragline("ingest", str(docs), "-c", "sample", env_home=ragline_home)
    assert "4 unchanged" in r.stdout and "nothing changed" in r.stdout
    r = ragline("search", "how hot is Venus", "-c", "sample", "-k", "2", env_home=ragline_home)
    assert r.returncode == 0 and "solar-system.md" in r.stdout.splitlines()[0]
    r = ragline("search", "nothing", "-c", "missing", env_home=ragline_home)
    assert r.returncode == 5 and "does not exist" in r.stderr and "hint" in r.stderr


def test_search_json_batch_collections_stats(tmp_path: Path):
    docs = tmp_path / "docs"
    shutil.copytree(SAMPLE, docs)
    res = runner.invoke(app, ["ingest", str(docs), "-c", "s", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["added"] == 4

    res = runner.invoke(
        app, ["search", "espresso", "-c", "s", "--mode", "bm25", "--json", "-k", "1"]
    )
    hits = json.loads(res.stdout)
    assert len(hits) == 1 and hits[0]["source"].endswith("coffee-brewing.html")
    assert {"rank", "score", "chunk_id", "document_id", "page", "heading_path"} <= set(hits[0])

    queries = tmp_path / "queries.jsonl"
    queries.write_text(
        json.dumps({"_id": "q1", "text": "hotel price cap"})
        + "\n"
        + json.dumps({"_id": "q2", "text": "multi-factor authentication"})
        + "\n"
    )
    out = tmp_path / "run.jsonl"
    res = runner.invoke(
        app, ["search", "--queries", str(queries), "--output", str(out), "-c", "s", "-k", "3"]
    )
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["query_id"] for line in lines] == ["q1", "q2"]
    assert lines[0]["documents"][0]["id"].endswith("travel-policy.pdf")
    assert len(lines[1]["results"]) == 3

    res = runner.invoke(app, ["collections", "--json"])
    assert json.loads(res.stdout)[0]["name"] == "s"
    res = runner.invoke(app, ["stats", "-c", "s", "--json"])
    stats = json.loads(res.stdout)
    assert stats["documents"] == 4 and stats["embedding_dim"] == 384
    assert stats["sources"] == {".html": 1, ".md": 1, ".pdf": 1, ".txt": 1}


def test_help_documents_every_command():
    res = runner.invoke(app, ["--help"])
    for command in ("ingest", "search", "collections", "stats"):
        assert command in res.stdout
        sub = runner.invoke(app, [command, "--help"])
        assert sub.exit_code == 0
        assert "--json" in sub.stdout or "--collection" in sub.stdout
    for command in ("ingest", "search"):
        assert "Example" in runner.invoke(app, [command, "--help"]).stdout

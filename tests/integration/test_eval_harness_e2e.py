"""``ragline eval`` end to end: ingest the sample documents with the real embedder, run two
specs (hybrid vs BM25 retrieval + answer metrics on precomputed outputs), compare, check."""

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
runner = CliRunner()
EXAMPLES = REPO / "examples" / "eval"


@pytest.fixture
def sample_collection(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(REPO / "examples" / "sample", docs)
    res = runner.invoke(app, ["ingest", str(docs), "-c", "sample", "--json"])
    assert res.exit_code == 0, res.output


def _run(spec: str) -> dict:
    res = runner.invoke(app, ["eval", "run", str(EXAMPLES / spec), "--json"])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


@pytest.mark.usefixtures("sample_collection")
def test_run_two_specs_then_compare_and_check(ragline_home: Path) -> None:
    hybrid = _run("sample-hybrid.yaml")
    bm25 = _run("sample-bm25.toml")
    h = {m["name"]: m for m in hybrid["metrics"]}
    b = {m["name"]: m for m in bm25["metrics"]}
    assert hybrid["items"] == 15 and hybrid["failed"] == 0
    # three questions share no word with their document: BM25 finds nothing for them
    assert h["recall@3"]["mean"] == 1.0 and b["recall@3"]["mean"] == pytest.approx(0.8)
    assert h["f1"]["low"] <= h["f1"]["mean"] <= h["f1"]["high"]
    report = json.loads(Path(hybrid["report"]).with_suffix(".json").read_text())
    assert report["run"]["config"]["system"]["retrieval"]["mode"] == "hybrid"
    item = next(i for i in report["items"] if i["item_id"] == "q13")
    assert item["retrieved"][0].endswith("solar-system.md") and item["scores"]["mrr"] == 1.0
    html = Path(hybrid["report"]).read_text()
    assert html.count("<svg") >= 10 and "by topic" in html

    res = runner.invoke(app, ["eval", "compare", hybrid["run_id"], bm25["run_id"], "--json"])
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.stdout)
    recall = next(d for d in cmp["deltas"] if d["metric"] == "recall@3" and not d["slice_field"])
    assert recall["delta"] == pytest.approx(-0.2) and recall["n"] == 15
    assert recall["low"] < 0 and Path(cmp["report"]).is_file()
    space = next(
        d for d in cmp["deltas"] if d["slice_value"] == "space" and d["metric"] == "recall@3"
    )
    assert space["delta"] == pytest.approx(-0.2) and space["n"] == 5

    res = runner.invoke(app, ["eval", "check", str(EXAMPLES / "sample-hybrid.yaml"), "--json"])
    assert res.exit_code == 0, res.output
    stability = json.loads(res.stdout)
    assert all(m["agreement"] == 1.0 for m in stability["metrics"])  # deterministic metrics
    assert stability["correlations"]["f1"]["rougeL"] > 0.8


def test_console_script_maps_errors_to_exit_codes(ragline_home: Path) -> None:
    exe = Path(sys.executable).with_name("ragline")
    env = {**os.environ, "RAGLINE_HOME": str(ragline_home)}
    r = subprocess.run(
        [str(exe), "eval", "compare", "nope", "nada"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 2 and "no evaluation run" in r.stderr and "hint" in r.stderr
    r = subprocess.run(
        [str(exe), "eval", "run", str(EXAMPLES / "sample-hybrid.yaml")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert r.returncode == 5 and "collection 'sample' does not exist" in r.stderr

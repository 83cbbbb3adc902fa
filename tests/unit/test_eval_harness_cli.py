"""``ragline eval ...`` through typer's runner, without real models (precomputed outputs,
FakeChatModel where a model is needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from ragline.cli.main import app
from ragline.config import load_settings
from ragline.errors import ConfigError, InvalidQueryError
from ragline.evaluate.runner import EvalRunner
from ragline.evaluate.spec import parse_spec
from ragline.models import gateway as gateway_module
from ragline.models.gateway import Gateway
from ragline.store.sqlite import SQLiteStore
from ragline.store.sqlite_evals import SQLiteEvalStore
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.store_conformance import make_write

runner = CliRunner()
DATA = REPO / "examples" / "eval" / "sample-questions.jsonl"


def _spec(tmp_path: Path, name: str, output: str) -> Path:
    spec = {
        "name": name,
        "dataset": str(DATA),
        "slices": ["topic"],
        "system": {"name": name, "output_field": output, "retrieved_field": "relevant"},
        "metrics": [
            {"type": "retrieval", "measures": ["recall@1"]},
            {"type": "answer", "measures": ["f1", "contains"]},
        ],
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return path


def _run(spec: Path, *extra: str) -> dict:
    res = runner.invoke(app, ["eval", "run", str(spec), "--json", *extra])
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)


def test_run_runs_report_and_compare(tmp_path: Path, ragline_home: Path) -> None:
    a = _run(_spec(tmp_path, "good", "prediction"))
    b = _run(_spec(tmp_path, "base", "baseline_answer"))
    assert a["items"] == 15 and a["failed"] == 0
    assert Path(a["report"]).is_file() and Path(a["report"]).with_suffix(".json").is_file()
    assert Path(a["report"]).parent == ragline_home / "evals" / a["run_id"]
    metrics = {m["name"]: m for m in a["metrics"]}
    assert metrics["recall@1"]["mean"] == 1.0

    res = runner.invoke(app, ["eval", "run", str(_spec(tmp_path, "good", "prediction")), "-q"])
    assert res.exit_code == 0 and "95% CI" in res.stdout and "report:" in res.stdout

    res = runner.invoke(app, ["eval", "runs"])
    assert res.exit_code == 0 and a["run_id"] in res.stdout and "complete" in res.stdout
    res = runner.invoke(
        app, ["eval", "report", a["run_id"][:14] + a["run_id"][14:], "-o", str(tmp_path / "rep")]
    )
    assert res.exit_code == 0 and (tmp_path / "rep" / "report.html").is_file()

    res = runner.invoke(
        app, ["eval", "compare", a["run_id"], b["run_id"], "--json", "--rounds", "300"]
    )
    assert res.exit_code == 0, res.output
    cmp = json.loads(res.stdout)
    f1 = next(d for d in cmp["deltas"] if d["metric"] == "f1" and d["slice_field"] is None)
    assert f1["delta"] < 0 and f1["low"] <= f1["delta"] <= f1["high"]
    assert {d["slice_value"] for d in cmp["deltas"] if d["slice_field"] == "topic"} == {
        "coffee",
        "security",
        "space",
        "travel",
    }
    res = runner.invoke(
        app, ["eval", "compare", a["run_id"], b["run_id"], "-s", "topic", "-m", "contains"]
    )
    assert res.exit_code == 0 and "by topic:" in res.stdout
    # only the chosen metric: no table row starts with another metric's name
    # (run ids are random hex, so "f1" may appear inside one)
    rows = [line.split()[0] for line in res.stdout.splitlines() if line.strip()]
    assert "contains" in rows and "f1" not in rows


def test_resume_by_run_id(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "r", "prediction")
    first = _run(spec, "--run-id", "fixed-id", "--limit", "5")
    assert first["items"] == 5
    res = runner.invoke(app, ["eval", "run", str(spec), "--run-id", "fixed-id"])
    assert res.exit_code == 0 and "10 evaluated, 5 resumed" in res.stdout


def test_unknown_runs_and_bad_specs_raise_ragline_errors(tmp_path: Path) -> None:
    res = runner.invoke(app, ["eval", "compare", "nope", "nada"])
    assert isinstance(res.exception, InvalidQueryError)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ndataset: d.jsonl\nmetrics: []\n")
    res = runner.invoke(app, ["eval", "run", str(bad)])
    assert isinstance(res.exception, ConfigError)
    res = runner.invoke(app, ["eval", "rank"])
    assert isinstance(res.exception, ConfigError)


def test_rank_from_files_and_runs(tmp_path: Path) -> None:
    csv = REPO / "examples" / "eval" / "comparisons.csv"
    res = runner.invoke(app, ["eval", "rank", str(csv), "--rounds", "50"])
    assert res.exit_code == 0, res.output
    assert "elo:" in res.stdout and "bradley_terry:" in res.stdout and "trueskill:" in res.stdout
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"left": "x", "right": "y", "winner": "left"}\n' * 3)
    res = runner.invoke(
        app, ["eval", "rank", str(jsonl), "--method", "bt", "--json", "--rounds", "50"]
    )
    ranked = json.loads(res.stdout)
    assert ranked["comparisons"] == 3 and ranked["bradley_terry"]["items"][0]["item"] == "x"

    # a pairwise judge run stored in the same database, then ranked from it
    settings = load_settings()
    judge = FakeChatModel(['{"better": "A"}', '{"better": "B"}'], name="judge")
    spec = parse_spec(
        {
            "name": "pw",
            "dataset": str(DATA),
            "system": {"name": "pred", "output_field": "prediction"},
            "metrics": [{"type": "pairwise", "model": "judge", "against": ["baseline_answer"]}],
        },
    )
    with SQLiteEvalStore(settings.database_path) as store:
        out = EvalRunner(settings, store, gateway=Gateway(settings, models={"judge": judge})).run(
            spec, limit=3, concurrency=1
        )
    res = runner.invoke(app, ["eval", "rank", "--run", out.run.run_id, "--method", "elo"])
    assert res.exit_code == 0, res.output
    assert "3 comparisons" in res.stdout and "pred" in res.stdout


def test_check_command(tmp_path: Path) -> None:
    spec = _spec(tmp_path, "chk", "prediction")
    res = runner.invoke(app, ["eval", "check", str(spec), "--json", "--limit", "6"])
    assert res.exit_code == 0, res.output
    report = json.loads(res.stdout)
    assert report["items"] == 6 and Path(report["report"]).is_file()
    assert all(m["agreement"] == 1.0 for m in report["metrics"])
    res = runner.invoke(app, ["eval", "check", str(spec), "-q", "--limit", "6"])
    assert "agreement" in res.stdout and "Spearman correlation" in res.stdout


def test_generate_and_review_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    store = SQLiteStore(settings.database_path)
    store.create_collection("docs")
    long = "ragline keeps every document chunk in one sqlite file with its vectors " * 3
    store.write_documents("docs", [make_write("a", [long]), make_write("b", [long + "b"])])
    store.close()
    fake = FakeChatModel(
        ['{"question": "Where are chunks kept?", "reference_answer": "SQLite"}'], name="embedded"
    )
    monkeypatch.setattr(gateway_module, "Gateway", lambda s: Gateway(s, models={"embedded": fake}))
    out = tmp_path / "syn.jsonl"
    res = runner.invoke(app, ["eval", "generate", "-c", "docs", "-n", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote 2 pending items" in res.stdout
    items = [json.loads(line) for line in out.read_text().splitlines()]
    assert [i["status"] for i in items] == ["pending", "pending"]

    reviewed = tmp_path / "reviewed.jsonl"
    res = runner.invoke(
        app,
        ["eval", "review", str(out), "-o", str(reviewed)],
        input="e\nWhere does ragline keep chunks?\n\nd\n",
    )
    assert res.exit_code == 0, res.output
    assert "0 accepted, 1 edited, 1 dropped" in res.stdout
    final = [json.loads(line) for line in reviewed.read_text().splitlines()]
    assert len(final) == 1 and final[0]["status"] == "edited"
    assert final[0]["question"] == "Where does ragline keep chunks?"
    res = runner.invoke(app, ["eval", "generate", "-c", "missing"])
    assert res.exception is not None and "missing" in str(res.exception)

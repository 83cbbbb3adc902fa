"""``ragline cache calibrate | probe | stats | clear`` on the sample collection (real
embedder and store)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import REPO
from ragline.api import Ragline
from ragline.cli.main import app
from ragline.config import load_settings
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel

runner = CliRunner()

PAIRS = [
    {
        "id": "p1",
        "q1": "What is the ideal brewing temperature for coffee?",
        "q2": "At what temperature should coffee be brewed?",
        "duplicate": True,
    },
    {
        "id": "p2",
        "q1": "Which is the hottest planet?",
        "q2": "Which is the coldest planet?",
        "duplicate": False,
    },
    {
        "q1": "How long must a password be?",
        "q2": "how long must a password be",
        "duplicate": True,
        "note": "ignored",
    },
    {
        "id": "p4",
        "q1": "Is MFA mandatory for the VPN?",
        "q2": "Is MFA not mandatory for the VPN?",
        "duplicate": False,
    },
]


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("cache-cli")
    with Ragline(load_settings(home=home)) as rag:
        rag.ingest([REPO / "examples" / "sample"], collection="sample")
    return home


@pytest.fixture
def env(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGLINE_HOME", str(home))
    monkeypatch.setenv("RAGLINE_CACHE__ENABLED", "true")
    return home


def pairs_file(tmp_path: Path, extra_lines: list[str] = ()) -> Path:  # type: ignore[assignment]
    path = tmp_path / "pairs.jsonl"
    lines = (
        [json.dumps(p) for p in PAIRS[:2]] + list(extra_lines) + [json.dumps(p) for p in PAIRS[2:]]
    )
    path.write_text("\n".join(lines) + "\n")
    return path


def test_calibrate_reports_rates_and_a_threshold_and_skips_bad_lines(env: Path, tmp_path: Path):
    path = pairs_file(
        tmp_path,
        ["{not json", '{"q1": "only one"}', '{"q1": "a", "q2": "b", "duplicate": "yes"}', "[]"],
    )
    result = runner.invoke(
        app, ["cache", "calibrate", "--pairs", str(path), "-c", "sample", "--json"]
    )
    assert result.exit_code == 0, result.output
    assert f"{path}:3: not JSON" in result.stderr
    assert f"{path}:4: q2 must be non-empty strings" in result.stderr
    assert f"{path}:5: duplicate must be true or false, not 'yes'" in result.stderr
    assert f"{path}:6: not a JSON object" in result.stderr
    report = json.loads(result.stdout)
    assert report["pairs"] == 4
    rows = {row["threshold"]: row for row in report["table"]}
    loose = rows[0.6]
    # at a loose threshold the cosine alone takes the near-misses; the gate does not
    assert loose["without_gate"]["false_hits"] == 2 and loose["with_gate"]["false_hits"] == 0
    assert loose["with_gate"]["hits"] == 2
    assert report["recommended_threshold"] == 0.6
    assert report["rejections_on_non_duplicates"] == {"gate:negation": 2}


def test_calibrate_prints_a_table(env: Path, tmp_path: Path):
    result = runner.invoke(
        app, ["cache", "calibrate", "--pairs", str(pairs_file(tmp_path)), "-c", "sample"]
    )
    assert result.exit_code == 0, result.output
    assert "recommended: cache.threshold = 0.60" in result.stdout


def test_probe_runs_the_cache_as_ask_would(
    env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("RAGLINE_CACHE__THRESHOLD", "0.6")  # the gate decides the near-misses
    out = tmp_path / "out" / "probe.jsonl"
    result = runner.invoke(
        app,
        [
            "cache",
            "probe",
            "--pairs",
            str(pairs_file(tmp_path)),
            "-c",
            "sample",
            "--output",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r.get("id") for r in rows] == ["p1", "p2", None, "p4"]
    assert set(rows[0]) == {"id", "q1", "q2", "hit", "kind", "score", "reason"}
    assert rows[0]["hit"] and rows[0]["kind"] == "semantic" and rows[0]["score"] > 0.8
    assert not rows[1]["hit"] and rows[1]["reason"] == "gate:negation"
    assert rows[2]["hit"] and rows[2]["kind"] == "exact"
    assert not rows[3]["hit"] and rows[3]["reason"] == "gate:negation"
    assert "note" not in rows[2]
    # the user's own cache is left alone
    stats = runner.invoke(app, ["cache", "stats", "--json"])
    assert json.loads(stats.stdout)["collections"] == []


def test_stats_and_clear(env: Path):
    with Ragline(
        load_settings(home=env, answer={"style": "generative"}, cache={"enabled": True})
    ) as rag:
        rag.gateway = Gateway(
            rag.settings,
            models={
                "embedded": FakeChatModel(
                    ["The ideal brewing temperature is between 90 and 96 degrees Celsius."]
                )
            },
        )
        answer = rag.ask("What is the ideal brewing temperature for coffee?", collection="sample")
        assert not answer.declined
    result = runner.invoke(app, ["cache", "stats", "--json"])
    assert result.exit_code == 0, result.output
    (stats,) = json.loads(result.stdout)["collections"]
    assert stats["collection"] == "sample" and stats["entries"] == 1
    assert "sample: 1 entries" in runner.invoke(app, ["cache", "stats"]).stdout
    cleared = runner.invoke(app, ["cache", "clear", "-c", "sample"])
    assert cleared.exit_code == 0 and "cleared 1 cached answer(s) of sample" in cleared.stdout
    assert "nothing cached" in runner.invoke(app, ["cache", "stats"]).stdout


def test_a_file_with_no_usable_pair_is_an_error(env: Path, tmp_path: Path):
    path = tmp_path / "bad.jsonl"
    path.write_text("nope\n")
    result = runner.invoke(app, ["cache", "calibrate", "--pairs", str(path), "-c", "sample"])
    assert result.exit_code != 0
    assert "no usable pair" in result.output

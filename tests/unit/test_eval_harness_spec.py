"""Evaluation specs (YAML / TOML / JSON), datasets and versioned prompt files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import REPO
from ragline.errors import ConfigError, MalformedInputError
from ragline.evaluate.spec import (
    JudgeMetric,
    PairwiseMetric,
    get_field,
    load_dataset,
    load_spec,
    parse_spec,
    slice_value,
)

EXAMPLES = REPO / "examples" / "eval"


@pytest.mark.parametrize(
    "name", ["sample-hybrid.yaml", "sample-bm25.toml", "sample-judge.yaml", "sample-answer.json"]
)
def test_example_specs_load(name: str) -> None:
    spec = load_spec(EXAMPLES / name)
    assert spec.dataset_path.is_file()
    assert spec.metric_names()
    items = load_dataset(spec.dataset_path, spec.id_field)
    assert len(items) == 15 and items[0].id == "q01"


def test_judge_spec_defaults() -> None:
    spec = load_spec(EXAMPLES / "sample-judge.yaml")
    judge, pairwise = spec.metrics[1], spec.metrics[2]
    assert isinstance(judge, JudgeMetric) and judge.metric_name == "judge_reference"
    assert isinstance(pairwise, PairwiseMetric) and pairwise.against == ("baseline_answer",)
    assert spec.system_name == "prediction"


def _spec(**over):
    base = {
        "name": "t",
        "dataset": "d.jsonl",
        "system": {"output_field": "out"},
        "metrics": [{"type": "answer"}],
    }
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "message"),
    [
        ({"metrics": []}, "metrics"),
        ({"metrics": [{"type": "nope"}]}, "type"),
        ({"metrics": [{"type": "retrieval"}]}, "retrieval metrics need"),
        ({"metrics": [{"type": "retrieval", "measures": ["ndcg"]}]}, "unknown retrieval"),
        ({"system": {}}, "need outputs"),
        ({"metrics": [{"type": "answer"}, {"type": "answer"}]}, "appear twice"),
        ({"system": {"output_field": "o", "answer": {}}}, "not both"),
        ({"metrics": [{"type": "pairwise", "against": []}]}, "at least one"),
        ({"extra": 1}, "extra"),
    ],
)
def test_invalid_specs_name_the_problem(over, message) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_spec(_spec(**over))


def test_bad_files(tmp_path: Path) -> None:
    (tmp_path / "s.ini").write_text("x")
    with pytest.raises(ConfigError, match="unknown spec format"):
        load_spec(tmp_path / "s.ini")
    (tmp_path / "s.yaml").write_text("name: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_spec(tmp_path / "s.yaml")
    (tmp_path / "l.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping"):
        load_spec(tmp_path / "l.json")


def test_dataset_ids_lines_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "d.jsonl"
    path.write_text('{"q": "a"}\n\n{"id": 7, "q": "b"}\n')
    items = load_dataset(path)
    assert [i.id for i in items] == ["1", "7"] and [i.ordinal for i in items] == [0, 1]
    path.write_text('{"id": 1}\n{"id": 1}\n')
    with pytest.raises(MalformedInputError, match="duplicate id"):
        load_dataset(path)
    path.write_text('{"id": 1}\nnot json\n')
    with pytest.raises(MalformedInputError, match=":2"):
        load_dataset(path)
    arr = tmp_path / "d.json"
    arr.write_text(json.dumps([{"id": "x"}]))
    assert load_dataset(arr)[0].id == "x"


def test_field_paths_and_slices() -> None:
    data = {"a": {"b": 1}, "metadata": {"lang": "en"}, "x.y": 2}
    assert get_field(data, "a.b") == 1 and get_field(data, "x.y") == 2
    assert get_field(data, "a.c", "d") == "d"
    assert slice_value(data, "lang") == "en" and slice_value(data, "nope") is None

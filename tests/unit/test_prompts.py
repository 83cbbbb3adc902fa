"""Prompt files: the one format, the registry (shipped + the user's folder), the strict
renderer, what runs record, and ``ragline prompts list | show | diff``."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ragline.cli.main import app
from ragline.config import load_settings
from ragline.errors import ConfigError, PromptError
from ragline.evaluate.runner import EvalRunner
from ragline.evaluate.spec import parse_spec
from ragline.models.gateway import Gateway
from ragline.prompts import SHIPPED_DIR, PromptRegistry, parse_prompt
from ragline.store.sqlite_evals import SQLiteEvalStore
from ragline.testing.chat_conformance import FakeChatModel

SRC = Path(__file__).resolve().parents[2] / "src" / "ragline"
RENDERINGS = Path(__file__).with_name("data") / "prompt_renderings.json"
runner = CliRunner()


def write(folder: Path, file: str, name: str, version: int, body: str, extra: str = "") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file
    path.write_text(f"---\nname: {name}\nversion: {version}\n{extra}---\n{body}", encoding="utf-8")
    return path


# --------------------------------------------------------------------------- the format


def test_every_shipped_prompt_renders_as_before_the_one_format() -> None:
    """The renderings of the two former loaders (answer ``{x}`` .txt files and evaluation
    ``{{x}}`` .md files), recorded before they were deleted: the text sent to models is
    unchanged, so answer accuracy and evaluation figures are too. (Versions added since, such
    as answer@v3 with the spotlight slot, are new files, not changed ones.)"""
    recorded = json.loads(RENDERINGS.read_text(encoding="utf-8"))
    registry = PromptRegistry()
    assert set(recorded["rendered"]) <= {p.ref for p in registry.prompts()}
    for ref, messages in recorded["rendered"].items():
        prompt = registry.get(ref)
        values = {k: recorded["values"][k] for k in prompt.variables}
        assert prompt.render(**values) == messages, ref


def test_front_matter_and_messages_are_parsed() -> None:
    text = (
        "---\nname: grade\nversion: 3\ndescription: Grades.\n"
        "model: {family: qwen, temperature: 0.5, max_tokens: 64}\n"
        "output_schema: {type: object, required: [rating]}\n---\n"
        '[system]\nBe fair.\n[user]\nRate {{ answer }}: {"rating": 1}\n'
        "[assistant]\nOK.\n[user]\nAnd {{answer}} again?\n"
    )
    p = parse_prompt(text)
    assert (p.name, p.version, p.ref, p.description) == ("grade", 3, "grade@v3", "Grades.")
    assert p.model.family == "qwen" and p.model.temperature == 0.5 and p.model.max_tokens == 64
    assert p.output_schema == {"type": "object", "required": ["rating"]}
    assert p.sha256 == hashlib.sha256(text.encode()).hexdigest() and p.digest == p.sha256[:12]
    assert p.stamp == f"grade@v3 sha256:{p.digest}" and p.variables == {"answer"}
    assert p.render(answer="A") == [
        {"role": "system", "content": "Be fair."},
        {"role": "user", "content": 'Rate A: {"rating": 1}'},
        {"role": "assistant", "content": "OK."},
        {"role": "user", "content": "And A again?"},
    ]
    # no role lines: the body is one user message; an empty system message is left out
    assert parse_prompt("---\nname: q\nversion: 1\n---\nAsk {{q}}\n").render(q="x") == [
        {"role": "user", "content": "Ask x"}
    ]
    assert parse_prompt("---\nname: q\nversion: 1\n---\n[system]\n[user]\nHi").render() == [
        {"role": "user", "content": "Hi"}
    ]


def test_the_hash_is_the_files_bytes() -> None:
    for path in SHIPPED_DIR.glob("*.v*.md"):
        prompt = PromptRegistry().get(str(path))
        assert prompt.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    a = parse_prompt("---\nname: x\nversion: 1\n---\nHi {{a}}")
    assert parse_prompt("---\nname: x\nversion: 1\n---\nHi  {{a}}").sha256 != a.sha256


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[user]\nHi", "does not start with a '---' front matter line"),
        ("---\nname: x\nversion: 1\n[user]\nHi", "no closing '---'"),
        ("---\nname: [x\n---\nHi", "not valid YAML"),
        ("---\njust text\n---\nHi", "must be 'key: value' lines"),
        ("---\nname: x\n---\nHi", "version: Field required"),
        ("---\nname: X Y\nversion: 1\n---\nHi", "name: String should match"),
        ("---\nname: x\nversion: v2\n---\nHi", "version: Input should be a valid integer"),
        ("---\nname: x\nversion: 1\ntemprature: 0\n---\nHi", "temprature: Extra inputs"),
        ("---\nname: x\nversion: 1\n---\n[system]\nonly system", "has no user message"),
        ("---\nname: x\nversion: 1\n---\nintro\n[user]\nHi", "text before the first"),
        ("---\nname: x\nversion: 1\n---\nHi {{not a slot}}", "not a {{variable}} slot"),
    ],
)
def test_a_bad_prompt_file_names_the_file_and_the_problem(
    tmp_path: Path, text: str, problem: str
) -> None:
    path = tmp_path / "bad.md"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(PromptError) as caught:
        PromptRegistry().get(str(path))
    assert str(path) in caught.value.message and problem in caught.value.message
    with pytest.raises(PromptError, match=re.escape(str(path))):  # and in a prompts folder
        PromptRegistry(tmp_path)


def test_the_renderer_fails_on_a_missing_and_on_an_unknown_variable() -> None:
    prompt = PromptRegistry().get("judge_pairwise@v1")
    with pytest.raises(PromptError) as caught:
        prompt.render(question="Q", answer_a="one")
    assert "prompt judge_pairwise@v1" in caught.value.message
    assert "missing variable 'answer_b'" in caught.value.message
    with pytest.raises(PromptError) as caught:
        prompt.render(question="Q", answer_a="one", answer_b="two", answer_c="three")
    assert "unknown variable 'answer_c'" in caught.value.message
    assert "answer_a, answer_b, question" in (caught.value.hint or "")
    assert isinstance(caught.value, ConfigError)  # in the error tree: exit code 2, HTTP 400
    # values are filled once: a value that looks like a slot stays text
    out = prompt.render(question="{{answer_a}}", answer_a="x", answer_b="y")
    assert "Question:\n{{answer_a}}" in out[1]["content"]


# --------------------------------------------------------------------------- the registry


def test_versions_are_selected_by_name_and_version() -> None:
    registry = PromptRegistry()
    assert registry.versions("answer") == [1, 2, 3]
    assert registry.get("answer").ref == "answer@v3"  # a bare name: the highest version
    assert registry.get("answer@v1").ref == "answer@v1"
    assert registry.get("answer@v1").sha256 != registry.get("answer@v2").sha256
    with pytest.raises(PromptError, match="answer has no version 9") as caught:
        registry.get("answer@v9")
    assert "answer@v1, answer@v2, answer@v3" in (caught.value.hint or "")
    with pytest.raises(PromptError, match="no prompt 'nonexistent'"):
        registry.get("nonexistent")
    # the former references get a pointer to the new name
    for old, new in [
        ("answer.v2", "answer@v2"),
        ("judge_pointwise_v1", "judge_pointwise@v1"),
        ("answer_v1", "eval_answer@v1"),
    ]:
        with pytest.raises(PromptError) as caught:
            registry.get(old)
        assert f"use {new}" in (caught.value.hint or "")


def test_a_prompt_by_path_relative_to_a_base_dir(tmp_path: Path) -> None:
    write(tmp_path / "specs", "mine.md", "mine", 4, "[user]\n{{question}}?")
    prompt = PromptRegistry().get("mine.md", base_dir=tmp_path / "specs")
    assert prompt.ref == "mine@v4" and prompt.source == "file"
    with pytest.raises(PromptError, match="no prompt file"):
        PromptRegistry().get("missing.md", base_dir=tmp_path)
    old = tmp_path / "answer.v1.txt"  # the former answer format
    old.write_text("[user]\n{question}", encoding="utf-8")
    with pytest.raises(PromptError, match="front matter"):
        PromptRegistry().get(str(old))


def test_the_user_folder_overrides_a_shipped_prompt_by_name_and_version(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    write(folder, "mine.md", "answer", 2, "[user]\nMINE {{passages}} {{question}}")
    write(folder, "answer.v3.md", "answer", 3, "[user]\nV3 {{passages}} {{question}}")
    write(folder, "extra.md", "extra", 1, "Hello")
    (folder / "README.md").write_text("not a prompt")
    registry = PromptRegistry(folder)
    v2 = registry.get("answer@v2")
    assert v2.source == "user" and v2.path == folder / "mine.md" and registry.overrides(v2)
    assert v2.render(passages="P", question="Q") == [{"role": "user", "content": "MINE P Q"}]
    assert registry.get("answer").ref == "answer@v3"  # a new version adds to the shipped ones
    assert registry.get("answer@v1").source == "shipped"
    assert not registry.overrides(registry.get("extra"))
    # two files claiming one name@version is an error naming both
    write(folder, "copy.md", "answer", 2, "[user]\n{{question}}")
    with pytest.raises(PromptError, match="two prompt files are answer@v2") as caught:
        PromptRegistry(folder)
    assert "copy.md" in caught.value.message and "mine.md" in caught.value.message


def test_the_folder_comes_from_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    assert PromptRegistry.from_settings(load_settings(home=home)).folder is None
    write(home / "prompts", "r.md", "rewrite", 1, "[user]\nR {{history}} {{question}}")
    by_default = PromptRegistry.from_settings(load_settings(home=home))  # <home>/prompts
    assert by_default.get("rewrite").source == "user"
    other = tmp_path / "elsewhere"
    write(other, "j.md", "judge_pointwise", 1, "[user]\n{{question}} {{answer}}")
    monkeypatch.setenv("RAGLINE_PROMPTS__FOLDER", str(other))
    registry = PromptRegistry.from_settings(load_settings(home=home))
    assert registry.folder == other and registry.get("judge_pointwise").source == "user"
    assert registry.get("rewrite").source == "shipped"  # only the configured folder counts
    monkeypatch.setenv("RAGLINE_PROMPTS__FOLDER", str(tmp_path / "nope"))
    with pytest.raises(PromptError, match="does not exist"):
        PromptRegistry.from_settings(load_settings(home=home))


def test_structured_prompts_declare_the_schema_their_callers_ask_for() -> None:
    from ragline.evaluate.judge import PreferenceSchema, RatingSchema
    from ragline.evaluate.synthetic import SyntheticQA

    registry = PromptRegistry()
    for ref, model in [
        ("judge_pointwise@v1", RatingSchema),
        ("judge_reference@v1", RatingSchema),
        ("judge_pairwise@v1", PreferenceSchema),
        ("synthetic_qa@v1", SyntheticQA),
    ]:
        declared, asked = registry.get(ref).output_schema, model.model_json_schema()
        assert declared is not None, ref
        assert set(declared["properties"]) == set(asked["properties"]), ref
        assert declared["required"] == asked["required"], ref


def test_one_prompt_format_only() -> None:
    """Every prompt in the package is a file of the one format, read by the one loader:
    fails if a second format (``{x}`` slots, a ``.txt`` prompt) or a second loader returns."""
    registry = PromptRegistry()
    shipped = {p.path for p in registry.prompts()}
    role_line = re.compile(r"^\[(system|user|assistant)\]\s*$", re.MULTILINE)
    for path in SRC.rglob("*"):
        if not path.is_file() or path.suffix in (".pyc", ".onnx", ".gguf"):
            continue
        if path.suffix == ".py":
            code = path.read_text(encoding="utf-8")
            if path.parent.name != "prompts" or path.parent.parent != SRC:
                assert not re.search(r"def (load|parse)_prompt\b|class PromptTemplate\b", code), (
                    f"{path}: prompts are loaded by ragline.prompts only"
                )
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if role_line.search(text):
            assert path in shipped, f"{path} looks like a prompt outside ragline/prompts/shipped"
    assert all(p.suffix == ".md" for p in SHIPPED_DIR.iterdir())
    single = re.compile(r"(?<!\{)\{[A-Za-z_]\w*\}(?!\})")
    for prompt in registry.prompts():
        for message in prompt.messages:
            assert not single.search(message.text), f"{prompt.ref}: a {{x}} slot"


# --------------------------------------------------------------------------- records


def test_an_evaluation_run_records_each_prompts_name_version_and_hash(tmp_path: Path) -> None:
    folder = tmp_path / "prompts"
    write(folder, "j.md", "judge_pointwise", 1, "[user]\nMY RUBRIC {{question}} {{answer}}")
    settings = load_settings(home=tmp_path, prompts={"folder": folder})
    judge = FakeChatModel(lambda m, p: '{"rating": 4}', name="judge")
    answerer = FakeChatModel(lambda m, p: "Paris", name="fake")
    gateway = Gateway(settings, models={"fake": answerer, "judge": judge})
    (tmp_path / "d.jsonl").write_text('{"id": "a", "question": "Capital of France?"}\n')
    spec = parse_spec(
        {
            "name": "p",
            "dataset": "d.jsonl",
            "system": {"name": "s", "answer": {"model": "fake"}},
            "metrics": [{"type": "judge", "model": "judge"}],
        },
        tmp_path,
    )
    store = SQLiteEvalStore(tmp_path / "evals.db")
    try:
        outcome = EvalRunner(settings, store, gateway=gateway).run(spec)
        run = store.get_run(outcome.run.run_id)
        items = store.get_items(outcome.run.run_id)
    finally:
        store.close()
    registry = PromptRegistry(folder)
    answer, rubric = registry.get("eval_answer_closed@v1"), registry.get("judge_pointwise@v1")
    assert run is not None and run.prompts == {
        "answer": answer.stamp,
        "judge_pointwise": rubric.stamp,
    }
    assert run.prompts["judge_pointwise"] == f"judge_pointwise@v1 sha256:{rubric.digest}"
    assert rubric.source == "user" and judge.calls[0][0][0]["content"].startswith("MY RUBRIC")
    assert items[0].details["judge_pointwise"]["prompt"] == rubric.stamp


# --------------------------------------------------------------------------- the CLI


@pytest.fixture
def user_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RAGLINE_HOME", str(tmp_path))
    write(tmp_path / "prompts", "a.md", "answer", 2, "[user]\nMINE {{passages}} {{question}}")
    return tmp_path


def test_cli_list(user_home: Path) -> None:
    res = runner.invoke(app, ["prompts", "list", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["ref"]: r for r in json.loads(res.output)}
    assert set(rows) == {p.ref for p in PromptRegistry(user_home / "prompts").prompts()}
    assert rows["answer@v2"]["source"] == "user, overrides shipped"
    assert rows["answer@v1"]["source"] == "shipped"
    assert rows["judge_pairwise@v1"]["variables"] == ["answer_a", "answer_b", "question"]
    assert rows["judge_pairwise@v1"]["output_schema"]["required"] == ["better"]
    res = runner.invoke(app, ["prompts", "list"])
    assert res.exit_code == 0 and "synthetic_qa@v1" in res.output
    assert PromptRegistry().get("rewrite").digest in res.output


def test_cli_show(user_home: Path) -> None:
    res = runner.invoke(app, ["prompts", "show", "answer@v1"])
    assert res.exit_code == 0, res.output
    shipped = (SHIPPED_DIR / "answer.v1.md").read_text(encoding="utf-8")
    header, body = res.output.split("\n", 1)
    assert body == shipped
    assert header.startswith("# answer@v1  sha256 " + PromptRegistry().get("answer@v1").sha256)
    res = runner.invoke(app, ["prompts", "show", "answer@v2", "--json"])
    shown = json.loads(res.output)
    assert shown["ref"] == "answer@v2" and shown["text"].startswith("---\nname: answer\n")
    assert "MINE" in shown["text"] and shown["source"] == "user, overrides shipped"
    res = runner.invoke(app, ["prompts", "show", "answer@v7"])
    assert isinstance(res.exception, PromptError) and res.exception.exit_code == 2
    assert "answer has no version 7" in res.exception.message


def test_cli_diff(user_home: Path) -> None:
    v1 = PromptRegistry().get("answer@v1")
    res = runner.invoke(app, ["prompts", "diff", "answer@v1", "judge_pairwise@v1"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0] == f"--- answer@v1 ({v1.digest})"
    assert lines[1].startswith("+++ judge_pairwise@v1 (") and lines[2].startswith("@@")
    assert "-name: answer" in lines and "+name: judge_pairwise" in lines
    res = runner.invoke(app, ["prompts", "diff", "answer@v1", "answer@v2"])
    assert "+MINE {{passages}} {{question}}" in res.output.splitlines()  # the user's v2
    res = runner.invoke(app, ["prompts", "diff", "rewrite@v1", "rewrite@v1"])
    assert res.exit_code == 0 and res.output == ""


def test_cli_help_names_the_commands() -> None:
    res = runner.invoke(app, ["prompts", "--help"])
    assert res.exit_code == 0
    assert all(c in res.output for c in ("list", "show", "diff", "prompts folder"))

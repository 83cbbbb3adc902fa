"""A real LoRA on the embedded SmolLM2-135M: a few steps on a handful of examples, converted
to GGUF, loaded unmerged by llama.cpp, and answering through the gateway and the
OpenAI-compatible API as ``smollm2-135m+tiny``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from conftest import require_smollm2
from ragline.config import Settings, load_settings
from ragline.errors import AdapterError
from ragline.finetune.data import ChatExample
from ragline.models.adapters import ADAPTER_FILE, INFO_FILE, AdapterInfo, find_adapter

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest.importorskip("peft")
pytest.importorskip("gguf")
GGUF = require_smollm2()

COLOURS = [("sky", "blue"), ("grass", "green"), ("snow", "white"), ("coal", "black")]
COLOURS += [("blood", "red"), ("sun", "yellow"), ("night", "dark"), ("milk", "white")]
COLOURS += [("rust", "brown"), ("ocean", "blue")]


def example(thing: str, colour: str) -> ChatExample:
    question = f"[1] <<The {thing} is {colour}.>>\n\nQuestion: What colour is the {thing}?"
    return ChatExample(
        (
            {"role": "user", "content": question},
            {"role": "assistant", "content": f"{colour.capitalize()} [1]."},
        )
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, object]]:
    from ragline.finetune.chat import ChatTrainConfig, train_chat

    root = tmp_path_factory.mktemp("finetune")
    settings = load_settings(home=root / "home", finetune={"adapters_dir": root / "adapters"})
    examples = [example(t, c) for t, c in COLOURS]
    config = ChatTrainConfig.from_settings(
        settings,
        "smollm2-135m",
        settings.adapters_dir / "tiny",
        epochs=2.0,
        lr=3e-3,
        rank=4,
        alpha=8.0,
        batch_size=4,
        max_seq_len=96,
        max_steps=3,
        checkpoint_every=1,
    )
    report = train_chat(examples[:8], config, settings, eval_examples=examples[8:])
    yield settings, report


def test_training_writes_a_gguf_adapter_with_its_base(trained) -> None:  # type: ignore[no-untyped-def]
    settings, report = trained
    assert report.steps == 3 and len(report.losses) == 3
    assert all(np.isfinite(report.losses))
    assert report.before is not None and report.after is not None
    assert report.after.loss < report.before.loss  # the held-out answers got likelier
    folder = settings.adapters_dir / "tiny"
    assert (folder / ADAPTER_FILE).stat().st_size > 100_000
    info = AdapterInfo(**{**json.loads((folder / INFO_FILE).read_text())})
    assert info.base == "smollm2-135m" and info.rank == 4 and info.examples == 8
    import gguf

    reader = gguf.GGUFReader(str(folder / ADAPTER_FILE))
    assert reader.fields["general.type"].contents() == "adapter"
    assert reader.fields["adapter.lora.alpha"].contents() == 8.0
    assert reader.fields["ragline.base_model"].contents() == "smollm2-135m"
    assert any(t.name == "blk.0.attn_q.weight.lora_b" for t in reader.tensors)


def test_llama_cpp_runs_the_adapter_as_peft_does(trained) -> None:  # type: ignore[no-untyped-def]
    """The converted adapter (names, Q/K permutation, scale) gives llama.cpp the logits that
    peft gives, and they differ from the base model's."""
    import llama_cpp
    import torch
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    from ragline.finetune.chat import TARGET_MODULES, load_base

    settings, _ = trained
    folder = settings.adapters_dir / "tiny"
    model, tokenizer, path = load_base("smollm2-135m", settings)
    peft_model = get_peft_model(
        model,
        LoraConfig(r=4, lora_alpha=8.0, target_modules=list(TARGET_MODULES), task_type="CAUSAL_LM"),
    )
    state = torch.load(folder / "checkpoint" / "state.pt", weights_only=False)
    set_peft_model_state_dict(peft_model, state["adapter"])
    peft_model.eval()
    text = tokenizer.apply_chat_template(
        list(example("lake", "blue").prompt), add_generation_prompt=True, tokenize=False
    )
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        tuned = peft_model(input_ids=torch.tensor([ids])).logits[0].numpy()
        with peft_model.disable_adapter():
            base = peft_model(input_ids=torch.tensor([ids])).logits[0].numpy()

    def cpp(lora: Path | None) -> np.ndarray:
        llm = llama_cpp.Llama(
            model_path=str(path),
            lora_path=str(lora) if lora else None,
            n_ctx=256,
            logits_all=True,
            n_threads=2,
            verbose=False,
        )
        llm.eval(ids)
        return np.array(llm.scores[: len(ids)])

    with_adapter = cpp(folder / ADAPTER_FILE)
    effect = np.abs(tuned - base).mean()
    assert effect > 0.1  # the adapter changes the model
    assert np.abs(with_adapter - tuned).mean() < 0.3 * effect
    # llama.cpp multiplies quantised activations, so a near-tie between the top two tokens
    # may flip; where peft's top token leads by a clear margin, llama.cpp picks it too.
    top2 = np.sort(tuned, axis=-1)[:, -2:]
    clear = (top2[:, 1] - top2[:, 0]) > 1.0
    assert clear.mean() > 0.5, f"only {clear.sum()} of {len(clear)} positions have a clear top"
    agree = with_adapter.argmax(-1) == tuned.argmax(-1)
    assert agree[clear].mean() > 0.95, f"{agree[clear].mean():.2f} on {clear.sum()} positions"
    assert agree.mean() >= 0.85


def test_the_gateway_serves_base_plus_adapter(trained) -> None:  # type: ignore[no-untyped-def]
    from ragline.models.gateway import Gateway

    settings, _ = trained
    messages = list(example("lake", "blue").prompt)
    with Gateway(settings) as gateway:
        tuned = gateway.generate(messages, model="smollm2-135m+tiny", max_tokens=8, temperature=0)
        base = gateway.generate(messages, model="smollm2-135m", max_tokens=8, temperature=0)
    assert tuned.model == "smollm2-135m+tiny" and base.model == "smollm2-135m"
    assert tuned.text != base.text  # the same base file, the adapter applied unmerged
    assert "[1]" in tuned.text


def test_the_openai_api_selects_the_adapter_per_request(trained) -> None:  # type: ignore[no-untyped-def]
    openai = pytest.importorskip("openai")
    from ragline.testing.live_server import running_server

    settings, _ = trained
    other = settings.adapters_dir / "for-qwen"
    other.mkdir()
    (other / ADAPTER_FILE).write_bytes(b"GGUF")
    info = AdapterInfo(name="for-qwen", base="qwen2.5-0.5b", rank=4, alpha=8, architecture="qwen2")
    (other / INFO_FILE).write_text(info.to_json())
    with running_server(settings) as live:
        client = openai.OpenAI(base_url=live.url + "/v1", api_key="unused", max_retries=0)
        assert "smollm2-135m+tiny" in [m.id for m in client.models.list()]
        reply = client.chat.completions.create(
            model="smollm2-135m+tiny",
            messages=list(example("lake", "blue").prompt),
            max_tokens=6,
            temperature=0,
        )
        assert reply.model == "smollm2-135m+tiny" and reply.choices[0].message.content
        with pytest.raises(openai.BadRequestError, match=r"trained on 'qwen2\.5-0\.5b'"):
            client.chat.completions.create(
                model="smollm2-135m+for-qwen",
                messages=[{"role": "user", "content": "hi"}],
                max_tokens=2,
            )
    with pytest.raises(AdapterError, match="no adapter 'missing'"):
        find_adapter("missing", settings)


def test_bad_input_fails_before_training(tmp_path: Path) -> None:
    """Each refusal comes before torch is even imported: a quick exit with a clear error."""
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps({"messages": list(example("sky", "blue").messages)}) + "\n")
    (tmp_path / "empty.jsonl").write_text("")
    (tmp_path / "bad.jsonl").write_text('{"messages": "nope"}\n{oops\n')
    env = {**os.environ, "RAGLINE_HOME": str(tmp_path / "home")}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        code = "import sys; from ragline.cli.main import main; main()"
        return subprocess.run(
            [sys.executable, "-c", code, "finetune", *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    cases = {
        ("chat", "--data", str(tmp_path / "empty.jsonl"), "-o", "x"): "is empty",
        ("chat", "--data", str(tmp_path / "bad.jsonl"), "-o", "x"): "no valid chat example",
        ("chat", "--data", str(tmp_path / "nope.jsonl"), "-o", "x"): "does not exist",
        ("chat", "--data", str(good), "--base", "llama-70b", "-o", "x"): "unknown base model",
        ("chat", "--data", str(good), "-o", "bad name!"): "invalid adapter name",
        ("embedder", "--data", str(good)): "no valid triples example",
    }
    for args, message in cases.items():
        done = run(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert message in " ".join(done.stderr.split()), (args, done.stderr)

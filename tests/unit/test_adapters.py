"""Adapter names, the adapter registry and its base check, the GGUF LoRA tensor layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ragline.config import load_settings
from ragline.errors import AdapterError, ConfigError
from ragline.models.adapters import (
    ADAPTER_FILE,
    INFO_FILE,
    AdapterInfo,
    adapter_for,
    canonical_base,
    find_adapter,
    list_adapters,
    split_adapter,
)
from ragline.models.local import model_family
from ragline.models.providers import create_chat_model


def make_adapter(root: Path, name: str, base: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / ADAPTER_FILE).write_bytes(b"GGUF")
    info = AdapterInfo(name=name, base=base, rank=4, alpha=8.0, architecture="llama")
    (folder / INFO_FILE).write_text(info.to_json())
    return folder


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings(finetune={"adapters_dir": tmp_path / "adapters"})


def test_model_names_split_into_base_and_adapter() -> None:
    assert split_adapter("smollm2-135m+support") == ("smollm2-135m", "support")
    assert split_adapter("smollm2-135m") == ("smollm2-135m", None)
    assert canonical_base("smollm2") == canonical_base("embedded") == "smollm2-135m"
    assert canonical_base("qwen2.5-0.5b") == "qwen2.5-0.5b"
    assert canonical_base("openai") is None
    assert model_family("smollm2-135m+support") == "smollm2"
    assert model_family("qwen2.5-0.5b+x") == "qwen"


def test_the_adapter_registry_finds_and_lists(settings) -> None:  # type: ignore[no-untyped-def]
    make_adapter(settings.adapters_dir, "support", "smollm2-135m")
    base, adapter = adapter_for("smollm2-135m+support", settings)
    assert base == "smollm2-135m" and adapter.gguf.name == ADAPTER_FILE
    assert adapter_for("smollm2+support", settings)[1].info.name == "support"
    assert [a.info.name for a in list_adapters(settings)] == ["support"]


def test_an_adapter_of_another_base_is_refused_before_loading(settings) -> None:  # type: ignore[no-untyped-def]
    make_adapter(settings.adapters_dir, "qwen-support", "qwen2.5-0.5b")
    with pytest.raises(AdapterError, match=r"trained on 'qwen2\.5-0\.5b', not on 'smollm2-135m'"):
        adapter_for("smollm2-135m+qwen-support", settings)
    with pytest.raises(AdapterError, match="trained on") as err:  # through the gateway's door
        create_chat_model("smollm2-135m+qwen-support", settings, None)  # type: ignore[arg-type]
    assert "qwen2.5-0.5b+qwen-support" in (err.value.hint or "")


def test_unknown_adapters_and_bad_names(settings) -> None:  # type: ignore[no-untyped-def]
    make_adapter(settings.adapters_dir, "support", "smollm2-135m")
    with pytest.raises(AdapterError, match="no adapter 'nope'") as err:
        find_adapter("nope", settings)
    assert "support" in (err.value.hint or "")
    with pytest.raises(ConfigError, match="invalid adapter name"):
        find_adapter("../../no-such-folder", settings)  # not a folder: read as a name
    (settings.adapters_dir / "broken").mkdir()
    with pytest.raises(AdapterError, match="is not an adapter"):
        find_adapter("broken", settings)
    with pytest.raises(ConfigError, match="local base model only"):
        create_chat_model("openai+support", settings, None)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="local base model only"):
        create_chat_model("nope+support", settings, None)  # type: ignore[arg-type]


def test_lora_tensors_get_llama_cpp_names_and_the_q_k_permutation() -> None:
    pytest.importorskip("gguf")
    from ragline.finetune.gguf_lora import gguf_tensors, permute_rows

    rng = np.random.default_rng(0)
    heads, kv_heads, dim, rank = 4, 2, 16, 3
    a = rng.normal(size=(rank, dim)).astype(np.float32)
    bq = rng.normal(size=(dim, rank)).astype(np.float32)
    bk = rng.normal(size=(dim // 2, rank)).astype(np.float32)
    prefix = "base_model.model.model.layers.1."
    state = {
        prefix + "self_attn.q_proj.lora_A.weight": a,
        prefix + "self_attn.q_proj.lora_B.weight": bq,
        prefix + "self_attn.k_proj.lora_B.weight": bk,
        prefix + "mlp.down_proj.lora_B.weight": bq,
    }
    meta = {"architecture": "llama", "blocks": 2, "heads": heads, "kv_heads": kv_heads}
    out = gguf_tensors(state, meta)
    assert set(out) == {
        "blk.1.attn_q.weight.lora_a",
        "blk.1.attn_q.weight.lora_b",
        "blk.1.attn_k.weight.lora_b",
        "blk.1.ffn_down.weight.lora_b",
    }
    np.testing.assert_array_equal(out["blk.1.attn_q.weight.lora_a"], a)  # A is not permuted
    # permuting B's rows permutes the rows of the whole update B @ A, as the converter does
    # to the base weight: the adapter's update lands on llama.cpp's row order
    np.testing.assert_allclose(
        out["blk.1.attn_q.weight.lora_b"] @ a, permute_rows(bq @ a, heads), rtol=1e-6
    )
    np.testing.assert_allclose(out["blk.1.attn_k.weight.lora_b"], permute_rows(bk, kv_heads))
    np.testing.assert_array_equal(out["blk.1.ffn_down.weight.lora_b"], bq)  # MLP untouched
    qwen = gguf_tensors(state, {**meta, "architecture": "qwen2"})
    np.testing.assert_array_equal(qwen["blk.1.attn_q.weight.lora_b"], bq)  # no permutation
    with pytest.raises(ConfigError, match="unexpected tensor"):
        gguf_tensors({"model.norm.weight": a}, meta)

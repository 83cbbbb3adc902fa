"""A peft LoRA adapter as a llama.cpp GGUF LoRA file (what ``Llama(lora_path=...)`` loads).

The approach of llama.cpp's ``convert_lora_to_gguf.py``, written with the ``gguf`` package:

* each adapted projection ``model.layers.N.self_attn.q_proj`` gets llama.cpp's tensor name
  from the ``gguf`` package's name map for the base's architecture (``blk.N.attn_q.weight``),
  and its two matrices become ``<name>.lora_a`` (peft's ``lora_A``: rank x in) and
  ``<name>.lora_b`` (``lora_B``: out x rank), as float32;
* llama's converter permutes the rows of the Q and K projections (llama.cpp's rotary
  embedding pairs dimensions differently from Hugging Face's), and ``transformers`` undoes
  that when it loads the GGUF, so the LoRA's output rows (``lora_b``) of Q and K are permuted
  the same way here; qwen2 is converted without the permutation;
* metadata: ``general.type = adapter``, ``adapter.type = lora``, ``adapter.lora.alpha`` (the
  scale llama.cpp applies is alpha / rank, as peft's) and ``ragline.base_model``.

The base's architecture and head counts are read from the base GGUF itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from ragline.errors import ConfigError, MissingDependencyError
from ragline.models.adapters import GGUF_BASE_KEY

_PEFT_KEY = re.compile(r"^(?:base_model\.model\.)?(?P<module>.+)\.lora_(?P<ab>[AB])\.weight$")
#: Architectures whose converter permutes Q and K (llama.cpp's LlamaModel.permute).
_PERMUTED = {"llama"}


def _gguf() -> Any:
    try:
        import gguf
    except ImportError as exc:
        raise MissingDependencyError(
            "writing a GGUF adapter needs the gguf package", hint="pip install 'ragline[finetune]'"
        ) from exc
    return gguf


def base_metadata(path: Path) -> dict[str, Any]:
    """``general.architecture``, block and head counts of a GGUF model file."""
    gguf = _gguf()
    reader = gguf.GGUFReader(str(path))

    def value(key: str) -> Any:
        f = reader.fields.get(key)
        return f.contents() if f is not None else None

    arch = value("general.architecture")
    if not arch:
        raise ConfigError(f"{path} has no general.architecture", hint="is it a GGUF model?")
    return {
        "architecture": arch,
        "blocks": int(value(f"{arch}.block_count")),
        "heads": int(value(f"{arch}.attention.head_count")),
        "kv_heads": int(
            value(f"{arch}.attention.head_count_kv") or value(f"{arch}.attention.head_count")
        ),
    }


def permute_rows(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's Q/K row permutation (HF rotary halves → interleaved pairs) of ``weights``."""
    rows = weights.shape[0]
    return (
        weights.reshape(n_head, 2, rows // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def gguf_tensors(state: Mapping[str, np.ndarray], meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """llama.cpp's tensor names and arrays for a peft state dict (``...lora_A.weight``)."""
    gguf = _gguf()
    arch_ids = {name: arch for arch, name in gguf.MODEL_ARCH_NAMES.items()}
    arch = meta["architecture"]
    if arch not in arch_ids:
        raise ConfigError(f"the gguf package does not know the architecture {arch!r}")
    names = gguf.get_tensor_name_map(arch_ids[arch], meta["blocks"])
    out: dict[str, np.ndarray] = {}
    for key, array in state.items():
        m = _PEFT_KEY.match(key)
        if m is None:
            raise ConfigError(f"unexpected tensor {key!r} in the adapter (only LoRA A/B)")
        module = m.group("module")
        target = names.get_name(module + ".weight", try_suffixes=(".weight",))
        if target is None:
            raise ConfigError(f"no llama.cpp tensor for {module!r} ({arch})")
        data = np.ascontiguousarray(array, dtype=np.float32)
        if m.group("ab") == "B" and arch in _PERMUTED:
            if module.endswith("q_proj"):
                data = permute_rows(data, meta["heads"])
            elif module.endswith("k_proj"):
                data = permute_rows(data, meta["kv_heads"])
        out[f"{target}.lora_{m.group('ab').lower()}"] = np.ascontiguousarray(data)
    return out


def write_gguf_lora(
    state: Mapping[str, np.ndarray], base_gguf: Path, out: Path, *, alpha: float, base_name: str
) -> Path:
    """Write ``state`` (peft's LoRA tensors as numpy) as a GGUF LoRA adapter for ``base_gguf``."""
    gguf = _gguf()
    meta = base_metadata(base_gguf)
    tensors = gguf_tensors(state, meta)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    writer = gguf.GGUFWriter(str(tmp), meta["architecture"])
    writer.add_string(gguf.Keys.General.TYPE, gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
    writer.add_string(GGUF_BASE_KEY, base_name)
    for name in sorted(tensors):
        writer.add_tensor(name, tensors[name])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out)
    return out


__all__ = ["base_metadata", "gguf_tensors", "permute_rows", "write_gguf_lora"]

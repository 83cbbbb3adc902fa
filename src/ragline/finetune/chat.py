"""LoRA finetuning of a local chat model (``ragline finetune chat``), on CPU or a GPU.

The base model is the very GGUF file llama.cpp serves (the embedded SmolLM2-135M, or an
optional local Qwen): ``transformers`` loads it with ``gguf_file=`` and dequantises it to
float32, so the adapter is trained against the weights it will run on. ``peft`` adds LoRA
matrices to every attention and MLP projection; only they are trained.

Each example is rendered with the model's own chat template (the one in the GGUF, which is
what llama.cpp applies), and the loss is on the assistant's answer only (the prompt's labels
are masked). A prompt too long for ``max_seq_len`` is cut from its left; the answer is never
cut. Examples go one at a time (no padding) with gradient accumulation over ``batch_size``;
AdamW with a linear warm-up and decay.

The run checkpoints the adapter every ``checkpoint_every`` optimiser steps into
``<output>/checkpoint`` (with the optimiser and the step), so a stopped run resumes where it
was and a partial run is usable. At the end: the loss and the answer-token accuracy on the
held-out examples before and after, the adapter converted to llama.cpp's GGUF LoRA format
(:mod:`ragline.finetune.gguf_lora`) and ``adapter.json`` (:class:`AdapterInfo`).
"""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.errors import ConfigError, MissingDependencyError, TrainingDataError
from ragline.finetune.data import ChatExample
from ragline.models.adapters import (
    ADAPTER_FILE,
    INFO_FILE,
    AdapterInfo,
    base_file,
    canonical_base,
)

if TYPE_CHECKING:
    from ragline.config import Settings

#: The projections LoRA adapts (llama and qwen2 name them alike).
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
CHECKPOINT = "checkpoint"
WARMUP_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class ChatTrainConfig:
    """One chat finetuning run (defaults come from ``settings.finetune``)."""

    base: str
    output: Path
    epochs: float
    lr: float
    rank: int
    alpha: float
    dropout: float
    max_seq_len: int
    layers: int
    batch_size: int
    seed: int = 0
    threads: int = 0
    checkpoint_every: int = 10
    max_steps: int | None = None
    #: Stop after the step that passes this many minutes of training (None: no limit); the
    #: held-out evaluation and the export still run on what was learnt so far.
    max_minutes: float | None = None

    @classmethod
    def from_settings(cls, settings: Settings, base: str, output: Path, **kw: Any) -> Any:
        f = settings.finetune
        values: dict[str, Any] = {
            "epochs": f.chat_epochs,
            "lr": f.chat_lr,
            "rank": f.lora_rank,
            "alpha": f.lora_alpha,
            "dropout": f.lora_dropout,
            "layers": f.lora_layers,
            "max_seq_len": f.chat_max_seq_len,
            "batch_size": f.chat_batch_size,
            "seed": f.seed,
            "threads": f.threads,
        }
        values.update({k: v for k, v in kw.items() if v is not None})
        return cls(base=base, output=output, **values)


@dataclass(slots=True)
class Evaluation:
    """Loss and answer-token accuracy (greedy next token = the reference) on examples."""

    loss: float
    token_accuracy: float
    examples: int


@dataclass(slots=True)
class ChatTrainReport:
    """What a run did: steps, time, the held-out evaluation before and after, the files."""

    adapter: Path
    base: str
    examples: int
    eval_examples: int
    steps: int
    seconds: float
    losses: list[float] = field(default_factory=list)
    before: Evaluation | None = None
    after: Evaluation | None = None
    truncated: int = 0
    resumed_from: int = 0
    planned_steps: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["adapter"] = str(self.adapter)
        return out


#: Called after each optimiser step: (step, total steps, mean loss of the step).
StepCallback = Callable[[int, int, float], None]


def _torch() -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingDependencyError(
            "finetuning needs torch, transformers and peft",
            hint="pip install 'ragline[finetune]'",
        ) from exc
    return torch


def load_base(base: str, settings: Settings) -> tuple[Any, Any, Path]:
    """``(model, tokenizer, gguf path)``: the base model's GGUF, dequantised by transformers."""
    path = base_file(base, settings)  # unknown base: ConfigError before torch is imported
    _torch()
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name)
    except (ValueError, OSError, RuntimeError) as exc:
        raise ConfigError(
            f"transformers cannot load {path}: {exc}",
            hint="a base must be a llama or qwen2 GGUF that transformers can dequantise",
        ) from exc
    return model, tokenizer, path


@dataclass(slots=True)
class Encoded:
    input_ids: list[int]
    labels: list[int]
    truncated: bool


def encode(tokenizer: Any, example: ChatExample, max_seq_len: int) -> Encoded | None:
    """Token ids and labels (-100 on the prompt) of one example, or None when the answer
    alone does not fit ``max_seq_len``."""
    prompt = tokenizer.apply_chat_template(
        example.prompt, add_generation_prompt=True, tokenize=False
    )
    full = tokenizer.apply_chat_template(list(example.messages), tokenize=False)
    if not full.startswith(prompt):  # a template that rewrites earlier turns: answer alone
        full = prompt + example.answer + (tokenizer.eos_token or "")
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(full[len(prompt) :].rstrip("\n"), add_special_tokens=False)["input_ids"]
    room = max_seq_len - len(answer_ids)
    if room < 8 or not answer_ids:
        return None
    truncated = len(prompt_ids) > room
    prompt_ids = prompt_ids[-room:]
    return Encoded(prompt_ids + answer_ids, [-100] * len(prompt_ids) + answer_ids, truncated)


def answer_logits(model: Any, e: Encoded, device: str = "cpu") -> tuple[Any, Any]:
    """``(logits, targets)`` at the answer's positions only: the vocabulary projection (a
    fifth of a small model's compute on a 300-token prompt) is skipped over the prompt."""
    torch = _torch()
    ids = torch.tensor([e.input_ids], device=device)
    labels = torch.tensor(e.labels[1:], device=device)
    keep = (labels != -100).nonzero().squeeze(-1)
    hidden = model.get_base_model().model(input_ids=ids).last_hidden_state[0, :-1]
    logits = model.get_base_model().lm_head(hidden[keep])
    return logits.float(), labels[keep]


def evaluate(model: Any, encoded: Sequence[Encoded]) -> Evaluation:
    """Mean answer-token loss and greedy accuracy on ``encoded`` (no gradients)."""
    torch = _torch()
    model.eval()
    total_loss, tokens, correct = 0.0, 0, 0
    with torch.no_grad():
        for e in encoded:
            logits, target = answer_logits(model, e, next(model.parameters()).device.type)
            loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
            total_loss += float(loss)
            tokens += len(target)
            correct += int((logits.argmax(-1) == target).sum())
    model.train()
    return Evaluation(
        loss=round(total_loss / max(tokens, 1), 4),
        token_accuracy=round(correct / max(tokens, 1), 4),
        examples=len(encoded),
    )


def split_eval(
    examples: list[ChatExample], share: float, seed: int
) -> tuple[list[ChatExample], list[ChatExample]]:
    """A seeded held-out share of the examples (at least one when there are two or more)."""
    if share <= 0 or len(examples) < 2:
        return examples, []
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    n = min(len(examples) - 1, max(1, round(len(examples) * share)))
    held = set(order[:n])
    return (
        [e for i, e in enumerate(examples) if i not in held],
        [e for i, e in enumerate(examples) if i in held],
    )


def check_output(output: Path) -> None:
    if output.exists() and not output.is_dir():
        raise ConfigError(f"{output} exists and is not a folder", hint="choose another -o")


def train_chat(
    examples: list[ChatExample],
    config: ChatTrainConfig,
    settings: Settings,
    *,
    eval_examples: list[ChatExample] | None = None,
    data_sha256: str = "",
    on_step: StepCallback | None = None,
    log: Callable[[str], None] = lambda _: None,
) -> ChatTrainReport:
    """Train a LoRA adapter on ``examples`` and write it (GGUF + info) to ``config.output``.

    Everything that can be checked is checked before the model loads: the base name, the
    output folder, at least one example."""
    base = canonical_base(config.base, settings)
    if base is None:
        base_file(config.base, settings)  # raises ConfigError listing the bases
        raise AssertionError("unreachable")
    if not examples:
        raise TrainingDataError("no training example", hint="check the data file")
    check_output(config.output)
    torch = _torch()
    from peft import LoraConfig, get_peft_model, set_peft_model_state_dict

    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    started = time.perf_counter()
    model, tokenizer, gguf_path = load_base(base, settings)
    log(f"loaded {gguf_path.name} ({time.perf_counter() - started:.0f} s)")
    encoded = [encode(tokenizer, e, config.max_seq_len) for e in examples]
    train = [e for e in encoded if e is not None]
    if not train:
        raise TrainingDataError(
            f"no example's answer fits max_seq_len={config.max_seq_len} tokens",
            hint="raise --max-seq-len or shorten the answers",
        )
    held = [e for e in (encode(tokenizer, x, config.max_seq_len) for x in eval_examples or [])]
    held_out = [e for e in held if e is not None]
    n_layers = int(model.config.num_hidden_layers)
    top = min(config.layers, n_layers) if config.layers else n_layers
    lora = LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(TARGET_MODULES),
        layers_to_transform=list(range(n_layers - top, n_layers)),
        bias="none",
        task_type="CAUSAL_LM",
    )
    model = get_peft_model(model, lora)
    device = "cuda" if torch.cuda.is_available() else "cpu"
    model.to(device)
    report = ChatTrainReport(
        adapter=config.output,
        base=base,
        examples=len(train),
        eval_examples=len(held_out),
        steps=0,
        seconds=0.0,
        truncated=sum(e.truncated for e in train),
    )
    if held_out:
        report.before = evaluate(model, held_out)
        log(f"held-out before: loss {report.before.loss}, accuracy {report.before.token_accuracy}")

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total = max(1, math.ceil(steps_per_epoch * config.epochs))
    if config.max_steps is not None:
        total = min(total, config.max_steps)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
    warmup = max(1, round(total * WARMUP_SHARE))

    def lr_at(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    ckpt = config.output / CHECKPOINT
    start_step = 0
    if (ckpt / "state.pt").is_file():
        state = torch.load(ckpt / "state.pt", weights_only=False)
        set_peft_model_state_dict(model, state["adapter"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        start_step = int(state["step"])
        report.losses = list(state.get("losses", []))
        report.resumed_from = start_step
        log(f"resumed from step {start_step} of {total}")

    order: list[int] = []
    rng = random.Random(config.seed)
    epoch_orders = math.ceil(total * config.batch_size / len(train)) + 1
    for _ in range(epoch_orders):
        perm = list(range(len(train)))
        rng.shuffle(perm)
        order += perm
    model.train()
    train_started = time.perf_counter()
    done = start_step
    for step in range(start_step, total):
        batch = order[step * config.batch_size : (step + 1) * config.batch_size]
        answer_tokens = sum(sum(1 for t in train[i].labels[1:] if t != -100) for i in batch)
        step_loss = 0.0
        for i in batch:
            logits, target = answer_logits(model, train[i], device)
            loss = torch.nn.functional.cross_entropy(logits, target, reduction="sum")
            (loss / max(answer_tokens, 1)).backward()
            step_loss += float(loss.detach())
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        mean_loss = step_loss / max(answer_tokens, 1)
        report.losses.append(round(mean_loss, 4))
        if on_step is not None:
            on_step(step + 1, total, mean_loss)
        done = step + 1
        out_of_time = (
            config.max_minutes is not None
            and time.perf_counter() - train_started > config.max_minutes * 60
        )
        if done % config.checkpoint_every == 0 or done == total or out_of_time:
            _checkpoint(model, optimizer, scheduler, done, report.losses, ckpt, torch)
        if out_of_time:
            log(f"stopped after step {done} of {total}: --max-minutes {config.max_minutes:g}")
            break
    report.steps = done
    report.planned_steps = total
    if held_out:
        report.after = evaluate(model, held_out)
        log(f"held-out after: loss {report.after.loss}, accuracy {report.after.token_accuracy}")
    report.seconds = round(time.perf_counter() - started, 1)
    export_adapter(model, config, base, gguf_path, report, data_sha256)
    return report


def _checkpoint(
    model: Any,
    optimizer: Any,
    scheduler: Any,
    step: int,
    losses: list[float],
    ckpt: Path,
    torch: Any,
) -> None:
    from peft import get_peft_model_state_dict

    ckpt.mkdir(parents=True, exist_ok=True)
    tmp = ckpt / "state.pt.tmp"
    torch.save(
        {
            "adapter": get_peft_model_state_dict(model),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "step": step,
            "losses": losses,
        },
        tmp,
    )
    tmp.replace(ckpt / "state.pt")


def export_adapter(
    model: Any,
    config: ChatTrainConfig,
    base: str,
    gguf_path: Path,
    report: ChatTrainReport,
    data_sha256: str,
) -> AdapterInfo:
    """Write ``adapter.gguf`` (llama.cpp LoRA) and ``adapter.json`` into ``config.output``."""
    from peft import get_peft_model_state_dict

    from ragline.finetune.gguf_lora import write_gguf_lora

    out = config.output
    out.mkdir(parents=True, exist_ok=True)
    state = {
        k: v.detach().float().cpu().numpy() for k, v in get_peft_model_state_dict(model).items()
    }
    write_gguf_lora(state, gguf_path, out / ADAPTER_FILE, alpha=config.alpha, base_name=base)
    evaluation: dict[str, Any] = {}
    if report.before is not None and report.after is not None:
        evaluation = {"before": asdict(report.before), "after": asdict(report.after)}
    info = AdapterInfo(
        name=out.name,
        base=base,
        rank=config.rank,
        alpha=config.alpha,
        architecture=str(model.config.model_type),
        target_modules=TARGET_MODULES,
        data_sha256=data_sha256,
        examples=report.examples,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        evaluation=evaluation,
    )
    (out / INFO_FILE).write_text(info.to_json(), encoding="utf-8")
    (out / "training.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    return info


__all__ = [
    "TARGET_MODULES",
    "ChatTrainConfig",
    "ChatTrainReport",
    "Encoded",
    "Evaluation",
    "answer_logits",
    "encode",
    "evaluate",
    "load_base",
    "split_eval",
    "train_chat",
]

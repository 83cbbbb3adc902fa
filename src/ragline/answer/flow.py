"""The answer flow: question → (rewrite) → hybrid retrieval → gate → numbered passages →
prompt → streamed draft → sentence-by-sentence citation check → :class:`Answer`.

:meth:`Answerer.stream` yields the events of ``ragline.answer.events``, in order: one
:class:`Started`, one :class:`Retrieved` (the query and the passages, before any
generation), the model's own :class:`TokenDelta` pieces as it writes (raw, unchecked text;
time to first token is measured on them), a :class:`SentenceChecked` for every sentence once
it is complete and checked (on a worker thread, while the model goes on writing), and one
final :class:`AnswerDone`.

Routing (``route.*``, ``ragline.route``): before retrieval the intent router yields a
:class:`Routed` event and a ``route`` span; a chit-chat message gets a short reply, an
out-of-scope request a polite decline (``out_of_scope``), a request for a person goes to
:attr:`Answerer.handoff_sink` (``handoff``), all without retrieval; a document question goes
on, and retrieval reuses the router's embedding of it. With ``route.weak_model`` and
``route.strong_model`` set, the model router picks the answering model after retrieval (a
``model_route`` span), unless the call names one; with ``route.model_cascade`` a weak
answer the citation checker declines (``unsupported``, ``model_declined``) is dropped and the
strong model answers (a ``model_cascade`` span); the weak draft is then held, not streamed.

Styles (``answer.style``, or ``style=`` per call): ``extractive`` quotes the passage sentence
the reader (``answer/extractive.py``) picks, streamed through the same events (the quote as
one :class:`TokenDelta`, its :class:`SentenceChecked`, :class:`AnswerDone`) with no model
call; ``generative`` streams the model's draft and keeps the supported sentences;
``auto`` generates and, when no sentence survives the check (or the model declines) while
the answerability model says the passages do answer, answers with the quote instead.

Guards (``Ragline`` passes its :class:`~ragline.guard.pipeline.GuardPipeline`; see
``answer/guarding.py``): the question is checked right after :class:`Started` (a
:class:`GuardChecked` when a guard acted; a refused one ends with :class:`AnswerDone` at
once, a redacted one goes on redacted), retrieved chunks a document guard flagged stay out
of the prompt, passages are spotlighted, and each sentence of the draft goes through the
output guards after its citation check: a failing one is withheld, and the draft is then
released a sentence at a time (``guard.release``).

Declining: nothing relevant retrieved (no generation at all); extractive, the answerability
model (``answer/answerability.py``) scoring the best reading under
``answer.min_answerability``; generating, the model declining or no sentence of the draft
supported by a passage (``auto``: and the answerability score under the threshold). Every
answer carries its answerability score; a decline keeps the best passages, for the reader to
look at, and says why (:attr:`Answer.decline_detail`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ragline.answer import logistic
from ragline.answer.answerability import Answerability, AnswerabilityVerdict
from ragline.answer.citations import CitationChecker
from ragline.answer.context import Context, ContextPacker
from ragline.answer.conversation import (
    Conversation,
    QueryRewriter,
    Rewrite,
    build_messages,
    token_counter,
)
from ragline.answer.events import (
    AnswerDone,
    AnswerEvent,
    CacheChecked,
    GuardChecked,
    MemoryUsed,
    Retrieved,
    Routed,
    SentenceChecked,
    Started,
    final_answer,
)
from ragline.answer.extractive import Reading, SentenceReader, quote
from ragline.answer.guarding import AnswerGuards, SentenceVerdict
from ragline.answer.text import SentenceStream
from ragline.config import Settings
from ragline.errors import ConfigError, InvalidQueryError, RaglineError
from ragline.guard.base import Action, Decision, GuardContext, HandoffSink
from ragline.guard.pipeline import GuardPipeline
from ragline.guard.spotlight import passage_lines, unmark
from ragline.memory.facts import forget_request, mentions_user
from ragline.memory.longterm import Forgotten, LongTermMemory, Recalled, context_lines
from ragline.memory.window import ConversationWindow, ModelSummarizer, WindowChoice
from ragline.models.chat import ChatModel, ChatResult, SamplingParams, StreamDone, TokenDelta
from ragline.models.embedder import Embedder
from ragline.models.gateway import Gateway
from ragline.models.local import model_family
from ragline.prompts import Prompt, PromptRegistry
from ragline.retrieve.retriever import Retriever
from ragline.route.intent import IntentRouter, RouteDecision, intent_router
from ragline.route.models import ModelChoice, ModelRouter, model_router
from ragline.trace import semconv as sc
from ragline.trace.tracer import AnyTracer, current_span
from ragline.types import (
    Answer,
    AnswerStyle,
    CheckedSentence,
    Citation,
    DeclineReason,
    SearchFilters,
)

if TYPE_CHECKING:
    from ragline.cache.answers import AnswerCache, CacheLookup, Readable

log = logging.getLogger(__name__)

DECLINE_MESSAGE = "I cannot answer that from the documents."
STYLES: tuple[AnswerStyle, ...] = ("extractive", "generative", "auto")


@dataclass(frozen=True, slots=True)
class _Prepared:
    question: str
    rewrite: Rewrite
    context: Context
    messages: list[dict[str, str]]
    timings: dict[str, float]
    started: float
    template: Prompt
    #: What output guards need (passages, instructions, canary); None: no guards.
    guard_context: GuardContext | None = None
    #: The model that answers: the one asked for, or the model router's choice.
    model: str | None = None


@dataclass(slots=True)
class _Hold:
    """Whether the draft is held back and released a sentence at a time, and whether a
    sentence was released yet (the next one is preceded by a space)."""

    on: bool
    sent: bool = False


class _TimedCheck:
    """:meth:`CitationChecker.check`, then the output guards, noting when checking began and
    how long it took (run on the worker thread, alongside the generation; read once all
    checks are done)."""

    def __init__(
        self, checker: CitationChecker, guards: AnswerGuards | None, context: GuardContext | None
    ) -> None:
        self.checker = checker
        self.guards = guards if guards is not None and guards.output_active else None
        self.context = context or GuardContext()
        self.first_ns: int | None = None
        self.busy_ns = 0

    def __call__(self, sentence: str) -> SentenceVerdict:
        started = time.perf_counter_ns()
        if self.first_ns is None:
            self.first_ns = started
        try:
            done = self.checker.check(sentence)
            if self.guards is None:
                return SentenceVerdict(sentence, done)
            return self.guards.check_sentence(sentence, done, self.context)
        finally:
            self.busy_ns += time.perf_counter_ns() - started


class Answerer:
    """Answers questions over a collection with citations; see the module docstring."""

    def __init__(
        self,
        retriever: Retriever,
        gateway: Gateway,
        settings: Settings,
        embedder: Embedder,
        tracer: AnyTracer | None = None,
        guard: GuardPipeline | None = None,
        handoff: HandoffSink | None = None,
    ) -> None:
        self.retriever = retriever
        #: Spans of the answer's steps (rewrite, pack, prompt, checks) go to the active
        #: trace (``Ragline.ask_stream`` opens one); default: the retriever's tracer.
        self.tracer: AnyTracer = tracer or retriever.tracer
        self.gateway = gateway
        self.settings = settings
        self.embedder = embedder
        self.config = settings.answer
        self.prompts = PromptRegistry.from_settings(settings)
        #: The guards (``ragline.answer.guarding``): ``Ragline`` passes the process's
        #: pipeline and handoff inbox; None: this answerer runs no guard.
        self.guards = (
            AnswerGuards(guard, settings, self.tracer, handoff) if guard is not None else None
        )
        # The default model's prompts; prompts_for(model) picks any model's family variant.
        self.template, self.rewrite_template = self.prompts_for(None)
        # Passage budgets are soft: estimated tokens (4 characters each) are enough there;
        # the whole prompt is counted with the model's tokenizer when it is trimmed.
        self.packer = ContextPacker(self.config, embedder, retriever.analyzer)
        # The extractive reader and the answerability model: shipped weights, trained on the
        # SQuAD tuning half (benchmarks/train_qa.py); sentence vectors shared with the packer.
        self.reader = SentenceReader(
            logistic.load("reader", self.config.qa_weights), retriever.analyzer, self.packer.vectors
        )
        self.answerability = Answerability(
            logistic.load("answerability", self.config.qa_weights),
            retriever.analyzer,
            self.config.min_answerability,
        )
        # Unusable rewrites in a row, per model: a model that keeps answering instead of
        # rewriting (SmolLM2 does) is not asked again in this process.
        self._rewrite_misses: dict[str, int] = {}
        self._rewrite_lock = threading.Lock()
        #: The exact and semantic answer caches (``cache.enabled``; ``Ragline`` sets it).
        self.cache: AnswerCache | None = None
        # The router (route.*): intent classifier trained on first use; weak/strong models.
        self._intents: IntentRouter | None = None
        route = settings.route
        self.model_router: ModelRouter | None = model_router(
            route.weak_model, route.strong_model, route.model_threshold, route.model_weights
        )
        #: Where the router's handoff route opens an item (the human handoff inbox): the
        #: same inbox as the guards' handoff action.
        self.handoff_sink: HandoffSink | None = handoff
        #: Long-term memory per user (``memory.long_term``; ``Ragline`` sets it): facts of
        #: a user's questions are remembered, recalled into later answers, forgotten on
        #: request. None: nothing is remembered.
        self.memory: LongTermMemory | None = None

    # ------------------------------------------------------------------ model helpers

    def prompts_for(self, model: str | None) -> tuple[Prompt, Prompt]:
        """``answer.prompt`` and ``answer.rewrite_prompt``, or their variants for the model's
        family (``answer-qwen`` for ``qwen2.5-1.5b``: :meth:`PromptRegistry.for_family`)."""
        family = model_family(model or self.gateway.name, self.settings)
        return (
            self.prompts.for_family(self.config.prompt, family),
            self.prompts.for_family(self.config.rewrite_prompt, family),
        )

    def _model(self, model: str | None) -> ChatModel | None:
        try:
            return self.gateway.resolve(model or self.gateway.name)
        except RaglineError:  # unresolvable here: the call itself reports it properly
            return None

    def params(
        self, samples: int | None = None, sampling: Mapping[str, Any] | None = None
    ) -> SamplingParams:
        """Sampling for one answer: the gateway defaults with ``answer.temperature`` (greedy)
        and ``answer.max_tokens``, then the caller's ``sampling`` (any
        :class:`SamplingParams` field). Best-of-N needs varied candidates, so a zero
        temperature becomes ``gateway.temperature`` (or 0.7) unless the caller chose one.
        An unknown name or a bad value raises :class:`~ragline.errors.ConfigError`."""
        cfg = self.config
        overrides = dict(sampling or {})
        temperature = cfg.temperature
        best_of_n = (samples or self.settings.gateway.samples) > 1
        if best_of_n and temperature == 0 and "temperature" not in overrides:
            temperature = self.settings.gateway.temperature or 0.7
        base = self.gateway.defaults.with_(temperature=temperature, max_tokens=cfg.max_tokens)
        try:
            return base.with_(**overrides)
        except TypeError as exc:  # a value of the wrong type (None, a string for a number)
            raise ConfigError(
                f"invalid sampling parameters: {exc}",
                hint="temperature, top_p: numbers; max_tokens, seed: integers; stop: strings",
            ) from exc

    def _rewrites_with_model(self, model: str | None) -> bool:
        give_up = self.config.rewrite_give_up_after
        misses = self._rewrite_misses.get(model or self.gateway.name, 0)
        return self.config.rewrite and not (give_up and misses >= give_up)

    def _record_rewrite(self, model: str | None, rewrite: Rewrite) -> None:
        """Count a follow-up the model was asked to rewrite: usable or not."""
        name = model or self.gateway.name
        with self._rewrite_lock:
            misses = 0 if rewrite.method == "model" else self._rewrite_misses.get(name, 0) + 1
            self._rewrite_misses[name] = misses
        if misses and misses == self.config.rewrite_give_up_after:
            log.info(
                "%s gave %d unusable follow-up rewrites in a row; follow-ups are rewritten "
                "with key words from now on (answer.rewrite_give_up_after)",
                name,
                misses,
            )

    def rewriter(self, model: str | None = None) -> QueryRewriter:
        def generate(messages: list[dict[str, str]]) -> str:
            p = self.gateway.defaults.with_(
                temperature=0.0, max_tokens=self.config.rewrite_max_tokens, stop=("\n",)
            )
            return self.gateway.generate(messages, p, model=model).text

        use_model = generate if self._rewrites_with_model(model) else None
        return QueryRewriter(self.prompts_for(model)[1], self.retriever.analyzer, use_model)

    def window(self, model: str | None = None) -> ConversationWindow:
        """The conversation window of ``memory.window`` (``ragline.memory.window``): the
        summary is written by the answering model through the gateway."""
        cfg = self.settings.memory
        summarize = None
        if cfg.window != "last_n":
            summarize = ModelSummarizer(
                self.gateway,
                self.prompts.get(cfg.summary_prompt),
                max_tokens=cfg.summary_max_tokens,
                model=model,
            )
        return ConversationWindow(
            cfg, recent=self.config.history_turns, summarize=summarize, embed=self.embedder.embed
        )

    def _window(self, conv: Conversation, question: str, model: str | None) -> WindowChoice:
        t_ns = time.perf_counter_ns()
        folds = conv.window.folds
        window = self.window(model).select(conv.turns, question, conv.window)
        if conv.turns:
            self.tracer.leaf(
                "window",
                t_ns,
                strategy=window.strategy,
                turns=len(window.turns),
                retrieved=len(window.retrieved),
                summary_chars=len(window.summary),
                folds=conv.window.folds - folds,
            )
        return window

    # ------------------------------------------------------------------ steps

    def checker(self, prep: _Prepared) -> CitationChecker:
        """The citation checker of a prepared question: its passages, with the vectors the
        packer and the retrieval already computed."""
        return CitationChecker(
            self.config,
            self.embedder,
            self.retriever.analyzer,
            prep.rewrite.query,
            prep.context.passages,
            self.packer.vectors,
            prep.context.question_vector,
        )

    def prepare(
        self,
        question: str,
        *,
        collection: str,
        conversation: Conversation | None = None,
        filters: SearchFilters | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
        max_passages: int | None = None,
        guard_context: GuardContext | None = None,
        question_vector: np.ndarray | None = None,
        recalled: Sequence[Recalled] = (),
    ) -> _Prepared:
        """Rewrite, retrieve, gate, pack and build the prompt (no answer generated yet).

        ``max_tokens`` (default ``answer.max_tokens``) is the room the prompt leaves for the
        answer in the context window; ``max_passages`` (default ``answer.max_passages``) caps
        the passages the answer is grounded on; ``recalled``: facts long-term memory recalled
        about the user (their values join the search query of a question about the user,
        ``memory.personalise_query``; the facts join the prompt)."""
        started = time.perf_counter()
        tracer = self.tracer
        conv = conversation or Conversation()
        rewriter = self.rewriter(model)
        with tracer.span("rewrite") as span:  # a model's rewrite call nests here
            rewrite = rewriter.rewrite(question, conv)
            if rewriter.generate is not None and rewrite.method != "none":
                self._record_rewrite(model, rewrite)
            rewrite = self._personalised(rewrite, recalled)
            span.set(method=rewrite.method, query=rewrite.query)
        t0 = time.perf_counter()
        hits = self.retriever.search(
            rewrite.query,
            collection=collection,
            mode=self.config.mode,
            k=max(self.config.candidates, max_passages or 0),
            filters=filters,
            # the intent router's embedding of the question, when it is what is searched
            vector=question_vector if self._reusable(question, rewrite) else None,
        )
        t1 = time.perf_counter()
        if self.guards is not None:  # chunks a document guard flagged stay out of prompts
            hits = [h for h in hits if self.guards.pipeline.admissible(h.chunk.metadata)]
        t_ns = time.perf_counter_ns()
        context = self.packer.pack(rewrite.query, hits, max_passages=max_passages)
        tracer.leaf(
            "pack",
            t_ns,
            passages=len(context.passages),
            relevant=context.relevant,
            best_relevance=round(float(context.best_relevance), 4),
        )
        t2 = time.perf_counter()
        if model is None and self.model_router is not None and context.relevant:
            model = self._choose_model(rewrite.query, context).model
        t_ns = time.perf_counter_ns()
        messages: list[dict[str, str]] = []
        template = self.prompts_for(model)[0]
        if context.relevant:
            asked = rewrite.query if rewrite.method == "model" else question
            lines = context.lines()
            values = {"spotlight": ""} if "spotlight" in template.variables else {}
            if self.guards is not None:  # passages spotlighted, the prompt explaining it
                mode, values = self.guards.spotlight(template)
                lines = passage_lines(context.passages, mode)
            window = self._window(conv, question, model)
            plan = build_messages(
                template,
                question=asked.strip(),
                passage_lines=lines,
                history=[conv.turns[i] for i in window.turns],
                settings=self.config,
                n_ctx=self.settings.gateway.n_ctx,
                max_tokens=max_tokens or self.config.max_tokens,
                count=token_counter(self._model(model)),
                values=values,
                history_turns=len(window.turns),
                memory=self._memory_notes(window, recalled),
            )
            messages = plan.messages
            if self.guards is not None:
                messages = self.guards.plant_canary(messages)
            tracer.leaf(
                "prompt",
                t_ns,
                **{
                    sc.PROMPT_TEMPLATE: template.name,
                    sc.PROMPT_VERSION: template.ref,
                    sc.PROMPT_SHA256: template.digest,
                    "prompt_tokens": plan.prompt_tokens,
                    "passages_used": plan.passages_used,
                    "turns_used": plan.turns_used,
                },
            )
            if plan.passages_used < len(context.passages):
                context = dataclasses.replace(
                    context, passages=context.passages[: plan.passages_used]
                )
        timings = {
            "rewrite_s": t0 - started,
            "retrieve_s": t1 - t0,
            "pack_s": t2 - t1,
            "prompt_s": time.perf_counter() - t2,
        }
        if self.guards is not None:
            guard_context = self.guards.output_context(
                guard_context or GuardContext(collection=collection, conversation_id=conv.id),
                context.passages,
                messages,
                template if messages else None,
            )
        return _Prepared(
            question,
            rewrite,
            context,
            messages,
            timings,
            started,
            template,
            guard_context,
            model,
        )

    def stream(
        self,
        question: str,
        *,
        collection: str,
        conversation: Conversation | None = None,
        filters: SearchFilters | None = None,
        samples: int | None = None,
        model: str | None = None,
        sampling: Mapping[str, Any] | None = None,
        max_passages: int | None = None,
        style: AnswerStyle | None = None,
        cache: bool = True,
        readable: Readable = None,
        cache_lookup: CacheLookup | None = None,
        user: str | None = None,
    ) -> Iterator[AnswerEvent]:
        """Answer ``question``, yielding events as they happen (see the module docstring).

        ``user``: whose long-term memory applies (:attr:`memory`; None: no memory). A
        question that speaks of the user is then never served from nor written to the
        answer caches (its answer depends on the user).

        With the answer caches on (``cache.enabled``), a cached answer is served first when
        one fits (:meth:`_through_cache`); ``cache=False`` neither reads nor writes them for
        this answer, ``readable`` names the collections the caller may read (None: all), and
        ``cache_lookup`` is a lookup the caller already made (the server, to set its header).

        ``sampling`` overrides :class:`SamplingParams` fields for this answer only (see
        :meth:`params`); ``style`` overrides ``answer.style``. Both, and the question itself
        (empty, or longer than ``answer.max_question_chars``), are checked here, before any
        work, so bad input raises :class:`~ragline.errors.ConfigError` or
        :class:`~ragline.errors.InvalidQueryError` from this call rather than from the
        stream."""
        self.check_question(question)
        params = self.params(samples, sampling)
        if self.settings.route.enabled:
            self.intent_router()  # a bad intents file fails here, before the stream
        if max_passages is not None and max_passages < 1:
            raise ConfigError(f"max_passages must be at least 1, got {max_passages}")
        if style is not None and style not in STYLES:
            raise ConfigError(
                f"unknown answer style {style!r}", hint=f"one of: {', '.join(STYLES)}"
            )
        run = functools.partial(
            self._stream,
            question,
            params,
            collection=collection,
            conversation=conversation,
            filters=filters,
            samples=samples,
            model=model,
            max_passages=max_passages,
            style=style or self.config.style,
            user=user,
        )
        if self.cache is None or not cache or self.remembers(user, question):
            return run()
        return self._through_cache(
            run,
            question,
            params,
            collection=collection,
            conversation=conversation,
            filters=filters,
            samples=samples,
            model=model,
            max_passages=max_passages,
            style=style or self.config.style,
            readable=readable,
            lookup=cache_lookup,
        )

    # ------------------------------------------------------------------ answer caches

    def cache_scope(
        self,
        params: SamplingParams,
        *,
        samples: int | None,
        model: str | None,
        max_passages: int | None,
        style: AnswerStyle,
        filters: SearchFilters | None,
    ) -> str:
        """The digest of what shapes an answer besides the question and the documents."""
        from ragline.cache.answers import scope_of

        template = self.prompts_for(model)[0]
        return scope_of(
            self.settings,
            model=model or self.gateway.name,
            prompt=f"{template.ref}:{template.digest}",
            sampling=dataclasses.asdict(params),
            samples=samples or self.settings.gateway.samples,
            style=style,
            max_passages=max_passages,
            filters=filters,
        )

    def cache_lookup(
        self,
        question: str,
        *,
        collection: str,
        conversation: Conversation | None = None,
        filters: SearchFilters | None = None,
        samples: int | None = None,
        model: str | None = None,
        sampling: Mapping[str, Any] | None = None,
        max_passages: int | None = None,
        style: AnswerStyle | None = None,
        readable: Readable = None,
    ) -> CacheLookup | None:
        """The answer caches' lookup for this answer, as :meth:`stream` would make it (None:
        the cache is off or does not apply: a follow-up, a sampled answer)."""
        params = self.params(samples, sampling)
        if self.cache is None or self._cache_exclusion(params, conversation) is not None:
            return None
        scope = self.cache_scope(
            params,
            samples=samples,
            model=model,
            max_passages=max_passages,
            style=style or self.config.style,
            filters=filters,
        )
        return self.cache.lookup(
            question, collection=collection, scope=scope, readable=readable, filters=filters
        )

    def _cache_exclusion(
        self, params: SamplingParams, conversation: Conversation | None
    ) -> str | None:
        """Why this answer neither reads nor writes the caches (None: it may)."""
        if conversation is not None and conversation.turns:
            return "follow_up"  # its meaning depends on the turns before it
        if params.temperature > 0 and not self.settings.cache.cache_temperature:
            return "sampled"
        return None

    def _through_cache(
        self,
        run: Callable[[], Iterator[AnswerEvent]],
        question: str,
        params: SamplingParams,
        *,
        collection: str,
        conversation: Conversation | None,
        filters: SearchFilters | None,
        samples: int | None,
        model: str | None,
        max_passages: int | None,
        style: AnswerStyle,
        readable: Readable,
        lookup: CacheLookup | None,
    ) -> Iterator[AnswerEvent]:
        """Serve a cached answer, or answer (``run``) and cache the answer when it may be.

        Never cached: a declined answer, one a guard acted on or handed off (any event of
        kind ``guard`` or ``handoff`` in its stream), a follow-up, a sampled answer
        (``cache.cache_temperature``), one without citations."""
        assert self.cache is not None
        excluded = self._cache_exclusion(params, conversation)
        if excluded is not None:
            yield from run()
            return
        scope = self.cache_scope(
            params,
            samples=samples,
            model=model,
            max_passages=max_passages,
            style=style,
            filters=filters,
        )
        if lookup is None:
            lookup = self.cache.lookup(
                question, collection=collection, scope=scope, readable=readable, filters=filters
            )
        else:  # made before the trace began (the server's header): recorded in it now
            self.tracer.leaf(
                "cache.lookup",
                time.perf_counter_ns() - int(lookup.latency_ms * 1e6),
                hit=lookup.kind or "miss",
                reason=lookup.reason,
                score=round(lookup.score, 4) if lookup.score is not None else None,
                cached_question=lookup.cached_question,
            )
        checked = CacheChecked(
            lookup.kind, lookup.reason, lookup.score, lookup.cached_question, lookup.latency_ms
        )
        if (
            lookup.answer is not None
            and lookup.kind is not None
            and (lookup.kind == "exact" or self._guards_pass(question, collection))
        ):
            span = current_span()
            trace_id = span.trace_id if span is not None else None
            answer = dataclasses.replace(
                lookup.answer,
                cached=lookup.kind,
                timings={"cache_s": lookup.latency_ms / 1e3, "total_s": lookup.latency_ms / 1e3},
            )
            yield Started(model or self.gateway.name, trace_id, collection)
            yield checked
            yield TokenDelta(answer.text)
            for sentence in answer.sentences:
                if sentence.kept:
                    yield SentenceChecked(sentence)
            yield AnswerDone(answer, trace_id)
            return
        acted_on = False
        for event in run():
            if isinstance(event, AnswerDone):  # stored before it is sent: a reader may stop
                final = event.answer
                if not (final.declined or not final.citations or acted_on) and (
                    lookup.version is not None
                ):
                    self.cache.put(
                        question,
                        final,
                        collection=collection,
                        scope=scope,
                        version=lookup.version,
                        vector=lookup.vector,
                    )
            elif getattr(event, "kind", None) in ("guard", "handoff"):
                acted_on = True
            yield event
            if isinstance(event, Started):
                yield checked

    def _guards_pass(self, question: str, collection: str) -> bool:
        """Whether the input guards let ``question`` through unchanged (allow or warn): only
        then may a semantic hit be served; otherwise the answer runs, and the guards refuse,
        redact or hand it over as they would without a cache. (An exact hit's question, the
        same words, passed these guards when it was answered, and the cache scope holds the
        guard policy: a changed policy misses.)"""
        if self.guards is None or not self.guards.input_active:
            return True
        decision = self.guards.pipeline.check(
            question, "input", GuardContext(collection=collection)
        )
        return decision.action in (Action.ALLOW, Action.WARN) and decision.text == question

    def check_question(self, question: str) -> None:
        """Refuse an empty question, or one longer than ``answer.max_question_chars``."""
        if not isinstance(question, str) or not question.strip():
            raise InvalidQueryError(
                "the question is empty",
                hint='ask in words, e.g. ragline ask "how tall is the Eiffel Tower"',
            )
        limit = self.config.max_question_chars
        if len(question) > limit:
            raise InvalidQueryError(
                f"the question is {len(question):,} characters long; at most {limit:,} are "
                "accepted (answer.max_question_chars)",
                hint="ask about one thing in a sentence or two; to find where a long text "
                "occurs, use `ragline search`",
            )

    def _stream(
        self,
        question: str,
        params: SamplingParams,
        *,
        collection: str,
        conversation: Conversation | None,
        filters: SearchFilters | None,
        samples: int | None,
        model: str | None,
        max_passages: int | None,
        style: AnswerStyle,
        user: str | None = None,
    ) -> Iterator[AnswerEvent]:
        span = current_span()  # the answer's trace (``Ragline.ask_stream`` opens one)
        trace_id = span.trace_id if span is not None else None
        yield Started(model or self.gateway.name, trace_id, collection)
        guards, gctx = self.guards, None
        if guards is not None:
            conv_id = conversation.id if conversation is not None else None
            gctx = GuardContext(collection=collection, conversation_id=conv_id)
            if guards.input_active:  # before retrieval: a refused question goes nowhere
                started = time.perf_counter()
                on_input = guards.check_input(question, gctx, trace_id)
                if on_input.action is not Action.ALLOW:  # every verdict is traced anyway
                    yield on_input
                if on_input.refused:
                    refusal = guards.refusal(on_input.decision.text, on_input, started)
                    yield AnswerDone(refusal, trace_id)
                    return
                question = on_input.decision.text  # redacted: retrieval, model, trace
                if conversation is not None and conversation.turns:
                    conversation = guards.redact_history(conversation, gctx)
        recalled: tuple[Recalled, ...] = ()
        if user is not None and self.remembers(user, question):  # after the guards: redacted
            used, forgotten = self._memory_step(user, question, conversation)
            if used is not None:
                yield used
                recalled = used.recalled
            if forgotten is not None:
                yield AnswerDone(self._forgot(question, forgotten), trace_id)
                return
        vector = None
        if self.settings.route.enabled:
            decision, vector = self.route(question)
            yield Routed(decision)
            if decision.route != "documents":
                yield AnswerDone(self._routed(question, decision, collection, trace_id), trace_id)
                return
        prep = self.prepare(
            question,
            collection=collection,
            conversation=conversation,
            filters=filters,
            model=model,
            max_tokens=params.max_tokens,
            max_passages=max_passages,
            guard_context=gctx,
            question_vector=vector,
            recalled=recalled,
        )
        yield Retrieved(prep.rewrite, prep.context)
        if not prep.context.relevant:
            detail = self._irrelevant_detail(prep, collection)
            answer = self._decline(prep, "no_relevant_passages", [], "", None, detail=detail)
            yield AnswerDone(answer, trace_id)
            return
        cascade = self._cascade_to(prep, model, style)
        if cascade is None:
            yield from self._answer_from(prep, params, samples, style, trace_id)
            return
        # weak first, held: kept when the citation checker keeps it, else the strong model
        t_ns = time.perf_counter_ns()
        held = list(self._answer_from(prep, params, samples, style, trace_id))
        last = held[-1] if held else None
        if not (
            isinstance(last, AnswerDone)
            and last.answer.declined
            and last.answer.decline_reason in ("unsupported", "model_declined")
        ):
            yield from held
            return
        self.tracer.leaf(
            "model_cascade",
            t_ns,
            weak=prep.model,
            strong=cascade,
            reason=last.answer.decline_reason,
        )
        again = self.prepare(
            question,
            collection=collection,
            conversation=conversation,
            filters=filters,
            model=cascade,
            max_tokens=params.max_tokens,
            max_passages=max_passages,
            guard_context=gctx,
            question_vector=vector,
            recalled=recalled,
        )
        yield from self._answer_from(again, params, samples, style, trace_id)

    def _cascade_to(self, prep: _Prepared, asked: str | None, style: AnswerStyle) -> str | None:
        """The strong model a declined weak answer goes on to (``route.model_cascade``), or
        None: no cascade (a model was asked for, the router chose the strong one, the
        extractive style, or the strong model is not available here)."""
        router = self.model_router
        if (
            router is None
            or asked is not None
            or style == "extractive"
            or not self.settings.route.model_cascade
            or prep.model != router.weak
            or router.strong == router.weak
            or not self._available(router.strong)
        ):
            return None
        return router.strong

    def _answer_from(
        self,
        prep: _Prepared,
        params: SamplingParams,
        samples: int | None,
        style: AnswerStyle,
        trace_id: str | None,
    ) -> Iterator[AnswerEvent]:
        """The answer from prepared passages: read (extractive) or drafted and checked."""
        if style == "extractive":
            reading, verdict = self._read(prep)
            if verdict.answerable:
                yield from self._extractive(prep, reading, verdict, trace_id)
                return
            answer = self._decline(
                prep, "not_answerable", [], "", None, verdict=verdict, detail=verdict.detail
            )
            yield AnswerDone(answer, trace_id)
            return
        checker = self.checker(prep)
        splitter = SentenceStream()
        checked: list[CheckedSentence] = []
        result: ChatResult | None = None
        gen_start = time.perf_counter()
        first: float | None = None
        # Sentences are checked on a worker thread while the model goes on writing (both
        # release the GIL), and reported in order as their checks finish.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragline-check")
        pending: deque[Future[SentenceVerdict]] = deque()
        check = _TimedCheck(checker, self.guards, prep.guard_context)
        # With output guards, the draft is released a sentence at a time once it passed
        # them, so a withheld sentence never reaches the user, not even as deltas.
        hold = _Hold(check.guards is not None and self.settings.guard.release == "sentence")
        try:
            # closing(): the model stops at once when the consumer stops early
            with contextlib.closing(
                self._generate(prep.messages, params, samples, prep.model)
            ) as pieces:
                for piece in pieces:
                    if isinstance(piece, ChatResult):
                        result = piece
                        continue
                    if first is None:
                        first = time.perf_counter()
                    if self.guards is not None:  # a copied datamark is a space again
                        piece = TokenDelta(unmark(piece.text))
                    if not hold.on:
                        yield piece  # the model's own TokenDelta: one delta type, end to end
                    pending.extend(pool.submit(check, s) for s in splitter.push(piece.text))
                    while pending and pending[0].done():
                        yield from self._verdict(pending.popleft().result(), checked, hold)
            pending.extend(pool.submit(check, s) for s in splitter.flush())
            while pending:
                yield from self._verdict(pending.popleft().result(), checked, hold)
            if check.first_ns is not None:  # one span from the first check to the last verdict
                self.tracer.leaf(
                    "checks",
                    check.first_ns,
                    sentences=len(checked),
                    kept=sum(s.kept for s in checked),
                    statuses=[s.status for s in checked],
                    busy_ms=round(check.busy_ns / 1e6, 3),
                )
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        assert result is not None
        timings = prep.timings
        timings["ttft_s"] = (first or time.perf_counter()) - prep.started
        timings["generate_s"] = time.perf_counter() - gen_start
        # Read after the draft (the checker has embedded the sentences by now): the score
        # is reported with every answer, and ``auto`` quotes the passage instead of declining
        # when nothing of the draft survived the check but the passages do answer.
        reading, verdict = self._read(prep)
        answer = self._finish(prep, checked, result, verdict)
        if style == "auto" and answer.declined and verdict.answerable:
            yield from self._extractive(prep, reading, verdict, trace_id, checked, result)
            return
        yield AnswerDone(answer, trace_id)

    def _verdict(
        self, verdict: SentenceVerdict, checked: list[CheckedSentence], hold: _Hold
    ) -> Iterator[AnswerEvent]:
        """A checked sentence's events: the output guards' decision (traced always, an event
        when it acted), the sentence's released text when the draft is held, its check."""
        decision = verdict.decision
        if decision is not None and self.guards is not None:
            self.guards.record_checked(decision)
            if decision.action is not Action.ALLOW:
                yield GuardChecked(decision)
        if hold.on and (released := verdict.released):
            yield TokenDelta(f" {released}" if hold.sent else released)
            hold.sent = True
        if verdict.sentence is not None:
            checked.append(verdict.sentence)
            yield SentenceChecked(verdict.sentence)

    # ------------------------------------------------------------------ routing

    def intent_router(self) -> IntentRouter:
        """The intent classifier (``route.intents``), trained once per process."""
        if self._intents is None:
            self._intents = intent_router(self.settings.route, self.embedder)
        return self._intents

    def route(self, question: str) -> tuple[RouteDecision, np.ndarray]:
        """Where the intent router sends ``question``, and the question's embedding (which
        retrieval reuses); a ``route`` span records the decision."""
        t_ns = time.perf_counter_ns()
        vector = self.embedder.embed([question])[0]
        decision = self.intent_router().classify_vector(vector)
        self.tracer.leaf(
            "route",
            t_ns,
            route=decision.route,
            score=round(decision.score, 4),
            predicted=decision.predicted,
            defaulted=decision.defaulted,
        )
        return decision, vector

    def _choose_model(self, query: str, context: Context) -> ModelChoice:
        """The model router's choice (weak or strong); a ``model_route`` span records it."""
        assert self.model_router is not None
        t_ns = time.perf_counter_ns()
        relevances = [float(p.relevance) for p in context.passages]
        choice = self.model_router.choose(query, relevances, available=self._available)
        self.tracer.leaf("model_route", t_ns, **choice.to_dict())
        return choice

    def _personalised(self, rewrite: Rewrite, recalled: Sequence[Recalled]) -> Rewrite:
        """The search query with the values of recalled facts whose key the question names
        ("museums in my city" + "Lyon"); a model's rewrite is left alone."""
        if not recalled or not self.settings.memory.personalise_query:
            return rewrite
        if rewrite.method not in ("none", "heuristic"):
            return rewrite
        have = set(self.retriever.analyzer.terms(rewrite.query))
        extra: list[str] = []
        for r in recalled:
            if r.fact.kind == "note" or not r.key_match:
                continue
            value = r.fact.value
            for prefix in ("likes ", "dislikes ", "prefers "):
                value = value.removeprefix(prefix)
            terms = set(self.retriever.analyzer.terms(value))
            if terms and not terms <= have:
                extra.append(value)
                have |= terms
        if not extra:
            return rewrite
        method = "memory" if rewrite.method == "none" else rewrite.method
        query = " ".join([rewrite.query.strip(), *extra])
        return Rewrite(rewrite.question, query, method, rewrite.model_output)

    @staticmethod
    def _memory_notes(window: WindowChoice, recalled: Sequence[Recalled]) -> list[str]:
        notes: list[str] = []
        if window.summary:
            notes.append(f"Earlier in this conversation: {window.summary}")
        if recalled:
            lines = "\n".join(context_lines(recalled))
            notes.append(f"What the user told you about themselves before:\n{lines}")
        return notes

    # ------------------------------------------------------------------ long-term memory

    def remembers(self, user: str | None, question: str) -> bool:
        """Whether long-term memory acts on this question: it is on, a user is named, and
        the question speaks of the user (I, my, me: :func:`~ragline.memory.facts.
        mentions_user`). Only such a question is personalised, so only such a one depends
        on the user, and the answer caches skip it."""
        return (
            self.memory is not None
            and user is not None
            and self.settings.memory.long_term
            and mentions_user(question)
        )

    def _memory_step(
        self, user: str, question: str, conversation: Conversation | None
    ) -> tuple[MemoryUsed | None, Forgotten | None]:
        """Forget what a "forget …" asks, or remember the question's facts and recall those
        relevant to it (one ``memory`` span)."""
        if forget_request(question) is not None:  # a failure to forget is the user's to see
            return self._remember_and_recall(user, question, conversation)
        try:
            return self._remember_and_recall(user, question, conversation)
        except RaglineError as exc:  # memory down: answer without it rather than not at all
            log.warning("long-term memory failed, answering without it: %s", exc)
            return None, None

    def _remember_and_recall(
        self, user: str, question: str, conversation: Conversation | None
    ) -> tuple[MemoryUsed | None, Forgotten | None]:
        memory = self.memory
        assert memory is not None
        with self.tracer.span("memory") as span:
            forgotten = memory.forget_request(user, question)
            if forgotten is not None:
                span.set(forgotten=forgotten.count, everything=forgotten.everything)
                return MemoryUsed(user, forgotten=forgotten.count), forgotten
            done = memory.remember(
                user,
                question,
                conversation_id=conversation.id if conversation is not None else None,
                turn_index=len(conversation.turns) if conversation is not None else None,
            )
            written = [d for d in done if d.written]
            recalled = tuple(memory.recall(user, question))
            span.set(
                remembered=[d.fact.key for d in written],
                superseded=sum(len(d.superseded) for d in written),
                recalled=[r.fact.key for r in recalled],
            )
        if not written and not recalled:
            return None, None
        event = MemoryUsed(
            user,
            remembered=tuple(d.fact for d in written),
            superseded=tuple(f for d in written for f in d.superseded),
            recalled=recalled,
        )
        return event, None

    @staticmethod
    def _forgot(question: str, forgotten: Forgotten) -> Answer:
        if forgotten.everything:
            text = f"Done: I forgot everything you told me ({forgotten.count} facts)."
        elif forgotten.count:
            what = "; ".join(dict.fromkeys(f.statement for f in forgotten.facts if f.current))
            text = f"Done: I forgot that ({what})." if what else "Done: I forgot that."
        else:
            text = "I had nothing to forget about that."
        return Answer(question=question, text=text, declined=False, citations=(), passages=())

    def _reusable(self, question: str, rewrite: Rewrite) -> bool:
        """Can retrieval reuse the router's embedding of the question: the same text is
        searched, embedded by the same model."""
        return rewrite.query == question and self.embedder.name == self.retriever.embedder.name

    def _available(self, name: str) -> bool:
        return self._model(name) is not None

    def _routed(
        self, question: str, decision: RouteDecision, collection: str, trace_id: str | None
    ) -> Answer:
        """The answer of a message not routed to the documents: a chit-chat reply, a polite
        decline, or a handoff to the inbox (no retrieval, no generation)."""
        cfg = self.settings.route
        detail = ""
        if decision.route == "chitchat":
            return Answer(
                question=question,
                text=cfg.chitchat_reply,
                declined=False,
                citations=(),
                passages=(),
            )
        if decision.route == "out_of_scope":
            reason: DeclineReason = "out_of_scope"
            text = cfg.out_of_scope_reply
            detail = "the intent router found a request the assistant does not do"
            guard = None
        else:
            reason = "handoff"
            text, detail, guard = self._hand_off(question, decision, collection, trace_id)
        return Answer(
            question=question,
            text=text,
            declined=True,
            citations=(),
            passages=(),
            decline_reason=reason,
            decline_detail=detail,
            guard=guard,
        )

    def _hand_off(
        self, question: str, decision: RouteDecision, collection: str, trace_id: str | None
    ) -> tuple[str, str, dict[str, Any] | None]:
        """The reply, the decline detail and the decision (with the inbox item's id) of a
        message the router hands to a person."""
        cfg = self.settings.route
        if self.handoff_sink is None:
            detail = "the user asked for a person; no handoff inbox is set"
            return cfg.no_handoff_reply, detail, None
        verdict = Decision(
            action=Action.HANDOFF,
            text=question,
            direction="input",
            decided_by="router",
            reason="the user asked for a person",
            extra={"route": decision.to_dict()},
        )
        item = self.handoff_sink.open(
            question=question,
            decision=verdict,
            context=GuardContext(collection=collection),
            trace_id=trace_id,
        )
        reply = cfg.handoff_reply.replace("{item_id}", item)
        return reply, f"handed to a person: item {item}", {**verdict.to_dict(), "handoff_id": item}

    def _read(self, prep: _Prepared) -> tuple[Reading, AnswerabilityVerdict]:
        """The extractive reading of the packed passages and the answerability verdict."""
        t_ns = time.perf_counter_ns()
        reading = self.reader.read(
            prep.rewrite.query, prep.context.passages, prep.context.question_vector
        )
        verdict = self.answerability.judge(reading, prep.context.best_relevance)
        self.tracer.leaf(
            "read",
            t_ns,
            sentences=len(reading.candidates),
            answer_type=reading.kind or "",
            answerability=round(verdict.score, 4),
            answerable=verdict.answerable,
        )
        prep.timings["read_s"] = (time.perf_counter_ns() - t_ns) / 1e9
        return reading, verdict

    def _extractive(
        self,
        prep: _Prepared,
        reading: Reading,
        verdict: AnswerabilityVerdict,
        trace_id: str | None,
        checked: Sequence[CheckedSentence] = (),
        result: ChatResult | None = None,
    ) -> Iterator[AnswerEvent]:
        """The quoted answer, through the same events as a generated one: the text as one
        :class:`TokenDelta`, its :class:`SentenceChecked`, then :class:`AnswerDone`.
        ``checked``/``result``: the failed draft when ``auto`` falls back to this."""
        best = reading.best
        assert best is not None  # the answerability verdict declines an empty reading
        passage = best.passage
        if best.sentence not in passage.text:  # the quote comes from outside the excerpt
            passage = dataclasses.replace(passage, text=f"{passage.text} … {best.sentence}")
        citation = Citation(
            number=passage.number,
            passage=passage,
            sentence=best.sentence,
            lexical=best.features["lex"],
            semantic=best.features["cos"],
            supported=True,
        )
        sentence = CheckedSentence(quote(best), "supported", (citation,), None, (passage.number,))
        if (guards := self.guards) is not None and guards.output_active:
            on_quote = guards.check_sentence(
                sentence.text, sentence, prep.guard_context or GuardContext()
            )
            decision = on_quote.decision
            assert decision is not None and on_quote.sentence is not None
            guards.record_checked(decision)
            if decision.action is not Action.ALLOW:
                yield GuardChecked(decision)
            if on_quote.withheld:
                answer = self._decline(
                    prep, "blocked", [*checked, on_quote.sentence], "", result,
                    verdict=verdict, detail=decision.reason,
                )  # fmt: skip
                yield AnswerDone(answer, trace_id)
                return
            sentence = on_quote.sentence
        text = sentence.rendered()
        if result is None:  # no model call: the first token is the quote, ready now
            prep.timings["ttft_s"] = time.perf_counter() - prep.started
        yield TokenDelta(text)
        yield SentenceChecked(sentence)
        passages = tuple(
            passage if p.number == passage.number else p for p in prep.context.passages
        )
        prep.timings["total_s"] = time.perf_counter() - prep.started
        answer = Answer(
            question=prep.question,
            text=text,
            declined=False,
            citations=(citation,),
            passages=passages,
            sentences=(*checked, sentence),
            query=prep.rewrite.query,
            draft=result.text if result is not None else "",
            prompt_version=self.template.ref if result is not None else "",
            prompt_sha256=self.template.digest if result is not None else "",
            model=result.model if result is not None else None,
            result=result,
            timings=prep.timings,
            style="extractive",
            answerability=verdict.score,
        )
        yield AnswerDone(answer, trace_id)

    def _irrelevant_detail(self, prep: _Prepared, collection: str) -> str:
        if not prep.context.best:
            return (
                f"nothing was found in collection {collection!r}: it may be empty "
                "(add documents with `ragline ingest`)"
            )
        return (
            f"the closest passage has relevance {prep.context.best_relevance:.2f}, under "
            f"answer.min_relevance {self.config.min_relevance:.2f}: the documents are not "
            "about this question (or it is not in the documents' language)"
        )

    def _generate(
        self,
        messages: list[dict[str, str]],
        params: SamplingParams,
        samples: int | None,
        model: str | None,
    ) -> Iterator[TokenDelta | ChatResult]:
        """Draft pieces, then the final :class:`ChatResult` (best-of-N cannot stream)."""
        if (samples or self.settings.gateway.samples) > 1:
            result = self.gateway.generate(messages, params, samples=samples, model=model)
            if result.text:
                yield TokenDelta(result.text)
            yield result
            return
        with contextlib.closing(self.gateway.stream(messages, params, model=model)) as events:
            for event in events:
                if isinstance(event, TokenDelta):
                    if event.text:
                        yield event
                elif isinstance(event, StreamDone):
                    yield event.result

    def ask(self, question: str, **kwargs: object) -> Answer:
        """The whole answer at once (same arguments as :meth:`stream`)."""
        return final_answer(self.stream(question, **kwargs))  # type: ignore[arg-type]

    # ------------------------------------------------------------------ results

    def _finish(
        self,
        prep: _Prepared,
        checked: list[CheckedSentence],
        result: ChatResult,
        verdict: AnswerabilityVerdict | None = None,
    ) -> Answer:
        kept = [s for s in checked if s.kept]
        grounded = [s for s in kept if s.status in ("supported", "attached")]
        if not grounded:
            withheld = [s for s in checked if (s.reason or "").startswith("guard:")]
            if withheld:
                reason: DeclineReason = "blocked"
                guard = (withheld[-1].reason or "").removeprefix("guard:")
                detail = f"the {guard} guard withheld the answer's sentences"
            elif any(s.reason == "decline" for s in checked):
                reason = "model_declined"
                detail = "the model said the passages do not answer the question"
            else:
                reason = "unsupported"
                detail = "no sentence of the model's draft is supported by the passages"
            return self._decline(
                prep, reason, checked, result.text, result, verdict=verdict, detail=detail
            )
        citations = tuple(c for s in kept for c in s.citations)
        text = " ".join(s.rendered() for s in kept)
        prep.timings["total_s"] = time.perf_counter() - prep.started
        return Answer(
            question=prep.question,
            text=text,
            declined=False,
            citations=citations,
            passages=prep.context.passages,
            sentences=tuple(checked),
            query=prep.rewrite.query,
            draft=result.text,
            prompt_version=prep.template.ref,
            prompt_sha256=prep.template.digest,
            model=result.model,
            result=result,
            timings=prep.timings,
            style="generative",
            answerability=verdict.score if verdict is not None else None,
        )

    def _decline(
        self,
        prep: _Prepared,
        reason: DeclineReason,
        checked: list[CheckedSentence],
        draft: str,
        result: ChatResult | None,
        *,
        verdict: AnswerabilityVerdict | None = None,
        detail: str = "",
    ) -> Answer:
        prep.timings["total_s"] = time.perf_counter() - prep.started
        return Answer(
            question=prep.question,
            text=DECLINE_MESSAGE,
            declined=True,
            citations=(),
            passages=prep.context.passages or prep.context.best,
            sentences=tuple(checked),
            decline_reason=reason,
            query=prep.rewrite.query,
            draft=draft,
            prompt_version=prep.template.ref,
            prompt_sha256=prep.template.digest,
            model=result.model if result is not None else None,
            result=result,
            timings=prep.timings,
            answerability=verdict.score if verdict is not None else None,
            decline_detail=detail,
        )


__all__ = ["DECLINE_MESSAGE", "STYLES", "Answerer"]

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
``model_route`` span), unless the call names one.

Styles (``answer.style``, or ``style=`` per call): ``extractive`` quotes the passage sentence
the reader (``answer/extractive.py``) picks, streamed through the same events (the quote as
one :class:`TokenDelta`, its :class:`SentenceChecked`, :class:`AnswerDone`) with no model
call; ``generative`` streams the model's draft and keeps the supported sentences;
``auto`` generates and, when no sentence survives the check (or the model declines) while
the answerability model says the passages do answer, answers with the quote instead.

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
import logging
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

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
    Retrieved,
    Routed,
    SentenceChecked,
    Started,
    final_answer,
)
from ragline.answer.extractive import Reading, SentenceReader, quote
from ragline.answer.text import SentenceStream
from ragline.config import Settings
from ragline.errors import ConfigError, InvalidQueryError, RaglineError
from ragline.guard.base import Action, Decision, GuardContext, HandoffSink
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
    #: The model that answers: the one asked for, or the model router's choice.
    model: str | None = None


class _TimedCheck:
    """:meth:`CitationChecker.check` that notes when checking began and how long it took
    (run on the worker thread, alongside the generation; read once all checks are done)."""

    def __init__(self, checker: CitationChecker) -> None:
        self.checker = checker
        self.first_ns: int | None = None
        self.busy_ns = 0

    def __call__(self, sentence: str) -> CheckedSentence | None:
        started = time.perf_counter_ns()
        if self.first_ns is None:
            self.first_ns = started
        try:
            return self.checker.check(sentence)
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
        # The router (route.*): intent classifier trained on first use; weak/strong models.
        self._intents: IntentRouter | None = None
        route = settings.route
        self.model_router: ModelRouter | None = model_router(
            route.weak_model, route.strong_model, route.model_threshold, route.model_weights
        )
        #: Where the router's handoff route opens an item (the human handoff inbox).
        self.handoff_sink: HandoffSink | None = None

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

    # ------------------------------------------------------------------ steps

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
        question_vector: np.ndarray | None = None,
    ) -> _Prepared:
        """Rewrite, retrieve, gate, pack and build the prompt (no answer generated yet).

        ``max_tokens`` (default ``answer.max_tokens``) is the room the prompt leaves for the
        answer in the context window; ``max_passages`` (default ``answer.max_passages``) caps
        the passages the answer is grounded on."""
        started = time.perf_counter()
        tracer = self.tracer
        conv = conversation or Conversation()
        rewriter = self.rewriter(model)
        with tracer.span("rewrite") as span:  # a model's rewrite call nests here
            rewrite = rewriter.rewrite(question, conv)
            span.set(method=rewrite.method, query=rewrite.query)
        if rewriter.generate is not None and rewrite.method != "none":
            self._record_rewrite(model, rewrite)
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
            plan = build_messages(
                template,
                question=asked.strip(),
                passage_lines=context.lines(),
                history=conv.turns,
                settings=self.config,
                n_ctx=self.settings.gateway.n_ctx,
                max_tokens=max_tokens or self.config.max_tokens,
                count=token_counter(self._model(model)),
            )
            messages = plan.messages
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
        return _Prepared(question, rewrite, context, messages, timings, started, template, model)

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
    ) -> Iterator[AnswerEvent]:
        """Answer ``question``, yielding events as they happen (see the module docstring).

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
        return self._stream(
            question,
            params,
            collection=collection,
            conversation=conversation,
            filters=filters,
            samples=samples,
            model=model,
            max_passages=max_passages,
            style=style or self.config.style,
        )

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
    ) -> Iterator[AnswerEvent]:
        span = current_span()  # the answer's trace (``Ragline.ask_stream`` opens one)
        trace_id = span.trace_id if span is not None else None
        yield Started(model or self.gateway.name, trace_id, collection)
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
            question_vector=vector,
        )
        yield Retrieved(prep.rewrite, prep.context)
        if not prep.context.relevant:
            detail = self._irrelevant_detail(prep, collection)
            answer = self._decline(prep, "no_relevant_passages", [], "", None, detail=detail)
            yield AnswerDone(answer, trace_id)
            return
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
        checker = CitationChecker(
            self.config,
            self.embedder,
            self.retriever.analyzer,
            prep.rewrite.query,
            prep.context.passages,
            self.packer.vectors,
            prep.context.question_vector,
        )
        splitter = SentenceStream()
        checked: list[CheckedSentence] = []
        result: ChatResult | None = None
        gen_start = time.perf_counter()
        first: float | None = None
        # Sentences are checked on a worker thread while the model goes on writing (both
        # release the GIL), and reported in order as their checks finish.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ragline-check")
        pending: deque[Future[CheckedSentence | None]] = deque()
        check = _TimedCheck(checker)
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
                    yield piece  # the model's own TokenDelta: one delta type, end to end
                    pending.extend(pool.submit(check, s) for s in splitter.push(piece.text))
                    while pending and pending[0].done():
                        if (done := pending.popleft().result()) is not None:
                            checked.append(done)
                            yield SentenceChecked(done)
            pending.extend(pool.submit(check, s) for s in splitter.flush())
            while pending:
                if (done := pending.popleft().result()) is not None:
                    checked.append(done)
                    yield SentenceChecked(done)
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
        else:
            reason = "handoff"
            text, detail = self._hand_off(question, decision, collection, trace_id)
        return Answer(
            question=question,
            text=text,
            declined=True,
            citations=(),
            passages=(),
            decline_reason=reason,
            decline_detail=detail,
        )

    def _hand_off(
        self, question: str, decision: RouteDecision, collection: str, trace_id: str | None
    ) -> tuple[str, str]:
        cfg = self.settings.route
        if self.handoff_sink is None:
            return cfg.no_handoff_reply, "the user asked for a person; no handoff inbox is set"
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
        return cfg.handoff_reply.replace("{item_id}", item), f"handed to a person: item {item}"

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
            if any(s.reason == "decline" for s in checked):
                reason: DeclineReason = "model_declined"
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

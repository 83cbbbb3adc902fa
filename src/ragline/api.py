"""The Python API: :class:`Ragline` mirrors the CLI one method per command.

>>> rag = Ragline()                                   # ~/.ragline/ragline.db, embedded models
>>> rag.ingest(["docs/"], collection="handbook")      # doctest: +SKIP
>>> rag.search("vacation policy", collection="handbook", k=5)   # doctest: +SKIP
>>> rag.feedback.thumbs(rag.tracer.last_trace_id, up=True)     # doctest: +SKIP

Every search is traced (``settings.trace``) into the same store, off the request path.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragline.config import Settings, load_settings
from ragline.errors import CollectionNotFoundError, InvalidQueryError, MalformedInputError
from ragline.guard.base import Decision, GuardContext, GuardDirection, HandoffSink
from ragline.guard.pipeline import GuardPipeline
from ragline.models.embedder import Embedder, get_embedder
from ragline.retrieve.rerank import Reranker
from ragline.retrieve.retriever import RankedIds, Retriever
from ragline.store.base import Store
from ragline.store.factory import (
    open_cache,
    open_documents,
    open_handoffs,
    open_invalidation,
    open_traces,
)
from ragline.store.invalidation import Invalidation, InvalidationMessage
from ragline.store.traces_base import TraceStore
from ragline.trace import AnyTracer, open_tracer
from ragline.types import (
    Answer,
    AnswerStyle,
    CollectionInfo,
    CollectionStats,
    Hit,
    IngestReport,
    SearchFilters,
    SearchMode,
)

if TYPE_CHECKING:
    # The answer flow, the gateway (httpx, llama.cpp), ingestion (trafilatura, pypdf) and
    # feedback load on first use: `ragline search` never pays for them.
    from ragline.agent.events import AgentEvent, AgentOutcome
    from ragline.agent.run import AgentRunner
    from ragline.answer.conversation import Conversation
    from ragline.answer.events import AnswerEvent
    from ragline.answer.flow import Answerer
    from ragline.answer.tracing import ConversationLinks
    from ragline.cache.answers import AnswerCache, CacheLookup, Readable
    from ragline.feedback.signals import FeedbackRecorder
    from ragline.ingest.pipeline import ProgressCallback
    from ragline.memory.longterm import LongTermMemory
    from ragline.models.gateway import Gateway
    from ragline.store.agent_base import AgentRunStore
    from ragline.store.handoff_base import HandoffStore

log = logging.getLogger("ragline")


class Ragline:
    """One store, one embedder, one retriever: everything a process needs, loaded lazily."""

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        store: Store | None = None,
        embedder: Embedder | None = None,
        reranker: Reranker | None = None,
        traces: TraceStore | None = None,
        tracer: AnyTracer | None = None,
        invalidation: Invalidation | None = None,
        guard: GuardPipeline | None = None,
        handoff: HandoffSink | None = None,
    ) -> None:
        self.settings = settings or load_settings()
        #: The guards (``guard.*`` settings), built once: the answer flow, ingestion and
        #: :meth:`guard_scan` share them (each guard loads its model on first use).
        self.guard = guard or GuardPipeline(self.settings)
        #: Where a HANDOFF decision puts the conversation (the human inbox); None: a
        #: handoff refuses like a block and says no inbox is set up.
        self.handoff = handoff
        self.store: Store = store or open_documents(self.settings)
        self._invalidation = invalidation
        self._owns_invalidation = invalidation is None
        self._embedder = embedder
        self._traces = traces
        self._handoffs: HandoffStore | None = None
        self._memory: LongTermMemory | None = None
        self._lazy_lock = threading.Lock()  # guards what is created on first use
        self._owned = (traces is None, tracer is None)
        self.tracer: AnyTracer = tracer or open_tracer(self.settings, lambda: self.traces)
        self._links: ConversationLinks | None = None
        self.retriever = Retriever(
            self.store,
            self.settings,
            embedder=lambda: self.embedder,
            reranker=reranker,
            tracer=self.tracer,
        )

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            self._embedder = get_embedder(self.settings.embedder)
        return self._embedder

    @property
    def traces(self) -> TraceStore:
        """Where traces and feedback are kept (the store at ``store.url``, opened on first use)."""
        with self._lazy_lock:
            if self._traces is None:
                self._traces = open_traces(self.settings)
            return self._traces

    @property
    def handoffs(self) -> HandoffStore:
        """The human handoff inbox (the store at ``store.url``, opened on first use): where
        a ``handoff`` decision puts a conversation, and where a person's reply waits."""
        with self._lazy_lock:
            if self._handoffs is None:
                self._handoffs = open_handoffs(self.settings)
            return self._handoffs

    @property
    def memory(self) -> LongTermMemory:
        """Long-term memory per user (the store at ``store.url``, opened on first use): the
        answer flow remembers and recalls through it when ``memory.long_term`` is on;
        ``ragline memory`` and ``/api/memory`` list and forget with it."""
        with self._lazy_lock:
            if self._memory is None:
                from ragline.memory.longterm import LongTermMemory
                from ragline.store.factory import open_memory

                self._memory = LongTermMemory(
                    lambda: open_memory(self.settings),
                    lambda: self.embedder,
                    self.settings.memory,
                    analyzer=self.retriever.analyzer,
                    extractor=self._fact_extractor(),
                )
            return self._memory

    def _fact_extractor(self) -> Any:
        """The chat model's extractor (``memory.extractor = "model"``), else None: rules."""
        cfg = self.settings.memory
        if cfg.extractor != "model":
            return None
        from ragline.memory.model_facts import ModelFactExtractor
        from ragline.prompts import PromptRegistry

        template = PromptRegistry.from_settings(self.settings).get(cfg.fact_prompt)
        return ModelFactExtractor(
            self.gateway, template, model=cfg.extractor_model, notes=cfg.notes
        )

    @property
    def invalidation(self) -> Invalidation:
        """Where collection changes are announced (``redis.url``: to every replica; opened
        on first use). This object publishes after each ingest and delete."""
        with self._lazy_lock:
            if self._invalidation is None:
                self._invalidation = open_invalidation(self.settings)
            return self._invalidation

    def listen_for_changes(self) -> None:
        """Drop in-memory state of a collection when any process changes it (a server
        calls this once; the retriever's loaded indexes are dropped)."""

        def drop(message: InvalidationMessage) -> None:
            self.retriever.forget(message.collection)

        self.invalidation.subscribe(drop)

    def _version(self, collection: str) -> int | None:
        try:
            return self.store.collection_version(collection)
        except CollectionNotFoundError:
            return None

    def _announce(self, collection: str, reason: str, *, before: int | None = -1) -> None:
        """Publish that ``collection`` changed, unless its version is still ``before``."""
        try:
            version = self._version(collection)
            if version is None or version != before:
                self.invalidation.publish(collection, version=version, reason=reason)
        except Exception:  # the change is stored; a failed announcement must not undo that
            log.warning("could not announce that collection %r changed", collection, exc_info=True)

    @property
    def feedback(self) -> FeedbackRecorder:
        """Thumbs, ratings and comments on traced answers."""
        from ragline.feedback.signals import FeedbackRecorder

        return FeedbackRecorder(self.traces)

    def close(self) -> None:
        owns_traces, owns_tracer = self._owned
        if owns_tracer:
            self.tracer.close()  # waits for queued traces to be written
        else:
            self.tracer.flush()
        if owns_traces and self._traces is not None:
            self._traces.close()
        if self._handoffs is not None:
            self._handoffs.close()
        if getattr(self, "_agent_runs", None) is not None:
            self._agent_runs.close()
        if self._memory is not None:
            self._memory.close()
        if self._owns_invalidation and self._invalidation is not None:
            self._invalidation.close()
        if getattr(self, "_cache", None) is not None:
            self._cache.close()
        self.store.close()

    def __enter__(self) -> Ragline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _collection(self, collection: str | None) -> str:
        return collection or self.settings.default_collection

    # commands ------------------------------------------------------------------------------
    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        collection: str | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: ProgressCallback | None = None,
    ) -> IngestReport:
        """Ingest files and folders; see :class:`ragline.ingest.pipeline.Ingestor`."""
        from ragline.ingest.pipeline import Ingestor

        ingestor = Ingestor(
            self.store,
            self.settings,
            lambda: self.embedder,
            self.retriever.analyzer,
            guard=self.guard,
        )
        name = self._collection(collection)
        before = self._version(name)
        try:
            return ingestor.ingest(
                paths,
                collection=name,
                include=include,
                exclude=exclude,
                prune=prune,
                progress=progress,
            )
        finally:  # also after a failure: the batches before it are stored
            self._announce(name, "ingest", before=before)

    def search(
        self,
        query: str,
        *,
        collection: str | None = None,
        mode: SearchMode | None = None,
        k: int | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> list[Hit]:
        """Ranked chunks for ``query``; ``source`` is a glob, ``metadata`` exact matches."""
        return self.retriever.search(
            query,
            collection=self._collection(collection),
            mode=mode,  # None: retrieval.default_mode / default_k, resolved by the retriever
            k=k,
            filters=SearchFilters(source, dict(metadata or {})),
        )

    def search_batch(
        self,
        queries: Sequence[tuple[str, str]],
        *,
        collection: str | None = None,
        mode: SearchMode | None = None,
        k: int | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        batch_size: int = 64,
    ) -> Iterable[tuple[str, RankedIds]]:
        """Rank many ``(query_id, text)`` pairs; yields ``(query_id, ranking)`` in order.

        ``k`` defaults to ``retrieval.batch_k`` (deeper than a single search's)."""
        coll = self._collection(collection)
        filters = SearchFilters(source, dict(metadata or {}))
        for start in range(0, len(queries), batch_size):
            part = queries[start : start + batch_size]
            ranked = self.retriever.rank(
                [q for _, q in part],
                collection=coll,
                mode=mode,
                k=self.settings.retrieval.batch_k if k is None else k,
                filters=filters,
            )
            yield from zip((qid for qid, _ in part), ranked, strict=True)

    def collections(self) -> list[CollectionInfo]:
        return self.store.list_collections()

    def stats(self, collection: str | None = None) -> CollectionStats:
        return self.store.stats(self._collection(collection))

    def delete_collection(self, collection: str) -> None:
        self.store.delete_collection(collection)
        self._announce(collection, "delete")

    # grounded answers (ragline.answer) -----------------------------------------------------
    @property
    def gateway(self) -> Gateway:
        """The chat-model gateway, created on first use; assign one to inject models."""
        if getattr(self, "_gateway", None) is None:
            from ragline.models.gateway import Gateway

            self._gateway = Gateway(self.settings, tracer=self.tracer)
        return self._gateway

    @gateway.setter
    def gateway(self, value: Gateway) -> None:
        self._gateway = value
        self._answerer = None

    def _inbox_sink(self) -> HandoffSink:
        """The store's handoff inbox, opened when the first conversation is handed over."""
        from ragline.guard.handoff import StoreHandoffSink

        return StoreHandoffSink(lambda: self.handoffs)

    @property
    def cache(self) -> AnswerCache | None:
        """The exact and semantic answer caches (None: ``cache.enabled`` is off)."""
        if not self.settings.cache.enabled:
            return None
        with self._lazy_lock:
            if getattr(self, "_cache", None) is None:
                from ragline.cache.answers import AnswerCache

                self._cache = AnswerCache(
                    self.settings,
                    self.retriever,
                    lambda: self.embedder,
                    open_store=lambda: open_cache(self.settings),
                    tracer=self.tracer,
                )
            return self._cache

    @property
    def answerer(self) -> Answerer:
        if getattr(self, "_answerer", None) is None:
            from ragline.answer.flow import Answerer

            self._answerer = Answerer(
                self.retriever,
                self.gateway,
                self.settings,
                self.embedder,
                tracer=self.tracer,
                guard=self.guard,
                handoff=self.handoff or self._inbox_sink(),
            )
        self._answerer.cache = self.cache
        if self.settings.memory.long_term:
            self._answerer.memory = self.memory
        return self._answerer

    def cache_lookup(
        self,
        question: str,
        *,
        collection: str | None = None,
        conversation: Conversation | None = None,
        model: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        sampling: Mapping[str, Any] | None = None,
        max_passages: int | None = None,
        style: AnswerStyle | None = None,
        readable: Readable = None,
    ) -> CacheLookup | None:
        """What :meth:`ask_stream` would find in the answer caches for these arguments (None:
        the cache is off or does not apply); pass it back as ``cache_lookup=`` to serve it."""
        return self.answerer.cache_lookup(
            question,
            collection=self._collection(collection),
            conversation=conversation,
            filters=SearchFilters(source, dict(metadata or {})),
            model=model,
            sampling=sampling,
            max_passages=max_passages,
            style=style,
            readable=readable,
        )

    def ask_stream(
        self,
        question: str,
        *,
        collection: str | None = None,
        conversation: Conversation | None = None,
        samples: int | None = None,
        model: str | None = None,
        source: str | None = None,
        metadata: dict[str, Any] | None = None,
        sampling: Mapping[str, Any] | None = None,
        max_passages: int | None = None,
        style: AnswerStyle | None = None,
        cache: bool = True,
        readable: Readable = None,
        cache_lookup: CacheLookup | None = None,
        user: str | None = None,
    ) -> Iterator[AnswerEvent]:
        """Answer with citations, as the events of :mod:`ragline.answer.events`:
        ``Started``, ``Retrieved``, draft ``TokenDelta`` pieces, each ``SentenceChecked``,
        then ``AnswerDone`` (the whole :class:`~ragline.types.Answer`).

        ``sampling`` overrides :class:`~ragline.models.chat.SamplingParams` fields for this
        call (``{"max_tokens": 64, "temperature": 0.7, "seed": 1}``) on top of
        ``answer.max_tokens`` / ``answer.temperature``; a bad name or value raises
        :class:`~ragline.errors.ConfigError` here, before any work. ``max_passages`` caps
        the passages the answer may be grounded on (default ``answer.max_passages``);
        ``style`` (``extractive``, ``generative``, ``auto``) overrides ``answer.style``.
        With ``cache.enabled``, a cached answer may be served (``Answer.cached``): ``cache=
        False`` skips the caches for this call, ``readable`` names the collections the caller
        may read (a cached answer citing another one is not served). ``user``: whose
        long-term memory applies when ``memory.long_term`` is on (None:
        ``memory.default_user``); facts the question states are remembered, facts relevant
        to it recalled, "forget …" forgets."""
        from ragline.answer.tracing import ConversationLinks, trace_answer

        with self._lazy_lock:
            if self._links is None:
                self._links = ConversationLinks()
        events = self.answerer.stream(
            question,
            collection=self._collection(collection),
            conversation=conversation,
            filters=SearchFilters(source, dict(metadata or {})),
            samples=samples,
            model=model,
            sampling=sampling,
            max_passages=max_passages,
            style=style,
            cache=cache,
            readable=readable,
            cache_lookup=cache_lookup,
            user=user or self.settings.memory.default_user,
        )
        return trace_answer(  # an "ask" / "chat" trace; chat turns also judge the last answer
            self.tracer,
            events,
            question=question,
            collection=self._collection(collection),
            conversation=conversation,
            links=self._links,
        )

    def guard_scan(
        self,
        text: str,
        *,
        direction: GuardDirection = "input",
        collection: str | None = None,
        guards: Sequence[str] | None = None,
    ) -> Decision:
        """The guards' decision on ``text`` (``ragline guard scan``): the action, the text
        after redaction, each guard's flags and latency. ``guards``: only these names
        (default: the direction's, ``guard.input`` / ``output`` / ``documents``);
        ``collection``: its policy (action overrides, topics) applies."""
        context = GuardContext(collection=self._collection(collection))
        return self.guard.check(text, direction, context, only=guards)

    def ask(self, question: str, **kwargs: Any) -> Answer:
        """A grounded answer with citations, or a decline with the best passages.

        Same arguments as :meth:`ask_stream`; ``samples=N`` draws N answers, keeps the best;
        ``sampling={"max_tokens": 64}`` overrides sampling for this answer only.
        """
        from ragline.answer.events import final_answer

        return final_answer(self.ask_stream(question, **kwargs))

    def chat(self, message: str, conversation: Conversation, **kwargs: Any) -> Answer:
        """:meth:`ask` within a conversation: a follow-up is rewritten into a standalone
        query, earlier turns go into the prompt (trimmed), and the turn is recorded.
        Same keyword arguments as :meth:`ask_stream` (``sampling=`` included)."""
        answer = self.ask(message, conversation=conversation, **kwargs)
        conversation.add(answer)
        return answer

    # agents (ragline.agent) ----------------------------------------------------------------
    @property
    def agent_runs(self) -> AgentRunStore:
        """Checkpoints of agent runs (the store at ``store.url``, opened on first use)."""
        with self._lazy_lock:
            if getattr(self, "_agent_runs", None) is None:
                from ragline.store.factory import open_agent_runs

                self._agent_runs = open_agent_runs(self.settings)
            return self._agent_runs

    def agent(self, collection: str | None = None) -> AgentRunner:
        """An agent runner over the gateway, the default tools (``search`` and
        ``read_document`` over ``collection``), the run checkpoints and the handoff inbox."""
        from ragline.agent.run import AgentRunner
        from ragline.agent.tools import ToolRegistry

        registry = ToolRegistry.default(
            self.settings,
            collection=self._collection(collection),
            retriever=self.retriever,
            tracer=self.tracer,
        )
        return AgentRunner(
            self.settings,
            gateway=self.gateway,
            registry=registry,
            store=self.agent_runs,
            handoffs=self.handoffs,
            tracer=self.tracer,
        )

    def agent_stream(
        self,
        task: str,
        *,
        collection: str | None = None,
        tools: Sequence[str] | None = None,
        owner: str | None = None,
        model: str | None = None,
        **budgets: Any,
    ) -> Iterator[AgentEvent]:
        """Run an agent task; its events (``ragline.agent.events``), the last
        ``RunFinished``. ``budgets``: ``max_steps``, ``max_seconds``, ``max_tokens``,
        ``max_spend`` (None: ``agent.*``)."""
        coll = self._collection(collection)
        yield from self.agent(coll).start(
            task, collection=coll, tools=tools, owner=owner, model=model, **budgets
        )

    def agent_run(self, task: str, **kwargs: Any) -> AgentOutcome:
        """:meth:`agent_stream` to the end: the outcome (status, answer, sources, why)."""
        from ragline.agent.outcome import last_outcome

        return last_outcome(self.agent_stream(task, **kwargs))

    def agent_resume(self, run_id: str, *, force: bool = False) -> Iterator[AgentEvent]:
        """Go on with a run from its checkpoint (after an approval, or a crash)."""
        record = self.agent_runs.load_run(run_id.strip())
        collection = record.collection if record is not None else None
        yield from self.agent(collection).resume(run_id.strip(), force=force)

    def agent_show(self, run_id: str) -> dict[str, Any]:
        """A run's record, its state and its step log; ResourceNotFoundError if unknown."""
        from ragline.agent.outcome import show_run

        return show_run(self.agent_runs, run_id.strip())


def read_queries(
    path: Path, id_field: str = "_id", text_field: str = "text"
) -> list[tuple[str, str]]:
    """Queries from a JSONL file (BEIR ``queries.jsonl``: ``{"_id": ..., "text": ...}``)."""
    queries: list[tuple[str, str]] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise MalformedInputError(str(path), f"cannot read queries: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            queries.append((str(obj.get(id_field, n)), str(obj[text_field])))
        except (json.JSONDecodeError, KeyError, AttributeError) as exc:
            raise InvalidQueryError(
                f"{path}:{n}: not a query object with a {text_field!r} field ({exc})",
                hint='each line must be like {"_id": "1", "text": "my question"}',
            ) from exc
    return queries

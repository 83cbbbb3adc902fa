"""ragline's grounded answer flow as the system under test (``system.answer.flow: grounded``).

Each item's question goes through the same :class:`~ragline.answer.flow.Answerer` that
``Ragline.ask`` runs: query rewriting, hybrid retrieval, the relevance gate, context packing,
sentence-level citation checks and declines. What the item keeps:

* ``output`` — the answer's kept sentences without their ``[n]`` markers (what answer
  metrics and judges compare with a reference), or the decline message;
* ``retrieved`` — the documents of the answer's passages, in passage order (used when the
  spec has no ``system.retrieval`` of its own);
* ``details["answer"]`` — the answer as shown (with markers), declined and why, the
  citations and passages (chunk and document ids), the checked sentences, the draft, the
  prompt version and hash, the model, token usage, cost and the flow's timings;
* the passages the model was given, handed to faithfulness and the context metrics.

The flow runs without the product's tracer: evaluation questions stay out of the traces
that usage metrics, feedback and drift are computed from. Its settings are the
``[answer]`` settings with the spec's changes (:meth:`AnswerSystem.answer_overrides`);
they are part of the run's fingerprint, so a run cannot be resumed under other settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ragline.config import AnswerSettings, Settings
from ragline.evaluate.spec import EvalSpec
from ragline.types import Answer, Passage


@dataclass(frozen=True, slots=True)
class GroundedItem:
    """What one grounded answer contributes to an item's result."""

    output: str
    retrieved: list[str]
    #: ``(document id, text)`` of the passages the answer was given (or, declined before
    #: generating, the closest passages)
    passages: list[tuple[str, str]]
    details: dict[str, Any] = field(default_factory=dict)


def answer_settings(spec: EvalSpec, settings: Settings) -> AnswerSettings:
    """The ``[answer]`` settings with the spec's changes (validated)."""
    answer = spec.system.answer
    overrides = answer.answer_overrides() if answer is not None else {}
    return AnswerSettings.model_validate({**settings.answer.model_dump(), **overrides})


def doc_id(passage: Passage) -> str:
    """A passage's document id as retrieval metrics see it (``doc_id`` metadata, else the
    document key: the file path)."""
    chunk = passage.chunk
    return str(chunk.metadata.get("doc_id") or chunk.document_key)


def _passage(p: Passage) -> dict[str, Any]:
    return {
        "number": p.number,
        "chunk_id": p.chunk.id,
        "doc_id": doc_id(p),
        "document_id": p.chunk.document_id,
        "source": p.chunk.source,
        "relevance": round(p.relevance, 4),
        "text": p.text,
    }


def plain_text(answer: Answer) -> str:
    """The answer without its ``[n]`` markers: kept sentences joined (a decline's message)."""
    if answer.declined:
        return answer.text
    kept = [s.text.strip() for s in answer.sentences if s.kept and s.text.strip()]
    return " ".join(kept) if kept else answer.text


def answer_details(answer: Answer) -> dict[str, Any]:
    """The JSON record of one grounded answer kept in ``details["answer"]``."""
    result = answer.result
    return {
        "flow": "grounded",
        "text": answer.text,
        "query": answer.query,
        "declined": answer.declined,
        "decline_reason": answer.decline_reason,
        "citations": [
            {
                "number": c.number,
                "chunk_id": c.passage.chunk.id,
                "doc_id": doc_id(c.passage),
                "document_id": c.passage.chunk.document_id,
                "source": c.passage.chunk.source,
                "sentence": c.sentence,
                "supported": c.supported,
                "attached": c.attached,
                "lexical": round(c.lexical, 4),
                "semantic": round(c.semantic, 4),
            }
            for c in answer.citations
        ],
        "passages": [_passage(p) for p in answer.passages],
        "sentences": [s.to_dict() for s in answer.sentences],
        "draft": answer.draft,
        "prompt_version": answer.prompt_version,
        "prompt_sha256": answer.prompt_sha256,
        "model": answer.model,
        "usage": result.usage.to_dict() if result is not None else None,
        # ``tokens`` and ``cost`` are what run summaries add up over items
        "tokens": result.usage.total_tokens if result is not None else 0,
        "cost": result.cost if result is not None else None,
        "finish_reason": result.finish_reason if result is not None else None,
        "timings": {k: round(v, 4) for k, v in answer.timings.items()},
    }


class GroundedAnswers:
    """Answers items with an :class:`~ragline.answer.flow.Answerer` over one collection.

    ``rag`` is the runner's :class:`~ragline.api.Ragline` (its retriever and embedder are
    shared); ``gateway`` the runner's gateway, so that tests inject scripted models the same
    way as for the ``prompt`` flow.
    """

    def __init__(self, spec: EvalSpec, settings: Settings, rag: Any, gateway: Any) -> None:
        from ragline.answer.flow import Answerer

        system = spec.system
        assert system.answer is not None and system.grounded
        self.collection: str = system.grounded_collection or settings.default_collection
        self.model = system.answer.model
        self.settings = answer_settings(spec, settings)
        flow_settings = settings.model_copy(update={"answer": self.settings})
        self.answerer = Answerer(rag.retriever, gateway, flow_settings, rag.embedder)

    @property
    def prompt_version(self) -> str:
        """The answer prompt's name, version and hash (``answer@v2 sha256:…``)."""
        return self.answerer.template.stamp

    def fingerprint(self) -> dict[str, Any]:
        """What decides the answers beyond the spec: the effective ``[answer]`` settings."""
        return {"answer_settings": self.settings.model_dump(mode="json")}

    def answer(self, question: str) -> GroundedItem:
        answer = self.answerer.ask(question, collection=self.collection, model=self.model)
        passages = [(doc_id(p), p.text) for p in answer.passages]
        return GroundedItem(
            output=plain_text(answer),
            retrieved=list(dict.fromkeys(d for d, _ in passages)),
            passages=passages,
            details=answer_details(answer),
        )


def decline_summary(details: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Declines over a run's grounded answers (None when the run has none)."""
    grounded = [d for d in details if isinstance(d, dict) and d.get("flow") == "grounded"]
    if not grounded:
        return None
    declined = [d for d in grounded if d.get("declined")]
    reasons: dict[str, int] = {}
    for d in declined:
        key = str(d.get("decline_reason"))
        reasons[key] = reasons.get(key, 0) + 1
    return {
        "answers": len(grounded),
        "declined": len(declined),
        "decline_rate": len(declined) / len(grounded),
        "reasons": dict(sorted(reasons.items())),
    }


__all__ = [
    "GroundedAnswers",
    "GroundedItem",
    "answer_details",
    "answer_settings",
    "decline_summary",
    "doc_id",
    "plain_text",
]

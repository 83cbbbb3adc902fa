"""Cached answers as JSON: :func:`encode` an :class:`~ragline.types.Answer` with its citations,
passages and checked sentences, :func:`decode` it back.

The payload carries a SHA-256 of its body: a payload that does not parse, lacks a field, or
whose body does not match its digest raises
:class:`~ragline.errors.CorruptCacheEntryError`, and the cache drops the entry instead of
serving it.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ragline.errors import CorruptCacheEntryError
from ragline.types import Answer, CheckedSentence, Chunk, Citation, Passage

FORMAT = 1


def _chunk(c: Chunk) -> dict[str, Any]:
    return {
        "id": c.id,
        "document_id": c.document_id,
        "ordinal": c.ordinal,
        "text": c.text,
        "source": c.source,
        "title": c.title,
        "heading_path": list(c.heading_path),
        "page": c.page,
        "char_start": c.char_start,
        "char_end": c.char_end,
        "token_count": c.token_count,
        "metadata": c.metadata,
        "document_key": c.document_key,
    }


def _passage(p: Passage) -> dict[str, Any]:
    return {
        "number": p.number,
        "chunk": _chunk(p.chunk),
        "text": p.text,
        "relevance": float(p.relevance),
        "scores": {k: float(v) for k, v in p.scores.items()},
    }


def _citation(c: Citation) -> dict[str, Any]:
    return {
        "number": c.number,
        "passage": _passage(c.passage),
        "sentence": c.sentence,
        "lexical": float(c.lexical),
        "semantic": float(c.semantic),
        "supported": c.supported,
        "attached": c.attached,
    }


def _sentence(s: CheckedSentence) -> dict[str, Any]:
    return {
        "text": s.text,
        "status": s.status,
        "citations": [_citation(c) for c in s.citations],
        "reason": s.reason,
        "cited": list(s.cited),
    }


def encode(answer: Answer) -> str:
    """The JSON payload of a cache entry for ``answer``."""
    body = {
        "text": answer.text,
        "citations": [_citation(c) for c in answer.citations],
        "passages": [_passage(p) for p in answer.passages],
        "sentences": [_sentence(s) for s in answer.sentences],
        "query": answer.query,
        "prompt_version": answer.prompt_version,
        "prompt_sha256": answer.prompt_sha256,
        "model": answer.model,
        "style": answer.style,
        "answerability": answer.answerability,
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, default=str)
    digest = hashlib.sha256(text.encode()).hexdigest()
    return json.dumps({"format": FORMAT, "sha256": digest, "body": text}, ensure_ascii=False)


def _read_chunk(d: dict[str, Any]) -> Chunk:
    return Chunk(
        id=str(d["id"]),
        document_id=str(d["document_id"]),
        ordinal=int(d["ordinal"]),
        text=str(d["text"]),
        source=str(d["source"]),
        title=str(d["title"]),
        heading_path=tuple(d["heading_path"]),
        page=d["page"],
        char_start=int(d["char_start"]),
        char_end=int(d["char_end"]),
        token_count=int(d["token_count"]),
        metadata=dict(d["metadata"]),
        document_key=str(d["document_key"]),
    )


def _read_passage(d: dict[str, Any]) -> Passage:
    return Passage(
        int(d["number"]),
        _read_chunk(d["chunk"]),
        str(d["text"]),
        float(d["relevance"]),
        dict(d["scores"]),
    )


def _read_citation(d: dict[str, Any]) -> Citation:
    return Citation(
        number=int(d["number"]),
        passage=_read_passage(d["passage"]),
        sentence=str(d["sentence"]),
        lexical=float(d["lexical"]),
        semantic=float(d["semantic"]),
        supported=bool(d["supported"]),
        attached=bool(d["attached"]),
    )


def decode(payload: str, question: str) -> Answer:
    """The cached answer, asked as ``question``;
    :class:`~ragline.errors.CorruptCacheEntryError` when it cannot be trusted."""
    try:
        outer = json.loads(payload)
        if outer.get("format") != FORMAT:
            raise CorruptCacheEntryError(f"unknown cache payload format {outer.get('format')!r}")
        text = outer["body"]
        if hashlib.sha256(text.encode()).hexdigest() != outer["sha256"]:
            raise CorruptCacheEntryError("the payload does not match its digest")
        body = json.loads(text)
        citations = tuple(_read_citation(c) for c in body["citations"])
        sentences = tuple(
            CheckedSentence(
                text=str(s["text"]),
                status=s["status"],
                citations=tuple(_read_citation(c) for c in s["citations"]),
                reason=s["reason"],
                cited=tuple(int(n) for n in s["cited"]),
            )
            for s in body["sentences"]
        )
        if not citations or not str(body["text"]).strip():
            raise CorruptCacheEntryError("a cached answer without text or citations")
        return Answer(
            question=question,
            text=str(body["text"]),
            declined=False,
            citations=citations,
            passages=tuple(_read_passage(p) for p in body["passages"]),
            sentences=sentences,
            query=str(body["query"]),
            prompt_version=str(body["prompt_version"]),
            prompt_sha256=str(body["prompt_sha256"]),
            model=body["model"],
            style=body["style"],
            answerability=body["answerability"],
        )
    except CorruptCacheEntryError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CorruptCacheEntryError(
            f"unreadable cache payload: {type(exc).__name__}: {exc}"
        ) from exc


__all__ = ["FORMAT", "decode", "encode"]

"""The metric registry: every metric a spec can produce, and which way is better.

Reports, ``ragline eval compare`` and ``ragline eval check`` read a metric's direction
here, and only here. Almost every metric is higher-is-better; perplexity and bits per byte
are lower-is-better (a model less surprised by the text). A name the registry does not
know — a judge or pairwise metric given its own ``name`` in a spec — is higher-is-better:
judges rate 1–5 and pairwise scores are win rates.

>>> metric_direction("ndcg@10"), metric_direction("perplexity")
('higher', 'lower')
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

#: ``higher``: a larger value is better; ``lower``: a smaller one is.
Direction = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class MetricInfo:
    """One metric (or a family, ``ndcg@k``): its direction and what it measures."""

    name: str
    direction: Direction
    description: str

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"


_ENTRIES = (
    # retrieval (families: any cutoff k)
    MetricInfo("ndcg@k", "higher", "normalised discounted cumulative gain at k"),
    MetricInfo("recall@k", "higher", "share of the relevant documents in the top k"),
    MetricInfo("precision@k", "higher", "share of the top k that is relevant"),
    MetricInfo("hit@k", "higher", "1 when a relevant document is in the top k"),
    MetricInfo("mrr@k", "higher", "reciprocal rank of the first relevant document (top k)"),
    MetricInfo("mrr", "higher", "reciprocal rank of the first relevant document"),
    # answer text
    MetricInfo("exact_match", "higher", "normalised output equals a reference"),
    MetricInfo("squad_em", "higher", "SQuAD exact match"),
    MetricInfo("f1", "higher", "SQuAD token F1 with the best reference"),
    MetricInfo("contains", "higher", "a normalised reference occurs in the output"),
    MetricInfo("bleu", "higher", "sentence BLEU, 0-1"),
    MetricInfo("rouge1", "higher", "ROUGE-1 F-measure"),
    MetricInfo("rouge2", "higher", "ROUGE-2 F-measure"),
    MetricInfo("rougeL", "higher", "ROUGE-L F-measure"),
    MetricInfo("semantic_similarity", "higher", "MiniLM cosine of output and reference"),
    # RAG
    MetricInfo("context_precision", "higher", "rank-aware precision of the contexts"),
    MetricInfo("context_recall", "higher", "share of reference contexts retrieved"),
    MetricInfo("faithfulness", "higher", "share of the answer's claims a passage supports"),
    MetricInfo("answer_relevance", "higher", "MiniLM cosine of question and answer"),
    # language-model fit of the text
    MetricInfo("perplexity", "lower", "exp(mean NLL) of the text under a GGUF model"),
    MetricInfo("bits_per_byte", "lower", "total NLL / ln 2 / UTF-8 bytes"),
    # instruction following
    MetricInfo("ifeval_prompt_strict", "higher", "all instructions followed (strict)"),
    MetricInfo("ifeval_inst_strict", "higher", "share of instructions followed (strict)"),
    MetricInfo("ifeval_prompt_loose", "higher", "all instructions followed (loose)"),
    MetricInfo("ifeval_inst_loose", "higher", "share of instructions followed (loose)"),
    # generated code
    MetricInfo("pass@k", "higher", "share of problems whose program passes its tests"),
    # judges (default names; a spec may rename them)
    MetricInfo("judge_pointwise", "higher", "LLM judge rating, 1-5"),
    MetricInfo("judge_reference", "higher", "LLM judge rating against the reference, 1-5"),
    MetricInfo("pairwise", "higher", "win rate against other answers (tie 1/2)"),
)

#: Every known metric by name (families under ``name@k``).
METRICS: dict[str, MetricInfo] = {m.name: m for m in _ENTRIES}

_FAMILY = re.compile(r"^([a-z]+)@[1-9][0-9]*$")


def metric_info(name: str) -> MetricInfo:
    """The registry entry of ``name`` (``ndcg@5`` finds ``ndcg@k``); an unknown name gets
    a higher-is-better entry of its own."""
    if name in METRICS:
        return METRICS[name]
    family = _FAMILY.match(name)
    if family and f"{family.group(1)}@k" in METRICS:
        return METRICS[f"{family.group(1)}@k"]
    return MetricInfo(name, "higher", "")


def metric_direction(name: str) -> Direction:
    """``higher`` or ``lower``: which values of metric ``name`` are better."""
    return metric_info(name).direction


__all__ = [
    "METRICS",
    "Direction",
    "MetricInfo",
    "metric_direction",
    "metric_info",
]

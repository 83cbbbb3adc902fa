"""Evaluation metrics: answer text, retrieval, RAG, perplexity, code, contamination, agreement.

* :mod:`~ragline.evaluate.metrics.text` — exact match, SQuAD EM / token F1, BLEU, ROUGE;
* :mod:`~ragline.evaluate.metrics.semantic` — embedding (MiniLM) similarity to a reference;
* :mod:`~ragline.evaluate.metrics.rag` — context precision / recall, faithfulness, relevance;
* :mod:`~ragline.evaluate.metrics.perplexity` — perplexity and bits per byte (llama.cpp);
* :mod:`~ragline.evaluate.metrics.retrieval` — nDCG@k, Recall@k, MRR, hit@k (trec_eval);
* :mod:`~ragline.evaluate.metrics.code` — sandboxed test runs, unbiased pass@k;
* :mod:`~ragline.evaluate.metrics.contamination` — n-gram overlap with a corpus;
* :mod:`~ragline.evaluate.metrics.agreement` — accuracy, Cohen's κ, Spearman's ρ;
* :mod:`~ragline.evaluate.metrics.registry` — every metric's direction (higher or lower is
  better), read by reports, comparisons and stability checks.
"""

from ragline.evaluate.metrics.agreement import Correlation, accuracy, cohen_kappa, spearman
from ragline.evaluate.metrics.code import (
    ExecutionResult,
    check_correctness,
    mean_pass_at_k,
    pass_at_k,
    run_python,
)
from ragline.evaluate.metrics.contamination import (
    ContaminationReport,
    ItemContamination,
    NgramIndex,
    contamination,
)
from ragline.evaluate.metrics.perplexity import (
    PerplexityResult,
    PerplexityScorer,
    bits_per_byte,
    get_perplexity_scorer,
    perplexity,
)
from ragline.evaluate.metrics.rag import (
    Claim,
    ContextScores,
    Faithfulness,
    RetrievedContext,
    answer_relevance,
    context_precision,
    context_recall,
    context_scores,
    faithfulness,
)
from ragline.evaluate.metrics.registry import (
    METRICS,
    Direction,
    MetricInfo,
    metric_direction,
    metric_info,
)
from ragline.evaluate.metrics.retrieval import (
    QueryScores,
    RetrievalReport,
    evaluate_run,
    hit_at_k,
    load_qrels,
    ndcg_at_k,
    rank_documents,
    recall_at_k,
    reciprocal_rank,
)
from ragline.evaluate.metrics.semantic import (
    SemanticSimilarity,
    corpus_semantic_similarity,
    semantic_similarity,
)
from ragline.evaluate.metrics.text import (
    AnswerScores,
    BleuScore,
    RougeResult,
    RougeScore,
    answer_scores,
    corpus_bleu,
    exact_match,
    normalize_answer,
    rouge,
    sentence_bleu,
    squad_exact_match,
    token_f1,
)

__all__ = [
    "METRICS",
    "AnswerScores",
    "BleuScore",
    "Claim",
    "ContaminationReport",
    "ContextScores",
    "Correlation",
    "Direction",
    "ExecutionResult",
    "Faithfulness",
    "ItemContamination",
    "MetricInfo",
    "NgramIndex",
    "PerplexityResult",
    "PerplexityScorer",
    "QueryScores",
    "RetrievalReport",
    "RetrievedContext",
    "RougeResult",
    "RougeScore",
    "SemanticSimilarity",
    "accuracy",
    "answer_relevance",
    "answer_scores",
    "bits_per_byte",
    "check_correctness",
    "cohen_kappa",
    "contamination",
    "context_precision",
    "context_recall",
    "context_scores",
    "corpus_bleu",
    "corpus_semantic_similarity",
    "evaluate_run",
    "exact_match",
    "faithfulness",
    "get_perplexity_scorer",
    "hit_at_k",
    "load_qrels",
    "mean_pass_at_k",
    "metric_direction",
    "metric_info",
    "ndcg_at_k",
    "normalize_answer",
    "pass_at_k",
    "perplexity",
    "rank_documents",
    "recall_at_k",
    "reciprocal_rank",
    "rouge",
    "run_python",
    "semantic_similarity",
    "sentence_bleu",
    "spearman",
    "squad_exact_match",
    "token_f1",
]

"""Evaluation metrics: answer text, retrieval, code correctness, contamination, agreement.

* :mod:`~ragline.evaluate.metrics.text` — exact match, SQuAD EM / token F1, BLEU, ROUGE;
* :mod:`~ragline.evaluate.metrics.retrieval` — nDCG@k, Recall@k, MRR, hit@k (trec_eval);
* :mod:`~ragline.evaluate.metrics.code` — sandboxed test runs, unbiased pass@k;
* :mod:`~ragline.evaluate.metrics.contamination` — n-gram overlap with a corpus;
* :mod:`~ragline.evaluate.metrics.agreement` — accuracy, Cohen's κ, Spearman's ρ.
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
    "AnswerScores",
    "BleuScore",
    "ContaminationReport",
    "Correlation",
    "ExecutionResult",
    "ItemContamination",
    "NgramIndex",
    "QueryScores",
    "RetrievalReport",
    "RougeResult",
    "RougeScore",
    "accuracy",
    "answer_scores",
    "check_correctness",
    "cohen_kappa",
    "contamination",
    "corpus_bleu",
    "evaluate_run",
    "exact_match",
    "hit_at_k",
    "load_qrels",
    "mean_pass_at_k",
    "ndcg_at_k",
    "normalize_answer",
    "pass_at_k",
    "rank_documents",
    "recall_at_k",
    "reciprocal_rank",
    "rouge",
    "run_python",
    "sentence_bleu",
    "spearman",
    "squad_exact_match",
    "token_f1",
]

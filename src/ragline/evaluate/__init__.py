"""Evaluation: metrics, instruction-following checks and comparative ranking.

* :mod:`ragline.evaluate.metrics` — answer text (exact match, SQuAD EM/F1, BLEU, ROUGE),
  retrieval (nDCG@k, Recall@k, MRR, hit@k with trec_eval conventions), functional
  correctness of code (sandboxed runs, unbiased pass@k), data contamination (n-gram overlap)
  and rater agreement (accuracy, Cohen's kappa, Spearman);
* :mod:`ragline.evaluate.ifeval` — the 25 IFEval verifiable-instruction checkers, strict and
  loose, with prompt- and instruction-level scores;
* :mod:`ragline.evaluate.ranking` — Elo, Bradley–Terry (with bootstrap intervals) and
  TrueSkill from pairwise comparisons.
"""

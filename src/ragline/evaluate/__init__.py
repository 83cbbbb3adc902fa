"""Evaluation: metrics, instruction-following checks and comparative ranking.

* :mod:`ragline.evaluate.metrics` — answer text (exact match, SQuAD EM/F1, BLEU, ROUGE),
  retrieval (nDCG@k, Recall@k, MRR, hit@k with trec_eval conventions), functional
  correctness of code (sandboxed runs, unbiased pass@k), data contamination (n-gram overlap)
  and rater agreement (accuracy, Cohen's kappa, Spearman);
* :mod:`ragline.evaluate.ifeval` — the 25 IFEval verifiable-instruction checkers, strict and
  loose, with prompt- and instruction-level scores;
* :mod:`ragline.evaluate.ranking` — Elo, Bradley–Terry (with bootstrap intervals) and
  TrueSkill from pairwise comparisons;
* :mod:`ragline.evaluate.bfcl` and :mod:`ragline.evaluate.function_calls` — the Berkeley
  Function-Calling Leaderboard's cases (from ``bfcl-eval``'s data files) and an AST matcher
  for function calls with its rules.

The harness behind ``ragline eval`` (docs/evaluation.md):

* :mod:`~ragline.evaluate.spec` — evaluation specs (YAML/TOML/JSON) and datasets;
* :mod:`~ragline.evaluate.runner` — resumable, concurrent runs stored in the eval store;
* :mod:`~ragline.evaluate.scoring` — per-item scorers wiring the metrics above and the judges;
* :mod:`~ragline.evaluate.judge`, :mod:`~ragline.evaluate.judge_stats` — LLM judges
  (pointwise, reference, pairwise in both orders) and their diagnostics;
* :mod:`~ragline.evaluate.compare`, :mod:`~ragline.evaluate.report`,
  :mod:`~ragline.evaluate.svg` — bootstrap intervals, paired comparisons, JSON/HTML reports;
* :mod:`~ragline.evaluate.stability` — ``eval check``: metric stability and correlations;
* :mod:`~ragline.evaluate.synthetic` — ``eval generate`` / ``eval review``.
"""

"""Answer-text metrics: exact match, SQuAD EM and token F1, BLEU (sacrebleu), ROUGE (rouge-score).

Every per-example function takes a prediction and one reference or several (the best match
counts, as in SQuAD); every corpus function returns a typed result whose ``score`` is a
mean in [0, 1] (BLEU: sacrebleu's 0–100 scale, as reported in papers).

SQuAD normalisation (the official v1.1 evaluation script): lowercase, drop ASCII punctuation,
drop the articles *a*, *an*, *the*, collapse whitespace.
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from ragline.errors import ConfigError, MissingDependencyError

References = str | Sequence[str]

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCTUATION = frozenset(string.punctuation)


def _refs(references: References) -> list[str]:
    refs = [references] if isinstance(references, str) else list(references)
    if not refs:
        raise ConfigError("no reference given", hint="pass at least one reference answer")
    return refs


def _check_lengths(predictions: Sequence[str], references: Sequence[References]) -> None:
    if isinstance(predictions, str) or len(predictions) != len(references):
        raise ConfigError(
            "predictions and references differ in length",
            hint="pass one reference (or a list of references) per prediction",
        )


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lowercase, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction: str, references: References, *, strip: bool = True) -> float:
    """1.0 if the prediction equals a reference verbatim (after ``strip()`` by default)."""
    pred = prediction.strip() if strip else prediction
    return float(any(pred == (r.strip() if strip else r) for r in _refs(references)))


def squad_exact_match(prediction: str, references: References) -> float:
    """1.0 if the SQuAD-normalised prediction equals a normalised reference."""
    pred = normalize_answer(prediction)
    return float(any(pred == normalize_answer(r) for r in _refs(references)))


def _f1(prediction_tokens: list[str], reference_tokens: list[str]) -> float:
    if not prediction_tokens or not reference_tokens:
        # SQuAD v2 convention: both empty is a match, one empty is a miss.
        return float(prediction_tokens == reference_tokens)
    common = Counter(prediction_tokens) & Counter(reference_tokens)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision = overlap / len(prediction_tokens)
    recall = overlap / len(reference_tokens)
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, references: References) -> float:
    """Best SQuAD token-overlap F1 of the prediction against the references."""
    pred = normalize_answer(prediction).split()
    return max(_f1(pred, normalize_answer(r).split()) for r in _refs(references))


@dataclass(frozen=True, slots=True)
class AnswerScores:
    """Mean exact match, SQuAD EM and token F1 over a set of predictions (fractions)."""

    exact_match: float
    squad_exact_match: float
    f1: float
    count: int
    per_example_f1: tuple[float, ...] = ()


def answer_scores(predictions: Sequence[str], references: Sequence[References]) -> AnswerScores:
    """Corpus means of :func:`exact_match`, :func:`squad_exact_match` and :func:`token_f1`."""
    _check_lengths(predictions, references)
    n = len(predictions)
    if n == 0:
        return AnswerScores(0.0, 0.0, 0.0, 0)
    em = sum(exact_match(p, r) for p, r in zip(predictions, references, strict=True))
    sem = sum(squad_exact_match(p, r) for p, r in zip(predictions, references, strict=True))
    f1s = tuple(token_f1(p, r) for p, r in zip(predictions, references, strict=True))
    return AnswerScores(em / n, sem / n, sum(f1s) / n, n, f1s)


# --- BLEU -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BleuScore:
    """sacrebleu BLEU (0–100) with its parts and the signature that makes it reproducible."""

    score: float
    precisions: tuple[float, ...]
    brevity_penalty: float
    hypothesis_length: int
    reference_length: int
    signature: str


def _sacrebleu():  # type: ignore[no-untyped-def]
    try:
        from sacrebleu.metrics import BLEU
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "BLEU needs the `sacrebleu` package", hint="pip install sacrebleu"
        ) from exc
    return BLEU


def corpus_bleu(
    hypotheses: Sequence[str],
    references: Sequence[References],
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
    smooth_method: str = "exp",
) -> BleuScore:
    """Corpus BLEU by sacrebleu; each hypothesis may have a different number of references."""
    _check_lengths(hypotheses, references)
    refs = [_refs(r) for r in references]
    width = max((len(r) for r in refs), default=1)
    # sacrebleu wants reference *streams*; a missing reference is None.
    streams = [[r[i] if i < len(r) else None for r in refs] for i in range(width)]
    bleu = _sacrebleu()(tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method)
    result = bleu.corpus_score(list(hypotheses), streams)
    return BleuScore(
        score=float(result.score),
        precisions=tuple(float(p) for p in result.precisions),
        brevity_penalty=float(result.bp),
        hypothesis_length=int(result.sys_len),
        reference_length=int(result.ref_len),
        signature=str(bleu.get_signature()),
    )


def sentence_bleu(
    hypothesis: str,
    references: References,
    *,
    tokenize: str = "13a",
    lowercase: bool = False,
    smooth_method: str = "exp",
) -> float:
    """Sentence-level BLEU (0–100) by sacrebleu, with its default smoothing for sentences."""
    bleu = _sacrebleu()(
        tokenize=tokenize, lowercase=lowercase, smooth_method=smooth_method, effective_order=True
    )
    return float(bleu.sentence_score(hypothesis, _refs(references)).score)


# --- ROUGE ----------------------------------------------------------------------------

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL", "rougeLsum")


@dataclass(frozen=True, slots=True)
class RougeScore:
    """Precision, recall and F-measure of one ROUGE type (fractions)."""

    precision: float
    recall: float
    fmeasure: float


@dataclass(frozen=True, slots=True)
class RougeResult:
    """Mean ROUGE scores per type over a corpus, and the per-example F-measures."""

    scores: dict[str, RougeScore]
    count: int
    per_example: dict[str, tuple[float, ...]] = field(default_factory=dict)


def _scorer(rouge_types: Sequence[str], use_stemmer: bool):  # type: ignore[no-untyped-def]
    unknown = set(rouge_types) - set(ROUGE_TYPES) - {f"rouge{n}" for n in range(3, 10)}
    if unknown or not rouge_types:
        raise ConfigError(
            f"unknown ROUGE type(s) {sorted(unknown)}", hint=f"use {', '.join(ROUGE_TYPES)}"
        )
    try:
        from rouge_score.rouge_scorer import RougeScorer
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "ROUGE needs the `rouge-score` package", hint="pip install rouge-score"
        ) from exc
    return RougeScorer(list(rouge_types), use_stemmer=use_stemmer)


def rouge(
    predictions: Sequence[str],
    references: Sequence[References],
    *,
    rouge_types: Sequence[str] = ("rouge1", "rouge2", "rougeL"),
    use_stemmer: bool = True,
) -> RougeResult:
    """Mean ROUGE by Google's ``rouge-score`` (the reference reimplementation of ROUGE-1.5.5).

    With several references per prediction the best-scoring one counts (``score_multi``).
    ``rougeLsum`` treats newlines as sentence boundaries: put one sentence per line.
    """
    _check_lengths(predictions, references)
    scorer = _scorer(rouge_types, use_stemmer)
    sums = {t: [0.0, 0.0, 0.0] for t in rouge_types}
    per_example: dict[str, list[float]] = {t: [] for t in rouge_types}
    for prediction, refs in zip(predictions, references, strict=True):
        result = scorer.score_multi(_refs(refs), prediction)
        for t in rouge_types:
            s = result[t]
            sums[t][0] += s.precision
            sums[t][1] += s.recall
            sums[t][2] += s.fmeasure
            per_example[t].append(float(s.fmeasure))
    n = len(predictions)
    scores = {t: RougeScore(*(v / n if n else 0.0 for v in values)) for t, values in sums.items()}
    return RougeResult(scores, n, {t: tuple(v) for t, v in per_example.items()})


__all__ = [
    "ROUGE_TYPES",
    "AnswerScores",
    "BleuScore",
    "RougeResult",
    "RougeScore",
    "answer_scores",
    "corpus_bleu",
    "exact_match",
    "normalize_answer",
    "rouge",
    "sentence_bleu",
    "squad_exact_match",
    "token_f1",
]

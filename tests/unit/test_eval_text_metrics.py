"""Answer-text metrics: EM, SQuAD EM/F1, BLEU and ROUGE against their reference libraries."""

from __future__ import annotations

import pytest

from ragline.errors import ConfigError
from ragline.evaluate.metrics import (
    answer_scores,
    corpus_bleu,
    exact_match,
    normalize_answer,
    rouge,
    sentence_bleu,
    squad_exact_match,
    token_f1,
)


def test_normalize_answer() -> None:
    assert normalize_answer("The  Eiffel-Tower, in Paris!") == "eiffeltower in paris"
    assert normalize_answer("An apple a day") == "apple day"


def test_exact_match_variants() -> None:
    assert exact_match(" Paris ", "Paris") == 1.0
    assert exact_match("paris", "Paris") == 0.0
    assert exact_match(" Paris", "Paris", strip=False) == 0.0
    assert squad_exact_match("the paris.", ["London", "Paris"]) == 1.0
    with pytest.raises(ConfigError):
        exact_match("x", [])


def test_token_f1_matches_squad_definition() -> None:
    # pred tokens: [barack, obama], gold: [president, barack, obama] -> P=1, R=2/3
    assert token_f1("Barack Obama", "President Barack Obama") == pytest.approx(0.8)
    assert token_f1("Obama", ["nobody", "the Obama"]) == 1.0
    assert token_f1("cat", "dog") == 0.0
    assert token_f1("", "") == 1.0
    assert token_f1("a", "dog") == 0.0  # normalises to empty


def test_answer_scores_means() -> None:
    scores = answer_scores(["Paris", "the cat"], ["Paris", ["a cat", "dog"]])
    assert scores.exact_match == 0.5
    assert scores.squad_exact_match == 1.0
    assert scores.f1 == 1.0
    assert scores.count == 2
    with pytest.raises(ConfigError):
        answer_scores(["a"], ["a", "b"])


def test_bleu_agrees_with_sacrebleu() -> None:
    import sacrebleu

    hyps = ["the cat sat on the mat", "a quick brown fox jumps"]
    refs = [["the cat is on the mat", "there is a cat on the mat"], ["the quick brown fox jumped"]]
    ours = corpus_bleu(hyps, refs)
    # sacrebleu's own call, with reference streams (None where a hypothesis has fewer refs)
    theirs = sacrebleu.corpus_bleu(hyps, [[r[0] for r in refs], [refs[0][1], None]])
    assert ours.score == pytest.approx(theirs.score)
    assert ours.signature.startswith("nrefs:var")
    assert 0 < ours.brevity_penalty <= 1
    perfect = corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"])
    assert perfect.score == pytest.approx(100.0)
    sent = sentence_bleu("the cat sat on the mat", ["the cat is on the mat"])
    assert sent == pytest.approx(
        sacrebleu.sentence_bleu("the cat sat on the mat", ["the cat is on the mat"]).score
    )


def test_rouge_agrees_with_rouge_score() -> None:
    from rouge_score import rouge_scorer

    preds = ["the cat was found under the bed", "police killed the gunman"]
    refs = ["the cat was under the bed", ["the gunman was shot dead by police", "gunman killed"]]
    result = rouge(preds, refs, rouge_types=("rouge1", "rougeL"))
    scorer = rouge_scorer.RougeScorer(["rouge1", "rougeL"], use_stemmer=True)
    first = scorer.score(refs[0], preds[0])["rouge1"].fmeasure
    second = max(scorer.score(r, preds[1])["rouge1"].fmeasure for r in refs[1])
    assert result.per_example["rouge1"] == pytest.approx((first, second))
    assert result.scores["rouge1"].fmeasure == pytest.approx((first + second) / 2)
    assert result.count == 2
    with pytest.raises(ConfigError):
        rouge(preds, refs, rouge_types=("bleu",))

"""LLM judges with FakeChatModel: tolerant verdict parsing, both-order pairwise, diagnostics."""

from __future__ import annotations

import math

import pytest

from ragline.errors import ModelUnavailableError
from ragline.evaluate.judge import Judge, parse_preference, parse_rating
from ragline.evaluate.judge_stats import (
    comparisons_from_details,
    pair_score,
    pairwise_diagnostics,
    rating_diagnostics,
)
from ragline.evaluate.metrics.agreement import cohen_kappa, spearman
from ragline.prompts import PromptRegistry
from ragline.testing.chat_conformance import FakeChatModel


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"rating": 4, "reason": "fine"}', 4),
        ('```json\n{"rating": 5}\n```', 5),
        ("{'score': '3'", 3),  # single quotes, truncated
        ('{"Rating": 2.0}', 2),
        ("Score: 5/5", 5),
        ("I would give this [[2]].", 2),
        ("Rating: **4**\nbecause it is mostly right", 4),
        ("3 out of 5", 3),
        ("4", 4),
        ('{"rating": 7}', None),
        ("It is good.", None),
        ("", None),
    ],
)
def test_parse_rating(text: str, value: int | None) -> None:
    verdict = parse_rating(text)
    assert verdict.value == value
    assert verdict.parsed is (value is not None)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('{"better": "A", "reason": "x"}', "A"),
        ('{"winner": "Answer B"}', "B"),
        ('{"better": "tie"}', "tie"),
        ("[[B]]", "B"),
        ("[[C]]", "tie"),
        ("Verdict: A", "A"),
        ("Answer B is better because it is correct.", "B"),
        ("Both are equally good, it's a tie.", "tie"),
        ("The better one is a good one.", None),  # the article "a" is not a verdict
        ("I cannot decide.", None),
    ],
)
def test_parse_preference(text: str, value: str | None) -> None:
    assert parse_preference(text).value == value


def _rater(replies):
    fake = FakeChatModel(replies)
    return fake, Judge(
        fake.generate, PromptRegistry().get("judge_pointwise@v1"), temperature=0.0, max_tokens=32
    )


def test_rate_sends_prompt_and_schema() -> None:
    fake, judge = _rater(['{"rating": 4, "reason": "ok"}'])
    verdict = judge.rate("What is 2+2?", "4")
    assert verdict.value == 4 and verdict.reason == "ok" and not verdict.repaired
    messages, params = fake.calls[0]
    assert "What is 2+2?" in messages[-1]["content"]
    assert params.json_schema is not None and "rating" in params.json_schema["properties"]
    assert params.temperature == 0.0 and params.max_tokens == 32
    assert verdict.tokens > 0


def test_unparseable_and_failed_calls_are_recorded_not_raised() -> None:
    _, judge = _rater(["I refuse to grade this."])
    bad = judge.rate("q", "a")
    assert bad.value is None and bad.raw.startswith("I refuse") and bad.error is None
    fake = FakeChatModel(["4"], failures=[ModelUnavailableError("server down")])
    judge = Judge(
        fake.generate,
        PromptRegistry().get("judge_pointwise@v1"),
        temperature=0.0,
        max_tokens=256,
    )
    failed = judge.rate("q", "a")
    assert failed.value is None and "server down" in (failed.error or "")


def _pair_judge(reply):
    fake = FakeChatModel(reply)
    return fake, Judge(
        fake.generate,
        PromptRegistry().get("judge_pairwise@v1"),
        temperature=0.0,
        max_tokens=256,
        constrained=False,
    )


def _prefers(word):
    """A judge that prefers the answer containing ``word``, wherever it is shown."""

    def reply(messages, params):
        text = messages[-1]["content"]
        a = text.split("Answer A:")[1].split("Answer B:")[0]
        return '{"better": "A"}' if word in a else '{"better": "B"}'

    return reply


def test_pairwise_both_orders_consistent() -> None:
    fake, judge = _pair_judge(_prefers("Paris"))
    pv = judge.compare("Capital of France?", ("sys", "Paris."), ("base", "Berlin."))
    assert len(fake.calls) == 2
    assert "Answer A:\nParis." in fake.calls[0][0][-1]["content"]
    assert "Answer A:\nBerlin." in fake.calls[1][0][-1]["content"]
    assert pv.first.value == "A" and pv.second.value == "B"
    assert pv.consistent is True and pv.winner == "left"
    assert fake.calls[0][1].json_schema is None  # constrained=False


def test_position_biased_judge_gives_ties() -> None:
    _, judge = _pair_judge(['{"better": "A"}'])
    pv = judge.compare("q", ("sys", "x"), ("base", "y"))
    assert pv.consistent is False and pv.winner == "tie"
    d = pairwise_diagnostics("pw", [{"pairs": [pv.to_dict()]}])
    assert d.position_consistency == 0.0 and d.first_position_win_rate == 1.0 and d.ties == 1


def test_unparsed_order_leaves_the_pair_unscored() -> None:
    _, judge = _pair_judge(['{"better": "A"}', "no idea"])
    pv = judge.compare("q", ("sys", "x"), ("base", "y"))
    assert pv.winner is None and pv.consistent is None
    assert pair_score([pv.to_dict()], "sys") is None


def _pair(winner, left_len, right_len, repeat=0, first="A", second="B"):
    return {
        "left": "sys",
        "right": "base",
        "repeat": repeat,
        "left_length": left_len,
        "right_length": right_len,
        "first": {"value": first},
        "second": {"value": second},
        "winner": winner,
        "consistent": winner is not None and winner != "tie",
    }


def test_length_bias_and_human_agreement() -> None:
    rows = [
        {"pairs": [_pair("left", 100, 10)], "human": "sys"},
        {"pairs": [_pair("left", 90, 20)], "human": "base"},
        {"pairs": [_pair("right", 5, 50, first="B", second="A")], "human": "B"},
        {"pairs": [_pair("right", 30, 80, first="B", second="A")], "human": "tie"},
    ]
    d = pairwise_diagnostics("pw", rows)
    assert d.pairs == 4 and d.left_wins == 2 and d.right_wins == 2
    assert d.longer_win_rate == 1.0  # the longer answer won every decisive pair
    assert d.length_correlation is not None and d.length_correlation > 0.8
    assert d.position_consistency == 1.0 and d.first_position_win_rate == 0.5
    humans = ["left", "right", "right", "tie"]
    judged = ["left", "left", "right", "right"]
    assert d.agreement is not None and d.agreement.n == 4
    assert d.agreement.accuracy == 0.5
    assert d.agreement.kappa == pytest.approx(
        cohen_kappa(humans, judged, labels=["left", "tie", "right"])
    )
    assert pair_score([_pair("left", 1, 1), _pair("tie", 1, 1)], "sys") == 0.75
    comps = comparisons_from_details(rows)
    assert [c.winner for c in comps] == ["left", "left", "right", "right"]


def test_repeat_flips_are_counted() -> None:
    rows = [
        {"pairs": [_pair("left", 1, 2, 0), _pair("right", 1, 2, 1)]},
        {"pairs": [_pair("left", 1, 2, 0), _pair("left", 1, 2, 1)]},
    ]
    d = pairwise_diagnostics("pw", rows)
    assert d.repeats == 2 and d.repeat_flip_rate == 0.5


def test_rating_diagnostics_variance_and_agreement() -> None:
    def row(values, human):
        return {"verdicts": [{"value": v} for v in values], "human": human}

    rows = [row([5, 5], 5), row([4, 2], 3), row([1, 1], 1), row([None, 3], 4), row([2, 2], None)]
    d = rating_diagnostics("j", rows)
    assert d.items == 5 and d.verdicts == 10 and d.unparsed == 1 and d.repeats == 2
    assert d.distribution == {"1": 2, "2": 3, "3": 1, "4": 1, "5": 2}
    assert d.within_item_std == pytest.approx((0 + 1 + 0 + 0) / 4)
    assert d.between_repeat_std is not None
    # humans 5,3,1,4 vs judge means 5,3,1,3 (rounded)
    assert d.agreement is not None and d.agreement.n == 4
    assert d.agreement.accuracy == 0.75
    assert d.agreement.kappa == pytest.approx(
        cohen_kappa([5, 3, 1, 4], [5, 3, 1, 3], weights="quadratic", labels=[1, 2, 3, 4, 5])
    )
    assert d.agreement.spearman == pytest.approx(spearman([5, 3, 1, 4], [5, 3, 1, 3]).statistic)
    empty = rating_diagnostics("j", [])
    assert empty.mean is None and empty.agreement is None and empty.unparsed_rate == 0.0
    assert not math.isnan(d.unparsed_rate)

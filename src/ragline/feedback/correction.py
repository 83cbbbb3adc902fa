"""Detecting a correction in the user's next turn ("no, I meant…", "that's wrong").

A correction judges the previous answer: it is negative implicit feedback on that answer's
trace. The detector is a small set of weighted cues, English only, no model: each cue that
matches adds its weight, a few known false friends ("what's wrong with…", "no problem",
"I mean it") subtract, and a score of at least 1 is a correction. A bare "no" that answers a
question the assistant asked is not a correction.

``data/corrections.jsonl`` holds the labelled turns it is measured on
(:func:`evaluate_detector` gives precision and recall).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

_QUOTES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"', "—": " - ", "–": " - "})

# (name, weight, pattern) — patterns run on the lower-cased, quote-normalised turn.
_CUES: list[tuple[str, float, re.Pattern[str]]] = [
    # "no, …" / "nope" / "nah" opening the turn (not "no problem", "no thanks", "no way!")
    (
        "leading_no",
        0.8,
        re.compile(
            r"^(?:\W*(?:hmm+|err+|um+|what\?|sorry)\W+)?(?:no+|nope|nah)\b"
            r"(?!\s+(?:problem|worries|thanks|thank|way|need|rush|idea|doubt)\b)"
        ),
    ),
    (
        "i_meant",
        1.0,
        re.compile(
            r"(?:^|[,.;:!?-]\s*|\b(?:no|sorry|oops|actually)\W+)i\s+(?:meant|mean)\b(?!\s+it\b)"
        ),
    ),
    (
        "is_wrong",
        1.0,
        re.compile(
            r"\b(?:that|this|it|which|your answer|the answer|that answer|you)(?:'s|'re| is| are|"
            r" was| were)?\s+(?:still\s+|just\s+|completely\s+|totally\s+)?"
            r"(?:wrong|incorrect|inaccurate|false|outdated|mistaken)\b"
        ),
    ),
    (
        "not_right",
        1.0,
        re.compile(
            r"\b(?:that|this|it)(?:'s| is|'s still| is still)?\s*(?:not|n't|isn't)\s+"
            r"(?:right|correct|true|accurate|it|quite right|what)\b"
        ),
    ),
    ("isnt_right", 1.0, re.compile(r"\b(?:isn't|is not|wasn't)\s+(?:right|correct|true|it)\b")),
    (
        "not_what_i",
        1.2,
        re.compile(
            r"\bnot\s+(?:what|the \w+ what|the answer)\s*(?:i|i'm|i was)\s*"
            r"(?:asked|meant|wanted|needed|was asking|was looking|looking|said)"
        ),
    ),
    (
        "not_what_i2",
        1.2,
        re.compile(r"\bnot\s+(?:what|the answer)\s+(?:i\s+)?(?:was\s+)?(?:asking|looking|after)"),
    ),
    (
        "you_misread",
        1.2,
        re.compile(
            r"\byou(?:'ve|'re| have| are)?\s+(?:\w+\s+)?(?:misunderstood|misread|misunderstanding|"
            r"got (?:it|that|this) wrong|confus\w+|mixed up|mix(?:ed|ing) up|missed the point|"
            r"answered a different|are wrong|'re wrong)"
        ),
    ),
    (
        "wrong_thing",
        1.0,
        re.compile(
            r"\bwrong\s+(?:answer|document|doc|file|section|year|number|person|product|version|"
            r"one|page|link|office|policy|country|date|city|model|question)\b"
        ),
    ),
    ("wrong_leading", 1.0, re.compile(r"^\W*(?:wrong|incorrect|false)\b")),
    (
        "i_said_asked",
        0.6,
        re.compile(
            r"(?:^|[,.;:!?-]\s*)(?:i\s+(?:said|asked|was asking|was talking|am asking|'m asking)|"
            r"the question was|my question was)\b"
        ),
    ),
    ("didnt_ask", 1.0, re.compile(r"\bi\s+(?:didn't|did not)\s+(?:ask|want|mean|say)\b")),
    (
        "x_not_y",
        0.5,
        re.compile(r"\b[\w.'-]+,?\s+not\s+(?:the\s+)?[\w.'-]+(?:\s+[\w.'-]+){0,2}\s*[.!]?\s*$"),
    ),
    ("not_x_dash", 0.4, re.compile(r"^not\s+[\w\s'-]{1,30}\s-\s")),
    (
        "doesnt_answer",
        1.0,
        re.compile(r"\b(?:doesn't|does not|didn't|did not)\s+(?:answer|address)\b"),
    ),
    (
        "correction",
        1.0,
        re.compile(r"^(?:correction|to correct you)\b|\bthe (?:correct|right) answer is\b"),
    ),
    ("should_be", 0.7, re.compile(r"\b(?:it|that|this|the \w+)\s+should\s+be\b")),
    (
        "actually_claim",
        0.7,
        re.compile(
            r"\b(?:it's|it is|that's|that is|they're|there are|it was)\s+actually\b|"
            r"^actually,?\s+(?:it|that|i was|i meant|the|you)\b"
        ),
    ),
    ("other_one", 0.6, re.compile(r"\bthe other (?:one|way round|way around)\b")),
    ("are_you_sure", 0.5, re.compile(r"\bare you sure\b")),
    ("i_think_claim", 0.5, re.compile(r"\bi (?:think|believe|thought)\b(?!.*\?$)")),
    (
        "contradicts",
        1.0,
        re.compile(r"\b(?:contradicts|that's not what the|not what the \w+ says)\b"),
    ),
    (
        "different_thing",
        0.7,
        re.compile(r"\b(?:that's|that is|this is)\s+(?:a different|another|the old|for)\b"),
    ),
    ("try_again", 0.6, re.compile(r"\b(?:try again|re-?read|look at .* again|read .* again)\b")),
    ("not_quite", 1.0, re.compile(r"^\W*not\s+(?:quite|really|helpful|exactly)\b")),
    ("not_how", 1.0, re.compile(r"\bthat's not how\b|\bthat is not how\b")),
    ("hold_on", 0.4, re.compile(r"^\W*(?:hold on|wait|hang on)\b")),
]

# Known false friends: phrases with a cue word that are not corrections.
_FALSE_FRIENDS: list[tuple[str, float, re.Pattern[str]]] = [
    (
        "whats_wrong_with",
        -1.5,
        re.compile(
            r"\b(?:what's|what is|what was|anything|nothing|something)\s+wrong\b|"
            r"\bwrong\s+(?:way|with)\b|\bis it (?:wrong|correct|true)\b|"
            r"\bif i (?:enter|use|pick|choose|send|type)\b"
        ),
    ),
    (
        "question_about_wrong",
        -1.0,
        re.compile(
            r"^(?:how|what|why|where|when|which|who|is|can|could|do|does)\b.*\bwrong\b.*\?$"
        ),
    ),
    (
        "affirmation",
        -1.5,
        re.compile(
            r"\b(?:that's|that is|you're|yes,? that's)\s+(?:right|correct|exactly)\b(?!\s*\?)"
        ),
    ),
    ("i_mean_it", -1.0, re.compile(r"\bi mean it\b")),
]


@dataclass(frozen=True, slots=True)
class CorrectionVerdict:
    """Whether a turn corrects the previous answer, its score and the cues that fired."""

    is_correction: bool
    score: float
    cues: tuple[str, ...]


def _normalise(text: str) -> str:
    return " ".join(text.translate(_QUOTES).lower().split())


def detect_correction(
    text: str, previous_answer: str | None = None, *, threshold: float = 1.0
) -> CorrectionVerdict:
    """Score a user turn as a correction of ``previous_answer``."""
    t = _normalise(text)
    if not t:
        return CorrectionVerdict(False, 0.0, ())
    score, cues = 0.0, []
    for name, weight, pattern in (*_CUES, *_FALSE_FRIENDS):
        if pattern.search(t):
            score += weight
            cues.append(name)
    # "no" alone answers the assistant's own question ("Anything else?" – "No, thanks").
    asked = bool(previous_answer and previous_answer.rstrip().endswith("?"))
    if asked and "leading_no" in cues:
        score -= 0.8
        cues.append("answers_question")
    # A bare leading "no" followed by a fresh statement of fact is still a correction.
    if "leading_no" in cues and not asked and len(cues) == 1 and len(t.split()) >= 3:
        score += 0.2
    return CorrectionVerdict(score >= threshold, round(score, 3), tuple(cues))


@dataclass(frozen=True, slots=True)
class DetectorQuality:
    precision: float
    recall: float
    f1: float
    support: int
    false_positives: tuple[str, ...]
    false_negatives: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}


def load_labelled_turns() -> list[dict[str, Any]]:
    """The packaged test set: ``{"previous", "text", "label"}`` per line."""
    data = resources.files("ragline.feedback").joinpath("data/corrections.jsonl")
    return [json.loads(line) for line in data.read_text("utf-8").splitlines() if line.strip()]


def evaluate_detector(turns: list[dict[str, Any]] | None = None) -> DetectorQuality:
    """Precision and recall of :func:`detect_correction` on labelled turns."""
    turns = load_labelled_turns() if turns is None else turns
    tp = fp = fn = 0
    fps, fns = [], []
    for turn in turns:
        predicted = detect_correction(turn["text"], turn.get("previous")).is_correction
        if predicted and turn["label"]:
            tp += 1
        elif predicted:
            fp += 1
            fps.append(turn["text"])
        elif turn["label"]:
            fn += 1
            fns.append(turn["text"])
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DetectorQuality(precision, recall, f1, len(turns), tuple(fps), tuple(fns))


__all__ = [
    "CorrectionVerdict",
    "DetectorQuality",
    "detect_correction",
    "evaluate_detector",
    "load_labelled_turns",
]

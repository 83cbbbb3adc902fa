"""Which remembered facts answer a question: a small logistic model over cheap features.

The cosine of question and fact alone is a weak judge of that on natural phrasings: "What's
my trade?" and "I work as an electrician" score 0.23, under any threshold that keeps
off-topic questions from recalling facts, although the fact is the user's best match. The
model reads the cosine *with its rank among the user's facts*, and a few signals of what
the question asks for against what the fact says:

=================  ===========================================================================
feature            meaning
=================  ===========================================================================
cosine             MiniLM cosine of question and fact
cosine_gap         cosine minus the best cosine among the user's facts
rank_1..rank_3     the fact is the user's best, second, third by cosine
key_named          the question names the fact's key ("where do I *live*" -> ``location``)
best_named         ... and of the facts whose key it names, this one is the most alike
note               the fact is a note (no rule read a key)
shared_term        the question and the fact's statement share a content word (stemmed)
who_name           a who / name question, and the statement holds a capitalised name
number             a how-old / how-many / code / number question, and the statement a digit
where_place        a where question, and the statement a place ("in Lyon", "from Kumasi")
key_cosine         cosine of question and the fact's key (0 for a note)
own_name_other     "my name" asked, and the statement is about someone of the user's
                   ("my husband's name is Sam")
own_name_key       "my name" asked, and the fact is the ``name`` key
asks_who           the question is a who / name question
asks_where         the question is a where question
asks_my            the question says "my", "mine", "our" or "am I"
question_words     the question's length in words, up to 20 (questions about the user are
                   short: "Where do I live?"; a task is longer: "What gauge of wire do I
                   need for a 32 amp circuit?")
=================  ===========================================================================

``benchmarks/train_memory_recall.py`` fits it on the annotated sessions of
``benchmarks/data/memory_sessions*.json`` named in the weights file (a fact is a positive
when the turn it came from set the slot the question asks about; the current or an older
value: superseded facts are never recalled, and :func:`ragline.memory.longterm.choose` keeps
the later of two alike facts), and picks the probability threshold and the recency settings
on leave-one-split-out scores. The weights (``recall_weights.json``, 1 kB) ship in the
package; the script reproduces them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ragline.errors import ConfigError
from ragline.memory.facts import RELATIONS
from ragline.store.memory_base import MemoryFact

FEATURES = (
    "cosine",
    "cosine_gap",
    "rank_1",
    "rank_2",
    "rank_3",
    "key_named",
    "best_named",
    "note",
    "shared_term",
    "who_name",
    "number",
    "where_place",
    "key_cosine",
    "own_name_other",
    "own_name_key",
    "asks_who",
    "asks_where",
    "asks_my",
    "question_words",
)
WEIGHTS = Path(__file__).with_name("recall_weights.json")

_ASKS_OWN_NAME = re.compile(r"\bmy (?:full )?name\b|\bwho am i\b|\bwhat am i called\b", re.I)
_ASKS_WHO = re.compile(r"^\s*who\b|\bname\b|\bcalled\b", re.I)
_ASKS_WHERE = re.compile(
    r"^\s*where\b|\bwhich (?:city|town|country|neighbourhood|area|place)\b", re.I
)
_ASKS_NUMBER = re.compile(
    r"\bhow (?:old|many|much|long)\b|\bcode\b|\bnumber\b|\bage\b|\bwhat time\b", re.I
)
_ASKS_MY = re.compile(r"\b(?:my|mine|our|am i)\b", re.I)
_DIGIT = re.compile(r"\d")
_PLACE = re.compile(r"\b(?:in|at|from|to|near)\s+[A-Z\u00c0-\u00de]")
# a capitalised word not opening a sentence, or a sentence opening with two ("Søren Dahl, …");
# never "I", "I'm", "I've"
_NAME = re.compile(
    r"(?<=[^.!?\s])\s(?!I\b|I')[A-Z\u00c0-\u00de][\w'-]+"
    r"|^(?!I\b|I')[A-Z\u00c0-\u00de][\w'-]+\s+(?!I\b|I')[A-Z\u00c0-\u00de][\w'-]+"
)
_SOMEONE_ELSES = re.compile(rf"\b(?:my|our)\s+(?:\w+\s+)?(?:{RELATIONS})\b", re.I)


def key_text(key: str) -> str:
    """What of a key is embedded for ``key_cosine``: its last part ("preference:chess" ->
    "chess", "favorite flower" as it is)."""
    return key.rpartition(":")[2].replace("_", " ")


def features(
    question: str,
    facts: Sequence[MemoryFact],
    cosines: np.ndarray,
    *,
    key_named: Sequence[bool],
    key_cosines: Sequence[float],
    terms: Callable[[str], set[str]],
) -> np.ndarray:
    """One row of :data:`FEATURES` per fact (``cosines``: question x fact; ``key_cosines``:
    question x the fact's key, 0 for a note; ``terms``: the analyzer's stemmed terms)."""
    n = len(facts)
    if n == 0:
        return np.zeros((0, len(FEATURES)))
    order = np.argsort(-cosines, kind="stable")
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    best = float(cosines.max())
    named = [i for i in range(n) if key_named[i]]
    best_named = max(named, key=lambda i: cosines[i]) if named else -1
    asked = terms(question)
    own_name = _ASKS_OWN_NAME.search(question) is not None
    who = _ASKS_WHO.search(question) is not None
    where = _ASKS_WHERE.search(question) is not None
    number = _ASKS_NUMBER.search(question) is not None
    my = _ASKS_MY.search(question) is not None
    length = min(len(question.split()), 20)
    rows = np.zeros((n, len(FEATURES)))
    for i, fact in enumerate(facts):
        said = fact.statement
        rows[i] = (
            cosines[i],
            cosines[i] - best,
            rank[i] == 0,
            rank[i] == 1,
            rank[i] == 2,
            key_named[i],
            i == best_named,
            fact.key.startswith("note:"),
            bool(asked & terms(said)),
            who and _NAME.search(said) is not None,
            number and _DIGIT.search(said) is not None,
            where and _PLACE.search(said) is not None,
            key_cosines[i],
            own_name and _SOMEONE_ELSES.search(said) is not None,
            own_name and fact.key == "name",
            who,
            where,
            my,
            length,
        )
    return rows


@dataclass(frozen=True, slots=True)
class RecallModel:
    """Standardised logistic regression over :data:`FEATURES`; ``threshold``: the
    probability from which a fact is recalled (``memory.min_probability`` overrides it)."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float
    threshold: float

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        z = ((rows - self.mean) / self.scale) @ self.weights + self.bias
        return 1.0 / (1.0 + np.exp(-z))

    def to_dict(self) -> dict[str, object]:
        return {
            "features": list(FEATURES),
            "mean": [round(float(x), 8) for x in self.mean],
            "scale": [round(float(x), 8) for x in self.scale],
            "weights": [round(float(x), 8) for x in self.weights],
            "bias": round(float(self.bias), 8),
            "threshold": self.threshold,
        }

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RecallModel:
        if data.get("features") != list(FEATURES):
            raise ConfigError(
                "the memory recall weights were trained on other features than this "
                "version computes: run benchmarks/train_memory_recall.py to refit them"
            )
        return cls(
            mean=np.asarray(data["mean"], dtype=float),
            scale=np.asarray(data["scale"], dtype=float),
            weights=np.asarray(data["weights"], dtype=float),
            bias=float(data["bias"]),  # type: ignore[arg-type]
            threshold=float(data["threshold"]),  # type: ignore[arg-type]
        )


@lru_cache(maxsize=1)
def shipped() -> RecallModel:
    """The model in ``recall_weights.json`` (read once)."""
    return RecallModel.from_dict(json.loads(WEIGHTS.read_text(encoding="utf-8")))


__all__ = ["FEATURES", "WEIGHTS", "RecallModel", "features", "key_text", "shipped"]

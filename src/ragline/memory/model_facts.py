"""Facts the rules cannot read, read by the chat model (``memory.extractor = "model"``).

:class:`ModelFactExtractor` runs the rule extractor first; each first-person clause no rule
reads goes to the chat model through the gateway, with grammar-constrained JSON
(:mod:`ragline.models.structured`, the ``memory_fact`` prompt file): is it about the user, and
if so which key and value. The user's current keys are in the prompt, so "I traded the Peugeot
for a Dacia" can get the key ``car`` and supersede the old car; a key the model writes is
mapped onto a current key with the same words. A clause the model says nothing about (or a
model error) stays a note when notes are on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from ragline.errors import ModelError
from ragline.memory.facts import (
    FactCandidate,
    RuleExtractor,
    clauses,
    is_statement_about_user,
    normalise_key,
    statement_key,
)
from ragline.models.chat import SamplingParams
from ragline.models.gateway import Gateway
from ragline.prompts import Prompt


class ModelFact(BaseModel):
    """What the model answers for one clause."""

    about_user: bool = Field(description="the clause states a fact or preference of the user")
    key: str = Field("", max_length=60, description="what it is about, e.g. car, location")
    value: str = Field("", max_length=120, description="the user's current value")


def _words(key: str) -> set[str]:
    return set(re.findall(r"[a-z]+", key.casefold().split(":", 1)[-1]))


def match_key(key: str, known: Sequence[str]) -> str:
    """``key`` as one of the ``known`` keys when it names the same thing (same normalised
    key, or the same words), else normalised."""
    norm = normalise_key(key)
    for k in known:
        if k == norm or k.split(":", 1)[-1] == norm:
            return k
    words = _words(norm)
    for k in known:
        if not k.startswith("note:") and words and words == _words(k):
            return k
    return norm


class ModelFactExtractor:
    """Rules first, then the chat model for the clauses they cannot read (module doc)."""

    def __init__(
        self,
        gateway: Gateway,
        template: Prompt,
        *,
        model: str | None = None,
        notes: bool = True,
        max_tokens: int = 80,
    ) -> None:
        self.gateway = gateway
        self.template = template
        self.model = model
        self.notes = notes
        self.rules = RuleExtractor(notes=False)
        self.params: SamplingParams = gateway.defaults.with_(temperature=0.0, max_tokens=max_tokens)
        #: Clauses sent to the model, and those it gave a fact for (for the benchmark).
        self.asked = 0
        self.answered = 0

    def extract(self, text: str, *, keys: Sequence[str] = ()) -> list[FactCandidate]:
        out: list[FactCandidate] = []
        seen: set[str] = set()
        for clause in clauses(text):
            facts = self.rules.read_all(clause)
            if not facts and is_statement_about_user(clause) and len(clause.split()) >= 3:
                fact = self._ask(clause, [*keys, *seen])
                if fact is None and self.notes and len(clause.split()) >= 4:
                    fact = FactCandidate(statement_key(clause), clause, clause, "note", clause)
                facts = [fact] if fact is not None else []
            for fact in facts:
                if fact.key not in seen:
                    seen.add(fact.key)
                    out.append(fact)
        return out

    def _ask(self, clause: str, keys: Sequence[str]) -> FactCandidate | None:
        named = [k for k in dict.fromkeys(keys) if not k.startswith("note:")]
        messages = self.template.render(keys=", ".join(named) or "(none yet)", clause=clause)
        self.asked += 1
        try:
            got = self.gateway.generate_structured(
                messages, ModelFact, self.params, model=self.model, max_reasks=1
            ).value
        except ModelError:
            return None
        value = " ".join(got.value.split()).strip(" .")
        if not got.about_user or not got.key.strip() or not value:
            return None
        if value.casefold() not in clause.casefold() and not (
            set(re.findall(r"\w+", value.casefold())) & set(re.findall(r"\w+", clause.casefold()))
        ):
            return None  # a value the user did not say: the model made it up
        self.answered += 1
        key = match_key(got.key, named)
        return FactCandidate(key, value, clause, "fact", clause)


__all__ = ["ModelFact", "ModelFactExtractor", "match_key"]

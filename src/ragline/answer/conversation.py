"""Conversations: the history of a chat, follow-up rewriting, and trimming to the context.

**Follow-ups.** A question that leans on the conversation ("and what about Mars?", "how tall
is it?") is rewritten into a standalone query before retrieval. The chat model does it with
the ``rewrite`` prompt file; its reply is used only if it is one plausible question that
keeps the follow-up's own words. Otherwise a deterministic heuristic appends the key terms of
the previous query that the follow-up lacks ("and what about Mars? hot Venus"), which is
enough for hybrid search. A question with no sign of being a follow-up is left alone.

**Trimming.** The prompt must fit the model's context window (``gateway.n_ctx``) with room
for the answer (``answer.max_tokens``). Tokens are counted with the chat model's own
tokenizer when it has one (llama.cpp), else estimated at four characters a token. The
strategy, in priority order:

1. the system prompt, the numbered passages and the current question are always kept;
   if even they do not fit, the last (least relevant) passages are dropped first;
2. what memory adds to the system message (the conversation's running summary and the
   facts recalled about the user, :mod:`ragline.memory`), when it fits;
3. earlier turns (question and checked answer, without citation markers) are added newest
   first, at most ``answer.history_turns`` of them (the window of ``memory.window`` decides
   which), while they fit;
4. so the oldest turns are the first to go.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from ragline.answer.text import is_decline, numbers_in, strip_citations
from ragline.config import AnswerSettings
from ragline.errors import ModelError
from ragline.memory.window import WindowState
from ragline.models.chat import ChatModel, normalize_messages
from ragline.prompts import Prompt
from ragline.retrieve.analyzer import ENGLISH_STOPWORDS, Analyzer
from ragline.types import Answer

RewriteMethod = Literal["none", "model", "heuristic", "memory"]
_FOLLOW_UP = re.compile(
    r"^\s*(and|but|also|so|then|what about|how about|what else|why|how come|same)\b|"
    r"\b(it|its|it's|they|them|their|theirs|this|that|these|those|he|him|his|she|her|there|"
    r"one|ones|former|latter)\b",
    re.I,
)
_WH = frozenset(
    "what which who whom whose when where why how does do did is are was were".split()  # noqa: SIM905
)
_PREFIX = re.compile(r"^\s*(rewritten|standalone)?\s*(question|query)?\s*[:\-]\s*", re.I)
#: Fewer content words than this and a question is treated as a follow-up.
MIN_STANDALONE_TERMS = 2
# Safety margin for the chat template's own tokens and the answer's first token.
_MARGIN_TOKENS = 16


@dataclass(frozen=True, slots=True)
class Turn:
    """One exchange: what was asked, what was searched, what was answered."""

    question: str
    query: str
    answer: str


@dataclass(slots=True)
class Conversation:
    """The history of a chat; :meth:`add` records a turn."""

    turns: list[Turn] = field(default_factory=list)
    #: Keys what lives as long as the conversation (the guards' redaction placeholders).
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    #: The short-term window's state: the running summary and what it covers
    #: (``memory.window``, :mod:`ragline.memory.window`).
    window: WindowState = field(default_factory=WindowState)

    def add(self, answer: Answer) -> None:
        text = "" if answer.declined else strip_citations(answer.text).text
        self.turns.append(Turn(answer.question, answer.query or answer.question, text))

    def reset(self) -> None:
        self.turns.clear()
        self.window.reset()

    def __len__(self) -> int:
        return len(self.turns)


@dataclass(frozen=True, slots=True)
class Rewrite:
    """How a question became the search query (``method`` ``none``: used as is)."""

    question: str
    query: str
    method: RewriteMethod
    model_output: str | None = None


# --------------------------------------------------------------------------- rewriting


class QueryRewriter:
    """Rewrites follow-ups into standalone queries: the model first, the heuristic as backup.

    ``generate`` is a function of chat messages returning the model's text (the answer flow
    passes the gateway with the rewrite's sampling parameters).
    """

    def __init__(
        self,
        template: Prompt,
        analyzer: Analyzer,
        generate: Callable[[list[dict[str, str]]], str] | None,
    ) -> None:
        self.template = template
        self.analyzer = analyzer
        self.generate = generate

    def is_follow_up(self, question: str, conversation: Conversation) -> bool:
        if not conversation.turns:
            return False
        if _FOLLOW_UP.search(question):
            return True
        return len(set(self.analyzer.terms(question)) - _WH) < MIN_STANDALONE_TERMS

    def rewrite(self, question: str, conversation: Conversation) -> Rewrite:
        if not self.is_follow_up(question, conversation):
            return Rewrite(question, question, "none")
        output: str | None = None
        if self.generate is not None:
            previous = conversation.turns[-1]
            messages = self.template.render(history=previous.query, question=question.strip())
            try:
                output = self.generate(messages)
            except ModelError:
                output = None
            candidate = self._clean(output or "")
            if candidate and self.usable(candidate, question, conversation):
                return Rewrite(question, candidate, "model", output)
        return Rewrite(question, self.heuristic(question, conversation), "heuristic", output)

    @staticmethod
    def _clean(output: str) -> str:
        line = next((ln for ln in output.strip().splitlines() if ln.strip()), "")
        line = _PREFIX.sub("", line).strip().strip("\"'“”` ")
        return line

    def usable(self, candidate: str, question: str, conversation: Conversation) -> bool:
        """A rewrite is used only if it is a plausible standalone question.

        It must be a short question (not an answer: SmolLM2 often answers instead), not a
        refusal, bring no number of its own, keep every content word of the follow-up, add
        at least one word from the conversation, and not just repeat the previous query.
        """
        words = candidate.split()
        if not 2 <= len(words) <= 30 or is_decline(candidate) or "[" in candidate:
            return False
        if not candidate.endswith("?"):
            return False
        previous = conversation.turns[-1].query
        if not numbers_in(candidate) <= numbers_in(question) | numbers_in(previous):
            return False
        own = set(self.analyzer.terms(question)) - _WH
        got = set(self.analyzer.terms(candidate))
        if not own <= got:
            return False
        context = set(self.analyzer.terms(previous)) - own
        if not got & context:
            return False
        return got != set(self.analyzer.terms(previous))

    def heuristic(self, question: str, conversation: Conversation) -> str:
        """The follow-up plus the previous query's key words it does not already contain."""
        previous = conversation.turns[-1].query
        have = set(self.analyzer.terms(question))
        extra: list[str] = []
        for word in re.findall(r"[\w'-]+", previous):
            low = word.lower()
            if low in ENGLISH_STOPWORDS or low in _WH or len(low) < 2:
                continue
            stems = set(self.analyzer.terms(word))
            if stems and not stems <= have:
                extra.append(word)
                have |= stems
        return " ".join([question.strip(), *extra])


# --------------------------------------------------------------------------- trimming


def token_counter(model: ChatModel | None) -> Callable[[list[dict[str, str]]], int]:
    """Counts prompt tokens with ``model``'s tokenizer, or estimates (4 characters a token)."""
    exact = getattr(model, "count_chat_tokens", None)
    if callable(exact):
        return lambda messages: int(exact(messages))
    return lambda messages: sum(len(m["content"]) // 4 + 4 for m in messages) + 2


@dataclass(frozen=True, slots=True)
class PromptPlan:
    """The messages sent, and what trimming kept."""

    messages: list[dict[str, str]]
    passages_used: int
    turns_used: int
    prompt_tokens: int


def build_messages(
    template: Prompt,
    *,
    question: str,
    passage_lines: Sequence[str],
    history: Sequence[Turn],
    settings: AnswerSettings,
    n_ctx: int,
    max_tokens: int,
    count: Callable[[list[dict[str, str]]], int],
    values: Mapping[str, str] | None = None,
    history_turns: int | None = None,
    memory: Sequence[str] = (),
) -> PromptPlan:
    """The answer prompt trimmed to the context window (see the module docstring).
    ``values``: the template's other slots (``spotlight``: ``ragline.guard.spotlight``);
    ``history_turns``: the most earlier turns kept (None: ``answer.history_turns``);
    ``memory``: paragraphs added to the system message (the conversation's summary, the
    facts recalled about the user: ``ragline.memory``)."""
    budget = n_ctx - max_tokens - _MARGIN_TOKENS
    lines = list(passage_lines)
    # a prompt's {{spotlight}} slot (ragline.guard.spotlight) is empty unless a value is given
    extra = {"spotlight": ""} if "spotlight" in template.variables else {}
    extra.update(values or {})

    def render(k: int) -> list[dict[str, str]]:
        return template.render(passages="\n".join(lines[:k]), question=question, **extra)

    keep = len(lines)
    base = render(keep)
    used = count(base)
    while used > budget and keep > 1:
        keep -= 1
        base = render(keep)
        used = count(base)
    system = [m for m in base if m["role"] == "system"]
    current = [m for m in base if m["role"] != "system"]
    if memory:
        system = _with_memory(system, memory)
        tokens = count(normalize_messages([*system, *current]))
        if tokens <= budget:
            used = tokens
        else:  # no room: the passages and the question come first
            system = [m for m in base if m["role"] == "system"]
    turns: list[dict[str, str]] = []
    kept_turns = 0
    most = settings.history_turns if history_turns is None else history_turns
    recent = list(history)[-most:] if most else []
    for turn in reversed(recent):
        if not turn.answer:
            continue  # a declined turn adds nothing the model could build on
        pair = [
            {"role": "user", "content": turn.question},
            {"role": "assistant", "content": turn.answer},
        ]
        trial = normalize_messages([*system, *pair, *turns, *current])
        tokens = count(trial)
        if tokens > budget:
            break
        turns = pair + turns
        used = tokens
        kept_turns += 1
    return PromptPlan([*system, *turns, *current], keep, kept_turns, used)


def _with_memory(system: list[dict[str, str]], memory: Sequence[str]) -> list[dict[str, str]]:
    extra = "\n\n".join(p.strip() for p in memory if p.strip())
    if not system:
        return [{"role": "system", "content": extra}]
    first = system[0]
    return [{**first, "content": f"{first['content']}\n\n{extra}"}, *system[1:]]


__all__ = [
    "Conversation",
    "PromptPlan",
    "QueryRewriter",
    "Rewrite",
    "RewriteMethod",
    "Turn",
    "build_messages",
    "token_counter",
]

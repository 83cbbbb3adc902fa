"""Long-term memory per user: remember facts from user turns, recall them for a question,
replace them when contradicted, forget them on request.

:class:`LongTermMemory` ties an extractor (:mod:`ragline.memory.facts`), the embedder and a
:class:`~ragline.store.memory_base.MemoryStore` together:

- :meth:`~LongTermMemory.remember` reads the facts of a user turn and stores each with the
  turn it came from. The answer flow passes the question as the input guards left it: a
  value the PII guard redacted (``<LOCATION_1>``) is not remembered. A new value for a key
  the user has supersedes the old one (the store does it atomically); a statement in other
  words is matched to what it replaces by :meth:`~LongTermMemory._resolve`: a statement
  naming what it replaces ("I traded *the Peugeot* for a Dacia", "matcha instead of green
  tea": :func:`~ragline.memory.facts.change_of`) supersedes the facts whose value it names
  and, unread by the rules, takes their key; a note naming a key with a word of change ("I
  changed employer: …") becomes that key; a note and a fact most alike (cosine >=
  ``memory.note_supersede``) replace one another, newest wins; a ``preference:`` fact
  supersedes one about the same thing, a ``prefers:`` fact a current choice whose object is
  alike (object cosine >= :data:`PREFER_SUPERSEDE`) or compared against, and a choice turned
  round ("window seats have won me over") the choice. The facts of one turn never
  supersede each other.
- :meth:`~LongTermMemory.recall` scores the user's current facts for a question: by default
  the probability from :mod:`ragline.memory.recall_model` (the cosine with its rank among
  the user's facts, the key named, what the question asks for against what the fact says),
  from its trained threshold or ``memory.min_probability``; with ``memory.recall =
  "similarity"`` the cosine of question and fact plus ``memory.key_bonus`` when the question
  names the fact's key ("where do I *live*" -> ``location``), from ``memory.min_score``. Best
  first, at most ``memory.max_facts``; of two alike facts only the later
  (``memory.recency_supersede``). Superseded facts are never recalled.
- :meth:`~LongTermMemory.forget_request` answers "forget that I live in Lyon" / "forget my
  phone number" / "forget everything about me"; :meth:`~LongTermMemory.forget` a fact id
  (a current fact goes with its history: forgetting where one lives must not bring back
  the previous city).

Every call names the user, and the store filters every query by it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragline.config import MemorySettings
from ragline.memory import recall_model
from ragline.memory.facts import (
    CHOICE_CUES,
    FAN_CUES,
    PREFERENCE_CUES,
    Change,
    FactCandidate,
    FactExtractor,
    RuleExtractor,
    asked_keys,
    change_of,
    clauses,
    forget_request,
    is_statement_about_user,
    key_words,
    statement_key,
)
from ragline.models.embedder import Embedder
from ragline.retrieve.analyzer import Analyzer
from ragline.store.memory_base import (
    FactSource,
    MemoryFact,
    MemoryStore,
    Remembered,
    check_user,
    fact_not_found,
)

#: A ``prefers:`` fact supersedes a current one whose object is at least this alike (MiniLM
#: cosine of the objects: tea/coffee 0.62, window/aisle seats 0.64, tea/email 0.21).
PREFER_SUPERSEDE = 0.45
#: "forget …" naming no key matches the single fact at least this alike.
FORGET_SIMILARITY = 0.5
#: A guard's redaction placeholder (``<LOCATION_1>``): a value made of one is not a fact.
_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")


#: Words that name nothing of the user's own ("the", "my", "job" of "my job at Acme" is kept).
_FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "my",
        "our",
        "your",
        "his",
        "her",
        "their",
        "its",
        "of",
        "to",
        "in",
        "on",
        "at",
        "for",
        "with",
        "from",
        "and",
        "or",
        "but",
        "i",
        "me",
        "we",
        "us",
        "it",
        "this",
        "that",
        "these",
        "those",
        "some",
        "any",
        "old",
        "new",
        "now",
        "then",
        "there",
        "here",
    ]
)
#: Words saying a value changed: with a key's name, a note is that key's new value.
_CHANGE_WORDS = re.compile(
    r"\b(?:new|changed|change|moved|switched|updated|different|now|no\s+longer|anymore|since|"
    r"lately|these\s+days|nowadays)\b",
    re.I,
)


def _content(text: str) -> set[str]:
    return {
        w
        for w in re.findall(r"[\w'@.-]+", text.casefold())
        if len(w) > 1 and w not in _FUNCTION_WORDS
    }


def _kept(fact: MemoryFact, change: Change) -> bool:
    """A fact whose value is what came instead (``change.new``): not replaced."""
    return bool(_content(fact.value)) and _content(fact.value) <= _content(change.new)


def _rekeyed(candidate: FactCandidate, fact: MemoryFact, new: str) -> FactCandidate:
    """A note as the new value of ``fact``'s key: "I traded the Peugeot for a Dacia Spring"
    -> ``car`` = "Dacia Spring" (the value said, else the clause), in the user's words."""
    value = re.sub(r"^(?:an?|the|my)\s+", "", new, flags=re.I) if new else ""
    if not value or is_statement_about_user(value) or len(value.split()) > 6:
        value = candidate.value
    kind = fact.kind if fact.kind != "note" else "fact"
    key = fact.key if not fact.key.startswith("note:") else candidate.key
    return FactCandidate(key, value, candidate.statement, kind, candidate.clause)


def _choices_reversed(clause: str, current: Sequence[MemoryFact]) -> list[str]:
    """The choices a clause turns round: it names, with a word of change, what a current
    ``prefers:`` fact was preferred over ("Window seats have won me over lately" after "an
    aisle seat over a window seat")."""
    if not _CHANGE_WORDS.search(clause):
        return []
    words = _content(clause)
    out = []
    for f in current:
        if f.key.startswith("prefers:") and " over " in f.value:
            over = _content(f.value.split(" over ", 1)[1])
            stems = {w.rstrip("s") for w in words}
            if over and {w.rstrip("s") for w in over} <= stems:
                out.append(f.id)
    return out


def _key_named(clause: str, current: Sequence[MemoryFact]) -> MemoryFact | None:
    """The current fact whose key ``clause`` names with a word of change ("I changed
    employer", "my website moved to …"): the whole key, else its last word (not "name")."""
    if not _CHANGE_WORDS.search(clause):
        return None
    words = _content(clause)
    keyed = [f for f in current if ":" not in f.key]
    for f in keyed:
        if set(f.key.split()) <= words:
            return f
    for f in keyed:
        head = f.key.split()[-1]
        if head != "name" and head in words:
            return f
    return None


@dataclass(frozen=True, slots=True)
class Recalled:
    """A fact recalled for a question, its score, and whether the question named its key."""

    fact: MemoryFact
    score: float
    key_match: bool

    def to_dict(self) -> dict[str, object]:
        return {**self.fact.to_dict(), "score": round(self.score, 4), "key_match": self.key_match}


@dataclass(frozen=True, slots=True)
class Forgotten:
    """What a forget request removed (``everything``: the user's whole memory)."""

    facts: tuple[MemoryFact, ...]
    everything: bool = False
    count: int = 0


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class LongTermMemory:
    """Facts per user; see the module docstring. ``store`` and ``embedder`` may be given as
    callables, opened on first use."""

    def __init__(
        self,
        store: MemoryStore | Callable[[], MemoryStore],
        embedder: Embedder | Callable[[], Embedder],
        settings: MemorySettings,
        *,
        extractor: FactExtractor | None = None,
        analyzer: Analyzer | None = None,
    ) -> None:
        self._opened: MemoryStore | None = store if isinstance(store, MemoryStore) else None
        self._open = store if self._opened is None else None
        self._embedder = embedder
        self.settings = settings
        self.extractor: FactExtractor = extractor or RuleExtractor(notes=settings.notes)
        self.analyzer = analyzer or Analyzer()
        self._cues: dict[str, frozenset[str]] = {}
        self._key_vecs: dict[str, np.ndarray] = {}

    @property
    def store(self) -> MemoryStore:
        if self._opened is None:
            assert callable(self._open)
            self._opened = self._open()
        return self._opened

    def close(self) -> None:
        """Close the store if this object opened it (a store given as is stays open)."""
        if self._open is not None and self._opened is not None:
            self._opened.close()
            self._opened = None

    @property
    def embedder(self) -> Embedder:
        if not hasattr(self._embedder, "embed"):
            self._embedder = self._embedder()  # type: ignore[operator]
        return self._embedder  # type: ignore[return-value]

    # ------------------------------------------------------------------ remembering

    def remember(
        self,
        user_id: str,
        text: str,
        *,
        conversation_id: str | None = None,
        turn_index: int | None = None,
        at: str | None = None,
    ) -> list[Remembered]:
        """Store the facts of one user turn (none: an empty list); each supersedes what it
        contradicts. A request to forget is not a fact (see :meth:`forget_request`)."""
        user = check_user(user_id)
        if forget_request(text) is not None:
            return []
        current = self.store.facts(user)
        candidates = [
            c
            for c in self.extractor.extract(text, keys=[f.key for f in current])
            if not _PLACEHOLDER.search(c.value)  # redacted by the PII guard: not remembered
        ]
        changes = {c: change_of(c) for c in clauses(text)}
        spoken = {c.clause for c in candidates}
        for clause, change in changes.items():
            # "The Corolla is gone": no fact of its own, but it ends one the user has
            if (
                change is not None
                and clause not in spoken
                and _PLACEHOLDER.search(clause) is None
                and self._named_by(change, current)
            ):
                candidates.append(
                    FactCandidate(statement_key(clause), clause, clause, "note", clause)
                )
        if not candidates:
            return []
        vectors = self._vectors(candidates)
        source = FactSource(text.strip(), conversation_id, turn_index, at or _now())
        out: list[Remembered] = []
        fresh: set[str] = set()  # facts of this turn: one clause does not replace another's
        for candidate, vector in zip(candidates, vectors, strict=True):
            candidate, replaces = self._resolve(
                candidate,
                vector,
                [f for f in current if f.id not in fresh],
                changes.get(candidate.clause),
            )
            done = self.store.remember(
                user,
                key=candidate.key,
                value=candidate.value,
                statement=candidate.statement,
                source=source,
                kind=candidate.kind,
                vector=vector,
                replaces=replaces,
            )
            out.append(done)
            if done.written:
                gone = {f.id for f in done.superseded}
                current = [f for f in current if f.id not in gone] + [done.fact]
                fresh.add(done.fact.id)
        return out

    def _vectors(self, candidates: Sequence[FactCandidate]) -> np.ndarray:
        """Each fact's embedding: its statement's and the user's own clause's, averaged (the
        clause keeps the user's words, "I'm really into bouldering", for recall); a clause
        with several facts ("I work as a nurse at São João hospital") is left out."""
        statements = [c.statement for c in candidates]
        per_clause = Counter(c.clause for c in candidates if c.kind != "note")
        # a clause that holds several facts blurs them: those are embedded by their statement
        own = [
            c.clause if c.clause and per_clause[c.clause] <= 1 else c.statement for c in candidates
        ]
        vectors = self.embedder.embed(statements + own)
        mixed = vectors[: len(candidates)] + vectors[len(candidates) :]
        norms = np.linalg.norm(mixed, axis=1, keepdims=True)
        return (mixed / np.maximum(norms, 1e-12)).astype(np.float32)

    def _named_by(self, change: Change, current: Sequence[MemoryFact]) -> list[MemoryFact]:
        """The user's current facts that ``change.old`` names: a content word of their value
        ("the Peugeot" -> "a Peugeot 208"), or their key ("my job" -> ``job``)."""
        words = _content(change.old)
        if not words:
            return []
        out, whole = [], []
        for f in current:
            family, _, base = f.key.rpartition(":")
            value = _content(f.value if family != "preference" else base)
            named = words & value
            if not named and not family and not f.key.startswith("note:"):
                named = words & _content(f.key)
            if named:
                out.append(f)
                if value and value <= words:
                    whole.append(f)
        # "moved out of Graz" names the city Graz, not the club Sturm Graz
        return whole or out

    def _resolve(
        self,
        candidate: FactCandidate,
        vector: np.ndarray,
        current: Sequence[MemoryFact],
        change: Change | None,
    ) -> tuple[FactCandidate, list[str]]:
        """The candidate as it will be stored, and the current facts of other keys it
        supersedes (the store supersedes the fact of its own key). In order:

        1. it says what it replaces ("I traded the Peugeot for …", "matcha instead of green
           tea"): the facts the replaced thing names; a note takes the key of the first;
        2. a note naming a current key with a word of change ("I changed employer: …", "my
           website moved to …"): that key's fact, whose key the note takes;
        3. a note otherwise: the one current fact most like it, at cosine >=
           ``memory.note_supersede``;
        4. a fact read by a rule: the note most like it at cosine >= ``memory.note_supersede``
           (a preference: also the notes naming its object); a ``preference:`` about the
           same thing, a ``prefers:`` choice alike (see the module docstring)."""
        others = [f for f in current if f.key != candidate.key]
        clause = candidate.clause or candidate.statement
        if change is not None:
            named = [f for f in self._named_by(change, others) if not _kept(f, change)]
            if named:
                if candidate.kind == "note":
                    candidate = _rekeyed(candidate, named[0], change.new)
                return candidate, [f.id for f in named if f.key != candidate.key]
        reversed_ = _choices_reversed(clause, others)
        if candidate.kind == "note" or (
            candidate.key.startswith("prefers:") and " over " not in candidate.value
        ):
            # "For mixing I've moved over to Reaper": the user's ``uses for mixing``
            keyed = _key_named(clause, others)
            if keyed is not None:
                return _rekeyed(candidate, keyed, candidate.value.removeprefix("prefers ")), []
        if candidate.kind == "note":
            scored = [(float(f.vector @ vector), f.id) for f in others if f.vector is not None]
            best = max(scored, default=None)
            if best and best[0] >= self.settings.note_supersede and best[1] not in reversed_:
                reversed_.append(best[1])
            return candidate, reversed_
        notes = self._notes_replaced(candidate, vector, others)
        notes += [i for i in reversed_ if i not in notes]
        if candidate.key.startswith("preference:"):  # "dislikes hiking" after "likes hiking …"
            words = set(self.analyzer.terms(candidate.key.split(":", 1)[1]))
            return candidate, notes + [
                f.id
                for f in others
                if f.key.startswith("preference:")
                and words & set(self.analyzer.terms(f.key.split(":", 1)[1]))
            ]
        if not candidate.key.startswith("prefers:"):
            return candidate, notes
        choices = [f for f in others if f.key.startswith("prefers:")]
        if not choices:
            return candidate, notes
        obj = candidate.key.split(":", 1)[1]
        over = (
            candidate.value.split(" over ", 1)[1].casefold() if " over " in candidate.value else ""
        )
        objects = [f.key.split(":", 1)[1] for f in choices]
        overs = [
            f.value.split(" over ", 1)[1].casefold() if " over " in f.value else "" for f in choices
        ]
        vecs = self.embedder.embed([obj, *objects])
        return candidate, notes + [
            f.id
            for f, o, w, v in zip(choices, objects, overs, vecs[1:], strict=True)
            if o == over or w == obj or float(vecs[0] @ v) >= PREFER_SUPERSEDE
        ]

    def _notes_replaced(
        self, candidate: FactCandidate, vector: np.ndarray, current: Sequence[MemoryFact]
    ) -> list[str]:
        """The note a fact read by a rule replaces: the note most like it at cosine >=
        ``memory.note_supersede`` ("My usual coffee order is a cortado now" after "I always
        order a flat white"), or, for a preference, the notes that name its object ("I'm not
        into cycling anymore" after "I'm crazy about cycling, in a way")."""
        notes = [f for f in current if f.kind == "note" and f.vector is not None]
        if not notes:
            return []
        out = []
        if candidate.kind == "preference":
            obj = _content(candidate.key.split(":", 1)[1])
            out = [f.id for f in notes if obj and obj <= _content(f.statement)]
        elif ":" not in candidate.key and _CHANGE_WORDS.search(candidate.clause):
            # "My usual coffee order is a cortado now": the notes about an order
            head = candidate.key.split()[-1]
            if head != "name" and len(head) > 3:
                out = [f.id for f in notes if head in _content(f.statement)]
        scored = [(float(f.vector @ vector), f.id) for f in notes]  # type: ignore[operator]
        best = max(scored)
        if best[0] >= self.settings.note_supersede and best[1] not in out:
            out.append(best[1])
        return out

    # ------------------------------------------------------------------ recalling

    def _key_cues(self, key: str) -> frozenset[str]:
        cues = self._cues.get(key)
        if cues is None:
            words = key_words(key)
            # stemmed for the analyzer's terms; the preference cues also as they are ("into"
            # is a stopword)
            raw = words & (PREFERENCE_CUES | CHOICE_CUES | FAN_CUES)
            cues = frozenset(self.analyzer.terms(" ".join(sorted(words)))) | frozenset(raw)
            self._cues[key] = cues
        return cues

    def _terms(self, text: str) -> set[str]:
        return set(self.analyzer.terms(text)) | set(re.findall(r"[a-z]+", text.casefold()))

    def recall(
        self, user_id: str, question: str, *, vector: np.ndarray | None = None
    ) -> list[Recalled]:
        """The user's current facts relevant to ``question``, best first (see the module
        docstring); ``vector``: the question's embedding when the caller has it."""
        facts = [f for f in self.store.facts(check_user(user_id)) if f.vector is not None]
        if not facts:
            return []
        q = vector if vector is not None else self.embedder.embed([question])[0]
        cfg = self.settings
        cosines = np.array([float(f.vector @ q) for f in facts])  # type: ignore[operator]
        matches = self.key_matches(question, facts)
        if cfg.recall == "model":
            model = recall_model.shipped()
            rows = self.recall_features(question, q, facts, cosines, matches)
            scores = model.probabilities(rows)
            floor = model.threshold if cfg.min_probability is None else cfg.min_probability
        else:
            scores = cosines + np.where(matches, cfg.key_bonus, 0.0)
            floor = cfg.min_score
        scored = [
            Recalled(fact, float(score), match)
            for fact, score, match in zip(facts, scores, matches, strict=True)
        ]
        return choose(scored, floor, cfg.recency_supersede, cfg.max_facts, cfg.recency_min_share)

    def key_matches(self, question: str, facts: Sequence[MemoryFact]) -> list[bool]:
        """Whether ``question`` names each fact's key: a word of its cues ("where do I
        *live*" -> ``location``) or a phrase ("what do I do" -> ``job``)."""
        terms = self._terms(question)
        named = asked_keys(question)
        return [f.key in named or bool(terms & self._key_cues(f.key)) for f in facts]

    def recall_features(
        self,
        question: str,
        vector: np.ndarray,
        facts: Sequence[MemoryFact],
        cosines: np.ndarray,
        matches: Sequence[bool],
    ) -> np.ndarray:
        """The recall model's features of each fact for ``question`` (also what
        ``benchmarks/train_memory_recall.py`` fits on)."""
        keys = sorted({f.key for f in facts if not f.key.startswith("note:")} - set(self._key_vecs))
        if keys:
            embedded = self.embedder.embed([recall_model.key_text(k) for k in keys])
            norms = np.maximum(np.linalg.norm(embedded, axis=1, keepdims=True), 1e-12)
            self._key_vecs.update(zip(keys, embedded / norms, strict=True))
        key_cosines = [
            0.0 if f.key.startswith("note:") else float(self._key_vecs[f.key] @ vector)
            for f in facts
        ]
        return recall_model.features(
            question,
            facts,
            cosines,
            key_named=matches,
            key_cosines=key_cosines,
            terms=lambda text: set(self.analyzer.terms(text)),
        )

    def facts(self, user_id: str, *, history: bool = False) -> list[MemoryFact]:
        return self.store.facts(user_id, history=history)

    # ------------------------------------------------------------------ forgetting

    def forget(self, user_id: str, fact_id: str) -> Forgotten:
        """Forget one fact: a current one with its history (the facts of its key), a
        superseded one alone. :class:`ResourceNotFoundError` for an id the user lacks."""
        user = check_user(user_id)
        fact = self.store.get(user, fact_id)
        if fact is None:
            raise fact_not_found(fact_id)
        gone = self.store.facts(user, history=True, key=fact.key) if fact.current else [fact]
        count = self.store.forget(user, [f.id for f in gone])
        return Forgotten(tuple(gone), False, count)

    def forget_all(self, user_id: str) -> Forgotten:
        user = check_user(user_id)
        facts = self.store.facts(user, history=True)
        return Forgotten(tuple(facts), True, self.store.forget_all(user))

    def forget_request(self, user_id: str, text: str) -> Forgotten | None:
        """Carry out "forget …" in ``text`` (None: ``text`` asks nothing of the kind): the
        facts of the keys it names, else the one fact most like it."""
        request = forget_request(text)
        if request is None:
            return None
        user = check_user(user_id)
        if request.everything:
            return self.forget_all(user)
        current = self.store.facts(user)
        keys = {c.key for c in RuleExtractor(notes=False).extract(request.target)}
        if not keys:
            terms = self._terms(request.target) - {"my", "i", "me", "that", "what"}
            keys = {f.key for f in current if terms & self._key_cues(f.key)}
        if not keys and current:
            q = self.embedder.embed([request.target])[0]
            best = max(
                (f for f in current if f.vector is not None),
                key=lambda f: float(f.vector @ q),  # type: ignore[operator]
                default=None,
            )
            if (
                best is not None
                and best.vector is not None
                and float(best.vector @ q) >= FORGET_SIMILARITY
            ):
                keys = {best.key}
        gone = [f for f in self.store.facts(user, history=True) if f.key in keys]
        count = self.store.forget(user, [f.id for f in gone])
        return Forgotten(tuple(gone), False, count)


def _said_at(fact: MemoryFact) -> tuple[str, int]:
    """When the user said ``fact``: the turn's time (or the storing time), then its index."""
    return (fact.source.at or fact.created_at, fact.source.turn_index or 0)


def choose(
    scored: Sequence[Recalled], floor: float, alike: float, limit: int, share: float = 0.0
) -> list[Recalled]:
    """What :meth:`LongTermMemory.recall` returns of the user's ``scored`` facts: those
    scoring ``floor`` or more, best first, at most ``limit``, without the facts that a later
    one of them resembles (MiniLM cosine of the statements >= ``alike``; 1 turns it off):
    two things said about what one question asks, the later is what holds now ("my
    favourite author is Saramago", later "Lately I've been reading a lot of Pessoa, he's my
    favourite now"), even where no rule saw the change; the later one must score at least
    ``share`` of the earlier one's score ("I'm doing pottery on Saturdays" does not hide
    "Night shifts are on Wednesdays now" from "When are my night shifts?"). Facts said in one
    turn never hide each other."""
    recalled = sorted((r for r in scored if r.score >= floor), key=lambda r: -r.score)
    if alike >= 1.0 or len(recalled) < 2:
        return recalled[:limit]
    hidden: set[str] = set()
    for old in recalled:
        for new in recalled:
            if new is old or _said_at(new.fact) <= _said_at(old.fact):
                continue
            if new.score < share * old.score:
                continue
            assert old.fact.vector is not None and new.fact.vector is not None
            if float(old.fact.vector @ new.fact.vector) >= alike:
                hidden.add(old.fact.id)
                break
    return [r for r in recalled if r.fact.id not in hidden][:limit]


def context_lines(recalled: Sequence[Recalled]) -> list[str]:
    """The recalled facts as prompt lines ("- I live in Lyon")."""
    return [f"- {r.fact.statement}" for r in recalled]


__all__ = [
    "FORGET_SIMILARITY",
    "PREFER_SUPERSEDE",
    "Forgotten",
    "LongTermMemory",
    "Recalled",
    "choose",
    "context_lines",
]

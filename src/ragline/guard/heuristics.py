"""Interpretable injection heuristics: phrase patterns, and encoded payloads decoded and rescanned.

Four signals, each a feature of the injection classifier (``guard/injection.py``) and a reason
its flag gives:

* ``override``: an instruction-override phrase ("ignore all previous instructions", "new
  system prompt:", "your previous rules no longer apply");
* ``roleplay``: persona-switch framing ("you are DAN", "act as an unrestricted AI",
  "developer mode", "without any restrictions", "stay in character");
* ``extraction``: a request for the system prompt or hidden instructions;
* ``encoded``: one of the above hidden in base64, hex, ROT13 or leetspeak; the decoded text
  is rescanned (and the guard also scores it with the classifier).

The patterns are linear-time (bounded gaps, no nested quantifiers), so a megabyte of text is
scanned in milliseconds.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass

#: The heuristic features, in the order the classifier's weights expect them.
HEURISTICS: tuple[str, ...] = ("override", "roleplay", "extraction", "encoded")

#: What each heuristic means, for a flag's detail (never the matched text).
HEURISTIC_REASONS: dict[str, str] = {
    "override": "instruction-override phrase",
    "roleplay": "role-play / persona-switch framing",
    "extraction": "system-prompt extraction request",
    "encoded": "encoded payload that decodes to an injection",
}

_F = re.IGNORECASE
_GAP = r"[^.!?\n]{0,40}?"
_TARGETS = (
    r"(?:instructions?|prompts?|rules|directions|directives|guidelines|orders|programming|"
    r"constraints|context|system message|restrictions|polic(?:y|ies)|guardrails|training)"
)
_OVERRIDE = re.compile(
    r"\b(?:ignore|ignoring|disregard|forget|overrid\w*|bypass|abandon|set aside|skip|"
    r"drop|cancel\w*|void)\b" + _GAP + r"\b(?:previous|prior|above|earlier|preceding|initial|"
    r"original|all|any|your|the|these|those|every)\b" + _GAP + r"\b" + _TARGETS + r"\b"
    r"|\bnew (?:system )?(?:instructions?|prompt|directive|rules?)\s*:"
    r"|\b(?:previous|prior|earlier|original|above) " + _TARGETS + r" (?:no longer apply|"
    r"(?:are|is) (?:void|cancell?ed|obsolete|revoked|not valid))"
    r"|\bwhatever (?:you were told|prompt you were given|"
    r"instructions? you (?:were|have been) given)"
    r"|\bfrom now on,? (?:you|your)\b"
    r"|\b(?:supersedes?|replaces?) your (?:original |previous |prior )?" + _TARGETS,
    _F,
)
_PERSONA = r"(?:unrestricted|unfiltered|uncensored|amoral|unethical|evil|jailbroken|rogue|free)"
_ROLEPLAY = re.compile(
    r"\b(?:you are|you're|you will be|become|act as|acting as|behave like|respond as|"
    r"pretend to be|roleplay as|role-play as)\s+(?:now\s+)?(?:an?\s+|the\s+)?(?:DAN|"
    + _PERSONA
    + r"\b)"
    r"|\bDAN\b(?!\s*\()|\bdo anything now\b|\bdeveloper mode\b|\bjailbr(?:ea|o)k(?:en|ing)?\b"
    r"|\b(?:no|without(?: any)?|free of|free from) (?:restrictions|filters|censorship|ethics|"
    r"morals|moral|limitations|guidelines|boundaries|content polic(?:y|ies))\b"
    r"|\bstay in character\b|\b(?:never|don't|do not) break character\b"
    r"|\b(?:two|2) (?:different|separate) (?:ways|responses)\b",
    _F,
)
_EXTRACTION = re.compile(
    r"\b(?:reveal|show|print|repeat|output|display|tell me|give me|leak|dump|share|write out|"
    r"recite|what (?:is|are|was|were))\b" + _GAP + r"\b(?:your|the|its)\b" + _GAP + r"\b"
    r"(?:system (?:prompt|message|instructions)|initial (?:prompt|instructions)|hidden "
    r"(?:prompt|instructions|configuration|rules)|original (?:prompt|instructions)|pre-?prompt|"
    r"secret (?:instructions|prompt)|instructions (?:above|you were given))"
    r"|\b(?:repeat|print|output)(?: the)? (?:words|text|everything) above\b"
    r"|\b(?:every instruction|everything|all (?:the )?text) (?:above|before) this "
    r"(?:line|message)\b",
    _F,
)
_PATTERNS: dict[str, re.Pattern[str]] = {
    "override": _OVERRIDE,
    "roleplay": _ROLEPLAY,
    "extraction": _EXTRACTION,
}
_BASE64 = re.compile(r"(?<![A-Za-z0-9+/=])[A-Za-z0-9+/]{20,}={0,2}(?![A-Za-z0-9+/=])")
_HEX = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}[\s:]?){12,}(?![0-9A-Fa-f])")
_LEET = str.maketrans(
    {"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"}
)
#: Decoded blobs considered per text: a flood of blobs is not decoded one by one.
_MAX_BLOBS = 16


@dataclass(frozen=True, slots=True)
class HeuristicHits:
    """Which heuristics fired on a text, and the decoded payloads found in it."""

    hits: frozenset[str]
    #: ``(encoding, text)``: readable text decoded from base64/hex blobs, and the ROT13 or
    #: leetspeak reading of the text when it reveals an attack phrase; the classifier scores
    #: each of them too.
    variants: tuple[tuple[str, str], ...] = ()

    def vector(self) -> list[float]:
        return [1.0 if h in self.hits else 0.0 for h in HEURISTICS]


def _phrase_hits(text: str) -> set[str]:
    return {name for name, pattern in _PATTERNS.items() if pattern.search(text)}


def _readable(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if not text or sum(c.isprintable() or c.isspace() for c in text) < 0.95 * len(text):
        return None
    # Words, not noise: enough letters and at least one space.
    letters = sum(c.isalpha() for c in text)
    return text if letters >= 0.6 * len(text) and " " in text else None


def decode_blobs(text: str) -> list[tuple[str, str]]:
    """Readable text hidden in base64 or hex blobs of ``text``: ``[(encoding, decoded)]``."""
    found: list[tuple[str, str]] = []
    for encoding, pattern in (("base64", _BASE64), ("hex", _HEX)):
        for match in pattern.finditer(text):
            if len(found) >= _MAX_BLOBS:
                return found
            blob = match.group(0)
            try:
                if encoding == "base64":
                    padded = blob + "=" * (-len(blob) % 4)
                    data = base64.b64decode(padded, validate=True)
                else:
                    data = binascii.unhexlify(re.sub(r"[\s:]", "", blob))
            except (binascii.Error, ValueError):
                continue
            decoded = _readable(data)
            if decoded is not None:
                found.append((encoding, decoded))
    return found


def mask_blobs(text: str) -> str:
    """``text`` with base64/hex-looking blobs replaced by ``[encoded]``: the embedder reads
    noise there (the decoded text, when readable, is scored on its own)."""
    return _HEX.sub("[encoded] ", _BASE64.sub(_mask_base64, text))


def _mask_base64(match: re.Match[str]) -> str:
    blob = match.group(0)
    # A long word or a URL path is not base64: that has digits or +/= and both cases.
    looks_encoded = (
        any(c.isdigit() or c in "+=" for c in blob)
        and any(c.isupper() for c in blob)
        and any(c.islower() for c in blob)
    )
    return "[encoded]" if looks_encoded else blob


def scan_heuristics(text: str) -> HeuristicHits:
    """Run every heuristic on ``text`` (and on its decoded or de-obfuscated forms)."""
    hits = _phrase_hits(text)
    variants: list[tuple[str, str]] = []
    encoded = False
    for encoding, payload in decode_blobs(text):
        variants.append((encoding, payload))
        encoded = encoded or bool(_phrase_hits(payload))
    for encoding, variant in (
        ("rot13", codecs.encode(text, "rot13")),
        ("leet", text.translate(_LEET)),
    ):
        if variant != text and _phrase_hits(variant) - hits:
            variants.append((encoding, variant))
            encoded = True
    if encoded:
        hits.add("encoded")
    return HeuristicHits(frozenset(hits), tuple(variants))

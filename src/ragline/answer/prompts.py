"""Prompt templates kept in versioned files, never in code strings.

A template file is named ``<name>.v<N>.txt`` (``answer.v1.txt``) and lives in
``ragline/answer/prompts/``; a setting may also name any ``.txt`` file by path. The file holds
``[system]`` and ``[user]`` sections; ``{placeholders}`` are filled with :meth:`render`
(literal braces are doubled, as in :meth:`str.format`). Lines starting with ``#`` before the
first section are comments. Every answer records the template's ``id`` (``answer.v1``) and
a short hash of the file, so a changed prompt is visible in results even without a new version.
"""

from __future__ import annotations

import hashlib
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from ragline.errors import ConfigError

PROMPTS_DIR = Path(__file__).parent / "prompts"
_SECTION = re.compile(r"^\[(system|user)\]\s*$", re.MULTILINE)
_FILE_NAME = re.compile(r"^(?P<name>[a-z0-9_-]+)\.v(?P<version>\d+)$")


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A chat prompt: a system message and a user message with ``{placeholders}``."""

    name: str
    version: int
    system: str
    user: str
    sha256: str

    @property
    def id(self) -> str:
        """``answer.v1``: what answers record as their ``prompt_version``."""
        return f"{self.name}.v{self.version}"

    @property
    def fields(self) -> frozenset[str]:
        """The placeholder names the template uses."""
        names = set()
        for text in (self.system, self.user):
            names |= {f for _, f, _, _ in string.Formatter().parse(text) if f}
        return frozenset(names)

    def render(self, **values: str) -> list[dict[str, str]]:
        """The chat messages with every placeholder filled (a missing one is an error)."""
        missing = self.fields - set(values)
        if missing:
            raise ConfigError(
                f"prompt {self.id} needs {', '.join(sorted(missing))}",
                hint="this is a bug in the caller or a placeholder typo in the prompt file",
            )
        messages = []
        if self.system.strip():
            messages.append({"role": "system", "content": self.system.format(**values).strip()})
        messages.append({"role": "user", "content": self.user.format(**values).strip()})
        return messages


def parse_prompt(text: str, *, name: str, version: int) -> PromptTemplate:
    """Parse the text of a prompt file (see the module docstring for the format)."""
    parts = _SECTION.split(text)
    sections: dict[str, str] = {}
    for i in range(1, len(parts) - 1, 2):
        sections[parts[i]] = parts[i + 1].strip("\n")
    preamble = [ln for ln in parts[0].splitlines() if ln.strip() and not ln.startswith("#")]
    if "user" not in sections or preamble:
        raise ConfigError(
            f"prompt {name}.v{version} is not a prompt file",
            hint="it needs a [user] section (and optionally [system]); text before the "
            "first section must be # comments",
        )
    try:
        template = PromptTemplate(
            name=name,
            version=version,
            system=sections.get("system", ""),
            user=sections["user"],
            sha256=hashlib.sha256(text.encode("utf-8")).hexdigest()[:12],
        )
        _ = template.fields  # unbalanced braces fail here, at load time
    except ValueError as exc:
        raise ConfigError(f"prompt {name}.v{version}: bad placeholder ({exc})") from exc
    return template


@lru_cache(maxsize=32)
def load_prompt(ref: str) -> PromptTemplate:
    """A template by id (``answer.v1``), by name (``answer``: the highest version) or by path."""
    path = Path(ref).expanduser()
    if ref.endswith(".txt") and path.is_file():
        match = _FILE_NAME.match(path.stem)
        name, version = (match["name"], int(match["version"])) if match else (path.stem, 0)
        return parse_prompt(path.read_text(encoding="utf-8"), name=name, version=version)
    available = {p.stem: p for p in PROMPTS_DIR.glob("*.v*.txt")}
    if ref not in available:
        versions = sorted(
            (int(m["version"]), stem)
            for stem in available
            if (m := _FILE_NAME.match(stem)) and m["name"] == ref
        )
        if not versions:
            raise ConfigError(
                f"no prompt template {ref!r}",
                hint=f"use one of {sorted(available)} or a path to a .txt prompt file",
            )
        ref = versions[-1][1]
    match = _FILE_NAME.match(ref)
    assert match is not None
    return parse_prompt(
        available[ref].read_text(encoding="utf-8"),
        name=match["name"],
        version=int(match["version"]),
    )


__all__ = ["PROMPTS_DIR", "PromptTemplate", "load_prompt", "parse_prompt"]

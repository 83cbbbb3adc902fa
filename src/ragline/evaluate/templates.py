"""Versioned prompt files for evaluation: answering, judging and synthetic questions.

A prompt is a text file with an optional ``[system]`` section and a ``[user]`` section;
``{{name}}`` placeholders are filled by :meth:`PromptTemplate.render`. The packaged prompts
live in ``ragline/evaluate/prompts/`` and are named by file stem (``judge_pointwise_v1``);
a spec may instead give a path to its own file. Every prompt carries a version,
``stem@sha256[:12]`` of its text, which a run records so that a report names the exact
wording behind its numbers.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from ragline.errors import ConfigError

PROMPTS_DIR = Path(__file__).with_name("prompts")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_SECTION = re.compile(r"^\[(system|user)\][ \t]*$", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class PromptTemplate:
    """A prompt file: its name, version and the two message templates."""

    name: str
    text: str
    system: str
    user: str

    @property
    def version(self) -> str:
        return f"{self.name}@{hashlib.sha256(self.text.encode('utf-8')).hexdigest()[:12]}"

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(_PLACEHOLDER.findall(self.system + "\n" + self.user))

    @classmethod
    def parse(cls, name: str, text: str) -> PromptTemplate:
        parts = _SECTION.split(text)
        if len(parts) == 1:  # no sections: the whole text is the user message
            return cls(name=name, text=text, system="", user=text.strip())
        sections: dict[str, str] = {}
        if parts[0].strip():
            raise ConfigError(f"prompt {name!r}: text before the first [system]/[user] line")
        for role, body in zip(parts[1::2], parts[2::2], strict=True):
            if role in sections:
                raise ConfigError(f"prompt {name!r}: two [{role}] sections")
            sections[role] = body.strip()
        if not sections.get("user"):
            raise ConfigError(f"prompt {name!r} has no [user] section")
        return cls(name=name, text=text, system=sections.get("system", ""), user=sections["user"])

    def render(self, **values: object) -> list[dict[str, str]]:
        """Chat messages with every placeholder filled; a missing value is a ConfigError."""
        missing = sorted(self.variables - set(values))
        if missing:
            raise ConfigError(
                f"prompt {self.name!r} needs {', '.join(missing)}",
                hint="check the spec's field names, or the prompt's {{placeholders}}",
            )

        def fill(template: str) -> str:
            return _PLACEHOLDER.sub(lambda m: str(values[m.group(1)]), template)

        messages = [{"role": "user", "content": fill(self.user)}]
        if self.system:
            messages.insert(0, {"role": "system", "content": fill(self.system)})
        return messages


def packaged_prompts() -> list[str]:
    """Names of the prompts shipped with ragline."""
    return sorted(p.stem for p in PROMPTS_DIR.glob("*.md") if p.stem != "README")


def load_prompt(ref: str, base_dir: Path | None = None) -> PromptTemplate:
    """A prompt by packaged name (``judge_pairwise_v1``) or by path (relative to ``base_dir``)."""
    candidates = []
    path = Path(ref).expanduser()
    if path.suffix or "/" in ref or "\\" in ref:
        candidates.append(path if path.is_absolute() or base_dir is None else base_dir / path)
    else:
        candidates.append(PROMPTS_DIR / f"{ref}.md")
    for candidate in candidates:
        if candidate.is_file():
            try:
                text = candidate.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read prompt {candidate}: {exc}") from exc
            return PromptTemplate.parse(candidate.stem, text)
    raise ConfigError(
        f"no prompt {ref!r}",
        hint=f"packaged prompts: {', '.join(packaged_prompts())}; or give a file path",
    )


__all__ = ["PROMPTS_DIR", "PromptTemplate", "load_prompt", "packaged_prompts"]

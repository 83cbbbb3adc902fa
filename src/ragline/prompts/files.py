"""The one prompt-file format: YAML front matter, then messages with ``{{variable}}`` slots.

A prompt file (by convention ``NAME.vN.md``)::

    ---
    name: judge_pointwise          # lowercase letters, digits, _ and -
    version: 1                     # an integer; several versions of a name coexist
    description: A 1-5 rubric for one answer.
    model:                         # hints for whoever calls a model with it (all optional)
      family: smollm2
      temperature: 0.0
      max_tokens: 256
    output_schema:                 # the JSON schema of the reply, when the prompt is structured
      type: object
      properties: {rating: {type: integer}}
    ---
    [system]
    You are a strict, fair grader.
    [user]
    Question: {{question}}

The body holds ``[system]``, ``[user]`` and ``[assistant]`` lines, each starting a message in
that order; a body without them is one user message. ``{{ name }}`` is a slot; single braces
are plain text (JSON examples need no escaping). :meth:`Prompt.render` fills every slot and
fails on a missing *and* on an unknown value; each message is stripped of surrounding
whitespace after filling, and an empty system message is left out.

A prompt's ``sha256`` is the hash of the file's bytes exactly as stored (``sha256sum`` on the
file gives the same); answers, traces and evaluation runs record its first 12 hex digits
(:attr:`Prompt.digest`) with the name and version.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragline.errors import PromptError

MessageRole = Literal["system", "user", "assistant"]
NAME_PATTERN = r"[a-z0-9][a-z0-9_-]*"
_SLOT = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_ROLE_LINE = re.compile(r"^\[(system|user|assistant)\][ \t]*$", re.MULTILINE)
_FENCE = "---"
#: first hex digits of the sha256 that records carry
DIGEST_CHARS = 12


class ModelHints(BaseModel):
    """What the prompt was written for; callers may use these as defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    family: str | None = None
    temperature: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, gt=0)


class FrontMatter(BaseModel):
    """The keys allowed between the ``---`` lines (unknown keys are an error: typos show)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=f"^{NAME_PATTERN}$")
    version: int = Field(ge=1, strict=True)
    description: str = ""
    model: ModelHints = ModelHints()
    output_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class MessageTemplate:
    """One message of a prompt: its role and its text with ``{{slots}}``."""

    role: MessageRole
    text: str


@dataclass(frozen=True, slots=True)
class Prompt:
    """A parsed prompt file; ``ref`` (``answer@v2``) names it, ``sha256`` pins its bytes."""

    name: str
    version: int
    messages: tuple[MessageTemplate, ...]
    sha256: str
    description: str = ""
    model: ModelHints = field(default_factory=ModelHints)
    output_schema: dict[str, Any] | None = None
    #: the file it came from (None when parsed from a string)
    path: Path | None = None
    #: ``shipped`` (in ragline), ``user`` (the prompts folder) or ``file`` (named by path)
    source: str = "file"
    #: the file's text, as stored
    text: str = ""

    @property
    def ref(self) -> str:
        """``answer@v2``: how commands, settings and specs name this prompt."""
        return f"{self.name}@v{self.version}"

    @property
    def digest(self) -> str:
        """The first 12 hex digits of :attr:`sha256`, recorded with answers, traces and runs."""
        return self.sha256[:DIGEST_CHARS]

    @property
    def stamp(self) -> str:
        """``answer@v2 sha256:0123456789ab``: name, version and hash in one string."""
        return f"{self.ref} sha256:{self.digest}"

    @property
    def variables(self) -> frozenset[str]:
        """The slot names the prompt uses."""
        return frozenset(v for m in self.messages for v in _SLOT.findall(m.text))

    def _where(self) -> str:
        return f"prompt {self.ref}" + (f" ({self.path})" if self.path else "")

    def render(self, **values: object) -> list[dict[str, str]]:
        """Chat messages with every slot filled; a missing or an unknown value is an error."""
        missing = sorted(self.variables - values.keys())
        unknown = sorted(values.keys() - self.variables)
        if missing or unknown:
            problems = [f"missing variable {v!r}" for v in missing]
            problems += [f"unknown variable {v!r}" for v in unknown]
            raise PromptError(
                f"{self._where()}: {'; '.join(problems)}",
                hint=f"it takes {', '.join(sorted(self.variables)) or 'no variables'}; "
                "fix the caller's values or the prompt's {{slots}}",
            )

        def fill(text: str) -> str:
            return _SLOT.sub(lambda m: str(values[m.group(1)]), text).strip()

        rendered = [{"role": m.role, "content": fill(m.text)} for m in self.messages]
        return [m for m in rendered if m["role"] != "system" or m["content"]]


def _split_front_matter(text: str, where: str) -> tuple[str, str]:
    lines = text.splitlines(keepends=True)
    if not lines or lines[0].rstrip("\r\n") != _FENCE:
        raise PromptError(
            f"{where} does not start with a '---' front matter line",
            hint="a prompt file starts with ---, then name: and version: lines, then --- "
            "(see ragline.prompts.files)",
        )
    for i, line in enumerate(lines[1:], 1):
        if line.rstrip("\r\n") == _FENCE:
            return "".join(lines[1:i]), "".join(lines[i + 1 :])
    raise PromptError(f"{where}: the front matter has no closing '---' line")


def _front_matter(raw: str, where: str) -> FrontMatter:
    import yaml

    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        raise PromptError(f"{where}: the front matter is not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise PromptError(f"{where}: the front matter must be 'key: value' lines")
    try:
        return FrontMatter.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise PromptError(
            f"{where}: bad front matter: {problems}",
            hint="name (lowercase) and version (an integer) are required; description, "
            "model (family, temperature, max_tokens) and output_schema are optional",
        ) from exc


def _messages(body: str, where: str) -> tuple[MessageTemplate, ...]:
    parts = _ROLE_LINE.split(body)
    if len(parts) == 1:  # no role lines: the whole body is the user message
        messages = (MessageTemplate("user", body.strip()),)
    else:
        if parts[0].strip():
            raise PromptError(f"{where}: text before the first [system]/[user]/[assistant] line")
        messages = tuple(
            MessageTemplate(role, text.strip())  # type: ignore[arg-type]
            for role, text in zip(parts[1::2], parts[2::2], strict=True)
        )
    if not any(m.role == "user" and m.text for m in messages):
        raise PromptError(f"{where} has no user message", hint="add a [user] line and its text")
    for m in messages:
        stray = _SLOT.sub("", m.text)
        if "{{" in stray or "}}" in stray:
            raise PromptError(
                f"{where}: a '{{{{' or '}}}}' that is not a {{{{variable}}}} slot",
                hint="a slot is {{name}} with a letter or _ first; single braces are plain text",
            )
    return messages


def parse_prompt(data: bytes | str, *, path: Path | None = None, source: str = "file") -> Prompt:
    """Parse a prompt file's content (bytes as stored, so that the hash is the file's)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    where = f"prompt file {path}" if path else "prompt text"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PromptError(f"{where} is not UTF-8 text ({exc})") from exc
    head, body = _split_front_matter(text, where)
    meta = _front_matter(head, where)
    return Prompt(
        name=meta.name,
        version=meta.version,
        messages=_messages(body, where),
        sha256=hashlib.sha256(raw).hexdigest(),
        description=meta.description.strip(),
        model=meta.model,
        output_schema=meta.output_schema,
        path=path,
        source=source,
        text=text,
    )


def read_prompt(path: Path, *, source: str = "file") -> Prompt:
    """Read and parse one prompt file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PromptError(f"cannot read prompt file {path}: {exc.strerror or exc}") from exc
    return parse_prompt(raw, path=path, source=source)


__all__ = [
    "DIGEST_CHARS",
    "FrontMatter",
    "MessageRole",
    "MessageTemplate",
    "ModelHints",
    "Prompt",
    "parse_prompt",
    "read_prompt",
]

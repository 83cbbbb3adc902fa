"""Where prompts are found: the ones shipped with ragline, then the user's own folder.

A reference names a prompt: ``answer@v2`` (that version), ``answer`` (its highest version),
or a path to a prompt file (it contains a ``/`` or ends in ``.md``; a relative one is read
from ``base_dir``, e.g. an evaluation spec's folder). The user's folder
(``prompts.folder``, default ``$RAGLINE_HOME/prompts`` when it exists) is read after the
shipped prompts: a file there with the same name and version replaces the shipped one, a
new version adds to it. Two files of one folder claiming the same ``name@vN`` are an error.

Family variants (:meth:`PromptRegistry.for_family`): a prompt written for one model family
says so in its front matter (``model: {family: smollm2}``). When the model that will read it
is of another family and a prompt named ``NAME-FAMILY`` exists (``answer-qwen`` beside
``answer``), that one's highest version is used instead. A prompt without a family, one
named by path, or one already of the model's family is used as named.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ragline.errors import PromptError
from ragline.prompts.files import NAME_PATTERN, Prompt, read_prompt

if TYPE_CHECKING:
    from ragline.config import Settings

SHIPPED_DIR = Path(__file__).with_name("shipped")
_REF = re.compile(rf"^(?P<name>{NAME_PATTERN})(?:@v(?P<version>\d+))?$")
_OLD_REF = re.compile(r"^(?P<name>.+?)[._]v(?P<version>\d+)$")
#: references of the two formats before this one, for a helpful error
_RENAMED = {"answer_v1": "eval_answer@v1", "answer_closed_v1": "eval_answer_closed@v1"}


def _scan(folder: Path, source: str) -> dict[tuple[str, int], Prompt]:
    found: dict[tuple[str, int], Prompt] = {}
    for path in sorted(folder.glob("*.md")):
        if path.name.lower() == "readme.md":
            continue
        prompt = read_prompt(path, source=source)
        key = (prompt.name, prompt.version)
        if key in found:
            raise PromptError(
                f"two prompt files are {prompt.ref}: {found[key].path} and {path}",
                hint="give the newer one the next version in its front matter",
            )
        found[key] = prompt
    return found


def _looks_like_path(ref: str) -> bool:
    return "/" in ref or "\\" in ref or Path(ref).suffix.lower() in (".md", ".txt")


class PromptRegistry:
    """Every prompt by name and version: shipped ones, overridden or extended by ``folder``."""

    def __init__(self, folder: Path | None = None, *, shipped: Path = SHIPPED_DIR) -> None:
        if folder is not None and not folder.is_dir():
            raise PromptError(
                f"the prompts folder {folder} does not exist",
                hint="create it, or unset prompts.folder / RAGLINE_PROMPTS__FOLDER",
            )
        self.folder = folder
        self.shipped = _scan(shipped, "shipped")
        self.user = _scan(folder, "user") if folder is not None else {}
        self._all = {**self.shipped, **self.user}

    @classmethod
    def from_settings(cls, settings: Settings) -> PromptRegistry:
        """The registry of ``settings.prompts.folder`` (or ``<home>/prompts`` if it exists)."""
        folder = settings.prompts.folder
        if folder is None:
            default = Path(settings.home) / "prompts"
            folder = default if default.is_dir() else None
        return cls(Path(folder).expanduser() if folder is not None else None)

    def prompts(self) -> list[Prompt]:
        """Every prompt, by name then version."""
        return [self._all[k] for k in sorted(self._all)]

    def overrides(self, prompt: Prompt) -> bool:
        """Whether ``prompt`` (from the user's folder) replaces a shipped one."""
        key = (prompt.name, prompt.version)
        return prompt.source == "user" and key in self.shipped

    def versions(self, name: str) -> list[int]:
        return sorted(v for n, v in self._all if n == name)

    def get(self, ref: str, *, base_dir: Path | None = None) -> Prompt:
        """The prompt ``ref`` names (see the module docstring)."""
        ref = ref.strip()
        if _looks_like_path(ref):
            path = Path(ref).expanduser()
            if not path.is_absolute() and base_dir is not None:
                path = base_dir / path
            if not path.is_file():
                raise PromptError(f"no prompt file {path}")
            return read_prompt(path)
        match = _REF.match(ref)
        if match is not None:
            name = match["name"]
            versions = self.versions(name)
            if match["version"] is None and versions:
                return self._all[(name, versions[-1])]
            if match["version"] is not None and int(match["version"]) in versions:
                return self._all[(name, int(match["version"]))]
            if versions:
                raise PromptError(
                    f"prompt {name} has no version {match['version']}",
                    hint=f"its versions: {', '.join(f'{name}@v{v}' for v in versions)}",
                )
        raise PromptError(f"no prompt {ref!r}", hint=self._suggest(ref))

    def for_family(self, ref: str, family: str | None) -> Prompt:
        """The prompt ``ref`` names, or its variant for the model ``family`` (module docstring)."""
        prompt = self.get(ref)
        if family is None or _looks_like_path(ref.strip()):
            return prompt
        if prompt.model.family is None or prompt.model.family == family:
            return prompt
        variant = f"{prompt.name}-{family}"
        return self.get(variant) if variant in self.names() else prompt

    def _suggest(self, ref: str) -> str:
        if ref in _RENAMED:
            return f"prompts are named NAME@vN now: use {_RENAMED[ref]}"
        old = _OLD_REF.match(ref)
        if old is not None and (old["name"], int(old["version"])) in self._all:
            return f"prompts are named NAME@vN now: use {old['name']}@v{old['version']}"
        return f"`ragline prompts list` shows them ({', '.join(self.names())}); or give a path"

    def names(self) -> list[str]:
        return sorted({n for n, _ in self._all})


__all__ = ["SHIPPED_DIR", "PromptRegistry"]

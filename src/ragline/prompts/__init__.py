"""Prompt files: one format, one loader, one registry, one strict renderer.

Every prompt ragline sends — the answer flow's, the follow-up rewrite's, the evaluation
judges' — is a file with YAML front matter (name, version, description, model hints, an
output schema when the reply is structured) and messages with ``{{variable}}`` slots
(:mod:`ragline.prompts.files`). The shipped ones live in ``ragline/prompts/shipped/``; a
user's folder (``prompts.folder``) overrides them by name and version
(:mod:`ragline.prompts.registry`). ``ragline prompts list | show | diff`` shows them.
"""

from ragline.prompts.files import MessageTemplate, ModelHints, Prompt, parse_prompt, read_prompt
from ragline.prompts.registry import SHIPPED_DIR, PromptRegistry

__all__ = [
    "SHIPPED_DIR",
    "MessageTemplate",
    "ModelHints",
    "Prompt",
    "PromptRegistry",
    "parse_prompt",
    "read_prompt",
]

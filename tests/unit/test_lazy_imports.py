"""Import weight: the CLI's --help and a search process must not load what they never use.

Checked in a fresh interpreter (``sys.modules`` of the test process is already full)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = (
    "httpx",
    "llama_cpp",
    "trafilatura",
    "pypdf",
    "ftfy",
    "onnxruntime",
    "scipy",
    "fastapi",
    "ragline.answer",
    "ragline.evaluate",
    "ragline.ingest.pipeline",
    "ragline.models.gateway",
    "ragline.server",
    "presidio_analyzer",
    "spacy",
    "sklearn",
    "profanity_check",
)


def loaded_after(code: str) -> set[str]:
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "code",
    [
        "import ragline.cli.main",  # what `ragline --help` loads
        "import ragline.api",  # what a search process loads before it searches
        "import ragline.errors, ragline.types",
    ],
)
def test_heavy_modules_load_on_first_use(code):
    loaded = loaded_after(code)
    found = sorted(m for m in HEAVY if m in loaded)
    assert not found, f"{code!r} imports {found}"


def test_public_names_still_resolve():
    loaded = loaded_after("import ragline\nragline.Ragline, ragline.Hit, ragline.load_settings")
    assert "ragline.api" in loaded

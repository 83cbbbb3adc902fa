"""The real browser the web UI tests drive: headless Chromium through Playwright.

``RAGLINE_CHROMIUM`` names another browser binary (read at import: the suite's autouse
fixture clears ``RAGLINE_*`` variables before each test). Without one the tests skip, which
``tests/conftest.py`` turns into a failure under ``RAGLINE_CI``: run
``scripts/install-browser.sh``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path(os.environ.get("RAGLINE_CHROMIUM") or "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def launch_browser() -> Callable[[Any], Any]:
    """``launch(playwright)`` → a headless Chromium browser (skips without the binary)."""
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: run scripts/install-browser.sh")

    def launch(p: Any) -> Any:
        return p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)

    return launch

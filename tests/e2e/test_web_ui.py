"""The web UI in headless Chromium (Debian's /usr/bin/chromium, driven by Playwright's Python
client), against a real server with the real embedder and SmolLM2: upload a document with
progress, ask a question, watch the answer stream, open a citation, send feedback,
regenerate, and save a screenshot (copied to docs/screenshots/web-ui.png when
RAGLINE_UPDATE_SCREENSHOTS is set)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragline.api import Ragline
from ragline.store.traces_base import FeedbackQuery
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "web-ui.png"

sync_api = pytest.importorskip("playwright.sync_api", reason="run scripts/install-browser.sh")
pytest.importorskip("llama_cpp")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-home")
    settings = server_settings(
        home,
        gateway={"max_tokens": 24, "temperature": 0.0},
        answer={"max_tokens": 24, "style": "generative"},
    )
    with Ragline(settings) as rag:
        rag.ingest([write_corpus(home / "corpus")], collection="docs")
    with running_server(settings) as live:
        yield live


def test_chat_citations_feedback_upload_regenerate(
    server: LiveServer, tmp_path: Path, launch_browser
) -> None:
    extra = tmp_path / "tea.md"
    extra.write_text("# Tea\n\nGreen tea steeps at 80 degrees Celsius for two minutes.\n")
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.wait_for_selector("#collection option[value=docs]", state="attached")

            # upload with progress: the report comes back and the counts update
            page.set_input_files("#upload-input", str(extra))
            page.wait_for_function(
                "document.querySelector('#upload-status').textContent.startsWith('added 1')"
            )
            assert page.locator("#upload-progress").get_attribute("value") == "100"

            # ask: the answer streams (the cursor shows), then citations appear
            page.fill("#question", "Which planet is the hottest?")
            page.press("#question", "Enter")
            page.wait_for_selector(".msg.assistant.streaming", timeout=30_000)
            answer = page.locator(".msg.assistant").first
            page.wait_for_selector(".msg.assistant[data-done=true]", timeout=60_000)
            assert answer.locator(".text").inner_text().strip()
            assert answer.get_attribute("data-trace-id")
            cites = answer.locator(".citations .cite")
            assert cites.count() >= 1

            # open a citation: the passage and its source show in the side panel
            venus = answer.locator(".citations .cite", has_text="Venus")
            (venus if venus.count() else cites).first.click()
            panel = page.locator("#passage")
            assert panel.is_visible()
            assert page.locator("#passage-source").inner_text() == "venus.md"
            assert page.locator("#passage-path").inner_text().endswith("venus.md")
            assert "465 degrees" in page.locator("#passage-text").inner_text()

            # feedback: thumbs up with a comment
            answer.locator(".thumb.up").click()
            answer.locator(".comment").fill("Clear and cited.")
            answer.locator(".send-feedback").click()
            page.wait_for_function(
                "document.querySelector('.feedback-status').textContent.includes('saved')"
            )
            trace_id = answer.get_attribute("data-trace-id")
            shot = tmp_path / "web-ui.png"
            page.screenshot(path=str(shot), full_page=False)

            # regenerate: the same message streams a new answer with a new trace
            answer.locator(".regenerate").click()
            page.wait_for_selector(".msg.assistant[data-done=true]", timeout=60_000)
            assert answer.get_attribute("data-trace-id") != trace_id
            assert not errors, errors
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("RAGLINE_UPDATE_SCREENSHOTS"):  # refresh the docs' copy on request only
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    stored = server.context.rag.traces.list_feedback(FeedbackQuery(trace_ids=(trace_id,)))
    assert any(f.kind == "thumbs" and f.value == 1.0 for f in stored)
    assert any(f.comment == "Clear and cited." for f in stored)

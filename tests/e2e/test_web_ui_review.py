"""The Review page in headless Chromium (the harness of ``test_web_ui.py``) against a real
server whose ``server.review_dir`` holds a review file: the empty folder explains how to fill
it; then a reviewer opens the file, reads each pair with its passage and the cited span
marked, accepts and rejects with the keyboard (a, r, j, x) and the buttons, accepts a selection
in bulk, and the counts follow. The file on disk has every decision afterwards, its malformed
line kept, and its data card a ``review`` step per decision."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragline.data.review import REVIEW_STATES
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings
from ragline.testing.review_conformance import PASSAGE, read_lines, review_item, write_review_file

#: Read at import: the suite's autouse fixture clears RAGLINE_* variables before each test.
UPDATE_SCREENSHOTS = bool(os.environ.get("RAGLINE_UPDATE_SCREENSHOTS"))
DOCS_SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "web-ui-review.png"

sync_api = pytest.importorskip("playwright.sync_api", reason="run scripts/install-browser.sh")
pytestmark = pytest.mark.integration


@pytest.fixture
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("review-folder")


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory, folder: Path) -> Iterator[LiveServer]:
    """A server of its own per test: each starts with an empty review folder."""
    home = tmp_path_factory.mktemp("ui-review-home")
    settings = server_settings(home, trace={"enabled": False}, server={"review_dir": folder})
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Hot [1]."])})
    with running_server(settings, gateway=gateway) as live:
        yield live


def _items() -> list[dict]:
    at = PASSAGE.index("465 degrees")
    return [
        review_item(1),
        review_item(2, question="How hot is the surface of Venus?", answer="465 degrees"),
        review_item(3, question="What is near 465 degrees?", span=[at, at + 11]),
        review_item(4, question="Which planet is the coldest?", answer="Neptune"),
    ]


def counts(page) -> tuple[str, ...]:
    """The page's pending, accepted and rejected counts."""
    return tuple(page.locator(f"#review-n-{k}").inner_text() for k in REVIEW_STATES)


def test_review_page_accepts_and_rejects_into_the_file(
    server: LiveServer, folder: Path, tmp_path: Path, launch_browser
) -> None:
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/")
            page.click("#tab-review")
            assert page.get_attribute("#tab-review", "aria-pressed") == "true"
            assert page.get_attribute("#tab-chat", "aria-pressed") == "false"

            # an empty folder: the page says how to fill it
            page.wait_for_function(
                "document.querySelector('#review-files-status').textContent.includes('no review')"
            )
            assert page.locator("#review-empty").is_visible()
            assert "ragline data synth" in page.locator("#review-empty").inner_text()

            path = write_review_file(folder / "handbook.jsonl", _items(), bad={2: "{broken"})
            page.click("#review-refresh")
            entry = page.locator('#review-files .item[data-name="handbook.jsonl"]')
            entry.wait_for()
            assert "4 pending" in entry.inner_text() and "1 malformed" in entry.inner_text()
            assert page.locator("#review-count").inner_text() == "4"
            entry.click()
            page.wait_for_selector("#review-items .review-item[data-id=syn-4]")
            assert counts(page) == ("4", "0", "0")
            assert "line 3" in page.locator("#review-bad").inner_text()

            # each pair: question, answer, the passage with the cited span, the checks
            first = page.locator(".review-item[data-id=syn-1]")
            assert "Question 1" in first.locator(".review-question").inner_text()
            assert first.locator(".review-passage mark").inner_text() == "Venus"
            third_mark = page.locator(".review-item[data-id=syn-3] .review-passage mark")
            assert third_mark.inner_text() == "465 degrees"  # the item's own span
            assert page.locator(".review-item[data-id=syn-4] .review-passage mark").count() == 0
            checks = first.locator(".review-checks").inner_text()
            assert "answerable" in checks and "0.80" in checks
            assert "focused" in (first.get_attribute("class") or "")

            # keyboard: a accepts the focused pair and moves on; r rejects the next
            page.keyboard.press("a")
            page.wait_for_selector(".review-item[data-id=syn-1][data-review=accepted]")
            assert first.locator(".accept").get_attribute("aria-pressed") == "true"
            assert counts(page) == ("3", "1", "0")
            page.keyboard.press("r")
            page.wait_for_selector(".review-item[data-id=syn-2][data-review=rejected]")
            assert counts(page) == ("2", "1", "1")
            shot = tmp_path / "web-ui-review.png"
            page.screenshot(path=str(shot), full_page=False)

            # focus went on to the next pending pair; x selects, j/k move; bulk accept
            page.fill("#review-note", "bulk: both fine")
            page.keyboard.press("x")  # typed into the note: no pair is selected
            assert page.locator("#review-note").input_value() == "bulk: both finex"
            page.fill("#review-note", "bulk: both fine")
            page.locator("#review-note").blur()
            third = page.locator(".review-item[data-id=syn-3]")
            assert "focused" in (third.get_attribute("class") or "")
            page.keyboard.press("x")
            page.keyboard.press("j")
            page.keyboard.press("k")
            page.keyboard.press("j")
            page.keyboard.press("x")
            assert page.locator("#review-accept-selected").inner_text() == "Accept selected (2)"
            page.click("#review-accept-selected")
            page.wait_for_selector(".review-item[data-id=syn-4][data-review=accepted]")
            assert counts(page) == ("0", "3", "1")
            assert page.locator("#review-accept-selected").is_disabled()
            assert page.locator("#review-count").is_hidden()

            # a change of mind with the button; the filter shows what was decided
            page.click(".review-item[data-id=syn-2] .accept")
            page.wait_for_selector(".review-item[data-id=syn-2][data-review=accepted]")
            page.select_option("#review-filter", "rejected")
            page.wait_for_function(
                "document.querySelector('#review-status').textContent.includes('no rejected')"
            )
            page.select_option("#review-filter", "accepted")
            page.wait_for_selector("#review-items .review-item[data-id=syn-4]")
            assert page.locator("#review-items .review-item").count() == 4
            assert "4 accepted" in entry.inner_text()
            assert not errors, errors
        finally:
            browser.close()

    lines = read_lines(path)
    assert lines[2] == "{broken"  # the malformed line stays as it was
    decided = [json.loads(line) for i, line in enumerate(lines) if i != 2]
    assert [d["review"] for d in decided] == ["accepted"] * 4
    assert [d["question"] for d in decided] == [i["question"] for i in _items()]
    card = json.loads((folder / "handbook.card.json").read_text())
    assert card["steps"][0]["name"] == "review" and card["steps"][0]["notes"]["accepted"] == 4
    bulk = card["previous"][-1]["steps"][0]  # the decision before the last: the bulk accept
    assert bulk["params"]["accepted_now"] == 2 and bulk["params"]["note"] == "bulk: both fine"
    assert (
        "params" in card["previous"][0]["steps"][0]
        and "note" not in card["previous"][0]["steps"][0]["params"]
    )
    assert len(card["previous"]) == 3  # four decisions: three earlier review steps carried on
    assert shot.stat().st_size > 10_000
    if UPDATE_SCREENSHOTS:  # refresh the docs' copy on request only
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)


def test_show_more_after_decisions_skips_no_pair(
    server: LiveServer, folder: Path, launch_browser
) -> None:
    n = 53  # a page is 50 pairs
    path = write_review_file(folder / "long.jsonl", [review_item(i) for i in range(n)])
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url + "/#review")
            page.locator('#review-files .item[data-name="long.jsonl"]').click()
            page.wait_for_selector("#review-items .review-item[data-id=syn-49]")
            assert page.locator("#review-items .review-item").count() == 50
            for i in range(3):  # decided pairs leave the pending filter but stay on the page
                page.click(f".review-item[data-id=syn-{i}] .accept")
                page.wait_for_selector(f".review-item[data-id=syn-{i}][data-review=accepted]")
            page.click("#review-more")
            page.wait_for_selector("#review-items .review-item[data-id=syn-52]")
            ids = page.eval_on_selector_all(
                "#review-items .review-item", "els => els.map(e => e.dataset.id)"
            )
            assert ids == [f"syn-{i}" for i in range(n)]
            assert page.locator("#review-more").is_hidden()
            assert counts(page) == ("50", "3", "0")
            assert not errors, errors
        finally:
            browser.close()
    assert [json.loads(line)["review"] for line in read_lines(path)][:4] == [
        "accepted",
        "accepted",
        "accepted",
        None,
    ]


def test_a_server_without_a_review_dir_says_how_to_turn_it_on(
    tmp_path_factory: pytest.TempPathFactory,
    launch_browser,
) -> None:
    home = tmp_path_factory.mktemp("ui-review-off")
    settings = server_settings(home, trace={"enabled": False})
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Hot [1]."])})
    with (
        running_server(settings, gateway=gateway) as live,
        sync_api.sync_playwright() as p,
    ):
        browser = launch_browser(p)
        try:
            page = browser.new_page()
            page.goto(live.url + "/#review")
            page.wait_for_function(
                "document.querySelector('#review-empty-text').textContent.includes('review_dir')"
            )
            text = page.locator("#review-empty").inner_text()
            assert "server.review_dir is not set" in text and "RAGLINE_SERVER__REVIEW_DIR" in text
            assert page.locator("#review-file").is_hidden()
        finally:
            browser.close()

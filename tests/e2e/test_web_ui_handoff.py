"""The handoff inbox in headless Chromium (the harness of ``test_web_ui.py``), against a real
server and store: an operator opens the Handoff page, reads the thread, replies and closes; in
the chat, an answer handed to a person shows "handed to a person (item …)", then the person's
reply as it arrives, and the user's own message reaches the item.

The answer stream itself is replayed from a recorded body (``page.route``) in the shape the
guard flow sends — ``guard`` then ``done`` with ``decline_reason: "handoff"`` and
``handoff_id`` — so this test needs no model; everything after it (polling, the inbox
endpoints, the store) is real.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ragline.api import Ragline
from ragline.models.gateway import Gateway
from ragline.testing.chat_conformance import FakeChatModel
from ragline.testing.live_server import LiveServer, running_server, server_settings, write_corpus

#: Read at import: the suite's autouse fixture clears RAGLINE_* variables before each test.
UPDATE_SCREENSHOTS = bool(os.environ.get("RAGLINE_UPDATE_SCREENSHOTS"))
DOCS_SCREENSHOT = (
    Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "web-ui-handoff.png"
)

sync_api = pytest.importorskip("playwright.sync_api", reason="run scripts/install-browser.sh")
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    home = tmp_path_factory.mktemp("ui-handoff-home")
    settings = server_settings(home, trace={"enabled": False})
    with Ragline(settings) as rag:
        rag.ingest([write_corpus(home / "corpus")], collection="docs")
    gateway = Gateway(settings, models={"embedded": FakeChatModel(["Hot [1]."])})
    with running_server(settings, gateway=gateway) as live:
        yield live


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


def _handed_over_stream(item_id: str) -> str:
    decision = {
        "action": "handoff",
        "direction": "input",
        "decided_by": "topic",
        "reason": "cancellations are handled by a person",
        "flags": [],
        "guards": [],
    }
    text = "I have handed your question to a person."
    return (
        _sse("start", {"trace_id": "t" * 32, "model": "embedded", "collection": "docs"})
        + _sse("guard", decision)
        + _sse("answer", {"text": text})
        + _sse("citations", {"citations": []})
        + _sse(
            "done",
            {
                "finish_reason": "declined",
                "decline_reason": "handoff",
                "handoff_id": item_id,
                "trace_id": "t" * 32,
                "usage": {},
            },
        )
    )


def test_inbox_page_and_the_reply_in_the_chat(
    server: LiveServer, tmp_path: Path, launch_browser
) -> None:
    inbox = server.context.rag.handoffs
    item = inbox.open_item(
        question="Please cancel my contract",
        collection="docs",
        guard="topic",
        reason="topic guard: cancellations are handled by a person",
    )
    with sync_api.sync_playwright() as p:
        browser = launch_browser(p)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 820})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.route(
                "**/api/collections/docs/ask",
                lambda route: route.fulfill(
                    status=200,
                    headers={"content-type": "text/event-stream"},
                    body=_handed_over_stream(item.id),
                ),
            )
            page.goto(server.url + "/")
            page.wait_for_selector("#collection option[value=docs]", state="attached")

            # the chat: the answer is handed over; the chat says so and starts polling
            page.fill("#question", "Please cancel my contract")
            page.press("#question", "Enter")
            msg = page.locator(".msg.assistant[data-done=true]")
            msg.wait_for(timeout=15_000)
            assert msg.get_attribute("data-handoff-id") == item.id
            note = msg.locator(".handoff-note").inner_text()
            assert f"Handed to a person (item {item.id})" in note
            assert "cancellations are handled by a person" in note

            # the user adds a message while waiting: it reaches the item
            msg.locator(".handoff-input").fill("It is contract 42.")
            msg.locator(".handoff-send").click()
            msg.locator(".handoff-msg.user").wait_for(timeout=10_000)
            got = inbox.get_item(item.id)
            assert got is not None and got.messages[-1].text == "It is contract 42."

            # the operator's page: the open item is listed; its thread shows
            page.click("#tab-handoff")
            row = page.locator(f"#handoff-list .item[data-id={item.id}]")
            row.wait_for(timeout=10_000)
            assert "Please cancel my contract" in row.inner_text()
            assert page.locator("#handoff-count").inner_text() == "1"
            row.click()
            page.wait_for_selector(f"#handoff-thread[data-id={item.id}]")
            thread = page.locator("#thread-messages")
            assert "It is contract 42." in thread.inner_text()
            assert (
                "cancellations are handled by a person"
                in page.locator("#thread-facts").inner_text()
            )

            # reply: the thread and the list update
            page.fill("#reply-text", "Done: contract 42 is cancelled.")
            page.click("#reply-send")
            page.wait_for_selector("#thread-messages .hmsg.human")
            assert page.locator("#thread-status").inner_text() == "answered"
            page.select_option("#handoff-filter", "all")
            page.wait_for_selector(f"#handoff-list .item.active[data-id={item.id}]")
            shot = tmp_path / "web-ui-handoff.png"
            page.screenshot(path=str(shot), full_page=False)

            # back in the chat, the reply arrives at the next poll
            page.click("#tab-chat")
            reply = msg.locator(".handoff-msg.human")
            reply.wait_for(timeout=15_000)
            assert "Done: contract 42 is cancelled." in reply.inner_text()

            # a reply sent from elsewhere (the CLI, the REST API) arrives too
            with httpx.Client(base_url=server.url, timeout=30) as c:
                r = c.post(f"/api/handoff/{item.id}/reply", json={"text": "Anything else?"})
                assert r.status_code == 201
            page.wait_for_function(
                "document.querySelectorAll('.msg.assistant .handoff-msg.human').length === 2",
                timeout=15_000,
            )

            # the operator closes it: the page disables the reply, the chat stops polling
            page.click("#tab-handoff")
            page.select_option("#handoff-filter", "answered")  # answered: no longer open
            page.locator(f"#handoff-list .item[data-id={item.id}]").click()
            page.wait_for_selector(f"#handoff-thread[data-id={item.id}]")
            page.click("#thread-close")
            page.wait_for_selector("#handoff-thread[data-status=closed]")
            assert page.locator("#reply-send").is_disabled()
            page.wait_for_function(
                "document.querySelector('#handoff-list-status').textContent.includes('no answered')"
            )
            page.click("#tab-chat")
            page.wait_for_selector(".msg.assistant[data-handoff-status=closed]", timeout=15_000)
            assert msg.locator(".handoff-compose").is_hidden()
            assert "closed" in msg.locator(".handoff-msg.system").last.inner_text()
            assert not errors, errors
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    if UPDATE_SCREENSHOTS:  # refresh the docs' copy on request only
        DOCS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, DOCS_SCREENSHOT)
    final = inbox.get_item(item.id)
    assert final is not None and final.status == "closed"
    assert [m.role for m in final.messages] == [
        "user",
        "system",
        "user",
        "human",
        "human",
        "system",
    ]

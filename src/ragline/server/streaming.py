"""Streams that stop when the client goes away.

:func:`stream_in_thread` runs a blocking generator (a gateway or answer stream) in a worker
thread and hands its items to the event loop, through
:func:`ragline.models.chat.iterate_in_thread`. When the consumer stops early — the client
disconnected, the task was cancelled — a flag is set, the worker stops pulling items and
*closes* the generator, which runs its ``finally`` blocks (llama.cpp frees the context
lock, an HTTP provider closes its connection). The consumer's ``finally`` waits until the
worker has really stopped, so the generation slot is released only after the model is idle.
A slow client holds the worker back after a few dozen unread items (bounded backpressure).

:func:`sse` is the one server-sent-event encoder of the package (``event:`` / ``data:``
lines, compact JSON, ``data: [DONE]`` as the OpenAI API ends a stream): the REST answer
stream (:func:`event_frames`) and the OpenAI-compatible stream
(``ragline.server.routes.openai``) both write through it. :class:`EventStreamResponse` sends
them and watches the connection while it does: on ``http.disconnect`` it stops the stream at
once instead of waiting for the next write to fail.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from ragline.answer.events import AnswerDone, Event
from ragline.models.chat import iterate_in_thread

T = TypeVar("T")


def stream_in_thread(
    factory: Callable[[], Iterator[T]], *, on_stop: Callable[[bool], None] | None = None
) -> AsyncIterator[T]:
    """Items of ``factory()`` (called in the worker thread), pulled one by one.

    ``on_stop(cancelled)`` runs in the worker after the generator is closed. This is
    :func:`ragline.models.chat.iterate_in_thread`, the one thread bridge of the package.
    """
    return iterate_in_thread(
        lambda _cancel: factory(), on_stop=on_stop, thread_name="ragline-generation"
    )


def sse(data: Any, event: str | None = None) -> bytes:
    """One server-sent event: ``data`` as compact JSON, named ``event`` (None: unnamed, as the
    OpenAI API streams). A string is sent as is, on one line (:data:`SSE_DONE`)."""
    if isinstance(data, str):
        if "\n" in data or "\r" in data:
            raise ValueError("a raw server-sent event payload must be one line")
        payload = data
    else:
        payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


#: The OpenAI API's end of stream.
SSE_DONE = sse("[DONE]")


def event_frames(event: Event) -> bytes:
    """An answer event as the REST stream (``/api/collections/{name}/ask``) sends it: named
    ``event.kind``, with ``event.to_dict()`` as data, so an event this module has never heard
    of (a new kind of the vocabulary) reaches clients too, which skip names they do not know.

    The end of an answer is three events, in this order: ``answer`` (the checked text, which
    replaces the draft), ``citations`` (the passages, each ``cited`` or not), ``done``."""
    if isinstance(event, AnswerDone):
        return (
            sse({"text": event.text}, "answer")
            + sse({"citations": event.citations()}, "citations")
            + sse(event.to_dict(), event.kind)
        )
    return sse(event.to_dict(), event.kind)


class EventStreamResponse(Response):
    """A response sending ``events`` (bytes) as ``text/event-stream``.

    ``on_close(disconnected)`` runs last, whatever happened (release the generation slot).
    """

    media_type = "text/event-stream"

    def __init__(
        self,
        events: AsyncIterator[bytes],
        *,
        on_close: Callable[[bool], None] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.events = events
        self.on_close = on_close
        self.status_code = 200
        self.background = None
        self.init_headers(
            {"cache-control": "no-cache", "x-accel-buffering": "no", **(headers or {})}
        )
        self.disconnected = False

    async def _send_all(self, send: Send, scope: anyio.CancelScope) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
        try:
            async for chunk in self.events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except OSError:  # the transport is gone
            self.disconnected = True
        scope.cancel()

    async def _watch(self, receive: Receive, scope: anyio.CancelScope) -> None:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                self.disconnected = True
                scope.cancel()
                return

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._send_all, send, tg.cancel_scope)
                tg.start_soon(self._watch, receive, tg.cancel_scope)
        finally:
            aclose = getattr(self.events, "aclose", None)
            if aclose is not None:
                with anyio.CancelScope(shield=True):
                    await aclose()
            if self.on_close is not None:
                self.on_close(self.disconnected)


__all__ = ["SSE_DONE", "EventStreamResponse", "event_frames", "sse", "stream_in_thread"]

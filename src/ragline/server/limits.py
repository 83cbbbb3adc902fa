"""Request-body limits, enforced while the body arrives (not after it was spooled to disk).

Multipart uploads may be ``server.max_upload_bytes``, other bodies ``server.max_json_bytes``.
A declared ``Content-Length`` over the limit is refused before a byte is read; a chunked
body is counted as it streams and refused the moment it passes the limit. Either way the
answer is a 413 problem from :mod:`ragline.server.problems`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ragline.server.problems import PayloadTooLargeError, problem_response


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, *, json_limit: int, upload_limit: int) -> None:
        self.app = app
        self.json_limit = json_limit
        self.upload_limit = upload_limit

    def _error(self, limit: int, multipart: bool) -> PayloadTooLargeError:
        what = "upload" if multipart else "request body"
        setting = "max_upload_bytes" if multipart else "max_json_bytes"
        return PayloadTooLargeError(
            f"the {what} is over the server's limit of {limit:,} bytes",
            hint=f"send less at once (split files or batches), or raise "
            f"RAGLINE_SERVER__{setting.upper()}",
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        multipart = headers.get(b"content-type", b"").startswith(b"multipart/")
        limit = self.upload_limit if multipart else self.json_limit
        path = scope.get("path", "")
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await problem_response(self._error(limit, multipart), path)(scope, receive, send)
            return
        seen = 0
        exceeded = False
        started = False

        async def limited_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    exceeded = True
                    raise self._error(limit, multipart)
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to the cut body is replaced by the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
        if exceeded and not started:
            await problem_response(self._error(limit, multipart), path)(scope, receive, send)


__all__ = ["BodyLimitMiddleware"]

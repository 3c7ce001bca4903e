"""Checks on every request made before routing (pure ASGI): a cap on bodies, enforced while
they stream in, and no NUL characters in URLs."""

from collections.abc import Mapping

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from relaydesk.errors import problem


class _BodyTooLarge(HTTPException):
    """Raised while the body streams in; an HTTPException, so routes reading the body let it
    through to the error handlers (which answer 413 problem+json)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"The request body is larger than {max_bytes} bytes.")


class BodySizeLimit:
    """Answers 413 `request_too_large` to bodies over `max_bytes`, without reading them whole.

    Paths in `larger_bodies` (uploads) have their own cap; their routes check finer limits.
    """

    def __init__(
        self, app: ASGIApp, max_bytes: int, larger_bodies: Mapping[str, int] | None = None
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.larger_bodies = dict(larger_bodies or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        max_bytes = self.larger_bodies.get(scope["path"], self.max_bytes)
        declared = dict(scope["headers"]).get(b"content-length", b"0")
        # A body declared too large is refused at its first read, before any of it arrives.
        declared_too_large = not declared.isdigit() or int(declared) > max_bytes
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            if declared_too_large:
                raise _BodyTooLarge(max_bytes)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_bytes:
                    raise _BodyTooLarge(max_bytes)
            return message

        await self.app(scope, counting_receive, send)


class RefuseNulInUrl:
    """Answers 422 to a URL holding a NUL character, which no name, id or search term has
    and PostgreSQL refuses to store or compare (it would surface as a 500, or cut a CSV
    download short once streaming has begun)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and (
            "\x00" in scope["path"] or b"%00" in scope["query_string"]
        ):
            response = problem(422, "validation_error", "The address holds a NUL character.")
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

"""The one error type, rendered as application/problem+json (or an HTML page for pages)."""

from collections.abc import Awaitable, Callable, Mapping
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from relaydesk.headers import add_security_headers

PROBLEM_JSON = "application/problem+json"

log = structlog.get_logger(__name__)


class AppError(Exception):
    """An error a client can cause; `code` is the stable string clients switch on."""

    status: int = 400
    code: str = "bad_request"

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.status = status or self.status
        self.code = code or self.code
        self.detail = detail or HTTPStatus(self.status).phrase
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class Unauthenticated(AppError):
    status = 401
    code = "unauthenticated"


class PermissionDenied(AppError):
    status = 403
    code = "permission_denied"


class NotFound(AppError):
    status = 404
    code = "not_found"


class Conflict(AppError):
    status = 409
    code = "conflict"


class InvalidInput(AppError):
    status = 422
    code = "validation_error"


def invalid_field(field: str, msg: str) -> InvalidInput:
    """A 422 about one field of the request body, shaped like the body checks' own."""
    return InvalidInput(msg, extra={"errors": [{"loc": ["body", field], "msg": msg}]})


class RateLimited(AppError):
    status = 429
    code = "rate_limited"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(
            detail or "Too many attempts. Try again later.",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


def problem(status: int, code: str, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"urn:relaydesk:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON)


def wants_html(request: Request) -> bool:
    """Pages answer errors with HTML; the API and its documents with problem+json."""
    path = request.url.path
    return not (path.startswith("/api/") or path == "/openapi.json")


_STATUS_CODES = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}


HtmlErrorRenderer = Callable[[Request, AppError], Awaitable[Response]]


def install_error_handlers(app: FastAPI, render_html: HtmlErrorRenderer) -> None:
    """Every error leaves as problem+json, or through `render_html` for pages."""

    async def on_app_error(request: Request, exc: AppError) -> Response:
        if wants_html(request):
            return await render_html(request, exc)
        response = problem(exc.status, exc.code, exc.detail, **exc.extra)
        response.headers.update(exc.headers)
        if exc.status == 401:
            response.headers.setdefault("WWW-Authenticate", "Bearer")
        return response

    async def on_validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(part) for part in error["loc"]], "msg": error["msg"]}
            for error in exc.errors()
        ]
        return await on_app_error(
            request, InvalidInput("The request is not valid.", extra={"errors": errors})
        )

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        code = _STATUS_CODES.get(exc.status_code, HTTPStatus(exc.status_code).name.lower())
        detail = exc.detail if isinstance(exc.detail, str) else None
        error = AppError(detail, code=code, status=exc.status_code, headers=exc.headers)
        return await on_app_error(request, error)

    async def on_database_error(request: Request, exc: DBAPIError) -> Response:
        # PostgreSQL refuses text holding NUL (SQLSTATE 22021), which JSON and forms can carry.
        if getattr(exc.orig, "sqlstate", None) == "22021":
            return await on_app_error(request, InvalidInput("Text must not hold NUL characters."))
        return await on_unexpected_error(request, exc)

    async def on_unexpected_error(request: Request, exc: Exception) -> Response:
        log.exception("unhandled_error", path=request.url.path)
        error = AppError("Something went wrong.", code="internal_error", status=500)
        # Starlette answers this outside every middleware, so the headers are added here.
        return add_security_headers(await on_app_error(request, error))

    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected_error)

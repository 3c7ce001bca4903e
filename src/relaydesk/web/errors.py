"""Errors on pages: sign in first, or a plain page saying what went wrong."""

from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from relaydesk.errors import AppError
from relaydesk.web.templating import render


async def error_page(request: Request, error: AppError) -> Response:
    if error.status == 401:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target)}", status_code=303)
    return render(
        request,
        "errors/error.html",
        status_code=error.status,
        headers=error.headers,
        error=error,
    )

"""Rendering pages: the layout needs the signed-in staff member, navigation and CSRF token."""

import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from relaydesk.auth.deps import SESSION_COOKIE
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.auth.secrets import csrf_token
from relaydesk.web.navigation import areas_for, current_path, home_path

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def from_htmx(request: Request) -> bool:
    """Whether htmx sent the request (it swaps a fragment in) rather than a plain form."""
    return request.headers.get("HX-Request") == "true"


def uuid_or_none(text: str) -> uuid.UUID | None:
    """An id from a form or query field; anything else is no id."""
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def render(
    request: Request,
    template: str,
    *,
    staff: StaffPrincipal | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    session_token = request.cookies.get(SESSION_COOKIE)
    areas = areas_for(staff) if staff else []
    layout = {
        "staff": staff,
        "areas": areas,
        "current_path": current_path(areas, request.url.path),
        "home": home_path(staff) if staff else "/login",
        "csrf_token": (
            csrf_token(request.app.state.settings.signing_key, session_token)
            if staff and session_token
            else ""
        ),
    }
    if staff:
        # A signed-in page must not come back from the browser's cache after signing out.
        headers = {**(headers or {}), "Cache-Control": "no-store"}
    return templates.TemplateResponse(
        request, template, layout | context, status_code=status_code, headers=headers
    )

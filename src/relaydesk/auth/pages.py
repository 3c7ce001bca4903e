"""Signing in and out in the browser."""

from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from relaydesk.auth import service
from relaydesk.auth.api import client_ip
from relaydesk.auth.deps import SESSION_COOKIE, StaffDep
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.errors import AppError
from relaydesk.web.navigation import home_path
from relaydesk.web.templating import render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str) -> str | None:
    """Only paths on this site, so the sign-in page cannot bounce anyone elsewhere."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else None


@router.get("/login", name="auth:login")
async def login_form(request: Request, session: SessionDep, next: str = "") -> Response:
    session_token = request.cookies.get(SESSION_COOKIE)
    staff = session_token and await service.staff_from_session_token(session, session_token)
    if staff:
        return RedirectResponse(_safe_next(next) or home_path(staff), status_code=303)
    return render(request, "auth/login.html", next=next, email="")


@router.post("/login")
async def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form(""),
) -> Response:
    try:
        if not email.strip() or not password:
            raise AppError("Enter your e-mail and password.", code="validation_error", status=422)
        staff = await service.sign_in(
            session,
            settings,
            request.app.state.failure_counter,
            email=email,
            password=password,
            client_ip=client_ip(request),
        )
    except AppError as error:
        return render(
            request,
            "auth/login.html",
            status_code=error.status,
            headers=error.headers,
            error=error.detail,
            email=email,
            next=next,
        )
    token = await service.start_web_session(
        session, staff, ttl=timedelta(hours=settings.session_ttl_hours)
    )
    response = RedirectResponse(_safe_next(next) or home_path(staff), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.session_ttl_hours * 3600,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies or request.url.scheme == "https",
    )
    return response


@router.post("/logout", name="auth:logout")
async def logout(request: Request, session: SessionDep, _staff: StaffDep) -> Response:
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token:
        await service.end_web_session(session, session_token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="lax")
    return response

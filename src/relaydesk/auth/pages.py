"""Signing in and out in the browser, and setting a password from an e-mailed link."""

from datetime import timedelta

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from relaydesk.auth import links, service
from relaydesk.auth.api import client_ip
from relaydesk.auth.deps import SESSION_COOKIE, StaffDep
from relaydesk.auth.models import StaffUser
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.errors import AppError, InvalidInput
from relaydesk.web.navigation import home_path
from relaydesk.web.templating import render

router = APIRouter(include_in_schema=False)

# The link's token is in the address of these pages: the browser must not keep them.
NO_STORE = {"Cache-Control": "no-store"}
PASSWORD_SET = "Your password is set. Sign in."
RESET_REQUESTED = "If an account exists for that address, we've sent a link."
MAX_EMAIL_LENGTH = 254


def _safe_next(target: str) -> str | None:
    """Only paths on this site, so the sign-in page cannot bounce anyone elsewhere."""
    return target if target.startswith("/") and not target.startswith(("//", "/\\")) else None


@router.get("/login", name="auth:login")
async def login_form(
    request: Request, session: SessionDep, next: str = "", password_set: bool = False
) -> Response:
    session_token = request.cookies.get(SESSION_COOKIE)
    staff = session_token and await service.staff_from_session_token(session, session_token)
    if staff:
        return RedirectResponse(_safe_next(next) or home_path(staff), status_code=303)
    notice = PASSWORD_SET if password_set else None
    return render(request, "auth/login.html", next=next, email="", notice=notice)


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


def _set_password_form(
    request: Request, holder: StaffUser, *, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    return render(
        request,
        "auth/set_password.html",
        holder=holder,
        error=error,
        status_code=status_code,
        headers=NO_STORE,
    )


def _unusable_link(request: Request, error: AppError) -> HTMLResponse:
    """Expired, used, unknown, or the account is disabled: say so and offer a new link."""
    return render(
        request,
        "auth/link_unusable.html",
        error=error.detail,
        status_code=error.status,
        headers=NO_STORE,
    )


@router.get("/set-password/{token}", name="auth:set_password")
async def set_password_form(request: Request, session: SessionDep, token: str) -> Response:
    try:
        holder = await links.password_link_holder(session, token)
    except AppError as error:
        return _unusable_link(request, error)
    return _set_password_form(request, holder)


@router.post("/set-password/{token}")
async def set_password(
    request: Request,
    session: SessionDep,
    token: str,
    password: str = Form(""),
    password_repeat: str = Form(""),
) -> Response:
    """Sets the password and sends the holder to sign in with it."""
    try:
        holder = await links.password_link_holder(session, token)
    except AppError as error:
        return _unusable_link(request, error)
    try:
        if password != password_repeat:
            raise InvalidInput("The two passwords are not the same.")
        await links.set_password_with_link(session, token, password)
    except InvalidInput as error:
        return _set_password_form(request, holder, error=error.detail, status_code=error.status)
    except AppError as error:  # used up by another request a moment ago
        return _unusable_link(request, error)
    return RedirectResponse("/login?password_set=true", status_code=303)


@router.get("/forgot-password", name="auth:forgot_password")
async def forgot_password_form(request: Request) -> Response:
    return render(request, "auth/forgot_password.html", email="")


@router.post("/forgot-password")
async def forgot_password(
    request: Request, session: SessionDep, settings: SettingsDep, email: str = Form("")
) -> Response:
    """Answers the same whether or not the address has an account, so it reveals none."""
    try:
        if not email.strip() or len(email) > MAX_EMAIL_LENGTH:
            raise InvalidInput("Enter your e-mail address.")
        await links.request_password_reset(
            session,
            settings,
            request.app.state.failure_counter,
            email=email,
            client_ip=client_ip(request),
        )
    except AppError as error:
        return render(
            request,
            "auth/forgot_password.html",
            status_code=error.status,
            headers=error.headers,
            error=error.detail,
            email=email,
        )
    return render(request, "auth/forgot_password.html", email="", notice=RESET_REQUESTED)

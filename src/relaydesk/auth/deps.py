"""Who is calling, and the one permission check."""

from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from relaydesk.auth import service
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.auth.secrets import csrf_token_matches
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.errors import PermissionDenied, Unauthenticated

SESSION_COOKIE = "relaydesk_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_credentials(request: HTTPConnection) -> str | None:
    authorization = request.headers.get("Authorization")
    if authorization is None:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer" or not credentials.strip():
        raise Unauthenticated("Use 'Authorization: Bearer <token>'.")
    return credentials.strip()


async def _check_csrf(request: Request, signing_key: bytes, session_token: str) -> None:
    presented = request.headers.get(CSRF_HEADER)
    # Only plain forms carry the token as a field: reading a multipart body here would take
    # the stream an upload route reads itself.
    if presented is None and request.headers.get("content-type", "").startswith(
        "application/x-www-form-urlencoded"
    ):
        field = (await request.form()).get(CSRF_FIELD)
        presented = field if isinstance(field, str) else None
    if not presented or not csrf_token_matches(signing_key, session_token, presented):
        raise PermissionDenied(
            "The CSRF token is missing or wrong. Reload the page.", code="csrf_failed"
        )


async def principal_from_bearer(
    connection: HTTPConnection, session: AsyncSession, token: str
) -> Principal:
    """The end user of a JWT, or the staff member of an API token."""
    if token.count(".") == 2:
        return await service.end_user_from_token(
            session, token, connection.app.state.verified_tokens
        )
    staff = await service.staff_from_api_token(session, token)
    if staff is None:
        raise Unauthenticated("The token is not valid or has expired.")
    return staff


async def get_principal(request: Request, session: SessionDep, settings: SettingsDep) -> Principal:
    """A bearer token (API token or end-user JWT), else the session cookie with CSRF check."""
    token = bearer_credentials(request)
    if token is not None:
        return await principal_from_bearer(request, session, token)
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token:
        staff = await service.staff_from_session_token(session, session_token)
        if staff is not None:
            if request.method not in SAFE_METHODS:
                await _check_csrf(request, settings.signing_key, session_token)
            return staff
    raise Unauthenticated("Sign in first.")


async def get_staff(principal: Annotated[Principal, Depends(get_principal)]) -> StaffPrincipal:
    if not isinstance(principal, StaffPrincipal):
        raise PermissionDenied("This needs a staff account.")
    return principal


async def get_end_user(principal: Annotated[Principal, Depends(get_principal)]) -> EndUserPrincipal:
    if not isinstance(principal, EndUserPrincipal):
        raise PermissionDenied("This needs an end user's token.")
    return principal


StaffDep = Annotated[StaffPrincipal, Depends(get_staff)]
EndUserDep = Annotated[EndUserPrincipal, Depends(get_end_user)]


def require(*permissions: Permission) -> Any:
    """The one permission check, used as a route parameter's type: `staff: require(P.X)`.

    With several permissions, any one of them will do. Staff without get 403
    `permission_denied`; anyone else as for `StaffDep`.
    """

    async def check(staff: StaffDep) -> StaffPrincipal:
        if not any(staff.can(permission) for permission in permissions):
            needed = " or ".join(str(permission) for permission in permissions)
            raise PermissionDenied(f"This needs the {needed} permission.")
        return staff

    return Annotated[StaffPrincipal, Depends(check)]

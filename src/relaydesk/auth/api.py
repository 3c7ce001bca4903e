from datetime import timedelta

from fastapi import APIRouter, Request, Response

from relaydesk.auth import schemas, service
from relaydesk.auth.deps import StaffDep, bearer_credentials
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.errors import Unauthenticated

router = APIRouter(prefix="/api/v1", tags=["auth"])


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/token", response_model=schemas.IssuedToken)
async def create_token(
    credentials: schemas.Credentials, request: Request, session: SessionDep, settings: SettingsDep
) -> schemas.IssuedToken:
    """Exchanges e-mail and password for a bearer token."""
    staff = await service.sign_in(
        session,
        settings,
        request.app.state.failure_counter,
        email=credentials.email,
        password=credentials.password,
        client_ip=client_ip(request),
    )
    token, api_token = await service.issue_api_token(
        session, staff, ttl=timedelta(days=settings.api_token_ttl_days)
    )
    return schemas.IssuedToken(
        access_token=token, expires_at=api_token.expires_at, user=schemas.Me.of(staff)
    )


@router.delete("/auth/token", status_code=204)
async def delete_token(request: Request, session: SessionDep, _staff: StaffDep) -> Response:
    """Revokes the bearer token the request presents."""
    token = bearer_credentials(request)
    if token is None:
        raise Unauthenticated("Present the bearer token to revoke.")
    await service.revoke_api_token(session, token)
    return Response(status_code=204)


@router.get("/me", response_model=schemas.Me)
async def me(staff: StaffDep) -> schemas.Me:
    return schemas.Me.of(staff)

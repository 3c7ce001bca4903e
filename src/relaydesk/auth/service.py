"""Signing staff in and out, and turning credentials into principals."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from sqlalchemy import Select, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.models import ApiToken, PasswordLink, StaffUser, WebSession
from relaydesk.auth.passwords import hash_password, verify_password
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import EndUserPrincipal, StaffPrincipal
from relaydesk.auth.secrets import API_TOKEN_PREFIX, digest, new_token
from relaydesk.auth.verified_tokens import VerifiedTokens
from relaydesk.clock import now
from relaydesk.config import Settings
from relaydesk.db import unique_or
from relaydesk.errors import Conflict, InvalidInput, PermissionDenied, RateLimited, Unauthenticated
from relaydesk.ratelimit import FailureCounter
from relaydesk.tenancy.models import EndUser, Partner, PartnerStatus, Tenant
from relaydesk.tenancy.service import end_user_from_claims, get_partner

MIN_PASSWORD_LENGTH = 8
# Argon2 takes any length; a cap keeps one request from hashing megabytes.
MAX_PASSWORD_LENGTH = 1024


def principal_of(user: StaffUser) -> StaffPrincipal:
    """The principal a signed-in staff user acts as."""
    return StaffPrincipal(
        id=user.id,
        tenant_id=user.tenant_id,
        partner_id=user.partner_id,
        email=user.email,
        name=user.name,
        role=user.role,
    )


def check_password_rule(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"A password needs at least {MIN_PASSWORD_LENGTH} characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"A password can have at most {MAX_PASSWORD_LENGTH} characters.")


def usable_staff() -> Select[tuple[StaffUser]]:
    """Active staff whose partner, if any, is active: everyone else is shut out."""
    return (
        select(StaffUser)
        .outerjoin(Partner, Partner.id == StaffUser.partner_id)
        .where(
            StaffUser.is_active.is_(True),
            (StaffUser.partner_id.is_(None)) | (Partner.status == PartnerStatus.ACTIVE),
        )
    )


async def create_staff_user(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    partner_id: uuid.UUID | None,
    role: Role,
    email: str,
    name: str,
    password: str | None,
    actor: StaffPrincipal | None = None,
) -> StaffUser:
    """A tenant or partner staff member; partner roles need a partner of the same tenant."""
    if role.is_partner_role != (partner_id is not None):
        raise InvalidInput(
            f"The role {role} {'needs a' if role.is_partner_role else 'takes no'} partner."
        )
    if partner_id is not None and (await get_partner(session, partner_id)).tenant_id != tenant_id:
        raise InvalidInput("That partner belongs to another tenant.")
    if password is not None:
        check_password_rule(password)
    email = email.strip().lower()
    taken = Conflict(f"{email} already has an account.", code="email_taken")
    if await session.scalar(select(StaffUser.id).where(StaffUser.email == email)):
        raise taken
    user = StaffUser(
        tenant_id=tenant_id,
        partner_id=partner_id,
        role=role,
        email=email,
        name=name.strip(),
        password_hash=await hash_password(password) if password else None,
    )
    async with unique_or(session, taken):
        session.add(user)
    await record(
        session,
        actor,
        "staff.created",
        tenant_id=tenant_id,
        partner_id=partner_id,
        subject_type="staff_user",
        subject_id=user.id,
        data={"role": str(role)},
    )
    return user


async def sign_in(
    session: AsyncSession,
    settings: Settings,
    failures: FailureCounter,
    *,
    email: str,
    password: str,
    client_ip: str,
) -> StaffPrincipal:
    """Checks a password, throttling repeated failures per address and per address+account."""
    email = email.strip().lower()
    account_key, address_key = f"login:{client_ip}:{email}", f"login:{client_ip}"
    for key, limit in (
        (account_key, settings.login_max_failures),
        (address_key, settings.login_max_failures_per_ip),
    ):
        count, retry_after = await failures.failures(key)
        if count >= limit:
            raise RateLimited(retry_after)

    user = await session.scalar(select(StaffUser).where(StaffUser.email == email))
    if not await verify_password(user.password_hash if user else None, password):
        for key in (account_key, address_key):
            await failures.add_failure(key, settings.login_failure_window_seconds)
        raise Unauthenticated("Wrong e-mail or password.", code="invalid_credentials")
    assert user is not None
    await failures.reset(account_key)
    if not await session.scalar(usable_staff().where(StaffUser.id == user.id)):
        raise PermissionDenied("This account is disabled.", code="account_disabled")
    user.last_login_at = now()
    await record(
        session,
        principal_of(user),
        "staff.signed_in",
        tenant_id=user.tenant_id,
        partner_id=user.partner_id,
        subject_type="staff_user",
        subject_id=user.id,
    )
    return principal_of(user)


async def start_web_session(session: AsyncSession, staff: StaffPrincipal, *, ttl: timedelta) -> str:
    """A new browser session; returns the token for the cookie."""
    token = new_token()
    session.add(WebSession(user_id=staff.id, token_hash=digest(token), expires_at=now() + ttl))
    return token


async def sign_out_everywhere(session: AsyncSession, user_id: uuid.UUID) -> None:
    """Ends every browser session and API token of a user."""
    await session.execute(delete(WebSession).where(WebSession.user_id == user_id))
    await session.execute(delete(ApiToken).where(ApiToken.user_id == user_id))


async def end_web_session(session: AsyncSession, token: str) -> None:
    await session.execute(delete(WebSession).where(WebSession.token_hash == digest(token)))


async def issue_api_token(
    session: AsyncSession, staff: StaffPrincipal, *, ttl: timedelta
) -> tuple[str, ApiToken]:
    """A new bearer token; returns it (shown once, never stored) and its row."""
    token = new_token(API_TOKEN_PREFIX)
    api_token = ApiToken(user_id=staff.id, token_hash=digest(token), expires_at=now() + ttl)
    session.add(api_token)
    return token, api_token


async def revoke_api_token(session: AsyncSession, token: str) -> None:
    await session.execute(delete(ApiToken).where(ApiToken.token_hash == digest(token)))


async def staff_from_session_token(session: AsyncSession, token: str) -> StaffPrincipal | None:
    user = await session.scalar(
        usable_staff()
        .join(WebSession, WebSession.user_id == StaffUser.id)
        .where(WebSession.token_hash == digest(token), WebSession.expires_at > now())
    )
    return principal_of(user) if user else None


async def staff_from_api_token(session: AsyncSession, token: str) -> StaffPrincipal | None:
    user = await session.scalar(
        usable_staff()
        .join(ApiToken, ApiToken.user_id == StaffUser.id)
        .where(ApiToken.token_hash == digest(token), ApiToken.expires_at > now())
    )
    return principal_of(user) if user else None


async def purge_expired_credentials(session: AsyncSession) -> None:
    """Drops expired sessions, tokens and password links, which no longer work."""
    moment = now()
    for credential in (WebSession, ApiToken, PasswordLink):
        await session.execute(delete(credential).where(credential.expires_at <= moment))


def _end_user_claims(token: str, secret: str) -> dict[str, Any]:
    claims = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        options={"require": ["sub", "name", "exp"], "verify_exp": False, "verify_aud": False},
    )
    if not isinstance(claims["exp"], int | float) or claims["exp"] <= now().timestamp():
        raise jwt.ExpiredSignatureError("expired")
    if not str(claims["sub"]).strip() or not str(claims["name"]).strip():
        raise jwt.InvalidTokenError("empty sub or name")
    return claims


async def end_user_from_token(
    session: AsyncSession, token: str, verified: VerifiedTokens
) -> EndUserPrincipal:
    """Verifies an end user's token with its tenant's secret and returns that end user.

    A token with an `iss` claim must be signed by the tenant with that slug (a token of one
    tenant cannot pass for another's); one without is checked against each tenant's secret,
    as only one of them can have signed it.
    """
    if (end_user := verified.get(token)) is not None:
        return end_user
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.InvalidTokenError as exc:
        raise Unauthenticated("The token is malformed.") from exc
    # The end user is read along with their tenant, and trusted only once the signature holds.
    candidates = select(Tenant, EndUser).outerjoin(
        EndUser,
        (EndUser.tenant_id == Tenant.id) & (EndUser.external_id == str(unverified.get("sub"))),
    )
    if unverified.get("iss") is not None:
        candidates = candidates.where(Tenant.slug == str(unverified["iss"]))
    for tenant, known in await session.execute(candidates):
        try:
            claims = _end_user_claims(token, tenant.end_user_secret)
        except jwt.InvalidSignatureError:
            continue
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("The token has expired.") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"The token is not valid: {exc}.") from exc
        end_user = await end_user_from_claims(session, tenant.id, claims, known)
        principal = EndUserPrincipal(
            id=end_user.id,
            tenant_id=tenant.id,
            external_id=end_user.external_id,
            name=end_user.name,
        )
        if known is not None and not session.is_modified(known):
            verified.remember(token, principal, datetime.fromtimestamp(claims["exp"], UTC))
        return principal
    raise Unauthenticated("The token is not signed by a known tenant.")


def end_user_token(tenant: Tenant, *, sub: str, name: str, ttl_seconds: int, **claims: str) -> str:
    """An end-user token as the tenant's app would sign it (CLI, demo and tests)."""
    if not sub.strip() or not name.strip():
        raise InvalidInput("An end-user token needs a non-blank sub and name.")
    payload = {
        "iss": tenant.slug,
        "sub": sub,
        "name": name,
        "exp": int(now().timestamp()) + ttl_seconds,
    }
    return jwt.encode(payload | claims, tenant.end_user_secret, algorithm="HS256")

"""Single-use e-mailed links that set a password: invitations and resets (SU-1).

A link holds a random token; the database keeps only its digest. Using a link deletes its row
in the same statement that checks it (`DELETE … RETURNING`), so two requests racing with one
link cannot both set a password.
"""

from datetime import timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.models import PasswordLink, PasswordLinkPurpose, StaffUser
from relaydesk.auth.passwords import hash_password
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.auth.secrets import digest, new_token
from relaydesk.auth.service import (
    check_password_rule,
    principal_of,
    sign_out_everywhere,
    usable_staff,
)
from relaydesk.clock import now
from relaydesk.config import Settings
from relaydesk.errors import AppError, PermissionDenied, RateLimited
from relaydesk.notify.service import queue_email
from relaydesk.ratelimit import FailureCounter

# How long a link works; mails say so, hence public.
LINK_TTL_HOURS: dict[PasswordLinkPurpose, int] = {
    PasswordLinkPurpose.INVITATION: 7 * 24,
    PasswordLinkPurpose.RESET: 2,
}
SET_PASSWORD_PATH = "/set-password/"


class LinkExpired(AppError):
    """Unknown, expired and used links look the same: the holder learns nothing more."""

    status = 410
    code = "link_expired"

    def __init__(self) -> None:
        super().__init__("This link has expired or was already used.")


async def issue_password_link(
    session: AsyncSession, user: StaffUser, purpose: PasswordLinkPurpose
) -> str:
    """A new link for `user`, as a path to put after the base URL; older unused links of the
    same purpose stop working."""
    await session.execute(
        delete(PasswordLink).where(PasswordLink.user_id == user.id, PasswordLink.purpose == purpose)
    )
    token = new_token()
    session.add(
        PasswordLink(
            user_id=user.id,
            purpose=purpose,
            token_hash=digest(token),
            expires_at=now() + timedelta(hours=LINK_TTL_HOURS[purpose]),
        )
    )
    return SET_PASSWORD_PATH + token


async def password_link_holder(session: AsyncSession, token: str) -> StaffUser:
    """Whom a link sets the password of, without using it up (the form shows it)."""
    user = await session.scalar(
        select(StaffUser)
        .join(PasswordLink, PasswordLink.user_id == StaffUser.id)
        .where(PasswordLink.token_hash == digest(token), PasswordLink.expires_at > now())
    )
    if user is None:
        raise LinkExpired()
    if not await session.scalar(usable_staff().where(StaffUser.id == user.id)):
        raise PermissionDenied("This account is disabled.", code="account_disabled")
    return user


async def set_password_with_link(
    session: AsyncSession, token: str, password: str
) -> StaffPrincipal:
    """Sets the password of a link's holder and uses the link up.

    Every session and API token of the account ends, and its other links stop working:
    whoever knew the old password, or had another link, is out.
    """
    check_password_rule(password)
    user = await password_link_holder(session, token)
    # Hashed before the link is claimed, so a racing request waits only for the claim itself.
    password_hash = await hash_password(password)
    claimed = await session.execute(
        delete(PasswordLink)
        .where(PasswordLink.token_hash == digest(token), PasswordLink.expires_at > now())
        .returning(PasswordLink.purpose)
        .execution_options(synchronize_session=False)
    )
    purpose = claimed.scalar_one_or_none()
    if purpose is None:
        raise LinkExpired()
    user.password_hash = password_hash
    await sign_out_everywhere(session, user.id)
    await session.execute(delete(PasswordLink).where(PasswordLink.user_id == user.id))
    await record(
        session,
        principal_of(user),
        "staff.password_set",
        tenant_id=user.tenant_id,
        partner_id=user.partner_id,
        subject_type="staff_user",
        subject_id=user.id,
        data={"purpose": str(purpose)},
    )
    return principal_of(user)


async def request_password_reset(
    session: AsyncSession,
    settings: Settings,
    failures: FailureCounter,
    *,
    email: str,
    client_ip: str,
) -> None:
    """Mails a reset link if `email` is a usable account's, and otherwise does nothing, so the
    answer is the same either way. Throttled with the sign-in limits, per address (an inbox is
    not flooded from many clients) and per client (one client cannot probe many addresses)."""
    email = email.strip().lower()
    window = settings.login_failure_window_seconds
    limits = {
        f"reset:{email}": settings.login_max_failures,
        f"reset-client:{client_ip}": settings.login_max_failures_per_ip,
    }
    for key, limit in limits.items():
        count, retry_after = await failures.failures(key)
        if count >= limit:
            raise RateLimited(retry_after)
    for key in limits:
        await failures.add_failure(key, window)
    user = await session.scalar(usable_staff().where(StaffUser.email == email))
    if user is None:
        return
    link = await issue_password_link(session, user, PasswordLinkPurpose.RESET)
    await queue_email(
        session,
        tenant_id=user.tenant_id,
        to=user.email,
        template="password_reset",
        context={
            "name": user.name,
            "set_password_path": link,
            "expires_hours": LINK_TTL_HOURS[PasswordLinkPurpose.RESET],
        },
    )

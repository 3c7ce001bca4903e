"""Staff management (SU-1): admins invite people to their own side, change roles, deactivate.

A partner admin manages their partner's staff, a tenant admin the tenant's own staff (those
without a partner). Everyone else is out of reach and answers 404, like a missing account.
"""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.audit.service import record
from relaydesk.auth.links import LINK_TTL_HOURS, issue_password_link
from relaydesk.auth.models import PasswordLinkPurpose, StaffUser
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.auth.schemas import StaffInvite, StaffUpdate
from relaydesk.auth.service import create_staff_user, sign_out_everywhere
from relaydesk.errors import Conflict, InvalidInput, NotFound
from relaydesk.notify.service import queue_email
from relaydesk.pagination import PageParams, paginate
from relaydesk.tenancy.models import Partner, Tenant

# Least access first: the invite form offers the first one.
PARTNER_ROLES = (Role.AGENT, Role.PARTNER_ADMIN)
TENANT_ROLES = (Role.TENANT_STAFF, Role.TENANT_ADMIN)


def side_roles(staff: StaffPrincipal) -> tuple[Role, ...]:
    """The roles an admin may give: those of their own side."""
    return PARTNER_ROLES if staff.partner_id is not None else TENANT_ROLES


def readable_staff(staff: StaffPrincipal) -> Select[tuple[StaffUser]]:
    """The accounts of the admin's side: the one place staff management is scoped."""
    partner = (
        StaffUser.partner_id.is_(None)
        if staff.partner_id is None
        else StaffUser.partner_id == staff.partner_id
    )
    return select(StaffUser).where(StaffUser.tenant_id == staff.tenant_id, partner)


async def access_staff_by_id(
    session: AsyncSession, staff: StaffPrincipal, user_id: uuid.UUID
) -> StaffUser:
    user = await session.scalar(readable_staff(staff).where(StaffUser.id == user_id))
    if user is None:
        raise NotFound("No such staff member.")
    return user


async def list_staff(
    session: AsyncSession, staff: StaffPrincipal, page: PageParams
) -> tuple[list[StaffUser], str | None]:
    """The side's accounts in the order they were made."""
    rows, next_cursor = await paginate(session, readable_staff(staff), StaffUser.id, page)
    return [user for (user,) in rows], next_cursor


async def all_staff(session: AsyncSession, staff: StaffPrincipal) -> list[StaffUser]:
    """The side's accounts by name, for the staff page (a side has tens, not thousands)."""
    statement = readable_staff(staff).order_by(StaffUser.name, StaffUser.id)
    return list(await session.scalars(statement))


def _check_role(staff: StaffPrincipal, role: Role) -> None:
    if role not in side_roles(staff):
        allowed = " or ".join(str(r) for r in side_roles(staff))
        raise InvalidInput(f"The role must be {allowed}.")


async def invite_staff(
    session: AsyncSession, staff: StaffPrincipal, data: StaffInvite
) -> StaffUser:
    """A new account on the admin's side, without a password, and an invitation to set one."""
    _check_role(staff, data.role)
    user = await create_staff_user(
        session,
        tenant_id=staff.tenant_id,
        partner_id=staff.partner_id,
        role=data.role,
        email=data.email,
        name=data.name,
        password=None,
        actor=staff,
    )
    await _send_invitation(session, staff, user)
    return user


async def resend_invitation(
    session: AsyncSession, staff: StaffPrincipal, user_id: uuid.UUID
) -> StaffUser:
    """A fresh invitation for someone who has not set a password; the old link stops working."""
    user = await access_staff_by_id(session, staff, user_id)
    if user.password_hash is not None:
        raise Conflict(f"{user.name} has already set a password.", code="password_already_set")
    if not user.is_active:
        raise Conflict(f"{user.name} is deactivated.", code="account_deactivated")
    await _send_invitation(session, staff, user)
    return user


async def _organisation_name(session: AsyncSession, staff: StaffPrincipal) -> str:
    if staff.partner_id is not None:
        return (await session.get_one(Partner, staff.partner_id)).name
    return (await session.get_one(Tenant, staff.tenant_id)).name


async def _send_invitation(session: AsyncSession, staff: StaffPrincipal, user: StaffUser) -> None:
    link = await issue_password_link(session, user, PasswordLinkPurpose.INVITATION)
    await queue_email(
        session,
        tenant_id=user.tenant_id,
        to=user.email,
        template="staff_invitation",
        context={
            "organisation_name": await _organisation_name(session, staff),
            "name": user.name,
            "inviter_name": staff.name,
            "set_password_path": link,
            "expires_hours": LINK_TTL_HOURS[PasswordLinkPurpose.INVITATION],
        },
    )
    await record(
        session,
        staff,
        "staff.invited",
        tenant_id=user.tenant_id,
        partner_id=user.partner_id,
        subject_type="staff_user",
        subject_id=user.id,
    )


async def update_staff(
    session: AsyncSession, staff: StaffPrincipal, user_id: uuid.UUID, data: StaffUpdate
) -> StaffUser:
    """Changes someone's role and/or deactivates or reactivates them; a deactivated person is
    signed out at once. Nobody changes themselves, so a side always keeps an admin."""
    user = await access_staff_by_id(session, staff, user_id)
    if user.id == staff.id:
        raise Conflict("You cannot change your own account.", code="cannot_change_self")
    changes: dict[str, str | bool] = {}
    if data.role is not None and data.role != user.role:
        _check_role(staff, data.role)
        user.role = data.role
        changes["role"] = str(data.role)
    if data.is_active is not None and data.is_active != user.is_active:
        user.is_active = changes["is_active"] = data.is_active
        if not data.is_active:
            await sign_out_everywhere(session, user.id)
    if changes:
        await record(
            session,
            staff,
            "staff.updated",
            tenant_id=user.tenant_id,
            partner_id=user.partner_id,
            subject_type="staff_user",
            subject_id=user.id,
            data=changes,
        )
    return user

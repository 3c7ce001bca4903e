"""Staff management for partner and tenant admins (SU-1)."""

import uuid

from fastapi import APIRouter

from relaydesk.auth import staff as service
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.schemas import StaffInvite, StaffMember, StaffUpdate
from relaydesk.deps import SessionDep
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["staff"])

AdminDep = require(Permission.STAFF_MANAGE)


@router.get("/staff", response_model=Page[StaffMember])
async def list_staff(session: SessionDep, staff: AdminDep, page: PageDep) -> Page[StaffMember]:
    """The staff of my partner (partner admins) or of my tenant (tenant admins)."""
    users, next_cursor = await service.list_staff(session, staff, page)
    return Page(items=[StaffMember.of(user) for user in users], next_cursor=next_cursor)


@router.post("/staff", status_code=201, response_model=StaffMember)
async def invite_staff(data: StaffInvite, session: SessionDep, staff: AdminDep) -> StaffMember:
    """Creates an account on my side and e-mails an invitation to set its password; 409
    `email_taken` for an address that has an account, 422 for a role of the other side."""
    return StaffMember.of(await service.invite_staff(session, staff, data))


@router.patch("/staff/{user_id}", response_model=StaffMember)
async def update_staff(
    user_id: uuid.UUID, data: StaffUpdate, session: SessionDep, staff: AdminDep
) -> StaffMember:
    """Changes a role, deactivates (signing them out) or reactivates; 409
    `cannot_change_self` for my own account."""
    return StaffMember.of(await service.update_staff(session, staff, user_id, data))


@router.post("/staff/{user_id}/invitation", response_model=StaffMember)
async def resend_invitation(
    user_id: uuid.UUID, session: SessionDep, staff: AdminDep
) -> StaffMember:
    """E-mails a new invitation link to someone who has not set a password yet; 409
    `password_already_set` otherwise."""
    return StaffMember.of(await service.resend_invitation(session, staff, user_id))

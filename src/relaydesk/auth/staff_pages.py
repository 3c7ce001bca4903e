"""The Staff pages of partner and tenant admins (SU-1): who works here, inviting people,
changing roles, deactivating and reactivating.

Both sides share these routes, each reaching only its own page. The forms post here: htmx swaps
in the panel this answers with (a refused change shows its reason in the panel), a plain form
post is sent back to the page, or gets it with the reason and 422.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth import staff as service
from relaydesk.auth.deps import require
from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.auth.schemas import StaffInvite, StaffMember, StaffUpdate
from relaydesk.deps import SessionDep
from relaydesk.errors import AppError, NotFound, PermissionDenied
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)

TENANT_PAGE = "/tenant/staff"
PARTNER_PAGE = "/partner/staff"

_FIELD_HINTS = {
    "email": "Enter a valid e-mail address.",
    "name": "Enter a name of at most 120 characters.",
    "role": "Pick one of the roles offered.",
    "is_active": "Choose to deactivate or reactivate.",
}


def page_of(staff: StaffPrincipal) -> str:
    return PARTNER_PAGE if staff.partner_id is not None else TENANT_PAGE


async def manager(request: Request, staff: require(Permission.STAFF_MANAGE)) -> StaffPrincipal:
    """Staff management is one permission on both sides; each side reaches only its own."""
    if not request.url.path.startswith(page_of(staff)):
        raise PermissionDenied("This page belongs to the other side of the platform.")
    return staff


ManagerDep = Annotated[StaffPrincipal, Depends(manager)]


@dataclass
class View:
    """What the panel shows besides the staff: the outcome of the last change, and the form
    it came from (`invite` or a staff member's id) with what was typed into it."""

    notice: str | None = None
    form: str | None = None
    error: str | None = None
    values: dict[str, str] = field(default_factory=dict)

    def refused(self, form: str, error: AppError | ValidationError) -> None:
        """Shows why a change was refused by its form; when the person it was about is gone
        (or was never on this side), above the list instead."""
        self.form = "panel" if isinstance(error, NotFound) else form
        if isinstance(error, ValidationError):
            fields = dict.fromkeys(str(e["loc"][0]) for e in error.errors() if e["loc"])
            self.error = " ".join(_FIELD_HINTS.get(name, "Check this field.") for name in fields)
        else:
            self.error = error.detail


async def _show(
    request: Request, session: AsyncSession, staff: StaffPrincipal, view: View
) -> HTMLResponse:
    """The page, or for htmx only its panel. A refused plain form post answers 422; htmx swaps
    only successful answers in, so it gets the panel with the reason as a 200."""
    htmx = from_htmx(request)
    members = [StaffMember.of(user) for user in await service.all_staff(session, staff)]
    return render(
        request,
        "staff/_panel.html" if htmx else "staff/home.html",
        staff=staff,
        view=view,
        members=members,
        roles=service.side_roles(staff),
        base=page_of(staff),
        status_code=422 if view.error and not htmx else 200,
    )


async def _changed(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    view: View,
    form: str,
    change: Callable[[], Awaitable[str]],
) -> Response:
    """Makes a change and answers with the panel saying what happened, or a plain post's
    redirect back to the page."""
    try:
        # A refused change leaves nothing behind, though the page then answers normally.
        async with session.begin_nested():
            view.notice = await change()
    except NotFound:
        raise  # missing and not-yours are the same 404 on pages too
    except (ValidationError, AppError) as exc:
        view.refused(form, exc)
    if view.error is None and not from_htmx(request):
        return RedirectResponse(page_of(staff), status_code=303)
    return await _show(request, session, staff, view)


@router.get(TENANT_PAGE, name="staff:tenant")
@router.get(PARTNER_PAGE, name="staff:partner")
async def staff_page(request: Request, session: SessionDep, staff: ManagerDep) -> HTMLResponse:
    return await _show(request, session, staff, View())


@router.post(TENANT_PAGE)
@router.post(PARTNER_PAGE)
async def invite(
    request: Request,
    session: SessionDep,
    staff: ManagerDep,
    email: Annotated[str, Form()] = "",
    name: Annotated[str, Form()] = "",
    role: Annotated[str, Form()] = "",
) -> Response:
    view = View(values={"email": email, "name": name, "role": role})

    async def change() -> str:
        data = StaffInvite.model_validate(view.values)
        user = await service.invite_staff(session, staff, data)
        view.values = {}
        return f"Invitation sent to {user.email}."

    return await _changed(request, session, staff, view, "invite", change)


def _described(user: StaffUser, data: StaffUpdate) -> str:
    if data.is_active is False:
        return f"{user.name} is deactivated and signed out."
    if data.is_active:
        return f"{user.name} is active again."
    return f"{user.name} is now {user.role.value.replace('_', ' ')}."


@router.post(TENANT_PAGE + "/{user_id}")
@router.post(PARTNER_PAGE + "/{user_id}")
async def update(
    request: Request,
    user_id: uuid.UUID,
    session: SessionDep,
    staff: ManagerDep,
    role: Annotated[str, Form()] = "",
    is_active: Annotated[str, Form()] = "",
) -> Response:
    """The role select of a row, and its Deactivate and Reactivate buttons."""

    async def change() -> str:
        data = StaffUpdate.model_validate({"role": role or None, "is_active": is_active or None})
        return _described(await service.update_staff(session, staff, user_id, data), data)

    return await _changed(request, session, staff, View(), str(user_id), change)


@router.post(TENANT_PAGE + "/{user_id}/invitation")
@router.post(PARTNER_PAGE + "/{user_id}/invitation")
async def resend_invitation(
    request: Request, user_id: uuid.UUID, session: SessionDep, staff: ManagerDep
) -> Response:
    async def change() -> str:
        user = await service.resend_invitation(session, staff, user_id)
        return f"A new invitation is on its way to {user.email}."

    return await _changed(request, session, staff, View(), str(user_id), change)

"""The tenant's My partners page (PM-8): every partner with its package, status, invoice ID,
add-ons and impressions balance; a row expands to contact information and channels.

Tenant staff read it; tenant admins (partners.manage) also edit invoice IDs and suspend or
reactivate partners. Those forms post here: htmx swaps in the partner's row (with the reason a
change was refused), a plain form post is sent back to the list, or gets it with the reason.
"""

import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.deps import SessionDep
from relaydesk.errors import InvalidInput
from relaydesk.pagination import PageParams, decode_cursor
from relaydesk.tenancy import partners, schemas
from relaydesk.tenancy.models import PartnerStatus
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)

ReviewerDep = require(Permission.PARTNERS_REVIEW)
ManagerDep = require(Permission.PARTNERS_MANAGE)

HOME = "/tenant/partners"
EXPORT_PATH = "/api/v1/tenant/partners/export.csv"
ROWS_SHOWN = 50
INVOICE_TOO_LONG = "An invoice ID has at most 64 characters."
NOTICES = {
    PartnerStatus.ACTIVE: "Active: its staff can sign in again.",
    PartnerStatus.SUSPENDED: "Suspended: its staff are signed out.",
}


@dataclass
class Filters:
    """The search, the status shown and the page of rows the list starts from; every form
    carries them so that a plain post comes back to the same list."""

    q: str = ""
    status: PartnerStatus | None = None
    cursor: str = ""

    def _query(self, **extra: str | None) -> str:
        pairs = {"q": self.q, "status": self.status.value if self.status else None} | extra
        present = {name: value for name, value in pairs.items() if value}
        return f"?{urlencode(present)}" if present else ""

    def url(self, cursor: str | None = None) -> str:
        return HOME + self._query(cursor=cursor)

    def export_url(self) -> str:
        return EXPORT_PATH + self._query()


def _filters(q: str, status: str, cursor: str) -> Filters:
    # An unknown status is a stale or hand-made link: the list shows every status instead.
    chosen = PartnerStatus(status) if status in set(PartnerStatus) else None
    return Filters(q.strip()[:200], chosen, cursor)


async def filters_query(q: str = "", status: str = "", cursor: str = "") -> Filters:
    return _filters(q, status, cursor)


async def filters_form(
    q: Annotated[str, Form()] = "",
    status_shown: Annotated[str, Form()] = "",
    cursor: Annotated[str, Form()] = "",
) -> Filters:
    return _filters(q, status_shown, cursor)


FiltersQueryDep = Annotated[Filters, Depends(filters_query)]
FiltersFormDep = Annotated[Filters, Depends(filters_form)]


def _context(staff: StaffPrincipal, filters: Filters, **state: Any) -> dict[str, Any]:
    """What every partner row needs: the controls shown, and the change refused in one."""
    defaults = {"notice_for": None, "notice": None, "error_for": None, "error": None, "typed": ""}
    return {
        "staff": staff,
        "filters": filters,
        "can_manage": staff.can(Permission.PARTNERS_MANAGE),
        **(defaults | state),
    }


async def _list_page(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    filters: Filters,
    *,
    status_code: int = 200,
    **state: Any,
) -> HTMLResponse:
    """The list; htmx asking for the next rows gets only those."""
    page = PageParams(
        limit=ROWS_SHOWN, after_id=decode_cursor(filters.cursor) if filters.cursor else None
    )
    listed, next_cursor = await partners.list_partners(
        session, staff, page, q=filters.q or None, status=filters.status
    )
    rows_only = bool(filters.cursor) and from_htmx(request)
    return render(
        request,
        "partners/_rows.html" if rows_only else "partners/list.html",
        status_code=status_code,
        partners=listed,
        statuses=list(PartnerStatus),
        more_url=filters.url(next_cursor) if next_cursor else None,
        **_context(staff, filters, **state),
    )


def _row(
    request: Request,
    staff: StaffPrincipal,
    filters: Filters,
    partner: schemas.PartnerListItem,
    **state: Any,
) -> HTMLResponse:
    """One partner's rows, as htmx swaps them in after a change."""
    return render(
        request, "partners/_partner.html", partner=partner, **_context(staff, filters, **state)
    )


@router.get(HOME, name="partners:list")
async def partner_list(
    request: Request, session: SessionDep, staff: ReviewerDep, filters: FiltersQueryDep
) -> HTMLResponse:
    return await _list_page(request, session, staff, filters)


@router.post("/tenant/partners/{partner_id}/invoice", name="partners:invoice")
async def set_invoice_id(
    request: Request,
    partner_id: uuid.UUID,
    session: SessionDep,
    staff: ManagerDep,
    filters: FiltersFormDep,
    invoice_id: Annotated[str, Form()] = "",
) -> Response:
    """Saves the ID the billing system knows the partner by; a blank one clears it."""
    try:
        data = schemas.PartnerUpdate(invoice_id=invoice_id)
    except ValidationError:
        partner = await partners.get_tenant_partner(session, staff, partner_id)
        refused = {"error_for": partner.id, "error": INVOICE_TOO_LONG, "typed": invoice_id}
        if from_htmx(request):
            return _row(request, staff, filters, partner, **refused)
        return await _list_page(request, session, staff, filters, status_code=422, **refused)
    partner = await partners.update_partner(session, staff, partner_id, data)
    if not from_htmx(request):
        return RedirectResponse(filters.url(filters.cursor or None), status_code=303)
    return _row(request, staff, filters, partner, notice_for=partner.id, notice="Invoice ID saved.")


@router.post("/tenant/partners/{partner_id}/status", name="partners:status")
async def change_status(
    request: Request,
    partner_id: uuid.UUID,
    session: SessionDep,
    staff: ManagerDep,
    filters: FiltersFormDep,
    status: Annotated[str, Form()] = "",
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Suspends a partner once confirmed (htmx asks in its dialog, a plain form post first
    gets a page that asks), or makes it active again."""
    try:
        data = schemas.PartnerUpdate(status=status)
    except ValidationError:
        raise InvalidInput("A partner is made active or suspended.") from None
    if data.status == PartnerStatus.SUSPENDED and not confirmed:
        partner = await partners.get_tenant_partner(session, staff, partner_id)
        return render(
            request, "partners/confirm_suspend.html", partner=partner, **_context(staff, filters)
        )
    partner = await partners.update_partner(session, staff, partner_id, data)
    if not from_htmx(request):
        return RedirectResponse(filters.url(filters.cursor or None), status_code=303)
    notice = NOTICES[partner.status]
    return _row(request, staff, filters, partner, notice_for=partner.id, notice=notice)

"""My partners (PM-8): tenant staff read the list, tenant admins change invoice IDs and status."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.exports import csv_download
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page
from relaydesk.tenancy import partners, schemas
from relaydesk.tenancy.models import PartnerStatus

router = APIRouter(prefix="/api/v1/tenant/partners", tags=["partners"])

ReviewerDep = require(Permission.PARTNERS_REVIEW)
NameQuery = Annotated[str | None, Query(max_length=200, description="Part of the partner's name")]
StatusQuery = Annotated[PartnerStatus | None, Query()]


@router.get("", response_model=Page[schemas.PartnerListItem])
async def list_partners(
    session: SessionDep,
    staff: ReviewerDep,
    page: PageDep,
    q: NameQuery = None,
    status: StatusQuery = None,
) -> Page[schemas.PartnerListItem]:
    items, next_cursor = await partners.list_partners(session, staff, page, q=q, status=status)
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The partners as CSV."}},
)
async def export_partners(
    request: Request, staff: ReviewerDep, q: NameQuery = None, status: StatusQuery = None
) -> StreamingResponse:
    rows = partners.export_rows(request.app.state.database, staff, q=q, status=status)
    return csv_download("partners.csv", partners.EXPORT_HEADER, rows)


@router.get("/{partner_id}", response_model=schemas.PartnerListItem)
async def get_partner(
    partner_id: uuid.UUID, session: SessionDep, staff: ReviewerDep
) -> schemas.PartnerListItem:
    return await partners.get_tenant_partner(session, staff, partner_id)


@router.patch("/{partner_id}", response_model=schemas.PartnerListItem)
async def update_partner(
    partner_id: uuid.UUID,
    data: schemas.PartnerUpdate,
    session: SessionDep,
    staff: require(Permission.PARTNERS_MANAGE),
) -> schemas.PartnerListItem:
    return await partners.update_partner(session, staff, partner_id, data)

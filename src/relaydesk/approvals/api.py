"""Requests: partners submit them, the public registers, tenant staff decide them."""

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import StreamingResponse

from relaydesk.approvals import schemas, service, workflow
from relaydesk.approvals.models import RequestKind, RequestStatus
from relaydesk.auth.api import client_ip
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.exports import csv_download
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["requests"])

ReviewerDep = require(Permission.PARTNERS_REVIEW)
KindQuery = Annotated[
    list[RequestKind] | None, Query(description="A kind; repeat it for any of several.")
]
StatusQuery = Annotated[schemas.StatusFilter | None, Query()]
NameQuery = Annotated[str | None, Query(max_length=200, description="Part of the partner's name")]
CSV_RESPONSE = {200: {"content": {"text/csv": {}}, "description": "The requests as CSV."}}


@router.get("/tenant/requests", response_model=Page[schemas.Request])
async def list_requests(
    session: SessionDep,
    staff: ReviewerDep,
    page: PageDep,
    kind: KindQuery = None,
    status: StatusQuery = None,
    q: NameQuery = None,
) -> Page[schemas.Request]:
    """Pending requests oldest first; decided ones (history) newest first."""
    items, next_cursor = await workflow.list_requests(
        session, staff, page, kind=kind, status=status, q=q
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/tenant/requests/export.csv", response_class=StreamingResponse, responses=CSV_RESPONSE)
async def export_requests(
    request: Request,
    staff: ReviewerDep,
    kind: KindQuery = None,
    status: StatusQuery = None,
    q: NameQuery = None,
) -> StreamingResponse:
    """The filtered requests, streamed in request order."""
    rows = workflow.export_rows(request.app.state.database, staff, kind=kind, status=status, q=q)
    name = "-".join(part for part in ("requests", *(kind or ()), status) if part)
    return csv_download(f"{name}.csv", workflow.EXPORT_HEADER, rows)


@router.get("/tenant/requests/{request_id}", response_model=schemas.Request)
async def get_request(
    request_id: uuid.UUID, session: SessionDep, staff: ReviewerDep
) -> schemas.Request:
    return await workflow.get_request(session, staff, request_id)


@router.post("/tenant/requests/{request_id}/approve", response_model=schemas.Request)
async def approve_request(
    request_id: uuid.UUID, session: SessionDep, staff: ReviewerDep
) -> schemas.Request:
    """409 `request_already_decided` when someone decided it first."""
    return await service.approve_request(session, staff, request_id)


@router.post("/tenant/requests/{request_id}/reject", response_model=schemas.Request)
async def reject_request(
    request_id: uuid.UUID, data: schemas.Rejection, session: SessionDep, staff: ReviewerDep
) -> schemas.Request:
    """The reason is required and e-mailed to the partner."""
    return await service.reject_request(session, staff, request_id, data.reason)


@router.post("/partner/requests", status_code=201, response_model=schemas.Request)
async def submit_request(
    data: Annotated[schemas.PartnerRequestCreate, Body()],
    session: SessionDep,
    staff: require(Permission.REQUESTS_SUBMIT),
) -> schemas.Request:
    return await service.submit_partner_request(session, staff, data)


@router.get("/partner/requests", response_model=Page[schemas.Request])
async def my_requests(
    session: SessionDep,
    staff: require(Permission.REQUESTS_SUBMIT),
    page: PageDep,
    kind: KindQuery = None,
    status: StatusQuery = None,
) -> Page[schemas.Request]:
    """My partner's requests, newest first, with each one's state and rejection reason."""
    items, next_cursor = await workflow.list_requests(
        session, staff, page, kind=kind, status=status
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post(
    "/public/{tenant_slug}/partnership-requests",
    status_code=202,
    response_model=schemas.RegistrationReceived,
    tags=["public"],
)
async def register(
    tenant_slug: str, data: schemas.Registration, request: Request, session: SessionDep
) -> schemas.RegistrationReceived:
    """No sign-in: a would-be partner applies; tenant staff approve or reject it."""
    request_id = await service.submit_registration(
        session, request.app.state.failure_counter, client_ip(request), tenant_slug, data
    )
    return schemas.RegistrationReceived(id=request_id, status=RequestStatus.PENDING)

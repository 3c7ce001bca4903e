"""The one workflow every request kind follows: pending → approved | rejected.

A decision is a compare-and-set on the request's status, so of two reviewers deciding the same
request at once exactly one succeeds; the other gets 409 `request_already_decided`. What a
decision does beyond that belongs to each kind (`kinds.py`).
"""

import uuid
from collections.abc import AsyncIterator, Collection, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from relaydesk.ads.models import Ad
from relaydesk.approvals import schemas
from relaydesk.approvals.models import PartnerRequest, RequestKind, RequestStatus
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.models import Broadcast
from relaydesk.clock import now
from relaydesk.db import Database, unique_or
from relaydesk.errors import Conflict, InvalidInput, NotFound
from relaydesk.exports import rows_in_batches
from relaydesk.pagination import PageParams, encode_cursor, paginate
from relaydesk.schemas import Money
from relaydesk.tenancy.models import Partner

NEW_PARTNER = "new"

# One kind, or any of several (the Requests tab's history holds three).
KindFilter = RequestKind | Collection[RequestKind] | None

_decider = aliased(StaffUser)


def _with_people(statement: Select[tuple[PartnerRequest]]) -> Select[Any]:
    """Adds to each request row the partner's current status, the decider's name, and what
    became of an approved broadcast or ad so far."""
    return (
        statement.outerjoin(Partner, Partner.id == PartnerRequest.partner_id)
        .outerjoin(_decider, _decider.id == PartnerRequest.decided_by_id)
        .outerjoin(Broadcast, Broadcast.request_id == PartnerRequest.id)
        .outerjoin(Ad, Ad.request_id == PartnerRequest.id)
        .add_columns(Partner.status, _decider.name, Broadcast, Ad)
    )


def _progress(
    request: PartnerRequest, broadcast: Broadcast | None, ad: Ad | None
) -> dict[str, Any]:
    """The live part of a request's details: a broadcast's delivery, an ad's impressions."""
    if request.kind == RequestKind.BROADCAST and broadcast is not None:
        return {
            "delivered_count": broadcast.delivered_count,
            "delivery": {
                "state": broadcast.state.value,
                "total": broadcast.total,
                "started_at": _iso(broadcast.started_at),
                "finished_at": _iso(broadcast.finished_at),
                "stopped_reason": broadcast.stopped_reason,
            },
        }
    if request.kind == RequestKind.AD:
        return {"impressions_used": ad.impressions_used if ad else 0}
    return {}


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at else None


def readable_requests(staff: StaffPrincipal) -> Select[tuple[PartnerRequest]]:
    """Tenant staff read their tenant's requests, a partner's staff their partner's."""
    statement = select(PartnerRequest).where(PartnerRequest.tenant_id == staff.tenant_id)
    if staff.partner_id is not None:
        statement = statement.where(PartnerRequest.partner_id == staff.partner_id)
    return statement


def filtered(
    statement: Select[tuple[PartnerRequest]],
    *,
    kind: KindFilter = None,
    status: schemas.StatusFilter | None = None,
    q: str | None = None,
) -> Select[tuple[PartnerRequest]]:
    """Narrowed by kind (one or several), by status ("decided" is approved or rejected) and by
    partner name."""
    if isinstance(kind, RequestKind):
        statement = statement.where(PartnerRequest.kind == kind)
    elif kind:
        statement = statement.where(PartnerRequest.kind.in_(kind))
    if status == "decided":
        statement = statement.where(PartnerRequest.status != RequestStatus.PENDING)
    elif status is not None:
        statement = statement.where(PartnerRequest.status == RequestStatus(status))
    if q and q.strip():
        name = func.lower(PartnerRequest.partner_name)
        statement = statement.where(name.contains(q.strip().lower(), autoescape=True))
    return statement


def request_out(
    request: PartnerRequest,
    partner_status: str | None,
    decider: str | None,
    broadcast: Broadcast | None = None,
    ad: Ad | None = None,
) -> schemas.Request:
    price = (
        Money(amount=request.price_amount, currency=request.currency)
        if request.price_amount is not None and request.currency
        else None
    )
    return schemas.Request(
        id=request.id,
        kind=request.kind,
        status=request.status,
        title=request.title,
        partner=schemas.RequestPartner(
            id=request.partner_id,
            name=request.partner_name,
            status=str(partner_status) if partner_status else NEW_PARTNER,
        ),
        price=price,
        description=request.description,
        requested_at=request.requested_at,
        decided_at=request.decided_at,
        decided_by=(
            schemas.Person(id=request.decided_by_id, name=decider or "")
            if request.decided_by_id
            else None
        ),
        rejection_reason=request.rejection_reason,
        details=request.details | _progress(request, broadcast, ad),
    )


async def list_requests(
    session: AsyncSession,
    staff: StaffPrincipal,
    page: PageParams,
    *,
    kind: KindFilter = None,
    status: schemas.StatusFilter | None = None,
    q: str | None = None,
) -> tuple[list[schemas.Request], str | None]:
    """Pending requests oldest first (a queue), decided ones latest decision first (the
    histories), all of them newest first."""
    statement = _with_people(filtered(readable_requests(staff), kind=kind, status=status, q=q))
    if status in (None, "pending"):
        rows, next_cursor = await paginate(
            session, statement, PartnerRequest.id, page, newest_first=status is None
        )
    else:
        rows, next_cursor = await _by_decision(session, statement, page)
    return [request_out(*row) for row in rows], next_cursor


async def _by_decision(
    session: AsyncSession, statement: Select[Any], page: PageParams
) -> tuple[Sequence[Any], str | None]:
    """Decided requests, latest decision first; the cursor is the last one's id."""
    if page.after_id is not None:
        after = await session.scalar(
            select(PartnerRequest.decided_at).where(PartnerRequest.id == page.after_id)
        )
        if after is None:
            raise InvalidInput("The cursor is not valid.")
        statement = statement.where(
            (PartnerRequest.decided_at < after)
            | ((PartnerRequest.decided_at == after) & (PartnerRequest.id < page.after_id))
        )
    statement = statement.order_by(PartnerRequest.decided_at.desc(), PartnerRequest.id.desc())
    rows = (await session.execute(statement.limit(page.limit + 1))).all()
    if len(rows) <= page.limit:
        return rows, None
    return rows[: page.limit], encode_cursor(rows[page.limit - 1][0].id)


async def pending_counts(session: AsyncSession, staff: StaffPrincipal) -> dict[RequestKind, int]:
    """How many requests of each kind wait for a decision."""
    rows = await session.execute(
        readable_requests(staff)
        .where(PartnerRequest.status == RequestStatus.PENDING)
        .with_only_columns(PartnerRequest.kind, func.count())
        .group_by(PartnerRequest.kind)
    )
    counts = {kind: count for kind, count in rows}
    return {kind: counts.get(kind, 0) for kind in RequestKind}


async def get_request(
    session: AsyncSession, staff: StaffPrincipal, request_id: uuid.UUID
) -> schemas.Request:
    statement = _with_people(readable_requests(staff).where(PartnerRequest.id == request_id))
    row = (await session.execute(statement.execution_options(populate_existing=True))).first()
    if row is None:
        raise NotFound("No such request.")
    return request_out(*row)


async def new_request(
    session: AsyncSession,
    *,
    tenant_id: uuid.UUID,
    kind: RequestKind,
    partner: Partner | None,
    partner_name: str,
    subject_id: uuid.UUID | None,
    title: str,
    price: tuple[Decimal, str] | None,
    description: str,
    details: dict[str, Any],
    requested_by: StaffPrincipal | None,
) -> PartnerRequest:
    """A pending request with a snapshot of what is asked for."""
    request = PartnerRequest(
        tenant_id=tenant_id,
        partner_id=partner.id if partner else None,
        kind=kind,
        status=RequestStatus.PENDING,
        subject_id=subject_id,
        title=title,
        partner_name=partner_name,
        price_amount=price[0] if price else None,
        currency=price[1] if price else None,
        description=description,
        details=details,
        requested_by_id=requested_by.id if requested_by else None,
        requested_at=now(),
    )
    async with unique_or(session, _already_pending()):
        session.add(request)
    return request


def _already_pending() -> Conflict:
    return Conflict("The same request is already waiting for a decision.", code="request_pending")


async def ensure_none_pending(session: AsyncSession, *conditions: sa.ColumnElement[bool]) -> None:
    """Refuses a second pending request for the same thing (409 `request_pending`)."""
    pending = select(PartnerRequest.id).where(
        PartnerRequest.status == RequestStatus.PENDING, *conditions
    )
    if await session.scalar(pending.limit(1)):
        raise _already_pending()


async def decide(
    session: AsyncSession,
    staff: StaffPrincipal,
    request_id: uuid.UUID,
    status: RequestStatus,
    reason: str | None = None,
) -> PartnerRequest:
    """Marks a pending request decided, if nobody decided it first, and returns it."""
    scope = (PartnerRequest.id == request_id, PartnerRequest.tenant_id == staff.tenant_id)
    decided = await session.execute(
        update(PartnerRequest)
        .where(*scope, PartnerRequest.status == RequestStatus.PENDING)
        .values(status=status, decided_at=now(), decided_by_id=staff.id, rejection_reason=reason)
        .execution_options(synchronize_session=False)
    )
    request = await session.scalar(
        select(PartnerRequest).where(*scope).execution_options(populate_existing=True)
    )
    if request is None:
        raise NotFound("No such request.")
    if not decided.rowcount:  # type: ignore[attr-defined]
        raise Conflict(
            f"This request was already {request.status} by someone else.",
            code="request_already_decided",
        )
    return request


EXPORT_HEADER: Sequence[str] = (
    "Partner",
    "Kind",
    "Title",
    "Price",
    "Currency",
    "Status",
    "Requested at",
    "Decided at",
    "Decided by",
    "Rejection reason",
    "Description",
)


async def export_rows(
    database: Database,
    staff: StaffPrincipal,
    *,
    kind: KindFilter = None,
    status: schemas.StatusFilter | None = None,
    q: str | None = None,
) -> AsyncIterator[Sequence[object]]:
    """The filtered requests as CSV rows, oldest first, read in batches."""
    statement = _with_people(filtered(readable_requests(staff), kind=kind, status=status, q=q))
    async for request, _status, decider, *_outcome in rows_in_batches(
        database, statement, PartnerRequest.id
    ):
        yield (
            request.partner_name,
            request.kind,
            request.title,
            request.price_amount,
            request.currency,
            request.status,
            request.requested_at.isoformat(),
            request.decided_at.isoformat() if request.decided_at else None,
            decider,
            request.rejection_reason,
            request.description,
        )

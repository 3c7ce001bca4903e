"""The tenant's Partnership (PM-2), Add-ons (PM-3) and Requests (PM-4..PM-7) pages: requests
pending approval, each approved or rejected in place, and the history of decisions, searchable
and exportable.

The three pages are views of one request workflow (`sections.py` says what each holds). A
row's forms post here: htmx swaps the row for the outcome (or for the reason it was refused), a
plain form post is sent back to the row's tab, or gets a page with the reason. Reject opens the
row's dialog; without scripts its link leads to a page with the same form.
"""

import uuid
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals import schemas, service, workflow
from relaydesk.approvals.models import RequestStatus
from relaydesk.approvals.sections import (
    ADDONS,
    LABELS,
    PARTNERSHIPS,
    REQUESTS,
    Section,
    View,
    engagement_files,
    queue_url,
    view_of,
)
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.deps import SessionDep
from relaydesk.errors import AppError, NotFound
from relaydesk.pagination import PageParams, decode_cursor
from relaydesk.web.templating import from_htmx, render, uuid_or_none

router = APIRouter(include_in_schema=False)

ReviewerDep = require(Permission.PARTNERS_REVIEW)

ROWS_SHOWN = 50
ALREADY_DECIDED = "request_already_decided"
REASON_MISSING = "Write a description of why you reject the request: the partner gets it."
REASON_TOO_LONG = "The description has at most 2,000 characters."


async def _asked(
    session: AsyncSession, staff: StaffPrincipal, section: Section, request_id: uuid.UUID
) -> schemas.Request:
    """The request, if it is of one of the page's kinds: another kind's is as missing as
    another tenant's."""
    item = await workflow.get_request(session, staff, request_id)
    if item.kind not in section.kinds:
        raise NotFound("No such request.")
    return item


async def _list_page(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    view: View,
    *,
    notice: schemas.Request | None = None,
    problem: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """The tab's rows; htmx asking for the next ones gets only those."""
    page = PageParams(
        limit=ROWS_SHOWN, after_id=decode_cursor(view.cursor) if view.cursor else None
    )
    items, next_cursor = await workflow.list_requests(
        session,
        staff,
        page,
        kind=view.kinds,
        status="decided" if view.history else "pending",
        q=view.q or None,
    )
    files = {} if view.history else await engagement_files(session, staff, items)
    rows_only = bool(view.cursor) and from_htmx(request)
    rows = view.section.history_rows if view.history else "approvals/_pending_rows.html"
    return render(
        request,
        rows if rows_only else "approvals/requests.html",
        staff=staff,
        status_code=status_code,
        section=view.section,
        view=view,
        items=items,
        files=files,
        more_url=view.url(next_cursor) if next_cursor else None,
        notice=notice,
        problem=problem,
        **LABELS,
    )


async def _just_decided(
    session: AsyncSession, staff: StaffPrincipal, section: Section, decided: str
) -> schemas.Request | None:
    """The request a plain form post just decided, to say what became of it; a stale or
    hand-made id says nothing."""
    request_id = uuid_or_none(decided)
    if request_id is None:
        return None
    try:
        item = await _asked(session, staff, section, request_id)
    except NotFound:
        return None
    return None if item.status == RequestStatus.PENDING else item


async def _requests(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    view: View,
    decided: str,
) -> HTMLResponse:
    notice = await _just_decided(session, staff, view.section, decided)
    return await _list_page(request, session, staff, view, notice=notice)


async def _row(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    section: Section,
    item: schemas.Request,
    **state: Any,
) -> HTMLResponse:
    """One row as htmx swaps it in: pending (with what was refused), or its outcome."""
    context = {"done": False, "conflict": None, "error": None, "reject_error": None, "reason": ""}
    pending = item.status == RequestStatus.PENDING and not state.get("done")
    return render(
        request,
        "approvals/_request.html",
        staff=staff,
        section=section,
        item=item,
        files=await engagement_files(session, staff, [item]) if pending else {},
        **LABELS,
        **(context | state),
    )


async def _reject_page(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    section: Section,
    item: schemas.Request,
    *,
    status_code: int = 200,
    **state: Any,
) -> HTMLResponse:
    """The rejection form as a page of its own, for browsers without scripts."""
    context = {"conflict": None, "error": None, "reject_error": None, "reason": ""}
    return render(
        request,
        "approvals/reject.html",
        staff=staff,
        status_code=status_code,
        section=section,
        item=item,
        back_url=queue_url(section, item.kind),
        files=await engagement_files(session, staff, [item]),
        **LABELS,
        **(context | state),
    )


async def _decided(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    section: Section,
    item: schemas.Request,
    decide: Callable[[], Awaitable[schemas.Request]],
    *,
    rejecting: bool = False,
) -> Response:
    """Carries out a decision and answers with its outcome, or with why it was refused.

    The decision runs in a savepoint: one refused halfway (say, the partner's name was taken
    meanwhile) leaves nothing behind when the page answers normally instead of raising.
    """
    try:
        async with session.begin_nested():
            decided = await decide()
    except AppError as error:
        conflict = None
        if error.code == ALREADY_DECIDED:
            item = await workflow.get_request(session, staff, item.id)
            conflict = _conflict_text(item)
        state = {"conflict": conflict, "error": None if conflict else error.detail}
        if from_htmx(request):
            return await _row(request, session, staff, section, item, **state)
        if rejecting:
            return await _reject_page(
                request, session, staff, section, item, status_code=error.status, **state
            )
        problem = conflict or f"{item.partner.name}: {error.detail}"
        view = View(section, section.queue_of(item.kind))
        return await _list_page(
            request, session, staff, view, problem=problem, status_code=error.status
        )
    if not from_htmx(request):
        back = queue_url(section, item.kind, decided=str(decided.id))
        return RedirectResponse(back, status_code=303)
    return await _row(request, session, staff, section, decided, done=True)


def _conflict_text(item: schemas.Request) -> str:
    """What a reviewer sees who decides a request someone decided first."""
    who = item.decided_by.name if item.decided_by else "someone else"
    return f"Already {item.status} by {who}."


async def _approve(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    section: Section,
    request_id: uuid.UUID,
) -> Response:
    item = await _asked(session, staff, section, request_id)
    approve = partial(service.approve_request, session, staff, request_id)
    return await _decided(request, session, staff, section, item, approve)


async def _reject(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    section: Section,
    request_id: uuid.UUID,
    reason: str,
) -> Response:
    """Rejects with the description typed; a blank one shows the form again to write it."""
    item = await _asked(session, staff, section, request_id)
    try:
        data = schemas.Rejection(reason=reason)
    except ValidationError:
        state = {
            "reject_error": REASON_TOO_LONG if reason.strip() else REASON_MISSING,
            "reason": reason,
        }
        if from_htmx(request):
            return await _row(request, session, staff, section, item, **state)
        return await _reject_page(request, session, staff, section, item, status_code=422, **state)
    reject = partial(service.reject_request, session, staff, request_id, data.reason)
    return await _decided(request, session, staff, section, item, reject, rejecting=True)


async def _ask_reason(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    section: Section,
    request_id: uuid.UUID,
) -> HTMLResponse:
    item = await _asked(session, staff, section, request_id)
    conflict = None if item.status == RequestStatus.PENDING else _conflict_text(item)
    return await _reject_page(request, session, staff, section, item, conflict=conflict)


ReasonField = Annotated[str, Form()]


def _add_routes(section: Section, name: str) -> None:
    """The page of one section and its decisions (approve; reject with a reason)."""

    async def requests_page(
        request: Request,
        session: SessionDep,
        staff: ReviewerDep,
        tab: str = "",
        kind: str = "",
        q: str = "",
        cursor: str = "",
        decided: str = "",
    ) -> HTMLResponse:
        view = view_of(section, tab, kind, q, cursor)
        return await _requests(request, session, staff, view, decided)

    async def approve(
        request: Request, request_id: uuid.UUID, session: SessionDep, staff: ReviewerDep
    ) -> Response:
        return await _approve(request, session, staff, section, request_id)

    async def ask_reason(
        request: Request, request_id: uuid.UUID, session: SessionDep, staff: ReviewerDep
    ) -> HTMLResponse:
        return await _ask_reason(request, session, staff, section, request_id)

    async def reject(
        request: Request,
        request_id: uuid.UUID,
        session: SessionDep,
        staff: ReviewerDep,
        reason: ReasonField = "",
    ) -> Response:
        return await _reject(request, session, staff, section, request_id, reason)

    decision = f"{section.path}/{{request_id}}"
    router.add_api_route(section.path, requests_page, methods=["GET"], name=f"approvals:{name}")
    router.add_api_route(f"{decision}/approve", approve, methods=["POST"])
    router.add_api_route(f"{decision}/reject", ask_reason, methods=["GET"])
    router.add_api_route(f"{decision}/reject", reject, methods=["POST"])


_add_routes(PARTNERSHIPS, "partnerships")
_add_routes(ADDONS, "addons")
_add_routes(REQUESTS, "requests")

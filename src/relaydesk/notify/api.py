"""The mail log (PM-9) over the API: every e-mail of the tenant with its delivery state."""

from typing import Annotated

from fastapi import APIRouter, Query

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.notify import service
from relaydesk.notify.models import EmailState
from relaydesk.notify.schemas import EmailListItem
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1/tenant/emails", tags=["mail"])

ManagerDep = require(Permission.PARTNERS_MANAGE)


@router.get("", response_model=Page[EmailListItem])
async def list_emails(
    session: SessionDep,
    staff: ManagerDep,
    page: PageDep,
    state: Annotated[EmailState | None, Query()] = None,
) -> Page[EmailListItem]:
    """My tenant's e-mails, newest first, optionally only those in one delivery state."""
    emails, next_cursor = await service.list_emails(session, staff, page, state=state)
    return Page(
        items=[EmailListItem.model_validate(email) for email in emails], next_cursor=next_cursor
    )

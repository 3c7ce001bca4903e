import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.catalogue.models import EngagementType
from relaydesk.deps import SessionDep
from relaydesk.engagements import schemas, service
from relaydesk.engagements.models import EngagementStatus
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1/engagements", tags=["engagements"])

# Agents read the catalogue to send from it in chats; changing it needs engagements.manage.
ReaderDep = require(Permission.ENGAGEMENTS_MANAGE, Permission.ENGAGEMENTS_SEND)
EditorDep = require(Permission.ENGAGEMENTS_MANAGE)
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("", response_model=Page[schemas.Engagement])
async def list_engagements(
    session: SessionDep,
    staff: ReaderDep,
    type: EngagementType | None = None,
    status: EngagementStatus | None = None,
    channel_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[schemas.Engagement]:
    """My partner's engagements, newest first, narrowed by type, status and channel."""
    query = service.EngagementQuery(type=type, status=status, channel_id=channel_id)
    items, next_cursor = await service.list_engagements(
        session, staff, query, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post("", status_code=201, response_model=schemas.Engagement)
async def create_engagement(
    data: Annotated[schemas.EngagementCreate, Body()], session: SessionDep, staff: EditorDep
) -> schemas.Engagement:
    """Creates a draft; 403 `permission_denied` for a type my package doesn't include."""
    return await service.create_engagement(session, staff, data)


@router.get("/{engagement_id}", response_model=schemas.Engagement)
async def get_engagement(
    engagement_id: uuid.UUID, session: SessionDep, staff: ReaderDep
) -> schemas.Engagement:
    return service.engagement_view(await service.get_engagement(session, staff, engagement_id))


@router.patch("/{engagement_id}", response_model=schemas.Engagement)
async def update_engagement(
    engagement_id: uuid.UUID,
    data: schemas.EngagementUpdate,
    session: SessionDep,
    staff: EditorDep,
) -> schemas.Engagement:
    """Changes the fields sent; 409 `engagement_locked` for the type, or for the dates and
    channel once published; 409 `engagement_finished` for a finished engagement."""
    return await service.update_engagement(session, staff, engagement_id, data)


@router.post("/{engagement_id}/publish", response_model=schemas.Engagement)
async def publish_engagement(
    engagement_id: uuid.UUID, session: SessionDep, staff: EditorDep
) -> schemas.Engagement:
    """Draft → active; 409 `engagement_not_draft`, 409 `engagement_ended` when its end date
    has passed."""
    return await service.publish_engagement(session, staff, engagement_id)


@router.post("/{engagement_id}/finish", response_model=schemas.Engagement)
async def finish_engagement(
    engagement_id: uuid.UUID, session: SessionDep, staff: EditorDep
) -> schemas.Engagement:
    """Active → finished; 409 `engagement_not_active` otherwise."""
    return await service.finish_engagement(session, staff, engagement_id)

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Response

from relaydesk.auth.deps import EndUserDep, require
from relaydesk.auth.permissions import Permission
from relaydesk.catalogue.models import EngagementType
from relaydesk.chat import schemas as chat_schemas
from relaydesk.chat import service as chat_service
from relaydesk.chat.api import created_or_replayed
from relaydesk.deps import SessionDep
from relaydesk.engagements import deliveries, history, holdings, schemas, service
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


# Engagements in chats and with end users (HD-12, HD-13, SU-3).
delivery_router = APIRouter(prefix="/api/v1", tags=["engagements"])
SenderDep = require(Permission.ENGAGEMENTS_SEND)
AgentDep = require(Permission.CHAT_HANDLE)


@delivery_router.get(
    "/conversations/{conversation_id}/available-engagements",
    response_model=schemas.Items[schemas.Engagement],
)
async def available_engagements(
    conversation_id: uuid.UUID,
    session: SessionDep,
    staff: SenderDep,
    type: EngagementType | None = None,
) -> schemas.Items[schemas.Engagement]:
    """What may be sent to the conversation's end user now, newest first."""
    conversation = await chat_service.get_conversation(session, staff, conversation_id)
    items = await deliveries.available_engagements(
        session,
        staff,
        channel_id=conversation.channel_id,
        end_user_id=conversation.end_user_id,
        type_=type,
    )
    return schemas.Items(items=items)


@delivery_router.post(
    "/conversations/{conversation_id}/engagements",
    status_code=201,
    response_model=chat_schemas.Message,
    responses={
        200: {"description": "A retry: the message first sent with this client_message_id."}
    },
)
async def send_engagement(
    conversation_id: uuid.UUID,
    data: schemas.EngagementSend,
    response: Response,
    session: SessionDep,
    staff: SenderDep,
) -> chat_schemas.Message:
    """Posts the engagement as a card, taking the chat as a reply does; 409
    `engagement_not_available` if the end user can't have it (any more)."""
    message, created = await chat_service.send_engagement(session, staff, conversation_id, data)
    created_or_replayed(response, created)
    return message


@delivery_router.get(
    "/end-users/{end_user_id}/engagement-history",
    response_model=schemas.Items[schemas.HistoryItem],
)
async def engagement_history(
    end_user_id: uuid.UUID,
    session: SessionDep,
    staff: AgentDep,
    type: EngagementType | None = None,
    limit: Limit = 50,
) -> schemas.Items[schemas.HistoryItem]:
    """The engagements the end user holds from my partner, newest first."""
    items = await history.engagement_history(session, staff, end_user_id, type, limit=limit)
    return schemas.Items(items=items)


@delivery_router.get(
    "/end-users/{end_user_id}/recent-activity",
    response_model=schemas.Items[schemas.ActivityItem],
)
async def recent_activity(
    end_user_id: uuid.UUID,
    session: SessionDep,
    staff: AgentDep,
    type: EngagementType | None = None,
    limit: Limit = 50,
) -> schemas.Items[schemas.ActivityItem]:
    """The end user's latest events with my partner's engagements, newest first."""
    items = await history.recent_activity(session, staff, end_user_id, type, limit=limit)
    return schemas.Items(items=items)


@delivery_router.get("/me/engagements", response_model=Page[schemas.Delivery], tags=["end users"])
async def my_engagements(
    session: SessionDep, end_user: EndUserDep, limit: Limit = 50, cursor: str | None = None
) -> Page[schemas.Delivery]:
    """Engagements given to me, newest first."""
    items, next_cursor = await holdings.my_engagements(
        session, end_user, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@delivery_router.post(
    "/me/engagements/{delivery_id}/view", response_model=schemas.Delivery, tags=["end users"]
)
async def view_engagement(
    delivery_id: uuid.UUID, session: SessionDep, end_user: EndUserDep
) -> schemas.Delivery:
    """Marks it viewed (once)."""
    return await holdings.view_engagement(session, end_user, delivery_id)


@delivery_router.post(
    "/me/engagements/{delivery_id}/redeem", response_model=schemas.Delivery, tags=["end users"]
)
async def redeem_engagement(
    delivery_id: uuid.UUID, session: SessionDep, end_user: EndUserDep
) -> schemas.Delivery:
    """Redeems a click-to-redeem or time-based coupon; 409 `already_redeemed`,
    `engagement_expired`, `engagement_not_available` (none left), `engagement_not_redeemable`,
    `not_enough_points`."""
    return await holdings.redeem_engagement(session, end_user, delivery_id)


@delivery_router.post(
    "/me/engagements/{delivery_id}/download", response_model=schemas.Delivery, tags=["end users"]
)
async def download_engagement(
    delivery_id: uuid.UUID, session: SessionDep, end_user: EndUserDep
) -> schemas.Delivery:
    """Takes a sticker pack, ringtone or wallpaper (its bonus points the first time); 409
    `engagement_not_downloadable`, `not_enough_points`."""
    return await holdings.download_engagement(session, end_user, delivery_id)

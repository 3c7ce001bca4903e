import uuid

from fastapi import APIRouter, Response

from relaydesk.auth.deps import EndUserDep, StaffDep, require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.pagination import PageDep
from relaydesk.schemas import Page
from relaydesk.tenancy import schemas, service

router = APIRouter(prefix="/api/v1", tags=["channels"])


@router.get("/channels", response_model=Page[schemas.Channel])
async def list_channels(
    session: SessionDep, staff: StaffDep, page: PageDep
) -> Page[schemas.Channel]:
    items, next_cursor = await service.list_channels(session, staff, page)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/channels", status_code=201, response_model=schemas.Channel)
async def create_channel(
    data: schemas.ChannelCreate, session: SessionDep, staff: require(Permission.CHANNELS_MANAGE)
) -> schemas.Channel:
    channel = await service.create_channel(session, staff, data)
    return await service.channel_view(session, staff, channel.id)


@router.get("/channels/{channel_id}", response_model=schemas.Channel)
async def get_channel(
    channel_id: uuid.UUID, session: SessionDep, staff: StaffDep
) -> schemas.Channel:
    return await service.channel_view(session, staff, channel_id)


@router.post("/channels/{channel_id}/chat/enable", response_model=schemas.Channel)
async def enable_chat(
    channel_id: uuid.UUID, session: SessionDep, staff: require(Permission.CHAT_MANAGE)
) -> schemas.Channel:
    return await service.set_chat_enabled(session, staff, channel_id, enabled=True)


@router.post("/channels/{channel_id}/chat/disable", response_model=schemas.Channel)
async def disable_chat(
    channel_id: uuid.UUID, session: SessionDep, staff: require(Permission.CHAT_MANAGE)
) -> schemas.Channel:
    return await service.set_chat_enabled(session, staff, channel_id, enabled=False)


@router.get("/partner/settings", response_model=schemas.PartnerSettings, tags=["partner"])
async def partner_settings(session: SessionDep, staff: StaffDep) -> schemas.PartnerSettings:
    return await service.partner_settings(session, staff)


@router.patch("/partner/settings", response_model=schemas.PartnerSettings, tags=["partner"])
async def update_partner_settings(
    data: schemas.PartnerSettingsUpdate,
    session: SessionDep,
    staff: require(Permission.CHAT_MANAGE),
) -> schemas.PartnerSettings:
    """The partner's help-desk settings; `time_zone` is an IANA name (Europe/Lisbon)."""
    return await service.update_partner_settings(session, staff, data)


@router.get("/me/channels", response_model=Page[schemas.ChannelPublic], tags=["end users"])
async def my_channels(
    session: SessionDep, end_user: EndUserDep, page: PageDep
) -> Page[schemas.ChannelPublic]:
    """Channels the calling end user follows."""
    items, next_cursor = await service.followed_channels(session, end_user, page)
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/channels/{channel_id}/public", response_model=schemas.ChannelPublic, tags=["end users"]
)
async def public_channel(
    channel_id: uuid.UUID, session: SessionDep, end_user: EndUserDep
) -> schemas.ChannelPublic:
    return await service.public_channel(session, end_user, channel_id)


@router.put("/channels/{channel_id}/follow", status_code=204, tags=["end users"])
async def follow(channel_id: uuid.UUID, session: SessionDep, end_user: EndUserDep) -> Response:
    await service.follow_channel(session, end_user, channel_id)
    return Response(status_code=204)


@router.delete("/channels/{channel_id}/follow", status_code=204, tags=["end users"])
async def unfollow(channel_id: uuid.UUID, session: SessionDep, end_user: EndUserDep) -> Response:
    await service.unfollow_channel(session, end_user, channel_id)
    return Response(status_code=204)

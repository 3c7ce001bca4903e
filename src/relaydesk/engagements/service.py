"""The engagement catalogue (SU-2): a partner's engagements of six types, each a draft until
published, active until finished. Only the types the partner's package allows can be created
or published.

Once published, an engagement keeps its dates, type and channel: end users may hold it by
then. A finished one changes no more.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals.models import PartnerRequest, RequestKind, RequestStatus
from relaydesk.attachments.models import AttachmentKind
from relaydesk.attachments.service import FileReference, claim_engagement_files
from relaydesk.audit.service import record
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.models import Broadcast, BroadcastState
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import now
from relaydesk.engagements import schemas
from relaydesk.engagements.models import Engagement, EngagementStatus
from relaydesk.errors import Conflict, InvalidInput, NotFound, PermissionDenied, invalid_field
from relaydesk.pagination import decode_text_cursor, encode_text_cursor
from relaydesk.tenancy import service as tenancy

LOCKED = "engagement_locked"
FINISHED = "engagement_finished"
NOT_DRAFT = "engagement_not_draft"
NOT_ACTIVE = "engagement_not_active"
ENDED = "engagement_ended"
# Fixed once end users may have the engagement.
_PUBLISHED_LOCKS = ("type", "channel_id", "starts_at", "ends_at")

_TYPE_NAMES = {
    EngagementType.MESSAGE: "messages",
    EngagementType.PROMO: "promos",
    EngagementType.COUPON: "coupons",
    EngagementType.STICKER_PACK: "sticker packs",
    EngagementType.RINGTONE: "ringtones",
    EngagementType.WALLPAPER: "wallpapers",
}
_MEDIA = frozenset({AttachmentKind.IMAGE, AttachmentKind.VIDEO})
_IMAGE = frozenset({AttachmentKind.IMAGE})
_ANY = frozenset(AttachmentKind)


def readable_engagements(staff: StaffPrincipal) -> Select[tuple[Engagement]]:
    """The engagements of the staff member's partner; tenant staff have none."""
    statement = select(Engagement).where(Engagement.tenant_id == staff.tenant_id)
    if staff.partner_id is None:
        return statement.where(false())
    return statement.where(Engagement.partner_id == staff.partner_id)


def engagement_view(engagement: Engagement) -> schemas.Engagement:
    data = dict(engagement.data)
    if engagement.type == EngagementType.COUPON:
        data["remaining"] = engagement.remaining
    return schemas.Engagement(
        id=engagement.id,
        type=engagement.type,
        channel_id=engagement.channel_id,
        title=engagement.title,
        description=engagement.description,
        status=engagement.status,
        starts_at=engagement.starts_at,
        ends_at=engagement.ends_at,
        data=data,
        created_at=engagement.created_at,
        published_at=engagement.published_at,
        finished_at=engagement.finished_at,
    )


# --- Reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngagementQuery:
    type: EngagementType | None = None
    status: EngagementStatus | None = None
    channel_id: uuid.UUID | None = None


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created_text, id_text = decode_text_cursor(cursor)
        created_at = datetime.fromisoformat(created_text)
        if created_at.tzinfo is None:
            raise ValueError("naive time")
        return created_at, uuid.UUID(id_text)
    except ValueError as exc:
        raise InvalidInput("The cursor is not valid.") from exc


async def list_engagements(
    session: AsyncSession,
    staff: StaffPrincipal,
    query: EngagementQuery,
    *,
    limit: int,
    cursor: str | None = None,
) -> tuple[list[schemas.Engagement], str | None]:
    """The partner's engagements matching `query`, newest first."""
    statement = readable_engagements(staff)
    for column, value in (
        (Engagement.type, query.type),
        (Engagement.status, query.status),
        (Engagement.channel_id, query.channel_id),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if cursor:
        created_at, last_id = _decode_cursor(cursor)
        statement = statement.where(
            or_(
                Engagement.created_at < created_at,
                and_(Engagement.created_at == created_at, Engagement.id < last_id),
            )
        )
    order = (Engagement.created_at.desc(), Engagement.id.desc())
    rows = list(await session.scalars(statement.order_by(*order).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = encode_text_cursor(rows[-1].created_at.isoformat(), str(rows[-1].id))
    return [engagement_view(engagement) for engagement in rows], next_cursor


async def get_engagement(
    session: AsyncSession, staff: StaffPrincipal, engagement_id: uuid.UUID, *, lock: bool = False
) -> Engagement:
    """One of the partner's engagements (locked for a change with `lock`); 404 otherwise."""
    statement = readable_engagements(staff).where(Engagement.id == engagement_id)
    engagement = await session.scalar(statement.with_for_update() if lock else statement)
    if engagement is None:
        raise NotFound("No such engagement.")
    return engagement


# --- Checks ----------------------------------------------------------------------------------


async def _check_type_allowed(
    session: AsyncSession, staff: StaffPrincipal, type_: EngagementType
) -> None:
    if type_ not in await tenancy.allowed_engagement_types(session, staff):
        raise PermissionDenied(f"Your package and add-ons don't include {_TYPE_NAMES[type_]}.")


def _validated_data(type_: EngagementType, raw: dict[str, Any]) -> schemas.EngagementData:
    """`raw` checked as the type's data; 422 with each error's place under `data`."""
    try:
        return schemas.DATA_MODELS[type_].model_validate(raw)
    except ValidationError as exc:
        errors = [
            {"loc": ["body", "data", *error["loc"]], "msg": error["msg"]} for error in exc.errors()
        ]
        raise InvalidInput("The engagement's data is not valid.", extra={"errors": errors}) from exc


def _file_references(data: schemas.EngagementData) -> list[FileReference]:
    """The uploads `data` refers to, with the kinds each may be."""
    match data:
        case schemas.MessageData(media_attachment_id=media) if media:
            return [FileReference(("data", "media_attachment_id"), media, _MEDIA)]
        case schemas.PromoData():
            return [
                FileReference(("data", "media_attachment_ids", index), media, _MEDIA)
                for index, media in enumerate(data.media_attachment_ids)
            ]
        case schemas.CouponData(image_attachment_id=image) if image:
            return [FileReference(("data", "image_attachment_id"), image, _IMAGE)]
        case schemas.ContentData(content_attachment_id=content) if content:
            return [FileReference(("data", "content_attachment_id"), content, _ANY)]
    return []


def _stored(data: schemas.EngagementData) -> dict[str, Any]:
    return data.model_dump(mode="json")


async def _record(
    session: AsyncSession, staff: StaffPrincipal, action: str, engagement: Engagement, **data: Any
) -> None:
    await record(
        session,
        staff,
        f"engagement.{action}",
        tenant_id=engagement.tenant_id,
        partner_id=engagement.partner_id,
        subject_type="engagement",
        subject_id=engagement.id,
        data={"type": str(engagement.type), **data},
    )


# --- Writing ---------------------------------------------------------------------------------


async def create_engagement(
    session: AsyncSession, staff: StaffPrincipal, data: schemas.EngagementCreate
) -> schemas.Engagement:
    """A draft engagement of one of the partner's channels, of a type its package allows."""
    channel = await tenancy.get_channel(session, staff, data.channel_id)
    await _check_type_allowed(session, staff, data.type)
    await claim_engagement_files(session, staff, _file_references(data.data))
    engagement = Engagement(
        tenant_id=channel.tenant_id,
        partner_id=channel.partner_id,
        channel_id=channel.id,
        type=data.type,
        title=data.title,
        description=data.description,
        status=EngagementStatus.DRAFT,
        starts_at=data.starts_at,
        ends_at=data.ends_at,
        data=_stored(data.data),
        created_by_id=staff.id,
    )
    session.add(engagement)
    await session.flush()
    await _record(session, staff, "created", engagement)
    return engagement_view(engagement)


async def in_broadcast(session: AsyncSession, engagement_id: uuid.UUID) -> bool:
    """Whether a broadcast of the engagement waits for approval or for its delivery to end:
    what the tenant approves is what end users get."""
    waiting = select(PartnerRequest.id).where(
        PartnerRequest.kind == RequestKind.BROADCAST,
        PartnerRequest.status == RequestStatus.PENDING,
        PartnerRequest.subject_id == engagement_id,
    )
    delivering = select(Broadcast.id).where(
        Broadcast.engagement_id == engagement_id,
        Broadcast.state.in_((BroadcastState.SCHEDULED, BroadcastState.RUNNING)),
    )
    return bool(await session.scalar(waiting.union_all(delivering).limit(1)))


def _check_changeable(engagement: Engagement, changes: dict[str, Any]) -> None:
    if engagement.status == EngagementStatus.FINISHED:
        raise Conflict("A finished engagement can't be changed.", code=FINISHED)
    if changes.get("type", engagement.type) != engagement.type:
        raise Conflict("An engagement's type can't change.", code=LOCKED)
    if engagement.status == EngagementStatus.ACTIVE:
        locked = [
            field
            for field in _PUBLISHED_LOCKS
            if field in changes and changes[field] != getattr(engagement, field)
        ]
        if locked:
            raise Conflict(f"A published engagement keeps its {', '.join(locked)}.", code=LOCKED)


async def update_engagement(
    session: AsyncSession,
    staff: StaffPrincipal,
    engagement_id: uuid.UUID,
    data: schemas.EngagementUpdate,
) -> schemas.Engagement:
    """Changes the fields sent: anything but the type on a draft; on an active engagement
    anything but its dates and channel; nothing on a finished one."""
    engagement = await get_engagement(session, staff, engagement_id, lock=True)
    changes = data.model_dump(exclude_unset=True, exclude={"data"})
    _check_changeable(engagement, changes)
    if data.model_fields_set and await in_broadcast(session, engagement.id):
        raise Conflict(
            "This engagement is in a broadcast waiting for approval or delivery: it stays as "
            "it was asked for until the broadcast ends.",
            code="engagement_in_broadcast",
        )
    if "channel_id" in changes:
        await tenancy.get_channel(session, staff, changes["channel_id"])
    title = changes.get("title", engagement.title)
    if engagement.type == EngagementType.PROMO and len(title) > schemas.PROMO_NAME_MAX:
        raise invalid_field(
            "title", f"A promo's name has at most {schemas.PROMO_NAME_MAX} characters."
        )
    try:
        schemas.check_dates(
            changes.get("starts_at", engagement.starts_at),
            changes.get("ends_at", engagement.ends_at),
        )
    except ValueError as exc:
        raise invalid_field("ends_at", str(exc)) from exc
    if data.data is not None:
        new_data = _validated_data(engagement.type, engagement.data | data.data)
        await claim_engagement_files(session, staff, _new_files(engagement, new_data))
        await _change_quantity(session, engagement, new_data)
        changes["data"] = _stored(new_data)
    for field, value in changes.items():
        setattr(engagement, field, value)
    await session.flush()
    await _record(session, staff, "updated", engagement, fields=sorted(data.model_fields_set))
    return engagement_view(engagement)


def _new_files(engagement: Engagement, data: schemas.EngagementData) -> list[FileReference]:
    """The uploads `data` refers to that the engagement did not yet: the others were checked
    when they were first referred to."""
    current = {
        str(reference.attachment_id)
        for reference in _file_references(
            schemas.DATA_MODELS[engagement.type].model_validate(engagement.data)
        )
    }
    return [ref for ref in _file_references(data) if str(ref.attachment_id) not in current]


async def _change_quantity(
    session: AsyncSession, engagement: Engagement, data: schemas.EngagementData
) -> None:
    """A published coupon's new quantity moves what remains by as much, in the database (a
    redemption may be decrementing it meanwhile); never below what was redeemed already."""
    if not isinstance(data, schemas.CouponData) or engagement.remaining is None:
        return
    delta = data.quantity - engagement.data["quantity"]
    if delta == 0:
        return
    remaining = await session.scalar(
        update(Engagement)
        .where(Engagement.id == engagement.id, Engagement.remaining + delta >= 0)
        .values(remaining=Engagement.remaining + delta)
        .returning(Engagement.remaining)
    )
    if remaining is None:
        redeemed = engagement.data["quantity"] - (engagement.remaining or 0)
        raise Conflict(
            f"{redeemed} coupons are redeemed already; the quantity can't be less.",
            code="coupon_quantity_too_low",
        )
    engagement.remaining = remaining


async def publish_engagement(
    session: AsyncSession, staff: StaffPrincipal, engagement_id: uuid.UUID
) -> schemas.Engagement:
    """Makes a draft active: from now on (or its start) agents may send it."""
    engagement = await get_engagement(session, staff, engagement_id, lock=True)
    if engagement.status != EngagementStatus.DRAFT:
        raise Conflict(f"This engagement is {engagement.status} already.", code=NOT_DRAFT)
    await _check_type_allowed(session, staff, engagement.type)
    moment = now()
    if engagement.ends_at is not None and engagement.ends_at <= moment:
        raise Conflict(
            "This engagement's end date has passed; set a later one to publish it.", code=ENDED
        )
    engagement.status, engagement.published_at = EngagementStatus.ACTIVE, moment
    if engagement.type == EngagementType.COUPON:
        engagement.remaining = engagement.data["quantity"]
    await session.flush()
    await _record(session, staff, "published", engagement)
    return engagement_view(engagement)


async def finish_engagement(
    session: AsyncSession, staff: StaffPrincipal, engagement_id: uuid.UUID
) -> schemas.Engagement:
    """Ends an active engagement: it is sent no more."""
    engagement = await get_engagement(session, staff, engagement_id, lock=True)
    if engagement.status != EngagementStatus.ACTIVE:
        raise Conflict(
            f"Only an active engagement can be finished; this one is {engagement.status}.",
            code=NOT_ACTIVE,
        )
    engagement.status, engagement.finished_at = EngagementStatus.FINISHED, now()
    await session.flush()
    await _record(session, staff, "finished", engagement)
    return engagement_view(engagement)

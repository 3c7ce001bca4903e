"""Engagements as the API takes and shows them; `data` holds each type's own fields."""

import uuid
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    Field,
    HttpUrl,
    StringConstraints,
    model_validator,
)

from relaydesk.catalogue.models import EngagementType
from relaydesk.engagements.models import (
    ActivityKind,
    DeliveryState,
    EngagementStatus,
    RedemptionType,
)
from relaydesk.schemas import Input, Output, UtcDatetime

TITLE_MAX = 200
PROMO_NAME_MAX = 80

Title = Annotated[str, StringConstraints(min_length=1, max_length=TITLE_MAX)]
PromoName = Annotated[str, StringConstraints(min_length=1, max_length=PROMO_NAME_MAX)]
Description = Annotated[str, StringConstraints(max_length=2_000)]
# Counts and points fit the database's 32-bit integers with room to spare.
Points = Annotated[int, Field(ge=0, le=1_000_000_000)]
Quantity = Annotated[int, Field(ge=1, le=1_000_000_000)]


def _distinct(ids: list[uuid.UUID]) -> list[uuid.UUID]:
    if len(set(ids)) != len(ids):
        raise ValueError("Each file can be used once.")
    return ids


class MessageData(Input):
    text: Annotated[str, StringConstraints(min_length=1, max_length=2_000)]
    media_attachment_id: uuid.UUID | None = None


class PromoData(Input):
    cta_text: Annotated[str, StringConstraints(max_length=40)] | None = None
    cta_url: HttpUrl | None = None
    media_attachment_ids: Annotated[
        list[uuid.UUID], Field(min_length=1, max_length=5), AfterValidator(_distinct)
    ]
    # Sent to end users' engagement lists, but not shown as a card in the chat thread.
    hide_in_chat: bool = False


class CouponData(Input):
    redemption_type: RedemptionType
    quantity: Quantity
    per_user_limit: Quantity = 1
    points_price: Points = 0
    image_attachment_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _limit_within_quantity(self) -> "CouponData":
        if self.per_user_limit > self.quantity:
            raise ValueError("per_user_limit can't be more than quantity.")
        return self


class ContentData(Input):
    """A sticker pack, ringtone or wallpaper: the file, its price and the points it gives."""

    content_attachment_id: uuid.UUID | None = None
    points_price: Points = 0
    bonus_points: Points = 0


EngagementData = MessageData | PromoData | CouponData | ContentData

DATA_MODELS: dict[EngagementType, type[EngagementData]] = {
    EngagementType.MESSAGE: MessageData,
    EngagementType.PROMO: PromoData,
    EngagementType.COUPON: CouponData,
    EngagementType.STICKER_PACK: ContentData,
    EngagementType.RINGTONE: ContentData,
    EngagementType.WALLPAPER: ContentData,
}


def check_dates(starts_at: datetime | None, ends_at: datetime | None) -> None:
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        raise ValueError("ends_at must be after starts_at.")


class _Create(Input):
    channel_id: uuid.UUID
    title: Title
    description: Description = ""
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ends_after_start(self) -> "_Create":
        check_dates(self.starts_at, self.ends_at)
        return self


class MessageCreate(_Create):
    type: Literal[EngagementType.MESSAGE]
    data: MessageData


class PromoCreate(_Create):
    type: Literal[EngagementType.PROMO]
    title: PromoName = Field(description="The promo's name.")
    data: PromoData


class CouponCreate(_Create):
    type: Literal[EngagementType.COUPON]
    data: CouponData


class ContentCreate(_Create):
    type: Literal[EngagementType.STICKER_PACK, EngagementType.RINGTONE, EngagementType.WALLPAPER]
    data: ContentData


EngagementCreate = Annotated[
    MessageCreate | PromoCreate | CouponCreate | ContentCreate, Field(discriminator="type")
]


class EngagementUpdate(Input):
    """Only the fields sent change. `data` fields sent replace the stored ones, and the result
    is checked as a whole; once published, dates, type and channel stay as they are."""

    type: EngagementType | None = None
    channel_id: uuid.UUID | None = None
    title: Title | None = None
    description: Description | None = None
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    data: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _required_fields_not_null(self) -> "EngagementUpdate":
        for field in ("type", "channel_id", "title", "description", "data"):
            if field in self.model_fields_set and getattr(self, field) is None:
                raise ValueError(f"{field} cannot be null.")
        return self


class Engagement(Output):
    id: uuid.UUID
    type: EngagementType
    channel_id: uuid.UUID
    title: str
    description: str
    status: EngagementStatus
    starts_at: datetime | None
    ends_at: datetime | None
    data: dict[str, Any] = Field(description="The type's fields; a coupon's add `remaining`.")
    created_at: datetime
    published_at: datetime | None
    finished_at: datetime | None


class EngagementSend(Input):
    """An agent sends an engagement into a chat; `take_over` as for a message."""

    client_message_id: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)
    ]
    engagement_id: uuid.UUID
    take_over: bool = False


class EngagementCard(Output):
    """An engagement as the end user holds it."""

    id: uuid.UUID
    type: EngagementType
    title: str
    description: str
    status: EngagementStatus
    starts_at: datetime | None
    ends_at: datetime | None
    data: dict[str, Any]


class Delivery(Output):
    """An engagement given to me (`GET /api/v1/me/engagements`)."""

    id: uuid.UUID
    engagement: EngagementCard
    channel_id: uuid.UUID
    state: DeliveryState
    received_at: datetime
    viewed_at: datetime | None
    redeemed_at: datetime | None
    downloaded_at: datetime | None


class HistoryItem(Output):
    """One engagement an end user holds, as the agent's history panel shows it."""

    engagement: EngagementCard
    state: DeliveryState
    received_at: datetime
    viewed_at: datetime | None
    redeemed_at: datetime | None
    downloaded_at: datetime | None


class ActivityItem(Output):
    """One event of the end user's engagement log."""

    type: ActivityKind
    engagement_type: EngagementType
    engagement_id: uuid.UUID
    title: str
    points: int
    occurred_at: datetime


_T = TypeVar("_T")


class Items(BaseModel, Generic[_T]):
    """A short list shown whole (a side panel)."""

    items: list[_T]

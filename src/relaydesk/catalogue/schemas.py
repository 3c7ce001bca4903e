import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from relaydesk.catalogue.models import BillingPeriod, EngagementType
from relaydesk.schemas import Input, Money, Name, Output

# How engagement types read in pages.
TYPE_LABELS = {
    EngagementType.MESSAGE: "Message",
    EngagementType.PROMO: "Promo",
    EngagementType.COUPON: "Coupon",
    EngagementType.STICKER_PACK: "Sticker pack",
    EngagementType.RINGTONE: "Ringtone",
    EngagementType.WALLPAPER: "Wallpaper",
}


def _distinct(types: list[EngagementType]) -> list[EngagementType]:
    return sorted(set(types))


EngagementTypes = Annotated[list[EngagementType], AfterValidator(_distinct)]
ChannelLimit = Annotated[int, Field(ge=0, le=10_000)]
Description = Annotated[str, Field(max_length=2000)]
Impressions = Annotated[int, Field(ge=1, le=10**12)]


class PackageCreate(Input):
    name: Name
    price: Money
    billing_period: BillingPeriod
    engagement_types: EngagementTypes
    max_channels: ChannelLimit
    archived: bool = False


class PackageUpdate(Input):
    name: Name | None = None
    price: Money | None = None
    billing_period: BillingPeriod | None = None
    engagement_types: EngagementTypes | None = None
    max_channels: ChannelLimit | None = None
    archived: bool | None = None


class Package(Output):
    id: uuid.UUID
    name: str
    price: Money
    billing_period: BillingPeriod
    engagement_types: list[EngagementType]
    max_channels: int
    archived: bool
    created_at: datetime


class Grants(BaseModel):
    """What an add-on adds to a partner's package."""

    model_config = ConfigDict(extra="forbid")

    engagement_types: EngagementTypes = []
    extra_channels: ChannelLimit = 0


class AddonCreate(Input):
    name: Name
    price: Money
    description: Description = ""
    grants: Grants
    archived: bool = False


class AddonUpdate(Input):
    name: Name | None = None
    price: Money | None = None
    description: Description | None = None
    grants: Grants | None = None
    archived: bool | None = None


class Addon(Output):
    id: uuid.UUID
    name: str
    price: Money
    description: str
    grants: Grants
    archived: bool
    created_at: datetime


class AdPackageCreate(Input):
    name: Name
    impressions: Impressions
    price: Money
    archived: bool = False


class AdPackageUpdate(Input):
    name: Name | None = None
    impressions: Impressions | None = None
    price: Money | None = None
    archived: bool | None = None


class AdPackage(Output):
    id: uuid.UUID
    name: str
    impressions: int
    price: Money
    archived: bool
    created_at: datetime

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from relaydesk.catalogue.models import BillingPeriod, EngagementType
from relaydesk.schemas import Input, Money, Name, Output


def _distinct(types: list[EngagementType]) -> list[EngagementType]:
    return sorted(set(types))


EngagementTypes = Annotated[list[EngagementType], AfterValidator(_distinct)]
ChannelLimit = Annotated[int, Field(ge=0, le=10_000)]


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

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from relaydesk.schemas import Input, Money, Name, Output
from relaydesk.tenancy.models import PartnerStatus


class ChannelCreate(Input):
    name: Name
    description: str = Field(default="", max_length=2000)


class Channel(Output):
    id: uuid.UUID
    name: str
    description: str
    chat_enabled: bool
    follower_count: int


class ChannelPublic(Output):
    """A channel as an end user sees it."""

    id: uuid.UUID
    name: str
    description: str
    chat_enabled: bool
    following: bool


def _known_zone(name: str) -> str:
    if name not in available_timezones():
        raise ValueError("Pick a time zone from the IANA database, such as Europe/Lisbon.")
    return name


TimeZoneName = Annotated[str, Field(max_length=64), AfterValidator(_known_zone)]


# The owner timer's range: a minute at least, a day at most.
OwnerTimerMinutes = Annotated[int, Field(ge=1, le=1440, strict=True)]


class PartnerSettings(Output):
    """A partner's help-desk settings: its time zone divides analytics into days; with the
    owner timer on, an active chat whose end user has waited that many minutes for an
    answer goes back to Unanswered (HD-20)."""

    time_zone: str
    owner_timer_minutes: int | None = Field(description="null when the owner timer is off")


class PartnerSettingsUpdate(Input):
    """Fields left out stay as they are; `owner_timer_minutes: null` switches the timer off."""

    time_zone: TimeZoneName | None = None
    owner_timer_minutes: OwnerTimerMinutes | None = None

    @model_validator(mode="after")
    def _zone_given_if_named(self) -> "PartnerSettingsUpdate":
        if "time_zone" in self.model_fields_set and self.time_zone is None:
            raise ValueError("Pick a time zone, such as Europe/Lisbon.")
        return self


class PartnerPackage(Output):
    id: uuid.UUID
    name: str
    price: Money


class PartnerAddonItem(Output):
    id: uuid.UUID
    name: str


class PartnerChannel(Output):
    id: uuid.UUID
    name: str
    chat_enabled: bool
    follower_count: int


class PartnerListItem(Output):
    """A partner as the tenant's My partners list shows it (PM-8)."""

    id: uuid.UUID
    name: str
    status: PartnerStatus
    package: PartnerPackage
    invoice_id: str | None
    addons: list[PartnerAddonItem]
    impressions_balance: int
    email: str
    phone: str
    website: str
    contact_name: str
    channels: list[PartnerChannel]
    created_at: datetime


InvoiceId = Annotated[str, StringConstraints(strip_whitespace=True, max_length=64)]


class PartnerUpdate(Input):
    """A blank invoice ID clears it; a partner is suspended or made active again."""

    invoice_id: InvoiceId | None = None
    status: Literal[PartnerStatus.ACTIVE, PartnerStatus.SUSPENDED] | None = None

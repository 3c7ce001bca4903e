import uuid
from typing import Annotated
from zoneinfo import available_timezones

from pydantic import AfterValidator, Field

from relaydesk.schemas import Input, Name, Output


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


class PartnerSettings(Output):
    """A partner's help-desk settings: its time zone divides analytics into days."""

    time_zone: str


class PartnerSettingsUpdate(Input):
    time_zone: TimeZoneName

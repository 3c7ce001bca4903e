import uuid

from pydantic import Field

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

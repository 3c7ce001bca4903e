import datetime as dt
import uuid

from pydantic import Field

from relaydesk.schemas import Output


class Averages(Output):
    """Mean response and handling time in seconds; null when there is nothing to average."""

    avg_response_seconds: float | None
    avg_handling_seconds: float | None


class AgentFigures(Averages):
    agent_id: uuid.UUID
    name: str
    finished: int


class AgentNow(AgentFigures):
    """An agent's figures of the last hours, with the chats they own now."""

    active: int


class ChannelFigures(Averages):
    channel_id: uuid.UUID
    name: str
    finished: int
    active: int
    unanswered: int


class ChatSummary(Averages):
    """The last hours of chat (HD-15): finished in the window, active and unanswered now."""

    window_hours: int
    since: dt.datetime
    finished: int
    active: int
    unanswered: int
    per_agent: list[AgentNow]
    per_channel: list[ChannelFigures]


class DayFigures(Averages):
    date: dt.date
    opened: int
    finished: int


class RangeTotals(Averages):
    opened: int
    finished: int


class ChannelTotals(Averages):
    channel_id: uuid.UUID
    name: str
    opened: int
    finished: int


class DailyFigures(Output):
    """One row per day of the range, in the partner's time zone, with the range's totals per
    agent and per channel."""

    time_zone: str
    from_: dt.date = Field(serialization_alias="from")
    to: dt.date
    days: list[DayFigures]
    totals: RangeTotals
    per_agent: list[AgentFigures]
    per_channel: list[ChannelTotals]

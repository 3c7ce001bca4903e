"""Chat analytics (HD-15), read from chat-session rows and never by scanning messages.

A chat session counts as finished where its `finished_at` falls, its response time where its
first response falls and its handling time where it finished. Finishes and handling time count
for the session's agent (who owned it at the end), response time for whoever answered first.
Chats active and unanswered are counted as they are now.
"""

import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.analytics import schemas
from relaydesk.auth.models import StaffUser
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.chat.models import ChatSession, Conversation, ConversationStatus
from relaydesk.clock import now
from relaydesk.db import UTCDateTime
from relaydesk.errors import InvalidInput, NotFound
from relaydesk.tenancy.models import Channel, Partner

# Enough for a year's daily rows, and below SQLite's limit of 500 terms in one compound select.
MAX_RANGE_DAYS = 366
DEFAULT_RANGE_DAYS = 30
# Days whose midnights exist in UTC in every time zone (the calendar ends at 9999-12-31).
FIRST_DAY, LAST_DAY = date(2000, 1, 1), date(2999, 12, 31)

_session = ChatSession.__table__
_conversation = Conversation.__table__

# What a group of sessions adds to a tally: finishes with their handling time, and responses.
_FINISHED_SUMS = (
    func.count(),
    func.sum(_session.c.handling_seconds),
    func.count(_session.c.handling_seconds),
)
_RESPONSE_SUMS = (func.sum(_session.c.response_seconds), func.count(_session.c.response_seconds))


def _finished(group_by: list[sa.Column[Any]], *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return select(*group_by, *_FINISHED_SUMS).where(*where).group_by(*group_by)


def _responded(group_by: list[sa.Column[Any]], *where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return select(*group_by, *_RESPONSE_SUMS).where(*where).group_by(*group_by)


@dataclass
class _Tally:
    """Sums that become a row of figures: counts, and totals with their counts for means."""

    opened: int = 0
    finished: int = 0
    response_total: float = 0.0
    responses: int = 0
    handling_total: float = 0.0
    handlings: int = 0
    active: int = 0
    unanswered: int = 0

    def add_finished(self, finished: int, handling_total: float | None, handlings: int) -> None:
        self.finished += finished
        self.handling_total += handling_total or 0.0
        self.handlings += handlings

    def add_responses(self, response_total: float | None, responses: int) -> None:
        self.response_total += response_total or 0.0
        self.responses += responses

    def averages(self) -> dict[str, float | None]:
        return {
            "avg_response_seconds": _mean(self.response_total, self.responses),
            "avg_handling_seconds": _mean(self.handling_total, self.handlings),
        }


def _mean(total: float, count: int) -> float | None:
    return round(total / count, 3) if count else None


def _scope(staff: StaffPrincipal, channel_id: uuid.UUID | None) -> list[sa.ColumnElement[bool]]:
    scope = [_session.c.partner_id == staff.partner_id]
    if channel_id is not None:
        scope.append(_session.c.channel_id == channel_id)
    return scope


async def _channel_names(
    session: AsyncSession, staff: StaffPrincipal, channel_id: uuid.UUID | None
) -> dict[uuid.UUID, str]:
    """The partner's channels by name (only the one asked for, if any; 404 if not theirs)."""
    statement = select(Channel.id, Channel.name).where(Channel.partner_id == staff.partner_id)
    if channel_id is not None:
        statement = statement.where(Channel.id == channel_id)
    names = {id_: name for id_, name in await session.execute(statement.order_by(Channel.name))}
    if channel_id is not None and not names:
        raise NotFound("No such channel.")
    return names


async def partner_agents(
    session: AsyncSession, staff: StaffPrincipal
) -> list[tuple[uuid.UUID, str, bool]]:
    """The partner's staff (id, name, is_active) by name: whom figures are listed for."""
    statement = select(StaffUser.id, StaffUser.name, StaffUser.is_active).where(
        StaffUser.partner_id == staff.partner_id
    )
    return [tuple(row) for row in await session.execute(statement.order_by(StaffUser.name))]


def _listed(
    agents: list[tuple[uuid.UUID, str, bool]], tallies: dict[uuid.UUID, _Tally]
) -> list[tuple[uuid.UUID, str, _Tally]]:
    """Every active agent, and former ones who have figures, with their tallies."""
    return [
        (agent_id, name, tallies.get(agent_id) or _Tally())
        for agent_id, name, is_active in agents
        if is_active or agent_id in tallies
    ]


async def chat_summary(
    session: AsyncSession, staff: StaffPrincipal, *, hours: int, channel_id: uuid.UUID | None
) -> schemas.ChatSummary:
    """The last `hours` of the partner's chats (or one channel's), whole, per channel and per
    agent: a handful of grouped reads on indexed session and conversation rows."""
    channels = await _channel_names(session, staff, channel_id)
    since = now() - timedelta(hours=hours)
    scope = _scope(staff, channel_id)
    whole = _Tally()
    per_channel: dict[uuid.UUID, _Tally] = defaultdict(_Tally)
    per_agent: dict[uuid.UUID, _Tally] = defaultdict(_Tally)

    finished = _finished(
        [_session.c.channel_id, _session.c.agent_id], *scope, _session.c.finished_at >= since
    )
    for channel, agent, *sums in await session.execute(finished):
        for tally in _tallies(whole, per_channel[channel], per_agent, agent):
            tally.add_finished(*sums)
    responded = _responded(
        [_session.c.channel_id, _session.c.first_responder_id],
        *scope,
        _session.c.first_response_at >= since,
    )
    for channel, agent, *sums in await session.execute(responded):
        for tally in _tallies(whole, per_channel[channel], per_agent, agent):
            tally.add_responses(*sums)

    open_now = (
        select(
            _conversation.c.channel_id,
            _conversation.c.status,
            _conversation.c.owner_id,
            func.count(),
        )
        .where(
            _conversation.c.partner_id == staff.partner_id,
            _conversation.c.status.in_([ConversationStatus.UNANSWERED, ConversationStatus.ACTIVE]),
        )
        .group_by(_conversation.c.channel_id, _conversation.c.status, _conversation.c.owner_id)
    )
    if channel_id is not None:
        open_now = open_now.where(_conversation.c.channel_id == channel_id)
    for channel, status, owner, count in await session.execute(open_now):
        if status == ConversationStatus.UNANSWERED:
            whole.unanswered += count
            per_channel[channel].unanswered += count
        else:
            for tally in _tallies(whole, per_channel[channel], per_agent, owner):
                tally.active += count

    return schemas.ChatSummary(
        window_hours=hours,
        since=since,
        finished=whole.finished,
        active=whole.active,
        unanswered=whole.unanswered,
        **whole.averages(),
        per_agent=[
            schemas.AgentNow(
                agent_id=agent_id,
                name=name,
                finished=tally.finished,
                active=tally.active,
                **tally.averages(),
            )
            for agent_id, name, tally in _listed(await partner_agents(session, staff), per_agent)
        ],
        per_channel=[
            schemas.ChannelFigures(
                channel_id=channel,
                name=name,
                finished=per_channel[channel].finished,
                active=per_channel[channel].active,
                unanswered=per_channel[channel].unanswered,
                **per_channel[channel].averages(),
            )
            for channel, name in channels.items()
        ],
    )


def _tallies(
    whole: _Tally, channel: _Tally, per_agent: dict[uuid.UUID, _Tally], agent: uuid.UUID | None
) -> list[_Tally]:
    """The tallies one grouped row adds to: the whole, its channel, and its agent if any."""
    return [whole, channel] if agent is None else [whole, channel, per_agent[agent]]


@dataclass(frozen=True)
class RangeQuery:
    first_day: date | None = None
    last_day: date | None = None
    channel_id: uuid.UUID | None = None
    agent_id: uuid.UUID | None = None


async def partner_zone(session: AsyncSession, staff: StaffPrincipal) -> ZoneInfo:
    time_zone = await session.scalar(
        select(Partner.time_zone).where(Partner.id == staff.partner_id)
    )
    return ZoneInfo(time_zone or "UTC")


def _days(query: RangeQuery, zone: ZoneInfo) -> list[date]:
    last_day = query.last_day or now().astimezone(zone).date()
    for day in (query.first_day, last_day):
        if day is not None and not FIRST_DAY <= day <= LAST_DAY:
            raise InvalidInput(f"Pick days from {FIRST_DAY} to {LAST_DAY}.")
    first_day = query.first_day or max(FIRST_DAY, last_day - timedelta(days=DEFAULT_RANGE_DAYS - 1))
    if first_day > last_day:
        raise InvalidInput("The range must not end before it starts.")
    count = (last_day - first_day).days + 1
    if count > MAX_RANGE_DAYS:
        raise InvalidInput(f"Pick a range of at most {MAX_RANGE_DAYS} days.")
    return [first_day + timedelta(days=offset) for offset in range(count)]


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def _day_table(days: list[date], zone: ZoneInfo) -> sa.Subquery:
    """The range's days as rows (n, starts, ends) in UTC, split at the zone's midnights, so
    daylight-saving days last 23 or 25 hours as they do for the people reading them."""
    return union_all(
        *(
            select(
                literal(n).label("n"),
                literal(_midnight(day, zone), UTCDateTime()).label("starts"),
                literal(_midnight(day + timedelta(days=1), zone), UTCDateTime()).label("ends"),
            )
            for n, day in enumerate(days)
        )
    ).subquery("day")


async def _by_day(
    session: AsyncSession,
    day: sa.Subquery,
    at: sa.Column[Any],
    agent: sa.Column[Any],
    scope: Iterable[sa.ColumnElement[bool]],
    *sums: sa.ColumnElement[Any],
) -> sa.Result[Any]:
    """Figures of the sessions whose `at` falls in each day, by day number, channel and agent:
    few enough rows for the service to fold into days, agents and channels itself."""
    group_by = (day.c.n, _session.c.channel_id, agent)
    return await session.execute(
        select(*group_by, *sums)
        .select_from(day)
        .join(_session, sa.and_(*scope, at >= day.c.starts, at < day.c.ends))
        .group_by(*group_by)
    )


async def chat_daily(
    session: AsyncSession, staff: StaffPrincipal, query: RangeQuery
) -> schemas.DailyFigures:
    """Chats opened and finished and the two averages per day of the range in the partner's
    time zone, with the range's totals, per agent and per channel (the last two with the
    agent and channel filters applied, as the days are, except that per agent lists everyone
    unless one agent is asked for)."""
    zone = await partner_zone(session, staff)
    days = _days(query, zone)
    channels = await _channel_names(session, staff, query.channel_id)
    agents = await partner_agents(session, staff)
    if query.agent_id is not None and query.agent_id not in {id_ for id_, _, _ in agents}:
        raise NotFound("No such agent.")
    scope = _scope(staff, query.channel_id)
    day = _day_table(days, zone)
    per_day: dict[int, _Tally] = defaultdict(_Tally)
    per_agent: dict[uuid.UUID, _Tally] = defaultdict(_Tally)
    per_channel: dict[uuid.UUID, _Tally] = defaultdict(_Tally)
    totals = _Tally()

    def tallies(n: int, channel: uuid.UUID, agent: uuid.UUID | None) -> list[_Tally]:
        """What a row adds to: its agent's, and if the agent filter lets it, the rest."""
        mine = [per_agent[agent]] if agent is not None else []
        if query.agent_id not in (None, agent):
            return mine
        return [*mine, per_day[n], per_channel[channel], totals]

    for n, channel, agent, count in await _by_day(
        session, day, _session.c.opened_at, _session.c.agent_id, scope, func.count()
    ):
        for tally in tallies(n, channel, agent):
            tally.opened += count
    for n, channel, agent, *sums in await _by_day(
        session, day, _session.c.finished_at, _session.c.agent_id, scope, *_FINISHED_SUMS
    ):
        for tally in tallies(n, channel, agent):
            tally.add_finished(*sums)
    for n, channel, agent, *sums in await _by_day(
        session,
        day,
        _session.c.first_response_at,
        _session.c.first_responder_id,
        scope,
        *_RESPONSE_SUMS,
    ):
        for tally in tallies(n, channel, agent):
            tally.add_responses(*sums)

    return schemas.DailyFigures(
        time_zone=zone.key,
        from_=days[0],
        to=days[-1],
        days=[
            schemas.DayFigures(
                date=day_date,
                opened=per_day[n].opened,
                finished=per_day[n].finished,
                **per_day[n].averages(),
            )
            for n, day_date in enumerate(days)
        ],
        totals=schemas.RangeTotals(
            opened=totals.opened, finished=totals.finished, **totals.averages()
        ),
        per_agent=[
            schemas.AgentFigures(
                agent_id=agent_id, name=name, finished=tally.finished, **tally.averages()
            )
            for agent_id, name, tally in _listed(agents, per_agent)
            if query.agent_id in (None, agent_id)
        ],
        per_channel=[
            schemas.ChannelTotals(
                channel_id=channel_id,
                name=name,
                opened=per_channel[channel_id].opened,
                finished=per_channel[channel_id].finished,
                **per_channel[channel_id].averages(),
            )
            for channel_id, name in channels.items()
        ],
    )

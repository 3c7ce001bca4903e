import datetime as dt
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from relaydesk.analytics import schemas, service
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.exports import csv_download

router = APIRouter(prefix="/api/v1/analytics/chat", tags=["analytics"])

AnalystDep = require(Permission.ANALYTICS_VIEW)


async def range_query(
    from_: Annotated[dt.date | None, Query(alias="from")] = None,
    to: dt.date | None = None,
    channel_id: uuid.UUID | None = None,
    agent_id: uuid.UUID | None = None,
) -> service.RangeQuery:
    return service.RangeQuery(
        first_day=from_, last_day=to, channel_id=channel_id, agent_id=agent_id
    )


RangeQueryDep = Annotated[service.RangeQuery, Depends(range_query)]


@router.get("/summary", response_model=schemas.ChatSummary)
async def chat_summary(
    session: SessionDep,
    staff: AnalystDep,
    hours: Annotated[int, Query(ge=1, le=720)] = 24,
    channel_id: uuid.UUID | None = None,
) -> schemas.ChatSummary:
    """Chats finished in the last `hours`, active and unanswered now, the average response and
    handling times; whole, per agent and per channel."""
    return await service.chat_summary(session, staff, hours=hours, channel_id=channel_id)


@router.get("/daily", response_model=schemas.DailyFigures)
async def chat_daily(
    session: SessionDep, staff: AnalystDep, query: RangeQueryDep
) -> schemas.DailyFigures:
    """One row per day from `from` to `to` (default: the last 30 days), days in the partner's
    time zone; at most 366 days."""
    return await service.chat_daily(session, staff, query)


@router.get(
    "/daily.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "The daily rows as CSV."}},
)
async def chat_daily_csv(
    session: SessionDep, staff: AnalystDep, query: RangeQueryDep
) -> StreamingResponse:
    figures = await service.chat_daily(session, staff, query)
    return csv_download(
        f"chat-analytics-{figures.from_}-{figures.to}.csv",
        ["date", "opened", "finished", "avg_response_seconds", "avg_handling_seconds"],
        (
            [day.date, day.opened, day.finished, day.avg_response_seconds, day.avg_handling_seconds]
            for day in figures.days
        ),
    )

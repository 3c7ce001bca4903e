"""The desk's analytics pages (HD-15): basic chat analytics of the last 24 hours, and the
Analytics area's date range with daily charts, tables and a CSV export.

Both paint their figures on the server from the same service calls as the API, so they read
right before any script runs: analytics-today.js then keeps the first current from the API,
analytics-range.js draws the second's charts from the figures the page carries.
"""

import math
import zoneinfo
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.analytics import service
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.deps import SessionDep
from relaydesk.errors import InvalidInput
from relaydesk.tenancy import service as tenancy
from relaydesk.tenancy.schemas import PartnerSettingsUpdate
from relaydesk.web.templating import render, uuid_or_none

router = APIRouter(include_in_schema=False)

AnalystDep = require(Permission.ANALYTICS_VIEW)
ManagerDep = require(Permission.CHAT_MANAGE)

HOME = "/desk/analytics"
WINDOW_HOURS = 24
TIME_ZONES = sorted(zoneinfo.available_timezones())
EXPORT_PATH = "/api/v1/analytics/chat/daily.csv"
BAD_DATE = "Give the dates as YYYY-MM-DD."
BAD_ZONE = "Pick a time zone from the list, such as Europe/Lisbon."


def format_duration(seconds: float | None) -> str:
    """A duration the way people read it (45 s, 1 m 05 s, 2 h 03 m, — for none); the pages'
    scripts format with analytics-format.js, which rounds and reads the same."""
    if seconds is None:
        return "—"
    # Half a second rounds up, as JavaScript's Math.round does.
    total = math.floor(seconds + 0.5)
    if total < 60:
        return f"{total} s"
    if total < 3600:
        return f"{total // 60} m {total % 60:02d} s"
    return f"{total // 3600} h {total % 3600 // 60:02d} m"


def _date_or_none(text: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(BAD_DATE) from None


@dataclass
class Filters:
    """The range form's fields as typed, so that a refused range shows them again."""

    from_: str = ""
    to: str = ""
    channel_id: str = ""
    agent_id: str = ""

    def query(self) -> service.RangeQuery:
        return service.RangeQuery(
            first_day=_date_or_none(self.from_),
            last_day=_date_or_none(self.to),
            channel_id=uuid_or_none(self.channel_id),
            agent_id=uuid_or_none(self.agent_id),
        )

    def params(self, first_day: date | None = None, last_day: date | None = None) -> str:
        """The query string of these filters; the days given replace the typed ones."""
        pairs = {
            "from": first_day or self.from_,
            "to": last_day or self.to,
            "channel_id": self.channel_id,
            "agent_id": self.agent_id,
        }
        return urlencode({name: str(value) for name, value in pairs.items() if value})


async def filters_query(
    from_: Annotated[str, Query(alias="from")] = "",
    to: str = "",
    channel_id: str = "",
    agent_id: str = "",
) -> Filters:
    return Filters(from_.strip(), to.strip(), channel_id, agent_id)


async def filters_form(
    from_: Annotated[str, Form(alias="from")] = "",
    to: Annotated[str, Form()] = "",
    channel_id: Annotated[str, Form()] = "",
    agent_id: Annotated[str, Form()] = "",
) -> Filters:
    """The filters the time-zone form carries, to come back to the same range."""
    return Filters(from_.strip(), to.strip(), channel_id, agent_id)


@router.get("/desk/analytics/today", name="analytics:today")
async def basic_analytics(
    request: Request, session: SessionDep, staff: AnalystDep, channel_id: str = ""
) -> HTMLResponse:
    """The last 24 hours, whole, per channel and per agent (one channel's if picked)."""
    channel = uuid_or_none(channel_id)
    summary = await service.chat_summary(session, staff, hours=WINDOW_HOURS, channel_id=channel)
    return render(
        request,
        "analytics/today.html",
        staff=staff,
        summary=summary,
        channel_id=channel,
        channels=await tenancy.channels_by_name(session, staff),
        duration=format_duration,
    )


async def _range_page(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    filters: Filters,
    *,
    zone_error: str | None = None,
    typed_zone: str = "",
) -> HTMLResponse:
    """The range's figures, or the reason the range was refused (a 200: the page itself is
    fine, only the range is not)."""
    figures, error = None, None
    try:
        figures = await service.chat_daily(session, staff, filters.query())
    except InvalidInput as exc:
        error = exc.detail
    time_zone = (await tenancy.partner_settings(session, staff)).time_zone
    context: dict[str, Any] = {}
    if figures is not None:
        context = {
            "export_url": f"{EXPORT_PATH}?{filters.params(figures.from_, figures.to)}",
            "chart_days": [day.model_dump(mode="json") for day in figures.days],
        }
    return render(
        request,
        "analytics/range.html",
        staff=staff,
        status_code=422 if zone_error else 200,
        filters=filters,
        figures=figures,
        error=error,
        time_zone=time_zone,
        zone_error=zone_error,
        typed_zone=typed_zone or time_zone,
        time_zones=TIME_ZONES,
        channels=await tenancy.channels_by_name(session, staff),
        agents=[
            (agent_id, name)
            for agent_id, name, is_active in await service.partner_agents(session, staff)
            if is_active
        ],
        duration=format_duration,
        **context,
    )


@router.get(HOME, name="analytics:range")
async def range_analytics(
    request: Request,
    session: SessionDep,
    staff: AnalystDep,
    filters: Annotated[Filters, Depends(filters_query)],
) -> HTMLResponse:
    """Any range of days (the last 30 by default), narrowed to a channel or an agent."""
    return await _range_page(request, session, staff, filters)


@router.post("/desk/analytics/time-zone", name="analytics:time_zone")
async def change_time_zone(
    request: Request,
    session: SessionDep,
    staff: ManagerDep,
    filters: Annotated[Filters, Depends(filters_form)],
    time_zone: Annotated[str, Form()] = "",
) -> Response:
    """Sets the partner's time zone, which decides where its days start; back to the same
    range, or the page again with the reason (422) for a name that is no time zone."""
    try:
        data = PartnerSettingsUpdate(time_zone=time_zone.strip())
    except ValidationError:
        return await _range_page(
            request, session, staff, filters, zone_error=BAD_ZONE, typed_zone=time_zone
        )
    await tenancy.update_partner_settings(session, staff, data)
    query = filters.params()
    return RedirectResponse(f"{HOME}?{query}" if query else HOME, status_code=303)

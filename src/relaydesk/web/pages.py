"""The role homes: switching a channel's chat on and off, and the owner timer."""

import uuid

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from relaydesk.approvals import workflow
from relaydesk.approvals.models import RequestKind
from relaydesk.auth.deps import StaffDep, require
from relaydesk.auth.permissions import Permission
from relaydesk.deps import SessionDep
from relaydesk.errors import AppError
from relaydesk.tenancy import service as tenancy
from relaydesk.tenancy.schemas import ChannelCreate, PartnerSettingsUpdate
from relaydesk.web.navigation import home_path
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)


@router.get("/")
async def root(staff: StaffDep) -> RedirectResponse:
    return RedirectResponse(home_path(staff), status_code=303)


@router.get("/tenant", name="tenant:home")
async def tenant_home(
    request: Request, session: SessionDep, staff: require(Permission.PARTNERS_REVIEW)
) -> HTMLResponse:
    overview = await tenancy.tenant_overview(session, staff)
    pending = await workflow.pending_counts(session, staff)
    join_url = f"{request.app.state.settings.base_url}/join/{overview['tenant'].slug}"
    return render(
        request,
        "tenant/home.html",
        staff=staff,
        pending_partnerships=pending[RequestKind.PARTNERSHIP],
        pending_addons=pending[RequestKind.ADDON],
        pending_campaigns=sum(
            pending[kind]
            for kind in (RequestKind.BROADCAST, RequestKind.AD_PACKAGE, RequestKind.AD)
        ),
        join_url=join_url,
        **overview,
    )


@router.get("/partner", name="partner:home")
async def partner_home(
    request: Request, session: SessionDep, staff: require(Permission.CHANNELS_MANAGE)
) -> HTMLResponse:
    overview = await tenancy.partner_overview(session, staff)
    return render(request, "partner/home.html", staff=staff, **overview)


@router.post("/partner/channels", name="partner:create_channel")
async def create_channel(
    request: Request,
    session: SessionDep,
    staff: require(Permission.CHANNELS_MANAGE),
    name: str = Form(""),
    description: str = Form(""),
) -> Response:
    """Adds a channel from the home page's form; htmx swaps in the updated channel list."""
    error = None
    try:
        await tenancy.create_channel(
            session, staff, ChannelCreate.model_validate({"name": name, "description": description})
        )
    except AppError as exc:
        error = exc.detail
    except ValueError:
        error = "Give the channel a name of at most 120 characters."
    htmx = from_htmx(request)
    if error is None and not htmx:
        return RedirectResponse("/partner", status_code=303)
    overview = await tenancy.partner_overview(session, staff)
    return render(
        request,
        "partner/_channels.html" if htmx else "partner/home.html",
        staff=staff,
        form_error=error,
        # htmx swaps only successful answers in; a plain form post gets the page with the error.
        status_code=200 if htmx else 422,
        **overview,
    )


@router.post("/partner/channels/{channel_id}/chat", name="partner:switch_chat")
async def switch_chat(
    request: Request,
    channel_id: uuid.UUID,
    session: SessionDep,
    staff: require(Permission.CHAT_MANAGE),
    enabled: bool = Form(),
    confirmed: bool = Form(False),
) -> Response:
    """Turns a channel's chat on or off (HD-1); htmx swaps in the updated channel list.

    Enabling needs `confirmed`: htmx sends it once its confirm dialog showed the warning, a
    plain form post first gets a page with the warning to confirm on.
    """
    if enabled and not confirmed:
        channel = await tenancy.channel_view(session, staff, channel_id)
        return render(request, "partner/confirm_chat.html", staff=staff, channel=channel)
    await tenancy.set_chat_enabled(session, staff, channel_id, enabled)
    if not from_htmx(request):
        return RedirectResponse("/partner", status_code=303)
    overview = await tenancy.partner_overview(session, staff)
    return render(request, "partner/_channels.html", staff=staff, **overview)


@router.post("/partner/owner-timer", name="partner:owner_timer")
async def change_owner_timer(
    request: Request,
    session: SessionDep,
    staff: require(Permission.CHAT_MANAGE),
    enabled: bool = Form(False),
    minutes: str = Form(""),
) -> Response:
    """Switches the owner timer (HD-20) on for `minutes`, or off; htmx swaps the card in."""
    error = None
    try:
        data = PartnerSettingsUpdate(owner_timer_minutes=int(minutes) if enabled else None)
    except ValueError:
        error = "Give the minutes as a whole number from 1 to 1440."
    else:
        await tenancy.update_partner_settings(session, staff, data)
    htmx = from_htmx(request)
    if error is None and not htmx:
        return RedirectResponse("/partner", status_code=303)
    overview = await tenancy.partner_overview(session, staff)
    return render(
        request,
        "partner/_owner_timer.html" if htmx else "partner/home.html",
        staff=staff,
        timer_error=error,
        timer_saved=error is None,
        typed_minutes=minutes if error else None,
        status_code=200 if htmx else 422,
        **overview,
    )

"""The partner side of requests (SU-2): the tenant's public registration form, and the partner
portal's Requests page where a partner admin asks for another package, an add-on, a broadcast
of an engagement, an advertising package or an ad, and follows what became of each request
(a broadcast's delivery, an ad's impressions).

The registration form is for people without an account: like the sign-in form it carries no
CSRF token (there is no session to bind one to) and changes nobody's data but its own request.
The portal's forms post here: htmx swaps in the panel this answers with (a refused request shows
its reason in its form), a plain form post is sent back to the page, or gets it with the reason
and the error's status. Dates and times are typed in the partner's time zone. The ad's file is
uploaded by the page's script as soon as it is picked (as on the Engagements page), so the form
sends only the upload's id.
"""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads.models import AdType
from relaydesk.ads.schemas import AD_TYPE_LABELS, AdAsk, AdPackageAsk
from relaydesk.analytics.service import partner_zone
from relaydesk.approvals import schemas, service, workflow
from relaydesk.approvals.models import RequestKind
from relaydesk.auth.api import client_ip
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.broadcasts.schemas import AUDIENCE_LABELS, BroadcastAsk
from relaydesk.catalogue.models import Addon, AdPackage, Package
from relaydesk.catalogue.schemas import TYPE_LABELS
from relaydesk.catalogue.service import offered_items
from relaydesk.deps import SessionDep
from relaydesk.engagements.models import EngagementStatus
from relaydesk.engagements.service import EngagementQuery, list_engagements
from relaydesk.errors import Conflict, InvalidInput, PermissionDenied, RateLimited
from relaydesk.pagination import PageParams, decode_cursor
from relaydesk.tenancy.models import Channel, Tenant
from relaydesk.tenancy.service import active_addons, get_partner, readable_channels, tenant_by_slug
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)

PORTAL = "/partner/requests"
# "My requests" shows this many at a time; "Load more" adds the next ones.
REQUESTS_SHOWN = 20

KIND_LABELS = {
    RequestKind.PARTNERSHIP: "Partnership",
    RequestKind.ADDON: "Add-on",
    RequestKind.BROADCAST: "Broadcast",
    RequestKind.AD_PACKAGE: "Advertising package",
    RequestKind.AD: "Ad",
}
DESCRIPTION_HINT = "The description has at most 2,000 characters."
_JOIN_HINTS = {
    "partner_name": "Enter your company's or brand's name, at most 120 characters.",
    "package_id": "Pick a package.",
    "email": "Enter an e-mail address such as name@example.com.",
    "phone": "Enter a phone number: digits, spaces and + ( ) . / - only.",
    "website": "The website address has at most 500 characters.",
    "contact_name": "Enter the name of the person we should talk to, at most 120 characters.",
    "description": DESCRIPTION_HINT,
}
# What a would-be partner is told when the registration clashes, and the field it is about.
_JOIN_CONFLICTS = {
    "name_taken": (
        "partner_name",
        "A partner with this name already exists. Pick another name, or sign in if it is yours.",
    ),
    "request_pending": (
        None,
        "A request with this partner name or e-mail address is already waiting for a decision. "
        "We'll e-mail you once it is reviewed.",
    ),
    "archived": ("package_id", "That package is no longer offered. Pick another one."),
}
CHECK_FIELDS = "Please check the fields marked below."
TOO_MANY = (
    "You have sent several requests from this address in a short time. Please try again in an hour."
)


# --- The public registration form ------------------------------------------------------------


@dataclass
class JoinForm:
    """What was typed into the registration form and why it was refused."""

    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    status: int = 200

    def refuse(self, exc: ValidationError | Conflict | RateLimited) -> None:
        if isinstance(exc, ValidationError):
            for problem in exc.errors():
                name = str(problem["loc"][0]) if problem["loc"] else ""
                self.errors.setdefault(name, _JOIN_HINTS.get(name, "Check this field."))
            self.error, self.status = CHECK_FIELDS, 422
            return
        self.status = exc.status
        if isinstance(exc, RateLimited):
            self.error = TOO_MANY
            return
        name, message = _JOIN_CONFLICTS.get(exc.code, (None, exc.detail))
        if name is None:
            self.error = message
        else:
            self.error, self.errors[name] = CHECK_FIELDS, message


def _join_page(
    request: Request, tenant: Tenant, packages: list[Package], form: JoinForm, **headers: str
) -> HTMLResponse:
    return render(
        request,
        "approvals/join.html",
        status_code=form.status,
        headers=headers or None,
        tenant=tenant,
        packages=packages,
        form=form,
        type_labels=TYPE_LABELS,
    )


@router.get("/join/{tenant_slug}", name="approvals:join")
async def join_form(request: Request, tenant_slug: str, session: SessionDep) -> HTMLResponse:
    tenant = await tenant_by_slug(session, tenant_slug)
    packages = await offered_items(session, Package, tenant.id)
    return _join_page(request, tenant, packages, JoinForm())


@router.post("/join/{tenant_slug}")
async def join(request: Request, tenant_slug: str, session: SessionDep) -> Response:
    """Sends the registration; the tenant's staff approve or reject it."""
    tenant = await tenant_by_slug(session, tenant_slug)
    submitted = await request.form()
    form = JoinForm(
        values={
            name: value.strip()
            for name in _JOIN_HINTS  # every field of the form has its hint
            if isinstance(value := submitted.get(name, ""), str)
        }
    )
    try:
        data = schemas.Registration.model_validate(form.values)
        await service.submit_registration(
            session, request.app.state.failure_counter, client_ip(request), tenant_slug, data
        )
    except (ValidationError, Conflict, RateLimited) as exc:
        form.refuse(exc)
        packages = await offered_items(session, Package, tenant.id)
        retry = {"Retry-After": str(exc.retry_after)} if isinstance(exc, RateLimited) else {}
        return _join_page(request, tenant, packages, form, **retry)
    return RedirectResponse(f"/join/{tenant.slug}/received", status_code=303)


@router.get("/join/{tenant_slug}/received", name="approvals:join_received")
async def join_received(request: Request, tenant_slug: str, session: SessionDep) -> HTMLResponse:
    tenant = await tenant_by_slug(session, tenant_slug)
    return render(request, "approvals/join_received.html", tenant=tenant)


# --- The partner portal's Requests page ------------------------------------------------------


async def _partner_admin(staff: require(Permission.REQUESTS_SUBMIT)) -> StaffPrincipal:
    # Requests are a partner's; tenant staff have none to make.
    if staff.partner_id is None:
        raise PermissionDenied("This page belongs to the other side of the platform.")
    return staff


PartnerAdminDep = Annotated[StaffPrincipal, Depends(_partner_admin)]

# The broadcast form lists at most this many active engagements, newest first.
ENGAGEMENTS_SHOWN = 100

Ask = (
    type[schemas.PackageChange]
    | type[schemas.AddonAsk]
    | type[BroadcastAsk]
    | type[AdPackageAsk]
    | type[AdAsk]
)
# Each of the portal's forms: what it asks for, and what to say when it is refused (the first
# two forms say one thing; the others mark each field, see `_FIELD_HINTS`).
_ASKS: dict[str, tuple[Ask, RequestKind, str]] = {
    "package": (schemas.PackageChange, RequestKind.PARTNERSHIP, "Pick a package."),
    "addon": (schemas.AddonAsk, RequestKind.ADDON, "Pick an add-on."),
    "broadcast": (BroadcastAsk, RequestKind.BROADCAST, CHECK_FIELDS),
    "ad_package": (AdPackageAsk, RequestKind.AD_PACKAGE, CHECK_FIELDS),
    "ad": (AdAsk, RequestKind.AD, CHECK_FIELDS),
}
_START_HINT = "Pick the date and time to start."
# The fields of the forms that mark each field refused, with what to say about it.
_FIELD_HINTS = {
    "broadcast": {
        "engagement_id": "Pick one of your active engagements.",
        "audience": "Pick who gets it.",
        "starts_at": _START_HINT,
        "description": DESCRIPTION_HINT,
    },
    "ad_package": {
        "ad_package_id": "Pick an advertising package.",
        "description": DESCRIPTION_HINT,
    },
    "ad": {
        "ad_type": "Pick the ad's type.",
        "title": "Give the ad a title of at most 80 characters.",
        "subtitle": "The subtitle has at most 120 characters.",
        "description": DESCRIPTION_HINT,
        "click_url": "Give a full web address starting with https:// or http://.",
        "cta_text": "The call-to-action text has at most 30 characters.",
        "media_attachment_id": "Add an image, or a video for a video or interstitial ad.",
        "starts_at": _START_HINT,
        "ends_at": "Pick an end date and time after the start.",
        "impressions_budget": "Give a whole number of impressions, from 1 up to your balance.",
    },
}
# Fields typed as `datetime-local`: a date and time in the partner's zone.
_LOCAL_TIMES = ("starts_at", "ends_at")


@dataclass
class PortalForm:
    """Which form was refused, with what was typed and why (for the last three forms, a
    reason per field); or what was sent."""

    name: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    status: int = 200
    done: str | None = None

    def value(self, form: str, name: str) -> str:
        """What was typed into `name` of `form`, if that form came back refused."""
        return self.values.get(name, "") if self.name == form else ""

    def refuse(self, exc: ValidationError | Conflict | InvalidInput, hint: str) -> None:
        hints = _FIELD_HINTS.get(self.name or "")
        if isinstance(exc, ValidationError):
            self.status = 422
            problems = [(e["loc"], e["msg"]) for e in exc.errors()]
            if hints is None:
                fields = {str(loc[0]) for loc, _ in problems if loc}
                self.error = DESCRIPTION_HINT if fields == {"description"} else hint
                return
            for loc, msg in problems:
                # The ad's one check of two fields says which it is about.
                name = str(loc[0]) if loc else "ends_at" if "ends_at" in msg else ""
                self._mark(hints, name, hints.get(name), msg.removeprefix("Value error, "))
        elif isinstance(exc, InvalidInput) and exc.extra.get("errors"):
            # The service's own reasons, such as a budget beyond the balance.
            self.status = 422
            for problem in exc.extra["errors"]:
                self._mark(hints or {}, str(problem["loc"][-1]), problem["msg"], exc.detail)
        else:
            self.error, self.status = exc.detail, exc.status
        if self.errors and self.error is None:
            self.error = CHECK_FIELDS

    def _mark(self, hints: dict[str, str], name: str, reason: str | None, otherwise: str) -> None:
        if name in hints and reason:
            self.errors.setdefault(name, reason)
        else:
            self.error = otherwise


def _local_text(zone: ZoneInfo, moment: datetime | str | None) -> str:
    """A moment as the partner reads it: date and time in its zone, and the zone's name."""
    if not moment:
        return ""
    at = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    return f"{at.astimezone(zone):%Y-%m-%d %H:%M} {zone.key}"


def _in_zone(text: str, zone: ZoneInfo) -> datetime | str | None:
    """A `datetime-local` value, taken in the partner's zone, in UTC; anything else is left
    for validation to refuse."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
        return (moment.replace(tzinfo=zone) if moment.tzinfo is None else moment).astimezone(UTC)
    except (ValueError, OverflowError):
        return text


async def _holdings(session: AsyncSession, staff: StaffPrincipal) -> dict[str, Any]:
    """The partner's package and active add-ons, what else is on offer, what it may broadcast,
    and what it asked for that is still waiting."""
    assert staff.partner_id is not None
    partner = await get_partner(session, staff.partner_id)
    package = await session.get_one(Package, partner.package_id)
    addons = await active_addons(session, partner.id)
    active_ids = {addon.id for addon in addons}
    pending = list(
        await session.scalars(
            workflow.filtered(workflow.readable_requests(staff), status="pending")
        )
    )
    engagements, _ = await list_engagements(
        session, staff, EngagementQuery(status=EngagementStatus.ACTIVE), limit=ENGAGEMENTS_SHOWN
    )
    channels = await session.execute(
        readable_channels(staff).with_only_columns(Channel.id, Channel.name)
    )

    def pending_ids(kind: RequestKind) -> set[uuid.UUID | None]:
        return {r.subject_id for r in pending if r.kind == kind}

    return {
        "partner": partner,
        "package": package,
        "active_addons": addons,
        "packages": [
            p for p in await offered_items(session, Package, staff.tenant_id) if p.id != package.id
        ],
        "addons": [
            a
            for a in await offered_items(session, Addon, staff.tenant_id)
            if a.id not in active_ids
        ],
        "ad_packages": await offered_items(session, AdPackage, staff.tenant_id),
        "engagements": engagements,
        "channel_names": {channel_id: name for channel_id, name in channels},
        "ad_types": list(AdType),
        "pending_package": next(
            (r.title for r in pending if r.kind == RequestKind.PARTNERSHIP), None
        ),
        "pending_addon_ids": pending_ids(RequestKind.ADDON),
        "pending_engagement_ids": pending_ids(RequestKind.BROADCAST),
        "pending_ad_package_ids": pending_ids(RequestKind.AD_PACKAGE),
    }


def _requests_url(cursor: str | None = None) -> str:
    return PORTAL + (f"?{urlencode({'cursor': cursor})}" if cursor else "")


async def _my_requests(session: AsyncSession, staff: StaffPrincipal, cursor: str) -> dict[str, Any]:
    assert staff.partner_id is not None
    zone = await partner_zone(session, staff)
    page = PageParams(limit=REQUESTS_SHOWN, after_id=decode_cursor(cursor) if cursor else None)
    requests, next_cursor = await workflow.list_requests(session, staff, page)
    return {
        "requests": requests,
        "cursor": cursor,
        "more_url": _requests_url(next_cursor) if next_cursor else None,
        "kind_labels": KIND_LABELS,
        "type_labels": TYPE_LABELS,
        "audience_labels": AUDIENCE_LABELS,
        "ad_type_labels": AD_TYPE_LABELS,
        "zone": zone.key,
        "local_time": partial(_local_text, zone),
    }


async def _show_portal(
    request: Request, session: AsyncSession, staff: StaffPrincipal, form: PortalForm, cursor: str
) -> HTMLResponse:
    """The page, or for htmx only its panel; htmx swaps only successful answers in, so a
    refused request reaches it as a 200."""
    htmx = from_htmx(request)
    return render(
        request,
        "approvals/portal_panel.html" if htmx else "approvals/portal.html",
        staff=staff,
        status_code=200 if htmx else form.status,
        form=form,
        **await _holdings(session, staff),
        **await _my_requests(session, staff, cursor),
    )


@router.get(PORTAL, name="approvals:portal")
async def portal(
    request: Request, session: SessionDep, staff: PartnerAdminDep, cursor: str = ""
) -> HTMLResponse:
    """The page; with `cursor`, htmx's "Load more" gets only the next rows of My requests."""
    if cursor and from_htmx(request):
        return render(
            request,
            "approvals/portal_rows.html",
            staff=staff,
            **await _my_requests(session, staff, cursor),
        )
    return await _show_portal(request, session, staff, PortalForm(), cursor)


def _sent(request: schemas.Request) -> str:
    said = f"Your request for “{request.title}” is sent. It waits for a decision."
    if request.kind == RequestKind.BROADCAST:
        reach = request.details["estimated_reach"]
        said += f" Estimated reach: {reach:,} end user{'' if reach == 1 else 's'}."
    return said


async def _submitted(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    form: PortalForm,
) -> Response:
    """Sends the request and answers with the panel saying so, or a plain post's redirect.
    Another tenant's package or add-on, another partner's engagement, is a 404, not a form
    error."""
    assert staff.partner_id is not None
    ask, kind, hint = _ASKS[form.name or ""]
    zone = await partner_zone(session, staff)
    body: dict[str, Any] = {"kind": kind, **form.values}
    for name in _LOCAL_TIMES:
        if name in body:
            body[name] = _in_zone(body[name], zone)
    try:
        data = ask.model_validate(body)
        # A refused request leaves nothing behind, though the page then answers normally.
        async with session.begin_nested():
            sent = await service.submit_partner_request(session, staff, data)
    except (ValidationError, Conflict, InvalidInput) as exc:
        form.refuse(exc, hint)
    else:
        if not from_htmx(request):
            return RedirectResponse(PORTAL, status_code=303)
        form = PortalForm(done=_sent(sent))
    return await _show_portal(request, session, staff, form, "")


@router.post(PORTAL + "/package", name="approvals:portal_package")
async def ask_for_package(
    request: Request,
    session: SessionDep,
    staff: PartnerAdminDep,
    package_id: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    """Change package: a request to move to another offered package."""
    form = PortalForm(
        name="package", values={"package_id": package_id, "description": description.strip()}
    )
    return await _submitted(request, session, staff, form)


@router.post(PORTAL + "/addon", name="approvals:portal_addon")
async def ask_for_addon(
    request: Request,
    session: SessionDep,
    staff: PartnerAdminDep,
    addon_id: Annotated[str, Form()] = "",
    description: Annotated[str, Form()] = "",
) -> Response:
    """Ask for an add-on the partner does not have yet."""
    form = PortalForm(
        name="addon", values={"addon_id": addon_id, "description": description.strip()}
    )
    return await _submitted(request, session, staff, form)


async def _ask(
    request: Request, session: AsyncSession, staff: StaffPrincipal, name: str
) -> Response:
    """Reads the form's own fields (a missing one is empty) and sends its request."""
    submitted = await request.form()
    values = {
        field: value.strip()
        for field in _FIELD_HINTS[name]
        if isinstance(value := submitted.get(field, ""), str)
    }
    return await _submitted(request, session, staff, PortalForm(name=name, values=values))


@router.post(PORTAL + "/broadcast", name="approvals:portal_broadcast")
async def ask_for_broadcast(
    request: Request, session: SessionDep, staff: PartnerAdminDep
) -> Response:
    """Broadcast one of the partner's active engagements to end users from a start time,
    typed in the partner's time zone."""
    return await _ask(request, session, staff, "broadcast")


@router.post(PORTAL + "/ad-package", name="approvals:portal_ad_package")
async def ask_for_ad_package(
    request: Request, session: SessionDep, staff: PartnerAdminDep
) -> Response:
    """Buy an advertising package: its impressions join the balance once approved."""
    return await _ask(request, session, staff, "ad_package")


@router.post(PORTAL + "/ad", name="approvals:portal_ad")
async def ask_for_ad(request: Request, session: SessionDep, staff: PartnerAdminDep) -> Response:
    """Submit an ad campaign; its file was uploaded first, the form sends the upload's id."""
    return await _ask(request, session, staff, "ad")

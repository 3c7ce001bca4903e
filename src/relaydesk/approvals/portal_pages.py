"""The partner side of requests (SU-2): the tenant's public registration form, and the partner
portal's Requests page where a partner admin asks for another package or an add-on and follows
what became of each request.

The registration form is for people without an account: like the sign-in form it carries no
CSRF token (there is no session to bind one to) and changes nobody's data but its own request.
The portal's forms post here: htmx swaps in the panel this answers with (a refused request shows
its reason in its form), a plain form post is sent back to the page, or gets it with the reason
and the error's status.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.approvals import schemas, service, workflow
from relaydesk.approvals.models import RequestKind
from relaydesk.auth.api import client_ip
from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import Addon, Package
from relaydesk.catalogue.schemas import TYPE_LABELS
from relaydesk.catalogue.service import offered_items
from relaydesk.deps import SessionDep
from relaydesk.errors import Conflict, PermissionDenied, RateLimited
from relaydesk.pagination import PageParams, decode_cursor
from relaydesk.tenancy.models import Tenant
from relaydesk.tenancy.service import active_addons, get_partner, tenant_by_slug
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


# Each of the portal's two forms: what it asks for, and what to say when nothing was picked.
_ASKS: dict[str, tuple[type[schemas.PackageChange] | type[schemas.AddonAsk], RequestKind, str]] = {
    "package": (schemas.PackageChange, RequestKind.PARTNERSHIP, "Pick a package."),
    "addon": (schemas.AddonAsk, RequestKind.ADDON, "Pick an add-on."),
}


@dataclass
class PortalForm:
    """Which of the two forms was refused, with what was chosen and why; or what was sent."""

    name: str | None = None
    values: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    status: int = 200
    done: str | None = None


async def _holdings(session: AsyncSession, staff: StaffPrincipal) -> dict[str, Any]:
    """The partner's package and active add-ons, what else is on offer, and what it asked
    for that is still waiting."""
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
    return {
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
        "pending_package": next(
            (r.title for r in pending if r.kind == RequestKind.PARTNERSHIP), None
        ),
        "pending_addon_ids": {r.subject_id for r in pending if r.kind == RequestKind.ADDON},
    }


def _requests_url(cursor: str | None = None) -> str:
    return PORTAL + (f"?{urlencode({'cursor': cursor})}" if cursor else "")


async def _my_requests(session: AsyncSession, staff: StaffPrincipal, cursor: str) -> dict[str, Any]:
    page = PageParams(limit=REQUESTS_SHOWN, after_id=decode_cursor(cursor) if cursor else None)
    requests, next_cursor = await workflow.list_requests(session, staff, page)
    return {
        "requests": requests,
        "cursor": cursor,
        "more_url": _requests_url(next_cursor) if next_cursor else None,
        "kind_labels": KIND_LABELS,
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
        type_labels=TYPE_LABELS,
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


async def _submitted(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    form: PortalForm,
) -> Response:
    """Sends the request and answers with the panel saying so, or a plain post's redirect.
    Another tenant's package or add-on is a 404, not a form error."""
    ask, kind, hint = _ASKS[form.name or ""]
    try:
        data = ask.model_validate({"kind": kind, **form.values})
        # A refused request leaves nothing behind, though the page then answers normally.
        async with session.begin_nested():
            sent = await service.submit_partner_request(session, staff, data)
    except ValidationError as exc:
        fields = {str(e["loc"][0]) for e in exc.errors() if e["loc"]}
        form.error, form.status = (DESCRIPTION_HINT if fields == {"description"} else hint), 422
    except Conflict as exc:
        form.error, form.status = exc.detail, exc.status
    else:
        if not from_htmx(request):
            return RedirectResponse(PORTAL, status_code=303)
        form = PortalForm(done=f"Your request for “{sent.title}” is sent. It waits for a decision.")
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

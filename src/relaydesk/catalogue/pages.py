"""The tenant's Catalogues page (PM-1): partnership packages, add-ons and advertising packages,
each a table (archived items too) with a form to create one and, per row, an edit form,
Archive/Unarchive, and Delete for items nobody has used.

Only tenant admins (catalogue.manage) reach it. The forms post here: htmx swaps in the panel
this answers with (a refused form shows again with what was typed and why), a plain form post
is sent back to the page, or gets it with the reason and the error's status (422 or 409).
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import FormData

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue import schemas, service
from relaydesk.catalogue.models import Addon, AdPackage, BillingPeriod, Package
from relaydesk.catalogue.schemas import TYPE_LABELS
from relaydesk.deps import SessionDep
from relaydesk.errors import Conflict, NotFound
from relaydesk.pagination import PageParams
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)

HOME = "/tenant/catalogue"
# Each table shows this many at most: a catalogue is a handful of items.
SHOWN = 200
IN_USE = "In use: archive it instead."

EditorDep = require(Permission.CATALOGUE_MANAGE)

_FIELD_HINTS = {
    "name": "Give it a name of at most 120 characters.",
    "price": "Enter a price such as 49.00: 0 or more, at most two decimals.",
    "currency": "Enter a three-letter currency code such as EUR.",
    "billing_period": "Pick monthly or yearly billing.",
    "engagement_types": "Pick engagement types from the list.",
    "max_channels": "The channel limit is a whole number from 0 to 10,000.",
    "extra_channels": "Extra channels are a whole number from 0 to 10,000.",
    "description": "The description has at most 2,000 characters.",
    "impressions": "Impressions are a whole number of at least 1.",
}


def _money(values: dict[str, Any]) -> dict[str, str]:
    return {"amount": values.get("price", ""), "currency": values.get("currency", "").upper()}


def _package_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": values.get("name", ""),
        "price": _money(values),
        "billing_period": values.get("billing_period", ""),
        "engagement_types": values.get("engagement_types", []),
        "max_channels": values.get("max_channels", ""),
    }


def _addon_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": values.get("name", ""),
        "price": _money(values),
        "description": values.get("description", ""),
        "grants": {
            "engagement_types": values.get("engagement_types", []),
            "extra_channels": values.get("extra_channels", "") or 0,
        },
    }


def _ad_package_body(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": values.get("name", ""),
        "impressions": values.get("impressions", ""),
        "price": _money(values),
    }


@dataclass(frozen=True)
class Kind:
    """One of the three sections: its table, its schemas and how its form reads."""

    slug: str
    model: service.ItemModel
    noun: str
    heading: str
    create: type[BaseModel]
    update: type[BaseModel]
    body: Callable[[dict[str, Any]], dict[str, Any]]


KINDS = {
    kind.slug: kind
    for kind in (
        Kind(
            "packages",
            Package,
            "package",
            "Partnership packages",
            schemas.PackageCreate,
            schemas.PackageUpdate,
            _package_body,
        ),
        Kind(
            "addons",
            Addon,
            "add-on",
            "Add-ons",
            schemas.AddonCreate,
            schemas.AddonUpdate,
            _addon_body,
        ),
        Kind(
            "ad-packages",
            AdPackage,
            "advertising package",
            "Advertising packages",
            schemas.AdPackageCreate,
            schemas.AdPackageUpdate,
            _ad_package_body,
        ),
    )
}


def _kind(slug: str) -> Kind:
    if slug not in KINDS:
        raise NotFound("No such catalogue.")
    return KINDS[slug]


def _field_of(loc: tuple[Any, ...]) -> str:
    """The form field an error's place names: price and grants are nested in the body."""
    parts = [part for part in loc if isinstance(part, str) and part != "grants"]
    if parts[:2] == ["price", "currency"]:
        return "currency"
    return parts[0] if parts else ""


@dataclass
class View:
    """What the panel shows besides the catalogue: the form to show again with what was typed
    and why it was refused, or what was just done."""

    form: str | None = None
    error: str | None = None
    status: int = 200
    invalid: set[str] = field(default_factory=set)
    values: dict[str, Any] = field(default_factory=dict)
    done: str | None = None

    def refused(self, form: str, values: dict[str, Any], error: ValidationError | Conflict) -> None:
        self.form, self.values = form, values
        if isinstance(error, ValidationError):
            fields = dict.fromkeys(_field_of(tuple(e["loc"])) for e in error.errors())
            self.invalid = {name for name in fields if name in _FIELD_HINTS}
            self.error = " ".join(_FIELD_HINTS.get(name, "Check this field.") for name in fields)
            self.status = 422
        else:
            self.status = error.status
            if error.code == "in_use":
                self.error = IN_USE
            else:
                self.error = error.detail
                self.invalid = {"name"} if error.code == "name_taken" else set()


def _form_values(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: value.strip()
        for name, value in form.multi_items()
        if isinstance(value, str) and name not in ("csrf_token", "engagement_types")
    }
    values["engagement_types"] = [
        value for value in form.getlist("engagement_types") if isinstance(value, str)
    ]
    return values


async def _sections(session: AsyncSession, staff: StaffPrincipal) -> list[dict[str, Any]]:
    """Each kind's items in the order they were made, each marked whether it is in use."""
    sections = []
    for kind in KINDS.values():
        items, more = await service.list_items(
            session, staff, kind.model, PageParams(limit=SHOWN, after_id=None)
        )
        in_use = await service.items_in_use(session, items)
        sections.append({"kind": kind, "items": items, "in_use": in_use, "more": more})
    return sections


async def _show(
    request: Request, session: AsyncSession, staff: StaffPrincipal, view: View
) -> HTMLResponse:
    """The page, or for htmx only its panel. htmx swaps only successful answers in, so a
    refused change reaches it as a 200."""
    htmx = from_htmx(request)
    return render(
        request,
        "catalogue/_panel.html" if htmx else "catalogue/home.html",
        staff=staff,
        view=view,
        status_code=200 if htmx else view.status,
        sections=await _sections(session, staff),
        type_labels=TYPE_LABELS,
        billing_periods=list(BillingPeriod),
    )


async def _changed(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    view: View,
    form: str,
    change: Callable[[dict[str, Any]], Awaitable[str]],
) -> Response:
    """Makes a change from the form's values and answers with the panel saying what was done,
    or a plain post's redirect. A missing item (or another tenant's) is a 404, not a form
    error."""
    values = _form_values(await request.form())
    try:
        # A refused change leaves nothing behind, though the page then answers normally.
        async with session.begin_nested():
            view.done = await change(values)
    except (ValidationError, Conflict) as exc:
        view.refused(form, values, exc)
    if view.error is None and not from_htmx(request):
        return RedirectResponse(HOME, status_code=303)
    return await _show(request, session, staff, view)


@router.get(HOME, name="catalogue:home")
async def catalogue_home(request: Request, session: SessionDep, staff: EditorDep) -> HTMLResponse:
    return await _show(request, session, staff, View())


@router.post(HOME + "/{slug}", name="catalogue:create")
async def create_item(
    request: Request, slug: str, session: SessionDep, staff: EditorDep
) -> Response:
    kind = _kind(slug)

    async def change(values: dict[str, Any]) -> str:
        data = kind.create.model_validate(kind.body(values))
        item = await service.create_item(session, staff.tenant_id, staff, kind.model, data)
        return f"The {kind.noun} “{item.name}” is created."

    return await _changed(request, session, staff, View(), f"new-{slug}", change)


@router.post(HOME + "/{slug}/{item_id}", name="catalogue:update")
async def update_item(
    request: Request, slug: str, item_id: uuid.UUID, session: SessionDep, staff: EditorDep
) -> Response:
    """The row's edit form: every field is sent, so all of them change."""
    kind = _kind(slug)

    async def change(values: dict[str, Any]) -> str:
        data = kind.update.model_validate(kind.body(values))
        item = await service.update_item(session, staff, kind.model, item_id, data)
        return f"The {kind.noun} “{item.name}” is saved."

    return await _changed(request, session, staff, View(), f"edit-{item_id}", change)


@router.post(HOME + "/{slug}/{item_id}/archive", name="catalogue:archive")
async def archive_item(
    request: Request,
    slug: str,
    item_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    archived: Annotated[bool, Form()] = True,
) -> Response:
    """Archive takes an item off offer (partners who have it keep it); Unarchive offers it again."""
    kind = _kind(slug)

    async def change(_values: dict[str, Any]) -> str:
        data = kind.update.model_validate({"archived": archived})
        item = await service.update_item(session, staff, kind.model, item_id, data)
        return f"The {kind.noun} “{item.name}” is {'archived' if archived else 'offered again'}."

    return await _changed(request, session, staff, View(), f"row-{item_id}", change)


@router.post(HOME + "/{slug}/{item_id}/delete", name="catalogue:delete")
async def delete_item(
    request: Request,
    slug: str,
    item_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Deletes an item once confirmed: htmx asks in its dialog, a plain form post first gets
    a page that asks. An item in use stays (409 `in_use`): archive it instead."""
    kind = _kind(slug)
    item = await service.get_item(session, kind.model, staff.tenant_id, item_id)
    if not confirmed:
        return render(
            request,
            "catalogue/confirm_delete.html",
            staff=staff,
            kind=kind,
            item=item,
            action=request.url.path,
        )
    name = item.name

    async def change(_values: dict[str, Any]) -> str:
        await service.delete_item(session, staff, kind.model, item_id)
        return f"The {kind.noun} “{name}” is deleted."

    return await _changed(request, session, staff, View(), f"row-{item_id}", change)

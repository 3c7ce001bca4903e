"""The partner portal's Engagements page (SU-2): the partner's catalogue, newest first and
filterable, a form to create an engagement of a type its package includes, and the row actions
that edit a draft, publish it and finish it.

Only partner admins (engagements.manage) reach it. The forms post here: htmx swaps in the panel
this answers with (a refused form shows again with each field's reason), a plain form post is
sent back to the page, or gets it with the reasons and 422.
"""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import EngagementType
from relaydesk.catalogue.schemas import TYPE_LABELS
from relaydesk.deps import SessionDep
from relaydesk.engagements import schemas, service
from relaydesk.engagements.models import Engagement, EngagementStatus, RedemptionType
from relaydesk.errors import AppError, PermissionDenied
from relaydesk.tenancy import service as tenancy
from relaydesk.web.templating import from_htmx, render

router = APIRouter(include_in_schema=False)

HOME = "/partner/engagements"
# The list shows this many at most; the filters narrow it down.
SHOWN = 100

REDEMPTION_LABELS = {
    RedemptionType.QR_CODE: "QR code",
    RedemptionType.TIME_BASED: "Time-based",
    RedemptionType.CLICK_TO_REDEEM: "Click to redeem",
    RedemptionType.AUTO_ACTIVATE: "Auto activate",
}
_CONTENT_TYPES = (EngagementType.STICKER_PACK, EngagementType.RINGTONE, EngagementType.WALLPAPER)
_FIELD_HINTS = {
    "type": "Pick a type.",
    "channel_id": "Pick a channel.",
    "title": "Give it a title of at most 200 characters (a promo's name: 80).",
    "description": "The description has at most 2,000 characters.",
    "starts_at": "Pick a start date and time.",
    "ends_at": "The end must be after the start.",
    "text": "Write the message's text, at most 2,000 characters.",
    "cta_text": "The call-to-action text has at most 40 characters.",
    "cta_url": "Give a full web address starting with https:// or http://.",
    "media_attachment_ids": "Add one to five images or videos.",
    "media_attachment_id": "Use an image or a video.",
    "image_attachment_id": "Use an image.",
    "content_attachment_id": "This file can't be used.",
    "redemption_type": "Pick how the coupon is redeemed.",
    "quantity": "The quantity is a whole number of at least 1.",
    "per_user_limit": "The per-user limit is at least 1 and at most the quantity.",
    "points_price": "The points price is a whole number, 0 or more.",
    "bonus_points": "The bonus points are a whole number, 0 or more.",
}
_DATETIME = TypeAdapter(datetime)
_CREATE = TypeAdapter(schemas.EngagementCreate)
_T = TypeVar("_T")


async def _partner_admin(staff: require(Permission.ENGAGEMENTS_MANAGE)) -> StaffPrincipal:
    # The catalogue is a partner's; tenant staff have none to manage.
    if staff.partner_id is None:
        raise PermissionDenied("This page belongs to the other side of the platform.")
    return staff


EditorDep = Annotated[StaffPrincipal, Depends(_partner_admin)]


@dataclass
class Filters:
    """The list's narrowing, kept by every form so that its answer shows the same list."""

    type: EngagementType | None = None
    status: EngagementStatus | None = None
    channel_id: uuid.UUID | None = None

    def query(self) -> dict[str, str]:
        pairs = {"type": self.type, "status": self.status, "channel_id": self.channel_id}
        return {name: str(value) for name, value in pairs.items() if value is not None}

    def url(self) -> str:
        query = self.query()
        return f"{HOME}?{urlencode(query)}" if query else HOME


def _parsed(kind: Callable[[str], _T], text: str) -> _T | None:
    try:
        return kind(text) if text else None
    except ValueError:
        return None


def _filters(type_: str, status: str, channel_id: str) -> Filters:
    return Filters(
        type=_parsed(EngagementType, type_),
        status=_parsed(EngagementStatus, status),
        channel_id=_parsed(uuid.UUID, channel_id),
    )


async def filters_query(type: str = "", status: str = "", channel_id: str = "") -> Filters:
    return _filters(type, status, channel_id)


async def filters_form(
    filter_type: Annotated[str, Form()] = "",
    filter_status: Annotated[str, Form()] = "",
    filter_channel_id: Annotated[str, Form()] = "",
) -> Filters:
    return _filters(filter_type, filter_status, filter_channel_id)


FiltersQueryDep = Annotated[Filters, Depends(filters_query)]
FiltersFormDep = Annotated[Filters, Depends(filters_form)]


@dataclass
class FormState:
    """The create form, or the edit form of one engagement, with what was typed and why it was
    refused: a reason per field and one for the whole form."""

    editing: Engagement | None = None
    values: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    done: str | None = None
    # A row action refused: shown above the list rather than in the form.
    problem: str | None = None

    @property
    def refused(self) -> bool:
        return bool(self.errors or self.error)

    @property
    def failed(self) -> bool:
        return self.refused or self.problem is not None

    def refuse(self, exc: Exception) -> None:
        if isinstance(exc, ValidationError):
            self._field_errors([(e["loc"], e["msg"], e["type"]) for e in exc.errors()])
        elif isinstance(exc, AppError) and exc.extra.get("errors"):
            # The service's own reasons; about a file, it says what is wrong with it.
            self._field_errors([(e["loc"], e["msg"], "service") for e in exc.extra["errors"]])
            if not self.errors:
                self.error = exc.detail
        else:
            assert isinstance(exc, AppError)
            self.error = exc.detail

    def _field_errors(self, problems: list[tuple[Any, str, str]]) -> None:
        for loc, msg, kind in problems:
            if kind == "union_tag_invalid":
                self.errors["type"] = _FIELD_HINTS["type"]
                continue
            name = _field_of([part for part in loc if part not in ("body", *EngagementType)], msg)
            if kind == "service" and "attachment" in name:
                self.errors.setdefault(name, msg)
            elif name in _FIELD_HINTS:
                self.errors.setdefault(name, _FIELD_HINTS[name])
            else:
                self.error = msg.removeprefix("Value error, ")


def _field_of(loc: list[Any], msg: str) -> str:
    """The form field an error's place names; a check of the whole data or engagement names
    the field its message is about."""
    if "data" in loc:
        rest = [part for part in loc[loc.index("data") + 1 :] if isinstance(part, str)]
        if rest:
            return rest[0]
        return "per_user_limit" if "per_user_limit" in msg else ""
    if loc:
        return str(loc[0])
    return "ends_at" if "ends_at" in msg else ""


# --- Reading the form ------------------------------------------------------------------------


def _form_values(form: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        name: value.strip() if isinstance(value, str) else ""
        for name, value in form.multi_items()
        if name not in ("csrf_token", "media_attachment_ids")
    }
    values["media_attachment_ids"] = [
        value for value in form.getlist("media_attachment_ids") if isinstance(value, str) and value
    ]
    return values


def _utc(values: dict[str, Any], name: str) -> datetime | str | None:
    """A datetime-local value, taken as UTC; anything else is left for validation to refuse."""
    text = values.get(name, "")
    if not text:
        return None
    try:
        parsed = _DATETIME.validate_python(text)
    except ValidationError:
        return text
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _optional(values: dict[str, Any], name: str) -> str | None:
    return values.get(name) or None


def _data(type_: EngagementType | None, values: dict[str, Any]) -> dict[str, Any]:
    """The type's own fields from the form; empty optional fields are left to their defaults."""
    data: dict[str, Any]
    if type_ == EngagementType.MESSAGE:
        data = {
            "text": values.get("text", ""),
            "media_attachment_id": _optional(values, "media_attachment_id"),
        }
    elif type_ == EngagementType.PROMO:
        data = {
            "cta_text": _optional(values, "cta_text"),
            "cta_url": _optional(values, "cta_url"),
            "media_attachment_ids": values.get("media_attachment_ids", []),
            "hide_in_chat": values.get("hide_in_chat") == "true",
        }
    elif type_ == EngagementType.COUPON:
        data = {
            "redemption_type": values.get("redemption_type", ""),
            "quantity": values.get("quantity", ""),
            "image_attachment_id": _optional(values, "image_attachment_id"),
        }
        for name in ("per_user_limit", "points_price"):
            if values.get(name):
                data[name] = values[name]
    else:
        data = {"content_attachment_id": _optional(values, "content_attachment_id")}
        for name in ("points_price", "bonus_points"):
            if values.get(name):
                data[name] = values[name]
    return data


def _create_body(values: dict[str, Any]) -> schemas.EngagementCreate:
    body = {
        "type": values.get("type", ""),
        "channel_id": values.get("channel_id", ""),
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "starts_at": _utc(values, "starts_at"),
        "ends_at": _utc(values, "ends_at"),
        "data": _data(_parsed(EngagementType, values.get("type", "")), values),
    }
    return _CREATE.validate_python(body)


def _update_body(engagement: Engagement, values: dict[str, Any]) -> schemas.EngagementUpdate:
    """What the edit form changes: once published, not the dates or channel."""
    body: dict[str, Any] = {
        "title": values.get("title", ""),
        "description": values.get("description", ""),
        "data": _data(engagement.type, values),
    }
    if engagement.status == EngagementStatus.DRAFT:
        body |= {
            "channel_id": values.get("channel_id", ""),
            "starts_at": _utc(values, "starts_at"),
            "ends_at": _utc(values, "ends_at"),
        }
    return schemas.EngagementUpdate.model_validate(body)


# --- Answering -------------------------------------------------------------------------------


async def _show(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    filters: Filters,
    form: FormState,
    confirm: dict[str, Any] | None = None,
) -> HTMLResponse:
    """The page, or for htmx only its panel. A refused plain post answers 422; htmx swaps only
    successful answers in, so it gets the panel with the reasons as a 200."""
    htmx = from_htmx(request)
    allowed = await tenancy.allowed_engagement_types(session, staff)
    engagements, more = await service.list_engagements(
        session,
        staff,
        service.EngagementQuery(
            type=filters.type, status=filters.status, channel_id=filters.channel_id
        ),
        limit=SHOWN,
    )
    channels = await tenancy.channels_by_name(session, staff)
    return render(
        request,
        "engagements/_catalogue.html" if htmx else "engagements/home.html",
        staff=staff,
        status_code=422 if form.failed and not htmx else 200,
        filters=filters,
        form=form,
        confirm=confirm,
        engagements=engagements,
        more=more is not None,
        channels=channels,
        channel_names={channel.id: channel.name for channel in channels},
        allowed_types=[type_ for type_ in TYPE_LABELS if type_ in allowed],
        type_labels=TYPE_LABELS,
        redemption_labels=REDEMPTION_LABELS,
        content_types=_CONTENT_TYPES,
        statuses=list(EngagementStatus),
    )


def _answer(request: Request, filters: Filters) -> RedirectResponse | None:
    """A plain post's redirect back to the list once a change is made."""
    return None if from_htmx(request) else RedirectResponse(filters.url(), status_code=303)


@router.get(HOME, name="engagements:home")
async def engagements_home(
    request: Request,
    session: SessionDep,
    staff: EditorDep,
    filters: FiltersQueryDep,
    edit: str = "",
) -> HTMLResponse:
    """The catalogue; `?edit=<id>` opens that engagement's edit form in place of the new one."""
    form = FormState()
    edit_id = _parsed(uuid.UUID, edit)
    if edit_id is not None:
        form.editing = await service.get_engagement(session, staff, edit_id)
    return await _show(request, session, staff, filters, form)


@router.post(HOME, name="engagements:create")
async def create_engagement(
    request: Request, session: SessionDep, staff: EditorDep, filters: FiltersFormDep
) -> Response:
    form = FormState(values=_form_values(await request.form()))
    try:
        created = await service.create_engagement(session, staff, _create_body(form.values))
    except (ValidationError, AppError) as exc:
        form.refuse(exc)
        return await _show(request, session, staff, filters, form)
    done = FormState(done=f"Draft “{created.title}” created. Publish it when it's ready.")
    return _answer(request, filters) or await _show(request, session, staff, filters, done)


@router.post(HOME + "/{engagement_id}", name="engagements:update")
async def update_engagement(
    request: Request,
    engagement_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    filters: FiltersFormDep,
) -> Response:
    """The edit form of a draft, or of an active engagement without its dates and channel."""
    engagement = await service.get_engagement(session, staff, engagement_id)
    form = FormState(editing=engagement, values=_form_values(await request.form()))
    try:
        body = _update_body(engagement, form.values)
        updated = await service.update_engagement(session, staff, engagement_id, body)
    except (ValidationError, AppError) as exc:
        form.refuse(exc)
        return await _show(request, session, staff, filters, form)
    done = FormState(done=f"“{updated.title}” saved.")
    return _answer(request, filters) or await _show(request, session, staff, filters, done)


async def _status_change(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    filters: Filters,
    engagement_id: uuid.UUID,
    *,
    confirmed: bool,
    verb: str,
) -> Response:
    """Publishes or finishes once confirmed: htmx asks in its dialog, a plain form post first
    gets the page asking."""
    engagement = await service.get_engagement(session, staff, engagement_id)
    if not confirmed:
        confirm = {"engagement": engagement, "verb": verb, "action": request.url.path}
        return await _show(request, session, staff, filters, FormState(), confirm)
    change = service.publish_engagement if verb == "publish" else service.finish_engagement
    form = FormState()
    try:
        changed = await change(session, staff, engagement_id)
    except AppError as exc:
        form.problem = exc.detail
        return await _show(request, session, staff, filters, form)
    done = "published" if verb == "publish" else "finished"
    form.done = f"“{changed.title}” {done}."
    return _answer(request, filters) or await _show(request, session, staff, filters, form)


@router.post(HOME + "/{engagement_id}/publish", name="engagements:publish")
async def publish_engagement(
    request: Request,
    engagement_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    filters: FiltersFormDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    return await _status_change(
        request, session, staff, filters, engagement_id, confirmed=confirmed, verb="publish"
    )


@router.post(HOME + "/{engagement_id}/finish", name="engagements:finish")
async def finish_engagement(
    request: Request,
    engagement_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    filters: FiltersFormDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    return await _status_change(
        request, session, staff, filters, engagement_id, confirmed=confirmed, verb="finish"
    )

"""The canned-responses settings page (HD-14): the Category tab (categories in order, each
expanding to its responses) and the Responses tab (every response, searchable).

Every agent may look; changing needs canned.manage. The forms post here: htmx swaps in the
panel this answers with (a refused change shows its form again with the reason), a plain form
post is sent back to the page, or gets it with the reason and 422.
"""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.canned import schemas, service
from relaydesk.deps import SessionDep
from relaydesk.errors import AppError, NotFound
from relaydesk.web.templating import from_htmx, render, uuid_or_none

router = APIRouter(include_in_schema=False)

ReaderDep = require(Permission.CHAT_HANDLE)
EditorDep = require(Permission.CANNED_MANAGE)

TABS = ("categories", "responses")
# The Responses tab lists this many at most; searching narrows them down.
RESPONSES_SHOWN = 200

_FIELD_HINTS = {
    "name": "Give the category a name of at most 100 characters.",
    "category_id": "Pick a category.",
    "title": "Give the response a title of at most 200 characters.",
    "body": "Write the response's text, at most 4,000 characters.",
    "shortcode": "A shortcut is up to 50 letters, digits, “-” or “_”.",
    "position": "Pick a place in the list.",
}
_CONFLICT_FIELDS = {
    service.CATEGORY_EXISTS: "name",
    service.TITLE_TAKEN: "title",
    service.SHORTCODE_TAKEN: "shortcode",
}


@dataclass
class View:
    """What the panel shows: the tab with its search, the category to keep expanded, and the
    form to show again with the reason it was refused."""

    tab: str = "categories"
    q: str = ""
    in_category: uuid.UUID | None = None
    open_category: uuid.UUID | None = None
    form: str | None = None
    error: str | None = None
    invalid: set[str] = field(default_factory=set)
    values: dict[str, str] = field(default_factory=dict)

    def url(self) -> str:
        query = {"tab": self.tab}
        if self.tab == "responses":
            query |= {"q": self.q, "in_category": str(self.in_category or "")}
        return f"/desk/canned?{urlencode(query)}"

    def refused(self, form: str, values: dict[str, str], error: Exception) -> None:
        """Shows `form` again with what was typed and why it was refused; what the form was
        about being gone, the reason shows above the lists instead."""
        self.form = "panel" if isinstance(error, NotFound) else form
        self.values = values
        if isinstance(error, ValidationError):
            fields = dict.fromkeys(str(e["loc"][0]) for e in error.errors() if e["loc"])
            self.invalid = set(fields)
            self.error = " ".join(_FIELD_HINTS.get(name, "Check this field.") for name in fields)
        else:
            assert isinstance(error, AppError)
            self.error = error.detail
            self.invalid = (
                {_CONFLICT_FIELDS[error.code]} if error.code in _CONFLICT_FIELDS else set()
            )


def _view(tab: str, q: str, in_category: str) -> View:
    tab = tab if tab in TABS else "categories"
    return View(tab=tab, q=q.strip()[:200], in_category=uuid_or_none(in_category))


async def view_query(tab: str = "categories", q: str = "", in_category: str = "") -> View:
    return _view(tab, q, in_category)


async def view_form(
    tab: Annotated[str, Form()] = "categories",
    q: Annotated[str, Form()] = "",
    in_category: Annotated[str, Form()] = "",
    open_category: Annotated[str, Form()] = "",
) -> View:
    """The tab a change was made on and the category the form sits in, sent along by every
    form so that the answer shows them again."""
    view = _view(tab, q, in_category)
    view.open_category = uuid_or_none(open_category)
    return view


ViewQueryDep = Annotated[View, Depends(view_query)]
ViewFormDep = Annotated[View, Depends(view_form)]


async def _panel_context(
    session: AsyncSession, staff: StaffPrincipal, view: View
) -> dict[str, Any]:
    if view.tab == "responses":
        categories = await service.all_categories(session, staff)
        query = service.ResponseQuery(q=view.q, category_id=view.in_category)
        responses, more = await service.list_responses(session, staff, query, limit=RESPONSES_SHOWN)
        return {
            "categories": categories,
            "category_names": {category.id: category.name for category in categories},
            "responses": responses,
            "more_responses": more is not None,
        }
    with_responses = await service.categories_with_responses(session, staff)
    return {
        "categories": [category for category, _ in with_responses],
        "categories_with_responses": with_responses,
    }


async def _show(
    request: Request, session: AsyncSession, staff: StaffPrincipal, view: View
) -> HTMLResponse:
    """The page, or for htmx only its panel. A refused plain form post answers 422; htmx swaps
    only successful answers in, so it gets the panel with the reason as a 200."""
    htmx = from_htmx(request)
    return render(
        request,
        "canned/_panel.html" if htmx else "canned/home.html",
        staff=staff,
        view=view,
        status_code=422 if view.error and not htmx else 200,
        **await _panel_context(session, staff, view),
    )


async def _changed(
    request: Request,
    session: AsyncSession,
    staff: StaffPrincipal,
    view: View,
    form: str,
    values: dict[str, str],
    change: Callable[[], Awaitable[Any]],
) -> Response:
    """Makes a change from a form and answers with the panel, or a plain post's redirect."""
    try:
        await change()
    except (ValidationError, AppError) as exc:
        view.refused(form, values, exc)
    if view.error is None and not from_htmx(request):
        return RedirectResponse(view.url(), status_code=303)
    return await _show(request, session, staff, view)


@router.get("/desk/canned", name="canned:home")
async def canned_home(
    request: Request, session: SessionDep, staff: ReaderDep, view: ViewQueryDep
) -> HTMLResponse:
    return await _show(request, session, staff, view)


@router.post("/desk/canned/categories", name="canned:create_category")
async def create_category(
    request: Request,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    name: Annotated[str, Form()] = "",
) -> Response:
    async def change() -> None:
        data = schemas.CannedCategoryCreate(name=name)
        await service.create_category(session, staff, data)

    return await _changed(request, session, staff, view, "new-category", {"name": name}, change)


@router.post("/desk/canned/categories/{category_id}", name="canned:rename_category")
async def rename_category(
    request: Request,
    category_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    name: Annotated[str, Form()] = "",
) -> Response:
    async def change() -> None:
        data = schemas.CannedCategoryUpdate(name=name)
        await service.update_category(session, staff, category_id, data)

    form = f"rename-{category_id}"
    return await _changed(request, session, staff, view, form, {"name": name}, change)


@router.post("/desk/canned/categories/{category_id}/move", name="canned:move_category")
async def move_category(
    request: Request,
    category_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    position: Annotated[int, Form()],
) -> Response:
    """The up and down buttons: each sends the position it moves the category to."""

    async def change() -> None:
        data = schemas.CannedCategoryUpdate(position=max(position, 0))
        await service.update_category(session, staff, category_id, data)

    return await _changed(request, session, staff, view, "panel", {}, change)


@router.post("/desk/canned/categories/{category_id}/delete", name="canned:delete_category")
async def delete_category(
    request: Request,
    category_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Deletes a category and its responses once confirmed: htmx asks in its dialog, a plain
    form post first gets a page that asks."""
    if not confirmed:
        category = await service.category_view(session, staff, category_id)
        return _confirm_delete(request, staff, view, category=category)
    delete = partial(service.delete_category, session, staff, category_id)
    return await _changed(request, session, staff, view, "panel", {}, delete)


def _response_values(category_id: str, title: str, body: str, shortcode: str) -> dict[str, str]:
    return {"category_id": category_id, "title": title, "body": body, "shortcode": shortcode}


@router.post("/desk/canned/responses", name="canned:create_response")
async def create_response(
    request: Request,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    category_id: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    shortcode: Annotated[str, Form()] = "",
) -> Response:
    """ "+ Add new response" under an expanded category."""
    values = _response_values(category_id, title, body, shortcode)

    async def change() -> None:
        data = schemas.CannedResponseCreate.model_validate(values)
        await service.create_response(session, staff, data)

    form = f"new-response-{category_id}"
    return await _changed(request, session, staff, view, form, values, change)


@router.post("/desk/canned/responses/{response_id}", name="canned:update_response")
async def update_response(
    request: Request,
    response_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    category_id: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    body: Annotated[str, Form()] = "",
    shortcode: Annotated[str, Form()] = "",
) -> Response:
    """The edit pen's form; an empty shortcut removes it. Moved to another category, that
    one shows expanded."""
    values = _response_values(category_id, title, body, shortcode)

    async def change() -> None:
        data = schemas.CannedResponseUpdate.model_validate(values)
        updated = await service.update_response(session, staff, response_id, data)
        view.open_category = updated.category_id

    form = f"edit-response-{response_id}"
    return await _changed(request, session, staff, view, form, values, change)


@router.post("/desk/canned/responses/{response_id}/delete", name="canned:delete_response")
async def delete_response(
    request: Request,
    response_id: uuid.UUID,
    session: SessionDep,
    staff: EditorDep,
    view: ViewFormDep,
    confirmed: Annotated[bool, Form()] = False,
) -> Response:
    """Deletes a response once confirmed, as for categories."""
    if not confirmed:
        response = await service.get_response(session, staff, response_id)
        return _confirm_delete(request, staff, view, response=response)
    delete = partial(service.delete_response, session, staff, response_id)
    return await _changed(request, session, staff, view, "panel", {}, delete)


def _confirm_delete(
    request: Request, staff: StaffPrincipal, view: View, **subject: Any
) -> Response:
    """The page that asks before a plain form post deletes a category or a response."""
    context = {"category": None, "response": None} | subject
    return render(
        request,
        "canned/confirm_delete.html",
        staff=staff,
        view=view,
        action=request.url.path,
        **context,
    )

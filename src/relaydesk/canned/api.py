import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from relaydesk.auth.deps import require
from relaydesk.auth.permissions import Permission
from relaydesk.canned import schemas, service
from relaydesk.deps import SessionDep
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["canned responses"])

# Every agent uses canned responses; changing them needs canned.manage.
ReaderDep = require(Permission.CHAT_HANDLE)
EditorDep = require(Permission.CANNED_MANAGE)
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/canned/categories", response_model=Page[schemas.CannedCategory])
async def list_categories(
    session: SessionDep, staff: ReaderDep, limit: Limit = 50, cursor: str | None = None
) -> Page[schemas.CannedCategory]:
    """My partner's categories in their order."""
    items, next_cursor = await service.list_categories(session, staff, limit=limit, cursor=cursor)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/canned/categories", status_code=201, response_model=schemas.CannedCategory)
async def create_category(
    data: schemas.CannedCategoryCreate, session: SessionDep, staff: EditorDep
) -> schemas.CannedCategory:
    """Adds a category at `position` (the others move down), or last; 409
    `canned_category_exists` for a name taken in any case."""
    return await service.create_category(session, staff, data)


@router.patch("/canned/categories/{category_id}", response_model=schemas.CannedCategory)
async def update_category(
    category_id: uuid.UUID,
    data: schemas.CannedCategoryUpdate,
    session: SessionDep,
    staff: EditorDep,
) -> schemas.CannedCategory:
    """Renames and/or moves a category; positions stay 0 … n-1."""
    return await service.update_category(session, staff, category_id, data)


@router.delete("/canned/categories/{category_id}", status_code=204)
async def delete_category(
    category_id: uuid.UUID, session: SessionDep, staff: EditorDep
) -> Response:
    """Deletes a category together with its responses."""
    await service.delete_category(session, staff, category_id)
    return Response(status_code=204)


@router.get("/canned/responses", response_model=Page[schemas.CannedResponse])
async def list_responses(
    session: SessionDep,
    staff: ReaderDep,
    q: Annotated[str, Query(max_length=200)] = "",
    category_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[schemas.CannedResponse]:
    """Responses whose title, shortcut or text contains `q` (any case); title and shortcut
    prefix matches first, then by title."""
    items, next_cursor = await service.list_responses(
        session,
        staff,
        service.ResponseQuery(q=q, category_id=category_id),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.post("/canned/responses", status_code=201, response_model=schemas.CannedResponse)
async def create_response(
    data: schemas.CannedResponseCreate, session: SessionDep, staff: EditorDep
) -> schemas.CannedResponse:
    """Adds a response; 409 `canned_title_taken` or `canned_shortcode_taken` when taken."""
    return await service.create_response(session, staff, data)


@router.patch("/canned/responses/{response_id}", response_model=schemas.CannedResponse)
async def update_response(
    response_id: uuid.UUID,
    data: schemas.CannedResponseUpdate,
    session: SessionDep,
    staff: EditorDep,
) -> schemas.CannedResponse:
    return await service.update_response(session, staff, response_id, data)


@router.delete("/canned/responses/{response_id}", status_code=204)
async def delete_response(
    response_id: uuid.UUID, session: SessionDep, staff: EditorDep
) -> Response:
    await service.delete_response(session, staff, response_id)
    return Response(status_code=204)


@router.get(
    "/conversations/{conversation_id}/canned/{response_id}",
    response_model=schemas.FilledText,
    tags=["chat"],
)
async def filled_response(
    conversation_id: uuid.UUID, response_id: uuid.UUID, session: SessionDep, staff: ReaderDep
) -> schemas.FilledText:
    """The response's text for inserting into this chat: `{{end_user.name}}`,
    `{{agent.name}}` (the caller) and `{{channel.name}}` filled in, anything else as written."""
    text = await service.filled_text(session, staff, conversation_id, response_id)
    return schemas.FilledText(text=text)

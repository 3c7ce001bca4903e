import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from relaydesk.auth.deps import EndUserDep, require
from relaydesk.auth.permissions import Permission
from relaydesk.chat import alerts, inbox, schemas, service, transcripts
from relaydesk.deps import SessionDep
from relaydesk.exports import csv_download
from relaydesk.schemas import Page

router = APIRouter(prefix="/api/v1", tags=["chat"])

AgentDep = require(Permission.CHAT_HANDLE)
Limit = Annotated[int, Query(ge=1, le=200)]
Seq = Annotated[int | None, Query(ge=0)]


async def thread_query(
    after_seq: Seq = None, before_seq: Seq = None, limit: Limit = 50, cursor: str | None = None
) -> inbox.ThreadQuery:
    return inbox.ThreadQuery(after_seq=after_seq, before_seq=before_seq, limit=limit, cursor=cursor)


ThreadQueryDep = Annotated[inbox.ThreadQuery, Depends(thread_query)]


def created_or_replayed(response: Response, created: bool) -> None:
    """201 for a new message, 200 when a retried client_message_id finds the original."""
    response.status_code = 201 if created else 200


@router.get("/conversations", response_model=Page[schemas.Conversation])
async def list_conversations(
    session: SessionDep,
    staff: AgentDep,
    filter: schemas.InboxFilter = schemas.InboxFilter.ALL,
    channel_id: uuid.UUID | None = None,
    q: Annotated[str, Query(max_length=200)] = "",
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[schemas.Conversation]:
    """The inbox, newest activity first; `q` searches end users and message text."""
    items, next_cursor = await inbox.list_conversations(
        session,
        staff,
        inbox.InboxQuery(filter=filter, channel_id=channel_id, q=q),
        limit=limit,
        cursor=cursor,
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get("/conversations/counts", response_model=schemas.InboxCounts)
async def inbox_counts(
    session: SessionDep, staff: AgentDep, channel_id: uuid.UUID | None = None
) -> schemas.InboxCounts:
    """How many conversations each inbox filter holds."""
    return await inbox.inbox_counts(session, staff, channel_id)


# Declared before /conversations/{conversation_id}, which would take "export.csv" for an id.
@router.get(
    "/conversations/export.csv",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {}}, "description": "Finished chat sessions."}},
)
async def export_finished(
    request: Request,
    staff: AgentDep,
    channel_id: uuid.UUID | None = None,
    q: Annotated[str, Query(max_length=200)] = "",
) -> StreamingResponse:
    """One row per finished chat session of the chats `channel_id` and `q` pick (as in the
    inbox), newest finish first."""
    rows = transcripts.finished_session_rows(
        request.app.state.database, staff, channel_id=channel_id, q=q
    )
    return csv_download("finished-chats.csv", transcripts.EXPORT_HEADER, rows)


@router.get("/conversations/{conversation_id}", response_model=schemas.Conversation)
async def get_conversation(
    conversation_id: uuid.UUID, session: SessionDep, staff: AgentDep
) -> schemas.Conversation:
    return await inbox.conversation_detail(session, staff, conversation_id)


@router.get("/conversations/{conversation_id}/messages", response_model=Page[schemas.Message])
async def list_messages(
    conversation_id: uuid.UUID, session: SessionDep, staff: AgentDep, query: ThreadQueryDep
) -> Page[schemas.Message]:
    """Messages ascending by seq: the latest page, or those after `after_seq` / before
    `before_seq`."""
    items, next_cursor = await inbox.list_messages(session, staff, conversation_id, query)
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/conversations/{conversation_id}/transcript.txt",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}, "description": "The transcript."}},
)
async def text_transcript(
    conversation_id: uuid.UUID, request: Request, session: SessionDep, staff: AgentDep
) -> StreamingResponse:
    """The whole chat as a text file, times in the partner's time zone."""
    head = await transcripts.transcript_head(session, staff, conversation_id)
    return transcripts.text_transcript(request.app.state.database, head)


@router.get(
    "/conversations/{conversation_id}/transcript.html",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/html": {}}, "description": "The transcript."}},
)
async def html_transcript(
    conversation_id: uuid.UUID, request: Request, session: SessionDep, staff: AgentDep
) -> StreamingResponse:
    """The whole chat as a page to read or print, times in the partner's time zone."""
    head = await transcripts.transcript_head(session, staff, conversation_id)
    return transcripts.html_transcript(request.app.state.database, head)


@router.post(
    "/conversations/{conversation_id}/messages",
    status_code=201,
    response_model=schemas.Message,
    responses={
        200: {"description": "A retry: the message first sent with this client_message_id."}
    },
)
async def send_message(
    conversation_id: uuid.UUID,
    data: schemas.AgentMessageCreate,
    response: Response,
    session: SessionDep,
    staff: AgentDep,
) -> schemas.Message:
    """Replies, taking an unanswered chat; a chat another agent owns needs `take_over`."""
    message, created = await service.send_agent_message(session, staff, conversation_id, data)
    created_or_replayed(response, created)
    return message


@router.post("/conversations/{conversation_id}/read", status_code=204)
async def mark_read(
    conversation_id: uuid.UUID,
    session: SessionDep,
    staff: AgentDep,
    data: schemas.ReadMark | None = None,
) -> Response:
    """Marks the conversation read up to `seq` (default: everything) for the calling agent."""
    await inbox.mark_read(session, staff, conversation_id, data.seq if data else None)
    return Response(status_code=204)


@router.post("/conversations/{conversation_id}/finish", response_model=schemas.Conversation)
async def finish_conversation(
    conversation_id: uuid.UUID, session: SessionDep, staff: AgentDep
) -> schemas.Conversation:
    await service.finish_conversation(session, staff, conversation_id)
    return await inbox.conversation_detail(session, staff, conversation_id)


@router.post(
    "/channels/{channel_id}/chat/messages",
    status_code=201,
    response_model=schemas.Message,
    responses={
        200: {"description": "A retry: the message first sent with this client_message_id."}
    },
    tags=["end users"],
)
async def send_end_user_message(
    channel_id: uuid.UUID,
    data: schemas.MessageCreate,
    response: Response,
    session: SessionDep,
    end_user: EndUserDep,
) -> schemas.Message:
    """Writes to a followed channel, starting or reopening the conversation."""
    message, created = await service.send_end_user_message(session, end_user, channel_id, data)
    created_or_replayed(response, created)
    return message


@router.get("/me/conversations", response_model=Page[schemas.Conversation], tags=["end users"])
async def my_conversations(
    session: SessionDep,
    end_user: EndUserDep,
    channel_id: uuid.UUID | None = None,
    limit: Limit = 50,
    cursor: str | None = None,
) -> Page[schemas.Conversation]:
    """My conversations, newest activity first; with `channel_id`, the one with that channel."""
    items, next_cursor = await inbox.end_user_conversations(
        session, end_user, channel_id, limit=limit, cursor=cursor
    )
    return Page(items=items, next_cursor=next_cursor)


@router.get(
    "/me/conversations/{conversation_id}/messages",
    response_model=Page[schemas.Message],
    tags=["end users"],
)
async def my_messages(
    conversation_id: uuid.UUID, session: SessionDep, end_user: EndUserDep, query: ThreadQueryDep
) -> Page[schemas.Message]:
    items, next_cursor = await inbox.list_messages(session, end_user, conversation_id, query)
    return Page(items=items, next_cursor=next_cursor)


@router.post("/me/conversations/{conversation_id}/read", status_code=204, tags=["end users"])
async def mark_my_conversation_read(
    conversation_id: uuid.UUID,
    session: SessionDep,
    end_user: EndUserDep,
    data: schemas.ReadMark | None = None,
) -> Response:
    await inbox.mark_read(session, end_user, conversation_id, data.seq if data else None)
    return Response(status_code=204)


@router.get("/me/alerts", response_model=schemas.AlertSettings, tags=["chat"])
async def alert_settings(session: SessionDep, staff: AgentDep) -> schemas.AlertSettings:
    """The console alerts the calling agent has on."""
    return await alerts.alert_settings(session, staff)


@router.patch("/me/alerts", response_model=schemas.AlertSettings, tags=["chat"])
async def update_alert_settings(
    data: schemas.AlertSettingsUpdate, session: SessionDep, staff: AgentDep
) -> schemas.AlertSettings:
    """Mutes or unmutes the calling agent's alerts; fields left out stay as they are."""
    return await alerts.update_alert_settings(session, staff, data)

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from relaydesk.attachments import schemas, service
from relaydesk.attachments.download import content_disposition, stream_file
from relaydesk.attachments.files import file_type, size_limit
from relaydesk.attachments.models import AttachmentKind
from relaydesk.attachments.storage import Storage
from relaydesk.attachments.upload import FILE_FIELD, receive_file
from relaydesk.auth.deps import get_principal
from relaydesk.auth.principal import Principal
from relaydesk.config import Settings
from relaydesk.deps import SessionDep, SettingsDep
from relaydesk.errors import NotFound

UPLOAD_PATH = "/api/v1/attachments"
router = APIRouter(prefix=UPLOAD_PATH, tags=["attachments"])
# Room for the multipart framing around the largest file allowed.
_MULTIPART_OVERHEAD = 64 * 1024


def upload_body_limit(settings: Settings) -> int:
    """The largest upload body: the largest file of any kind, plus its framing."""
    kinds = (size_limit(settings, kind) for kind in AttachmentKind)
    return max(kinds) + _MULTIPART_OVERHEAD


PrincipalDep = Annotated[Principal, Depends(get_principal)]


async def get_storage(request: Request) -> Storage:
    return request.app.state.storage


StorageDep = Annotated[Storage, Depends(get_storage)]

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}},
                }
            }
        },
    }
}


async def get_uploader(request: Request, settings: SettingsDep) -> Principal:
    """Who is uploading, looked up in a transaction of its own and checked before the body is
    read. The upload that follows may take minutes and must not hold a transaction meanwhile
    (on SQLite, the process's one turn at the database)."""
    async with request.app.state.database.transaction() as session:
        principal = await get_principal(request, session, settings)
    service.check_can_upload(principal)
    return principal


@router.post(
    "",
    status_code=201,
    response_model=schemas.Attachment,
    openapi_extra=_UPLOAD_BODY,
    responses={
        413: {"description": "`attachment_too_large`: over the limit for the file's kind."},
        415: {"description": "`attachment_type_not_allowed`: extension or content refused."},
    },
)
async def upload_attachment(
    request: Request,
    principal: Annotated[Principal, Depends(get_uploader)],
    storage: StorageDep,
    settings: SettingsDep,
) -> schemas.Attachment:
    """Uploads one file (multipart field `file`), to be sent by referencing its id in a
    message. Allowed: images .png .jpg .jpeg .gif (10 MB), videos .mov .m4v .mp4 (50 MB),
    documents .odt .ppt .txt .doc .pdf (10 MB); staff with `engagements.manage` also
    engagement content files .mp3 .m4a .ogg .zip (as documents). The content must be what the
    extension says."""

    def limit_for(filename: str) -> int:
        return size_limit(settings, file_type(filename, principal)[1].kind)

    received = await receive_file(request, limit_for, settings.data_dir / "uploads")
    try:
        return await service.upload_attachment(
            request.app.state.database, principal, received, storage
        )
    finally:
        received.path.unlink(missing_ok=True)


@router.get(
    "/{attachment_id}",
    response_class=Response,
    responses={200: {"description": "The file's bytes."}, 206: {"description": "A byte range."}},
)
async def download_attachment(
    attachment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    storage: StorageDep,
) -> Response:
    """The file: images and videos to show inline, documents to save. Honours `Range`."""
    attachment = await service.get_attachment(session, principal, attachment_id)
    inline = attachment.kind != AttachmentKind.DOCUMENT
    return stream_file(
        request,
        storage,
        attachment.storage_key,
        size=attachment.size,
        content_type=attachment.content_type,
        disposition=content_disposition(attachment.filename, inline=inline),
        etag=f'"{attachment.id}"',
    )


@router.get("/{attachment_id}/preview", response_class=Response)
async def attachment_preview(
    attachment_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    principal: PrincipalDep,
    storage: StorageDep,
) -> Response:
    """An image's thumbnail (WebP, at most 320 by 320); 404 for other kinds."""
    attachment = await service.get_attachment(session, principal, attachment_id)
    if attachment.preview_key is None or attachment.preview_size is None:
        raise NotFound("This attachment has no preview.")
    return stream_file(
        request,
        storage,
        attachment.preview_key,
        size=attachment.preview_size,
        content_type="image/webp",
        disposition=content_disposition(f"{Path(attachment.filename).stem}.webp", inline=True),
        etag=f'"{attachment.id}-preview"',
    )

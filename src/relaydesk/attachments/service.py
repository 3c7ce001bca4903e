"""Uploading attachments, who may fetch them, and binding them to the message that sends them
or the engagements that show them.

An attachment belongs to its uploader until a message or an engagement uses it; from then on
the partner's staff may fetch it, and for a message the conversation's end user, and nobody
else: anyone else gets the same 404 as for an id that does not exist.
"""

import asyncio
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from relaydesk.ads.files import ad_files
from relaydesk.attachments import schemas
from relaydesk.attachments.files import clean_filename, inspect_file
from relaydesk.attachments.models import Attachment, AttachmentKind, UploaderType
from relaydesk.attachments.storage import Storage, delete_quietly, new_key
from relaydesk.attachments.upload import ReceivedFile
from relaydesk.auth.models import StaffUser
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import EndUserPrincipal, Principal, StaffPrincipal
from relaydesk.clock import now
from relaydesk.db import Database
from relaydesk.engagements.files import delivered_file
from relaydesk.errors import InvalidInput, NotFound, PermissionDenied

# An upload not sent within this time was given up on; the worker removes it.
UNSENT_KEPT_FOR = timedelta(days=1)
_PURGE_BATCH = 200


def _uploader_type(principal: Principal) -> UploaderType:
    return UploaderType.STAFF if isinstance(principal, StaffPrincipal) else UploaderType.END_USER


def check_can_upload(principal: Principal) -> None:
    """End users send files into their chats; of staff, the partner's agents do."""
    if isinstance(principal, StaffPrincipal) and not (
        principal.partner_id and principal.can(Permission.CHAT_HANDLE)
    ):
        raise PermissionDenied(f"This needs the {Permission.CHAT_HANDLE} permission.")


def _uploaded_by(principal: Principal) -> Select[tuple[Attachment]]:
    return select(Attachment).where(
        Attachment.tenant_id == principal.tenant_id,
        Attachment.uploader_type == _uploader_type(principal),
        Attachment.uploader_id == principal.id,
    )


def readable_attachments(principal: Principal) -> Select[tuple[Attachment]]:
    """Attachments the principal may fetch: their own uploads, those sent in conversations
    they may read; for an end user the files of engagements given to them and of ads, for
    tenant staff the files partners keep for engagements and ads (never chat files)."""
    own = (Attachment.uploader_type == _uploader_type(principal)) & (
        Attachment.uploader_id == principal.id
    )
    if isinstance(principal, EndUserPrincipal):
        sent_to_them = Attachment.message_id.is_not(None) & (Attachment.end_user_id == principal.id)
        # Files kept for engagements reach the end users the engagements were given to.
        delivered = Attachment.partner_id.is_not(None) & Attachment.message_id.is_(None)
        audience = (
            sent_to_them
            | (delivered & delivered_file(principal.id, Attachment.id))
            | Attachment.id.in_(ad_files(principal.tenant_id))
        )
    elif principal.partner_id is not None:
        audience = Attachment.partner_id == principal.partner_id
    else:
        # Tenant staff see what partners keep for engagements and ads, to judge requests.
        audience = Attachment.partner_id.is_not(None) & Attachment.message_id.is_(None)
    return select(Attachment).where(Attachment.tenant_id == principal.tenant_id, or_(own, audience))


def attachment_view(attachment: Attachment) -> schemas.Attachment:
    url = f"/api/v1/attachments/{attachment.id}"
    return schemas.Attachment(
        id=attachment.id,
        kind=attachment.kind,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
        url=url,
        preview_url=f"{url}/preview" if attachment.preview_key else None,
    )


async def upload_attachment(
    database: Database, principal: Principal, received: ReceivedFile, storage: Storage
) -> schemas.Attachment:
    """Checks the received file's content against its name, stores it with a preview for
    images, and records it as the principal's (HD-11). The caller checked `check_can_upload`
    before receiving the file.

    Checking and storing take a while (a video into a bucket), so they happen outside any
    transaction; only recording the row takes one, briefly.
    """
    inspected = await asyncio.to_thread(inspect_file, received.path, received.filename, principal)
    key, preview_key = new_key(), new_key() if inspected.preview else None
    try:
        await storage.put(key, received.path)
        if inspected.preview and preview_key:
            await storage.put(preview_key, inspected.preview)
        attachment = Attachment(
            tenant_id=principal.tenant_id,
            uploader_type=_uploader_type(principal),
            uploader_id=principal.id,
            kind=inspected.kind,
            filename=clean_filename(received.filename),
            content_type=inspected.content_type,
            size=received.size,
            storage_key=key,
            preview_key=preview_key,
            preview_size=inspected.preview.stat().st_size if inspected.preview else None,
        )
        async with database.transaction() as session:
            session.add(attachment)
    except BaseException:
        await delete_quietly(storage, key, preview_key)
        raise
    finally:
        if inspected.preview:
            inspected.preview.unlink(missing_ok=True)
    return attachment_view(attachment)


async def get_attachment(
    session: AsyncSession, principal: Principal, attachment_id: uuid.UUID
) -> Attachment:
    attachment = await session.scalar(
        readable_attachments(principal).where(Attachment.id == attachment_id)
    )
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


async def bind_to_message(
    session: AsyncSession,
    sender: Principal,
    attachment_ids: Sequence[uuid.UUID],
    *,
    message_id: uuid.UUID,
    conversation_id: uuid.UUID,
    partner_id: uuid.UUID,
    end_user_id: uuid.UUID,
) -> list[schemas.Attachment]:
    """Makes the sender's unsent uploads part of a message, in the order given. The rows are
    locked, so of two messages racing for one upload only the first binds it.

    Anything else — another person's upload, one sent already (here or in another
    conversation), an unknown id — is a 422 naming the id, and nothing is bound.
    """
    attachments = {
        attachment.id: attachment
        for attachment in await session.scalars(
            _uploaded_by(sender)
            .where(Attachment.id.in_(attachment_ids), Attachment.message_id.is_(None))
            .with_for_update()
        )
    }
    unusable = [
        {
            "loc": ["body", "attachment_ids", index],
            "msg": "No unsent upload of yours has this id.",
        }
        for index, attachment_id in enumerate(attachment_ids)
        if attachment_id not in attachments
    ]
    if unusable:
        raise InvalidInput("An attachment can't be sent.", extra={"errors": unusable})
    for position, attachment_id in enumerate(attachment_ids):
        attachment = attachments[attachment_id]
        attachment.message_id, attachment.position = message_id, position
        attachment.conversation_id, attachment.partner_id = conversation_id, partner_id
        attachment.end_user_id = end_user_id
    return [attachment_view(attachments[attachment_id]) for attachment_id in attachment_ids]


@dataclass(frozen=True)
class FileReference:
    """An upload an engagement's `data` refers to: where (for the error), which, and the
    kinds it may be."""

    loc: tuple[str | int, ...]
    attachment_id: uuid.UUID
    kinds: frozenset[AttachmentKind]


_KIND_NAMES = {
    frozenset({AttachmentKind.IMAGE}): "an image",
    frozenset({AttachmentKind.VIDEO}): "a video",
    frozenset({AttachmentKind.IMAGE, AttachmentKind.VIDEO}): "an image or a video",
}


async def claim_engagement_files(
    session: AsyncSession, staff: StaffPrincipal, references: Sequence[FileReference]
) -> None:
    """Makes the referenced uploads the partner's, kept for its engagements: each must be an
    upload by staff of `staff`'s partner, not sent in a chat, and of one of the kinds allowed
    there; else a 422 naming each field at fault, and nothing is claimed."""
    if not references:
        return
    partner_staff = select(StaffUser.id).where(StaffUser.partner_id == staff.partner_id)
    kinds = dict(
        (
            await session.execute(
                select(Attachment.id, Attachment.kind).where(
                    Attachment.id.in_({reference.attachment_id for reference in references}),
                    Attachment.tenant_id == staff.tenant_id,
                    Attachment.uploader_type == UploaderType.STAFF,
                    Attachment.uploader_id.in_(partner_staff),
                    Attachment.message_id.is_(None),
                )
            )
        ).all()
    )
    errors = []
    for reference in references:
        kind = kinds.get(reference.attachment_id)
        if kind is None:
            msg = "No unsent upload by your partner's staff has this id."
        elif kind not in reference.kinds:
            msg = f"This file must be {_KIND_NAMES.get(reference.kinds, 'another kind')}."
        else:
            continue
        errors.append({"loc": ["body", *reference.loc], "msg": msg})
    if errors:
        raise InvalidInput("A file can't be used here.", extra={"errors": errors})
    await session.execute(
        update(Attachment)
        .where(Attachment.id.in_(kinds))
        .values(partner_id=staff.partner_id)
        .execution_options(synchronize_session=False)
    )


async def attachments_of_messages(
    session: AsyncSession, message_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, list[schemas.Attachment]]:
    """Each message's attachments in the order they were sent, in one query."""
    ids = list(message_ids)
    by_message: dict[uuid.UUID, list[schemas.Attachment]] = {}
    if not ids:
        return by_message
    statement = (
        select(Attachment)
        .where(Attachment.message_id.in_(ids))
        .order_by(Attachment.message_id, Attachment.position)
    )
    for attachment in await session.scalars(statement):
        assert attachment.message_id is not None
        by_message.setdefault(attachment.message_id, []).append(attachment_view(attachment))
    return by_message


async def purge_unsent_attachments(session: AsyncSession, storage: Storage) -> None:
    """Removes uploads nobody used within UNSENT_KEPT_FOR (not sent in a chat, not kept for
    an engagement), rows and bytes.

    The rows are locked first (others' locked rows skipped), so a message binding one of them
    at this moment either wins and keeps it, or finds it gone and is refused.
    """
    expired = await session.scalars(
        select(Attachment)
        .where(
            Attachment.partner_id.is_(None),
            Attachment.message_id.is_(None),
            Attachment.created_at < now() - UNSENT_KEPT_FOR,
        )
        .order_by(Attachment.created_at)
        .limit(_PURGE_BATCH)
        .with_for_update(skip_locked=True)
    )
    for attachment in expired:
        await delete_quietly(storage, attachment.storage_key, attachment.preview_key)
        await session.delete(attachment)

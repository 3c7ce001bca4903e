"""Which files may be sent, and whether a file is what its name says (HD-11).

The extension picks the kind and the size limit before any byte is read; the content, sniffed
by `filetype`, must then agree with it. Everything here is plain, blocking code: the upload
route runs `inspect_file` in a worker thread.
"""

import codecs
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import filetype
from PIL import Image, ImageOps

from relaydesk.attachments.models import AttachmentKind
from relaydesk.auth.permissions import Permission
from relaydesk.auth.principal import Principal, StaffPrincipal
from relaydesk.config import Settings
from relaydesk.errors import AppError

# An OLE2 compound file: Word and PowerPoint 97-2003 both are one, and the detector recognises
# only some of them, so an unrecognised compound file named .doc or .ppt is taken at its word.
_COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_TEXT = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class FileType:
    kind: AttachmentKind
    # What the sniffed content may be for this extension; the first is served for .txt and
    # for compound files the detector does not name.
    content_types: tuple[str, ...]


FILE_TYPES: dict[str, FileType] = {
    ".png": FileType(AttachmentKind.IMAGE, ("image/png",)),
    ".jpg": FileType(AttachmentKind.IMAGE, ("image/jpeg",)),
    ".jpeg": FileType(AttachmentKind.IMAGE, ("image/jpeg",)),
    ".gif": FileType(AttachmentKind.IMAGE, ("image/gif",)),
    # The three are the same ISO media container; files often carry another's brand.
    ".mov": FileType(AttachmentKind.VIDEO, ("video/quicktime", "video/mp4")),
    ".m4v": FileType(AttachmentKind.VIDEO, ("video/x-m4v", "video/mp4")),
    ".mp4": FileType(AttachmentKind.VIDEO, ("video/mp4", "video/x-m4v")),
    ".odt": FileType(AttachmentKind.DOCUMENT, ("application/vnd.oasis.opendocument.text",)),
    ".ppt": FileType(AttachmentKind.DOCUMENT, ("application/vnd.ms-powerpoint",)),
    ".doc": FileType(AttachmentKind.DOCUMENT, ("application/msword",)),
    ".pdf": FileType(AttachmentKind.DOCUMENT, ("application/pdf",)),
    ".txt": FileType(AttachmentKind.DOCUMENT, (_TEXT,)),
}

# Engagement content files (ringtones, sticker packs): uploaded by staff who manage
# engagements, never sent as chat files by anyone else.
CONTENT_FILE_TYPES: dict[str, FileType] = FILE_TYPES | {
    ".mp3": FileType(AttachmentKind.DOCUMENT, ("audio/mpeg",)),
    ".m4a": FileType(AttachmentKind.DOCUMENT, ("audio/mp4",)),
    ".ogg": FileType(AttachmentKind.DOCUMENT, ("audio/ogg",)),
    ".zip": FileType(AttachmentKind.DOCUMENT, ("application/zip",)),
}

# Enough of the start of a file for every signature the detector knows.
HEAD_BYTES = 8192
PREVIEW_SIZE = (320, 320)
# Larger images are refused rather than decoded: a small file can hold a huge bitmap.
MAX_IMAGE_PIXELS = 40_000_000


class TypeNotAllowed(AppError):
    status = 415
    code = "attachment_type_not_allowed"


class TooLarge(AppError):
    status = 413
    code = "attachment_too_large"


def file_types_for(principal: Principal | None) -> Mapping[str, FileType]:
    """The extensions `principal` may upload: everyone the chat files, staff who manage
    engagements also their content files. Without a principal, the chat files."""
    if isinstance(principal, StaffPrincipal) and principal.can(Permission.ENGAGEMENTS_MANAGE):
        return CONTENT_FILE_TYPES
    return FILE_TYPES


def allowed_list(principal: Principal | None = None) -> str:
    return " ".join(sorted(file_types_for(principal)))


def file_type(filename: str, principal: Principal | None = None) -> tuple[str, FileType]:
    """The extension of `filename` and what it allows `principal`; 415 for any other
    extension."""
    extension = PurePosixPath(filename.lower()).suffix
    allowed = file_types_for(principal)
    if extension not in allowed:
        raise TypeNotAllowed(
            f"Files of this type can't be sent. Allowed: {allowed_list(principal)}."
        )
    return extension, allowed[extension]


def size_limit(settings: Settings, kind: AttachmentKind) -> int:
    return {
        AttachmentKind.IMAGE: settings.max_image_bytes,
        AttachmentKind.VIDEO: settings.max_video_bytes,
        AttachmentKind.DOCUMENT: settings.max_document_bytes,
    }[kind]


_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*]+')


def clean_filename(filename: str) -> str:
    """A name safe to show and to offer for download: no folders, control or reserved
    characters, at most 200 characters, the extension kept."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = " ".join(_UNSAFE.sub(" ", name).split()).strip(". ")
    path = PurePosixPath(name or "file")
    stem, suffix = path.stem.strip(". ") or "file", path.suffix.lower()
    return stem[: 200 - len(suffix)] + suffix


@dataclass(frozen=True)
class Inspected:
    kind: AttachmentKind
    content_type: str
    # A bounded WebP thumbnail of an image, written beside the upload.
    preview: Path | None


def inspect_file(path: Path, filename: str, principal: Principal | None = None) -> Inspected:
    """What the file really is, checked against its extension; a preview for images.

    415 `attachment_type_not_allowed` when the extension is not one `principal` may upload or
    the content disagrees with it.
    """
    extension, allowed = file_type(filename, principal)
    with path.open("rb") as file:
        head = file.read(HEAD_BYTES)
    detected = filetype.guess_mime(head)
    if extension == ".txt":
        if detected is not None or not _is_utf8_text(path):
            raise _disagrees(extension)
        return Inspected(allowed.kind, _TEXT, None)
    if detected is None and extension in (".doc", ".ppt") and head.startswith(_COMPOUND_FILE):
        detected = allowed.content_types[0]
    if detected not in allowed.content_types:
        raise _disagrees(extension)
    preview = _preview(path) if allowed.kind == AttachmentKind.IMAGE else None
    return Inspected(allowed.kind, detected, preview)


def _disagrees(extension: str) -> TypeNotAllowed:
    return TypeNotAllowed(f"The file's content is not a {extension} file.")


def _is_utf8_text(path: Path) -> bool:
    """Valid UTF-8 throughout, and no NUL bytes (which only binary files hold)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as file:
        while chunk := file.read(64 * 1024):
            if b"\x00" in chunk:
                return False
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                return False
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _preview(path: Path) -> Path:
    """A thumbnail of at most PREVIEW_SIZE; a file that does not decode is refused."""
    try:
        with Image.open(path) as image:
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise TooLarge(f"Images can have at most {MAX_IMAGE_PIXELS:,} pixels.")
            image.seek(0)
            thumbnail = ImageOps.exif_transpose(image).convert("RGBA")
            thumbnail.thumbnail(PREVIEW_SIZE)
            preview = path.with_name(path.name + ".preview.webp")
            thumbnail.save(preview, "WEBP", quality=80)
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        raise TypeNotAllowed("The image could not be read.") from error
    return preview

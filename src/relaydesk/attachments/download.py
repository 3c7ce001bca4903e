"""Streaming a stored file to the browser: whole, or the one byte range a video player asks for."""

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from relaydesk.attachments.storage import Storage
from relaydesk.errors import AppError

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
# A file served from here never runs as a page, even if a browser is talked into showing it.
_SANDBOX = "default-src 'none'; sandbox"


class RangeNotSatisfiable(AppError):
    status = 416
    code = "range_not_satisfiable"


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The [start, stop) asked for by a single-range `Range` header, or None for the whole
    file (also for forms this server does not serve, such as several ranges)."""
    match = _RANGE.match(header.strip()) if header else None
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        start, stop = max(size - int(last), 0), size
    else:
        start, stop = int(first), size if last == "" else min(int(last) + 1, size)
    if start >= size or start >= stop:
        raise RangeNotSatisfiable(
            "The range lies outside the file.", headers={"Content-Range": f"bytes */{size}"}
        )
    return start, stop


def content_disposition(filename: str, *, inline: bool) -> str:
    """RFC 6266: an ASCII fallback name, and the real one percent-encoded as UTF-8."""
    fallback = filename.encode("ascii", "replace").decode().replace('"', "'")
    disposition = "inline" if inline else "attachment"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


def _matches(if_none_match: str | None, etag: str) -> bool:
    """Whether `If-None-Match` names this file: `*`, or a list holding its tag (weak or not)."""
    if if_none_match is None:
        return False
    tags = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in tags or etag in tags


def stream_file(
    request: Request,
    storage: Storage,
    key: str,
    *,
    size: int,
    content_type: str,
    disposition: str,
    etag: str,
) -> Response:
    headers = {
        "Accept-Ranges": "bytes",
        "Content-Disposition": disposition,
        "Content-Security-Policy": _SANDBOX,
        "Cache-Control": "private, max-age=86400",
        "ETag": etag,
    }
    if _matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    # A range for another version of the file would be a stale piece: send the whole file.
    if_range = request.headers.get("if-range")
    wanted = byte_range(request.headers.get("range"), size)
    if wanted is None or (if_range is not None and if_range != etag):
        start, stop, status = 0, size, 200
    else:
        (start, stop), status = wanted, 206
        headers["Content-Range"] = f"bytes {start}-{stop - 1}/{size}"
    headers["Content-Length"] = str(stop - start)
    return StreamingResponse(
        storage.read(key, start, stop), status_code=status, media_type=content_type, headers=headers
    )

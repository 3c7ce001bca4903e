"""One file out of a `multipart/form-data` body, written to disk as it streams in.

The file part's name is known before its bytes arrive, so a disallowed extension is refused
without reading the file, and reading stops at the first byte past the kind's limit: the body
is never held in memory whole, nor read further than needed.
"""

import asyncio
import contextlib
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import Request

from relaydesk.attachments.files import TooLarge
from relaydesk.errors import InvalidInput

FILE_FIELD = "file"
# Other form fields are ignored, but only small ones, and only a few.
_MAX_FIELD_BYTES = 1024
_MAX_PARTS = 10


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(
        "The request is not valid.",
        extra={"errors": [{"loc": ["body", FILE_FIELD], "msg": message}]},
    )


@dataclass
class ReceivedFile:
    filename: str
    path: Path
    size: int


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    size: int = 0
    is_file: bool = False


class _Receiver:
    """The parser's callbacks: headers of each part, the `file` part's bytes to a temp file."""

    def __init__(self, limit_for: Callable[[str], int], folder: Path) -> None:
        self.limit_for = limit_for
        self.folder = folder
        self.part = _Part()
        self.parts = 0
        self.header_name = b""
        self.header_value = b""
        self.received: ReceivedFile | None = None
        self.file: IO[bytes] | None = None
        self.limit = 0
        self.finished = False

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > _MAX_PARTS:
            raise _invalid("The form has too many fields.")
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        self.part.headers[self.header_name.lower()] = self.header_value
        self.header_name = self.header_value = b""

    def on_headers_finished(self) -> None:
        _, options = parse_options_header(self.part.headers.get(b"content-disposition"))
        self.part.name = options.get(b"name", b"").decode("utf-8", "replace")
        if self.part.name != FILE_FIELD:
            return
        if self.received is not None:
            raise _invalid("Send one file per upload.")
        if b"filename" not in options:
            raise _invalid("The file field holds no file.")
        filename = options[b"filename"].decode("utf-8", "replace")
        # Refuses a disallowed extension before any of the file is read.
        self.limit = self.limit_for(filename)
        # Outlives this callback: closed when the body ends, removed by `discard` or the caller.
        self.file = tempfile.NamedTemporaryFile(  # noqa: SIM115
            dir=self.folder, prefix="upload-", delete=False
        )
        self.part.is_file = True
        self.received = ReceivedFile(filename, Path(self.file.name), 0)

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        self.part.size += end - start
        if not self.part.is_file:
            if self.part.size > _MAX_FIELD_BYTES:
                raise _invalid("A form field is too long.")
            return
        if self.part.size > self.limit:
            raise TooLarge(f"This file is larger than the limit of {self.limit:,} bytes.")
        assert self.file is not None
        self.file.write(data[start:end])

    def on_part_end(self) -> None:
        if self.part.is_file and self.received is not None:
            self.received.size = self.part.size

    def on_end(self) -> None:
        self.finished = True

    def discard(self) -> None:
        if self.file is not None:
            self.file.close()
            with contextlib.suppress(FileNotFoundError):
                Path(self.file.name).unlink()


async def receive_file(
    request: Request, limit_for: Callable[[str], int], folder: Path
) -> ReceivedFile:
    """The body's `file` part, saved in `folder`; the caller removes it when done.

    `limit_for(filename)` gives the most bytes the file may have, or raises to refuse it.
    """
    content_type, options = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise _invalid("Send the file as multipart/form-data, in a field named 'file'.")
    await asyncio.to_thread(folder.mkdir, parents=True, exist_ok=True)
    receiver = _Receiver(limit_for, folder)
    parser = MultipartParser(
        options[b"boundary"],
        {
            "on_part_begin": receiver.on_part_begin,
            "on_part_data": receiver.on_part_data,
            "on_part_end": receiver.on_part_end,
            "on_header_field": receiver.on_header_field,
            "on_header_value": receiver.on_header_value,
            "on_header_end": receiver.on_header_end,
            "on_headers_finished": receiver.on_headers_finished,
            "on_end": receiver.on_end,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if receiver.file is not None:
            receiver.file.close()
    except MultipartParseError as error:
        receiver.discard()
        raise _invalid("The multipart body could not be read.") from error
    except HTTPException as error:
        receiver.discard()
        if error.status_code == 413:
            # The body outgrew the cap for uploads: larger than any file may be.
            raise TooLarge("The upload is larger than any file may be.") from error
        raise
    except BaseException:
        receiver.discard()
        raise
    if receiver.received is None or not receiver.finished:
        receiver.discard()
        raise _invalid("Field required.")
    if receiver.received.size == 0:
        receiver.discard()
        raise _invalid("The file is empty.")
    return receiver.received

"""Helpers for attachment tests: real files of every allowed type, uploads over HTTP, and the
two places bytes are kept (a folder, or a bucket on a local moto S3 server)."""

import asyncio
import functools
import io
import struct
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from aiobotocore.session import AioSession, get_session
from moto.server import ThreadedMotoServer
from PIL import Image
from sqlalchemy import func, select

from relaydesk.attachments import storage as storage_module
from relaydesk.attachments.models import Attachment
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.chat.conftest import Agent, Follower, as_agent, client_message_id, new_follower
from tests.factories import Factory, World
from tests.processes import free_port

UPLOAD = "/api/v1/attachments"
# Small limits keep the bodies small; each test's Settings carry them.
IMAGE_LIMIT = 2_000
VIDEO_LIMIT = 3_000
DOCUMENT_LIMIT = 1_000
S3_REGION = "us-east-1"


# --- Files -----------------------------------------------------------------------------------


def image(fmt: str = "PNG", size: tuple[int, int] = (40, 30), **save: Any) -> bytes:
    """A real image Pillow can decode, of one colour so it stays small."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 40, 40)).save(buffer, fmt, **save)
    return buffer.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    return image("PNG", size)


def jpeg(size: tuple[int, int] = (40, 30)) -> bytes:
    return image("JPEG", size)


def gif(size: tuple[int, int] = (40, 30)) -> bytes:
    return image("GIF", size)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def iso_media(major: bytes, compatible: list[bytes], media: bytes = b"\x00" * 64) -> bytes:
    """An ISO base media file (MP4, QuickTime): an `ftyp` box with the brands, then `mdat`."""
    return _box(b"ftyp", major + b"\x00\x00\x02\x00" + b"".join(compatible)) + _box(b"mdat", media)


def mov(media: bytes = b"\x00" * 64) -> bytes:
    return iso_media(b"qt  ", [b"qt  "], media)


def mp4(media: bytes = b"\x00" * 64) -> bytes:
    return iso_media(b"isom", [b"isom", b"mp42"], media)


def m4v(media: bytes = b"\x00" * 64) -> bytes:
    # Three compatible brands make the 28-byte `ftyp` the M4V signature expects.
    return iso_media(b"M4V ", [b"M4V ", b"M4A ", b"M4VP"], media)


def odt() -> bytes:
    """An OpenDocument text: a zip whose first member is the stored `mimetype`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(
            zipfile.ZipInfo("mimetype"),
            "application/vnd.oasis.opendocument.text",
            compress_type=zipfile.ZIP_STORED,
        )
        archive.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


COMPOUND_FILE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
WORD_MARKER = b"\xec\xa5\xc1\x00"
POWERPOINT_MARKER = b"\xa0\x46\x1d\xf0"


def compound(marker: bytes = b"") -> bytes:
    """An OLE2 compound file (Office 97-2003) with `marker` where its first stream starts."""
    return (COMPOUND_FILE.ljust(512, b"\x00") + marker).ljust(600, b"\x00")


def doc() -> bytes:
    return compound(WORD_MARKER)


def ppt() -> bytes:
    return compound(POWERPOINT_MARKER)


def pdf(padding: int = 0) -> bytes:
    return b"%PDF-1.4\n1 0 obj <<>> endobj\n" + b"%" * padding + b"\ntrailer <<>>\n%%EOF\n"


TEXT = "Grüße aus Zürich, 你好, ✓ done.\n"


def text() -> bytes:
    return TEXT.encode()


def sized(kind: str, size: int) -> tuple[str, bytes]:
    """A valid file of `kind` (image, video, document) of exactly `size` bytes."""
    if kind == "image":
        # Bytes after a PNG's end are ignored by decoders.
        return "exact.png", png().ljust(size, b"\x00")
    if kind == "video":
        return "exact.mp4", mp4(b"\x00" * (size - len(mp4(b""))))
    return "exact.pdf", pdf(size - len(pdf()))


@dataclass(frozen=True)
class Sample:
    filename: str
    data: bytes
    kind: str
    content_type: str


SAMPLES = [
    Sample("photo.png", png(), "image", "image/png"),
    Sample("photo.jpg", jpeg(), "image", "image/jpeg"),
    Sample("photo.jpeg", jpeg(), "image", "image/jpeg"),
    Sample("animation.gif", gif(), "image", "image/gif"),
    Sample("clip.mov", mov(), "video", "video/quicktime"),
    Sample("clip.m4v", m4v(), "video", "video/x-m4v"),
    Sample("clip.mp4", mp4(), "video", "video/mp4"),
    Sample("letter.odt", odt(), "document", "application/vnd.oasis.opendocument.text"),
    Sample("letter.doc", doc(), "document", "application/msword"),
    Sample("old-word.doc", compound(), "document", "application/msword"),
    Sample("slides.ppt", ppt(), "document", "application/vnd.ms-powerpoint"),
    Sample("invoice.pdf", pdf(), "document", "application/pdf"),
    Sample("notes.txt", text(), "document", "text/plain; charset=utf-8"),
]

DISGUISED = {
    "html named .png": ("photo.png", b"<!doctype html><script>alert(1)</script>"),
    "pdf named .txt": ("notes.txt", pdf()),
    "png named .jpg": ("photo.jpg", png()),
    "text named .pdf": ("invoice.pdf", b"just some words\n"),
    "invalid utf-8 in .txt": ("notes.txt", b"caf\xe9 au lait\n"),
    "nul bytes in .txt": ("notes.txt", b"looks like text\x00\x00\x01 but is not\n"),
    "png signature then garbage": ("photo.png", png()[:16] + b"\xde\xad\xbe\xef" * 40),
    "jpeg named .gif": ("animation.gif", jpeg()),
    "mp4 named .mov": ("clip.mov", iso_media(b"avc1", [b"avc1"])),
    "zip named .odt": ("letter.odt", b"PK\x03\x04" + b"\x00" * 60),
    "word file named .ppt": ("slides.ppt", doc()),
    "pdf named .doc": ("letter.doc", pdf()),
}


# --- Uploading -------------------------------------------------------------------------------


async def upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    filename: str,
    data: bytes,
    content_type: str = "application/octet-stream",
) -> httpx.Response:
    return await client.post(
        UPLOAD, files={"file": (filename, data, content_type)}, headers=headers
    )


async def uploaded(
    client: httpx.AsyncClient, headers: dict[str, str], filename: str, data: bytes
) -> dict[str, Any]:
    """The answer to a successful upload."""
    response = await upload(client, headers, filename, data)
    assert response.status_code == 201, response.text
    return response.json()


def refused(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code


async def send(
    sender: Follower | Agent,
    attachment_ids: list[str],
    body: str = "",
    *,
    conversation_id: str | None = None,
    cmid: str | None = None,
    take_over: bool = False,
) -> httpx.Response:
    """A message with files: by an end user into their channel's chat, or by an agent."""
    data: dict[str, Any] = {
        "client_message_id": cmid or client_message_id(),
        "body": body,
        "attachment_ids": attachment_ids,
    }
    if isinstance(sender, Follower):
        path = f"/api/v1/channels/{sender.channel.id}/chat/messages"
    else:
        path = f"/api/v1/conversations/{conversation_id}/messages"
        data["take_over"] = take_over
    return await sender.client.post(path, json=data, headers=sender.headers)


# --- What is stored --------------------------------------------------------------------------


async def attachment_rows(database: Database) -> int:
    async with database.transaction() as session:
        return await session.scalar(select(func.count()).select_from(Attachment))


@functools.cache
def s3_client(endpoint: str) -> Any:
    """A plain (blocking) client to look into the bucket from outside the app."""
    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=S3_REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def _stored_objects(settings: Settings) -> dict[str, dict[str, Any]]:
    if settings.s3_bucket:
        listing = s3_client(settings.s3_endpoint_url).list_objects_v2(Bucket=settings.s3_bucket)
        return {item["Key"]: item for item in listing.get("Contents", [])}
    root = settings.data_dir / "attachments"
    return {
        str(path.relative_to(root)): {"Size": path.stat().st_size}
        for path in (root.rglob("*") if root.exists() else [])
        if path.is_file()
    }


async def stored_objects(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every file in the storage in use: its key and details (`Size`, and `ETag` on S3)."""
    return await asyncio.to_thread(_stored_objects, settings)


def leftover_uploads(settings: Settings) -> list[Path]:
    """Temporary files of uploads in progress; none may outlive a request."""
    folder = settings.data_dir / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


async def nothing_stored(settings: Settings, database: Database) -> bool:
    return (
        await attachment_rows(database) == 0
        and await stored_objects(settings) == {}
        and leftover_uploads(settings) == []
    )


# --- Storage backends ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """A moto S3 server on loopback, started by the first test that stores into a bucket."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture(scope="session")
def botocore_session() -> AioSession:
    """One client factory for the whole run. A new one loads the S3 service model again
    (slow, and several MB that stay in memory); a process's app makes only one anyway."""
    return get_session()


@pytest.fixture
def s3_bucket(s3_endpoint: str) -> Iterator[str]:
    """A new, empty bucket; emptied and removed after the test."""
    client = s3_client(s3_endpoint)
    name = f"relaydesk-test-{uuid.uuid4().hex[:12]}"
    client.create_bucket(Bucket=name)
    yield name
    for item in client.list_objects_v2(Bucket=name).get("Contents", []):
        client.delete_object(Bucket=name, Key=item["Key"])
    client.delete_bucket(Bucket=name)


@pytest.fixture
def storage_kind(request: pytest.FixtureRequest) -> str:
    """`local` unless a test is marked `both_storages`."""
    return getattr(request, "param", "local")


both_storages = pytest.mark.parametrize("storage_kind", ["local", "s3"], indirect=True)


@pytest.fixture
def limits() -> dict[str, int]:
    return {
        "max_image_bytes": IMAGE_LIMIT,
        "max_video_bytes": VIDEO_LIMIT,
        "max_document_bytes": DOCUMENT_LIMIT,
    }


@pytest.fixture
def settings(
    settings: Settings,
    storage_kind: str,
    limits: dict[str, int],
    request: pytest.FixtureRequest,
) -> Settings:
    """The test settings with small limits, storing into a folder or a fresh bucket."""
    update: dict[str, Any] = dict(limits)
    if storage_kind == "s3":
        shared = request.getfixturevalue("botocore_session")
        monkeypatch = request.getfixturevalue("monkeypatch")
        monkeypatch.setattr(storage_module, "get_session", lambda: shared)
        update |= {
            "s3_bucket": request.getfixturevalue("s3_bucket"),
            "s3_endpoint_url": request.getfixturevalue("s3_endpoint"),
            "s3_region": S3_REGION,
            "s3_access_key_id": "test",
            "s3_secret_access_key": "test",
        }
    return settings.model_copy(update=update)


# --- People ----------------------------------------------------------------------------------


@pytest.fixture
async def follower(client: httpx.AsyncClient, world: World) -> Follower:
    return await new_follower(client, world.tenant, world.a.channel, name="Mia Jensen")


@pytest.fixture
async def other_follower(client: httpx.AsyncClient, world: World) -> Follower:
    """Another end user of the same tenant, following the same channel."""
    return await new_follower(client, world.tenant, world.a.channel, name="Noah Berg")


@pytest.fixture
async def agent(client: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    return await as_agent(client, factory, world.a.agent)


@pytest.fixture
async def admin(client: httpx.AsyncClient, factory: Factory, world: World) -> Agent:
    """The partner's admin: staff of the same partner as `agent`."""
    return await as_agent(client, factory, world.a.admin)


@pytest.fixture
async def end_user_headers(factory: Factory) -> dict[str, str]:
    """An end user of a tenant of its own: enough for tests of files rather than of people."""
    return factory.end_user_headers(await factory.tenant())

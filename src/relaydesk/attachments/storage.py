"""Where attachments' bytes are kept: one interface, a local folder or an S3-compatible bucket.

Keys are random and made here; nothing a client sends becomes part of a path or an object key.
"""

import asyncio
import contextlib
import secrets
import shutil
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any, Protocol

import anyio

from relaydesk.config import Settings

CHUNK_BYTES = 64 * 1024
# S3 takes one request up to 5 GB, but parts let a large file go up without being in memory.
_PART_BYTES = 8 * 1024 * 1024


def get_session() -> Any:
    """aiobotocore's client factory, loaded only once S3 is used: importing it takes a second,
    which every command and server start would otherwise pay."""
    from aiobotocore.session import get_session as new_session

    return new_session()


def new_key() -> str:
    """A random key, spread over 256 folders so no folder grows huge."""
    token = secrets.token_hex(16)
    return f"{token[:2]}/{token}"


class Storage(Protocol):
    async def put(self, key: str, source: Path) -> None:
        """Stores the file at `source` under `key`."""

    def read(self, key: str, start: int, stop: int) -> AsyncIterator[bytes]:
        """The bytes from `start` up to, not including, `stop`, in chunks."""

    async def delete(self, key: str) -> None: ...

    async def close(self) -> None: ...


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root / key

    async def put(self, key: str, source: Path) -> None:
        def copy() -> None:
            target = self._path(key)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)

        await asyncio.to_thread(copy)

    async def read(self, key: str, start: int, stop: int) -> AsyncIterator[bytes]:
        async with await anyio.open_file(self._path(key), "rb") as file:
            await file.seek(start)
            remaining = stop - start
            while remaining > 0:
                chunk = await file.read(min(CHUNK_BYTES, remaining))
                if not chunk:
                    return
                remaining -= len(chunk)
                yield chunk

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._path(key).unlink, missing_ok=True)

    async def close(self) -> None:
        pass


class S3Storage:
    """A bucket of S3 or any service that speaks its API (MinIO, Ceph, moto …)."""

    def __init__(self, settings: Settings) -> None:
        assert settings.s3_bucket
        self.bucket = settings.s3_bucket
        self.settings = settings
        self._exit_stack = AsyncExitStack()
        self._client: Any = None

    async def start(self) -> None:
        settings = self.settings
        self._client = await self._exit_stack.enter_async_context(
            get_session().create_client(
                "s3",
                endpoint_url=settings.s3_endpoint_url,
                region_name=settings.s3_region,
                aws_access_key_id=settings.s3_access_key_id,
                aws_secret_access_key=settings.s3_secret_access_key,
            )
        )

    async def put(self, key: str, source: Path) -> None:
        async with await anyio.open_file(source, "rb") as file:
            part = await file.read(_PART_BYTES)
            next_part = await file.read(_PART_BYTES)
            if not next_part:
                await self._client.put_object(Bucket=self.bucket, Key=key, Body=part)
                return
            upload = await self._client.create_multipart_upload(Bucket=self.bucket, Key=key)
            location = {"Bucket": self.bucket, "Key": key, "UploadId": upload["UploadId"]}
            parts = []
            try:
                while part:
                    number = len(parts) + 1
                    answer = await self._client.upload_part(
                        **location, PartNumber=number, Body=part
                    )
                    parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                    part, next_part = next_part, await file.read(_PART_BYTES)
                await self._client.complete_multipart_upload(
                    **location, MultipartUpload={"Parts": parts}
                )
            except BaseException:
                await self._client.abort_multipart_upload(**location)
                raise

    async def read(self, key: str, start: int, stop: int) -> AsyncIterator[bytes]:
        answer = await self._client.get_object(
            Bucket=self.bucket, Key=key, Range=f"bytes={start}-{stop - 1}"
        )
        async with answer["Body"] as body:
            async for chunk in body.iter_chunks(CHUNK_BYTES):
                yield chunk

    async def delete(self, key: str) -> None:
        await self._client.delete_object(Bucket=self.bucket, Key=key)

    async def close(self) -> None:
        await self._exit_stack.aclose()


async def open_storage(settings: Settings) -> Storage:
    """The bucket when `s3_bucket` is set, else the `attachments` folder of the data folder."""
    if not settings.s3_bucket:
        return LocalStorage(settings.data_dir / "attachments")
    storage = S3Storage(settings)
    await storage.start()
    return storage


async def delete_quietly(storage: Storage, *keys: str | None) -> None:
    """Removes stored files whose row never made it; a failure leaves only unused bytes."""
    for key in keys:
        if key is not None:
            with contextlib.suppress(Exception):
                await storage.delete(key)

"""A slow upload holds no database transaction: on SQLite a process takes its transactions one
at a time, so an upload holding one would stall every other request until it ended."""

import asyncio
from collections.abc import AsyncIterator

import httpx

from tests.chat.conftest import Follower, new_follower
from tests.factories import World

BOUNDARY = "slow-upload-boundary"


async def slow_body(released: asyncio.Event, sent_head: asyncio.Event) -> AsyncIterator[bytes]:
    """A multipart body whose file arrives in two halves, the second once `released`."""
    yield (
        f"--{BOUNDARY}\r\n"
        'Content-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
        "The first half of the notes, "
    ).encode()
    sent_head.set()
    await released.wait()
    yield f"and the second half.\r\n--{BOUNDARY}--\r\n".encode()


class TestSlowUpload:
    async def test_other_requests_go_ahead_while_an_upload_is_under_way(
        self, client: httpx.AsyncClient, world: World
    ) -> None:
        follower: Follower = await new_follower(client, world.tenant, world.a.channel)
        released, sent_head = asyncio.Event(), asyncio.Event()
        upload = asyncio.create_task(
            client.post(
                "/api/v1/attachments",
                content=slow_body(released, sent_head),
                headers={
                    **follower.headers,
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                },
            )
        )
        try:
            async with asyncio.timeout(5):
                await sent_head.wait()
            # Reading, and writing: both need a turn at the database.
            async with asyncio.timeout(5):
                written = await follower.write("Sent while the upload is still on its way")
                page = await client.get("/api/v1/me/conversations", headers=follower.headers)
            assert written.status_code == 201, written.text
            assert page.status_code == 200
            assert not upload.done()
        finally:
            released.set()
        response = await upload
        assert response.status_code == 201, response.text
        assert response.json()["size"] == len(b"The first half of the notes, and the second half.")

"""POST /api/v1/attachments: who may upload, what is accepted or refused (and then not kept),
how the body is read, and who may fetch an upload before it is sent."""

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from relaydesk.auth.deps import SESSION_COOKIE
from relaydesk.auth.permissions import Role
from relaydesk.auth.secrets import csrf_token
from relaydesk.auth.service import principal_of, start_web_session
from relaydesk.config import Settings
from relaydesk.db import Database
from tests.attachments.conftest import (
    DISGUISED,
    DOCUMENT_LIMIT,
    IMAGE_LIMIT,
    SAMPLES,
    UPLOAD,
    VIDEO_LIMIT,
    Sample,
    attachment_rows,
    both_storages,
    leftover_uploads,
    mp4,
    nothing_stored,
    png,
    refused,
    sized,
    stored_objects,
    upload,
    uploaded,
)
from tests.chat.conftest import Agent, Follower
from tests.factories import Factory, World

DIGITS = b"0123456789" * 10  # 100 bytes whose every position is easy to check


def multipart(
    filename: str, data: bytes, boundary: str = "relaydesk-boundary"
) -> tuple[bytes, bytes, dict[str, str]]:
    """A one-file form as the part before the file's bytes, the part after, and its header."""
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return head + data, tail, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


class CountingBody:
    """A request body sent in 1 KiB pieces, counting how much the server asked for."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.sent = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.sent < len(self.body):
            piece = self.body[self.sent : self.sent + 1024]
            self.sent += len(piece)
            yield piece


async def signed_in_with_cookie(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
) -> str:
    """Gives `client` the agent's browser session cookie; returns its CSRF token."""
    async with factory.database.transaction() as session:
        token = await start_web_session(
            session, principal_of(world.a.agent), ttl=timedelta(hours=1)
        )
    client.cookies.set(SESSION_COOKIE, token)
    return csrf_token(settings.signing_key, token)


class TestWhoMayUpload:
    async def test_an_end_user_uploads(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        response = await upload(client, factory.end_user_headers(world.tenant), "a.png", png())
        assert response.status_code == 201

    @pytest.mark.parametrize("role", [Role.AGENT, Role.PARTNER_ADMIN])
    async def test_partner_staff_upload_with_an_api_token(
        self, client: httpx.AsyncClient, factory: Factory, world: World, role: Role
    ) -> None:
        headers = await factory.headers(world.staff_with(role))
        response = await upload(client, headers, "a.pdf", b"%PDF-1.4\n%%EOF\n")
        assert response.status_code == 201

    async def test_staff_upload_with_the_browser_session_and_csrf_header(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        token = await signed_in_with_cookie(client, factory, settings, world)
        response = await upload(client, {"X-CSRF-Token": token}, "a.png", png())
        assert response.status_code == 201
        assert (await client.get(response.json()["url"])).content == png()

    @pytest.mark.parametrize("csrf", [None, "wrong"])
    async def test_the_browser_session_without_a_valid_csrf_token_is_refused(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        database: Database,
        world: World,
        csrf: str | None,
    ) -> None:
        await signed_in_with_cookie(client, factory, settings, world)
        response = await upload(client, {"X-CSRF-Token": csrf} if csrf else {}, "a.png", png())
        refused(response, 403, "csrf_failed")
        assert await nothing_stored(settings, database)

    async def test_a_csrf_token_inside_the_upload_form_is_not_enough(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        database: Database,
        world: World,
    ) -> None:
        # The token goes in the header: the body is the file's, read only by the route.
        token = await signed_in_with_cookie(client, factory, settings, world)
        response = await client.post(
            UPLOAD, data={"csrf_token": token}, files={"file": ("a.png", png(), "image/png")}
        )
        refused(response, 403, "csrf_failed")
        assert await nothing_stored(settings, database)

    @pytest.mark.parametrize("role", [Role.TENANT_STAFF, Role.TENANT_ADMIN])
    async def test_tenant_staff_get_403(
        self,
        client: httpx.AsyncClient,
        factory: Factory,
        settings: Settings,
        database: Database,
        world: World,
        role: Role,
    ) -> None:
        headers = await factory.headers(world.staff_with(role))
        response = await upload(client, headers, "a.png", png())
        refused(response, 403, "permission_denied")
        assert await nothing_stored(settings, database)

    async def test_tenant_staff_are_refused_before_the_file_is_sent(
        self, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        first, last, headers = multipart("a.png", png().ljust(50_000, b"\x00"))
        body = CountingBody(first + last)
        response = await client.post(
            UPLOAD,
            content=body,
            headers=headers | await factory.headers(world.staff_with(Role.TENANT_STAFF)),
        )
        assert response.status_code == 403
        assert body.sent == 0

    async def test_without_credentials_401(
        self, client: httpx.AsyncClient, settings: Settings, database: Database
    ) -> None:
        response = await upload(client, {}, "a.png", png())
        refused(response, 401, "unauthenticated")
        assert await nothing_stored(settings, database)


@both_storages
class TestAllowedFiles:
    @pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.filename)
    async def test_each_allowed_type_is_stored_and_served_as_sniffed(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        end_user_headers: dict[str, str],
        sample: Sample,
    ) -> None:
        response = await upload(client, end_user_headers, sample.filename, sample.data, "text/html")
        assert response.status_code == 201, response.text
        body = response.json()
        url = f"/api/v1/attachments/{body['id']}"
        assert body == {
            "id": body["id"],
            "kind": sample.kind,
            "filename": sample.filename,
            "content_type": sample.content_type,
            "size": len(sample.data),
            "url": url,
            "preview_url": f"{url}/preview" if sample.kind == "image" else None,
        }
        download = await client.get(url, headers=end_user_headers)
        assert download.status_code == 200
        assert download.content == sample.data
        assert download.headers["content-type"] == sample.content_type
        stored = await stored_objects(settings)
        assert len(sample.data) in [item["Size"] for item in stored.values()]
        assert len(stored) == (2 if sample.kind == "image" else 1)  # images add their preview
        assert leftover_uploads(settings) == []


@both_storages
class TestRefusedFiles:
    @pytest.mark.parametrize(
        "filename", ["setup.exe", "page.html", "logo.svg", "README", "photo.png.exe"]
    )
    async def test_other_extensions_get_415(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
        filename: str,
    ) -> None:
        response = await upload(client, end_user_headers, filename, png())
        refused(response, 415, "attachment_type_not_allowed")
        assert await nothing_stored(settings, database)

    @pytest.mark.parametrize(("filename", "data"), DISGUISED.values(), ids=DISGUISED.keys())
    async def test_disguised_content_gets_415(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
        filename: str,
        data: bytes,
    ) -> None:
        response = await upload(client, end_user_headers, filename, data)
        refused(response, 415, "attachment_type_not_allowed")
        assert await nothing_stored(settings, database)

    @pytest.mark.parametrize(
        ("kind", "limit"),
        [("image", IMAGE_LIMIT), ("video", VIDEO_LIMIT), ("document", DOCUMENT_LIMIT)],
    )
    async def test_one_byte_over_the_kinds_limit_gets_413(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
        kind: str,
        limit: int,
    ) -> None:
        filename, data = sized(kind, limit + 1)
        response = await upload(client, end_user_headers, filename, data)
        refused(response, 413, "attachment_too_large")
        assert f"{limit:,}" in response.json()["detail"]
        assert await nothing_stored(settings, database)

    @pytest.mark.parametrize(
        ("kind", "limit"),
        [("image", IMAGE_LIMIT), ("video", VIDEO_LIMIT), ("document", DOCUMENT_LIMIT)],
    )
    async def test_exactly_the_limit_is_accepted(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str], kind: str, limit: int
    ) -> None:
        filename, data = sized(kind, limit)
        response = await upload(client, end_user_headers, filename, data)
        assert response.status_code == 201, response.text
        assert response.json()["size"] == limit

    async def test_an_empty_file_gets_422(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
    ) -> None:
        response = await upload(client, end_user_headers, "empty.txt", b"")
        refused(response, 422, "validation_error")
        assert response.json()["errors"][0]["loc"] == ["body", "file"]
        assert await nothing_stored(settings, database)


class TestMalformedUploads:
    @pytest.mark.parametrize(
        "request_kwargs",
        [
            {"files": {"attachment": ("a.png", png(), "image/png")}},
            {"data": {"file": "not a file"}, "files": {"other": ("a.png", png(), "image/png")}},
            {"data": {"note": "x" * 2_000}, "files": {"file": ("a.png", png(), "image/png")}},
            {"json": {"file": "a.png"}},
            {"content": png(), "headers": {"Content-Type": "image/png"}},
            {"content": b"", "headers": {"Content-Type": "multipart/form-data"}},
            {
                "files": [
                    ("file", ("a.png", png(), "image/png")),
                    ("file", ("b.png", png(), "image/png")),
                ]
            },
        ],
        ids=[
            "no file field",
            "file as a plain field",
            "a long extra field",
            "json",
            "raw bytes",
            "no boundary",
            "two files",
        ],
    )
    async def test_bodies_without_exactly_one_file_get_422(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
        request_kwargs: dict,
    ) -> None:
        kwargs = dict(request_kwargs)  # shared by every backend's run: left as it is
        headers = end_user_headers | kwargs.pop("headers", {})
        response = await client.post(UPLOAD, headers=headers, **kwargs)
        refused(response, 422, "validation_error")
        assert response.json()["errors"]
        assert await nothing_stored(settings, database)

    async def test_a_cut_off_body_gets_422_and_leaves_nothing(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
    ) -> None:
        first, _, headers = multipart("a.png", png())
        response = await client.post(UPLOAD, content=first, headers=headers | end_user_headers)
        refused(response, 422, "validation_error")
        assert await nothing_stored(settings, database)


class TestFilenames:
    @pytest.mark.parametrize(
        ("given", "shown"),
        [
            ("../../etc/passwd.txt", "passwd.txt"),
            ("a\\b.png", "b.png"),
            ("bad\x01name\x1f.png", "bad name.png"),
            ("Übersicht März.PNG", "Übersicht März.png"),
        ],
    )
    async def test_names_are_cleaned(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str], given: str, shown: str
    ) -> None:
        data = b"plain text\n" if given.endswith(".txt") else png()
        first, last, headers = multipart(given, data)
        response = await client.post(
            UPLOAD,
            content=first + last,
            headers=headers | end_user_headers,
        )
        assert response.status_code == 201, response.text
        assert response.json()["filename"] == shown

    async def test_very_long_names_are_cut_to_200_with_the_extension(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        body = await uploaded(client, end_user_headers, "n" * 400 + ".png", png())
        assert body["filename"] == "n" * 196 + ".png"


class TestAccessBeforeSending:
    """An upload nobody has sent yet belongs to its uploader alone."""

    async def test_the_uploader_fetches_file_and_preview(
        self, client: httpx.AsyncClient, follower: Follower
    ) -> None:
        item = await uploaded(client, follower.headers, "a.png", png())
        assert (await client.get(item["url"], headers=follower.headers)).content == png()
        preview = await client.get(item["preview_url"], headers=follower.headers)
        assert preview.status_code == 200

    async def test_another_end_user_gets_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        item = await uploaded(client, follower.headers, "a.png", png())
        someone = factory.end_user_headers(world.tenant)
        for url in (item["url"], item["preview_url"]):
            refused(await client.get(url, headers=someone), 404, "not_found")

    async def test_the_channels_agents_get_404_before_it_is_sent(
        self, client: httpx.AsyncClient, factory: Factory, world: World, follower: Follower
    ) -> None:
        item = await uploaded(client, follower.headers, "a.png", png())
        for user in (world.a.agent, world.a.admin):
            headers = await factory.headers(user)
            for url in (item["url"], item["preview_url"]):
                refused(await client.get(url, headers=headers), 404, "not_found")

    async def test_the_partners_other_agent_gets_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, agent: Agent
    ) -> None:
        item = await uploaded(client, agent.headers, "a.png", png())
        assert (await client.get(item["url"], headers=agent.headers)).status_code == 200
        admin = await factory.headers(world.a.admin)
        for url in (item["url"], item["preview_url"]):
            refused(await client.get(url, headers=admin), 404, "not_found")

    async def test_other_partner_and_other_tenant_get_404(
        self, client: httpx.AsyncClient, factory: Factory, world: World, agent: Agent
    ) -> None:
        item = await uploaded(client, agent.headers, "a.png", png())
        for user in (world.b.agent, world.tenant_admin, world.other.agent):
            headers = await factory.headers(user)
            refused(await client.get(item["url"], headers=headers), 404, "not_found")
        other_end_user = factory.end_user_headers(world.other_tenant)
        refused(await client.get(item["url"], headers=other_end_user), 404, "not_found")

    async def test_an_unknown_id_gets_404(
        self, client: httpx.AsyncClient, follower: Follower
    ) -> None:
        url = f"{UPLOAD}/{uuid.uuid4()}"
        for path in (url, f"{url}/preview"):
            refused(await client.get(path, headers=follower.headers), 404, "not_found")

    async def test_without_credentials_401(
        self, client: httpx.AsyncClient, follower: Follower
    ) -> None:
        item = await uploaded(client, follower.headers, "a.png", png())
        refused(await client.get(item["url"]), 401, "unauthenticated")


class TestStreaming:
    """The body is read only as far as needed: never past the first byte over the limit."""

    @pytest.fixture
    def limits(self) -> dict[str, int]:
        # The whole upload may be large (videos), a single image may not.
        return {
            "max_image_bytes": IMAGE_LIMIT,
            "max_video_bytes": 4 * 1024 * 1024,
            "max_document_bytes": DOCUMENT_LIMIT,
        }

    async def test_an_oversized_file_in_a_declared_body_stops_early(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
    ) -> None:
        first, last, headers = multipart("big.png", png().ljust(4 * 1024 * 1024, b"\x00"))
        body = CountingBody(first + last)
        response = await client.post(
            UPLOAD,
            content=body,
            headers=headers | end_user_headers | {"Content-Length": str(len(body.body))},
        )
        refused(response, 413, "attachment_too_large")
        assert body.sent < 16 * 1024
        assert await nothing_stored(settings, database)

    async def test_an_oversized_file_in_a_chunked_body_stops_early(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
    ) -> None:
        first, last, headers = multipart("big.pdf", b"%PDF-1.4\n" + b"%" * 3_000_000)
        body = CountingBody(first + last)
        response = await client.post(UPLOAD, content=body, headers=headers | end_user_headers)
        refused(response, 413, "attachment_too_large")
        assert body.sent < 16 * 1024
        assert await nothing_stored(settings, database)

    async def test_a_refused_extension_is_not_read_at_all(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
    ) -> None:
        first, last, headers = multipart("setup.exe", b"MZ" + b"\x00" * 3_000_000)
        body = CountingBody(first + last)
        response = await client.post(UPLOAD, content=body, headers=headers | end_user_headers)
        refused(response, 415, "attachment_type_not_allowed")
        assert body.sent <= 1024
        assert await nothing_stored(settings, database)

    async def test_a_body_declared_larger_than_any_upload_is_refused_unread(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        first, last, headers = multipart("clip.mp4", mp4(b"\x00" * (5 * 1024 * 1024)))
        body = CountingBody(first + last)
        response = await client.post(
            UPLOAD,
            content=body,
            headers=headers | end_user_headers | {"Content-Length": str(len(body.body))},
        )
        refused(response, 413, "attachment_too_large")
        assert body.sent == 0

    async def test_other_routes_keep_the_small_body_cap(
        self, client: httpx.AsyncClient, factory: Factory, settings: Settings, world: World
    ) -> None:
        response = await client.post(
            f"/api/v1/channels/{world.a.channel.id}/chat/messages",
            content=b'{"body": "' + b"x" * settings.max_request_bytes + b'"}',
            headers=factory.end_user_headers(world.tenant) | {"Content-Type": "application/json"},
        )
        refused(response, 413, "request_too_large")


@both_storages
class TestRefusalsLeaveNothingBehind:
    async def test_after_refusals_and_one_success_only_that_one_is_kept(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
    ) -> None:
        await upload(client, end_user_headers, "photo.png", b"<html></html>")
        await upload(client, end_user_headers, *sized("video", VIDEO_LIMIT + 1))
        await upload(client, end_user_headers, "photo.png", png()[:16] + b"\x00" * 64)
        kept = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        assert await attachment_rows(database) == 1
        assert [item["Size"] for item in (await stored_objects(settings)).values()] == [100]
        assert leftover_uploads(settings) == []
        assert (await client.get(kept["url"], headers=end_user_headers)).content == DIGITS

    async def test_a_storage_failure_midway_leaves_no_bytes_behind(
        self,
        app: FastAPI,
        client: httpx.AsyncClient,
        settings: Settings,
        database: Database,
        end_user_headers: dict[str, str],
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        storage = app.state.storage
        put = storage.put

        async def image_stored_then_preview_fails(key: str, source: Path) -> None:
            if (await stored_objects(settings)) != {}:
                raise OSError("the storage went away")
            await put(key, source)

        monkeypatch.setattr(storage, "put", image_stored_then_preview_fails)
        with pytest.raises(OSError, match="went away"):
            await upload(client, end_user_headers, "photo.png", png())
        assert await nothing_stored(settings, database)

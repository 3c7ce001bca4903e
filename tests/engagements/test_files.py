"""Files an engagement refers to (uploads by the partner's staff, unsent, of the right kind,
then kept for the partner) and the content files only staff who manage engagements may
upload."""

import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from relaydesk.attachments.files import TypeNotAllowed, file_type, inspect_file
from relaydesk.attachments.models import AttachmentKind
from relaydesk.attachments.storage import LocalStorage
from relaydesk.auth.permissions import Role
from relaydesk.auth.principal import StaffPrincipal
from relaydesk.catalogue.models import EngagementType
from relaydesk.clock import clock, now
from relaydesk.config import Settings
from relaydesk.db import Database
from relaydesk.worker import run_jobs_once
from tests.attachments.conftest import mp4, pdf, png, refused, send, upload, uploaded
from tests.chat.conftest import as_agent, new_follower
from tests.engagements.conftest import (
    EngagementApi,
    data_for,
    engagement_api,
    m4a,
    mp3,
    ogg,
    sticker_zip,
)
from tests.engagements.test_api import problem, stored
from tests.factories import Factory, World

MESSAGE, PROMO, COUPON = EngagementType.MESSAGE, EngagementType.PROMO, EngagementType.COUPON
RINGTONE, STICKERS = EngagementType.RINGTONE, EngagementType.STICKER_PACK

CONTENT_FILES = [
    ("ring.mp3", mp3, "audio/mpeg"),
    ("ring.m4a", m4a, "audio/mp4"),
    ("ring.ogg", ogg, "audio/ogg"),
    ("stickers.zip", sticker_zip, "application/zip"),
]


def refused_at(response: httpx.Response, *loc: str | int) -> None:
    assert problem(response) == (422, "validation_error")
    assert [error["loc"] for error in response.json()["errors"]] == [["body", "data", *loc]]


class TestReferencedFiles:
    async def test_uploads_by_the_partners_staff_are_used(
        self, admin: EngagementApi, agent: EngagementApi
    ) -> None:
        by_agent, by_admin = await agent.upload_id(), await admin.upload_id("clip.mp4", mp4())
        promo = await admin.create(PROMO, {"media_attachment_ids": [by_agent, by_admin]})
        assert promo["data"]["media_attachment_ids"] == [by_agent, by_admin]
        message = await admin.create(MESSAGE, {"text": "Hi", "media_attachment_id": by_admin})
        assert message["data"]["media_attachment_id"] == by_admin
        coupon_data = {"redemption_type": "auto_activate", "quantity": 1}
        coupon = await admin.create(COUPON, coupon_data | {"image_attachment_id": by_agent})
        assert coupon["data"]["image_attachment_id"] == by_agent
        ringtone = await admin.create(
            RINGTONE, {"content_attachment_id": await admin.upload_id("ring.mp3", mp3())}
        )
        assert ringtone["data"]["content_attachment_id"]

    async def test_another_partners_upload_is_refused(
        self, admin: EngagementApi, other_admin: EngagementApi, database: Database
    ) -> None:
        theirs = await other_admin.upload_id()
        response = await admin.post(PROMO, {"media_attachment_ids": [await admin.upload_id()]})
        assert response.status_code == 201
        response = await admin.post(
            PROMO, {"media_attachment_ids": [await admin.upload_id(), theirs]}
        )
        refused_at(response, "media_attachment_ids", 1)
        assert "your partner" in response.json()["errors"][0]["msg"]
        assert await stored(database) == 1

    async def test_an_end_users_upload_is_refused(
        self, admin: EngagementApi, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        end_user = factory.end_user_headers(world.tenant)
        theirs = (await uploaded(client, end_user, "photo.png", png()))["id"]
        response = await admin.post(MESSAGE, {"text": "Hi", "media_attachment_id": theirs})
        refused_at(response, "media_attachment_id")

    async def test_an_upload_sent_in_a_chat_is_refused(
        self, admin: EngagementApi, client: httpx.AsyncClient, factory: Factory, world: World
    ) -> None:
        follower = await new_follower(client, world.tenant, world.a.channel)
        conversation_id = (await follower.write("Hello")).json()["conversation_id"]
        agent = await as_agent(client, factory, world.a.agent)
        sent = (await uploaded(client, agent.headers, "photo.png", png()))["id"]
        response = await send(agent, [sent], conversation_id=conversation_id)
        assert response.status_code == 201, response.text
        coupon = {"redemption_type": "qr_code", "quantity": 5, "image_attachment_id": sent}
        refused_at(await admin.post(COUPON, coupon), "image_attachment_id")

    async def test_an_unknown_id_is_refused(self, admin: EngagementApi) -> None:
        unknown = "0190c0de-0000-7000-8000-000000000000"
        refused_at(
            await admin.post(STICKERS, {"content_attachment_id": unknown}),
            "content_attachment_id",
        )

    @pytest.mark.parametrize(
        ("type_", "field", "filename", "make"),
        [
            (PROMO, "media_attachment_ids", "invoice.pdf", pdf),
            (MESSAGE, "media_attachment_id", "invoice.pdf", pdf),
            (COUPON, "image_attachment_id", "clip.mp4", mp4),
            (COUPON, "image_attachment_id", "ring.mp3", mp3),
        ],
    )
    async def test_a_file_of_the_wrong_kind_is_refused(
        self,
        admin: EngagementApi,
        type_: EngagementType,
        field: str,
        filename: str,
        make: Any,
    ) -> None:
        wrong = await admin.upload_id(filename, make())
        data = data_for(type_) | ({field: [wrong]} if field.endswith("ids") else {field: wrong})
        response = await admin.post(type_, data)
        loc = (field, 0) if field.endswith("ids") else (field,)
        refused_at(response, *loc)
        assert "must be an image" in response.json()["errors"][0]["msg"]

    async def test_a_change_to_anothers_upload_is_refused(
        self, admin: EngagementApi, other_admin: EngagementApi
    ) -> None:
        created = await admin.create(MESSAGE)
        theirs = await other_admin.upload_id()
        response = await admin.patch(created, data={"media_attachment_id": theirs})
        refused_at(response, "media_attachment_id")
        ours = await admin.upload_id()
        changed = await admin.patch(created, data={"media_attachment_id": ours})
        assert changed.json()["data"]["media_attachment_id"] == ours


class TestContentUploads:
    @pytest.mark.parametrize(("filename", "make", "content_type"), CONTENT_FILES)
    async def test_partner_admins_upload_content_files(
        self, admin: EngagementApi, filename: str, make: Any, content_type: str
    ) -> None:
        body = await uploaded(admin.client, admin.headers, filename, make())
        assert (body["kind"], body["content_type"]) == ("document", content_type)
        assert body["filename"] == filename

    @pytest.mark.parametrize(("filename", "make", "content_type"), CONTENT_FILES)
    async def test_agents_and_end_users_may_not(
        self,
        agent: EngagementApi,
        factory: Factory,
        world: World,
        filename: str,
        make: Any,
        content_type: str,
    ) -> None:
        response = await upload(agent.client, agent.headers, filename, make())
        refused(response, 415, "attachment_type_not_allowed")
        assert ".zip" not in response.json()["detail"]
        end_user = factory.end_user_headers(world.tenant)
        refused(
            await upload(agent.client, end_user, filename, make()),
            415,
            "attachment_type_not_allowed",
        )

    async def test_the_content_must_match_the_name(self, admin: EngagementApi) -> None:
        for filename, data in (("ring.mp3", png()), ("stickers.zip", pdf()), ("a.ogg", mp3())):
            refused(
                await upload(admin.client, admin.headers, filename, data),
                415,
                "attachment_type_not_allowed",
            )


class TestContentTypesWithoutHttp:
    def staff(self, role: Role) -> StaffPrincipal:
        return StaffPrincipal(
            id=uuid.uuid4(),
            tenant_id=uuid.uuid4(),
            partner_id=uuid.uuid4(),
            email="someone@staff.example",
            name="Someone",
            role=role,
        )

    def test_callers_without_a_principal_keep_the_chat_files(self) -> None:
        with pytest.raises(TypeNotAllowed):
            file_type("ring.mp3")
        assert file_type("photo.png")[1].kind == AttachmentKind.IMAGE

    def test_managers_of_engagements_may_use_content_files(self, tmp_path: Path) -> None:
        admin, agent = self.staff(Role.PARTNER_ADMIN), self.staff(Role.AGENT)
        assert file_type("Stickers.ZIP", admin)[1].kind == AttachmentKind.DOCUMENT
        with pytest.raises(TypeNotAllowed):
            file_type("stickers.zip", agent)
        path = tmp_path / "upload"
        path.write_bytes(m4a())
        assert inspect_file(path, "ring.m4a", admin).content_type == "audio/mp4"
        with pytest.raises(TypeNotAllowed):
            inspect_file(path, "ring.m4a", agent)


class TestFilesKeptForEngagements:
    async def test_the_partners_staff_fetch_them_and_the_worker_keeps_them(
        self,
        admin: EngagementApi,
        agent: EngagementApi,
        client: httpx.AsyncClient,
        database: Database,
        factory: Factory,
        settings: Settings,
        world: World,
    ) -> None:
        clock.freeze(now())
        used, unused = await admin.upload_id(), await admin.upload_id()
        await admin.create(PROMO, {"media_attachment_ids": [used]})
        assert await fetched(agent, used) == 200
        assert await fetched(agent, unused) == 404

        clock.advance(timedelta(days=1, seconds=1))
        await run_jobs_once(database, settings, LocalStorage(settings.data_dir / "attachments"))

        # Signed in again: the first credentials have expired by now.
        admin = await engagement_api(client, factory, world.a.admin)
        assert await fetched(admin, used) == 200
        assert await fetched(admin, unused) == 404


async def fetched(api: EngagementApi, attachment_id: str) -> int:
    response = await api.client.get(f"/api/v1/attachments/{attachment_id}", headers=api.headers)
    return response.status_code

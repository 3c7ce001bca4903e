"""GET /api/v1/attachments/{id} and …/preview: the bytes as stored, ranges for seeking, caching
and names, on both storages; and a file large enough to go up to S3 in parts."""

import io

import httpx
import pytest
from PIL import Image

from relaydesk.config import Settings
from tests.attachments.conftest import (
    DOCUMENT_LIMIT,
    IMAGE_LIMIT,
    both_storages,
    leftover_uploads,
    mp4,
    png,
    refused,
    stored_objects,
    uploaded,
)

DIGITS = b"0123456789" * 10  # 100 bytes whose every position is easy to check


@both_storages
class TestDownload:
    async def test_images_show_inline_and_documents_download(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        image = await uploaded(client, end_user_headers, "photo.png", png())
        video = await uploaded(client, end_user_headers, "clip.mp4", mp4())
        document = await uploaded(client, end_user_headers, "plan.txt", DIGITS)
        dispositions = [
            (await client.get(item["url"], headers=end_user_headers)).headers["content-disposition"]
            for item in (image, video, document)
        ]
        assert dispositions == [
            "inline; filename=\"photo.png\"; filename*=UTF-8''photo.png",
            "inline; filename=\"clip.mp4\"; filename*=UTF-8''clip.mp4",
            "attachment; filename=\"plan.txt\"; filename*=UTF-8''plan.txt",
        ]

    async def test_non_ascii_names_use_rfc_6266(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        item = await uploaded(client, end_user_headers, "Grüße.txt", DIGITS)
        disposition = (await client.get(item["url"], headers=end_user_headers)).headers[
            "content-disposition"
        ]
        assert disposition.startswith("attachment; ")
        assert "filename*=UTF-8''Gr%C3%BC%C3%9Fe.txt" in disposition

    async def test_files_are_never_sniffed_or_run_as_pages(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        item = await uploaded(client, end_user_headers, "notes.txt", b"<script>x()</script>\n")
        response = await client.get(item["url"], headers=end_user_headers)
        assert response.headers["content-type"] == "text/plain; charset=utf-8"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]
        assert response.headers["accept-ranges"] == "bytes"
        assert response.headers["content-length"] == str(len(b"<script>x()</script>\n"))

    @pytest.mark.parametrize(
        ("range_", "content_range", "expected"),
        [
            ("bytes=0-9", "bytes 0-9/100", DIGITS[:10]),
            ("bytes=10-", "bytes 10-99/100", DIGITS[10:]),
            ("bytes=-5", "bytes 95-99/100", DIGITS[-5:]),
            ("bytes=42-42", "bytes 42-42/100", DIGITS[42:43]),
            ("bytes=95-1000", "bytes 95-99/100", DIGITS[95:]),
        ],
    )
    async def test_a_range_gets_206_with_those_bytes(
        self,
        client: httpx.AsyncClient,
        end_user_headers: dict[str, str],
        range_: str,
        content_range: str,
        expected: bytes,
    ) -> None:
        item = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        response = await client.get(item["url"], headers=end_user_headers | {"Range": range_})
        assert response.status_code == 206
        assert response.headers["content-range"] == content_range
        assert response.headers["content-length"] == str(len(expected))
        assert response.content == expected

    @pytest.mark.parametrize("range_", ["bytes=100-", "bytes=500-600", "bytes=-0"])
    async def test_a_range_outside_the_file_gets_416(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str], range_: str
    ) -> None:
        item = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        response = await client.get(item["url"], headers=end_user_headers | {"Range": range_})
        refused(response, 416, "range_not_satisfiable")
        assert response.headers["content-range"] == "bytes */100"

    async def test_several_ranges_get_the_whole_file(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        item = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        response = await client.get(
            item["url"], headers=end_user_headers | {"Range": "bytes=0-1,5-6"}
        )
        assert (response.status_code, response.content) == (200, DIGITS)

    async def test_the_etag_answers_304_when_the_browser_has_the_file(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        item = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        first = await client.get(item["url"], headers=end_user_headers)
        etag = first.headers["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        again = await client.get(item["url"], headers=end_user_headers | {"If-None-Match": etag})
        assert again.status_code == 304
        assert again.content == b""
        assert again.headers["etag"] == etag
        other = await client.get(
            item["url"], headers=end_user_headers | {"If-None-Match": '"something-else"'}
        )
        assert (other.status_code, other.content) == (200, DIGITS)
        for listed in (f'"older", {etag}', f"W/{etag}", "*"):
            cached = await client.get(
                item["url"], headers=end_user_headers | {"If-None-Match": listed}
            )
            assert cached.status_code == 304, listed

    async def test_if_range_with_another_version_gets_the_whole_file(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        item = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        etag = (await client.get(item["url"], headers=end_user_headers)).headers["etag"]
        headers = end_user_headers | {"Range": "bytes=0-9"}
        current = await client.get(item["url"], headers=headers | {"If-Range": etag})
        stale = await client.get(item["url"], headers=headers | {"If-Range": '"old"'})
        assert (current.status_code, current.content) == (206, DIGITS[:10])
        assert (stale.status_code, stale.content) == (200, DIGITS)

    async def test_each_attachment_has_its_own_etag(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        first = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        second = await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        etags = {
            (await client.get(item["url"], headers=end_user_headers)).headers["etag"]
            for item in (first, second)
        }
        assert len(etags) == 2


@both_storages
class TestPreview:
    async def test_an_image_preview_is_a_webp_of_at_most_320(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        item = await uploaded(client, end_user_headers, "wide.png", png((800, 400)))
        response = await client.get(item["preview_url"], headers=end_user_headers)
        assert response.status_code == 200
        assert response.headers["content-type"] == "image/webp"
        assert response.headers["content-disposition"].startswith('inline; filename="wide.webp"')
        with Image.open(io.BytesIO(response.content)) as preview:
            assert (preview.format, preview.size) == ("WEBP", (320, 160))

    async def test_documents_and_videos_have_no_preview(
        self, client: httpx.AsyncClient, end_user_headers: dict[str, str]
    ) -> None:
        for filename, data in (("digits.txt", DIGITS), ("clip.mp4", mp4())):
            item = await uploaded(client, end_user_headers, filename, data)
            response = await client.get(f"{item['url']}/preview", headers=end_user_headers)
            refused(response, 404, "not_found")


class TestLargeFilesOnS3:
    """Files over one S3 part (8 MiB) go up in parts, and ranges read across them."""

    SIZE = 8 * 1024 * 1024 + 100_000

    @pytest.fixture
    def storage_kind(self) -> str:
        return "s3"

    @pytest.fixture
    def limits(self) -> dict[str, int]:
        return {
            "max_image_bytes": IMAGE_LIMIT,
            "max_video_bytes": 16 * 1024 * 1024,
            "max_document_bytes": DOCUMENT_LIMIT,
        }

    async def test_a_large_video_is_stored_in_parts_and_read_back(
        self,
        client: httpx.AsyncClient,
        settings: Settings,
        end_user_headers: dict[str, str],
    ) -> None:
        data = mp4(bytes(range(256)) * ((self.SIZE - len(mp4(b""))) // 256))
        item = await uploaded(client, end_user_headers, "long.mp4", data)
        assert item["size"] == len(data)

        (stored,) = (await stored_objects(settings)).values()
        assert stored["Size"] == len(data)
        assert stored["ETag"].strip('"').endswith("-2")  # a two-part upload

        boundary = 8 * 1024 * 1024
        across = await client.get(
            item["url"],
            headers=end_user_headers | {"Range": f"bytes={boundary - 10}-{boundary + 9}"},
        )
        assert across.status_code == 206
        assert across.content == data[boundary - 10 : boundary + 10]
        whole = await client.get(item["url"], headers=end_user_headers)
        assert whole.content == data
        assert leftover_uploads(settings) == []

    async def test_a_small_file_is_stored_in_one_piece(
        self, client: httpx.AsyncClient, settings: Settings, end_user_headers: dict[str, str]
    ) -> None:
        await uploaded(client, end_user_headers, "digits.txt", DIGITS)
        (stored,) = (await stored_objects(settings)).values()
        assert "-" not in stored["ETag"]

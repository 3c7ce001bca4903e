"""The rules about files, without HTTP: which names are allowed, what the content must be, the
preview, clean names, and the byte ranges a player asks for."""

import io
from pathlib import Path

import pytest
from PIL import Image

from relaydesk.attachments.download import RangeNotSatisfiable, byte_range, content_disposition
from relaydesk.attachments.files import (
    TooLarge,
    TypeNotAllowed,
    clean_filename,
    file_type,
    inspect_file,
    size_limit,
)
from relaydesk.attachments.models import AttachmentKind
from relaydesk.config import Settings
from tests.attachments.conftest import DISGUISED, SAMPLES, Sample, image, png, sized


def inspected(tmp_path: Path, filename: str, data: bytes) -> tuple[str, bytes | None]:
    """The sniffed content type and the preview's bytes, as the upload route gets them."""
    path = tmp_path / "upload-1"
    path.write_bytes(data)
    result = inspect_file(path, filename)
    return result.content_type, result.preview.read_bytes() if result.preview else None


class TestExtensions:
    @pytest.mark.parametrize(
        ("filename", "kind"),
        [
            ("a.png", AttachmentKind.IMAGE),
            ("a.jpg", AttachmentKind.IMAGE),
            ("a.jpeg", AttachmentKind.IMAGE),
            ("a.gif", AttachmentKind.IMAGE),
            ("a.mov", AttachmentKind.VIDEO),
            ("a.m4v", AttachmentKind.VIDEO),
            ("a.mp4", AttachmentKind.VIDEO),
            ("a.odt", AttachmentKind.DOCUMENT),
            ("a.ppt", AttachmentKind.DOCUMENT),
            ("a.txt", AttachmentKind.DOCUMENT),
            ("a.doc", AttachmentKind.DOCUMENT),
            ("a.pdf", AttachmentKind.DOCUMENT),
            ("Holiday.JPG", AttachmentKind.IMAGE),
            ("archive.tar.pdf", AttachmentKind.DOCUMENT),
        ],
    )
    def test_allowed_extensions_pick_the_kind(self, filename: str, kind: AttachmentKind) -> None:
        assert file_type(filename)[1].kind == kind

    @pytest.mark.parametrize(
        "filename",
        [
            "setup.exe",
            "page.html",
            "logo.svg",
            "README",
            "",
            ".png",
            "photo.png.exe",
            "letter.docx",
            "sheet.xls",
            "photo.webp",
            "photo.png ",
        ],
    )
    def test_other_names_are_refused_with_415(self, filename: str) -> None:
        with pytest.raises(TypeNotAllowed) as refused:
            file_type(filename)
        assert (refused.value.status, refused.value.code) == (415, "attachment_type_not_allowed")
        assert ".png" in refused.value.detail

    def test_each_kind_has_its_configured_limit(self) -> None:
        settings = Settings(max_image_bytes=11, max_video_bytes=22, max_document_bytes=33)
        assert [size_limit(settings, kind) for kind in AttachmentKind] == [11, 22, 33]

    def test_default_limits_are_those_of_the_requirement(self) -> None:
        settings = Settings()
        assert size_limit(settings, AttachmentKind.IMAGE) == 10 * 1024 * 1024
        assert size_limit(settings, AttachmentKind.VIDEO) == 50 * 1024 * 1024
        assert size_limit(settings, AttachmentKind.DOCUMENT) == 10 * 1024 * 1024


class TestSniffing:
    @pytest.mark.parametrize("sample", SAMPLES, ids=lambda sample: sample.filename)
    def test_real_files_are_what_their_names_say(self, tmp_path: Path, sample: Sample) -> None:
        content_type, _ = inspected(tmp_path, sample.filename, sample.data)
        assert content_type == sample.content_type

    @pytest.mark.parametrize(("filename", "data"), DISGUISED.values(), ids=DISGUISED.keys())
    def test_content_that_disagrees_with_the_name_is_refused(
        self, tmp_path: Path, filename: str, data: bytes
    ) -> None:
        with pytest.raises(TypeNotAllowed):
            inspected(tmp_path, filename, data)

    def test_a_truncated_image_is_refused(self, tmp_path: Path) -> None:
        data = image("PNG", (64, 64), compress_level=0)
        with pytest.raises(TypeNotAllowed):
            inspected(tmp_path, "photo.png", data[: len(data) // 2])

    def test_text_split_inside_a_character_is_still_text(self, tmp_path: Path) -> None:
        # A multi-byte character across the reader's 64 KiB chunks is valid UTF-8.
        data = b"a" * (64 * 1024 - 1) + "é".encode() + b"z"
        assert inspected(tmp_path, "notes.txt", data)[0] == "text/plain; charset=utf-8"

    def test_text_ending_inside_a_character_is_refused(self, tmp_path: Path) -> None:
        with pytest.raises(TypeNotAllowed):
            inspected(tmp_path, "notes.txt", "café".encode()[:-1])

    def test_an_image_of_too_many_pixels_is_refused_without_decoding(self, tmp_path: Path) -> None:
        buffer = io.BytesIO()
        Image.new("1", (8_000, 6_000)).save(buffer, "PNG")
        with pytest.raises(TooLarge) as refused:
            inspected(tmp_path, "huge.png", buffer.getvalue())
        assert refused.value.status == 413

    @pytest.mark.parametrize("kind", ["image", "video", "document"])
    def test_sized_samples_are_valid_and_exact(self, tmp_path: Path, kind: str) -> None:
        filename, data = sized(kind, 1_000)
        assert len(data) == 1_000
        inspected(tmp_path, filename, data)


class TestPreview:
    @pytest.mark.parametrize(
        ("size", "expected"),
        [((800, 400), (320, 160)), ((100, 1_000), (32, 320)), ((40, 30), (40, 30))],
    )
    def test_images_get_a_webp_within_320_by_320(
        self, tmp_path: Path, size: tuple[int, int], expected: tuple[int, int]
    ) -> None:
        _, preview = inspected(tmp_path, "photo.png", png(size))
        assert preview is not None
        with Image.open(io.BytesIO(preview)) as thumbnail:
            assert (thumbnail.format, thumbnail.size) == ("WEBP", expected)

    def test_a_rotated_photo_is_previewed_upright(self, tmp_path: Path) -> None:
        exif = Image.Exif()
        exif[0x0112] = 6  # orientation: rotate 90° to display
        _, preview = inspected(tmp_path, "photo.jpg", image("JPEG", (64, 32), exif=exif))
        assert preview is not None
        with Image.open(io.BytesIO(preview)) as thumbnail:
            assert thumbnail.size == (32, 64)

    @pytest.mark.parametrize(
        "sample", [s for s in SAMPLES if s.kind != "image"], ids=lambda sample: sample.filename
    )
    def test_other_kinds_have_none(self, tmp_path: Path, sample: Sample) -> None:
        assert inspected(tmp_path, sample.filename, sample.data)[1] is None


class TestCleanFilename:
    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("holiday.png", "holiday.png"),
            ("../../etc/passwd.txt", "passwd.txt"),
            ("a\\b.png", "b.png"),
            ("C:\\Users\\mia\\Desktop\\plan.pdf", "plan.pdf"),
            ("bad\x00\x07name\n.pdf", "bad name.pdf"),
            ("tab\there\x7f.txt", "tab here.txt"),
            ('quote"and<angle>.doc', "quote and angle.doc"),
            ("Photo.PNG", "Photo.png"),
            ("  .hidden.txt", "hidden.txt"),
            ("trailing dots...pdf", "trailing dots.pdf"),
            ("Übersicht.pdf", "Übersicht.pdf"),
            ("U\u0308bersicht.pdf", "Übersicht.pdf"),
            ("", "file"),
            ("...", "file"),
        ],
    )
    def test_names_lose_folders_and_unsafe_characters(self, given: str, expected: str) -> None:
        assert clean_filename(given) == expected

    def test_very_long_names_are_cut_to_200_keeping_the_extension(self) -> None:
        cleaned = clean_filename("x" * 300 + ".jpeg")
        assert len(cleaned) == 200
        assert cleaned == "x" * 195 + ".jpeg"

    def test_long_non_ascii_names_are_cut_by_characters(self) -> None:
        cleaned = clean_filename("ж" * 250 + ".txt")
        assert cleaned == "ж" * 196 + ".txt"


class TestByteRange:
    @pytest.mark.parametrize(
        ("header", "expected"),
        [
            ("bytes=0-9", (0, 10)),
            ("bytes=10-", (10, 100)),
            ("bytes=-5", (95, 100)),
            ("bytes=-500", (0, 100)),
            ("bytes=90-500", (90, 100)),
            ("bytes=99-99", (99, 100)),
            (" bytes=0-0 ", (0, 1)),
        ],
    )
    def test_single_ranges_are_served(self, header: str, expected: tuple[int, int]) -> None:
        assert byte_range(header, 100) == expected

    @pytest.mark.parametrize(
        "header", [None, "", "bytes=-", "bytes=0-1,5-6", "items=0-9", "bytes=a-b", "0-9"]
    )
    def test_other_forms_get_the_whole_file(self, header: str | None) -> None:
        assert byte_range(header, 100) is None

    @pytest.mark.parametrize("header", ["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=5-2"])
    def test_ranges_outside_the_file_are_not_satisfiable(self, header: str) -> None:
        with pytest.raises(RangeNotSatisfiable) as refused:
            byte_range(header, 100)
        assert refused.value.status == 416
        assert refused.value.headers == {"Content-Range": "bytes */100"}


class TestContentDisposition:
    def test_documents_are_saved_under_their_name(self) -> None:
        assert content_disposition("plan.pdf", inline=False) == (
            "attachment; filename=\"plan.pdf\"; filename*=UTF-8''plan.pdf"
        )

    def test_non_ascii_names_are_percent_encoded_with_an_ascii_fallback(self) -> None:
        assert content_disposition("Grüße 2026.png", inline=True) == (
            "inline; filename=\"Gr??e 2026.png\"; filename*=UTF-8''Gr%C3%BC%C3%9Fe%202026.png"
        )

"""Evidence files recognized from their bytes and kept without what could identify the reporter (pure:
services/intake/evidence.py and the sealing of services/intake/storage.py)."""

from __future__ import annotations

import asyncio
import hashlib
import io
import zipfile

import piexif
import pytest
from PIL import Image

from services.intake import evidence
from services.intake.storage import CHUNK_BYTES, ChunkTampered, Sealer, new_data_key, opened
from shared.errors import InvalidRequest
from tests.intake import evidence_files as files


def inspected(data: bytes, *, piece: int = 1000, max_bytes: int = 10_000_000) -> tuple[evidence.Inspection, bytes]:
    inspection = evidence.Inspection(max_bytes=max_bytes)
    released = b"".join(inspection.feed(data[i:i + piece]) for i in range(0, len(data), piece))
    return inspection, released + inspection.finish()


@pytest.mark.parametrize(("data", "kind"), [
    (files.pdf(), evidence.PDF), (files.jpeg_with_gps(), evidence.JPEG), (files.png_with_text(), evidence.PNG),
    (files.heic_with_gps(), evidence.HEIC), (files.docx(), evidence.ZIP),
    ("举报材料：二〇二六年三月收受礼金。\n".encode() * 1000, evidence.TEXT),
])
def test_each_accepted_kind_is_recognized_from_its_bytes_and_passed_on_whole(data, kind):
    inspection, released = inspected(data)
    assert inspection.media_type == kind
    assert released == data
    assert inspection.size == len(data) and inspection.sha256 == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize(("data", "named"), [
    (files.elf(), "application/x-executable"),
    (b"GIF89a" + b"\x00" * 100, "image/gif"),
    (b"\x00\x01\x02binary" * 50, evidence.UNKNOWN),
    ("中文".encode("gbk") * 10, evidence.UNKNOWN),  # text, but not UTF-8
])
def test_a_kind_off_the_list_is_refused_naming_what_it_is(data, named):
    with pytest.raises(evidence.AttachmentTypeNotAllowed) as refused:
        inspected(data)
    assert named in refused.value.detail


def test_text_that_turns_binary_after_the_first_bytes_is_refused():
    data = b"a plain start\n" * 1000 + b"\x00\xff\xfe"
    with pytest.raises(evidence.AttachmentTypeNotAllowed):
        inspected(data)


def test_a_file_is_refused_as_soon_as_it_passes_the_limit():
    inspection = evidence.Inspection(max_bytes=10_000)
    inspection.feed(b"%PDF-1.4\n" + b"0" * 9000)
    with pytest.raises(evidence.AttachmentTooLarge):
        inspection.feed(b"0" * 1001)


def test_an_empty_file_is_refused():
    with pytest.raises(InvalidRequest):
        evidence.Inspection(max_bytes=10).finish()


def test_a_photo_keeps_its_picture_and_loses_its_gps_exif_xmp():
    original = files.jpeg_with_gps(xmp=True)
    cleaned = evidence.clean(evidence.JPEG, original)
    assert {"exif", "xmp"} <= set(cleaned.removed)
    exif = piexif.load(cleaned.data)
    assert exif["GPS"] == {} and exif["0th"] == {} and exif["Exif"] == {}
    assert b"GPSLatitude" not in cleaned.data and b"Li Xiuying" not in cleaned.data
    before, after = Image.open(io.BytesIO(original)), Image.open(io.BytesIO(cleaned.data))
    assert after.size == before.size and after.tobytes() == before.tobytes()  # lossless: the same pixels


def test_a_photo_with_images_appended_after_it_keeps_only_the_main_picture():
    with_preview = files.jpeg_with_gps() + files.jpeg_with_gps()  # as MPF cameras append a preview with its EXIF
    cleaned = evidence.clean(evidence.JPEG, with_preview)
    assert "embedded images" in cleaned.removed
    assert b"Huawei" not in cleaned.data
    Image.open(io.BytesIO(cleaned.data)).load()


def test_a_png_loses_its_text_chunks_and_keeps_its_pixels():
    original = files.png_with_text()
    cleaned = evidence.clean(evidence.PNG, original)
    assert set(cleaned.removed) == {"tEXt", "iTXt"}
    assert b"Li Xiuying" not in cleaned.data and b"GPSLatitude" not in cleaned.data
    assert Image.open(io.BytesIO(cleaned.data)).tobytes() == Image.open(io.BytesIO(original)).tobytes()


def test_a_heic_photo_is_kept_without_its_exif_and_xmp():
    import pillow_heif

    cleaned = evidence.clean(evidence.HEIC, files.heic_with_gps())
    assert {"exif", "xmp"} <= set(cleaned.removed)
    kept = pillow_heif.open_heif(io.BytesIO(cleaned.data))
    assert not kept.info.get("exif") and not kept.info.get("xmp")
    assert kept.size == (128, 96)


def test_a_word_document_loses_its_author_and_company_and_keeps_its_text():
    cleaned = evidence.clean(evidence.ZIP, files.docx())
    assert cleaned.media_type == evidence.DOCX
    assert set(cleaned.removed) == {"docProps/core.xml: creator", "docProps/core.xml: lastModifiedBy",
                                    "docProps/app.xml: Company", "docProps/app.xml: Manager"}
    with zipfile.ZipFile(io.BytesIO(cleaned.data)) as kept:
        assert kept.testzip() is None
        core, app = kept.read("docProps/core.xml").decode(), kept.read("docProps/app.xml").decode()
        assert "李秀英" not in core and "土地出让情况" in core
        assert "湖州某某建材有限公司" not in app and "王经理" not in app and "Microsoft Office Word" in app
        assert kept.read("word/document.xml").decode() == files.DOCUMENT
    assert evidence.office_kind(cleaned.data) == evidence.DOCX


@pytest.mark.parametrize(("data", "named"), [
    (files.plain_zip(), evidence.ZIP),
    (files.docx(content_types=False), evidence.ZIP),
    (files.docx(main_type=files.DOCM_MAIN), "application/vnd.ms-word.document.macroEnabled.12"),
])
def test_a_zip_is_a_word_document_only_when_its_content_types_say_so(data, named):
    with pytest.raises(evidence.AttachmentTypeNotAllowed) as refused:
        evidence.clean(evidence.ZIP, data)
    assert named in refused.value.detail


def test_a_damaged_photo_is_refused_rather_than_kept_with_its_metadata():
    with pytest.raises(InvalidRequest):
        evidence.clean(evidence.JPEG, files.jpeg_with_gps()[:300])


# --- sealing ------------------------------------------------------------------------------------------------


def sealed(data: bytes, key: bytes, piece: int) -> list[bytes]:
    sealer = Sealer(key, "a-1", "kept")
    out = [s for i in range(0, len(data), piece) for s in sealer.add(data[i:i + piece])]
    return [*out, sealer.close()]


async def read_back(pieces: list[bytes], key: bytes, count: int) -> bytes:
    async def source():
        for p in pieces:
            yield p

    return b"".join([chunk async for chunk in opened(key, "a-1", "kept", count, source())])


@pytest.mark.parametrize("size", [1, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES - 7])
def test_a_file_sealed_in_pieces_reads_back_whole(size):
    key, data = new_data_key(), bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    pieces = sealed(data, key, 70_000)
    assert len(pieces) == -(-size // CHUNK_BYTES)
    assert size < 64 or all(data[:64] not in p for p in pieces)
    assert asyncio.run(read_back(pieces, key, len(pieces))) == data


@pytest.mark.parametrize("tamper", ["cut", "swap", "flip"])
def test_pieces_cut_off_swapped_or_altered_are_refused(tamper):
    key = new_data_key()
    pieces = sealed(b"z" * (3 * CHUNK_BYTES), key, CHUNK_BYTES)
    count = len(pieces)
    if tamper == "cut":
        pieces, count = pieces[:-1], count - 1  # even with the count rewritten, the new last is not marked last
    elif tamper == "swap":
        pieces[0], pieces[1] = pieces[1], pieces[0]
    else:
        pieces[1] = pieces[1][:20] + bytes([pieces[1][20] ^ 1]) + pieces[1][21:]
    with pytest.raises(ChunkTampered):
        asyncio.run(read_back(pieces, key, count))

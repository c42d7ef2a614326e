"""Evidence files (DESIGN.md §4.6): which kinds are accepted, decided from the bytes (never the file name
or the declared Content-Type), and the identifying metadata removed from them before they are kept.

Pure: it works on the bytes it is given and does no I/O. An upload passes through an `Inspection`
piece by piece (size, SHA-256 and kind known as it arrives); formats whose cleaning needs the whole
file (JPEG, PNG, HEIC, DOCX, XLSX: a zip's directory is at its end, an image's metadata sits among
its segments) are then cleaned by `clean`, in memory that the per-file limit bounds: 20 MB by
default, so some 60 MB while one such file is cleaned (what arrived, its segments, what is kept)."""

from __future__ import annotations

import codecs
import hashlib
import io
import shutil
import struct
import zipfile
from dataclasses import dataclass, field
from xml.etree import ElementTree

import filetype
import piexif
from piexif import InvalidImageDataError

from shared.errors import DomainError, InvalidRequest
from shared.messages import Message

PDF = "application/pdf"
JPEG = "image/jpeg"
PNG = "image/png"
HEIC = "image/heic"
MP3 = "audio/mpeg"
M4A = "audio/mp4"
AMR = "audio/amr"
MP4 = "video/mp4"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TEXT = "text/plain"

# The allow-list, with the extension a download is named with (the uploaded name is never kept).
EXTENSIONS: dict[str, str] = {
    PDF: "pdf", JPEG: "jpg", PNG: "png", HEIC: "heic", MP3: "mp3", M4A: "m4a", AMR: "amr", MP4: "mp4",
    DOCX: "docx", XLSX: "xlsx", TEXT: "txt",
}
# Kinds whose identifying metadata is removed, so the whole file is needed before it can be kept.
CLEANED = frozenset({JPEG, PNG, HEIC, DOCX, XLSX})

SNIFF_BYTES = 8192  # as much as filetype reads; the kind is decided once this much (or all) has arrived
ZIP = "application/zip"  # a candidate until its [Content_Types].xml says DOCX or XLSX
UNKNOWN = "application/octet-stream"
_AS_ALLOWED = {"image/apng": PNG}  # an animated PNG is a PNG
_ZIPS = frozenset({ZIP, DOCX, XLSX, "application/vnd.openxmlformats-officedocument.presentationml.presentation",
                   "application/epub+zip"})


class AttachmentTypeNotAllowed(DomainError):
    code = "attachment_type_not_allowed"
    status = 415

    @classmethod
    def sniffed(cls, media_type: str) -> AttachmentTypeNotAllowed:
        """Refused, naming the kind the content was recognized as (a media type)."""
        return cls(Message("intake.attachment_type_not_allowed", sniffed=media_type))


class AttachmentTooLarge(DomainError):
    code = "attachment_too_large"
    status = 413

    @classmethod
    def over(cls, limit: int) -> AttachmentTooLarge:
        return cls(Message("intake.attachment_too_large", limit=limit))


def file_problem(message: Message, kind: str) -> InvalidRequest:
    """422 naming the `file` field."""
    return InvalidRequest(message, errors=[{"field": "file", "message": message, "type": kind}])


def unreadable(kind: str) -> InvalidRequest:
    """A file of an accepted kind that cannot be read as such: refused, since its identifying metadata
    could not be removed."""
    return file_problem(Message("intake.attachment_unreadable", kind=kind), "file_unreadable")


# --- what arrives -----------------------------------------------------------------------------------------


@dataclass
class Inspection:
    """An upload's bytes as they arrive: counted against `max_bytes`, hashed, and their kind decided from
    the first `SNIFF_BYTES` (plain text is checked to the last byte: valid UTF-8, no NUL).

    `feed` answers the bytes that may go on to be stored: nothing until the kind is known, then
    everything held back and, from then on, each piece as it comes."""

    max_bytes: int
    size: int = 0
    media_type: str | None = None
    _sha256: hashlib._Hash = field(default_factory=hashlib.sha256)
    _head: bytearray = field(default_factory=bytearray)
    _text: codecs.IncrementalDecoder | None = None

    def feed(self, data: bytes) -> bytes:
        """Take in the next piece; AttachmentTooLarge as soon as the limit is passed, AttachmentTypeNotAllowed
        as soon as the kind is known and not accepted."""
        self.size += len(data)
        if self.size > self.max_bytes:
            raise AttachmentTooLarge.over(self.max_bytes)
        self._sha256.update(data)
        if self.media_type is None:
            self._head += data
            if len(self._head) < SNIFF_BYTES:
                return b""
            self._decide(complete=False)
            data, self._head = bytes(self._head), bytearray()
        if self._text is not None:
            self._check_text(data, final=False)
        return data

    def finish(self) -> bytes:
        """The file has ended: the bytes still held back. Refuses an empty file and text that ends
        inside a character."""
        if self.size == 0:
            raise file_problem(Message("intake.attachment_empty"), "file_empty")
        rest = b""
        if self.media_type is None:
            self._decide(complete=True)
            rest, self._head = bytes(self._head), bytearray()
        if self._text is not None:
            self._check_text(rest, final=True)
        return rest

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def _decide(self, *, complete: bool) -> None:
        head = bytes(self._head)
        guessed = filetype.guess_mime(head)
        if guessed is None:
            if b"\x00" in head or not _utf8_prefix(head, final=complete):
                raise AttachmentTypeNotAllowed.sniffed(UNKNOWN)
            self.media_type, self._text = TEXT, codecs.getincrementaldecoder("utf-8")()
            return
        guessed = _AS_ALLOWED.get(guessed, guessed)
        if guessed in _ZIPS:
            self.media_type = ZIP  # DOCX or XLSX only once its [Content_Types].xml is read (office_kind)
        elif guessed in EXTENSIONS:
            self.media_type = guessed
        else:
            raise AttachmentTypeNotAllowed.sniffed(guessed)

    def _check_text(self, data: bytes, *, final: bool) -> None:
        assert self._text is not None
        try:
            decoded = self._text.decode(data, final=final)
        except UnicodeDecodeError:
            raise AttachmentTypeNotAllowed.sniffed(UNKNOWN) from None  # neither text nor a known kind
        if "\x00" in decoded:
            raise AttachmentTypeNotAllowed.sniffed(UNKNOWN)


def _utf8_prefix(data: bytes, *, final: bool) -> bool:
    try:
        codecs.getincrementaldecoder("utf-8")().decode(data, final=final)
    except UnicodeDecodeError:
        return False
    return True


# --- what is kept -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cleaned:
    """A file as it is kept: its kind, its bytes, and what identifying metadata was taken out (empty when
    there was none, and then `data` is the file as received)."""

    media_type: str
    data: bytes
    removed: tuple[str, ...] = ()


def clean(media_type: str, data: bytes) -> Cleaned:
    """The whole file of a kind in CLEANED (or a ZIP candidate) without its identifying metadata.
    AttachmentTypeNotAllowed for a zip that is not a DOCX or XLSX; 422 for one that cannot be read."""
    if media_type == ZIP:
        media_type = office_kind(data)
    if media_type == JPEG:
        return Cleaned(media_type, *_jpeg(data))
    if media_type == PNG:
        return Cleaned(media_type, *_png(data))
    if media_type == HEIC:
        return Cleaned(media_type, *_heic(data))
    if media_type in (DOCX, XLSX):
        return Cleaned(media_type, *_office(data))
    return Cleaned(media_type, data)


# JPEG: segments up to the first scan (piexif splits them). APP1 holds EXIF (GPS, camera serial, time)
# and XMP, APP13 IPTC, COM comments; APP0 (JFIF), ICC profiles and APP14 (Adobe colour transform) are
# needed to show the picture right and name no one.
_JPEG_KEPT_APP2 = b"ICC_PROFILE\x00"


def _jpeg(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    try:
        segments = piexif._common.split_into_segments(data)
    except (InvalidImageDataError, struct.error, IndexError, ValueError):
        raise unreadable("JPEG") from None
    kept, removed = [segments[0]], []
    for segment in segments[1:-1]:
        marker = segment[1]
        payload = segment[4:]
        if marker == 0xE1:
            removed.append("exif" if payload.startswith(b"Exif\x00") else
                           "xmp" if payload.startswith(b"http://ns.adobe.com/") else "app1")
        elif marker == 0xED:
            removed.append("iptc")
        elif marker == 0xFE:
            removed.append("comment")
        elif marker == 0xE2 and not payload.startswith(_JPEG_KEPT_APP2):
            removed.append("mpf" if payload.startswith(b"MPF\x00") else "app2")
        elif 0xE3 <= marker <= 0xEF and marker != 0xEE:
            removed.append(f"app{marker - 0xE0}")
        else:
            kept.append(segment)
    scan = segments[-1]
    # Pictures a camera appends after the main one (MPF previews, depth maps) carry EXIF of their own:
    # the main picture ends at the first EOI that another image's SOI follows.
    end = scan.find(b"\xff\xd9\xff\xd8")
    if end >= 0:
        scan = scan[:end + 2]
        removed.append("embedded images")
    kept.append(scan)
    return b"".join(kept), tuple(dict.fromkeys(removed))


# PNG: chunks whose kind is known to carry only what drawing the picture needs are kept; text (tEXt,
# zTXt, iTXt: XMP among them), eXIf, tIME and private ancillary chunks are dropped. A chunk filter, not
# Pillow's re-encoding: it copies the image data untouched (lossless), and decoding a 20 MB PNG can
# need gigabytes of pixels.
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_KEPT = frozenset({b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"cHRM", b"gAMA", b"iCCP", b"sBIT", b"sRGB",
                       b"cICP", b"mDCV", b"cLLI", b"bKGD", b"hIST", b"pHYs", b"sPLT", b"acTL", b"fcTL", b"fdAT"})


def _png(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    if not data.startswith(_PNG_SIGNATURE):
        raise unreadable("PNG")
    out, removed, at = [_PNG_SIGNATURE], [], len(_PNG_SIGNATURE)
    while True:
        if at + 12 > len(data):
            raise unreadable("PNG")
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data):
            raise unreadable("PNG")
        critical = kind[:1].isupper()
        if kind in _PNG_KEPT or critical:
            out.append(data[at:end])
        else:
            removed.append(kind.decode("latin-1"))
        at = end
        if kind == b"IEND":
            break
    if at < len(data):
        removed.append("trailing data")
    return b"".join(out), tuple(dict.fromkeys(removed))


# HEIC: re-encoded by pillow-heif (libheif) with the primary picture only and no EXIF or XMP, when there
# was any: HEIF keeps metadata as items its index points into, which no maintained library edits in
# place. The re-encoding is lossy at high quality; the reporter can ask to keep the original.
HEIC_QUALITY = 92
HEIC_MAX_PIXELS = 100_000_000  # decoding needs 3 bytes a pixel: a 20 MB file may not ask for gigabytes


def _heic(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    import pillow_heif  # loaded on the first HEIC only: libheif is large

    try:
        heif = pillow_heif.open_heif(io.BytesIO(data), convert_hdr_to_8bit=False)
        found = [name for name in ("exif", "xmp", "metadata") if heif.info.get(name)]
        others = len(heif) > 1 or bool(heif.info.get("depth_images")) or bool(heif.info.get("aux"))
        if not found and not others:
            return data, ()
        width, height = heif.size
        if width * height > HEIC_MAX_PIXELS:
            raise unreadable("HEIC")
        primary = heif[heif.primary_index]
        primary.info.pop("metadata", None)
        out = io.BytesIO()
        kept = pillow_heif.HeifFile()
        kept.add_from_heif(primary)
        kept.save(out, exif=None, xmp=None, quality=HEIC_QUALITY)
    except (ValueError, RuntimeError, OSError, EOFError):
        raise unreadable("HEIC") from None
    return out.getvalue(), (*found, *(["other images"] if others else []))


# DOCX and XLSX: a zip whose [Content_Types].xml names the main part of a Word document or an Excel
# workbook (a zip alone is neither). The author fields of docProps/core.xml and the company and manager
# of docProps/app.xml are removed; every other member is copied as it was.
_CONTENT_TYPES = "[Content_Types].xml"
_MAIN_PARTS = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml": DOCX,
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml": XLSX,
}
# Other Office kinds, named by their media type when refused (macros can run; templates and slides are
# not on the allow-list).
_REFUSED_MAIN_PARTS = {
    "application/vnd.ms-word.document.macroEnabled.main+xml": "application/vnd.ms-word.document.macroEnabled.12",
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml":
        "application/vnd.ms-word.template.macroEnabled.12",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml":
        "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
    "application/vnd.ms-excel.sheet.macroEnabled.main+xml": "application/vnd.ms-excel.sheet.macroEnabled.12",
    "application/vnd.ms-excel.template.macroEnabled.main+xml": "application/vnd.ms-excel.template.macroEnabled.12",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.template.main+xml":
        "application/vnd.openxmlformats-officedocument.spreadsheetml.template",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml":
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
}
MACROS = "application/vnd.ms-office.vbaProject"  # an Office file carrying a macro project
_CT = "{http://schemas.openxmlformats.org/package/2006/content-types}"
_XML_LIMIT = 1_000_000  # bytes of one properties part read to clean it
_UNPACKED_LIMIT = 512_000_000  # bytes all members may declare unpacked: a zip bomb is refused before copying
_MEMBER_LIMIT = 10_000
_IDENTIFYING = {
    "docProps/core.xml": ("{http://purl.org/dc/elements/1.1/}creator",
                          "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}lastModifiedBy"),
    "docProps/app.xml": ("{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}Company",
                         "{http://schemas.openxmlformats.org/officeDocument/2006/extended-properties}Manager"),
}
_PREFIXES = {
    "cp": "http://schemas.openxmlformats.org/package/2006/metadata/core-properties",
    "dc": "http://purl.org/dc/elements/1.1/", "dcterms": "http://purl.org/dc/terms/",
    "dcmitype": "http://purl.org/dc/dcmitype/", "xsi": "http://www.w3.org/2001/XMLSchema-instance",
    "vt": "http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes",
}
for _prefix, _uri in _PREFIXES.items():
    ElementTree.register_namespace(_prefix, _uri)  # written back with the prefixes Office writes
_DEFAULT_NAMESPACE = {"docProps/app.xml": "http://schemas.openxmlformats.org/officeDocument/2006/extended-properties"}


def _zip(data: bytes) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise AttachmentTypeNotAllowed.sniffed(ZIP) from None  # a damaged zip is no Office document
    members = archive.infolist()
    if len(members) > _MEMBER_LIMIT or sum(m.file_size for m in members) > _UNPACKED_LIMIT:
        raise unreadable("ZIP")  # unpacked, more than a document of this size holds: a zip bomb
    return archive


def _read_xml(archive: zipfile.ZipFile, name: str) -> ElementTree.Element:
    """A package part parsed, bounded in size, refused when it declares a DTD or entities (Office never
    does; defusedxml is not installed) or is not UTF-8 (a NUL byte: UTF-16 could hide a declaration)."""
    info = archive.getinfo(name)
    if info.file_size > _XML_LIMIT:
        raise unreadable("ZIP")
    try:
        data = archive.read(info)
        if b"<!DOCTYPE" in data or b"<!ENTITY" in data or b"\x00" in data or data.startswith(b"\xfe\xff"):
            raise unreadable("ZIP")
        # Safe here: no DTD, so no entity to expand, and ElementTree never fetches external resources.
        return ElementTree.fromstring(data)  # noqa: S314
    except (ElementTree.ParseError, zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise unreadable("ZIP") from None


def office_kind(data: bytes) -> str:
    """DOCX or XLSX as the zip's [Content_Types].xml declares its main part (which must be there);
    AttachmentTypeNotAllowed naming what it is otherwise (another Office kind, macros, a plain zip)."""
    archive = _zip(data)
    names = set(archive.namelist())
    if _CONTENT_TYPES not in names:
        raise AttachmentTypeNotAllowed.sniffed(ZIP)
    kinds = {}
    for override in _read_xml(archive, _CONTENT_TYPES).iter(f"{_CT}Override"):
        kinds[override.get("ContentType", "")] = override.get("PartName", "").lstrip("/")
    for content_type, refused in _REFUSED_MAIN_PARTS.items():
        if content_type in kinds:
            raise AttachmentTypeNotAllowed.sniffed(refused)
    found = [(kind, part) for content_type, kind in _MAIN_PARTS.items() if (part := kinds.get(content_type))]
    if len(found) != 1 or found[0][1] not in names:
        raise AttachmentTypeNotAllowed.sniffed(ZIP)
    if any(name.lower().endswith("vbaproject.bin") for name in names):
        raise AttachmentTypeNotAllowed.sniffed(MACROS)
    return found[0][0]


def _office(data: bytes) -> tuple[bytes, tuple[str, ...]]:
    archive = _zip(data)
    replaced: dict[str, bytes] = {}
    removed: list[str] = []
    for name, tags in _IDENTIFYING.items():
        if name not in archive.namelist():
            continue
        root = _read_xml(archive, name)
        for tag in tags:
            for element in root.findall(tag):
                if (element.text or "").strip():
                    removed.append(f"{name}: {tag.rsplit('}', 1)[1]}")
                root.remove(element)
        try:
            replaced[name] = ElementTree.tostring(root, encoding="utf-8", xml_declaration=True,
                                                  default_namespace=_DEFAULT_NAMESPACE.get(name))
        except ValueError:  # an element outside the part's namespace: not what Office writes
            raise unreadable("ZIP") from None
    if not removed:
        return data, ()
    out = io.BytesIO()
    try:
        with zipfile.ZipFile(out, "w") as copy:
            for info in archive.infolist():
                member = zipfile.ZipInfo(info.filename, info.date_time)
                member.compress_type, member.external_attr = info.compress_type, info.external_attr
                member.file_size = info.file_size  # so a member over 2 GiB would be written as zip64
                if info.filename in replaced:
                    copy.writestr(member, replaced[info.filename])
                    continue
                with archive.open(info) as source, copy.open(member, "w") as target:
                    shutil.copyfileobj(source, target, 64 * 1024)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise unreadable("ZIP") from None
    return out.getvalue(), tuple(removed)

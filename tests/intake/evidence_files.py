"""Realistic evidence files for the attachment tests: a phone photo with GPS, a PDF, a Word document
with its author, a PNG with text chunks, an executable."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

import piexif
from PIL import Image

GPS_EXIF = {
    "0th": {piexif.ImageIFD.Make: b"Huawei", piexif.ImageIFD.Model: b"P60", piexif.ImageIFD.Artist: b"Li Xiuying"},
    "Exif": {piexif.ExifIFD.DateTimeOriginal: b"2026:03:15 10:21:00"},
    "GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((30, 1), (52, 1), (1200, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"E", piexif.GPSIFD.GPSLongitude: ((120, 1), (5, 1), (3000, 100))},
}
XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
       b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="30,52.2N"/></rdf:RDF>'
       b'</x:xmpmeta>')


def photo(size: tuple[int, int] = (64, 48)) -> Image.Image:
    image = Image.new("RGB", size, (180, 40, 40))
    for x in range(size[0]):
        image.putpixel((x, x % size[1]), (10, 200, 10))
    return image


def jpeg_with_gps(*, xmp: bool = False) -> bytes:
    out = io.BytesIO()
    photo().save(out, "JPEG", exif=piexif.dump(GPS_EXIF), quality=90)
    data = out.getvalue()
    if xmp:
        payload = b"http://ns.adobe.com/xap/1.0/\x00" + XMP
        data = data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:]
    return data


def png_with_text() -> bytes:
    out = io.BytesIO()
    photo().save(out, "PNG")
    data = out.getvalue()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    text = chunk(b"tEXt", b"Author\x00Li Xiuying") + chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)
    return data[:33] + text + data[33:]  # after the signature and IHDR


def heic_with_gps() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    photo((128, 96)).save(out, "HEIF", exif=piexif.dump(GPS_EXIF), xmp=XMP)
    return out.getvalue()


def pdf(text: str = "Receipt of 100000 yuan") -> bytes:
    return (b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
            b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
            + f"% {text}\n".encode() + b"trailer << /Root 1 0 R >>\n%%EOF\n")


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + bytes(range(256)) * 4


_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/{main}" ContentType="{main_type}"/>'
    '<Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/>'
    '<Override PartName="/docProps/app.xml" '
    'ContentType="application/vnd.openxmlformats-officedocument.extended-properties+xml"/></Types>')
CORE = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<dc:title>土地出让情况</dc:title><dc:creator>李秀英</dc:creator><cp:lastModifiedBy>李秀英</cp:lastModifiedBy>'
        '<dcterms:created xsi:type="dcterms:W3CDTF">2026-03-15T10:00:00Z</dcterms:created></cp:coreProperties>')
APP = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
       '<Properties xmlns="http://schemas.openxmlformats.org/officeDocument/2006/extended-properties" '
       'xmlns:vt="http://schemas.openxmlformats.org/officeDocument/2006/docPropsVTypes">'
       '<Application>Microsoft Office Word</Application><Company>湖州某某建材有限公司</Company>'
       '<Manager>王经理</Manager></Properties>')
DOCUMENT = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r>'
            '<w:t>二〇二六年三月，王建国收受礼金十万元。</w:t></w:r></w:p></w:body></w:document>')
WORD_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def docx(*, main_type: str = WORD_MAIN, content_types: bool = True) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        if content_types:
            types = _CONTENT_TYPES.format(main="word/document.xml", main_type=main_type)
            archive.writestr("[Content_Types].xml", types)
        archive.writestr("_rels/.rels", '<?xml version="1.0"?><Relationships '
                         'xmlns="http://schemas.openxmlformats.org/package/2006/relationships"/>')
        archive.writestr("word/document.xml", DOCUMENT)
        archive.writestr("docProps/core.xml", CORE)
        archive.writestr("docProps/app.xml", APP)
    return out.getvalue()


def plain_zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("notes.txt", "nothing office about this")
    return out.getvalue()

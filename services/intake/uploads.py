"""An evidence upload read from a multipart/form-data body as a stream (python-multipart's parser, fed
as the body arrives): never held whole in memory unless its kind must be cleaned whole (evidence.py),
never on disk unencrypted. Starlette's `request.form()` is not used: it spools files to plain
temporary files.

The form has one `file` part and, optionally, `keep_original` (`true` keeps the file as received beside
the cleaned one). Whatever the file part's name or declared Content-Type, its kind is sniffed from its
bytes."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from python_multipart.multipart import MultipartParseError, MultipartParser, parse_options_header

from services.intake import evidence
from services.intake.storage import KEPT, ORIGINAL, SealedSpool, Sealer, new_data_key
from shared.errors import DomainError, InvalidRequest
from shared.messages import Message

FILE_FIELD, KEEP_FIELD = "file", "keep_original"
_FIELD_BYTES = 16  # a `keep_original` value longer than this is not one
OVERHEAD_BYTES = 64 * 1024  # part headers, boundaries and the small field a body adds to its file
_TRUTHY, _FALSY = {"true", "1", "on", "yes"}, {"false", "0", "off", "no", ""}


class AttachmentQuotaExceeded(DomainError):
    code = "attachment_quota_exceeded"
    status = 413


def _invalid(field_name: str, message: Message, kind: str) -> InvalidRequest:
    return InvalidRequest(message, errors=[{"field": field_name, "message": message, "type": kind}])


@dataclass
class ReceivedFile:
    """An upload, whole and checked: its proof (size and SHA-256 of the bytes received), its kind, what
    identifying metadata was removed, and its parts sealed under `data_key`, ready for the store.
    `close()` drops the spooled pieces."""

    attachment_id: str
    data_key: bytes
    media_type: str
    received_size: int
    received_sha256: str
    stored_size: int
    stored_sha256: str
    removed: tuple[str, ...]
    parts: dict[str, SealedSpool] = field(default_factory=dict)

    def close(self) -> None:
        for spool in self.parts.values():
            spool.close()


class _Form:
    """The parser's callbacks: each part's headers read, the file part's bytes passed on to `on_file`."""

    def __init__(self, on_file: Callable[[bytes], None]) -> None:
        self._on_file = on_file
        self._header_field, self._header_value = bytearray(), bytearray()
        self._headers: dict[str, bytes] = {}
        self._current: str | None = None
        self.seen: set[str] = set()
        self.keep_original = bytearray()
        self.ended = False

    def callbacks(self) -> dict[str, Callable[..., None]]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._field_piece,
            "on_header_value": self._value_piece, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._data, "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._current = {}, None

    def _field_piece(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _value_piece(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._header_field).decode("latin-1").lower()] = bytes(self._header_value)
        self._header_field, self._header_value = bytearray(), bytearray()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get("content-disposition"))
        name = options.get(b"name")
        if disposition != b"form-data" or name is None:
            raise _invalid("body", Message("intake.attachment_part_unnamed"), "multipart_invalid")
        text = name.decode("utf-8", "replace")
        if text not in (FILE_FIELD, KEEP_FIELD):
            raise _invalid(text[:100], Message("intake.attachment_field_unknown"), "extra_forbidden")
        if text in self.seen:
            raise _invalid(text, Message("intake.attachment_field_repeated"), "multiple_values")
        self.seen.add(text)
        self._current = text

    def _data(self, data: bytes, start: int, end: int) -> None:
        if self._current == FILE_FIELD:
            self._on_file(data[start:end])
        elif self._current == KEEP_FIELD:
            self.keep_original += data[start:end]
            if len(self.keep_original) > _FIELD_BYTES:
                raise _invalid(KEEP_FIELD, Message("intake.attachment_keep_original"), "bool_parsing")

    def _end(self) -> None:
        self.ended = True


def boundary_of(content_type: str | None) -> bytes:
    """The boundary of a multipart/form-data Content-Type; 422 for any other body."""
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary or len(boundary) > 70:
        raise _invalid("body", Message("intake.attachment_multipart_required"), "multipart_required")
    return boundary


async def receive(body: AsyncIterator[bytes], *, content_type: str | None, max_file_bytes: int,
                  room_bytes: int, report_bytes: int) -> ReceivedFile:
    """Read an upload from `body` as it arrives: sniffed, counted, hashed and sealed piece by piece.

    Stops at once, keeping nothing, with 413 when the file passes `max_file_bytes`
    (attachment_too_large) or the `room_bytes` left of the report's `report_bytes`
    (attachment_quota_exceeded), with 415 when its kind is not accepted, and with 422 for a body that
    is not the form described."""
    boundary = boundary_of(content_type)
    attachment_id, data_key = str(uuid.uuid4()), new_data_key()
    inspection = evidence.Inspection(max_bytes=max_file_bytes)
    kept, whole = SealedSpool(), bytearray()
    sealer = Sealer(data_key, attachment_id, KEPT)

    def take(data: bytes) -> None:
        if room_bytes < inspection.size + len(data) <= max_file_bytes:
            raise AttachmentQuotaExceeded(Message("intake.attachment_quota_exceeded", room=room_bytes,
                                                  limit=report_bytes))
        released = inspection.feed(data)
        if released:
            store(released)

    def store(data: bytes) -> None:
        if inspection.media_type in evidence.CLEANED or inspection.media_type == evidence.ZIP:
            whole.extend(data)  # cleaned once it is all here: bounded by max_file_bytes
        else:
            kept.write(sealer.add(data))

    form = _Form(take)
    parser = MultipartParser(boundary, form.callbacks())  # type: ignore[arg-type]
    read, limit = 0, max_file_bytes + OVERHEAD_BYTES
    try:
        async for piece in body:
            read += len(piece)
            if read > limit:  # not in the file: a preamble, an epilogue or headers without end
                raise evidence.AttachmentTooLarge.over(max_file_bytes)
            parser.write(piece)
        parser.finalize()
        if not form.ended:
            raise _invalid("body", Message("intake.attachment_multipart_incomplete"), "multipart_incomplete")
        if FILE_FIELD not in form.seen:
            raise _invalid(FILE_FIELD, Message("intake.attachment_file_missing"), "missing")
        keep_original = _truth(bytes(form.keep_original)) if KEEP_FIELD in form.seen else False
        rest = inspection.finish()
        if rest:
            store(rest)
        assert inspection.media_type is not None
        received = ReceivedFile(attachment_id=attachment_id, data_key=data_key, media_type=inspection.media_type,
                                received_size=inspection.size, received_sha256=inspection.sha256,
                                stored_size=inspection.size, stored_sha256=inspection.sha256, removed=())
        if whole:
            data = bytes(whole)
            whole.clear()
            kept.close()
            await _clean(received, data, keep_original)
        else:
            kept.write([sealer.close()])
            received.parts[KEPT] = kept
        return received
    except MultipartParseError:
        kept.close()
        raise _invalid("body", Message("intake.attachment_multipart_invalid"), "multipart_invalid") from None
    except BaseException:
        kept.close()
        raise


async def _clean(received: ReceivedFile, data: bytes, keep_original: bool) -> None:
    """The cleaned file sealed as the kept part and, when asked and something was removed, the file as
    received as the original part. Cleaning (a HEIC is re-encoded) runs in a worker thread."""
    cleaned = await asyncio.to_thread(evidence.clean, received.media_type, data)
    received.media_type, received.removed = cleaned.media_type, cleaned.removed
    received.stored_size, received.stored_sha256 = len(cleaned.data), hashlib.sha256(cleaned.data).hexdigest()
    parts = {KEPT: cleaned.data, **({ORIGINAL: data} if keep_original and cleaned.removed else {})}
    for part, content in parts.items():
        sealer, spool = Sealer(received.data_key, received.attachment_id, part), SealedSpool()
        spool.write(sealer.add(content))
        spool.write([sealer.close()])
        received.parts[part] = spool


def _truth(value: bytes) -> bool:
    text = value.decode("utf-8", "replace").strip().lower()
    if text in _TRUTHY:
        return True
    if text in _FALSY:
        return False
    raise _invalid(KEEP_FIELD, Message("intake.attachment_keep_original"), "bool_parsing")

"""Evidence attachments of a report (DESIGN.md §4.6): who may add and read them, the limits per report,
and the audit trail of every upload and every read.

An upload is read (uploads.py) between two short transactions, never inside one: the first finds the
report and its room, the second records the file and its sealed pieces together, checking the room
again under a lock on the report so two uploads at once cannot pass the limits. A slow upload then
never holds a transaction open (on SQLite, the database's write lock).

No event is raised: no other service consumes attachments (an officer reads them here), and figures
are counted from the table. A later `report.evidence_added.v1` would carry only the report id, the
count and the SHA-256 of what was received."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import func, select

from services.intake import domain
from services.intake.models import Attachment, Report
from services.intake.service import ReceiptNotFound, ReportNotFound
from services.intake.storage import KEPT, ORIGINAL, ChunkTampered, EvidenceStore, opened, unwrap_key, wrap_key
from services.intake.uploads import AttachmentQuotaExceeded, ReceivedFile, receive
from shared.auth import Principal, require_any
from shared.crypto import FieldCipher
from shared.db import lock_names
from shared.errors import Conflict, NotFound
from shared.messages import Message
from shared.queries import served
from shared.uow import UnitOfWork

log = logging.getLogger("zhengming.intake.attachments")

REPORTER = "reporter"  # the audit trail's actor for an upload made with the receipt code: never who it is
ORIGINAL_SCOPE = "reports:identity"  # the file as received may show where, or who, the reporter is


class AttachmentNotFound(NotFound):
    code = "attachment_not_found"


class AttachmentCountExceeded(Conflict):
    code = "attachment_count_exceeded"


class OriginalNotKept(NotFound):
    code = "original_not_kept"


@dataclass(frozen=True)
class AttachmentLimits:
    max_file_bytes: int
    max_files: int
    max_report_bytes: int


@dataclass(frozen=True)
class Room:
    """A report that may take one more file, and how many bytes it still has room for."""

    report_id: str
    region_code: str
    bytes_left: int


@dataclass(frozen=True)
class Uploader:
    """Who adds a file: an officer (named in the audit trail and on the attachment) or the reporter."""

    via: str  # officer | receipt
    actor: str
    officer: str | None


@dataclass(frozen=True)
class Download:
    """A part of an attachment ready to be streamed: its pieces are opened as they are read."""

    attachment: Attachment
    part: str
    size: int
    sha256: str
    pieces: AsyncIterator[bytes]


# --- adding -------------------------------------------------------------------------------------------------


async def _room(uow: UnitOfWork, report_id: str, region_code: str, limits: AttachmentLimits) -> Room:
    count, total = (await uow.session.execute(
        select(func.count(), func.coalesce(func.sum(Attachment.received_size), 0))
        .where(Attachment.report_id == report_id))).one()
    if count >= limits.max_files:
        raise AttachmentCountExceeded(Message("intake.attachment_count_exceeded", limit=limits.max_files))
    left = limits.max_report_bytes - int(total)
    if left <= 0:
        raise AttachmentQuotaExceeded(Message("intake.attachment_quota_exceeded", room=0,
                                              limit=limits.max_report_bytes))
    return Room(report_id, region_code, left)


async def room_for_officer(*, uow: UnitOfWork, principal: Principal, report_id: str,
                           limits: AttachmentLimits) -> Room:
    """The report in the officer's jurisdiction (404 otherwise) and its room; 409 when it has as many files
    as allowed, 413 when its bytes are spent."""
    report = await served(uow.session, select(Report).where(Report.id == report_id), principal,
                          ReportNotFound(Message("intake.report_not_found", report_id=report_id)))
    return await _room(uow, report.id, report.region_code, limits)


async def room_for_reporter(*, uow: UnitOfWork, receipt_code: str, limits: AttachmentLimits) -> Room:
    """The report this receipt code was given for (ReceiptNotFound otherwise) and its room."""
    found = (await uow.session.execute(select(Report.id, Report.region_code).where(
        Report.receipt_code_hash == domain.receipt_code_hash(receipt_code[:64])))).first()
    if found is None:
        raise ReceiptNotFound(Message("intake.receipt_not_found"))
    return await _room(uow, found.id, found.region_code, limits)


async def record(*, uow: UnitOfWork, store: EvidenceStore, cipher: FieldCipher, room: Room,
                 received: ReceivedFile, uploader: Uploader, limits: AttachmentLimits) -> Attachment:
    """The attachment and its sealed parts, in this unit of work, with its audit record; refused (nothing
    written) when the report filled up while the file arrived."""
    await lock_names(uow.session, f"attachments:{room.report_id}")
    now = await _room(uow, room.report_id, room.region_code, limits)
    if received.received_size > now.bytes_left:
        raise AttachmentQuotaExceeded(Message("intake.attachment_quota_exceeded", room=now.bytes_left,
                                              limit=limits.max_report_bytes))
    row = Attachment(
        id=received.attachment_id, report_id=room.report_id, region_code=room.region_code,
        uploaded_via=uploader.via, uploaded_by=uploader.officer, media_type=received.media_type,
        received_size=received.received_size, received_sha256=received.received_sha256,
        stored_size=received.stored_size, stored_sha256=received.stored_sha256,
        metadata_removed=list(received.removed), original_kept=ORIGINAL in received.parts,
        data_key_enc=wrap_key(cipher, received.data_key, received.attachment_id),
        chunk_count=received.parts[KEPT].count,
        original_chunk_count=received.parts[ORIGINAL].count if ORIGINAL in received.parts else None,
    )
    uow.session.add(row)
    await uow.session.flush()  # the pieces refer to it
    for part, spool in received.parts.items():
        await store.put(uow, row.id, part, spool.pieces())
    uow.record_audit(actor=uploader.actor, action="attachment.added", object_type="attachment", object_id=row.id,
                     details={"report_id": row.report_id, "via": row.uploaded_via, "media_type": row.media_type,
                              "received_size": row.received_size, "received_sha256": row.received_sha256,
                              "stored_sha256": row.stored_sha256, "metadata_removed": row.metadata_removed,
                              "original_kept": row.original_kept})
    await uow.session.flush()
    return row


async def add(*, uow: Callable[[], UnitOfWork], store: EvidenceStore, cipher: FieldCipher, limits: AttachmentLimits,
              find_room: Callable[[UnitOfWork], Awaitable[Room]], uploader: Uploader, body: AsyncIterator[bytes],
              content_type: str | None) -> Attachment:
    """One upload, start to end: the report's room found (`find_room`, in a first short transaction), the
    body read as it arrives, then the attachment recorded and committed in a second one."""
    async with uow() as first:
        room = await find_room(first)
    received = await receive(body, content_type=content_type, max_file_bytes=limits.max_file_bytes,
                             room_bytes=room.bytes_left, report_bytes=limits.max_report_bytes)
    try:
        async with uow() as second:
            row = await record(uow=second, store=store, cipher=cipher, room=room, received=received,
                               uploader=uploader, limits=limits)
            await second.commit()
        return row
    finally:
        received.close()


# --- reading -------------------------------------------------------------------------------------------------


async def list_for(*, uow: UnitOfWork, principal: Principal, report_id: str) -> list[Attachment]:
    """The report's attachments, oldest first, when the report lies in the principal's jurisdiction."""
    await served(uow.session, select(Report).where(Report.id == report_id), principal,
                 ReportNotFound(Message("intake.report_not_found", report_id=report_id)))
    return list((await uow.session.scalars(select(Attachment).where(Attachment.report_id == report_id)
                                           .order_by(Attachment.uploaded_at, Attachment.id))).all())


async def open_for(*, uow: UnitOfWork, store: EvidenceStore, cipher: FieldCipher, principal: Principal,
                   attachment_id: str, original: bool) -> Download:
    """The kept file (or, with `original` and scope reports:identity, the file as received) of an
    attachment in the principal's jurisdiction, with the read recorded in the audit trail of this unit of
    work: the caller commits before a byte is sent."""
    row = await served(uow.session, select(Attachment).where(Attachment.id == attachment_id), principal,
                       AttachmentNotFound(Message("intake.attachment_not_found", attachment_id=attachment_id)))
    if row.data_key_enc is None:  # purged after the retention period (retention.py): sizes and hashes stay
        raise AttachmentNotFound(Message("intake.attachment_purged", attachment_id=attachment_id))
    part, size, sha256, count = KEPT, row.stored_size, row.stored_sha256, row.chunk_count
    if original:
        require_any(principal, ORIGINAL_SCOPE)
        if not row.original_kept or row.original_chunk_count is None:
            raise OriginalNotKept(Message("intake.attachment_original_not_kept", attachment_id=attachment_id))
        part, size, sha256, count = ORIGINAL, row.received_size, row.received_sha256, row.original_chunk_count
    uow.record_audit(actor=principal.subject, action=f"attachment.{'original_' if original else ''}read",
                     object_type="attachment", object_id=row.id,
                     details={"report_id": row.report_id, "part": part, "sha256": sha256})
    data_key = unwrap_key(cipher, row.data_key_enc, row.id)
    return Download(row, part, size, sha256, _checked(opened(data_key, row.id, part, count, store.read(row.id, part)),
                                                      row.id))


async def _checked(pieces: AsyncIterator[bytes], attachment_id: str) -> AsyncIterator[bytes]:
    try:
        async for piece in pieces:
            yield piece
    except ChunkTampered:
        # The answer is already under way: it ends short of its Content-Length, which the client notices.
        log.error("attachment failed its integrity check", extra={"attachment_id": attachment_id})
        raise

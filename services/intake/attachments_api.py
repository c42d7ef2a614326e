"""Evidence attachment routes (DESIGN.md §4.6): officers add, list and download a report's files; the
reporter adds files with the receipt code alone. Thin: parse, authorize, call attachments.py, shape."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, status
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from services.intake import attachments, evidence
from services.intake.api import SUBMIT_SCOPE
from services.intake.attachments import AttachmentCountExceeded, AttachmentNotFound, OriginalNotKept, Uploader
from services.intake.models import Attachment
from services.intake.resources import Intake, IntakeResources
from services.intake.service import ReceiptNotFound, ReportNotFound
from services.intake.settings import IntakeSettings
from services.intake.uploads import FILE_FIELD, KEEP_FIELD, OVERHEAD_BYTES, AttachmentQuotaExceeded
from shared.auth import Principal
from shared.errors import DatabaseUnavailable
from shared.logs import report_id_var
from shared.messages import Message
from shared.ratelimit import RateLimited
from shared.schemas import ChinaTime
from shared.uow import UnitOfWork
from shared.web import UoW, authorized, get_runtime, problems

router = APIRouter(prefix="/v1")
READ_SCOPE = "reports:read"


class MetadataCleaning(StrEnum):
    """What was done about metadata in the file that could identify the reporter:

    - `removed` (已清除): some was found and removed before the file was stored (`metadata_removed` says what).
    - `none_found` (未发现): the kind is cleaned (JPEG, PNG, HEIC, DOCX, XLSX) and the file carried none.
    - `not_supported` (不支持清除): the kind is kept as received (PDF, MP3, M4A, AMR, MP4): it may still carry an
      author, a device or a place; remove them before uploading if they could identify you.
    - `not_applicable` (无元数据): plain text, which has no metadata."""

    removed = "removed"
    none_found = "none_found"
    not_supported = "not_supported"
    not_applicable = "not_applicable"


class UploadedVia(StrEnum):
    """Who added the file:

    - `officer` (工作人员): an officer, with a token, named in `uploaded_by`.
    - `receipt` (举报人凭查询码): the reporter, with the receipt code, never named."""

    officer = "officer"
    receipt = "receipt"


def cleaning(row: Attachment) -> MetadataCleaning:
    if row.metadata_removed:
        return MetadataCleaning.removed
    if row.media_type in evidence.CLEANED:
        return MetadataCleaning.none_found
    return MetadataCleaning.not_applicable if row.media_type == evidence.TEXT else MetadataCleaning.not_supported


class EvidenceReceived(BaseModel):
    """What the reporter is told of a file received: proof of what arrived, nothing that names anyone."""

    sha256: str = Field(description="SHA-256 (hex) of the bytes received, as sent: keep it as proof of what you "
                                    "submitted",
                        examples=["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"])
    size: int = Field(description="bytes received")
    media_type: str = Field(description="the kind recognized from the content", examples=["image/jpeg"])
    metadata_cleaning: MetadataCleaning
    metadata_removed: list[str] = Field(description="the kinds of metadata removed, e.g. `exif`, `xmp`, "
                                                    "`docProps/core.xml: creator`")
    original_kept: bool = Field(description="the file as received is kept beside the cleaned one (asked with "
                                            "`keep_original`, and only when something was removed)")
    received_at: ChinaTime


class AttachmentOut(BaseModel):
    """One evidence file of a report, as officers see it. The file's name is not kept: it can name the
    reporter. Download it at `download`."""

    id: str
    report_id: str
    media_type: str = Field(description="the kind recognized from the content (never the name or declared type)",
                            examples=["application/pdf"])
    uploaded_via: UploadedVia
    uploaded_by: str | None = Field(description="the officer who added it; null when the reporter did")
    uploaded_at: ChinaTime
    received_size: int = Field(description="bytes received")
    received_sha256: str = Field(description="SHA-256 (hex) of the bytes received: the uploader's proof")
    stored_size: int = Field(description="bytes of the file as kept (metadata removed)")
    stored_sha256: str = Field(description="SHA-256 (hex) of the file as kept, as downloaded")
    metadata_cleaning: MetadataCleaning
    metadata_removed: list[str] = Field(description="the kinds of metadata removed before storage")
    original_kept: bool = Field(description="the file as received is kept too (`?original=true`, with scope "
                                            "`reports:identity`)")
    download: str = Field(description="where to download it", examples=["/v1/attachments/0b5e…"])


class AttachmentList(BaseModel):
    items: list[AttachmentOut]
    files_left: int = Field(description="how many more files the report may take")
    bytes_left: int = Field(description="how many more bytes (as received) the report may take")


def attachment_out(row: Attachment) -> AttachmentOut:
    return AttachmentOut(
        id=row.id, report_id=row.report_id, media_type=row.media_type, uploaded_via=UploadedVia(row.uploaded_via),
        uploaded_by=row.uploaded_by, uploaded_at=row.uploaded_at, received_size=row.received_size,
        received_sha256=row.received_sha256, stored_size=row.stored_size, stored_sha256=row.stored_sha256,
        metadata_cleaning=cleaning(row), metadata_removed=row.metadata_removed, original_kept=row.original_kept,
        download=f"/v1/attachments/{row.id}",
    )


def _default(setting: str) -> Any:
    return IntakeSettings.model_fields[setting].default


LIMITS = (
    f"One file per request, as the `{FILE_FIELD}` part of a multipart/form-data body, at most "
    f"{_default('attachment_max_file_bytes')} bytes by default (413 `attachment_too_large` as soon as it passes); a "
    f"report takes at most {_default('attachment_max_files_per_report')} files (409 `attachment_count_exceeded`) and "
    f"{_default('attachment_max_bytes_per_report')} bytes in all (413 `attachment_quota_exceeded`), as configured "
    "(ZM_INTAKE_ATTACHMENT_MAX_FILE_BYTES, _MAX_FILES_PER_REPORT, _MAX_BYTES_PER_REPORT). The kind "
    "is recognized from the content, never the name or the declared type: PDF, JPEG, PNG, HEIC, MP3, M4A, "
    "AMR, MP4, DOCX, XLSX (a zip whose [Content_Types].xml says so) or plain UTF-8 text; anything else is "
    "415 `attachment_type_not_allowed` naming the kind found. Identifying metadata is removed before "
    "storage (EXIF and XMP with GPS from JPEG, PNG and HEIC, the author and company of DOCX and XLSX); "
    f"`{KEEP_FIELD}=true` keeps the file as received too. Files are encrypted at rest (a key per file).")


UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {"multipart/form-data": {
    "schema": {
        "type": "object", "required": [FILE_FIELD], "additionalProperties": False,
        "properties": {
            FILE_FIELD: {"type": "string", "format": "binary",
                         "description": "the evidence file (its name is not kept)"},
            KEEP_FIELD: {"type": "boolean", "default": False,
                         "description": "keep the file as received beside the cleaned one (it may show where you "
                                        "were)"},
        },
    },
}}}}


def larger_bodies(settings: IntakeSettings) -> list[tuple[str, int]]:
    """The upload routes' bodies may carry a whole file (the route bounds what it reads itself)."""
    return [(r"/v1/(reports|receipts)/[^/]+/attachments", settings.attachment_max_file_bytes + OVERHEAD_BYTES)]


DOWNLOAD_CONTENT = {media_type: {"schema": {"type": "string", "format": "binary"}}
                    for media_type in evidence.EXTENSIONS}


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request's body as it arrives; a client gone before the end is a 400, not a fault of ours."""
    try:
        async for piece in request.stream():
            yield piece
    except ClientDisconnect:
        raise StarletteHTTPException(400, Message("http.client_went_away")) from None


async def _add(request: Request, own: IntakeResources, find_room: Callable[[UnitOfWork], Awaitable[attachments.Room]],
               uploader: Uploader) -> Attachment:
    runtime = get_runtime(request)
    row = await attachments.add(uow=runtime.uow, store=own.evidence, cipher=runtime.cipher,
                                limits=own.attachment_limits, find_room=find_room, uploader=uploader,
                                body=_body(request), content_type=request.headers.get("content-type"))
    report_id_var.set(row.report_id)
    return row


@router.post(
    "/reports/{report_id}/attachments",
    tags=["evidence"],
    status_code=status.HTTP_201_CREATED,
    response_model=AttachmentOut,
    responses=problems(ReportNotFound, AttachmentCountExceeded, evidence.AttachmentTooLarge, AttachmentQuotaExceeded,
                       evidence.AttachmentTypeNotAllowed, DatabaseUnavailable),
    openapi_extra=UPLOAD_BODY,
    operation_id="post_report_attachment",
    summary="Add an evidence file to a report in your jurisdiction",
    description=LIMITS + " The upload is audited with the officer.",
)
async def post_report_attachment(
    report_id: Annotated[str, Path(max_length=36)], request: Request,
    principal: Annotated[Principal, authorized(SUBMIT_SCOPE)], own: Intake,
) -> AttachmentOut:
    async def room(uow: UnitOfWork) -> attachments.Room:
        return await attachments.room_for_officer(uow=uow, principal=principal, report_id=report_id,
                                                  limits=own.attachment_limits)

    return attachment_out(await _add(request, own, room, Uploader("officer", principal.subject, principal.subject)))


@router.post(
    "/receipts/{receipt_code}/attachments",
    tags=["public"],
    status_code=status.HTTP_201_CREATED,
    response_model=EvidenceReceived,
    responses=problems(ReceiptNotFound, RateLimited, AttachmentCountExceeded, evidence.AttachmentTooLarge,
                       AttachmentQuotaExceeded, evidence.AttachmentTypeNotAllowed, DatabaseUnavailable),
    openapi_extra=UPLOAD_BODY,
    operation_id="post_receipt_attachment",
    summary="Add an evidence file to your report with its receipt code (no token)",
    description=LIMITS + " The answer gives the SHA-256 and size of what was "
    "received (keep them as proof) and nothing else about the report. Rate limited per receipt code, and codes "
    "that do not exist count against the receipt lookup's limit (429 with Retry-After).",
)
async def post_receipt_attachment(
    receipt_code: Annotated[str, Path(max_length=64, examples=["7K3M-Q9TD-2HXA-V5NB"])], request: Request,
    own: Intake,
) -> EvidenceReceived:
    async def room(uow: UnitOfWork) -> attachments.Room:
        return await attachments.room_for_reporter(uow=uow, receipt_code=receipt_code, limits=own.attachment_limits)

    # Not limited per client (a reporter's upload is one request a file), per code with uploads' own bucket.
    with own.receipt_lookup(receipt_code, client=None, per_code=own.attachment_code_limiter):
        row = await _add(request, own, room, Uploader("receipt", attachments.REPORTER, None))
    return EvidenceReceived(sha256=row.received_sha256, size=row.received_size, media_type=row.media_type,
                            metadata_cleaning=cleaning(row), metadata_removed=row.metadata_removed,
                            original_kept=row.original_kept, received_at=row.uploaded_at)


@router.get(
    "/reports/{report_id}/attachments",
    tags=["evidence"],
    response_model=AttachmentList,
    responses=problems(ReportNotFound),
    operation_id="list_report_attachments",
    summary="List a report's evidence files (in your jurisdiction)",
    description="Oldest first, with the hashes of what was received and of what is kept, and how many files and "
    "bytes the report may still take.",
)
async def list_report_attachments(
    report_id: Annotated[str, Path(max_length=36)], uow: UoW,
    principal: Annotated[Principal, authorized(READ_SCOPE)], own: Intake,
) -> AttachmentList:
    rows = await attachments.list_for(uow=uow, principal=principal, report_id=report_id)
    limits = own.attachment_limits
    return AttachmentList(items=[attachment_out(row) for row in rows],
                          files_left=max(0, limits.max_files - len(rows)),
                          bytes_left=max(0, limits.max_report_bytes - sum(row.received_size for row in rows)))


@router.get(
    "/attachments/{attachment_id}",
    tags=["evidence"],
    response_class=StreamingResponse,
    responses={200: {"description": "The file, with `Repr-Digest` (its SHA-256) and `Content-Length`",
                     "content": DOWNLOAD_CONTENT},
               **problems(AttachmentNotFound, OriginalNotKept)},
    operation_id="get_attachment",
    summary="Download an evidence file (audited)",
    description="The file as kept, identifying metadata removed; `original=true` gives the file as received, which "
    "may show where, or who, the reporter is: it needs scope `reports:identity` as well (403 otherwise) and is 404 "
    "`original_not_kept` when there is none. Every download is recorded in the audit trail with the reader before a "
    "byte is sent. Served as an attachment named by its id and kind (the uploaded name is not kept).",
)
async def get_attachment(
    attachment_id: Annotated[str, Path(max_length=36)], request: Request, uow: UoW,
    principal: Annotated[Principal, authorized(READ_SCOPE)], own: Intake,
    original: Annotated[bool, Query(description="the file as received (scope `reports:identity`)")] = False,
) -> StreamingResponse:
    download = await attachments.open_for(uow=uow, store=own.evidence, cipher=get_runtime(request).cipher,
                                          principal=principal, attachment_id=attachment_id, original=original)
    await uow.commit()  # the read is on record before the file leaves
    row = download.attachment
    report_id_var.set(row.report_id)
    name = f"evidence-{row.id}{'-original' if original else ''}.{evidence.EXTENSIONS.get(row.media_type, 'bin')}"
    media_type = "text/plain; charset=utf-8" if row.media_type == evidence.TEXT else row.media_type
    digest = base64.b64encode(bytes.fromhex(download.sha256)).decode()
    return StreamingResponse(download.pieces, media_type=media_type, headers={
        "Content-Length": str(download.size), "Content-Disposition": f'attachment; filename="{name}"',
        "Repr-Digest": f"sha-256=:{digest}:", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"})


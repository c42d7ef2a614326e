"""Routes of the reporter's conversation and its statutory notices (DESIGN.md §4.6): the reporter's,
by receipt code with no token and rate limited as the receipt lookup is; the officers', by report,
in their jurisdiction. Thin: parse, authorize, call conversation.py or notices.py, shape, commit.

The bodies are declared here rather than in schemas.py: they belong to this one concept, as the
routes do (STYLE.md: split by concept)."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from services.intake import conversation, notices
from services.intake.models import Report
from services.intake.resources import Intake, IntakeResources
from services.intake.service import ReceiptNotFound, ReportNotFound
from shared.auth import Principal
from shared.errors import InvalidRequest
from shared.pagination import InvalidCursor
from shared.ratelimit import RateLimited
from shared.schemas import ChinaTime, StrictModel
from shared.web import RuntimeDep, UoW, authorized, problems

router = APIRouter(prefix="/v1")

READ, WRITE = "reports:read", "reports:message"
ReceiptCode = Annotated[str, Path(max_length=64, examples=["7K3M-Q9TD-2HXA-V5NB"])]
ReportId = Annotated[str, Path(max_length=36)]
Cursor = Annotated[str | None, Query(max_length=200)]
Limit = Annotated[int, Query(ge=1, le=200)]
MessageText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1,
                                               max_length=conversation.MAX_CHARACTERS)]
KINDS = ("`supplement` (the reporter adds to the report), `answer` (the reporter answers a question, "
         "`in_reply_to`), `message` (an officer writes), `question` (an officer asks; open until answered), "
         "`acceptance` (the acceptance notice, 受理告知), `result` (the result notice, 结果反馈)")


# --- bodies -------------------------------------------------------------------------------------------


class ReporterMessageIn(StrictModel):
    text: MessageText = Field(description=f"At most {conversation.MAX_CHARACTERS} characters")
    in_reply_to: Annotated[str, StringConstraints(max_length=36)] | None = Field(
        None, description="The id of the officers' question this answers (it is then no longer open)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "补充情况：该笔礼金系2026年3月15日晚在城关镇某酒店交付，当时另有两人在场。", "in_reply_to": None}]})


class OfficerMessageKind(StrEnum):
    """What an officer writes: `message` (留言): a message to the reporter; `question` (询问): a question
    their view shows open until they answer it."""

    message = "message"
    question = "question"


class OfficerMessageIn(StrictModel):
    text: MessageText = Field(description=f"At most {conversation.MAX_CHARACTERS} characters")
    kind: OfficerMessageKind = Field(
        OfficerMessageKind.message,
        description="`message`: a message to the reporter; `question`: a question the reporter's view shows "
                    "open until they answer it")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"text": "请问您所反映的礼金交付时，在场的两人是否愿意配合核实？", "kind": "question"}]})


class NoticeIn(StrictModel):
    kind: notices.NoticeKind = Field(description="`acceptance`: the acceptance notice (受理告知); `result`: the "
                                                 "result notice (结果反馈), after the final verdict")
    text: MessageText = Field(description="The notice as sent: start from the draft "
                                          "(`GET /v1/reports/{id}/notices/{kind}/draft`)")

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "acceptance",
         "text": "举报人：\n\n您于2026年5月6日通过网络举报平台提出的检举控告已收悉。……\n\n特此告知。"}]})


class ReporterMessageOut(BaseModel):
    """A message as the reporter sees it: never which officer wrote it."""

    id: str
    kind: str = Field(description=KINDS)
    author: str = Field(description="`reporter` (you) or `officer` (the office handling the report)")
    text: str
    posted_at: ChinaTime
    in_reply_to: str | None = Field(description="For an answer: the question it answers")
    answered: bool = Field(description="For a question: whether it has been answered")
    read_by_officer: bool = Field(description="For your messages: whether an officer has read it")


class ReceiptMessagePage(BaseModel):
    items: list[ReporterMessageOut] = Field(description="Oldest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")
    open_questions: list[ReporterMessageOut] = Field(
        description=f"The officers' questions not answered yet, oldest first (at most "
                    f"{conversation.OPEN_QUESTIONS_SHOWN}); answer one with `in_reply_to`")


class ReportMessageOut(BaseModel):
    """A message as officers see it: a reporter's says `reporter`, never who they are."""

    id: str
    report_id: str
    kind: str = Field(description=KINDS)
    author: str = Field(description="`reporter` or `officer`")
    posted_by: str | None = Field(description="The officer who wrote it; null for the reporter's")
    text: str
    posted_at: ChinaTime
    in_reply_to: str | None = Field(description="For an answer: the question it answers")
    read_by_officer_at: ChinaTime | None = Field(description="For the reporter's: when an officer first read it")
    read_by_reporter_at: ChinaTime | None = Field(description="For an officer's: when the reporter first read it")
    answered_at: ChinaTime | None = Field(description="For a question: when the reporter first answered it")


class ReportMessagePage(BaseModel):
    items: list[ReportMessageOut] = Field(description="Oldest first")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class NoticeDraftOut(BaseModel):
    kind: str = Field(description="`acceptance` or `result`")
    text: str = Field(description="The notice pre-filled from the report, to edit and post")
    due: date | None = Field(description="The acceptance notice: the last day it is due on (China time)")
    overdue: bool = Field(description="The acceptance notice: its due day has passed and it was not posted")
    posted_at: ChinaTime | None = Field(description="When it was posted (the result notice: for the newest final "
                                                    "verdict); null while it is still to post")
    verdict_version: int | None = Field(description="The result notice: the final verdict's version it is for")


def reporter_view(m: conversation.Shown) -> ReporterMessageOut:
    return ReporterMessageOut(id=m.id, kind=m.kind, author=m.author, text=m.text, posted_at=m.posted_at,
                              in_reply_to=m.in_reply_to, answered=m.answered_at is not None,
                              read_by_officer=m.read_by_officer_at is not None)


def officer_view(m: conversation.Shown) -> ReportMessageOut:
    return ReportMessageOut(id=m.id, report_id=m.report_id, kind=m.kind, author=m.author, posted_by=m.posted_by,
                            text=m.text, posted_at=m.posted_at, in_reply_to=m.in_reply_to,
                            read_by_officer_at=m.read_by_officer_at, read_by_reporter_at=m.read_by_reporter_at,
                            answered_at=m.answered_at)


# --- the reporter, by receipt code ---------------------------------------------------------------------

RECEIPT_LIMITS = ("Rate limited as the receipt lookup is, in the same buckets (429 with Retry-After): per client, "
                  "per code, and for codes that do not exist from all clients together. ")


async def _receipt_report(own: IntakeResources, request: Request, uow: UoW, receipt_code: str) -> Report:
    """The report of `receipt_code`, after the receipt lookup's limits; a code that does not exist
    spends from the bucket all clients share, so guessing through this route is bounded with the lookup."""
    with own.receipt_lookup(receipt_code, client=request.client.host if request.client else "unknown"):
        return await conversation.report_by_receipt(uow=uow, receipt_code=receipt_code)


@router.get(
    "/receipts/{receipt_code}/messages",
    tags=["public"],
    response_model=ReceiptMessagePage,
    responses=problems(ReceiptNotFound, RateLimited, InvalidCursor),
    operation_id="list_receipt_messages",
    summary="Read the conversation about your report with its receipt code (no token)",
    description="The messages between you and the office handling your report, oldest first, and the questions "
    "still waiting for your answer. The office's messages you see here count as read by you. " + RECEIPT_LIMITS,
)
async def list_receipt_messages(receipt_code: ReceiptCode, request: Request, uow: UoW, own: Intake,
                                runtime: RuntimeDep, cursor: Cursor = None, limit: Limit = 50) -> ReceiptMessagePage:
    conversation.check_cursor(cursor)
    report = await _receipt_report(own, request, uow, receipt_code)
    thread = await conversation.read_as_reporter(uow=uow, cipher=runtime.cipher, report=report, cursor=cursor,
                                                 limit=limit)
    await uow.commit()
    return ReceiptMessagePage(items=[reporter_view(m) for m in thread.items], next_cursor=thread.next_cursor,
                              open_questions=[reporter_view(m) for m in thread.open_questions])


@router.post(
    "/receipts/{receipt_code}/messages",
    tags=["public"],
    status_code=status.HTTP_201_CREATED,
    response_model=ReporterMessageOut,
    responses=problems(ReceiptNotFound, RateLimited, InvalidRequest),
    operation_id="post_receipt_message",
    summary="Write to the office handling your report, with its receipt code (no token)",
    description="Add to your report, or answer one of the office's questions (`in_reply_to`: 422 when it names no "
    f"question asked on this report). At most {conversation.MAX_CHARACTERS} characters; kept encrypted. Officers "
    "never see who you are through it. " + RECEIPT_LIMITS + "Besides, each code may post only a few messages a "
    "minute.",
)
async def post_receipt_message(receipt_code: ReceiptCode, body: ReporterMessageIn, request: Request, uow: UoW,
                               own: Intake, runtime: RuntimeDep) -> ReporterMessageOut:
    report = await _receipt_report(own, request, uow, receipt_code)
    own.reporter_message_limiter.check(report.receipt_code_hash)
    posted = await conversation.post_as_reporter(uow=uow, cipher=runtime.cipher, report=report, text=body.text,
                                                 in_reply_to=body.in_reply_to)
    await uow.commit()
    return reporter_view(posted)


# --- officers, by report --------------------------------------------------------------------------------

JURISDICTION = "A report outside your jurisdiction answers 404, as one that does not exist. "


@router.get(
    "/reports/{report_id}/messages",
    tags=["conversation"],
    response_model=ReportMessagePage,
    responses=problems(ReportNotFound, InvalidCursor),
    operation_id="list_report_messages",
    summary="Read the conversation with the reporter (audited)",
    description="Oldest first. The reporter's messages on the page count as read from now on (they leave "
    "`unread_messages` of the report); a reporter's message says `reporter`, never who they are. Each read is "
    "audited with the messages shown. " + JURISDICTION,
)
async def list_report_messages(report_id: ReportId, uow: UoW, runtime: RuntimeDep,
                               principal: Annotated[Principal, authorized(READ)],
                               cursor: Cursor = None, limit: Limit = 50) -> ReportMessagePage:
    items, next_cursor = await conversation.read_as_officer(uow=uow, cipher=runtime.cipher, principal=principal,
                                                            report_id=report_id, cursor=cursor, limit=limit)
    await uow.commit()
    return ReportMessagePage(items=[officer_view(m) for m in items], next_cursor=next_cursor)


@router.post(
    "/reports/{report_id}/messages",
    tags=["conversation"],
    status_code=status.HTTP_201_CREATED,
    response_model=ReportMessageOut,
    responses=problems(ReportNotFound),
    operation_id="post_report_message",
    summary="Write to the reporter, or ask them a question (audited)",
    description="The reporter reads it with the receipt code; a `question` stays in their open questions until they "
    f"answer it. At most {conversation.MAX_CHARACTERS} characters; kept encrypted; audited with its kind and length, "
    "never its text. The statutory notices are posted with `POST /v1/reports/{id}/notices`. " + JURISDICTION,
)
async def post_report_message(report_id: ReportId, body: OfficerMessageIn, uow: UoW, runtime: RuntimeDep,
                              principal: Annotated[Principal, authorized(WRITE)]) -> ReportMessageOut:
    posted = await conversation.post_as_officer(uow=uow, cipher=runtime.cipher, principal=principal,
                                                report_id=report_id, text=body.text,
                                                kind=conversation.Kind(body.kind.value))
    await uow.commit()
    return officer_view(posted)


# --- the statutory notices ---------------------------------------------------------------------------------


@router.get(
    "/reports/{report_id}/notices/{kind}/draft",
    tags=["conversation"],
    response_model=NoticeDraftOut,
    responses=problems(ReportNotFound, notices.NoticeNotDue),
    operation_id="get_notice_draft",
    summary="The acceptance or result notice, pre-filled from the report",
    description="`acceptance`: the acceptance notice (受理告知), due 15 working days after receipt, for named and "
    "anonymous reporters alike. `result`: the result notice (结果反馈) of the newest final verdict: its outcome class "
    "and, where the official was cleared, that they were; never the official's name or the findings (409 "
    "`notice_not_due` before the final verdict). Post it, edited as needed, with `POST /v1/reports/{id}/notices`. "
    + JURISDICTION,
)
async def get_notice_draft(report_id: ReportId, kind: Annotated[notices.NoticeKind, Path(
        description="`acceptance`: the acceptance notice; `result`: the result notice")], uow: UoW,
        principal: Annotated[Principal, authorized(READ)]) -> NoticeDraftOut:
    draft = await notices.draft(uow=uow, principal=principal, report_id=report_id, kind=kind)
    return NoticeDraftOut(kind=draft.kind.value, text=draft.text, due=draft.due, overdue=draft.overdue,
                          posted_at=draft.posted_at, verdict_version=draft.verdict_version)


@router.post(
    "/reports/{report_id}/notices",
    tags=["conversation"],
    status_code=status.HTTP_201_CREATED,
    response_model=ReportMessageOut,
    responses=problems(ReportNotFound, notices.NoticeNotDue, notices.NoticeAlreadyPosted),
    operation_id="post_notice",
    summary="Post the acceptance or result notice to the reporter (audited)",
    description="Posted as a message of its kind, which the reporter reads with the receipt code. Each once: the "
    "acceptance notice once per report (it then leaves `GET /v1/reports?notice_overdue=true`), the result notice "
    "once per final verdict: a correction that supersedes the verdict makes a new one due. 409 `notice_not_due` for a "
    "result notice before the final verdict, `notice_already_posted` for a second one. " + JURISDICTION,
)
async def post_notice(report_id: ReportId, body: NoticeIn, uow: UoW, runtime: RuntimeDep,
                      principal: Annotated[Principal, authorized(WRITE)]) -> ReportMessageOut:
    posted = await notices.post(uow=uow, cipher=runtime.cipher, principal=principal, report_id=report_id,
                                kind=body.kind, text=body.text)
    await uow.commit()
    return officer_view(posted)


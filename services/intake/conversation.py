"""The reporter's conversation (DESIGN.md §4.6): the reporter reads and writes with the receipt code
only; officers in jurisdiction read (which marks the reporter's messages read) and write, and may
ask a question, which the reporter's view shows open until answered. Every text is encrypted at
rest, bound to its column; nothing of a named reporter's identity is in what officers read (a
reporter's message says "reporter", never who). Officers' reads and posts are audited, never with
the text. Services flush; the edge commits."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from sqlalchemy import func, select, update
from sqlalchemy.orm.attributes import set_committed_value

from services.intake import domain
from services.intake.models import Message, Report
from services.intake.service import ReceiptNotFound, ReportNotFound
from shared.auth import Principal
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import InvalidRequest
from shared.messages import Message as Sentence
from shared.pagination import decode_cursor  # a catalogue sentence (models.Message is a conversation's)
from shared.queries import keyset_page, served
from shared.uow import UnitOfWork

BODY_COLUMN = "messages.body_enc"  # the associated data that binds each ciphertext to its column
MAX_CHARACTERS = 5000
OPEN_QUESTIONS_SHOWN = 50  # the reporter's view lists at most this many unanswered questions, oldest first


class Author(StrEnum):
    reporter = "reporter"
    officer = "officer"


class Kind(StrEnum):
    """What a message is. The reporter's: `supplement`, `answer`; an officer's: `message`, `question`,
    and the statutory notices `acceptance` and `result` (notices.py)."""

    supplement = "supplement"
    answer = "answer"
    message = "message"
    question = "question"
    acceptance = "acceptance"
    result = "result"


@dataclass(frozen=True)
class Shown:
    """A message as it is shown: its text decrypted, its author a role (and, for an officer's, who)."""

    id: str
    report_id: str
    kind: str
    author: str
    posted_by: str | None
    text: str
    posted_at: datetime
    in_reply_to: str | None
    read_by_officer_at: datetime | None
    read_by_reporter_at: datetime | None
    answered_at: datetime | None


def shown(cipher: FieldCipher, message: Message) -> Shown:
    return Shown(
        id=message.id, report_id=message.report_id, kind=message.kind, author=message.author,
        posted_by=message.posted_by,
        # A text purged after the retention period (retention.py) is shown empty; the message keeps its place.
        text="" if message.body_enc is None else cipher.decrypt(message.body_enc, column=BODY_COLUMN),
        posted_at=message.posted_at, in_reply_to=message.in_reply_to,
        read_by_officer_at=message.read_by_officer_at, read_by_reporter_at=message.read_by_reporter_at,
        answered_at=message.answered_at,
    )


def new_message(cipher: FieldCipher, report: Report, *, author: Author, kind: Kind, text: str,
                posted_by: str | None = None, in_reply_to: str | None = None,
                notice_key: str | None = None) -> Message:
    """A message of `report`, its text encrypted; the caller adds it to the session."""
    return Message(
        id=str(uuid.uuid4()), report_id=report.id, region_code=report.region_code, author=author.value,
        kind=kind.value, posted_by=posted_by, body_enc=cipher.encrypt(text, column=BODY_COLUMN),
        in_reply_to=in_reply_to, notice_key=notice_key, posted_at=utcnow(),
    )


# --- the reporter, by receipt code --------------------------------------------------------------------


async def report_by_receipt(*, uow: UnitOfWork, receipt_code: str) -> Report:
    """The report this receipt code was given for; 404 (ReceiptNotFound) for any other code."""
    digest = domain.receipt_code_hash(receipt_code[:64])
    report = await uow.session.scalar(select(Report).where(Report.receipt_code_hash == digest))
    if report is None:
        raise ReceiptNotFound(Sentence("intake.receipt_not_found"))
    return report


@dataclass(frozen=True)
class ReporterThread:
    items: list[Shown]
    next_cursor: str | None
    open_questions: list[Shown]


async def read_as_reporter(*, uow: UnitOfWork, cipher: FieldCipher, report: Report, cursor: str | None,
                           limit: int) -> ReporterThread:
    """One page of the conversation of `report` (found by its receipt code), oldest first, and the
    questions still waiting for an answer. The officers' messages on the page are marked read by the
    reporter (officers see when)."""
    page, next_cursor = await _page(uow, report.id, cursor, limit)
    await _mark_read(uow, [m for m in page if m.author == Author.officer and m.read_by_reporter_at is None],
                     "read_by_reporter_at")
    open_questions = list(await uow.session.scalars(
        select(Message).where(Message.report_id == report.id, Message.kind == Kind.question,
                              Message.answered_at.is_(None))
        .order_by(Message.posted_at, Message.id).limit(OPEN_QUESTIONS_SHOWN)))
    return ReporterThread([shown(cipher, m) for m in page], next_cursor, [shown(cipher, m) for m in open_questions])


async def post_as_reporter(*, uow: UnitOfWork, cipher: FieldCipher, report: Report, text: str,
                           in_reply_to: str | None) -> Shown:
    """The message of the reporter of `report` (found by its receipt code): an `answer` to one of the
    officers' questions on it (which is then answered), else a `supplement`. 422 naming `in_reply_to`
    when it is no question asked on this report."""
    kind = Kind.supplement
    if in_reply_to is not None:
        question = await uow.session.scalar(
            select(Message).where(Message.id == in_reply_to, Message.report_id == report.id,
                                  Message.kind == Kind.question).with_for_update())
        if question is None:
            raise InvalidRequest(Sentence("intake.not_a_question"), errors=[
                {"field": "in_reply_to", "message": Sentence("intake.not_a_question_here"), "type": "not_a_question"}])
        kind = Kind.answer
        question.answered_at = question.answered_at or utcnow()
    message = new_message(cipher, report, author=Author.reporter, kind=kind, text=text, in_reply_to=in_reply_to)
    uow.session.add(message)
    await uow.session.flush()
    return shown(cipher, message)


# --- officers, in jurisdiction ------------------------------------------------------------------------


async def served_report(*, uow: UnitOfWork, principal: Principal, report_id: str, lock: bool = False) -> Report:
    """The report when it lies in the principal's jurisdiction; 404 otherwise, as for one that does not exist."""
    stmt = select(Report).where(Report.id == report_id)
    return await served(uow.session, stmt.with_for_update() if lock else stmt, principal,
                        ReportNotFound(Sentence("intake.report_not_found", report_id=report_id)))


async def read_as_officer(*, uow: UnitOfWork, cipher: FieldCipher, principal: Principal, report_id: str,
                          cursor: str | None, limit: int) -> tuple[list[Shown], str | None]:
    """One page of the report's conversation, oldest first; the reporter's messages on it are read from
    now on (they leave the unread counts). The read is audited: who, which report, which messages.
    A cursor this service did not issue is 422 before anything else."""
    check_cursor(cursor)
    report = await served_report(uow=uow, principal=principal, report_id=report_id)
    page, next_cursor = await _page(uow, report.id, cursor, limit)
    newly_read = [m for m in page if m.author == Author.reporter and m.read_by_officer_at is None]
    await _mark_read(uow, newly_read, "read_by_officer_at")
    uow.record_audit(actor=principal.subject, action="report.messages_read", object_type="report",
                     object_id=report.id, details={"shown": [m.id for m in page],
                                                   "newly_read": [m.id for m in newly_read]})
    return [shown(cipher, m) for m in page], next_cursor


async def post_as_officer(*, uow: UnitOfWork, cipher: FieldCipher, principal: Principal, report_id: str,
                          text: str, kind: Kind) -> Shown:
    """An officer's `message` or `question` to the reporter of a report in their jurisdiction, audited
    (the kind and length, never the text)."""
    if kind not in (Kind.message, Kind.question):
        raise ValueError(f"officers post notices through notices.py, not as {kind}")
    report = await served_report(uow=uow, principal=principal, report_id=report_id)
    message = new_message(cipher, report, author=Author.officer, kind=kind, text=text, posted_by=principal.subject)
    uow.session.add(message)
    await uow.session.flush()
    audit_post(uow, principal, message, characters=len(text))
    return shown(cipher, message)


def audit_post(uow: UnitOfWork, principal: Principal, message: Message, *, characters: int) -> None:
    uow.record_audit(actor=principal.subject, action="report.message_posted", object_type="report",
                     object_id=message.report_id, details={"message_id": message.id, "kind": message.kind,
                                                          "characters": characters})


async def unread_counts(*, uow: UnitOfWork, report_ids: list[str]) -> dict[str, int]:
    """For each report, how many of the reporter's messages no officer has read yet (one query)."""
    if not report_ids:
        return {}
    rows = await uow.session.execute(
        select(Message.report_id, func.count())
        .where(Message.report_id.in_(report_ids), Message.author == Author.reporter,
               Message.read_by_officer_at.is_(None))
        .group_by(Message.report_id))
    return {report_id: int(n) for report_id, n in rows}


# --- shared by both sides -----------------------------------------------------------------------------


def check_cursor(cursor: str | None) -> None:
    """422 (InvalidCursor) for a cursor this service did not issue, whatever the report or code: a
    malformed request is refused as such before anything is looked up or spent."""
    if cursor is not None:
        decode_cursor(cursor)


async def _page(uow: UnitOfWork, report_id: str, cursor: str | None, limit: int) -> tuple[list[Message], str | None]:
    return await keyset_page(uow.session, select(Message).where(Message.report_id == report_id),
                             at=Message.posted_at, ident=Message.id, cursor=cursor, limit=limit)


async def _mark_read(uow: UnitOfWork, messages: list[Message],
                     mark: Literal["read_by_officer_at", "read_by_reporter_at"]) -> None:
    """Set the read `mark` to now on `messages` where it is still empty: of two readers at the same
    moment, the first reading is the one kept."""
    if not messages:
        return
    now = utcnow()
    await uow.session.execute(
        update(Message).where(Message.id.in_([m.id for m in messages]), getattr(Message, mark).is_(None))
        .values({mark: now}).execution_options(synchronize_session=False))
    for message in messages:
        set_committed_value(message, mark, now)  # as stored; not a change to write again

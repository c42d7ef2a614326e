"""The statutory notices (受理告知, 结果反馈) delivered in the reporter's conversation (DESIGN.md §4.6).

The acceptance notice is due 15 working days after receipt (the report's `acceptance_notice_due`),
for anonymous reporters too: they read it with the receipt code like anyone. The result notice is
due once intake holds a final verdict, and again after a correction supersedes it. An officer posts
each from a draft pre-filled from the report, written as a petition office writes one: the channel
and day of the report, the outcome class and, where the official was cleared, that they were;
never the official's name or anything of the findings beyond what the receipt already shows."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from services.intake import conversation
from services.intake.models import Message, Report
from services.intake.service import acceptance_notice_overdue
from shared.auth import Principal
from shared.calendar import china_date
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import DomainError
from shared.messages import Message as Sentence  # a catalogue sentence (models.Message is a conversation's)
from shared.uow import UnitOfWork


class NoticeKind(StrEnum):
    """A statutory notice: `acceptance` (受理告知): the acceptance notice, due 15 working days after
    receipt; `result` (结果反馈): the result notice, after the final verdict."""

    acceptance = "acceptance"
    result = "result"


class NoticeNotDue(DomainError):
    code = "notice_not_due"
    status = 409


class NoticeAlreadyPosted(DomainError):
    code = "notice_already_posted"
    status = 409


@dataclass(frozen=True)
class Draft:
    """A notice ready to post: its text as pre-filled, when it is due and whether it is late, and when
    it was posted if it already was (for a result notice: for the newest verdict)."""

    kind: NoticeKind
    text: str
    due: date | None
    overdue: bool
    posted_at: datetime | None
    verdict_version: int | None


# --- the texts ------------------------------------------------------------------------------------------

# How each channel reads in a notice: "您于…{以来信方式}提出的检举控告".
CHANNEL_PHRASES = {
    "letter": "以来信方式",
    "visit": "以来访方式",
    "online": "通过网络举报平台",
    "phone": "通过电话",
    "hotline_12388": "通过12388举报电话",
}

# What each final outcome class tells the reporter. Where a clarification follows (untrue, malicious,
# true with exemption) it says the official was cleared; an unverifiable report is not an untrue one.
OUTCOME_SENTENCES = {
    "true": "经核查，您反映的问题经查属实（含部分属实），本机关已依规依纪依法作出处理。",
    "true_exempted": "经核查，您反映的有关问题经查属实，但相关行为符合容错免责情形。按照“三个区分开来”的要求，"
                     "本机关依规对被反映人予以容错免责，不追究其相关责任，并为其澄清正名。",
    "untrue": "经核查，您反映的问题经查失实。本机关依规为被反映人澄清正名。",
    # The malice kind (诬告陷害, 恶意中伤, 散布谣言) is not kept here, so the sentence names none of them.
    "malicious": "经核查，您反映的问题经查失实，且经认定系故意捏造事实的恶意举报。本机关依规为被反映人澄清正名，"
                 "并依规依纪依法处理恶意举报行为。",
    "inconclusive": "经核查，您反映的问题依据现有证据无法查实，本机关依规予以了结。如您掌握新的事实或证据，"
                    "可通过本渠道补充提供。",
}


def chinese_date(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def _submitted(channel: str, received_on: date) -> str:
    if channel == "transferred":
        return f"您提出、经有关部门于{chinese_date(received_on)}转交本机关办理的检举控告"
    return f"您于{chinese_date(received_on)}{CHANNEL_PHRASES.get(channel, '')}提出的检举控告"


def acceptance_text(*, channel: str, received_on: date, today: date) -> str:
    """The acceptance notice (受理告知书) for a report received on `received_on` by `channel`."""
    return (
        "举报人：\n\n"
        f"{_submitted(channel, received_on)}已收悉。经审查，所反映问题属于本机关受理范围，本机关已依规予以受理，"
        "并将依规依纪依法办理。\n\n"
        "办理期间，如需向您了解情况或请您补充材料，本机关将通过本渠道与您联系，请凭查询码及时查看并答复；"
        "您也可以通过本渠道补充提供有关情况和证据。请妥善保管查询码，切勿告知他人。本机关对举报人信息和举报内容"
        "依规严格保密。\n\n"
        "办理结果将依规通过本渠道向您反馈。\n\n"
        "特此告知。\n\n"
        f"{chinese_date(today)}"
    )


def result_text(*, channel: str, received_on: date, outcome: str, exempted: bool, corrected: bool,
                today: date) -> str:
    """The result notice (处理结果告知书) for the final `outcome` class; `corrected` when a correction
    superseded an earlier verdict (the reporter may have been told of that one)."""
    key = "true_exempted" if outcome == "true" and exempted else outcome
    opening = (f"{_submitted(channel, received_on)}，本机关此前作出的核查结论已依规更正。现将更正后的处理结果"
               "告知如下：" if corrected else
               f"{_submitted(channel, received_on)}，本机关已依规依纪依法办理完毕。现将处理结果告知如下：")
    return (
        "举报人：\n\n"
        f"{opening}\n\n"
        f"{OUTCOME_SENTENCES[key]}\n\n"
        "如您对处理结果有异议，可依规向本机关或上一级纪检监察机关反映。感谢您对纪检监察工作的信任和支持。\n\n"
        "特此告知。\n\n"
        f"{chinese_date(today)}"
    )


# --- drafts, posting, the overdue count ------------------------------------------------------------------


def _result_key(version: int) -> str:
    return f"result:{version}"


async def draft(*, uow: UnitOfWork, principal: Principal, report_id: str, kind: NoticeKind) -> Draft:
    """The notice of `kind` pre-filled from a report in the principal's jurisdiction (404 elsewhere);
    409 NoticeNotDue for a result notice before the final verdict."""
    report = await conversation.served_report(uow=uow, principal=principal, report_id=report_id)
    today = china_date(utcnow())
    received_on = china_date(report.received_at)
    if kind is NoticeKind.acceptance:
        due = report.acceptance_notice_due
        return Draft(kind, acceptance_text(channel=report.channel, received_on=received_on, today=today), due,
                     overdue=report.acceptance_notice_at is None and due is not None and due < today,
                     posted_at=report.acceptance_notice_at, verdict_version=None)
    _require_verdict(report)
    assert report.outcome is not None
    posted = await uow.session.scalar(select(Message.posted_at).where(
        Message.report_id == report.id, Message.notice_key == _result_key(report.verdict_version)))
    text = result_text(channel=report.channel, received_on=received_on, outcome=report.outcome,
                       exempted=report.fault_tolerance_exempted, corrected=report.verdict_version > 1, today=today)
    return Draft(kind, text, due=None, overdue=False, posted_at=posted, verdict_version=report.verdict_version)


async def post(*, uow: UnitOfWork, cipher: FieldCipher, principal: Principal, report_id: str, kind: NoticeKind,
               text: str) -> conversation.Shown:
    """Post the notice of `kind` as a message of that kind, once: the acceptance notice once per report,
    the result notice once per final verdict (a corrected verdict is owed its own). 409 NoticeNotDue
    for a result notice before the final verdict, NoticeAlreadyPosted for a second one. Audited."""
    report = await conversation.served_report(uow=uow, principal=principal, report_id=report_id, lock=True)
    if kind is NoticeKind.acceptance:
        if report.acceptance_notice_at is not None:
            raise NoticeAlreadyPosted(Sentence("intake.acceptance_notice_posted",
                                               posted_on=china_date(report.acceptance_notice_at)))
        key = "acceptance"
    else:
        _require_verdict(report)
        key = _result_key(report.verdict_version)
        if await uow.session.scalar(select(Message.id).where(Message.report_id == report.id,
                                                             Message.notice_key == key)) is not None:
            raise NoticeAlreadyPosted(Sentence("intake.result_notice_posted", version=report.verdict_version))
    message = conversation.new_message(cipher, report, author=conversation.Author.officer,
                                       kind=conversation.Kind(kind.value), text=text, posted_by=principal.subject,
                                       notice_key=key)
    if kind is NoticeKind.acceptance:
        report.acceptance_notice_at = message.posted_at
    uow.session.add(message)
    try:
        await uow.session.flush()
    except IntegrityError as exc:  # another officer's, committed between our read and this write
        raise NoticeAlreadyPosted(Sentence("intake.notice_posted_meanwhile")) from exc
    conversation.audit_post(uow, principal, message, characters=len(text))
    return conversation.shown(cipher, message)


def _require_verdict(report: Report) -> None:
    if report.verdict_version < 1 or report.outcome is None:
        raise NoticeNotDue(Sentence("intake.result_notice_not_due"))


# The gauge of late acceptance notices intake registers on /metrics (services/intake/resources.py).
OVERDUE_GAUGE = "zm_acceptance_notices_overdue_messages"


async def count_overdue(connection: AsyncConnection) -> int:
    """How many reports' acceptance notices are late today (China time), in every region."""
    return int(await connection.scalar(
        select(func.count()).select_from(Report).where(acceptance_notice_overdue(china_date(utcnow())))) or 0)

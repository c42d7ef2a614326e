"""Storing prepared submissions: a batch in one unit of work, each with its own answer -- a new
report (flagged and linked as a repeat where it is one), the first answer to its Idempotency-Key,
or its own problem. The caller (writer.py) commits."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select

from services.intake.models import Base, IdempotencyRecord
from services.intake.repeats import ShingleCache, earlier_reports
from services.intake.service import IntakeRules, NewReport, Submission
from shared.crypto import FieldCipher
from shared.db import utcnow
from shared.errors import DomainError
from shared.events import ReportSubmittedV1
from shared.messages import Message
from shared.uow import UnitOfWork

# The tables themselves, for Core bulk inserts (no ORM objects on the submission path).
REPORTS, ALLEGATIONS, IDEMPOTENCY_KEYS = (
    Base.metadata.tables[name] for name in ("reports", "allegations", "idempotency_keys")
)


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    status = 422



async def replay(
    *, uow: UnitOfWork, cipher: FieldCipher, principal_subject: str, key: str, fingerprint: str, rules: IntakeRules
) -> Submission | None:
    """The first answer to this Idempotency-Key, if it is still kept; 422 if the body differs."""
    record = await uow.session.get(IdempotencyRecord, (principal_subject, key))
    if record is None or record.created_at < utcnow() - rules.idempotency_retention:
        return None
    answer = _replayed(cipher, record.request_hash, record.response_enc, fingerprint)
    if isinstance(answer, DomainError):
        raise answer
    return answer



async def submit_many(
    *,
    uow: UnitOfWork,
    cipher: FieldCipher,
    rules: IntakeRules,
    reports: list[NewReport],
    cache: ShingleCache | None = None,
) -> list[Submission | DomainError]:
    """Store prepared submissions in the unit of work, in order, as if one after the other; the
    caller commits. Each gets its own answer: a new report, the first answer to its
    Idempotency-Key, or its own error.

    Core bulk inserts (one statement per table for the whole batch) and one outbox row per report.
    A report is compared with the reports stored before it and with those earlier in the batch.
    """
    cache = cache if cache is not None else ShingleCache()
    answers: list[Submission | DomainError | None] = [None] * len(reports)
    now = utcnow()
    first_answers = await _first_answers(uow, reports)
    writing: list[int] = []
    holders: dict[tuple[str, str], int] = {}  # an Idempotency-Key used in this batch -> the report that stores it
    replays: dict[int, int] = {}  # a retry in this batch -> the report whose answer it repeats
    for i, new in enumerate(reports):
        if new.idempotency_key is not None:
            id_key = (new.principal, new.idempotency_key)
            record = first_answers.get(id_key)
            if record is not None and record.created_at >= now - rules.idempotency_retention:
                answers[i] = _replayed(cipher, record.request_hash, record.response_enc, new.fingerprint)
                continue
            if id_key in holders:
                first = reports[holders[id_key]]
                if first.fingerprint != new.fingerprint:
                    answers[i] = _key_reused()
                else:
                    replays[i] = holders[id_key]
                continue
            holders[id_key] = i
        writing.append(i)
    if writing:
        await _store(uow, cipher, rules, [reports[i] for i in writing], now, cache, answers, writing)
    for i, first_i in replays.items():
        first_answer = answers[first_i]
        assert isinstance(first_answer, Submission)
        answers[i] = dataclasses.replace(first_answer, replayed=True)
    return [a for a in answers if a is not None]


async def _first_answers(uow: UnitOfWork, reports: list[NewReport]) -> dict[tuple[str, str], Any]:
    keys = {r.idempotency_key for r in reports if r.idempotency_key is not None}
    if not keys:
        return {}
    principals = {r.principal for r in reports if r.idempotency_key is not None}
    t = IDEMPOTENCY_KEYS.c
    rows = await uow.session.execute(
        select(t.principal, t.key, t.request_hash, t.response_enc, t.created_at)
        .where(t.key.in_(sorted(keys)), t.principal.in_(sorted(principals)))
    )
    return {(row.principal, row.key): row for row in rows}


def _key_reused() -> IdempotencyKeyReused:
    return IdempotencyKeyReused(
        Message("intake.key_reused"),
        errors=[{"field": "Idempotency-Key", "message": Message("intake.key_used_for_other_body"),
                 "type": "idempotency_key_reused"}],
    )


def _replayed(cipher: FieldCipher, request_hash: str, response_enc: str, fingerprint: str | None
              ) -> Submission | DomainError:
    if request_hash != fingerprint:
        return _key_reused()
    first = json.loads(cipher.decrypt(response_enc, column="idempotency_keys.response_enc"))
    return Submission(**first, replayed=True)


async def _store(
    uow: UnitOfWork, cipher: FieldCipher, rules: IntakeRules, reports: list[NewReport], now: datetime,
    cache: ShingleCache, answers: list[Submission | DomainError | None], positions: list[int],
) -> None:
    earlier = await earlier_reports(uow, {r.row["subject_key"] for r in reports}, cache)
    report_rows: list[dict[str, Any]] = []
    allegation_rows: list[dict[str, Any]] = []
    idempotency_rows: list[dict[str, Any]] = []
    for position, new in zip(positions, reports, strict=True):
        row = new.row
        repeats = earlier.assess(report_id=new.report_id, subject_key=row["subject_key"],
                                 blind_index=row["reporter_blind_index"], shingles=new.shingles,
                                 threshold=rules.duplicate_similarity)
        flags, links = list(repeats.flags), list(repeats.linked_report_ids)
        report_rows.append({**row, "flags": flags, "flagged": bool(flags), "linked_report_ids": links})
        allegation_rows.extend(new.allegations)
        submission = Submission(new.report_id, new.receipt_code, "received", flags, links)
        answers[position] = submission
        if new.idempotency_key is not None:
            first = {"report_id": submission.report_id, "receipt_code": submission.receipt_code,
                     "status": submission.status, "flags": flags, "linked_report_ids": links}
            idempotency_rows.append({
                "principal": new.principal, "key": new.idempotency_key, "request_hash": new.fingerprint,
                "report_id": new.report_id, "created_at": now,
                "response_enc": cipher.encrypt(json.dumps(first), column="idempotency_keys.response_enc"),
            })
        uow.raise_event(_submitted_event(row, new.allegations, flags, links), key=new.report_id)
    session = uow.session
    await session.execute(insert(REPORTS), report_rows)
    await session.execute(insert(ALLEGATIONS), allegation_rows)
    if idempotency_rows:
        # Expired answers go: they hold receipt codes, which are otherwise kept only as hashes.
        await session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < now - rules.idempotency_retention))
        await session.execute(insert(IDEMPOTENCY_KEYS), idempotency_rows)
    for new in reports:
        cache.put(new.report_id, new.shingles)


def _submitted_event(
    row: dict[str, Any], allegations: list[dict[str, Any]], flags: list[str], links: list[str]
) -> ReportSubmittedV1:
    # From plain values in one pass of Pydantic's core: cheaper than building each model in Python.
    return ReportSubmittedV1.model_validate({
        "report_id": row["id"],
        "channel": row["channel"],
        "subject": {"name": row["subject_name"], "position": row["subject_position"],
                    "organization": row["subject_organization"], "region_code": row["region_code"]},
        "allegations": [
            {"allegation_id": a["id"], "category": a["category"], "summary": a["summary"],
             "occurred_on": a["occurred_on"], "place": a["place"]}
            for a in allegations
        ],
        "region_code": row["region_code"],
        "anonymous": row["anonymous"],
        "reporter_blind_index": row["reporter_blind_index"],
        "linked_report_ids": links,
        "flags": flags,
        "received_at": row["received_at"],
    })

"""Storing prepared submissions: a batch in one unit of work, each with its own answer -- a new
report (flagged and linked as a repeat where it is one), the first answer to its Idempotency-Key,
or its own problem. The caller (writer.py) commits."""

from __future__ import annotations

import dataclasses
import json
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, insert, literal, select
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.ext.asyncio import AsyncSession

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
    if session.get_bind().dialect.name == "postgresql":
        await _insert_postgresql(session, report_rows, allegation_rows)
    else:
        await session.execute(insert(REPORTS), report_rows)
        await session.execute(insert(ALLEGATIONS), allegation_rows)
    if idempotency_rows:
        # Expired answers go: they hold receipt codes, which are otherwise kept only as hashes.
        await session.execute(delete(IdempotencyRecord).where(
            IdempotencyRecord.created_at < now - rules.idempotency_retention))
        await session.execute(insert(IDEMPOTENCY_KEYS), idempotency_rows)
    for new in reports:
        cache.put(new.report_id, new.shingles)


# The batch's reports and their allegations in one statement and one round trip on PostgreSQL: each table's
# rows as one JSON array, turned into rows by the server (json_populate_recordset), the allegations' foreign
# key checked at the end of the statement, when the reports are there. Through asyncpg itself, in the unit of
# work's transaction: SQLAlchemy's executemany spent more CPU on the rows than the database did (#22).
_REPORT_COLUMNS = tuple(c.name for c in REPORTS.columns if c.name not in (
    "verdict_id", "verdict_approved_by", "verdict_approver_level", "acceptance_notice_at", "personal_data_purged_at"))
_ALLEGATION_COLUMNS = tuple(c.name for c in ALLEGATIONS.columns)


def _listed(columns: tuple[str, ...]) -> str:
    return ", ".join(f'"{c}"' for c in columns)


# (S608: the names put into it are the models' columns, not input.)
_INSERT_REPORTS_AND_ALLEGATIONS = (
    f"WITH written AS (INSERT INTO reports ({_listed(_REPORT_COLUMNS)}) SELECT {_listed(_REPORT_COLUMNS)} "  # noqa: S608
    f"FROM json_populate_recordset(NULL::reports, $1::json)) "
    f"INSERT INTO allegations ({_listed(_ALLEGATION_COLUMNS)}) SELECT {_listed(_ALLEGATION_COLUMNS)} "
    f"FROM json_populate_recordset(NULL::allegations, $2::json)"
)


def _json_value(value: object) -> str:
    if isinstance(value, datetime | date):
        return value.isoformat()  # an aware datetime (UTC) or a day: what timestamptz and date read
    raise TypeError(f"{type(value).__name__} is not stored as JSON")


async def _insert_postgresql(session: AsyncSession, reports: list[dict[str, Any]],
                             allegations: list[dict[str, Any]]) -> None:
    import asyncpg  # here, not at the top: a process on SQLite never loads the driver (~2 MB, #22 idle)

    connection = await session.connection()
    driver = (await connection.get_raw_connection()).driver_connection
    assert driver is not None
    if not driver.is_in_transaction():  # the unit of work's transaction begins with its first statement
        await session.execute(select(literal(1)))
    rows = [{c: row.get(c, False if c == "fault_tolerance_exempted" else None) for c in _REPORT_COLUMNS}
            for row in reports]
    try:
        await driver.execute(_INSERT_REPORTS_AND_ALLEGATIONS,
                             json.dumps(rows, ensure_ascii=False, default=_json_value),
                             json.dumps(allegations, ensure_ascii=False, default=_json_value))
    except asyncpg.PostgresError as exc:  # as SQLAlchemy would have raised it: the writer tells data from outage
        error = IntegrityError if (exc.sqlstate or "").startswith("23") else DBAPIError
        raise error(_INSERT_REPORTS_AND_ALLEGATIONS, None, exc) from exc  # type: ignore[arg-type]
    except asyncpg.InterfaceError as exc:  # the connection went away
        raise InterfaceError(_INSERT_REPORTS_AND_ALLEGATIONS, None, exc) from exc  # type: ignore[arg-type]


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

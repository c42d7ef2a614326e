"""Tamper-evident audit trail: each record carries the hash of the one before it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import dialect_name, utcnow
from shared.models import AuditRecord

GENESIS = "0" * 64
# Any constant works: it names the advisory lock that serializes appends on PostgreSQL.
_AUDIT_LOCK_KEY = 7_245_001


def record_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    canonical = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


def _hashed_fields(rec: AuditRecord) -> dict[str, Any]:
    return {
        "seq": rec.seq,
        "at": rec.at.isoformat(),
        "actor": rec.actor,
        "action": rec.action,
        "object_type": rec.object_type,
        "object_id": rec.object_id,
        "reason": rec.reason,
        "details": rec.details,
    }


async def append(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    object_type: str,
    object_id: str,
    reason: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditRecord:
    """Append one record in the caller's transaction (it commits or rolls back with the change)."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    last = (
        await session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))
    ).first()
    seq, prev_hash = (last[0] + 1, last[1]) if last else (1, GENESIS)
    rec = AuditRecord(
        seq=seq,
        at=utcnow(),
        actor=actor,
        action=action,
        object_type=object_type,
        object_id=object_id,
        reason=reason,
        details=details or {},
        prev_hash=prev_hash,
        hash="",
    )
    rec.hash = record_hash(prev_hash, _hashed_fields(rec))
    session.add(rec)
    await session.flush()
    return rec


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    records_checked: int
    first_broken_seq: int | None = None
    problem: str | None = None


async def verify_chain(session: AsyncSession, *, batch: int = 1000) -> ChainReport:
    """Walk the chain in order and report the first record whose link or content was altered."""
    prev_hash, expected_seq, checked = GENESIS, 1, 0
    while True:
        rows = (
            await session.scalars(
                select(AuditRecord).where(AuditRecord.seq >= expected_seq).order_by(AuditRecord.seq).limit(batch)
            )
        ).all()
        if not rows:
            return ChainReport(valid=True, records_checked=checked)
        for rec in rows:
            if rec.seq != expected_seq:
                return ChainReport(False, checked, expected_seq, f"record {expected_seq} is missing")
            if rec.prev_hash != prev_hash:
                return ChainReport(False, checked, rec.seq, "link to the previous record is broken")
            if record_hash(prev_hash, _hashed_fields(rec)) != rec.hash:
                return ChainReport(False, checked, rec.seq, "record content does not match its hash")
            prev_hash, expected_seq, checked = rec.hash, expected_seq + 1, checked + 1

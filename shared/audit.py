"""Tamper-evident audit trail: each record carries a keyed MAC over itself and the MAC before it.

The MAC key lives outside the database (a file or Secret, `audit_keys_file`), so whoever can write
the table but not read the key cannot rewrite a record and compute the chain again: the first
record changed no longer matches its MAC. Each record names the key that MACed it, so the key can
be rotated. Records written before keyed MACs existed (no key id) carry a plain SHA-256 link and
are checked as such.

Against someone who has both the table and the key, or who cuts off the newest records, the chain
head is anchored outside the database: each service publishes a signed `audit.anchored.v1` (its
last sequence number and head MAC) on a schedule and after every identity release, and the other
services keep what they receive. `verify_chain` with those anchors names a truncated tail (the
chain ends before a sequence number someone else saw) and a rechained one (the record an anchor
names no longer carries the anchored MAC).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NotRequired, TypedDict, Unpack

from sqlalchemy import insert, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from shared.crypto import create_exclusively
from shared.db import dialect_name, utcnow
from shared.models import AuditRecord

GENESIS = "0" * 64
# Any constant works: it names the advisory lock that serializes appends on PostgreSQL.
_AUDIT_LOCK_KEY = 7_245_001
_INSERT = insert(AuditRecord.metadata.tables[AuditRecord.__tablename__])
_INSERTED = ("seq", "at", "actor", "action", "object_type", "object_id", "reason", "details", "prev_hash", "hash",
             "key_id")


class AuditKeys:
    """The MAC keys of the audit chain by key id, and the one new records use."""

    def __init__(self, keys: dict[str, bytes], active_key_id: str, retired: dict[str, int] | None = None) -> None:
        if active_key_id not in keys:
            raise ValueError(f"active audit key {active_key_id!r} is not among the keys")
        if any(len(k) < 32 for k in keys.values()):
            raise ValueError("audit keys must be at least 32 bytes")
        if active_key_id in (retired or {}):
            raise ValueError(f"the active audit key {active_key_id!r} cannot be retired")
        self._keys = dict(keys)
        self.active = active_key_id
        # A key kept only to check the records it MACed, up to this sequence number: a record after it
        # claiming that key is refused, so an old key that leaked cannot rechain what came later.
        self._retired = dict(retired or {})

    @classmethod
    def from_file(cls, path: Path) -> AuditKeys:
        """`{"active": "a2", "keys": {"a1": "<base64>", "a2": "<base64>"}, "retired": {"a1": 1841}}`."""
        doc = json.loads(path.read_text())
        return cls({kid: base64.b64decode(k) for kid, k in doc["keys"].items()}, doc["active"],
                   {kid: int(seq) for kid, seq in doc.get("retired", {}).items()})

    @staticmethod
    def generate_file(path: Path) -> bool:
        """Write a fresh key to `path` unless it exists. True if this call wrote it."""
        doc = {"active": "a1", "keys": {"a1": base64.b64encode(secrets.token_bytes(32)).decode()}}
        return create_exclusively(path, json.dumps(doc).encode(), mode=0o600)

    def knows(self, key_id: str) -> bool:
        return key_id in self._keys

    def retired_before(self, key_id: str, seq: int) -> bool:
        """Whether `key_id` was retired before record `seq` (so it cannot have MACed it)."""
        return key_id in self._retired and seq > self._retired[key_id]

    def mac(self, key_id: str, prev_mac: str, fields: dict[str, Any]) -> str:
        return hmac.new(self._keys[key_id], (prev_mac + _canonical(fields)).encode(), hashlib.sha256).hexdigest()


def ensure_development_audit_keys(path: Path, *, allowed: bool) -> None:
    if path.exists():
        return
    if not allowed:
        raise RuntimeError(f"no audit MAC keys at {path}")
    AuditKeys.generate_file(path)


def _canonical(fields: dict[str, Any]) -> str:
    return json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def record_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    """The plain SHA-256 link of records written before keyed MACs."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode()).hexdigest()


class AuditEntry(TypedDict):
    """What a caller says about one act: who did what to which object, why, with what details."""

    actor: str
    action: str
    object_type: str
    object_id: str
    reason: NotRequired[str | None]
    details: NotRequired[dict[str, Any] | None]


def _fields(rec: AuditRecord) -> dict[str, Any]:
    fields = {
        "seq": rec.seq,
        "at": rec.at.isoformat(),
        "actor": rec.actor,
        "action": rec.action,
        "object_type": rec.object_type,
        "object_id": rec.object_id,
        "reason": rec.reason,
        "details": rec.details,
    }
    if rec.key_id is not None:
        fields["key_id"] = rec.key_id
    return fields


async def append(session: AsyncSession, *, keys: AuditKeys, **entry: Unpack[AuditEntry]) -> AuditRecord:
    """Append one record in the caller's transaction (it commits or rolls back with the change)."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _AUDIT_LOCK_KEY})
    last = (
        await session.execute(select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))
    ).first()
    seq, prev_mac = (last[0] + 1, last[1]) if last else (1, GENESIS)
    rec = AuditRecord(
        seq=seq,
        at=utcnow(),
        actor=entry["actor"],
        action=entry["action"],
        object_type=entry["object_type"],
        object_id=entry["object_id"],
        reason=entry.get("reason"),
        details=entry.get("details") or {},
        prev_hash=prev_mac,
        hash="",
        key_id=keys.active,
    )
    rec.hash = keys.mac(keys.active, prev_mac, _fields(rec))
    # A Core INSERT rather than the ORM's add and flush, which cost several times the statement on
    # every audited request: the record returned is the one written, not attached to the session.
    await session.execute(_INSERT, {c: getattr(rec, c) for c in _INSERTED})
    return rec


async def head(session: AsyncSession) -> tuple[int, str] | None:
    """The chain's last sequence number and MAC (None while it is empty): what an anchor holds."""
    row = (await session.execute(
        select(AuditRecord.seq, AuditRecord.hash).order_by(AuditRecord.seq.desc()).limit(1))).first()
    return None if row is None else (int(row[0]), str(row[1]))


@dataclass(frozen=True)
class Anchor:
    """A chain head this service published, as another service (`held_by`) kept it."""

    held_by: str
    seq: int
    head_mac: str


@dataclass(frozen=True)
class ChainReport:
    valid: bool
    records_checked: int
    first_broken_seq: int | None = None
    problem: str | None = None
    last_seq: int = 0
    anchors_checked: list[dict[str, Any]] = field(default_factory=list)


async def verify_chain(
    session: AsyncSession, keys: AuditKeys, *, anchors: Iterable[Anchor] = (), batch: int = 1000,
) -> ChainReport:
    """Walk the chain in order and report the first record whose link or content was altered; then
    hold the chain against the anchors others kept: a sequence number beyond its end means the tail
    was cut off, an anchored record whose MAC differs means the chain was computed again."""
    anchors = list(anchors)  # read twice below: a one-pass iterable would leave the second loop nothing
    prev, expected_seq, checked = GENESIS, 1, 0
    macs_wanted = {a.seq for a in anchors}
    macs: dict[int, str] = {}
    while True:
        rows = (
            await session.scalars(
                select(AuditRecord).where(AuditRecord.seq >= expected_seq).order_by(AuditRecord.seq).limit(batch)
            )
        ).all()
        if not rows:
            break
        for rec in rows:
            if rec.seq != expected_seq:
                return ChainReport(False, checked, expected_seq, f"record {expected_seq} is missing")
            if rec.prev_hash != prev:
                return ChainReport(False, checked, rec.seq, "link to the previous record is broken")
            if rec.key_id is None:
                expected = record_hash(prev, _fields(rec))
            elif keys.retired_before(rec.key_id, rec.seq):
                return ChainReport(False, checked, rec.seq, f"record MACed with the retired key {rec.key_id!r}")
            elif keys.knows(rec.key_id):
                expected = keys.mac(rec.key_id, prev, _fields(rec))
            else:
                return ChainReport(False, checked, rec.seq, f"record MACed with an unknown key {rec.key_id!r}")
            if not hmac.compare_digest(expected, rec.hash):
                return ChainReport(False, checked, rec.seq, "record content does not match its MAC")
            if rec.seq in macs_wanted:
                macs[rec.seq] = rec.hash
            prev, expected_seq, checked = rec.hash, expected_seq + 1, checked + 1
    last_seq = expected_seq - 1
    breaks: list[tuple[int, str]] = []  # (the first record affected, what is wrong)
    by_holder: dict[str, dict[str, Any]] = {}
    for anchor in sorted(anchors, key=lambda a: a.seq):
        summary = by_holder.setdefault(anchor.held_by, {"held_by": anchor.held_by, "anchors": 0, "newest_seq": 0,
                                                        "status": "ok"})
        summary["anchors"] += 1
        summary["newest_seq"] = max(summary["newest_seq"], anchor.seq)
        if anchor.seq > last_seq:
            problem = f"truncated: the chain ends at {last_seq}, {anchor.held_by} holds an anchor at {anchor.seq}"
            breaks.append((last_seq + 1, problem))
        elif not hmac.compare_digest(macs.get(anchor.seq, ""), anchor.head_mac):
            problem = f"rewritten: record {anchor.seq} no longer carries the MAC {anchor.held_by} holds"
            breaks.append((anchor.seq, problem))
        else:
            continue
        if summary["status"] == "ok":
            summary["status"] = problem
    results = list(by_holder.values())
    if breaks:
        first_seq, problem = min(breaks)
        return ChainReport(False, checked, first_seq, problem, last_seq, results)
    return ChainReport(True, checked, last_seq=last_seq, anchors_checked=results)

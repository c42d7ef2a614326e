"""The audit trail proves itself: the security review's two attacks on a copy of intake's database --
an edited record with the later hashes computed again, and the newest record (an identity release)
deleted -- are named by `verify`; so are a rechain by someone holding the MAC key and a cut-off tail,
through the anchors the other services kept."""

import hashlib
import json

import pytest
from sqlalchemy import delete, select, update

from shared.audit import GENESIS, Anchor, AuditKeys, append, head, record_hash, verify_chain
from shared.db import utcnow
from shared.models import AuditRecord
from tests.keys import AUDIT_KEYS


@pytest.fixture
async def sessions(new_database, sessions_for):
    """Sessions on a fresh intake database, whose audit trail is empty."""
    return sessions_for(await new_database("intake"))


async def chain_of(sessions, n=5, keys=AUDIT_KEYS):
    for i in range(1, n + 1):
        async with sessions() as s, s.begin():
            await append(s, keys=keys, actor=f"officer-{i}", action="reporter.identity_released",
                         object_type="report", object_id=f"r-{i}", reason="核查需要", details={"n": i})


def fields(rec):
    out = {"seq": rec.seq, "at": rec.at.isoformat(), "actor": rec.actor, "action": rec.action,
           "object_type": rec.object_type, "object_id": rec.object_id, "reason": rec.reason, "details": rec.details}
    if rec.key_id is not None:
        out["key_id"] = rec.key_id
    return out


async def rechain(sessions, mac):
    """What an intruder with write access does after editing: compute every link again with `mac`."""
    async with sessions() as s, s.begin():
        prev = GENESIS
        for rec in (await s.scalars(select(AuditRecord).order_by(AuditRecord.seq))).all():
            rec.prev_hash, rec.hash = prev, mac(prev, fields(rec))
            prev = rec.hash


async def test_an_edited_record_with_the_chain_computed_again_without_the_key_is_named(sessions):
    await chain_of(sessions)
    async with sessions() as s, s.begin():
        await s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(actor="someone-else"))
    canonical = lambda f: json.dumps(f, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)  # noqa: E731
    await rechain(sessions, lambda prev, f: hashlib.sha256((prev + canonical(f)).encode()).hexdigest())
    async with sessions() as s:
        report = await verify_chain(s, AUDIT_KEYS)
    assert not report.valid and report.first_broken_seq == 1  # not even the first record carries a true MAC
    assert "MAC" in report.problem


async def test_an_edit_rechained_with_the_key_is_named_by_the_anchor_another_service_kept(sessions):
    await chain_of(sessions)
    async with sessions() as s:
        seq, mac = await head(s)
    anchors = [Anchor(held_by="verification", seq=seq, head_mac=mac)]
    async with sessions() as s:
        assert (await verify_chain(s, AUDIT_KEYS, anchors=anchors)).valid
    async with sessions() as s, s.begin():
        await s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(reason="例行查阅"))
    await rechain(sessions, lambda prev, f: AUDIT_KEYS.mac("a1", prev, f))
    async with sessions() as s:
        assert (await verify_chain(s, AUDIT_KEYS)).valid  # the links alone cannot tell
        report = await verify_chain(s, AUDIT_KEYS, anchors=anchors)
    assert not report.valid and report.first_broken_seq == 5 and report.problem.startswith("rewritten")
    assert "verification" in report.problem


async def test_a_deleted_newest_record_is_named_by_the_anchor_another_service_kept(sessions):
    await chain_of(sessions)
    async with sessions() as s:
        seq, mac = await head(s)
    async with sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.seq == seq))
    async with sessions() as s:
        assert (await verify_chain(s, AUDIT_KEYS)).valid  # a shorter chain is still a chain
        report = await verify_chain(s, AUDIT_KEYS, anchors=[Anchor("clarification", seq, mac)])
    assert not report.valid and report.first_broken_seq == 5 and report.last_seq == 4
    assert report.problem == "truncated: the chain ends at 4, clarification holds an anchor at 5"


async def test_a_rotated_key_verifies_old_and_new_records_and_an_unknown_key_breaks_the_chain(sessions):
    old = AuditKeys({"a1": b"1" * 32}, "a1")
    await chain_of(sessions, n=2, keys=old)
    rotated = AuditKeys({"a1": b"1" * 32, "a2": b"2" * 32}, "a2")
    async with sessions() as s, s.begin():
        await append(s, keys=rotated, actor="x", action="y", object_type="z", object_id="1")
    async with sessions() as s:
        report = await verify_chain(s, rotated)
        kids = (await s.scalars(select(AuditRecord.key_id).order_by(AuditRecord.seq))).all()
    assert report.valid and report.records_checked == 3 and kids == ["a1", "a1", "a2"]
    async with sessions() as s:
        report = await verify_chain(s, AuditKeys({"a2": b"2" * 32}, "a2"))
    assert not report.valid and report.first_broken_seq == 1 and "unknown key" in report.problem


async def test_records_from_before_keyed_macs_still_verify_by_their_plain_links(sessions):
    async with sessions() as s, s.begin():
        rec = AuditRecord(seq=1, at=utcnow(), actor="a", action="b",
                          object_type="c", object_id="d", reason=None, details={}, prev_hash=GENESIS, hash="")
        rec.hash = record_hash(GENESIS, fields(rec))
        s.add(rec)
    async with sessions() as s, s.begin():
        await append(s, keys=AUDIT_KEYS, actor="e", action="f", object_type="g", object_id="h")
    async with sessions() as s:
        assert (await verify_chain(s, AUDIT_KEYS)).records_checked == 2


async def test_a_cut_chain_that_grew_again_is_still_named_by_the_older_anchor(sessions):
    """Found in review: checking only the newest anchor lets a cut pass once the chain regrows past it."""
    await chain_of(sessions, n=10)
    async with sessions() as s:
        anchors = [Anchor("verification", *await head(s))]
    async with sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.seq >= 8))
    for i in range(5):  # ordinary work goes on, and the schedule anchors the new head
        async with sessions() as s, s.begin():
            await append(s, keys=AUDIT_KEYS, actor="officer-x", action="case.opened", object_type="case",
                         object_id=f"c-{i}")
    async with sessions() as s:
        anchors.append(Anchor("verification", *await head(s)))
        report = await verify_chain(s, AUDIT_KEYS, anchors=anchors)
    assert not report.valid and report.first_broken_seq == 10 and report.problem.startswith("rewritten: record 10")
    assert report.anchors_checked == [{"held_by": "verification", "anchors": 2, "newest_seq": 12,
                                       "status": report.problem}]


async def test_a_retired_key_cannot_have_macd_a_later_record(sessions):
    old = AuditKeys({"a1": b"1" * 32}, "a1")
    await chain_of(sessions, n=3, keys=old)
    # a1 leaked after being retired at record 3: an intruder appends with it.
    async with sessions() as s, s.begin():
        await append(s, keys=old, actor="intruder", action="reporter.identity_released", object_type="report",
                     object_id="r-x")
    current = AuditKeys({"a1": b"1" * 32, "a2": b"2" * 32}, "a2", retired={"a1": 3})
    async with sessions() as s:
        report = await verify_chain(s, current)
    assert not report.valid and report.first_broken_seq == 4 and "retired key 'a1'" in report.problem


async def test_records_are_sealed_over_the_same_bytes_as_ever(sessions):
    """The chain's format is fixed: a record is MACed over the previous MAC and its fields as sorted,
    compact JSON, written out here by hand, so records sealed before any change still verify."""
    import hmac

    key = b"k" * 32
    keys = AuditKeys({"k1": key}, "k1")
    async with sessions() as s, s.begin():
        first = await append(s, keys=keys, actor="officer-1", action="case.concluded", object_type="case",
                             object_id="c-1", reason="核查完毕", details={"verdict": "untrue"})
        second = await append(s, keys=keys, actor="officer-2", action="case.opened", object_type="case",
                              object_id="c-2")
    sealed = [
        GENESIS + '{"action":"case.concluded","actor":"officer-1","at":"' + first.at.isoformat() + '",'
        '"details":{"verdict":"untrue"},"key_id":"k1","object_id":"c-1","object_type":"case","reason":"核查完毕",'
        '"seq":1}',
        first.hash + '{"action":"case.opened","actor":"officer-2","at":"' + second.at.isoformat() + '",'
        '"details":{},"key_id":"k1","object_id":"c-2","object_type":"case","reason":null,"seq":2}',
    ]
    assert [first.hash, second.hash] == [hmac.new(key, text.encode(), hashlib.sha256).hexdigest() for text in sealed]
    assert second.prev_hash == first.hash

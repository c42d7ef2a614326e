"""What the audit trail promises beyond the attacks of test_audit_chain.py, held where the mutation harness
(tools/mutate.py, issue #24) found nothing holding it: the whole report verify gives for each kind of break
(the seq it names, how many records held before it, the words an office reads), every holder's anchors,
the key file written for its owner alone and read back with its retired keys, and appends that take turns."""

import asyncio
import base64
import hashlib
import json
import os

import pytest
from sqlalchemy import delete, insert, select, text, update

from shared.audit import (
    GENESIS,
    Anchor,
    AuditKeys,
    ChainReport,
    append,
    ensure_development_audit_keys,
    head,
    verify_chain,
)
from shared.db import dialect_name, utcnow
from shared.models import AuditRecord
from tests.keys import AUDIT_KEYS
from tests.shared.test_audit_chain import chain_of, fields

KEY_1, KEY_2 = b"1" * 32, b"2" * 32


@pytest.fixture
async def sessions(new_database, sessions_for):
    """Sessions on a fresh intake database, whose audit trail is empty."""
    return sessions_for(await new_database("intake"))


async def verify(sessions, keys=AUDIT_KEYS, **kw):
    async with sessions() as s:
        return await verify_chain(s, keys, **kw)


async def anchor(sessions, held_by):
    async with sessions() as s:
        newest = await head(s)
    assert newest is not None
    return Anchor(held_by, *newest)


# --- the key file ---------------------------------------------------------------------------------

def test_a_generated_key_file_is_readable_by_its_owner_alone_and_reads_back_as_the_active_key(tmp_path):
    path = tmp_path / "audit-keys.json"
    umask = os.umask(0)  # so the mode asked for is the mode written
    try:
        assert AuditKeys.generate_file(path) is True
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o600
    written = path.read_bytes()
    assert AuditKeys.generate_file(path) is False and path.read_bytes() == written  # a restart keeps the key
    keys = AuditKeys.from_file(path)
    key = base64.b64decode(json.loads(written)["keys"]["a1"])
    assert keys.active == "a1" and keys.knows("a1") and not keys.retired_before("a1", 10**9)
    assert keys.mac("a1", GENESIS, {"seq": 1}) == AuditKeys({"k": key}, "k").mac("k", GENESIS, {"seq": 1})


def test_a_key_file_with_a_retired_key_refuses_that_key_after_its_last_record(tmp_path):
    path = tmp_path / "audit-keys.json"
    path.write_text(json.dumps({"active": "a2", "retired": {"a1": 1841},
                                "keys": {"a1": base64.b64encode(KEY_1).decode(),
                                         "a2": base64.b64encode(KEY_2).decode()}}))
    keys = AuditKeys.from_file(path)
    assert keys.active == "a2" and keys.knows("a1")
    assert not keys.retired_before("a1", 1841) and keys.retired_before("a1", 1842)
    assert not keys.retired_before("a2", 10**9)


@pytest.mark.parametrize(("keys", "active", "retired", "problem"), [
    ({"a1": KEY_1}, "a2", None, "active audit key 'a2' is not among the keys"),
    ({"a1": KEY_1, "a2": b"2" * 31}, "a1", None, "audit keys must be at least 32 bytes"),
    ({"a1": KEY_1}, "a1", {"a1": 3}, "the active audit key 'a1' cannot be retired"),
], ids=["active-missing", "short-key", "active-retired"])
def test_keys_that_cannot_serve_are_refused_with_what_is_wrong_with_them(keys, active, retired, problem):
    with pytest.raises(ValueError) as refused:
        AuditKeys(keys, active, retired)
    assert str(refused.value) == problem


def test_outside_development_a_missing_audit_key_file_stops_the_start_and_names_it(tmp_path):
    path = tmp_path / "keys" / "audit-keys.json"
    with pytest.raises(RuntimeError) as refused:
        ensure_development_audit_keys(path, allowed=False)
    assert str(path) in str(refused.value) and not path.exists()


def test_in_development_a_missing_audit_key_file_is_made_once_and_then_kept(tmp_path):
    path = tmp_path / "keys" / "audit-keys.json"
    ensure_development_audit_keys(path, allowed=True)
    written = path.read_bytes()
    assert AuditKeys.from_file(path).active == "a1"
    ensure_development_audit_keys(path, allowed=False)  # present: nothing to refuse, nothing replaced
    ensure_development_audit_keys(path, allowed=True)
    assert path.read_bytes() == written


# --- what verify reports --------------------------------------------------------------------------

async def test_an_empty_chain_has_no_head_and_a_grown_one_has_its_newest_record(sessions):
    async with sessions() as s:
        assert await head(s) is None
    await chain_of(sessions, n=3)
    async with sessions() as s:
        newest = await s.scalar(select(AuditRecord.hash).where(AuditRecord.seq == 3))
        assert await head(s) == (3, newest)


async def test_a_record_from_before_keyed_macs_is_checked_over_its_content(sessions):
    """Its plain link is SHA-256 over the previous link and the record's fields as sorted, compact JSON,
    written out here by hand: an edit to such a record is named like any other."""
    prev = GENESIS
    async with sessions() as s, s.begin():
        for seq in (1, 2):
            rec = AuditRecord(seq=seq, at=utcnow(), actor="officer-1", action="reporter.identity_released",
                              object_type="report", object_id=f"r-{seq}", reason="核查需要", details={},
                              prev_hash=prev, hash="")
            canonical = json.dumps(fields(rec), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
            rec.hash = prev = hashlib.sha256((prev + canonical).encode()).hexdigest()
            s.add(rec)
    assert await verify(sessions) == ChainReport(True, 2, last_seq=2)
    async with sessions() as s, s.begin():
        await s.execute(update(AuditRecord).where(AuditRecord.seq == 2).values(reason="例行查阅"))
    assert await verify(sessions) == ChainReport(False, 1, 2, "record content does not match its MAC")


async def test_an_edited_record_is_named_by_its_seq_after_the_records_that_held(sessions):
    await chain_of(sessions)
    async with sessions() as s, s.begin():
        await s.execute(update(AuditRecord).where(AuditRecord.seq == 3).values(actor="someone-else"))
    assert await verify(sessions) == ChainReport(False, 2, 3, "record content does not match its MAC")


async def test_a_deleted_record_is_named_as_missing_after_the_records_that_held(sessions):
    await chain_of(sessions)
    async with sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
    assert await verify(sessions) == ChainReport(False, 2, 3, "record 3 is missing")


async def test_a_deleted_record_with_the_later_ones_renumbered_is_named_by_the_broken_link(sessions):
    """Closing the gap a deleted identity release leaves does not hide it: the record moved into its
    place links to the MAC of the deleted one."""
    await chain_of(sessions)
    async with sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
        for seq in (4, 5):
            await s.execute(update(AuditRecord).where(AuditRecord.seq == seq).values(seq=seq - 1))
    assert await verify(sessions) == ChainReport(False, 2, 3, "link to the previous record is broken")


async def test_a_record_macd_with_a_key_retired_before_it_is_named(sessions):
    old = AuditKeys({"a1": KEY_1}, "a1")
    await chain_of(sessions, n=4, keys=old)
    current = AuditKeys({"a1": KEY_1, "a2": KEY_2}, "a2", retired={"a1": 3})
    assert await verify(sessions, current) == ChainReport(False, 3, 4, "record MACed with the retired key 'a1'")


async def test_a_record_macd_with_a_key_this_service_does_not_hold_is_named(sessions):
    await chain_of(sessions, n=2, keys=AuditKeys({"a1": KEY_1}, "a1"))
    report = await verify(sessions, AuditKeys({"a2": KEY_2}, "a2"))
    assert report == ChainReport(False, 0, 1, "record MACed with an unknown key 'a1'")


async def test_an_intact_chain_reports_its_end_and_each_holders_anchors(sessions):
    await chain_of(sessions, n=2)
    anchors = [await anchor(sessions, "verification")]
    await chain_of(sessions, n=2)
    anchors.append(await anchor(sessions, "clarification"))
    await chain_of(sessions, n=1)
    anchors.append(await anchor(sessions, "verification"))
    assert await verify(sessions, anchors=anchors) == ChainReport(True, 5, last_seq=5, anchors_checked=[
        {"held_by": "verification", "anchors": 2, "newest_seq": 5, "status": "ok"},
        {"held_by": "clarification", "anchors": 1, "newest_seq": 4, "status": "ok"}])


async def test_a_cut_tail_is_named_though_an_older_anchor_still_holds(sessions):
    await chain_of(sessions, n=3)
    anchors = [await anchor(sessions, "clarification")]
    await chain_of(sessions, n=2)
    anchors.append(await anchor(sessions, "verification"))
    async with sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.seq == 5))
    cut = "truncated: the chain ends at 4, verification holds an anchor at 5"
    assert await verify(sessions, anchors=anchors) == ChainReport(False, 4, 5, cut, 4, [
        {"held_by": "clarification", "anchors": 1, "newest_seq": 3, "status": "ok"},
        {"held_by": "verification", "anchors": 1, "newest_seq": 5, "status": cut}])


async def test_anchors_handed_over_once_through_are_all_checked(sessions):
    await chain_of(sessions, n=3)
    cut_off = await anchor(sessions, "verification")
    async with sessions() as s, s.begin():
        await s.execute(delete(AuditRecord).where(AuditRecord.seq == 3))
    report = await verify(sessions, anchors=iter([cut_off]))
    assert not report.valid and report.problem == "truncated: the chain ends at 2, verification holds an anchor at 3"


async def test_a_chain_whose_rows_are_stored_out_of_order_still_verifies(sessions):
    """The first record restored after a slip (the same row, stored again) sits last in the table, and a
    database that has analyzed the table reads it in stored order unless asked for the chain's."""
    await chain_of(sessions)
    async with sessions() as s, s.begin():
        first = (await s.execute(select(AuditRecord.__table__).where(AuditRecord.seq == 1))).mappings().one()
        await s.execute(delete(AuditRecord).where(AuditRecord.seq == 1))
        await s.execute(insert(AuditRecord).values({k: v for k, v in first.items() if k != "id"}))
    async with sessions() as s, s.begin():
        await s.execute(text("ANALYZE"))
    assert await verify(sessions) == ChainReport(True, 5, last_seq=5)


# --- appends take turns ---------------------------------------------------------------------------

async def test_an_append_waits_for_another_still_open_and_links_to_its_record(sessions):
    """PostgreSQL (SQLite writes one transaction at a time): two officers acting at once get consecutive
    records, the second linked to the first, not a duplicate sequence number refused at commit."""
    async with sessions() as s:
        if dialect_name(s) != "postgresql":
            pytest.skip("SQLite writes one transaction at a time")

    async def second_officer():
        async with sessions() as s, s.begin():
            return await append(s, keys=AUDIT_KEYS, actor="officer-2", action="case.opened", object_type="case",
                                object_id="c-2")

    async with sessions() as s, s.begin():
        first = await append(s, keys=AUDIT_KEYS, actor="officer-1", action="reporter.identity_released",
                             object_type="report", object_id="r-1")
        second = asyncio.create_task(second_officer())
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        async with sessions() as watch:
            while True:
                waiting = await watch.scalar(text("SELECT count(*) FROM pg_stat_activity "
                                                  "WHERE wait_event_type = 'Lock' AND datname = current_database()"))
                await watch.rollback()  # pg_stat_activity is read once per transaction
                if waiting:
                    break
                assert loop.time() < deadline and not second.done(), "the second append never waited"
                await asyncio.sleep(0.01)
    later = await second
    assert (first.seq, later.seq, later.prev_hash) == (1, 2, first.hash)
    assert await verify(sessions) == ChainReport(True, 2, last_seq=2)

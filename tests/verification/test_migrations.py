"""Upgrading a verification database that already holds cases: who recorded what is not forgotten."""

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.verification.app import SERVICE
from shared.db import UTCDateTime
from shared.migrate import upgrade

MIGRATIONS = SERVICE.migrations_dir


@pytest.fixture
async def database_before_recordings(database_at):
    """A verification database at the revision before the ledger of recordings existed."""
    return await database_at("verification", "verification_0003")


async def test_the_upgrade_remembers_who_recorded_on_existing_cases_even_replaced_findings(
        database_before_recordings, engine_for):
    """The case shows inv-wang's findings and conclusion and inv-chen's malice assessment; the audit
    trail also names inv-li, whose findings inv-wang replaced. All three are in the ledger afterwards."""
    engine = engine_for(database_before_recordings)
    at = datetime(2026, 11, 20, 9, 30, tzinfo=UTC)
    json, moment = sa.JSON, UTCDateTime
    cases = sa.table("cases", *(sa.column(c) for c in (
        "id", "report_id", "status", "region_code", "channel", "subject_name", "subject_position",
        "subject_organization", "anonymous", "verification_due", "fault_tolerance_exempted")),
        sa.column("report_received_at", moment), sa.column("opened_at", moment), sa.column("updated_at", moment),
        sa.column("linked_report_ids", json), sa.column("signals", json), sa.column("malice_assessment", json))
    allegations = sa.table("case_allegations", *(sa.column(c) for c in (
        "id", "case_id", "allegation_id", "position", "category", "summary", "finding", "finding_recorded_by")),
        sa.column("finding_recorded_at", moment))
    verdicts = sa.table("verdicts", *(sa.column(c) for c in (
        "id", "case_id", "report_id", "version", "state", "verdict", "fault_tolerance_exempted", "concluded_by")),
        sa.column("concluded_at", moment), sa.column("refuted_allegation_ids", json),
        sa.column("rationale", json), sa.column("findings_snapshot", json))
    audit = sa.table("audit_records", *(sa.column(c) for c in (
        "seq", "actor", "action", "object_type", "object_id", "prev_hash", "hash")),
        sa.column("at", moment), sa.column("details", json))
    async with engine.begin() as conn:
        await conn.execute(sa.insert(cases).values(
            id="c-1", report_id="r-1", status="awaiting_approval", region_code="330502", channel="online",
            subject_name="王建国", subject_position="局长", subject_organization="某局", anonymous=False,
            report_received_at=at, opened_at=at, updated_at=at, linked_report_ids=[], signals={},
            verification_due=at.date(), fault_tolerance_exempted=False,
            malice_assessment={"facts_invented": True, "recorded_by": "inv-chen"}))
        await conn.execute(sa.insert(allegations).values(
            id="a-1", case_id="c-1", allegation_id="r-1-a0", position=0, category="bribery", summary="收受礼金",
            finding="unsubstantiated", finding_recorded_by="inv-wang", finding_recorded_at=at))
        await conn.execute(sa.insert(verdicts).values(
            id="v-1", case_id="c-1", report_id="r-1", version=1, state="pending_approval", verdict="malicious",
            fault_tolerance_exempted=False, refuted_allegation_ids=[], rationale=[], findings_snapshot={},
            concluded_by="inv-wang", concluded_at=at))
        for seq, actor in ((1, "inv-li"), (2, "inv-wang")):  # inv-wang replaced inv-li's findings
            await conn.execute(sa.insert(audit).values(
                seq=seq, at=at, actor=actor, action="findings.recorded", object_type="case", object_id="c-1",
                details={}, prev_hash="0" * 64, hash=str(seq) * 64))
    await engine.dispose()  # the old release's connections are closed before the upgrade runs

    await asyncio.to_thread(upgrade, MIGRATIONS, database_before_recordings, "verification_0004")

    engine = engine_for(database_before_recordings)
    async with engine.connect() as conn:
        rows = {tuple(row) for row in await conn.execute(sa.text(
            "SELECT case_id, act, recorded_by FROM case_recordings"))}
    assert rows == {("c-1", "findings", "inv-li"), ("c-1", "findings", "inv-wang"),
                    ("c-1", "malice_assessment", "inv-chen"), ("c-1", "conclusion", "inv-wang")}

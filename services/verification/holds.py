"""What keeps a report's personal data at intake from being purged, as verification sees it (DESIGN.md
§4.6, retention; shared/holds.py says why intake asks): a case still under way -- the first one, or the
successor an approved correction opened -- a correction waiting for its decision, or a final verdict newer
than the one intake recorded. Read only; only intake's service credential may ask."""

from __future__ import annotations

from sqlalchemy import select

from services.verification.domain import CaseStatus
from services.verification.models import Case, Correction, VerdictRecord
from shared.holds import Hold, HoldReason, holds_router
from shared.uow import UnitOfWork


async def holds_on(uow: UnitOfWork, *, report_id: str, verdict_version: int) -> list[Hold]:
    """Everything here that depends on the report (intake holding its verdict `verdict_version`), in a
    fixed order: the unknown report, the open case, the pending correction, a newer final verdict."""
    current = await uow.session.scalar(
        select(Case).where(Case.report_id == report_id, Case.status != CaseStatus.superseded.value))
    if current is None:
        return [Hold(reason=HoldReason.report_unknown, object_id=report_id)]
    found: list[Hold] = []
    if current.status != CaseStatus.final.value:
        found.append(Hold(reason=HoldReason.case_open, object_id=current.id, status=current.status))
    pending = await uow.session.scalars(
        select(Correction).where(Correction.report_id == report_id, Correction.status == "pending")
        .order_by(Correction.requested_at, Correction.id))
    found += [Hold(reason=HoldReason.correction_pending, object_id=c.id, status=c.status) for c in pending]
    newest = await uow.session.scalar(
        select(VerdictRecord).where(VerdictRecord.report_id == report_id, VerdictRecord.state == "final")
        .order_by(VerdictRecord.version.desc()).limit(1))
    if newest is not None and newest.version > verdict_version:
        # Intake has not applied the newest conclusion yet: its retention period starts later.
        found.append(Hold(reason=HoldReason.verdict_not_applied, object_id=newest.id, status=newest.state))
    return found


router = holds_router(holds_on, what_holds=(
    "the report's current case is not final (`case_open`: still under way, or the successor of an approved "
    "correction), a correction is waiting for its decision (`correction_pending`), verification has a newer "
    "final verdict than `verdict_version` (`verdict_not_applied`) or knows no case of the report "
    "(`report_unknown`)."))

"""Identity custody: who may read a reporter's identity, and how that is asked for, decided and used.

The identity is released only (a) to credit_blacklist's own service credential, for the final,
approved malicious verdict intake recorded from a verified event -- the name and ID number, which a
listing needs, and nothing else; or (b) to an officer through an identity-access request that a
custodian (scope `identity:custody`, municipal or higher, not the requester, serving the report's
region) approved: once, within `release_hours`. Every request, decision and release is audited.
The rules themselves are in domain.py; services flush, the edge commits.
"""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from sqlalchemy import or_, select, update

from services.intake import domain
from services.intake.models import IdentityAccessRequest, Report
from services.intake.schemas import ReporterIdentity
from services.intake.service import ReportNotFound
from shared.auth import Principal
from shared.calendar import china_date, china_time
from shared.crypto import FieldCipher
from shared.db import in_region, utcnow
from shared.errors import Conflict, Forbidden, NotFound
from shared.messages import Message, Term
from shared.queries import keyset_page, within_days
from shared.uow import UnitOfWork
from shared.vocabulary import at_least

LISTING_CALLER = "credit_blacklist"


class IdentityReleaseRefused(Forbidden):
    code = "identity_release_refused"


class IdentityReleaseDeferred(Conflict):
    code = "identity_release_deferred"


class AccessRequestNotFound(NotFound):
    code = "identity_request_not_found"


class AccessDecisionRefused(Forbidden):
    code = "identity_decision_refused"


class AccessRequestDecided(Conflict):
    code = "identity_request_already_decided"


def _decrypt(report: Report, cipher: FieldCipher, fields: tuple[str, ...], released_under: str
             ) -> ReporterIdentity:
    def field(name: str) -> str | None:
        stored = getattr(report, f"reporter_{name}_enc") if name in fields else None
        return None if stored is None else cipher.decrypt(stored, column=f"reports.reporter_{name}_enc")

    return ReporterIdentity(report_id=report.id, anonymous=report.anonymous, name=field("name"),
                            id_number=field("id_number"), phone=field("phone"), address=field("address"),
                            released_under=released_under)


def _released_fields(report: Report, fields: tuple[str, ...]) -> list[str]:
    return [name for name in fields if getattr(report, f"reporter_{name}_enc") is not None]


async def _report(uow: UnitOfWork, report_id: str, principal: Principal | None) -> Report:
    report = await uow.session.get(Report, report_id)
    if report is None or (principal is not None and not principal.serves(report.region_code)):
        raise ReportNotFound(Message("intake.report_not_found", report_id=report_id))
    return report


def _refuse_purged(report: Report) -> None:
    """403 `identity_purged` once the retention period ended and the identity was purged (retention.py):
    there is nothing left to release, and no request is spent on it."""
    if report.personal_data_purged_at is not None:
        raise IdentityReleaseRefused(Message("intake.identity_purged",
                                             purged_on=china_date(report.personal_data_purged_at).isoformat()),
                                     rule="identity_purged")


# --- (a) to credit_blacklist, for a listing ------------------------------------------------------------


async def release_for_listing(
    *, uow: UnitOfWork, cipher: FieldCipher, report_id: str, verdict_id: str, version: int,
) -> ReporterIdentity:
    """The name and ID number of the reporter, for the credit_blacklist listing that the final,
    approved malicious verdict `verdict_id` (at `version`) decides -- if intake recorded just that."""
    report = await _report(uow, report_id, None)
    _refuse_purged(report)
    recorded = domain.RecordedVerdict(
        version=report.verdict_version, verdict_id=report.verdict_id, outcome=report.outcome,
        approved_by=report.verdict_approved_by,
        approver_at_least_municipal=(report.verdict_approver_level is not None
                                     and at_least(report.verdict_approver_level, domain.CUSTODIAN_MIN_LEVEL)),
    )
    refusal = domain.listing_refusal(recorded, verdict_id=verdict_id, version=version)
    if refusal is not None:
        deferred = refusal.rule in ("verdict_not_recorded", "verdict_superseded")
        raise (IdentityReleaseDeferred if deferred else IdentityReleaseRefused).because(refusal)
    uow.record_audit(
        actor=f"service:{LISTING_CALLER}", action="reporter.identity_released", object_type="report",
        object_id=report.id, reason=f"credit blacklist listing for the final malicious verdict {verdict_id}",
        details={"fields": _released_fields(report, domain.LISTING_FIELDS), "verdict_id": verdict_id,
                 "verdict_version": version, "approved_by": report.verdict_approved_by},
    )
    uow.anchor_audit()  # the release is anchored elsewhere before anyone could cut it off
    return _decrypt(report, cipher, domain.LISTING_FIELDS, f"listing:{verdict_id}")


# --- (b) to an officer, through an approved request ----------------------------------------------------


async def file_request(*, uow: UnitOfWork, principal: Principal, report_id: str, reason: str) -> IdentityAccessRequest:
    """An officer asks to read the reporter of one report in their jurisdiction; a custodian decides."""
    report = await _report(uow, report_id, principal)
    request = IdentityAccessRequest(
        id=str(uuid.uuid4()), report_id=report.id, region_code=report.region_code, requested_by=principal.subject,
        requester_org_level=principal.org_level, reason=reason, requested_at=utcnow(), status="pending",
    )
    uow.session.add(request)
    uow.record_audit(actor=principal.subject, action="identity_request.filed", object_type="identity_request",
                     object_id=request.id, reason=reason, details={"report_id": report.id})
    await uow.session.flush()
    return request


async def get_request(*, uow: UnitOfWork, principal: Principal, request_id: str, for_update: bool = False
                      ) -> IdentityAccessRequest:
    """The request, if its report lies in the principal's jurisdiction and they may see it: a
    custodian or auditor sees every request there, an officer only their own."""
    request = await uow.session.get(IdentityAccessRequest, request_id, with_for_update=for_update)
    if request is None or not principal.serves(request.region_code) or not _may_see(principal, request):
        raise AccessRequestNotFound(Message("intake.identity_request_not_found", request_id=request_id))
    return request


def _may_see(principal: Principal, request: IdentityAccessRequest) -> bool:
    return bool(principal.scopes & {"identity:custody", "audit:read"}) or request.requested_by == principal.subject


async def decide(
    *, uow: UnitOfWork, principal: Principal, request_id: str, approve: bool, reason: str, release_hours: int,
) -> IdentityAccessRequest:
    """A custodian approves (readable once, for `release_hours`) or refuses a pending request."""
    request = await get_request(uow=uow, principal=principal, request_id=request_id, for_update=True)
    refusal = domain.decision_refusal(
        requested_by=request.requested_by, custodian=principal.subject,
        custodian_at_least_municipal=principal.at_least(domain.CUSTODIAN_MIN_LEVEL))
    if refusal is not None:
        raise AccessDecisionRefused.because(refusal)
    if request.status != "pending":
        raise AccessRequestDecided(Message("intake.identity_request_decided",
                                           status=Term("request_status", request.status)), status_now=request.status)
    now = utcnow()
    request.status = "approved" if approve else "refused"
    request.decided_by, request.decider_org_level, request.decided_at = principal.subject, principal.org_level, now
    request.decision_reason = reason
    request.expires_at = now + timedelta(hours=release_hours) if approve else None
    uow.record_audit(actor=principal.subject, action=f"identity_request.{request.status}",
                     object_type="identity_request", object_id=request.id, reason=reason,
                     details={"report_id": request.report_id, "requested_by": request.requested_by,
                              "org_level": principal.org_level,
                              "expires_at": None if request.expires_at is None else china_time(request.expires_at)})
    await uow.session.flush()
    return request


async def release_to_officer(
    *, uow: UnitOfWork, cipher: FieldCipher, principal: Principal, report_id: str, request_id: str | None,
) -> ReporterIdentity:
    """The reporter, for the officer whose approved request names this report; the request is spent."""
    report = await _report(uow, report_id, principal)
    _refuse_purged(report)
    request = None if request_id is None else await uow.session.scalar(
        select(IdentityAccessRequest).where(IdentityAccessRequest.id == request_id,
                                            IdentityAccessRequest.report_id == report.id))
    now = utcnow()
    state = None if request is None else domain.AccessRequestState(request.requested_by, request.status,
                                                                    request.expires_at)
    refusal = domain.release_refusal(state, reader=principal.subject, now=now)
    if refusal is not None:
        raise IdentityReleaseRefused.because(refusal)
    assert request is not None
    # Spent in one conditional statement: of two reads racing with the same request, one wins.
    spent = await uow.session.execute(
        update(IdentityAccessRequest)
        .where(IdentityAccessRequest.id == request.id, IdentityAccessRequest.status == "approved",
               IdentityAccessRequest.expires_at > now)
        .values(status="released", released_at=now)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        raise IdentityReleaseRefused(Message("intake.identity_request_used"),
                                     rule="request_released")
    every_field = ("name", "id_number", "phone", "address")
    uow.record_audit(actor=principal.subject, action="reporter.identity_released", object_type="report",
                     object_id=report.id, reason=request.reason,
                     details={"fields": _released_fields(report, every_field), "identity_request_id": request.id,
                              "approved_by": request.decided_by, "anonymous": report.anonymous})
    uow.anchor_audit()
    return _decrypt(report, cipher, every_field, f"identity_request:{request.id}")


async def list_requests(
    *, uow: UnitOfWork, principal: Principal, report_id: str | None, officer: str | None, status: str | None,
    requested_from: date | None, requested_to: date | None, cursor: str | None, limit: int,
) -> tuple[list[IdentityAccessRequest], str | None]:
    """Requests in the principal's jurisdiction, oldest first: by report, by officer (who filed or
    decided them) and by period; an officer without custody or audit scope sees only their own."""
    t = IdentityAccessRequest
    stmt = select(t).where(in_region(t.region_code, principal.region),
                           *within_days(t.requested_at, requested_from, requested_to))
    if not principal.scopes & {"identity:custody", "audit:read"}:
        stmt = stmt.where(t.requested_by == principal.subject)
    if report_id is not None:
        stmt = stmt.where(t.report_id == report_id)
    if officer is not None:
        stmt = stmt.where(or_(t.requested_by == officer, t.decided_by == officer))
    now = utcnow()
    if status == "expired":
        stmt = stmt.where(t.status == "approved", t.expires_at <= now)
    elif status == "approved":
        stmt = stmt.where(t.status == "approved", t.expires_at > now)
    elif status is not None:
        stmt = stmt.where(t.status == status)
    return await keyset_page(uow.session, stmt, at=t.requested_at, ident=t.id, cursor=cursor, limit=limit)


def effective_status(request: IdentityAccessRequest) -> str:
    return domain.effective_status(
        domain.AccessRequestState(request.requested_by, request.status, request.expires_at), utcnow())

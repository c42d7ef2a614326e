"""Consent and methods: the official's answer, which opens or closes the clarification, and the plan
of methods, scope and mandatory grounds. Services write what they changed (store.save); the edge commits."""

from __future__ import annotations

from services.clarification import domain, store
from services.clarification.domain import ClarificationStatus
from services.clarification.models import Clarification
from services.clarification.schemas import ConsentIn, PlanIn
from services.clarification.service import close_as, plausible, require
from shared.auth import Principal
from shared.calendar import china_date
from shared.db import utcnow
from shared.messages import Message
from shared.uow import UnitOfWork


async def record_consent(*, uow: UnitOfWork, clarification: Clarification, principal: Principal,
                         body: ConsentIn) -> Clarification:
    """Record the official's answer: consent sets the clarification in progress, a refusal closes it."""
    require(clarification, ClarificationStatus.pending_consent, doing=Message("doing.record_consent"))
    now = utcnow()
    if body.given_at is not None:
        plausible("given_at", china_date(body.given_at), follows=clarification.opened_at,
                  event=Message("event.clarification_opened"), now=now)
    clarification.consent = body.consent
    clarification.consent_recorded_by = principal.subject
    clarification.consent_given_at = body.given_at or now
    clarification.updated_at = now
    uow.record_audit(actor=principal.subject, action="consent.recorded", object_type="clarification",
                     object_id=clarification.id, reason=body.notes or None, details={"consent": body.consent})
    if body.consent:
        clarification.status = ClarificationStatus.in_progress.value
    else:
        close_as(uow, clarification, "declined", now)
    await store.save(uow, clarification)
    return clarification


async def set_plan(*, uow: UnitOfWork, clarification: Clarification, principal: Principal, body: PlanIn
                   ) -> Clarification:
    """Choose the methods (with the written clarification they require), the scope and further grounds."""
    require(clarification, ClarificationStatus.pending_consent, ClarificationStatus.in_progress,
            doing=Message("doing.change_methods"))
    methods = domain.required_methods(body.methods)
    clarification.methods = sorted(m.value for m in methods)
    if body.scope is not None:
        clarification.scope = body.scope.value
    if body.grounds is not None:
        clarification.grounds = sorted(set(clarification.grounds) | {g.value for g in body.grounds})
        clarification.mandatory = domain.mandatory(clarification.grounds)
    clarification.updated_at = utcnow()
    uow.record_audit(actor=principal.subject, action="plan.recorded", object_type="clarification",
                     object_id=clarification.id, details=body.model_dump(mode="json"))
    await store.save(uow, clarification)
    return clarification

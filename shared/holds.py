"""Whether a report's personal data must still be kept (DESIGN.md §4.6, retention), as verification and
credit_blacklist answer intake at `GET /v1/retention-holds`: the reasons, the answer's shape, and the one
caller allowed to ask.

Intake purges a reporter's identity, evidence files and messages a configured period after the report's
conclusion, never while something elsewhere depends on them. It asks each service at purge time instead
of keeping a copy of their state from events: verification publishes nothing when a correction is
requested, and blacklist.events say nothing of a pending objection, repair or revocation, so a copy would
miss exactly what must stop a purge. Asking is fail safe as well: a service that does not answer holds
the purge (intake retries next round)."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from shared.auth import ServiceCaller, authenticate
from shared.errors import Forbidden, Unauthorized
from shared.messages import Message
from shared.signing import is_service_credential
from shared.uow import UnitOfWork
from shared.web import UoW, problems

PATH = "/v1/retention-holds"
RETENTION_CALLER = "intake"  # the one service that purges personal data, and so the one that asks


class HoldReason(StrEnum):
    """Why a report's personal data must be kept for now:

    - `report_unknown` (未掌握该举报): this service has no record of the report (not caught up yet, or lost in a
      restore): nothing is assumed
    - `verdict_not_applied` (最新结论尚未处理): credit_blacklist has not applied the newest verdict intake recorded
      (it may still need the identity for a listing), or verification holds a newer final verdict than intake
    - `case_open` (案件未终结): the report's current case is not final (still under way, or the successor a
      correction opened)
    - `correction_pending` (更正待审批): a correction of the report's final verdict is waiting for its decision
    - `entry_live` (名单记录未了结): a blacklist entry of the report stands notified, active or under review (an
      objection)
    - `removal_pending` (修复或撤销待决定): a credit repair or revocation of an entry of the report is waiting for
      its decision"""

    report_unknown = "report_unknown"
    verdict_not_applied = "verdict_not_applied"
    case_open = "case_open"
    correction_pending = "correction_pending"
    entry_live = "entry_live"
    removal_pending = "removal_pending"


class Hold(BaseModel):
    """One thing that depends on the report's personal data."""

    model_config = ConfigDict(frozen=True)

    reason: HoldReason
    object_id: str | None = Field(default=None, description="the case, correction, entry or request it rests on")
    status: str | None = Field(default=None, description="that object's status today (e.g. an entry's `active`, a "
                                                         "case's `investigating`), or the kind of a pending request "
                                                         "(`repair`, `revocation`)")


class RetentionHolds(BaseModel):
    """Whether, and why, the personal data of a report must be kept for now. Names no person: ids and statuses."""

    report_id: str
    held: bool = Field(description="true when anything in `holds`: intake must not purge the report's personal "
                                   "data now")
    holds: list[Hold]


_credential = HTTPBearer(
    auto_error=False, scheme_name="ServiceCredential",
    description="A short-lived credential another Zhengming service signs with its own Ed25519 key "
                "(JWT, `typ: zm-service+jwt`, checked against the event trust file); officers' tokens are refused.")


def service_credential(*services: str) -> Any:
    """`caller: Annotated[ServiceCaller, service_credential("intake")]` on a route only the named services
    may call: 401 without a bearer token or for one that does not verify, 403 for an officer's token
    (whatever its scopes)."""
    callers = frozenset(services)

    async def caller(
        request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_credential)],
    ) -> ServiceCaller:
        runtime = request.app.runtime
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthorized(Message("auth.bearer_required"))
        token = credentials.credentials
        if not is_service_credential(token):
            # An officer's token that does not verify is 401 like anywhere else; one that does is refused.
            authenticate(runtime.verifier, f"Bearer {token}", ())
            raise Forbidden(Message("holds.services_only", services=_names(services)))
        return ServiceCaller(runtime.trust.verify_credential(token, audience=runtime.settings.service_name,
                                                             callers=callers))

    return Depends(caller)


def _names(services: Sequence[str]) -> str:
    return ", ".join(services)


class HoldsOn(Protocol):
    async def __call__(self, uow: UnitOfWork, *, report_id: str, verdict_version: int) -> list[Hold]: ...


def holds_router(holds_on: HoldsOn, *, what_holds: str) -> APIRouter:
    """`GET /v1/retention-holds` as a service answers it: `holds_on` finds what depends on the report
    there, `what_holds` says so in the operation's description (the rest is the same everywhere)."""
    router = APIRouter(tags=["retention"])

    @router.get(
        PATH, response_model=RetentionHolds, responses=problems(Forbidden), operation_id="get_retention_holds",
        summary="Whether a report's personal data must still be kept (intake's retention, service credential only)",
        description="Intake asks before it purges a reporter's identity, evidence files and messages after the "
        f"retention period: `held` is true while {what_holds} Only intake's service credential (signed with its "
        "own key) is accepted; an officer's token is 403. Read only; names no person.",
    )
    async def get_retention_holds(
        uow: UoW,
        _caller: Annotated[ServiceCaller, service_credential(RETENTION_CALLER)],
        report_id: Annotated[str, Query(min_length=1, max_length=36, description="the report intake would purge")],
        verdict_version: Annotated[int, Query(ge=0, le=1_000_000, description="the newest verdict version intake "
                                                                              "recorded for it")],
    ) -> RetentionHolds:
        found = await holds_on(uow, report_id=report_id, verdict_version=verdict_version)
        return RetentionHolds(report_id=report_id, held=bool(found), holds=found)

    return router

"""Events verification consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from services.verification import service
from services.verification.settings import VerificationSettings
from shared.events import ReceivedEvent, ReportSubmittedV1
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workers import ConsumerSpec


def consumers(runtime: Runtime[VerificationSettings], rules: service.VerificationRules) -> Sequence[ConsumerSpec]:
    """`runtime` is the running service's: its working calendar dates each case's deadlines."""

    async def on_report_submitted(event: ReceivedEvent, uow: UnitOfWork) -> None:
        assert isinstance(event.data, ReportSubmittedV1)
        await service.open_case(uow=uow, report=event.data, calendar=runtime.calendar, rules=rules)

    async def on_reports_submitted(events: list[ReceivedEvent], uow: UnitOfWork) -> None:
        reports = [event.data for event in events if isinstance(event.data, ReportSubmittedV1)]
        assert len(reports) == len(events)
        await service.open_cases(uow=uow, reports=reports, calendar=runtime.calendar, rules=rules)

    return [ConsumerSpec(topic=ReportSubmittedV1.topic, handler=on_report_submitted,
                         handle_many=on_reports_submitted)]

"""Events clarification consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from services.clarification import service
from shared.events import ReceivedEvent, ReportVerifiedV1
from shared.uow import UnitOfWork
from shared.web import ConsumerSpec


def consumers(rules: service.ClarificationRules) -> list[ConsumerSpec]:
    async def on_report_verified(event: ReceivedEvent, uow: UnitOfWork) -> None:
        assert isinstance(event.data, ReportVerifiedV1)
        await service.on_verdict(uow=uow, verdict=event.data, rules=rules)

    return [ConsumerSpec(topic=ReportVerifiedV1.topic, handler=on_report_verified)]

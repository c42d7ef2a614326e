"""Events clarification consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from services.clarification import service
from services.clarification.settings import ClarificationSettings
from shared.events import ReceivedEvent, ReportVerifiedV1
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workers import ConsumerSpec


def consumers(runtime: Runtime[ClarificationSettings], rules: service.ClarificationRules) -> Sequence[ConsumerSpec]:
    async def on_report_verified(event: ReceivedEvent, uow: UnitOfWork) -> None:
        assert isinstance(event.data, ReportVerifiedV1)
        await service.on_verdict(uow=uow, verdict=event.data, rules=rules)

    return [ConsumerSpec(topic=ReportVerifiedV1.topic, handler=on_report_verified)]

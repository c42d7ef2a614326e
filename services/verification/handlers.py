"""Events verification consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from services.verification import service
from shared.events import ReceivedEvent, ReportSubmittedV1
from shared.uow import UnitOfWork
from shared.web import ConsumerSpec


async def on_report_submitted(event: ReceivedEvent, uow: UnitOfWork) -> None:
    assert isinstance(event.data, ReportSubmittedV1)
    await service.open_case(uow=uow, report=event.data)


CONSUMERS: list[ConsumerSpec] = [ConsumerSpec(topic=ReportSubmittedV1.topic, handler=on_report_submitted)]

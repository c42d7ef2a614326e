"""Events intake consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from services.intake import service
from services.intake.resources import IntakeResources
from services.intake.settings import IntakeSettings
from shared.events import ReceivedEvent, ReportVerifiedV1
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workers import ConsumerSpec


async def on_report_verified(event: ReceivedEvent, uow: UnitOfWork) -> None:
    assert isinstance(event.data, ReportVerifiedV1)
    await service.apply_verdict(uow=uow, verdict=event.data)


def consumers(runtime: Runtime[IntakeSettings], resources: IntakeResources) -> Sequence[ConsumerSpec]:
    return [ConsumerSpec(topic=ReportVerifiedV1.topic, handler=on_report_verified)]

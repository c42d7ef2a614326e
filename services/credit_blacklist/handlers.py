"""Events credit_blacklist consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from collections.abc import Sequence

from services.credit_blacklist import service
from services.credit_blacklist.resources import BlacklistResources
from services.credit_blacklist.settings import CreditBlacklistSettings
from shared.events import ReceivedEvent, ReportVerifiedV1
from shared.runtime import Runtime
from shared.uow import UnitOfWork
from shared.workers import ConsumerSpec


def consumers(runtime: Runtime[CreditBlacklistSettings], own: BlacklistResources) -> Sequence[ConsumerSpec]:
    async def on_report_verified(event: ReceivedEvent, uow: UnitOfWork) -> None:
        assert isinstance(event.data, ReportVerifiedV1)
        await service.apply_verdict(uow=uow, verdict=event.data, identities=own.identities, cipher=runtime.cipher,
                                    calendar=runtime.calendar, rules=own.rules)

    return [ConsumerSpec(topic=ReportVerifiedV1.topic, handler=on_report_verified)]

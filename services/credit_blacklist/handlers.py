"""Events credit_blacklist consumes; each runs inside the consumer's unit of work."""

from __future__ import annotations

from collections.abc import Callable

from services.credit_blacklist import service
from shared.events import ReceivedEvent, ReportVerifiedV1
from shared.uow import UnitOfWork
from shared.web import ConsumerSpec, Runtime


def consumers(
    *, runtime: Callable[[], Runtime], identities: service.IdentitySource, rules: service.BlacklistRules,
) -> list[ConsumerSpec]:
    """`runtime` is called per event: the cipher and calendar exist only once the app has started."""

    async def on_report_verified(event: ReceivedEvent, uow: UnitOfWork) -> None:
        assert isinstance(event.data, ReportVerifiedV1)
        current = runtime()
        await service.apply_verdict(uow=uow, verdict=event.data, identities=identities, cipher=current.cipher,
                                    calendar=current.calendar, rules=rules)

    return [ConsumerSpec(topic=ReportVerifiedV1.topic, handler=on_report_verified)]

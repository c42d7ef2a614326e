from types import SimpleNamespace

from services.verification.handlers import consumers
from services.verification.service import VerificationRules
from shared.calendar import WorkingCalendar
from shared.events import ReceivedEvent
from tests.factories import submitted

_SPEC = consumers(SimpleNamespace(calendar=WorkingCalendar()), VerificationRules())[0]  # the runtime's calendar
on_report_submitted, on_reports_submitted = _SPEC.handler, _SPEC.handle_many


def received(event_id: str, report_id: str) -> ReceivedEvent:
    """A report's submission as the consumer hands it to the handlers."""
    return ReceivedEvent(id=event_id, type="report.submitted.v1", source="/t", subject=report_id, time=None,
                         key=report_id, data=submitted(report_id))

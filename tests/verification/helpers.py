from types import SimpleNamespace

from services.verification.handlers import consumers
from services.verification.service import VerificationRules
from shared.calendar import WorkingCalendar

_SPEC = consumers(SimpleNamespace(calendar=WorkingCalendar()), VerificationRules())[0]  # the runtime's calendar
on_report_submitted, on_reports_submitted = _SPEC.handler, _SPEC.handle_many

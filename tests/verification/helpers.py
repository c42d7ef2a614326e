from services.verification.handlers import consumers
from services.verification.service import VerificationRules
from shared.calendar import WorkingCalendar

_SPEC = consumers(WorkingCalendar(), VerificationRules())[0]
on_report_submitted, on_reports_submitted = _SPEC.handler, _SPEC.handle_many

from services.verification.handlers import consumers
from services.verification.service import VerificationRules
from shared.calendar import WorkingCalendar

on_report_submitted = consumers(WorkingCalendar(), VerificationRules())[0].handler

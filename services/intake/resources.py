"""What intake's routes need beyond the runtime, built with it by the composition root (app.py)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated

from fastapi import Depends

from services.intake import notices, service
from services.intake.attachments import AttachmentLimits
from services.intake.domain import receipt_code_hash
from services.intake.settings import IntakeSettings
from services.intake.storage import DatabaseEvidenceStore, EvidenceStore
from services.intake.writer import SubmissionWriter
from shared.ratelimit import RateLimiter
from shared.runtime import Runtime
from shared.web import resources

ALL_CLIENTS = "*"  # the one bucket of failed receipt lookups


@dataclass
class IntakeResources:
    settings: IntakeSettings
    writer: SubmissionWriter  # gathers submissions arriving together into one commit
    receipt_limiter: RateLimiter  # receipt lookups per client
    receipt_code_limiter: RateLimiter  # per receipt code
    receipt_failure_limiter: RateLimiter  # lookups of codes that do not exist, from all clients together
    reporter_message_limiter: RateLimiter  # messages posted with one receipt code
    evidence: EvidenceStore  # where attachments' sealed pieces are kept: intake's database
    attachment_limits: AttachmentLimits
    attachment_code_limiter: RateLimiter  # evidence uploads with one receipt code

    @contextlib.contextmanager
    def receipt_lookup(self, receipt_code: str, *, client: str | None,
                       per_code: RateLimiter | None = None) -> Iterator[None]:
        """Around finding a report by its receipt code, on every route a reporter reaches with one: the
        limits first (per client when given; per code, the lookup's unless another is named; and the
        bucket of failed lookups must not be empty), then a code that does not exist spends from that
        bucket all clients share, so guessing is bounded the same whichever route it goes through."""
        if client is not None:
            self.receipt_limiter.check(client)
        (per_code or self.receipt_code_limiter).check(receipt_code_hash(receipt_code[:64]))
        self.receipt_failure_limiter.require_tokens(ALL_CLIENTS)
        try:
            yield
        except service.ReceiptNotFound:
            self.receipt_failure_limiter.check(ALL_CLIENTS)
            raise


def rules_from(settings: IntakeSettings) -> service.IntakeRules:
    return service.IntakeRules(
        acceptance_notice_working_days=settings.acceptance_notice_working_days,
        duplicate_similarity=settings.duplicate_similarity,
        idempotency_retention=timedelta(hours=settings.idempotency_retention_hours),
    )


@contextlib.asynccontextmanager
async def intake_resources(runtime: Runtime[IntakeSettings]) -> AsyncIterator[IntakeResources]:
    settings = runtime.settings
    runtime.metrics.backlogs.count_when_scraped(
        notices.OVERDUE_GAUGE, "Acceptance notices (messages owed to reporters) past their due "
        "day in China time and not posted, counted in the reports table when scraped", notices.count_overdue)
    yield IntakeResources(
        settings=settings,
        writer=SubmissionWriter(runtime.uow, runtime.cipher, rules_from(settings)),
        receipt_limiter=RateLimiter(settings.receipt_lookups_per_minute),
        receipt_code_limiter=RateLimiter(settings.receipt_lookups_per_code_per_minute),
        receipt_failure_limiter=RateLimiter(settings.receipt_failed_lookups_per_minute),
        reporter_message_limiter=RateLimiter(settings.reporter_messages_per_code_per_minute),
        evidence=DatabaseEvidenceStore(runtime.sessions),
        attachment_limits=AttachmentLimits(max_file_bytes=settings.attachment_max_file_bytes,
                                           max_files=settings.attachment_max_files_per_report,
                                           max_report_bytes=settings.attachment_max_bytes_per_report),
        attachment_code_limiter=RateLimiter(settings.attachment_uploads_per_code_per_minute),
    )


Intake = Annotated[IntakeResources, Depends(resources(IntakeResources))]

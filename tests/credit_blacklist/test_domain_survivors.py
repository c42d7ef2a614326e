"""Blacklist rules with plain values, held where the mutation harness (tools/mutate.py, issue #24) found
nothing holding them: the objection window's last day, masking short numbers, period ranges at their
bounds, and refusals naming the entry's status in the office's own words."""

from datetime import date

import pytest

from services.credit_blacklist.domain import (
    EntryFacts,
    EntryStatus,
    PeriodRange,
    Publication,
    Standing,
    after_rejection,
    mask_id_number,
    objection_refusal,
    repair_refusal,
    revocation_refusal,
)
from shared.messages import CHINESE, Term, localized

DEADLINE = date(2026, 12, 1)


def test_an_objection_rejected_on_the_windows_last_day_leaves_the_notice_running():
    facts = EntryFacts(EntryStatus.under_review, objection_deadline=DEADLINE, months=6)
    assert after_rejection(EntryStatus.notified, facts, DEADLINE) == (EntryStatus.notified, None, None)
    status, start, _ = after_rejection(EntryStatus.notified, facts, date(2026, 12, 2))
    assert (status, start) == (EntryStatus.active, date(2026, 12, 2))


def test_a_number_of_eight_characters_or_fewer_is_masked_whole():
    assert mask_id_number("12345678") == "********"
    assert mask_id_number("123456789") == "123456*89"


def test_a_period_range_may_be_one_month_flat_and_never_below_one_or_out_of_order():
    assert PeriodRange(1, 1, 1, Publication.internal).maximum == 1
    assert PeriodRange(2, 2, 2, Publication.public).standard == 2
    for months in ((0, 1, 1), (2, 1, 3), (1, 3, 2)):
        with pytest.raises(ValueError, match=r"^a period range needs 1 <= minimum <= standard <= maximum$"):
            PeriodRange(*months, Publication.public)


@pytest.mark.parametrize("status", [EntryStatus.expired, EntryStatus.revoked, EntryStatus.repaired])
def test_refusals_name_the_entrys_status_in_the_offices_words(status):
    chinese = localized(Term("entry_status", status.value), CHINESE)
    assert chinese != status.value  # the catalogue has the office's term for it
    now = Standing(status, None, None)
    refusals = [objection_refusal(now, objections_so_far=0), repair_refusal(now, 1, DEADLINE)[0],
                revocation_refusal(now)]
    for refusal in refusals:
        assert status.value in str(refusal) and chinese in localized(refusal, CHINESE)

"""The inbox's batch path, held where the mutation harness (tools/mutate.py, issue #24) found nothing
holding it: a batch holding an event that does not decode is not applied together (so the bad one alone
is dead-lettered later), and every line an operator reads about a batch says what happened to which
event or why the batch went one at a time."""

from tests.log_lines import captured_logs
from tests.shared.inbox_helpers import cases, delivered, make_inbox, raw


async def test_a_batch_holding_an_event_that_does_not_decode_is_not_applied_together(verification_db):
    good = [delivered(f"r-{i}", offset=i) for i in range(2)]
    forged = raw(b"{}", [("ce_id", b"x-1"), ("ce_type", b"report.submitted.v1")], offset=2)
    assert not await make_inbox(verification_db).apply_together([*good, forged], {})
    assert await cases(verification_db) == 0


async def test_the_lines_of_a_batch_name_each_event_or_why_it_went_one_at_a_time(verification_db):
    async def handle_many(events, uow):
        raise ValueError("one of them is bad, but which")

    messages = [delivered(f"r-{i}", offset=10 + i, partition=3) for i in range(2)]
    with captured_logs() as logs:
        assert await make_inbox(verification_db).apply_together(messages, {})
        assert not await make_inbox(verification_db, handle_many=handle_many).apply_together(
            [delivered(f"r-{i}", offset=20 + i) for i in range(2, 5)], {})
    applied = logs.where(msg="event applied")
    assert [(line["partition"], line["offset"], line["topic"], line["subscriber"]) for line in applied] == [
        (3, 10, "reports.submitted", "verification"), (3, 11, "reports.submitted", "verification")]
    [one_at_a_time] = logs.where(msg="batch not applied together; one event at a time")
    assert one_at_a_time["events"] == 3 and one_at_a_time["error"] == "ValueError"


async def test_each_subscriber_dead_letters_a_poison_event_of_its_own(verification_db):
    from shared.inbox import Inbox
    from shared.models import DeadLetter
    from shared.observability import Metrics
    from shared.uow import UnitOfWork
    from tests.keys import AUDIT_KEYS, SERVICE_KEYS, TRUST
    from tests.shared.inbox_helpers import TOPIC, rows, settle
    from tests.verification.helpers import on_report_submitted

    def inbox(subscriber):
        return Inbox(subscriber=subscriber, topic=TOPIC, handler=on_report_submitted, handle_many=None,
                     uow_factory=lambda: UnitOfWork(verification_db, signer=SERVICE_KEYS["verification"],
                                                    audit_keys=AUDIT_KEYS),
                     trust=TRUST, metrics=Metrics("verification"), max_attempts=3, backoff_s=0.01,
                     backoff_max_s=0.05)

    unsigned = delivered("r-1", offset=0, unsigned=True)
    assert await settle(inbox("verification"), unsigned)
    assert await settle(inbox("verification-replay"), unsigned)
    letters = await rows(verification_db, DeadLetter)
    assert sorted(letter.subscriber for letter in letters) == ["verification", "verification-replay"]

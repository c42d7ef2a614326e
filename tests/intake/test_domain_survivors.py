"""Near-duplicate detection at its threshold (issue #24): allegations exactly as similar as the
threshold are near-identical; a hair less is not."""

import time
import uuid

from services.intake.domain import EarlierReport, assess_repeats, new_id, similarity

NEW = frozenset({"aaa", "bbb", "ccc", "ddd"})
AT_THRESHOLD = frozenset({"aaa", "bbb", "ccc", "ddd", "eee"})  # 4 in common of 5: exactly 0.8
BELOW = frozenset({"aaa", "bbb", "ccc", "eee", "fff"})  # 3 of 6: 0.5


def earlier(shingles, *, same_reporter=False, concluded=False, report_id="r-1"):
    return EarlierReport(report_id=report_id, shingles=shingles, same_reporter=same_reporter, concluded=concluded)


def test_allegations_exactly_at_the_threshold_are_a_near_duplicate():
    assert similarity(NEW, AT_THRESHOLD) == 0.8
    found = assess_repeats(NEW, [earlier(AT_THRESHOLD)], threshold=0.8)
    assert found.flags == ("near_duplicate",) and found.linked_report_ids == ("r-1",)


def test_allegations_just_below_the_threshold_are_not_flagged_or_linked():
    found = assess_repeats(NEW, [earlier(AT_THRESHOLD)], threshold=0.81)
    assert found.flags == () and found.linked_report_ids == ()


def test_similarity_is_jaccard_of_the_shingle_sets():
    assert similarity(NEW, BELOW) == 3 / 6
    assert similarity(NEW, NEW) == 1.0 and similarity(frozenset(), frozenset()) == 1.0
    assert similarity(NEW, frozenset()) == 0.0 and similarity(NEW, frozenset({"zzz"})) == 0.0


def test_each_flag_is_named_once_and_every_earlier_report_that_raised_one_is_linked_in_order():
    found = assess_repeats(NEW, [
        earlier(AT_THRESHOLD, report_id="r-1"),
        earlier(BELOW, same_reporter=True, concluded=True, report_id="r-2"),
        earlier(NEW, report_id="r-3"),
        earlier(BELOW, same_reporter=True, concluded=True, report_id="r-6"),
        earlier(BELOW, same_reporter=True, concluded=False, report_id="r-4"),  # not concluded: no flag
        earlier(BELOW, same_reporter=False, concluded=True, report_id="r-5"),  # someone else's: no flag
    ], threshold=0.8)
    assert found.flags == ("near_duplicate", "repeat_after_conclusion")
    assert found.linked_report_ids == ("r-1", "r-2", "r-3", "r-6")


# --- identity custody: every refusal, its rule and what it says (tools/mutate.py, issue #24) ----------

def test_credit_blacklist_gets_the_reporter_only_for_the_recorded_approved_malicious_verdict():
    from services.intake.domain import RecordedVerdict, listing_refusal
    from shared.messages import CHINESE, localized

    recorded = RecordedVerdict(version=2, verdict_id="v-2", outcome="malicious", approved_by="dir-1",
                               approver_at_least_municipal=True)
    assert listing_refusal(recorded, verdict_id="v-2", version=2) is None

    def refused(**kw):
        args = {"verdict_id": "v-2", "version": 2}
        r = listing_refusal(RecordedVerdict(**{**recorded.__dict__, **kw.pop("recorded", {})}), **{**args, **kw})
        return r.rule, str(r.detail)

    assert refused(version=3) == ("verdict_not_recorded",
                                  "intake has not recorded verdict version 3 of this report yet")
    assert refused(version=1) == ("verdict_superseded", "verdict version 1 was superseded by version 2")
    assert refused(verdict_id="v-x") == ("verdict_mismatch",
                                         "the verdict named is not the one intake recorded for this report")
    assert refused(recorded={"outcome": "untrue"}) == ("no_malicious_verdict",
                                                       "the report's final verdict is untrue, not malicious")
    for unapproved in ({"approved_by": None}, {"approver_at_least_municipal": False}):
        assert refused(recorded=unapproved) == (
            "verdict_not_approved", "a malicious verdict releases the reporter only once approved at municipal level")
    r = listing_refusal(RecordedVerdict(**{**recorded.__dict__, "approved_by": None}), verdict_id="v-2", version=2)
    assert "市级" in localized(r.detail, CHINESE)


def test_an_identity_request_is_decided_by_another_custodian_at_municipal_level_or_higher():
    from services.intake.domain import decision_refusal
    from shared.messages import CHINESE, localized

    assert decision_refusal(requested_by="a", custodian="b", custodian_at_least_municipal=True) is None
    same = decision_refusal(requested_by="a", custodian="a", custodian_at_least_municipal=True)
    assert same.rule == "separation_of_duties" and str(same.detail).startswith("an identity-access request is decided")
    low = decision_refusal(requested_by="a", custodian="b", custodian_at_least_municipal=False)
    assert (low.rule, str(low.detail)) == ("custodian_level",
                                           "a custodian at municipal level or higher decides identity-access requests")
    assert "市级" in localized(low.detail, CHINESE)


def test_an_approved_request_is_read_once_by_its_officer_before_it_expires():
    from datetime import UTC, datetime, timedelta

    from services.intake.domain import AccessRequestState, effective_status, release_refusal

    now = datetime(2026, 12, 1, 8, tzinfo=UTC)
    approved = AccessRequestState("officer-1", "approved", now + timedelta(hours=1))
    assert release_refusal(approved, reader="officer-1", now=now) is None
    assert effective_status(approved, now + timedelta(hours=1)) == "expired"  # its last instant is past
    assert effective_status(approved, now + timedelta(minutes=59)) == "approved"
    assert effective_status(AccessRequestState("o", "approved", None), now) == "approved"
    assert effective_status(AccessRequestState("o", "pending", now - timedelta(days=1)), now) == "pending"

    def refused(state, reader="officer-1", at=now):
        r = release_refusal(state, reader=reader, now=at)
        return r.rule, str(r.detail)

    assert refused(None)[0] == "identity_request_required"
    assert refused(approved, reader="officer-2") == ("not_the_requester",
                                                     "only the officer who filed the request may use it")
    assert refused(approved, at=now + timedelta(hours=2)) == ("request_expired",
                                                             "the request expired before it was used")
    for status, text in (("pending", "the request has not been decided by a custodian yet"),
                         ("refused", "the request was refused"),
                         ("released", "the request was used: an approved request releases the identity once")):
        assert refused(AccessRequestState("officer-1", status, None)) == (f"request_{status}", text)
    assert refused(AccessRequestState("officer-1", "withdrawn", None)) == ("request_withdrawn",
                                                                          "the request is withdrawn")


# --- what duplicate detection compares (a fresh punctuation table: the module's own one is warm) ---------


def test_names_compare_without_spaces_middle_dots_or_full_width_forms():
    from services.intake.domain import normalize_name

    assert normalize_name("买买提 · 艾力") == "买买提艾力" == normalize_name("买买提•艾力")
    assert normalize_name("买买提．艾力") == "买买提艾力"
    assert normalize_name("ＷＡＮＧ Ｊ.") == "WANGJ" and normalize_name("王建国") == "王建国"
    assert normalize_name("XU Max") == "XUMax"  # letters are never taken for separators


def test_punctuation_separators_symbols_and_controls_are_dropped_and_learned_once():
    from services.intake.domain import _DropPunctuation

    table = _DropPunctuation()
    assert "在土地出让中，收受礼金¥10万！\u200b a-b".translate(table) == "在土地出让中收受礼金10万ab"
    assert table[ord("，")] is None and table[ord("在")] == "在" and len(table) == 21  # each distinct one, once
    full = _DropPunctuation({n: None for n in range(0x10000, 0x10000 + 100_000)})
    assert "x".translate(full) == "x" and ord("x") not in full  # a full table learns nothing more


def test_allegation_text_joins_the_summaries_folded_and_without_punctuation():
    from services.intake.domain import allegation_text

    assert allegation_text(["收受ＡＢ公司礼金，", "Ab 公司"]) == "收受ab公司礼金ab公司"


def test_shingles_are_every_run_of_three_characters():
    from services.intake.domain import shingles

    assert shingles("") == frozenset() and shingles("ab") == {"ab"} and shingles("abc") == {"abc"}
    assert shingles("abcde") == {"abc", "bcd", "cde"}


def test_refusals_name_the_verdict_and_the_request_status_in_the_offices_words():
    from services.intake.domain import AccessRequestState, RecordedVerdict, listing_refusal, release_refusal
    from shared.messages import CHINESE, Term, localized

    untrue = listing_refusal(RecordedVerdict(1, "v-1", "untrue", None, False), verdict_id="v-1", version=1)
    assert localized(Term("verdict", "untrue"), CHINESE) in localized(untrue.detail, CHINESE)
    withdrawn = release_refusal(AccessRequestState("o", "withdrawn", None), reader="o", now=None)
    assert localized(Term("request_status", "withdrawn"), CHINESE) in localized(withdrawn.detail, CHINESE)
    required = release_refusal(None, reader="o", now=None)
    assert str(required.detail).startswith("an officer reads a reporter's identity only with an approved")


# --- report ids: UUID version 7 (RFC 9562), the layout the indexes' right-edge growth relies on -------------


def test_a_report_id_is_a_version_7_uuid_whose_first_48_bits_are_the_time_it_was_made_in_milliseconds():
    before = time.time_ns() // 1_000_000
    made = uuid.UUID(new_id())
    after = time.time_ns() // 1_000_000
    assert str(made) == made.urn.removeprefix("urn:uuid:") and len(str(made)) == 36
    assert made.version == 7 and made.variant == uuid.RFC_4122
    assert before <= made.int >> 80 <= after


def test_the_74_bits_after_the_time_are_random_each_of_them_in_both_states():
    ids = [uuid.UUID(new_id()).int for _ in range(256)]
    rand_a = [(value >> 64) & 0xFFF for value in ids]  # the 12 bits between the version and the variant
    rand_b = [value & 0x3FFF_FFFF_FFFF_FFFF for value in ids]  # the 62 bits after the variant
    for bits, width in ((rand_a, 12), (rand_b, 62)):
        ones = zeros = 0
        for value in bits:
            ones |= value
            zeros |= ~value & ((1 << width) - 1)
        assert ones == zeros == (1 << width) - 1  # every bit seen set and seen clear: none stuck, none missing
    assert len(set(ids)) == len(ids)


def test_ids_made_later_sort_later():
    first = new_id()
    time.sleep(0.002)  # two milliseconds apart: the order the ids' time field gives, not a wait for an event
    assert new_id() > first

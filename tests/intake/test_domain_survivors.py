"""Near-duplicate detection at its threshold (issue #24): allegations exactly as similar as the
threshold are near-identical; a hair less is not."""

from services.intake.domain import EarlierReport, assess_repeats, similarity

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
        earlier(BELOW, same_reporter=True, concluded=False, report_id="r-4"),  # not concluded: no flag
        earlier(BELOW, same_reporter=False, concluded=True, report_id="r-5"),  # someone else's: no flag
    ], threshold=0.8)
    assert found.flags == ("near_duplicate", "repeat_after_conclusion")
    assert found.linked_report_ids == ("r-1", "r-2", "r-3")

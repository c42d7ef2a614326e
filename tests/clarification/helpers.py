"""What the clarification tests share: a final verdict as verification publishes it."""

from datetime import UTC, datetime

from shared.events import AllegationV1, ExemptedAllegationV1, ExemptionReasonV1, ReportVerifiedV1, SubjectV1

WRITE = "clarification:read clarification:write"
VENUES = ("hall-1", "hall-2")  # registered in the office's region (330502) by the `office` fixture


def verdict(report_id, *, verdict="untrue", exempted=False, version=1, grounds=(), name="王建国",
            refuted=("a1", "a2"), held=(), concluded_at=None, excused=()):
    return ReportVerifiedV1(
        report_id=report_id, case_id=f"c-{report_id}", verdict_id=f"v-{report_id}-{version}", version=version,
        verdict=verdict, fault_tolerance_exempted=exempted, region_code="330502", anonymous=False,
        concluded_at=concluded_at or datetime.now(UTC), clarification_grounds=list(grounds),
        refuted_allegation_ids=list(refuted),
        refuted_allegations=[AllegationV1(allegation_id=a, category="bribery", summary=f"关于{a}的不实反映")
                             for a in refuted],
        subject=SubjectV1(name=name, position="副局长", organization="某局", region_code="330502"),
        exempted_allegations=[ExemptedAllegationV1(
            allegation_id=a, category="decision", summary=f"关于{a}的决策失误", reasons=[ExemptionReasonV1(
                condition="no_benefit_transfer", text="no transfer of benefits")]) for a in excused],
        rationale=["V-UNTRUE"] if not held else ["V-TRUE"])

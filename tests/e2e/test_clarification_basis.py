"""End to end, through the real broker: an exempted verdict opens a clarification that clears the
official of blame for the exempted conduct, with the reasons; in a partly true report the refuted
allegation is cleared as untrue beside it, each on its own basis."""

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS
from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body
from tests.verification.driver import Officers

EXCUSED = "推进园区改造时未经充分论证即先行先试，造成部分资金损失。"
REFUTED = "在土地出让过程中收受开发商礼金人民币十万元。"


async def test_a_partly_true_exempted_report_clears_both_allegations_each_on_its_basis(
        officer_headers, new_database, broker, settings_for, make_token):
    apps = {name: build_app(name, settings_for(name, await new_database(name), bootstrap=broker, workers=True))
            for name in ("intake", "verification", "clarification")}
    async with serve(apps["intake"]) as intake, serve(apps["verification"]) as verification, \
            serve(apps["clarification"]) as clarification:
        clarification.headers.update(bearer(make_token("clarification:read clarification:write", region="3305")))
        body = report_body(allegations=[{"category": "work_style", "summary": EXCUSED},
                                        {"category": "bribery", "summary": REFUTED}])
        report = (await intake.post("/v1/reports", json=body, headers=bearer(make_token("reports:submit")))).json()
        officers = Officers(verification, officer_headers.investigator, officer_headers.approver)

        async def case():
            items = (await verification.get("/v1/cases", params={"report_id": report["id"]},
                                            headers=officers.investigator)).json()["items"]
            return items[0] if items else None

        # The first allegation is found partly true and exempted; the second is refuted.
        conclusion = await officers.drive(await eventually(case, what="the case"), "true_exempted")
        assert conclusion["verdict"] == "true" and conclusion["fault_tolerance_exempted"] is True

        async def opened():
            items = (await clarification.get("/v1/clarifications", params={"report_id": report["id"]})).json()
            return items["items"][0] if items["items"] else None

        c = await eventually(opened, what="the clarification")
    assert c["basis"] == ["refuted", "fault_tolerance_exemption"]
    assert [a["summary"] for a in c["refuted_allegations"]] == [REFUTED]
    [excused] = c["exempted_allegations"]
    assert excused["summary"] == EXCUSED
    assert [r["condition"] for r in excused["reasons"]] == [*DISTINCTIONS, *FIVE_CHECKS]
    refuted_sentence, exempted_sentence = c["statement"]
    assert REFUTED in refuted_sentence and "untrue" in refuted_sentence
    assert EXCUSED in exempted_sentence and "exempted under fault tolerance" in exempted_sentence
    assert "untrue" not in exempted_sentence
    assert c["opened_at"].endswith("+08:00")

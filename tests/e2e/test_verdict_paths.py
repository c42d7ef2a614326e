"""End to end: reports through intake, every verdict path over HTTP, events on the real topic,
and the outcome back on intake's receipt lookup."""

import json

from tests.conftest import bearer, build_app, eventually, serve
from tests.factories import report_body, resident_id
from tests.kafka_helpers import read_topic
from tests.verification.driver import Officers

PATHS = ["true", "true_exempted", "untrue", "inconclusive", "malicious_approved",
         "malicious_rejected_then_approved", "corrected", "malicious_pending"]


async def test_every_verdict_path_publishes_exactly_its_final_verdicts(officer_headers, new_database, broker,
                                                                       settings_for, make_token):
    intake_app = build_app("intake", settings_for("intake", await new_database("intake"), bootstrap=broker,
                                                  workers=True, receipt_lookups_per_minute=1000))
    verification_app = build_app("verification", settings_for(
        "verification", await new_database("verification"), bootstrap=broker, workers=True))
    submitter = bearer(make_token("reports:submit reports:read"))
    async with serve(intake_app) as intake, serve(verification_app) as verification:
        officers = Officers(verification, officer_headers.investigator, officer_headers.approver,
                            officer_headers.corrector)
        reports = {}
        for i, path in enumerate(PATHS):
            body = report_body()
            body["reporter"]["id_number"] = resident_id(seq=i)
            body["allegations"] = [
                {"category": "bribery", "summary": f"第{i}号线索：收受礼金{i + 1}万元用于个人消费。"},
                {"category": "work_style", "summary": f"第{i}号线索：工作日多次公款吃喝，影响恶劣。"},
            ]
            r = await intake.post("/v1/reports", json=body, headers=submitter)
            assert r.status_code == 201
            reports[path] = r.json()

        async def case_of(report_id):
            items = (await verification.get("/v1/cases", params={"report_id": report_id},
                                            headers=officers.investigator)).json()["items"]
            return items[0] if items else None

        cases = {p: await eventually(lambda p=p: case_of(reports[p]["id"]), what=f"case for {p}") for p in PATHS}
        outcomes = {}
        for path in PATHS:
            case = cases[path]
            if path == "corrected":
                await officers.drive(case, "untrue")
                successor = await officers.correct(case["id"])  # inv-1 requests, dir-2 approves
                await officers.find(successor, "substantiated", "unsubstantiated")
                outcomes[path] = (await officers.conclude(successor["id"])).json()["verdict"]
            elif path == "malicious_pending":
                await officers.find(case, "unsubstantiated", "unsubstantiated")
                await officers.malice(case["id"])
                assert (await officers.conclude(case["id"])).json()["status"] == "awaiting_approval"
            else:
                outcomes[path] = (await officers.drive(case, path))["verdict"]
        assert outcomes == {"true": "true", "true_exempted": "true", "untrue": "untrue",
                            "inconclusive": "inconclusive", "malicious_approved": "malicious",
                            "malicious_rejected_then_approved": "malicious", "corrected": "true"}

        messages = await read_topic(broker, "reports.verified", expect=8)
        events = [json.loads(m.value) for m in messages]
        per_report: dict[str, list[dict]] = {}
        for e in events:
            per_report.setdefault(e["report_id"], []).append(e)
        by_path = {p: per_report.get(reports[p]["id"], []) for p in PATHS}
        assert {p: len(v) for p, v in by_path.items()} == {
            "true": 1, "true_exempted": 1, "untrue": 1, "inconclusive": 1, "malicious_approved": 1,
            "malicious_rejected_then_approved": 1, "corrected": 2, "malicious_pending": 0}
        assert by_path["true_exempted"][0]["fault_tolerance_exempted"] is True
        assert by_path["malicious_approved"][0]["approver_org_level"] == "municipal"
        first, second = sorted(by_path["corrected"], key=lambda e: e["version"])
        assert (first["verdict"], second["verdict"]) == ("untrue", "true")
        assert second["supersedes_verdict_id"] == first["verdict_id"]
        for e in events:  # the identity never travels
            assert "李秀英" not in json.dumps(e, ensure_ascii=False) and "id_number" not in e

        async def receipt(path):
            r = (await intake.get(f"/v1/receipts/{reports[path]['receipt_code']}")).json()
            return r if r["status"] == "concluded" else None

        for path, expected in outcomes.items():
            assert (await eventually(lambda p=path: receipt(p), what=f"receipt of {path}"))["outcome"] == expected
        pending = (await intake.get(f"/v1/receipts/{reports['malicious_pending']['receipt_code']}")).json()
        assert pending == {**pending, "status": "received", "outcome": None}

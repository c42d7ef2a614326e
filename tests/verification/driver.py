"""Drives a verification case through its paths over HTTP, as officers would."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS

MALICE = {"facts_invented": True, "material_forged": False, "knew_false": True, "meant_punishment": True,
          "aggravating": ["repeated_after_conclusion"], "kind": "false_accusation", "severity": "ordinary"}
EXEMPTION = {"distinctions": {k: True for k in DISTINCTIONS}, "checks": {k: True for k in FIVE_CHECKS}}


CORRECTION_REASON = "复查发现被反映人当日的银行流水记录，原认定依据不足，需要重新认定。"
DECISION_REASON = "新调取的银行流水足以动摇原认定，同意撤销原结论并重新核查。"


class Officers:
    """HTTP calls with the right officer for each step: investigator, municipal approver, and for a
    correction a third officer (municipal) who took no part in the case."""

    def __init__(self, client: httpx.AsyncClient, investigator: dict[str, str], approver: dict[str, str],
                 corrector: dict[str, str] | None = None) -> None:
        self.client, self.investigator, self.approver, self.corrector = client, investigator, approver, corrector

    async def case(self, case_id: str) -> dict[str, Any]:
        r = await self.client.get(f"/v1/cases/{case_id}", headers=self.investigator)
        assert r.status_code == 200, r.text
        return r.json()

    async def find(self, case: dict[str, Any], *findings: str) -> httpx.Response:
        body = {"findings": [{"allegation_id": a["allegation_id"], "finding": f, "evidence_notes": "核查笔录第3页"}
                             for a, f in zip(case["allegations"], findings, strict=True)]}
        return await self.client.put(f"/v1/cases/{case['id']}/findings", json=body, headers=self.investigator)

    async def malice(self, case_id: str, **overrides: Any) -> httpx.Response:
        return await self.client.put(f"/v1/cases/{case_id}/malice-assessment", json={**MALICE, **overrides},
                                     headers=self.investigator)

    async def exempt(self, case_id: str) -> httpx.Response:
        return await self.client.put(f"/v1/cases/{case_id}/fault-tolerance", json=EXEMPTION,
                                     headers=self.investigator)

    async def conclude(self, case_id: str) -> httpx.Response:
        return await self.client.post(f"/v1/cases/{case_id}/conclusion", headers=self.investigator)

    async def decide(self, case_id: str, decision: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/cases/{case_id}/approval",
                                      json={"decision": decision, "reason": "审核意见：证据情况已核对。"},
                                      headers=headers or self.approver)

    async def request_correction(self, case_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/cases/{case_id}/correction", json={"reason": CORRECTION_REASON},
                                      headers=headers or self.investigator)

    async def decide_correction(self, correction_id: str, decision: str = "approve",
                                headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/corrections/{correction_id}/decision",
                                      json={"decision": decision, "reason": DECISION_REASON},
                                      headers=headers or self.corrector)

    async def correct(self, case_id: str) -> dict[str, Any]:
        """The investigator requests the correction, the corrector approves it; the successor case."""
        requested = await self.request_correction(case_id)
        assert requested.status_code == 202, requested.text
        decided = await self.decide_correction(requested.json()["id"])
        assert decided.status_code == 200, decided.text
        return await self.case(decided.json()["successor_case_id"])

    async def drive(self, case: dict[str, Any], path: str) -> dict[str, Any]:
        """Take a fresh case down one verdict path; returns the conclusion of its last step."""
        cid, n = case["id"], len(case["allegations"])
        if path == "true":
            await self.find(case, "substantiated", *["unsubstantiated"] * (n - 1))
        elif path == "true_exempted":
            await self.find(case, "partially_substantiated", *["unsubstantiated"] * (n - 1))
            await self.exempt(cid)
        elif path == "untrue":
            await self.find(case, *["unsubstantiated"] * n)
        elif path == "inconclusive":
            await self.find(case, "unverifiable", *["unsubstantiated"] * (n - 1))
        elif path.startswith("malicious"):
            await self.find(case, *["unsubstantiated"] * n)
            await self.malice(cid)
        r = await self.conclude(cid)
        assert r.status_code == 200, r.text
        if path == "malicious_approved":
            assert (await self.decide(cid, "approve")).status_code == 200
        elif path == "malicious_rejected_then_approved":
            assert (await self.decide(cid, "reject")).status_code == 200
            r = await self.conclude(cid)
            assert r.status_code == 200 and r.json()["status"] == "awaiting_approval"
            assert (await self.decide(cid, "approve")).status_code == 200
        return dict(r.json())


# --- risk filing (风险报备) ------------------------------------------------------------------------------

REFORM = "八里店镇村级集体经济股份合作制改革试点"


def filing_body(starts_on: date, ends_on: date, *, name: str = "李明", organization: str = "湖州市吴兴区八里店镇党委",
                region_code: str = "330502", org_level: str = "township", reach: str = "township",
                amount_yuan: int = 12_000_000, title: str = REFORM) -> dict[str, Any]:
    """A township's risky collective-economy reform, filed by its unit before acting."""
    return {
        "official": {"name": name, "position": "党委书记", "organization": organization, "region_code": region_code,
                     "org_level": org_level},
        "filed_for": "unit",
        "matter": {"title": title,
                   "description": "将三个村的集体经营性资产折股量化到户，引入社会资本合作经营农旅项目。",
                   "starts_on": starts_on.isoformat(), "ends_on": ends_on.isoformat(), "reach": reach,
                   "amount_yuan": amount_yuan},
        "policy_basis": "《关于稳步推进农村集体产权制度改革的意见》及省、市配套文件。",
        "foreseeable_risks": "资产评估偏低导致集体资产流失；合作方经营不善造成收益下降。",
        "safeguards": "聘请第三方评估并公示；合作协议设保底收益条款；重大事项经村民代表大会表决。",
        "public_benefit": "预计三年内村集体年经营性收入增加三百万元，带动二百余户农户增收。",
    }


class FilingOffice:
    """HTTP calls with the right officer for each step of a risk filing: a clerk who files for the
    unit, a county officer who accepts and assesses, and another county officer who reviews."""

    def __init__(self, client: httpx.AsyncClient, filer: dict[str, str], acceptor: dict[str, str],
                 reviewer: dict[str, str]) -> None:
        self.client, self.filer, self.acceptor, self.reviewer = client, filer, acceptor, reviewer

    async def file(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post("/v1/risk-filings", json=body, headers=headers or self.filer)

    async def get(self, filing_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.get(f"/v1/risk-filings/{filing_id}", headers=headers or self.acceptor)

    async def accept(self, filing_id: str, decision: str = "accepted", headers: dict[str, str] | None = None
                     ) -> httpx.Response:
        return await self.client.post(f"/v1/risk-filings/{filing_id}/acceptance", headers=headers or self.acceptor,
                                      json={"decision": decision, "reason": "材料齐全，属县级受理范围，予以受理。"})

    async def assess(self, filing_id: str, risk_level: str = "medium", headers: dict[str, str] | None = None
                     ) -> httpx.Response:
        return await self.client.put(f"/v1/risk-filings/{filing_id}/assessment", headers=headers or self.acceptor,
                                     json={"risk_level": risk_level, "notes": "政策依据充分，风险可控。",
                                           "conditions": ["每季度向区纪委监委报告进展", "资产评估须经第三方机构复核"]})

    async def review(self, filing_id: str, decision: str = "filed", headers: dict[str, str] | None = None
                     ) -> httpx.Response:
        return await self.client.post(f"/v1/risk-filings/{filing_id}/review", headers=headers or self.reviewer,
                                      json={"decision": decision,
                                            "opinions": "经研究，同意备案；请严格落实评估复核和定期报告要求。"})

    async def feedback(self, filing_id: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.client.post(f"/v1/risk-filings/{filing_id}/feedback", headers=headers or self.reviewer,
                                      json={"kind": "feedback",
                                            "feedback": "已予备案，请按所附条件实施，每季度报告进展。"})

    async def outcome(self, filing_id: str, completed_on: date, deviation: str | None = None,
                      headers: dict[str, str] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"kind": "outcome", "outcome": "deviated" if deviation else "as_planned",
                                "completed_on": completed_on.isoformat()}
        if deviation:
            body["deviation"] = deviation
        return await self.client.post(f"/v1/risk-filings/{filing_id}/feedback", json=body,
                                      headers=headers or self.reviewer)

    async def filed(self, body: dict[str, Any]) -> dict[str, Any]:
        """Filed, accepted, assessed, reviewed `filed` and answered with feedback: the filing then."""
        r = await self.file(body)
        assert r.status_code == 201, r.text
        filing_id = r.json()["id"]
        for step in (self.accept, self.assess, self.review, self.feedback):
            r = await step(filing_id)
            assert r.status_code == 200, r.text
        return dict(r.json())

"""Drives a verification case through its paths over HTTP, as officers would."""

from __future__ import annotations

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

"""Drives a verification case through its paths over HTTP, as officers would."""

from __future__ import annotations

from typing import Any

import httpx

from services.verification.domain import DISTINCTIONS, FIVE_CHECKS

MALICE = {"facts_invented": True, "material_forged": False, "knew_false": True, "meant_punishment": True,
          "aggravating": ["repeated_after_conclusion"], "kind": "false_accusation", "severity": "ordinary"}
EXEMPTION = {"distinctions": {k: True for k in DISTINCTIONS}, "checks": {k: True for k in FIVE_CHECKS}}


class Officers:
    """HTTP calls with the right officer for each step: investigator, municipal approver."""

    def __init__(self, client: httpx.AsyncClient, investigator: dict[str, str], approver: dict[str, str]) -> None:
        self.client, self.investigator, self.approver = client, investigator, approver

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

    async def correct(self, case_id: str) -> httpx.Response:
        return await self.client.post(f"/v1/cases/{case_id}/correction",
                                      json={"reason": "复查发现新的证据，需要重新认定。"}, headers=self.approver)

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

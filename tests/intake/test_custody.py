"""Identity custody over HTTP on a real database: a scope alone releases nobody; an officer reads a
reporter once, with a request a different municipal custodian approved; credit_blacklist gets the
name and ID number for the recorded, approved malicious verdict and for nothing else."""

import asyncio
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update

from services.intake.models import IdentityAccessRequest
from services.intake.service import apply_verdict
from shared.audit import verify_chain
from shared.events import ReportVerifiedV1
from shared.models import AuditRecord
from tests.conftest import bearer
from tests.factories import NAMED_REPORTER_ID, report_body
from tests.keys import AUDIT_KEYS, SERVICE_KEYS

REASON = "核查中需当面向举报人核实所反映土地出让问题的具体细节和证据来源。"
DECISION = "核查确需当面核实，范围限于本案，同意一次性查阅。"
FULL_IDENTITY = {"anonymous": False, "name": "李秀英", "id_number": NAMED_REPORTER_ID, "phone": "13800138000",
                 "address": "浙江省湖州市吴兴区某街道1号"}


@pytest.fixture
def officers(make_token):
    """The investigator who asks, custodians of several levels and places, and a colleague."""
    return {
        "investigator": bearer(make_token("reports:identity", sub="inv-wang", region="3305", org_level="county")),
        "colleague": bearer(make_token("reports:identity", sub="inv-li", region="3305", org_level="county")),
        "custodian": bearer(make_token("identity:custody", sub="cus-zhao", region="3305", org_level="municipal")),
        "county_custodian": bearer(make_token("identity:custody reports:identity", sub="cus-qian", region="330502",
                                              org_level="county")),
        "elsewhere": bearer(make_token("identity:custody", sub="cus-sun", region="3301", org_level="municipal")),
        "self_custodian": bearer(make_token("identity:custody reports:identity", sub="inv-wang", region="3305",
                                            org_level="municipal")),
        "auditor": bearer(make_token("audit:read", sub="aud-zhou", region="33", org_level="provincial")),
    }


async def submit(intake, **kw):
    r = await intake.post("/v1/reports", json=report_body(**kw))
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def record_verdict(intake, report_id, verdict="malicious", *, version=1, approver="dir-1",
                         approver_level="municipal", verdict_id=None):
    """What intake's consumer does with a verified report.verified.v1."""
    async with intake.app.runtime.uow() as uow:
        await apply_verdict(uow=uow, verdict=ReportVerifiedV1(
            report_id=report_id, case_id="c-1", verdict_id=verdict_id or f"v-{version}", version=version,
            verdict=verdict, region_code="330502", anonymous=False, concluded_at=datetime.now(UTC),
            approver=approver, approver_org_level=approver_level))
        await uow.commit()


async def audit(intake):
    async with intake.sessions() as s:
        return [(a.actor, a.action) for a in await s.scalars(select(AuditRecord).order_by(AuditRecord.seq))]


async def file(intake, report_id, who):
    r = await intake.post(f"/v1/reports/{report_id}/identity-requests", json={"reason": REASON}, headers=who)
    assert r.status_code == 201, r.text
    return r.json()


async def decide(intake, request_id, who, decision="approved"):
    return await intake.post(f"/v1/identity-requests/{request_id}/decision",
                             json={"decision": decision, "reason": DECISION}, headers=who)


def read(intake, report_id, who, request_id=None):
    params = {} if request_id is None else {"request_id": request_id}
    return intake.get(f"/v1/reports/{report_id}/reporter", params=params, headers=who)


# --- a scope alone -------------------------------------------------------------------------------------


async def test_the_identity_scope_without_an_approved_request_gets_403_on_a_received_and_an_untrue_report(
        intake, officers, make_token):
    received, untrue = await submit(intake), await submit(intake)
    await record_verdict(intake, untrue, "untrue", approver=None, approver_level=None)
    nationwide = bearer(make_token("reports:identity", sub="svc-credit-blacklist", region="", org_level="central"))
    for report_id in (received, untrue):
        for who in (officers["investigator"], nationwide):
            r = await read(intake, report_id, who)
            assert r.status_code == 403 and r.json()["rule"] == "identity_request_required", r.text
    assert await audit(intake) == []


async def test_an_officer_token_is_never_taken_for_credit_blacklists_credential(intake, make_token, data_dir):
    report_id = await submit(intake)
    await record_verdict(intake, report_id, "malicious")
    # Minted with the officers' signing key, as the old service token was: an officer's, so no listing.
    posing = bearer(make_token("reports:identity", sub="svc-credit-blacklist", region="", org_level="central"))
    r = await intake.get(f"/v1/reports/{report_id}/reporter", params={"verdict_id": "v-1", "version": 1},
                         headers=posing)
    assert r.status_code == 403 and r.json()["rule"] == "identity_request_required"
    # The officers' key signing something that claims to be a service credential: 401.
    officers_key = (data_dir / "keys" / "jwt-private.pem").read_bytes()
    forged = jwt.encode({"iss": "/zhengming/credit_blacklist", "sub": "credit_blacklist", "aud": "/zhengming/intake",
                         "iat": int(datetime.now(UTC).timestamp()), "exp": int(datetime.now(UTC).timestamp()) + 60},
                        serialization.load_pem_private_key(officers_key, None), algorithm="EdDSA",
                        headers={"kid": SERVICE_KEYS["credit_blacklist"].key_id, "typ": "zm-service+jwt"})
    r = await intake.get(f"/v1/reports/{report_id}/reporter", params={"verdict_id": "v-1", "version": 1},
                         headers=bearer(forged))
    assert r.status_code == 401
    assert await audit(intake) == []


# --- (b) the custody flow -------------------------------------------------------------------------------


async def test_request_then_self_approval_refused_then_municipal_approval_one_read_and_a_second_read_refused(
        intake, officers):
    report_id = await submit(intake)
    request = await file(intake, report_id, officers["investigator"])
    assert request["status"] == "pending" and request["requested_by"] == "inv-wang"
    assert request["requested_at"].endswith("+08:00")

    refusals = {
        "self_custodian": (403, "separation_of_duties"),
        "county_custodian": (403, "custodian_level"),
        "elsewhere": (404, None),
        "investigator": (403, None),  # no custody scope at all
    }
    for who, (status, rule) in refusals.items():
        r = await decide(intake, request["id"], officers[who])
        assert r.status_code == status, (who, r.text)
        if rule:
            assert r.json()["rule"] == rule and r.json()["code"] == "identity_decision_refused"
    r = await read(intake, report_id, officers["investigator"], request["id"])
    assert r.status_code == 403 and r.json()["rule"] == "request_pending"

    approved = await decide(intake, request["id"], officers["custodian"])
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved" and body["decided_by"] == "cus-zhao"
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(hours=23, minutes=59) < expires - datetime.fromisoformat(body["decided_at"]) <= timedelta(hours=24)
    assert (await decide(intake, request["id"], officers["custodian"])).status_code == 409

    r = await read(intake, report_id, officers["colleague"], request["id"])
    assert r.status_code == 403 and r.json()["rule"] == "not_the_requester"
    r = await read(intake, report_id, officers["investigator"], request["id"])
    assert r.status_code == 200, r.text
    assert r.json() == {"report_id": report_id, **FULL_IDENTITY, "released_under": f"identity_request:{request['id']}"}
    again = await read(intake, report_id, officers["investigator"], request["id"])
    assert again.status_code == 403 and again.json()["rule"] == "request_released"

    assert await audit(intake) == [("inv-wang", "identity_request.filed"), ("cus-zhao", "identity_request.approved"),
                                   ("inv-wang", "reporter.identity_released")]
    async with intake.sessions() as s:
        released = await s.scalar(select(AuditRecord).where(AuditRecord.action == "reporter.identity_released"))
        assert released.details["identity_request_id"] == request["id"] and released.reason == REASON
        assert released.details["fields"] == ["name", "id_number", "phone", "address"]
        assert (await verify_chain(s, AUDIT_KEYS)).valid
    shown = (await intake.get(f"/v1/identity-requests/{request['id']}", headers=officers["auditor"])).json()
    assert shown["status"] == "released" and shown["released_at"] is not None


async def test_an_approved_request_unused_past_its_time_limit_expires(intake, officers):
    report_id = await submit(intake)
    request = await file(intake, report_id, officers["investigator"])
    assert (await decide(intake, request["id"], officers["custodian"])).status_code == 200
    async with intake.sessions() as s, s.begin():
        await s.execute(update(IdentityAccessRequest).where(IdentityAccessRequest.id == request["id"])
                        .values(expires_at=datetime.now(UTC) - timedelta(seconds=1)))
    r = await read(intake, report_id, officers["investigator"], request["id"])
    assert r.status_code == 403 and r.json()["rule"] == "request_expired"
    listed = (await intake.get("/v1/identity-requests", params={"status": "expired"},
                               headers=officers["custodian"])).json()["items"]
    assert [item["id"] for item in listed] == [request["id"]] and listed[0]["status"] == "expired"


async def test_a_refused_request_releases_nothing_and_stays_refused(intake, officers):
    report_id = await submit(intake)
    request = await file(intake, report_id, officers["investigator"])
    r = await decide(intake, request["id"], officers["custodian"], "refused")
    assert r.status_code == 200 and r.json()["status"] == "refused" and r.json()["expires_at"] is None
    assert (await decide(intake, request["id"], officers["custodian"])).status_code == 409
    r = await read(intake, report_id, officers["investigator"], request["id"])
    assert r.status_code == 403 and r.json()["rule"] == "request_refused"


async def test_a_request_for_another_report_does_not_open_this_one(intake, officers):
    first, second = await submit(intake), await submit(intake)
    request = await file(intake, first, officers["investigator"])
    assert (await decide(intake, request["id"], officers["custodian"])).status_code == 200
    r = await read(intake, second, officers["investigator"], request["id"])
    assert r.status_code == 403 and r.json()["rule"] == "identity_request_required"


async def test_two_reads_racing_with_one_request_release_once(intake, officers):
    report_id = await submit(intake)
    request = await file(intake, report_id, officers["investigator"])
    await decide(intake, request["id"], officers["custodian"])
    answers = await asyncio.gather(*(read(intake, report_id, officers["investigator"], request["id"])
                                     for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 403, 403, 403]
    assert [a for a in await audit(intake) if a[1] == "reporter.identity_released"] == [
        ("inv-wang", "reporter.identity_released")]


@pytest.mark.parametrize("reason", ["blacklist", "xxxxxxxxxxxxxxxxxxxxxxxx", "因为需要", ""])
async def test_a_reason_must_be_a_real_sentence(intake, officers, reason):
    report_id = await submit(intake)
    r = await intake.post(f"/v1/reports/{report_id}/identity-requests", json={"reason": reason},
                          headers=officers["investigator"])
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reason"


async def test_a_report_outside_the_officers_region_cannot_be_asked_for(intake, make_token):
    report_id = await submit(intake)
    r = await intake.post(f"/v1/reports/{report_id}/identity-requests", json={"reason": REASON},
                          headers=bearer(make_token("reports:identity", region="3301")))
    assert r.status_code == 404
    assert await audit(intake) == []


async def test_an_anonymous_report_releases_no_one_even_with_an_approved_request(intake, officers):
    report_id = await submit(intake, anonymous=True)
    request = await file(intake, report_id, officers["investigator"])
    await decide(intake, request["id"], officers["custodian"])
    r = await read(intake, report_id, officers["investigator"], request["id"])
    assert r.status_code == 200 and r.json()["anonymous"] is True
    assert all(r.json()[f] is None for f in ("name", "id_number", "phone", "address"))


async def test_requests_are_listed_by_report_officer_and_period_within_the_jurisdiction(intake, officers, make_token):
    here, there = await submit(intake), await submit(intake, region_code="330102")
    mine = await file(intake, here, officers["investigator"])
    theirs = await file(intake, here, officers["colleague"])
    hangzhou = await file(intake, there, bearer(make_token("reports:identity", sub="inv-hz", region="3301")))
    await decide(intake, mine["id"], officers["custodian"])

    async def ids(who, **params):
        r = await intake.get("/v1/identity-requests", params=params, headers=who)
        assert r.status_code == 200, r.text
        return {item["id"] for item in r.json()["items"]}

    assert await ids(officers["custodian"]) == {mine["id"], theirs["id"]}
    assert await ids(officers["auditor"]) == {mine["id"], theirs["id"], hangzhou["id"]}
    assert await ids(officers["auditor"], report_id=there) == {hangzhou["id"]}
    assert await ids(officers["custodian"], officer="cus-zhao") == {mine["id"]}
    assert await ids(officers["custodian"], officer="inv-li") == {theirs["id"]}
    assert await ids(officers["investigator"]) == {mine["id"]}  # an officer sees only their own
    today = datetime.now(UTC).astimezone().date()
    assert await ids(officers["auditor"], requested_to=str(today - timedelta(days=2))) == set()
    assert len(await ids(officers["auditor"], requested_from=str(today - timedelta(days=1)))) == 3
    r = await intake.get(f"/v1/identity-requests/{hangzhou['id']}", headers=officers["custodian"])
    assert r.status_code == 404
    assert (await intake.get("/v1/identity-requests", headers=bearer(make_token("reports:read")))).status_code == 403


# --- (a) to credit_blacklist ---------------------------------------------------------------------------


def blacklist_credential():
    return bearer(SERVICE_KEYS["credit_blacklist"].credential(audience="intake"))


def listing(intake, report_id, verdict_id="v-1", version=1, who=None):
    return intake.get(f"/v1/reports/{report_id}/reporter", params={"verdict_id": verdict_id, "version": version},
                      headers=who or blacklist_credential())


async def test_credit_blacklist_gets_name_and_id_number_for_the_recorded_approved_malicious_verdict_only(intake):
    report_id = await submit(intake)
    r = await listing(intake, report_id)
    assert r.status_code == 409 and r.json()["rule"] == "verdict_not_recorded"  # intake has not applied it yet

    await record_verdict(intake, report_id, "untrue", approver=None, approver_level=None)
    r = await listing(intake, report_id)
    assert r.status_code == 403 and r.json()["rule"] == "no_malicious_verdict"
    await record_verdict(intake, report_id, "malicious", version=2, approver=None, approver_level=None)
    r = await listing(intake, report_id, "v-2", 2)
    assert r.status_code == 403 and r.json()["rule"] == "verdict_not_approved"
    await record_verdict(intake, report_id, "malicious", version=3, approver="dir-county", approver_level="county")
    r = await listing(intake, report_id, "v-3", 3)
    assert r.status_code == 403 and r.json()["rule"] == "verdict_not_approved"
    assert await audit(intake) == []

    await record_verdict(intake, report_id, "malicious", version=4)
    r = await listing(intake, report_id, "v-4", 4)
    assert r.status_code == 200, r.text
    assert r.json() == {"report_id": report_id, "anonymous": False, "name": "李秀英", "id_number": NAMED_REPORTER_ID,
                        "phone": None, "address": None, "released_under": "listing:v-4"}
    assert (await listing(intake, report_id, "v-3", 3)).json()["rule"] == "verdict_superseded"
    assert (await listing(intake, report_id, "v-x", 4)).json()["rule"] == "verdict_mismatch"
    assert (await listing(intake, report_id, verdict_id="v-4", version=4, who=bearer(
        SERVICE_KEYS["clarification"].credential(audience="intake")))).status_code == 401
    async with intake.sessions() as s:
        [released] = list(await s.scalars(select(AuditRecord)))
    assert (released.actor, released.action) == ("service:credit_blacklist", "reporter.identity_released")
    assert released.details["fields"] == ["name", "id_number"] and released.details["verdict_id"] == "v-4"


async def test_a_listing_must_name_its_verdict(intake):
    report_id = await submit(intake)
    r = await intake.get(f"/v1/reports/{report_id}/reporter", headers=blacklist_credential())
    assert r.status_code == 422 and {e["field"] for e in r.json()["errors"]} == {"verdict_id", "version"}


async def test_the_openapi_states_the_custody_rules_and_the_event_signatures(intake):
    spec = (await intake.get("/openapi.json")).json()
    assert "signaturekeyid" in spec["info"]["description"]
    release = spec["paths"]["/v1/reports/{report_id}/reporter"]["get"]["description"]
    assert "identity:custody" in release and "approved malicious verdict" in release and "once" in release
    assert {"/v1/reports/{report_id}/identity-requests", "/v1/identity-requests/{request_id}/decision",
            "/v1/identity-requests"} <= set(spec["paths"])


@pytest.mark.parametrize(("method", "url", "body"), [
    ("GET", "/v1/identity-requests?requested_to=9999-12-31&requested_from=0001-01-01", None),
    ("GET", "/v1/identity-requests?officer=%ED%A0%80", None),
    ("GET", "/v1/identity-requests?cursor=!!!", None),
    ("POST", "/v1/reports/x/identity-requests", b'{"reason": "' + b"\\ud800" * 20 + b'"}'),
    ("POST", "/v1/reports/x/identity-requests", b'{"reason": "' + "因".encode() * 5000 + b'"}'),
    ("POST", "/v1/identity-requests/x/decision", b'{"decision": "approved", "reason": {"a": [[[[1]]]]}}'),
    ("GET", "/v1/reports/x/reporter?version=99999999999999&verdict_id=v", None),
])
async def test_hostile_input_on_the_custody_routes_is_a_clear_4xx(intake, make_token, method, url, body):
    who = bearer(make_token("identity:custody audit:read reports:identity", org_level="municipal"))
    r = await intake.request(method, url, content=body, headers={**who, "content-type": "application/json"})
    assert 400 <= r.status_code < 500 or r.status_code == 200, r.text
    assert r.headers["content-type"].startswith(("application/json", "application/problem+json"))


async def test_two_custodians_deciding_one_request_at_once_decide_it_once(intake, officers, make_token):
    report_id = await submit(intake)
    request = await file(intake, report_id, officers["investigator"])
    other = bearer(make_token("identity:custody", sub="cus-wu", region="3305", org_level="municipal"))
    answers = await asyncio.gather(decide(intake, request["id"], officers["custodian"]),
                                   decide(intake, request["id"], other, "refused"))
    assert sorted(a.status_code for a in answers) == [200, 409]
    decisions = [a for a in await audit(intake) if a[1] in ("identity_request.approved", "identity_request.refused")]
    assert len(decisions) == 1

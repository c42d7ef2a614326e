"""intake over HTTP against a real database: validation, protection of identity, outbox."""

import json

import pytest
from sqlalchemy import func, select, text

from services.intake.models import Allegation, Report
from shared.db import session_factory
from shared.models import OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.factories import NAMED_REPORTER_ID, report_body

SUBMIT = "reports:submit"


@pytest.fixture
async def intake(new_database, settings_for, make_token, engine_for):
    url = await new_database("intake")
    app = build_app("intake", settings_for("intake", url))
    async with serve(app) as client:
        client.headers.update(bearer(make_token(f"{SUBMIT} reports:read audit:read")))
        yield client, engine_for(url)


async def count(engine, model):
    async with session_factory(engine)() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def test_submission_returns_id_receipt_code_and_location(intake):
    client, _ = intake
    r = await client.post("/v1/reports", json=report_body())
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["status"] == "received"
    assert r.headers["location"] == f"/v1/reports/{body['id']}"
    assert len(body["receipt_code"].replace("-", "")) == 16
    got = await client.get(f"/v1/reports/{body['id']}")
    assert got.status_code == 200
    assert got.json()["subject"]["name"] == "王建国"
    assert got.json()["allegations"][0]["category"] == "bribery"


async def test_reporter_identity_is_encrypted_at_rest_and_absent_from_the_event(intake):
    client, engine = intake
    r = await client.post("/v1/reports", json=report_body())
    assert r.status_code == 201
    async with engine.connect() as conn:
        row = (await conn.execute(text("SELECT * FROM reports"))).mappings().one()
        outbox = (await conn.execute(select(OutboxMessage.payload, OutboxMessage.headers))).one()
    stored = json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False)
    # Decode first: the body is JSON with \u escapes, so a raw substring search would prove nothing.
    event = json.dumps(json.loads(outbox.payload), ensure_ascii=False) + json.dumps(outbox.headers, ensure_ascii=False)
    assert "王建国" in event  # the subject is meant to travel; the reporter is not
    for secret in ("李秀英", NAMED_REPORTER_ID, "13800138000", "某街道1号"):
        assert secret not in stored
        assert secret not in event
    assert row["reporter_blind_index"] and row["reporter_blind_index"] in event
    assert row["receipt_code_hash"] != r.json()["receipt_code"]
    assert r.json()["receipt_code"].replace("-", "") not in stored


async def test_officer_view_never_shows_the_reporter(intake):
    client, _ = intake
    rid = (await client.post("/v1/reports", json=report_body())).json()["id"]
    text_ = (await client.get(f"/v1/reports/{rid}")).text
    assert "李秀英" not in text_ and NAMED_REPORTER_ID not in text_ and "reporter" not in text_


@pytest.mark.parametrize(("mutate", "field"), [
    (lambda b: b.pop("subject"), "subject"),
    (lambda b: b["subject"].update(region_code="33050"), "subject.region_code"),
    (lambda b: b.update(allegations=[]), "allegations"),
    (lambda b: b["allegations"][0].update(summary="太短"), "allegations[0].summary"),
    (lambda b: b["allegations"][0].update(category="gossip"), "allegations[0].category"),
    (lambda b: b.update(allegations=b["allegations"] * 21), "allegations"),
    (lambda b: b.update(colour="red"), "colour"),
    (lambda b: b["reporter"].update(id_number="110105194912310021"), "reporter.id_number"),
    (lambda b: b["reporter"].pop("id_number"), "reporter"),
    (lambda b: b.update(channel="carrier_pigeon"), "channel"),
])
async def test_bad_input_is_422_problem_naming_the_field_and_writes_nothing(intake, mutate, field):
    client, engine = intake
    body = report_body()
    mutate(body)
    r = await client.post("/v1/reports", json=body)
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    problem = r.json()
    assert problem["status"] == 422 and problem["code"] == "validation_failed"
    assert field in [e["field"] for e in problem["errors"]], problem
    assert await count(engine, Report) == 0
    assert await count(engine, Allegation) == 0
    assert await count(engine, OutboxMessage) == 0


async def test_anonymous_report_with_identity_is_refused(intake):
    client, _ = intake
    body = report_body(anonymous=True)
    body["reporter"]["name"] = "李秀英"
    r = await client.post("/v1/reports", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "reporter"


async def test_malformed_json_is_422_problem(intake):
    client, _ = intake
    r = await client.post("/v1/reports", content=b'{"channel": ', headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["errors"][0]["field"] == "body"


async def test_oversized_body_is_413_problem(intake):
    client, _ = intake
    r = await client.post("/v1/reports", content=b"x" * 1_100_000, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"


async def test_missing_token_is_401_and_wrong_scope_is_403(intake, make_token):
    client, engine = intake
    r = await client.post("/v1/reports", json=report_body(), headers={"Authorization": ""})
    assert r.status_code == 401 and r.headers["content-type"] == "application/problem+json"
    r = await client.post("/v1/reports", json=report_body(), headers=bearer(make_token("reports:read")))
    assert r.status_code == 403 and r.json()["missing_scopes"] == [SUBMIT]
    r = await client.post("/v1/reports", json=report_body(), headers=bearer("not-a-jwt"))
    assert r.status_code == 401
    assert await count(engine, Report) == 0


async def test_reports_outside_the_officers_region_do_not_exist_for_them(intake, make_token):
    client, _ = intake
    rid = (await client.post("/v1/reports", json=report_body(region_code="330502"))).json()["id"]
    other = bearer(make_token("reports:read", region="3101"))
    r = await client.get(f"/v1/reports/{rid}", headers=other)
    assert r.status_code == 404 and r.json()["code"] == "report_not_found"
    assert (await client.get(f"/v1/reports/{rid}", headers=bearer(make_token("reports:read", region="3305")))
            ).status_code == 200


async def test_health_metrics_docs_and_audit_verify(intake):
    client, _ = intake
    assert (await client.get("/livez")).json() == {"status": "alive"}
    ready = await client.get("/readyz")
    # No broker in this test: readiness must say so rather than pretend.
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"] == "ok" and ready.json()["checks"]["migrations"] == "ok"
    assert ready.json()["checks"]["broker"] == "unreachable"
    await client.post("/v1/reports", json=report_body())
    metrics = (await client.get("/metrics")).text
    assert 'zm_http_request_duration_seconds_count{method="POST",route="/v1/reports"' in metrics
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/reports" in spec["paths"] and "/v1/audit/verify" in spec["paths"]
    audit = await client.get("/v1/audit/verify")
    assert audit.status_code == 200 and audit.json()["valid"] is True


async def test_log_lines_carry_request_and_report_ids_and_no_identity(intake, make_token):
    import logging

    from shared.logs import ContextFilter, JsonFormatter, quiet_libraries

    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Collect(level=logging.DEBUG)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter("intake"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    quiet_libraries()  # as configure_logging does in every service process
    try:
        client, _ = intake
        r = await client.post("/v1/reports", json=report_body(), headers={"X-Request-ID": "req-42"})
        await client.post("/v1/reports", json={**report_body(), "colour": "red"})
        officer = bearer(make_token("reports:identity", sub="inv-1"))
        asked = await client.post(f"/v1/reports/{r.json()['id']}/identity-requests", headers=officer,
                                  json={"reason": "核查中需当面向举报人核实所反映问题的具体细节。"})
        await client.post(f"/v1/identity-requests/{asked.json()['id']}/decision",
                          headers=bearer(make_token("identity:custody", sub="cus-1", org_level="municipal")),
                          json={"decision": "approved", "reason": "确需当面核实，同意一次性查阅举报人身份。"})
        released = await client.get(f"/v1/reports/{r.json()['id']}/reporter", headers=officer,
                                    params={"request_id": asked.json()["id"]})
        assert released.json()["name"] == "李秀英"
        await client.get(f"/v1/receipts/{r.json()['receipt_code']}")
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert r.headers["x-request-id"] == "req-42"
    access = [json.loads(line) for line in lines if '"msg": "request"' in line]
    assert access[0]["request_id"] == "req-42" and access[0]["report_id"] == r.json()["id"]
    assert access[0]["route"] == "/v1/reports" and access[0]["status"] == 201
    assert access[1]["status"] == 422
    everything = "\n".join(lines)
    for secret in ("李秀英", NAMED_REPORTER_ID, "13800138000", "某街道1号", r.json()["receipt_code"]):
        assert secret not in everything


async def test_nul_characters_are_422_not_a_database_error(intake):
    client, engine = intake
    body = report_body()
    body["subject"]["name"] = "王\x00建国"
    r = await client.post("/v1/reports", json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "subject.name"
    r = await client.get("/v1/reports/%00")
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    assert await count(engine, Report) == 0


async def test_region_code_must_be_ascii_digits(intake):
    client, _ = intake
    r = await client.post("/v1/reports", json=report_body(region_code="٣٣٠٥٠٢"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "subject.region_code"


async def test_chunked_body_over_the_limit_is_413(intake):
    client, engine = intake

    async def chunks():
        for _ in range(20):
            yield b" " * 100_000

    r = await client.post("/v1/reports", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["code"] == "payload_too_large"
    assert await count(engine, Report) == 0


async def test_token_without_a_region_claim_is_refused(intake, data_dir):
    import time

    import jwt
    from cryptography.hazmat.primitives import serialization

    client, _ = intake
    key = serialization.load_pem_private_key((data_dir / "keys" / "jwt-private.pem").read_bytes(), None)
    now = int(time.time())
    token = jwt.encode({"sub": "x", "iss": "zhengming", "aud": "zhengming", "exp": now + 60, "iat": now,
                        "scope": "reports:read", "org_level": "central"}, key, algorithm="EdDSA")
    r = await client.get("/v1/reports/anything", headers=bearer(token))
    assert r.status_code == 401

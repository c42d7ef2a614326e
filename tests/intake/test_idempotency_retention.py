"""An Idempotency-Key is kept 24 hours (issue #24): a retry within them gets the first answer, a
request with the key after them is a new submission -- the old answer, with its receipt code, is never
handed out again."""

from datetime import timedelta

from sqlalchemy import select, update

from services.intake.models import IdempotencyRecord, Report
from shared.db import utcnow
from tests.factories import report_body
from tests.intake.conftest import intake  # noqa: F401  (the served intake app)

RETENTION = timedelta(hours=24)  # intake's default idempotency_retention_hours


async def age_keys(client, by: timedelta) -> None:
    async with client.sessions() as s, s.begin():
        await s.execute(update(IdempotencyRecord).values(created_at=utcnow() - by))


async def report_ids(client) -> set[str]:
    async with client.sessions() as s:
        return set(await s.scalars(select(Report.id)))


async def test_a_retry_just_inside_the_retention_gets_the_first_answer(intake):  # noqa: F811
    first = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-1"})
    assert first.status_code == 201, first.text
    await age_keys(intake, RETENTION - timedelta(minutes=5))
    again = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-1"})
    assert again.status_code == 201 and again.headers.get("idempotent-replayed") == "true"
    assert again.json() == first.json() and await report_ids(intake) == {first.json()["id"]}


async def test_a_key_aged_past_its_retention_is_never_replayed(intake):  # noqa: F811
    first = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-2"})
    assert first.status_code == 201, first.text
    await age_keys(intake, RETENTION + timedelta(minutes=5))
    again = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-2"})
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"] and again.json()["receipt_code"] != first.json()["receipt_code"]
    assert await report_ids(intake) == {first.json()["id"], again.json()["id"]}


async def test_another_body_under_an_expired_key_is_a_new_report_not_a_reused_key(intake):  # noqa: F811
    first = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "xf-3"})
    await age_keys(intake, RETENTION + timedelta(minutes=5))
    other = report_body()
    other["subject"]["name"] = "张三"
    again = await intake.post("/v1/reports", json=other, headers={"Idempotency-Key": "xf-3"})
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first.json()["id"] and "idempotent-replayed" not in again.headers

"""Submissions that arrive together are committed together, each answered for itself after the commit."""

import asyncio
import contextlib

from sqlalchemy import event, func, select

from services.intake import store
from services.intake.models import Allegation, IdempotencyRecord, Report
from services.intake.schemas import ReportIn
from services.intake.writer import SubmissionWriter
from shared.db import create_engine, session_factory
from shared.models import OutboxMessage
from tests.factories import report_body, resident_id


async def count(client, model):
    async with client.sessions() as s:
        return await s.scalar(select(func.count()).select_from(model))


def distinct_body(i: int) -> dict:
    body = report_body(anonymous=i % 2 == 1)
    body["subject"]["name"] = f"官员{i}"
    body["allegations"] = body["allegations"] * (1 + i % 3)
    if i % 2 == 0:
        body["reporter"]["id_number"] = resident_id(seq=100 + i)
    return body


async def test_concurrent_submissions_share_commits_and_each_gets_its_own_stored_report(intake):
    commits = []
    event.listen(intake.app.runtime.engine.sync_engine, "commit", lambda conn: commits.append(1))
    responses = await asyncio.gather(*(intake.post("/v1/reports", json=distinct_body(i)) for i in range(24)))
    assert [r.status_code for r in responses] == [201] * 24
    ids = [r.json()["id"] for r in responses]
    assert len(set(ids)) == 24 and len({r.json()["receipt_code"] for r in responses}) == 24
    assert len(commits) < 24  # group commit: fewer transactions than reports
    assert await count(intake, Report) == 24
    assert await count(intake, Allegation) == sum(1 + i % 3 for i in range(24))
    async with intake.sessions() as s:
        keys = (await s.scalars(select(OutboxMessage.message_key).order_by(OutboxMessage.id))).all()
    assert sorted(keys) == sorted(ids)  # one event per report, none twice
    for i, r in enumerate(responses):  # each answer belongs to its own request
        got = (await intake.get(r.headers["location"])).json()
        assert got["subject"]["name"] == f"官员{i}" and len(got["allegations"]) == 1 + i % 3


async def test_a_report_is_compared_with_those_earlier_in_its_batch(intake):
    first, second = await asyncio.gather(*(intake.post("/v1/reports", json=report_body()) for _ in range(2)))
    flagged = [r.json() for r in (first, second) if r.json()["flags"]]
    assert len(flagged) == 1 and flagged[0]["flags"] == ["near_duplicate"]
    other = first.json() if flagged[0] == second.json() else second.json()
    assert flagged[0]["linked_report_ids"] == [other["id"]]


async def test_one_key_twice_in_a_batch_stores_once_and_another_body_under_it_is_422(intake, monkeypatch):
    alone = []  # the one-request-per-transaction fallback would give the same answers: it must not be needed
    original = SubmissionWriter._write_alone

    async def counting(self, new):
        alone.append(new)
        return await original(self, new)

    monkeypatch.setattr(SubmissionWriter, "_write_alone", counting)
    other = report_body()
    other["subject"]["name"] = "张三"
    same, again, different, unrelated = await asyncio.gather(
        intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "k-1"}),
        intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "k-1"}),
        intake.post("/v1/reports", json=other, headers={"Idempotency-Key": "k-1"}),
        intake.post("/v1/reports", json=distinct_body(3)),
    )
    assert same.status_code == again.status_code == unrelated.status_code == 201
    assert same.json() == again.json()
    assert [r.headers.get("idempotent-replayed") for r in (same, again)].count("true") == 1
    assert different.status_code == 422 and different.json()["code"] == "idempotency_key_reused"
    assert await count(intake, Report) == 2 and await count(intake, IdempotencyRecord) == 1
    assert alone == []


async def test_a_batch_that_fails_for_one_request_is_retried_one_by_one(intake, monkeypatch):
    first = await intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "raced"})
    assert first.status_code == 201

    async def blind(uow, reports):  # as if another process stored the key after this batch looked
        return {}

    monkeypatch.setattr(store, "_first_answers", blind)
    retry, *others = await asyncio.gather(
        intake.post("/v1/reports", json=report_body(), headers={"Idempotency-Key": "raced"}),
        *(intake.post("/v1/reports", json=distinct_body(i)) for i in range(4)),
    )
    assert retry.status_code == 201 and retry.json() == first.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert [r.status_code for r in others] == [201] * 4
    assert len({r.json()["id"] for r in others} | {first.json()["id"]}) == 5
    for i, r in enumerate(others):  # rewritten one by one, each answer still belongs to its own request
        assert (await intake.get(r.headers["location"])).json()["subject"]["name"] == f"官员{i}"
    assert await count(intake, Report) == 5 and await count(intake, OutboxMessage) == 5


async def test_database_unavailable_is_503_for_every_request_and_nothing_is_stored(intake, tmp_path):
    runtime = intake.app.runtime
    working = runtime.sessions
    if runtime.engine.dialect.name == "postgresql":
        broken = create_engine("postgresql+asyncpg://postgres@127.0.0.1:1/none", pool_pre_ping=False)
    else:
        (tmp_path / "not-a-file.db").mkdir()  # a directory where the database file should be
        broken = create_engine(f"sqlite+aiosqlite:///{tmp_path}/not-a-file.db")
    runtime.sessions = session_factory(broken)
    try:
        responses = await asyncio.gather(*(intake.post("/v1/reports", json=distinct_body(i)) for i in range(3)))
        # Any other route too: a database outage is a 503 to retry, not a 500.
        responses.append(await intake.get("/v1/reports"))
    finally:
        runtime.sessions = working
        await broken.dispose()
    for r in responses:
        assert r.status_code == 503 and r.headers["content-type"] == "application/problem+json"
        assert r.json()["code"] == "database_unavailable" and r.headers["retry-after"]
    assert await count(intake, Report) == 0
    assert (await intake.post("/v1/reports", json=report_body())).status_code == 201



async def test_a_batch_about_an_official_waits_for_the_batch_in_flight_about_the_same_official(intake, monkeypatch):
    # One report per batch, two batches in flight: the second report about the official must still be
    # compared with the first, so its batch may not look for earlier reports before the first is committed.
    from services.intake import service
    from services.intake.resources import IntakeResources
    from shared.auth import Principal

    runtime = intake.app.runtime
    own = intake.app.resources
    assert isinstance(own, IntakeResources)
    writer = SubmissionWriter(runtime.uow, runtime.cipher, own.writer.rules, max_batch=1)
    second_started = asyncio.get_running_loop().create_future()
    original = store.submit_many
    calls = []

    async def first_lingers(**kw):
        calls.append(1)
        if len(calls) == 1:  # the first batch holds its transaction open while the second could start
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(second_started), timeout=0.5)
        elif not second_started.done():
            second_started.set_result(None)
        return await original(**kw)

    channel = Principal(subject="channel", scopes=frozenset(), region="", org_level="central")

    def prepared(body):
        return service.prepare(cipher=runtime.cipher, calendar=runtime.calendar, rules=writer.rules,
                               report_in=ReportIn.model_validate(body), principal=channel)

    await writer.submit(prepared(distinct_body(1)))  # the writer learns it writes to PostgreSQL (or SQLite)
    monkeypatch.setattr(store, "submit_many", first_lingers)
    first, second = await asyncio.gather(writer.submit(prepared(report_body())), writer.submit(prepared(report_body())))
    assert first.flags == [] and second.flags == ["near_duplicate"]
    assert second.linked_report_ids == [first.report_id]

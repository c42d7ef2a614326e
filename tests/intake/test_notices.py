"""The statutory notices in the reporter's conversation (#20, items 3 and 5) on a real database: the
acceptance notice falls overdue with the development clock, is posted once and leaves the overdue
list and its gauge; after the final verdict the result notice's draft states the outcome (and that
the official was cleared where they were), never who the official is, and is posted once per verdict;
before the verdict it is 409; the figures count messages and give the median working days to the
acceptance notice."""

import statistics
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from services.intake.models import Attachment, Message
from services.intake.service import apply_verdict
from shared import clock
from shared.calendar import WorkingCalendar, china_date
from shared.events import ReportVerifiedV1
from tests.conftest import bearer, build_app, serve
from tests.factories import report_body

PUBLIC = {"Authorization": ""}
GAUGE = "zm_acceptance_notices_overdue_messages"
SUBJECT = ("王建国", "湖州市吴兴区自然资源局", "副局长")  # who the report is about: never in a notice


@pytest.fixture
async def intake(new_database, settings_for, make_token, sessions_for, data_dir):
    """Intake following the development clock, with a submitter's token by default and an officer
    of Huzhou (3305) who reads and writes to reporters; the clock is put back afterwards."""
    url = await new_database("intake")
    app = build_app("intake", settings_for("intake", url, dev_clock=True))
    try:
        async with serve(app) as client:
            client.headers.update(bearer(make_token("reports:submit")))
            client.sessions = sessions_for(url)
            client.app = app
            client.officer = bearer(make_token("reports:read reports:message", sub="inv-wang", region="3305",
                                               org_level="county"))
            yield client
    finally:
        clock.write_offset(data_dir, timedelta(0))


def move_clock(data_dir, days):
    clock.write_offset(data_dir, timedelta(days=days))
    clock.use(data_dir)  # reread at once, without waiting for the next look at the file


async def submit(intake, **kw):
    r = await intake.post("/v1/reports", json=report_body(**kw))
    assert r.status_code == 201, r.text
    return r.json()


async def overdue(intake, value="true"):
    r = await intake.get("/v1/reports", params={"notice_overdue": value}, headers=intake.officer)
    assert r.status_code == 200, r.text
    return [item["id"] for item in r.json()["items"]]


async def gauge(intake):
    text = (await intake.get("/metrics")).text
    found = [s.value for family in text_string_to_metric_families(text) for s in family.samples
             if s.name == GAUGE and s.labels.get("service") == "intake"]
    assert len(found) == 1, text
    return found[0]


async def conclude(intake, report_id, verdict, *, version=1, exempted=False):
    """What intake's consumer does with a verified report.verified.v1."""
    async with intake.app.runtime.uow() as uow:
        await apply_verdict(uow=uow, verdict=ReportVerifiedV1(
            report_id=report_id, case_id="c-1", verdict_id=f"v-{version}", version=version, verdict=verdict,
            fault_tolerance_exempted=exempted, region_code="330502", anonymous=False,
            concluded_at=datetime.now(UTC)))
        await uow.commit()


async def draft(intake, report_id, kind):
    return await intake.get(f"/v1/reports/{report_id}/notices/{kind}/draft", headers=intake.officer)


async def post(intake, report_id, kind, text):
    return await intake.post(f"/v1/reports/{report_id}/notices", json={"kind": kind, "text": text},
                             headers=intake.officer)


# --- the acceptance notice ----------------------------------------------------------------------------------


async def test_the_acceptance_notice_falls_overdue_is_posted_once_and_the_overdue_list_and_gauge_empty(
        intake, data_dir):
    created = await submit(intake)
    rid = created["id"]
    due = date.fromisoformat((await intake.get(f"/v1/reports/{rid}", headers=intake.officer)
                              ).json()["acceptance_notice_due"])
    assert await overdue(intake) == [] and await gauge(intake) == 0
    move_clock(data_dir, (due - china_date(datetime.now(UTC))).days)  # the due day itself: not late yet
    assert await overdue(intake) == [] and await gauge(intake) == 0
    move_clock(data_dir, (due - china_date(datetime.now(UTC))).days + 1)
    assert await overdue(intake) == [rid] and await overdue(intake, "false") == []
    assert await gauge(intake) == 1

    shown = await draft(intake, rid, "acceptance")
    assert shown.status_code == 200, shown.text
    body = shown.json()
    assert body["overdue"] is True and body["posted_at"] is None and body["due"] == due.isoformat()
    received = china_date(datetime.fromisoformat(created_at := (await intake.get(
        f"/v1/reports/{rid}", headers=intake.officer)).json()["received_at"]))
    assert f"{received.year}年{received.month}月{received.day}日通过网络举报平台" in body["text"] and created_at
    assert "受理" in body["text"] and not [word for word in SUBJECT if word in body["text"]]

    posted = await post(intake, rid, "acceptance", body["text"])
    assert posted.status_code == 201, posted.text
    assert posted.json()["kind"] == "acceptance" and posted.json()["posted_by"] == "inv-wang"
    assert await overdue(intake) == [] and await overdue(intake, "false") == [rid]
    assert await gauge(intake) == 0
    report = (await intake.get(f"/v1/reports/{rid}", headers=intake.officer)).json()
    assert report["acceptance_notice_at"] == posted.json()["posted_at"]
    assert (await draft(intake, rid, "acceptance")).json()["posted_at"] == posted.json()["posted_at"]

    again = await post(intake, rid, "acceptance", body["text"])
    assert again.status_code == 409 and again.json()["code"] == "notice_already_posted"
    seen = (await intake.get(f"/v1/receipts/{created['receipt_code']}/messages", headers=PUBLIC)).json()
    assert [(m["kind"], m["text"]) for m in seen["items"]] == [("acceptance", body["text"])]


async def test_an_anonymous_reporter_is_owed_the_acceptance_notice_and_reads_it_with_the_receipt_code(intake):
    created = await submit(intake, anonymous=True)
    report = (await intake.get(f"/v1/reports/{created['id']}", headers=intake.officer)).json()
    received = china_date(datetime.fromisoformat(report["received_at"]))
    assert report["acceptance_notice_due"] == WorkingCalendar().add_working_days(received, 15).isoformat()
    text = (await draft(intake, created["id"], "acceptance")).json()["text"]
    assert (await post(intake, created["id"], "acceptance", text)).status_code == 201
    seen = (await intake.get(f"/v1/receipts/{created['receipt_code']}/messages", headers=PUBLIC)).json()
    assert seen["items"][0]["kind"] == "acceptance" and seen["items"][0]["author"] == "officer"


# --- the result notice --------------------------------------------------------------------------------------


async def test_a_result_notice_before_the_final_verdict_is_409_and_writes_nothing(intake):
    created = await submit(intake)
    r = await draft(intake, created["id"], "result")
    assert r.status_code == 409 and r.json()["code"] == "notice_not_due"
    r = await post(intake, created["id"], "result", "举报人：您反映的问题已办结。特此告知。")
    assert r.status_code == 409 and r.json()["code"] == "notice_not_due"
    async with intake.sessions() as s:
        assert await s.scalar(select(func.count()).select_from(Message)) == 0


@pytest.mark.parametrize(("verdict", "exempted", "says", "never"), [
    ("untrue", False, ("经查失实", "澄清正名"), ("属实，", "恶意")),
    ("malicious", False, ("经查失实", "恶意举报", "澄清正名"), ("容错免责",)),
    ("true", True, ("经查属实", "容错免责", "澄清正名"), ("失实",)),
    ("true", False, ("经查属实",), ("澄清", "容错免责", "失实")),
    ("inconclusive", False, ("无法查实",), ("澄清", "失实", "属实，")),
])
async def test_after_the_final_verdict_the_result_notice_states_the_outcome_and_is_posted_once(
        intake, verdict, exempted, says, never):
    created = await submit(intake)
    rid = created["id"]
    await conclude(intake, rid, verdict, exempted=exempted)
    r = await draft(intake, rid, "result")
    assert r.status_code == 200, r.text
    text = r.json()["text"]
    assert all(words in text for words in says), text
    assert not [words for words in never if words in text], text
    assert not [word for word in SUBJECT if word in text]  # the official is not named
    assert r.json()["verdict_version"] == 1 and r.json()["posted_at"] is None

    posted = await post(intake, rid, "result", text)
    assert posted.status_code == 201 and posted.json()["kind"] == "result"
    again = await post(intake, rid, "result", text)
    assert again.status_code == 409 and again.json()["code"] == "notice_already_posted"
    seen = (await intake.get(f"/v1/receipts/{created['receipt_code']}/messages", headers=PUBLIC)).json()
    assert [(m["kind"], m["text"]) for m in seen["items"]] == [("result", text)]


async def test_a_corrected_verdict_makes_a_new_result_notice_due_that_says_it_was_corrected(intake):
    created = await submit(intake)
    rid = created["id"]
    await conclude(intake, rid, "untrue")
    first = (await draft(intake, rid, "result")).json()["text"]
    assert (await post(intake, rid, "result", first)).status_code == 201
    assert "更正" not in first
    await conclude(intake, rid, "inconclusive", version=2)
    corrected = (await draft(intake, rid, "result")).json()
    assert corrected["verdict_version"] == 2 and corrected["posted_at"] is None
    assert "更正" in corrected["text"] and "无法查实" in corrected["text"] and "澄清" not in corrected["text"]
    assert (await post(intake, rid, "result", corrected["text"])).status_code == 201
    assert (await post(intake, rid, "result", corrected["text"])).status_code == 409


# --- the figures -------------------------------------------------------------------------------------------


async def test_stats_count_messages_and_attachments_and_give_the_median_working_days_to_the_acceptance_notice(
        intake, data_dir, make_token):
    first, second, third = [await submit(intake) for _ in range(3)]
    elsewhere = await submit(intake, region_code="330102")  # Hangzhou: outside the figures of Huzhou
    reader = bearer(make_token("reports:read", region="33"))
    empty = (await intake.get("/v1/stats", params={"region": "3305"}, headers=reader)).json()
    assert empty["acceptance_notice_median_working_days"] is None and empty["acceptance_notices_posted"] == 0

    for report in (first, first, elsewhere):
        r = await intake.post(f"/v1/receipts/{report['receipt_code']}/messages", headers=PUBLIC,
                              json={"text": "补充情况：当晚另有两人在场，可以作证。"})
        assert r.status_code == 201
    r = await intake.post(f"/v1/reports/{first['id']}/messages", headers=intake.officer,
                          json={"text": "请问在场两人是否愿意配合核实？", "kind": "question"})
    assert r.status_code == 201
    async with intake.sessions() as s:  # an evidence file of the second report (uploads are item 1's)
        s.add(Attachment(id=str(uuid.uuid4()), report_id=second["id"], region_code="330502", uploaded_via="receipt",
                         media_type="image/jpeg", received_size=10, received_sha256="0" * 64, stored_size=10,
                         stored_sha256="0" * 64, metadata_removed=[], original_kept=False, data_key_enc="v1:k",
                         chunk_count=1))
        await s.commit()

    took = []
    for report, days_later in ((first, 0), (second, 10)):  # ten days hold a weekend: working days differ
        move_clock(data_dir, days_later)
        text = (await draft(intake, report["id"], "acceptance")).json()["text"]
        posted = await post(intake, report["id"], "acceptance", text)
        assert posted.status_code == 201, posted.text
        received_at = (await intake.get(f"/v1/reports/{report['id']}", headers=intake.officer)).json()["received_at"]
        took.append(WorkingCalendar().working_days_between(china_date(datetime.fromisoformat(received_at)),
                                                           china_date(datetime.fromisoformat(posted.json()["posted_at"]))))
    assert took[1] < 10

    stats = (await intake.get("/v1/stats", params={"region": "3305"}, headers=reader)).json()
    assert stats["received"] == 3 and third["id"]
    assert stats["messages"] == {"from_reporters": 2, "from_officers": 3,
                                 "by_kind": {"supplement": 2, "question": 1, "acceptance": 2}}
    assert stats["attachments"] == 1
    assert stats["acceptance_notices_posted"] == 2
    assert stats["acceptance_notice_median_working_days"] == statistics.median(took)
    whole = (await intake.get("/v1/stats", headers=reader)).json()  # the province: Hangzhou's message too
    assert whole["messages"]["from_reporters"] == 3 and whole["received"] == 4

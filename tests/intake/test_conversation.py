"""The reporter's conversation (#20, item 2) over HTTP on a real database: the officer asks, the reporter
reads and answers with the receipt code only; officers elsewhere find nothing; a named reporter's
identity never shows to officers; unread counts rise and fall; texts are encrypted in the table,
length-limited, rate limited by receipt code and never on a topic or a log line; officers' reads and
posts are audited without the text."""

import json
import logging

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import func, select, text

from services.intake.models import Message
from shared.audit import verify_chain
from shared.logs import ContextFilter, JsonFormatter, quiet_libraries
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.factories import NAMED_REPORTER_ID, report_body
from tests.keys import AUDIT_KEYS

IDENTITY = ("李秀英", NAMED_REPORTER_ID, "13800138000", "某街道1号")
QUESTION = "请问您所反映的礼金交付时，在场的两人是否愿意配合核实？"
ANSWER = "在场两人均愿意配合，其中一人是该酒店的值班经理，可以提供当晚的监控录像。"
SUPPLEMENT = "补充情况：该笔礼金系2026年3月15日晚在城关镇某酒店交付。"
PUBLIC = {"Authorization": ""}  # the reporter has no token


@pytest.fixture
async def intake(new_database, settings_for, make_token, sessions_for):
    """Intake with a submitter's token by default, small limits for the receipt routes, officers of
    Huzhou (3305) and of Hangzhou (3301), and `client.sessions` on its database."""
    url = await new_database("intake")
    app = build_app("intake", settings_for("intake", url, receipt_lookups_per_minute=40,
                                           receipt_lookups_per_code_per_minute=8,
                                           reporter_messages_per_code_per_minute=3))
    async with serve(app) as client:
        client.headers.update(bearer(make_token("reports:submit")))
        client.sessions = sessions_for(url)
        client.app = app
        client.officer = bearer(make_token("reports:read reports:message", sub="inv-wang", region="3305",
                                           org_level="county"))
        client.colleague = bearer(make_token("reports:read reports:message", sub="inv-li", region="3305",
                                             org_level="county"))
        client.elsewhere = bearer(make_token("reports:read reports:message", sub="inv-zhao", region="3301",
                                             org_level="county"))
        client.reader = bearer(make_token("reports:read", sub="clerk-sun", region="3305", org_level="county"))
        yield client


async def submit(intake, **kw):
    r = await intake.post("/v1/reports", json=report_body(**kw))
    assert r.status_code == 201, r.text
    return r.json()


async def ask(intake, report_id, question=QUESTION, who=None):
    r = await intake.post(f"/v1/reports/{report_id}/messages", json={"text": question, "kind": "question"},
                          headers=who or intake.officer)
    assert r.status_code == 201, r.text
    return r.json()


async def write(intake, code, words, in_reply_to=None):
    r = await intake.post(f"/v1/receipts/{code}/messages", json={"text": words, "in_reply_to": in_reply_to},
                          headers=PUBLIC)
    assert r.status_code == 201, r.text
    return r.json()


async def unread(intake, report_id):
    listed = (await intake.get("/v1/reports", headers=intake.reader)).json()["items"]
    in_list = next(item["unread_messages"] for item in listed if item["id"] == report_id)
    viewed = (await intake.get(f"/v1/reports/{report_id}", headers=intake.reader)).json()["unread_messages"]
    assert in_list == viewed
    return viewed


async def stored(intake, model=Message):
    async with intake.sessions() as s:
        return list(await s.scalars(select(model)))


# --- the conversation -------------------------------------------------------------------------------------


async def test_the_officer_asks_a_question_and_the_reporter_reads_and_answers_it_with_the_receipt_code_only(intake):
    created = await submit(intake, anonymous=True)
    code = created["receipt_code"]
    question = await ask(intake, created["id"])
    assert question["kind"] == "question" and question["posted_by"] == "inv-wang"
    assert question["posted_at"].endswith("+08:00") and question["read_by_reporter_at"] is None

    seen = await intake.get(f"/v1/receipts/{code}/messages", headers=PUBLIC)
    assert seen.status_code == 200, seen.text
    assert [m["text"] for m in seen.json()["items"]] == [QUESTION]
    assert [q["id"] for q in seen.json()["open_questions"]] == [question["id"]]
    assert seen.json()["items"][0]["author"] == "officer" and "posted_by" not in seen.json()["items"][0]

    answer = await write(intake, code.lower(), ANSWER, in_reply_to=question["id"])  # typed by hand, in lower case
    assert answer["kind"] == "answer" and answer["in_reply_to"] == question["id"] and not answer["read_by_officer"]
    again = (await intake.get(f"/v1/receipts/{code}/messages", headers=PUBLIC)).json()
    assert again["open_questions"] == [] and again["items"][0]["answered"] is True

    thread = (await intake.get(f"/v1/reports/{created['id']}/messages", headers=intake.reader)).json()["items"]
    assert [(m["kind"], m["author"], m["text"]) for m in thread] == [
        ("question", "officer", QUESTION), ("answer", "reporter", ANSWER)]
    asked, answered = thread
    assert asked["read_by_reporter_at"].endswith("+08:00") and asked["answered_at"].endswith("+08:00")
    assert answered["posted_by"] is None and answered["read_by_officer_at"].endswith("+08:00")
    # The reporter now sees their answer read.
    mine = (await intake.get(f"/v1/receipts/{code}/messages", headers=PUBLIC)).json()["items"][1]
    assert mine["read_by_officer"] is True


async def test_a_long_conversation_is_read_a_page_at_a_time_oldest_first(intake):
    created = await submit(intake)
    for n in range(3):
        await write(intake, created["receipt_code"], f"{SUPPLEMENT}（第{n + 1}次补充）")
    first = (await intake.get(f"/v1/reports/{created['id']}/messages", params={"limit": 2},
                              headers=intake.reader)).json()
    rest = (await intake.get(f"/v1/reports/{created['id']}/messages",
                             params={"limit": 2, "cursor": first["next_cursor"]}, headers=intake.reader)).json()
    assert [m["text"][-7:] for m in first["items"] + rest["items"]] == [f"（第{n}次补充）" for n in (1, 2, 3)]
    assert rest["next_cursor"] is None


async def test_officers_of_another_region_get_404_on_every_new_route_and_change_nothing(intake):
    created = await submit(intake)
    rid = created["id"]
    await write(intake, created["receipt_code"], SUPPLEMENT)
    attempts = [
        ("GET", f"/v1/reports/{rid}/messages", None),
        ("POST", f"/v1/reports/{rid}/messages", {"text": QUESTION, "kind": "question"}),
        ("GET", f"/v1/reports/{rid}/notices/acceptance/draft", None),
        ("GET", f"/v1/reports/{rid}/notices/result/draft", None),
        ("POST", f"/v1/reports/{rid}/notices", {"kind": "acceptance", "text": "举报人：您的举报已受理。特此告知。"}),
        ("POST", f"/v1/reports/{rid}/notices", {"kind": "result", "text": "举报人：您的举报已办结。特此告知。"}),
    ]
    for method, url, body in attempts:
        r = await intake.request(method, url, json=body, headers=intake.elsewhere)
        assert r.status_code == 404 and r.json()["code"] == "report_not_found", (method, url, r.text)
        assert SUPPLEMENT not in r.text
    assert len(await stored(intake)) == 1 and await unread(intake, rid) == 1  # still unread, nothing posted


async def test_a_named_reporters_identity_never_appears_in_what_officers_read(intake):
    created = await submit(intake)  # a named reporter: 李秀英
    await write(intake, created["receipt_code"], SUPPLEMENT)
    rid = created["id"]
    await ask(intake, rid)
    answers = [
        await intake.get(f"/v1/reports/{rid}/messages", headers=intake.officer),
        await intake.get(f"/v1/reports/{rid}", headers=intake.officer),
        await intake.get("/v1/reports", headers=intake.officer),
        await intake.get(f"/v1/reports/{rid}/notices/acceptance/draft", headers=intake.officer),
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert not [secret for secret in IDENTITY if secret in r.text], r.text
    supplement = answers[0].json()["items"][0]
    assert supplement["author"] == "reporter" and supplement["posted_by"] is None
    assert set(supplement) == {"id", "report_id", "kind", "author", "posted_by", "text", "posted_at", "in_reply_to",
                               "read_by_officer_at", "read_by_reporter_at", "answered_at"}


async def test_unread_counts_rise_with_the_reporters_messages_and_fall_as_officers_read_them(intake):
    created = await submit(intake)
    rid, code = created["id"], created["receipt_code"]
    assert await unread(intake, rid) == 0
    await write(intake, code, SUPPLEMENT)
    await write(intake, code, SUPPLEMENT + "另附：当晚在场人员名单。")
    assert await unread(intake, rid) == 2
    await ask(intake, rid)  # an officer's own message is no unread message
    assert await unread(intake, rid) == 2
    # Reading a page reads what it shows, no more; any officer's reading counts for all.
    await intake.get(f"/v1/reports/{rid}/messages", params={"limit": 1}, headers=intake.officer)
    assert await unread(intake, rid) == 1
    await intake.get(f"/v1/reports/{rid}/messages", headers=intake.colleague)
    assert await unread(intake, rid) == 0
    await write(intake, code, ANSWER)
    assert await unread(intake, rid) == 1
    other = await submit(intake)
    assert await unread(intake, other["id"]) == 0  # counted per report


async def test_messages_are_encrypted_in_the_table(intake, cipher):
    created = await submit(intake)
    await write(intake, created["receipt_code"], SUPPLEMENT)
    await ask(intake, created["id"])
    async with intake.sessions() as s:
        rows = (await s.execute(text("SELECT body_enc FROM messages"))).scalars().all()
    assert len(rows) == 2
    for stored_text in rows:
        assert stored_text.startswith("v1:") and SUPPLEMENT not in stored_text and QUESTION not in stored_text
    assert sorted(cipher.decrypt(row, column="messages.body_enc") for row in rows) == sorted([SUPPLEMENT, QUESTION])
    with pytest.raises(InvalidTag):  # bound to its column: pasted elsewhere it does not decrypt
        cipher.decrypt(rows[0], column="reports.reporter_name_enc")


async def test_texts_are_length_limited_and_an_answer_must_name_a_question_of_this_report(intake):
    created, other = await submit(intake), await submit(intake)
    code = created["receipt_code"]
    r = await intake.post(f"/v1/receipts/{code}/messages", json={"text": "举" * 5001}, headers=PUBLIC)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "text"
    r = await intake.post(f"/v1/receipts/{code}/messages", json={"text": "   "}, headers=PUBLIC)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "text"
    r = await intake.post(f"/v1/reports/{created['id']}/messages", json={"text": "问" * 5001},
                          headers=intake.officer)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "text"
    elsewhere = await ask(intake, other["id"])
    r = await intake.post(f"/v1/receipts/{code}/messages", json={"text": ANSWER, "in_reply_to": elsewhere["id"]},
                          headers=PUBLIC)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "in_reply_to"
    assert len(await stored(intake)) == 1  # only the other report's question
    longest = await write(intake, code, "举" * 5000)
    assert len(longest["text"]) == 5000


async def test_only_reports_message_may_write_to_the_reporter(intake):
    created = await submit(intake)
    for url, body in ((f"/v1/reports/{created['id']}/messages", {"text": QUESTION}),
                      (f"/v1/reports/{created['id']}/notices", {"kind": "acceptance", "text": "举报人：已受理。"})):
        r = await intake.post(url, json=body, headers=intake.reader)
        assert r.status_code == 403 and r.json()["missing_scopes"] == ["reports:message"]
    assert await stored(intake) == []


# --- limits, the audit trail, what leaves the service ----------------------------------------------------------


async def test_the_receipt_routes_are_rate_limited_per_code_with_the_lookup_and_answer_429_with_retry_after(intake):
    created = await submit(intake)
    code = created["receipt_code"]
    posts = [await intake.post(f"/v1/receipts/{code}/messages", json={"text": f"{SUPPLEMENT}{n}"}, headers=PUBLIC)
             for n in range(4)]
    assert [r.status_code for r in posts] == [201, 201, 201, 429]
    assert int(posts[-1].headers["retry-after"]) >= 1 and posts[-1].json()["code"] == "rate_limited"
    assert len(await stored(intake)) == 3  # the refused one was not written
    # Reads share the lookup's bucket of the code (8 a minute here): 4 posts and 2 lookups spent 6.
    lookups = [await intake.get(f"/v1/receipts/{code}", headers=PUBLIC) for _ in range(2)]
    reads = [await intake.get(f"/v1/receipts/{code}/messages", headers=PUBLIC) for _ in range(3)]
    assert [r.status_code for r in lookups + reads] == [200, 200, 200, 200, 429]
    assert int(reads[-1].headers["retry-after"]) >= 1


@pytest.fixture
async def behind_a_proxy(new_database, settings_for):
    """Intake behind the documented ingress at 127.0.0.1, so each X-Forwarded-For is another client."""
    app = build_app("intake", settings_for("intake", await new_database("intake"), trusted_proxies="127.0.0.1",
                                           receipt_failed_lookups_per_minute=6))
    async with serve(app) as client:
        yield client


async def test_unknown_codes_are_limited_for_all_clients_together_across_lookups_and_messages(behind_a_proxy):
    from services.intake.domain import new_receipt_code

    statuses = []
    for i in range(10):
        route = ("/v1/receipts/{}", "/v1/receipts/{}/messages")[i % 2]
        method = "POST" if i % 4 == 3 else "GET"
        body = {"json": {"text": SUPPLEMENT}} if method == "POST" else {}
        r = await behind_a_proxy.request(method, route.format(new_receipt_code()),
                                         headers={"X-Forwarded-For": f"192.0.2.{i}"}, **body)
        statuses.append(r.status_code)
    assert statuses.count(404) == 6 and set(statuses[6:]) == {429}


async def test_officers_reads_and_posts_are_audited_without_the_text(intake):
    created = await submit(intake)
    await write(intake, created["receipt_code"], SUPPLEMENT)
    question = await ask(intake, created["id"])
    await intake.get(f"/v1/reports/{created['id']}/messages", headers=intake.colleague)
    async with intake.sessions() as s:
        records = list(await s.scalars(select(AuditRecord).order_by(AuditRecord.seq)))
        assert (await verify_chain(s, AUDIT_KEYS)).valid
    assert [(r.actor, r.action, r.object_id) for r in records] == [
        ("inv-wang", "report.message_posted", created["id"]), ("inv-li", "report.messages_read", created["id"])]
    assert records[0].details["message_id"] == question["id"] and records[0].details["kind"] == "question"
    assert len(records[1].details["newly_read"]) == 1 and len(records[1].details["shown"]) == 2
    everything = json.dumps([r.details for r in records], ensure_ascii=False)
    assert SUPPLEMENT not in everything and QUESTION not in everything


async def test_no_message_text_appears_on_any_topic_or_log_line(intake):
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
    root.setLevel(logging.DEBUG)
    quiet_libraries()
    try:
        created = await submit(intake)
        question = await ask(intake, created["id"])
        await write(intake, created["receipt_code"], ANSWER, in_reply_to=question["id"])
        await intake.get(f"/v1/receipts/{created['receipt_code']}/messages", headers=PUBLIC)
        await intake.get(f"/v1/reports/{created['id']}/messages", headers=intake.officer)
        await intake.post(f"/v1/receipts/{created['receipt_code']}/messages", json={"text": SUPPLEMENT * 200},
                          headers=PUBLIC)  # refused as too long: the refusal is logged, its text is not
        await intake.post(f"/v1/reports/{created['id']}/notices", headers=intake.officer,
                          json={"kind": "acceptance", "text": "举报人：您的检举控告已依规受理。特此告知。"})
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    assert any('"route": "/v1/receipts/{receipt_code}/messages"' in line for line in lines)
    async with intake.sessions() as s:
        outbox = list(await s.scalars(select(OutboxMessage)))
        assert await s.scalar(select(func.count()).select_from(Message)) == 3
    published = "\n".join(row.payload.decode() + json.dumps(row.headers, ensure_ascii=False) for row in outbox)
    logged = "\n".join(lines)
    for words in (QUESTION, ANSWER, SUPPLEMENT[:20], "依规受理", created["receipt_code"]):
        assert words not in published and words not in logged, words
    assert not [secret for secret in IDENTITY if secret in logged]

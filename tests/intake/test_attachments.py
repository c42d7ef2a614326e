"""Evidence attachments over HTTP (#20, item 1), on SQLite and PostgreSQL: a reporter adds files with the
receipt code alone and gets proof of what arrived; officers in the report's region list and download
them, metadata gone and every read audited; what is not accepted is refused while it streams."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import secrets
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import piexif
import pytest
from PIL import Image
from sqlalchemy import select

from services.intake.models import Attachment, AttachmentChunk
from shared.models import AuditRecord, OutboxMessage
from tests.conftest import bearer, build_app, serve
from tests.factories import NAMED_REPORTER_ID, report_body
from tests.intake import evidence_files as files

OFFICER = "officer-1"
MB = 1_000_000


@pytest.fixture
def served_intake(new_database, settings_for, make_token, sessions_for):
    """`async with served_intake(**settings) as client`: intake on its own database; the client speaks as an
    officer of region 33, `client.reporter` as someone with no token, `client.sessions` reads the tables."""
    import contextlib

    @contextlib.asynccontextmanager
    async def make(**overrides):
        url = await new_database("intake")
        app = build_app("intake", settings_for("intake", url, **overrides))
        async with serve(app) as client, httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                           base_url="http://testserver") as reporter:
            client.headers.update(bearer(make_token("reports:submit reports:read", sub=OFFICER)))
            client.reporter, client.sessions, client.app = reporter, sessions_for(url), app
            yield client

    return make


@pytest.fixture
async def intake(served_intake):
    async with served_intake() as client:
        yield client


async def submit(client, **overrides) -> tuple[str, str]:
    r = await client.post("/v1/reports", json=report_body(**overrides))
    assert r.status_code == 201, r.text
    return r.json()["id"], r.json()["receipt_code"]


def upload(data: bytes, name: str = "evidence.bin", declared: str = "application/octet-stream",
           **fields: str) -> dict:
    return {"files": {"file": (name, data, declared)}, "data": fields}


async def reporter_uploads(client, code: str, data: bytes, **kwargs):
    """The reporter's upload: no token, only the receipt code."""
    return await client.reporter.post(f"/v1/receipts/{code}/attachments", **upload(data, **kwargs))


async def stored(client, model, *conditions):
    async with client.sessions() as session:
        return list((await session.scalars(select(model).where(*conditions))).all())


async def streamed_file(boundary: str, size: int, head: bytes, sent: list[int]) -> AsyncIterator[bytes]:
    """A multipart body carrying a `size`-byte file made as it is sent, never held whole by the test."""
    yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="scan.pdf"\r\n'
           f"Content-Type: application/pdf\r\n\r\n").encode()
    yield head
    done = len(head)
    while done < size:
        piece = b"0" * min(65536, size - done)  # a new object each time, as a server's pieces are
        done += len(piece)
        sent[0] = done
        yield piece
    yield f"\r\n--{boundary}--\r\n".encode()


async def upload_measured(client, url: str, size: int) -> tuple[object, int, int]:
    """POST a streamed file of `size` bytes; the answer, the bytes the client got to send, and the peak of
    memory the process allocated meanwhile above where it started."""
    boundary, sent = secrets.token_hex(16), [0]
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        r = await client.post(url, content=streamed_file(boundary, size, b"%PDF-1.7\n", sent),
                              headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        peak = tracemalloc.get_traced_memory()[1] - baseline
    finally:
        tracemalloc.stop()
    return r, sent[0], peak


# --- the reporter's upload and the officer's download ------------------------------------------------------


async def test_a_reporter_uploads_a_photo_and_a_pdf_and_the_officer_downloads_the_photo_without_its_gps(intake):
    report_id, code = await submit(intake, anonymous=True)
    photo, pdf = files.jpeg_with_gps(xmp=True), files.pdf()

    # Named and declared as a PDF: the kind comes from the bytes.
    r = await reporter_uploads(intake, code, photo, name="scan.pdf", declared="application/pdf")
    assert r.status_code == 201, r.text
    answer = r.json()
    assert answer["sha256"] == hashlib.sha256(photo).hexdigest() and answer["size"] == len(photo)
    assert answer["media_type"] == "image/jpeg" and answer["metadata_cleaning"] == "removed"
    assert {"exif", "xmp"} <= set(answer["metadata_removed"])
    assert answer["received_at"].endswith("+08:00")
    assert set(answer) == {"sha256", "size", "media_type", "metadata_cleaning", "metadata_removed", "original_kept",
                           "received_at"}, "nothing of the report or its people in the reporter's answer"

    r = await reporter_uploads(intake, code, pdf, name="receipt.pdf", declared="application/pdf")
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(pdf).hexdigest() and r.json()["metadata_cleaning"] == "not_supported"

    listed = (await intake.get(f"/v1/reports/{report_id}/attachments")).json()
    assert [item["received_sha256"] for item in listed["items"]] == [hashlib.sha256(photo).hexdigest(),
                                                                     hashlib.sha256(pdf).hexdigest()]
    assert all(item["uploaded_via"] == "receipt" and item["uploaded_by"] is None for item in listed["items"])
    assert listed["files_left"] == 8 and listed["bytes_left"] == 100 * MB - len(photo) - len(pdf)
    jpeg = listed["items"][0]

    r = await intake.get(jpeg["download"])
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.headers["content-disposition"] == f'attachment; filename="evidence-{jpeg["id"]}.jpg"'
    kept = r.content
    assert hashlib.sha256(kept).hexdigest() == jpeg["stored_sha256"] != jpeg["received_sha256"]
    assert r.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(kept).digest()).decode()}:"
    exif = piexif.load(kept)
    assert exif["GPS"] == {} and exif["0th"] == {} and exif["Exif"] == {}
    assert not Image.open(io.BytesIO(kept)).getexif()
    assert b"GPSLatitude" not in kept
    assert Image.open(io.BytesIO(kept)).tobytes() == Image.open(io.BytesIO(photo)).tobytes()

    reads = await stored(intake, AuditRecord, AuditRecord.action == "attachment.read")
    assert [(a.actor, a.object_id, a.details["report_id"]) for a in reads] == [(OFFICER, jpeg["id"], report_id)]
    added = await stored(intake, AuditRecord, AuditRecord.action == "attachment.added")
    assert [a.actor for a in added] == ["reporter", "reporter"]


async def test_the_original_is_kept_only_when_asked_and_given_only_with_the_identity_scope(intake, make_token):
    report_id, code = await submit(intake, anonymous=True)
    photo = files.jpeg_with_gps()
    r = await reporter_uploads(intake, code, photo, keep_original="true")
    assert r.status_code == 201 and r.json()["original_kept"] is True
    r = await reporter_uploads(intake, code, files.jpeg_with_gps(xmp=True))
    assert r.json()["original_kept"] is False
    kept_one, plain_one = (await intake.get(f"/v1/reports/{report_id}/attachments")).json()["items"]

    r = await intake.get(f"{kept_one['download']}?original=true")
    assert r.status_code == 403 and r.json()["missing_scopes"] == ["reports:identity"]
    custodian = bearer(make_token("reports:read reports:identity", sub="officer-2"))
    r = await intake.get(f"{kept_one['download']}?original=true", headers=custodian)
    assert r.status_code == 200 and r.content == photo
    r = await intake.get(f"{plain_one['download']}?original=true", headers=custodian)
    assert r.status_code == 404 and r.json()["code"] == "original_not_kept"
    originals = await stored(intake, AuditRecord, AuditRecord.action == "attachment.original_read")
    assert [(a.actor, a.object_id) for a in originals] == [("officer-2", kept_one["id"])]


async def test_an_officer_adds_a_word_document_and_its_author_is_gone(intake):
    report_id, _ = await submit(intake)
    r = await intake.post(f"/v1/reports/{report_id}/attachments", **upload(files.docx(), name="李秀英的材料.docx"))
    assert r.status_code == 201, r.text
    item = r.json()
    assert item["media_type"] == "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    assert item["uploaded_via"] == "officer" and item["uploaded_by"] == OFFICER
    assert "docProps/core.xml: creator" in item["metadata_removed"]
    kept = (await intake.get(item["download"])).content
    assert "李秀英".encode() not in kept  # neither the author nor (it is not kept) the file's name
    added = await stored(intake, AuditRecord, AuditRecord.action == "attachment.added")
    assert [(a.actor, a.object_id) for a in added] == [(OFFICER, item["id"])]


# --- what is refused ---------------------------------------------------------------------------------------


async def test_an_executable_named_pdf_is_refused_naming_what_it_is_and_nothing_is_kept(intake):
    report_id, code = await submit(intake, anonymous=True)
    r = await reporter_uploads(intake, code, files.elf(), name="bank-statement.pdf", declared="application/pdf")
    assert r.status_code == 415 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == "attachment_type_not_allowed"
    assert "application/x-executable" in r.json()["detail"]
    r = await intake.post(f"/v1/reports/{report_id}/attachments", **upload(files.plain_zip(), name="a.docx"))
    assert r.status_code == 415 and "application/zip" in r.json()["detail"]
    assert await stored(intake, Attachment) == [] and await stored(intake, AttachmentChunk) == []


async def test_a_file_over_the_limit_is_refused_while_it_streams_without_the_memory_growing(intake):
    _, code = await submit(intake, anonymous=True)
    r, sent, peak = await upload_measured(intake.reporter, f"/v1/receipts/{code}/attachments", 21 * MB)
    assert r.status_code == 413 and r.json()["code"] == "attachment_too_large", r.text
    assert sent < 21 * MB, "reading stopped once the limit was passed"
    assert peak < 5 * MB, f"{peak} bytes allocated while a 21 MB file streamed in"
    assert await stored(intake, Attachment) == [] and await stored(intake, AttachmentChunk) == []


async def test_a_twenty_megabyte_file_passes_without_being_held_in_memory_and_comes_back_whole(intake):
    report_id, _ = await submit(intake)
    r, _, peak = await upload_measured(intake, f"/v1/reports/{report_id}/attachments", 20 * MB)
    assert r.status_code == 201, r.text
    assert peak < 5 * MB, f"{peak} bytes allocated while a 20 MB file was received and stored"
    item = r.json()
    assert item["received_size"] == 20 * MB and item["stored_sha256"] == item["received_sha256"]
    digest, size = hashlib.sha256(), 0
    async with intake.stream("GET", item["download"]) as download:
        async for piece in download.aiter_bytes():
            digest.update(piece)
            size += len(piece)
    assert size == 20 * MB and digest.hexdigest() == item["received_sha256"]
    chunks = await stored(intake, AttachmentChunk, AttachmentChunk.attachment_id == item["id"])
    assert len(chunks) == 77 and not any(c.sealed.count(b"0" * 64) for c in chunks)  # 256 KiB pieces, encrypted


async def test_the_eleventh_file_is_refused_and_so_is_one_past_the_reports_bytes(served_intake):
    async with served_intake(attachment_max_bytes_per_report=5000) as client:
        report_id, _ = await submit(client)
        for i in range(10):
            r = await client.post(f"/v1/reports/{report_id}/attachments", **upload(f"note {i}\n".encode()))
            assert r.status_code == 201, r.text
        r = await client.post(f"/v1/reports/{report_id}/attachments", **upload(b"note 11\n"))
        assert r.status_code == 409 and r.json()["code"] == "attachment_count_exceeded"
        assert len(await stored(client, Attachment)) == 10

        other, _ = await submit(client, external_ref="XF-2026-000124")
        assert (await client.post(f"/v1/reports/{other}/attachments", **upload(b"a" * 3000))).status_code == 201
        r = await client.post(f"/v1/reports/{other}/attachments", **upload(b"b" * 3000))
        assert r.status_code == 413 and r.json()["code"] == "attachment_quota_exceeded"
        listed = (await client.get(f"/v1/reports/{other}/attachments")).json()
        assert len(listed["items"]) == 1 and listed["bytes_left"] == 2000


@pytest.mark.parametrize(("fields", "field", "kind"), [
    ({"files": {"other": ("a.txt", b"x", "text/plain")}}, "other", "extra_forbidden"),
    ({"content": b'--b\r\nContent-Disposition: form-data; name="keep_original"\r\n\r\ntrue\r\n--b--\r\n',
      "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, "file", "missing"),
    ({"files": {"file": ("a.txt", b"x", "text/plain")}, "data": {"keep_original": "perhaps"}}, "keep_original",
     "bool_parsing"),
    ({"json": {"file": "aGVsbG8="}}, "body", "multipart_required"),
    ({"files": {"file": ("empty.txt", b"", "text/plain")}}, "file", "file_empty"),
    ({"content": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nunfinished',
      "headers": {"Content-Type": "multipart/form-data; boundary=b"}}, "body", "multipart_incomplete"),
])
async def test_a_body_that_is_not_the_form_is_refused_naming_the_field(intake, fields, field, kind):
    report_id, _ = await submit(intake)
    r = await intake.post(f"/v1/reports/{report_id}/attachments", **fields)
    assert r.status_code == 422 and r.json()["code"] == "validation_failed", r.text
    assert (r.json()["errors"][0]["field"], r.json()["errors"][0]["type"]) == (field, kind)
    assert await stored(intake, Attachment) == []


async def test_a_reporter_who_goes_away_mid_upload_leaves_nothing_and_no_error_behind(intake, caplog):
    _, code = await submit(intake, anonymous=True)
    arriving = [{"type": "http.request", "more_body": True,
                 "body": b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\n%PDF-1.4\n' + b"0" * 300_000},
                {"type": "http.disconnect"}]
    answered: list[dict] = []

    async def receive():
        return arriving.pop(0)

    async def send(message):
        answered.append(message)

    path = f"/v1/receipts/{code}/attachments"
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": [(b"host", b"testserver"), (b"content-type", b"multipart/form-data; boundary=b")],
             "client": ("127.0.0.1", 50000), "server": ("testserver", 80)}
    with caplog.at_level(logging.ERROR):
        await intake.app(scope, receive, send)
    assert answered[0]["status"] == 400
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert await stored(intake, Attachment) == []


async def test_uploads_with_one_receipt_code_are_rate_limited_and_unknown_codes_count_as_guesses(served_intake):
    async with served_intake(attachment_uploads_per_code_per_minute=2, receipt_failed_lookups_per_minute=3) as client:
        _, code = await submit(client, anonymous=True)
        assert (await reporter_uploads(client, code, b"one\n")).status_code == 201
        assert (await reporter_uploads(client, code, b"two\n")).status_code == 201
        r = await reporter_uploads(client, code, b"three\n")
        assert r.status_code == 429 and r.json()["code"] == "rate_limited" and int(r.headers["retry-after"]) > 0
        for guess in ("AAAA-BBBB-CCCC-DDD1", "AAAA-BBBB-CCCC-DDD2", "AAAA-BBBB-CCCC-DDD3"):
            r = await reporter_uploads(client, guess, b"guess\n")
            assert r.status_code == 404 and r.json()["code"] == "receipt_not_found"
        r = await client.reporter.get("/v1/receipts/AAAA-BBBB-CCCC-DDD4")
        assert r.status_code == 429, "guesses at the upload route spend the lookup's budget for unknown codes"


# --- jurisdiction and identity ------------------------------------------------------------------------------


async def test_an_officer_of_another_region_finds_none_of_a_reports_evidence(intake, make_token):
    report_id, code = await submit(intake, anonymous=True)
    r = await reporter_uploads(intake, code, files.pdf())
    attachment_id = (await intake.get(f"/v1/reports/{report_id}/attachments")).json()["items"][0]["id"]
    elsewhere = bearer(make_token("reports:submit reports:read reports:identity", region="44", sub="officer-gd"))
    for method, path in (("POST", f"/v1/reports/{report_id}/attachments"),
                         ("GET", f"/v1/reports/{report_id}/attachments"),
                         ("GET", f"/v1/attachments/{attachment_id}"),
                         ("GET", f"/v1/attachments/{attachment_id}?original=true")):
        kwargs = upload(files.pdf()) if method == "POST" else {}
        r = await intake.request(method, path, headers=elsewhere, **kwargs)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["code"] in ("report_not_found", "attachment_not_found")
    assert len(await stored(intake, Attachment)) == 1
    assert await stored(intake, AuditRecord, AuditRecord.actor == "officer-gd") == []


async def test_a_named_reporters_identity_shows_on_no_evidence_route(intake):
    report_id, code = await submit(intake)  # a named reporter: 李秀英, her ID number and phone
    answers = [await reporter_uploads(intake, code, files.jpeg_with_gps(), name="李秀英-13800138000.jpg")]
    answers.append(await intake.get(f"/v1/reports/{report_id}/attachments"))
    answers.append(await intake.get(answers[-1].json()["items"][0]["download"]))
    for answer in answers:
        assert answer.status_code in (200, 201)
        seen = answer.content + str(answer.headers).encode()
        for identifying in ("李秀英", NAMED_REPORTER_ID, "13800138000", "浙江省湖州市吴兴区某街道1号"):
            assert identifying.encode() not in seen


async def test_no_file_byte_or_name_reaches_the_outbox_the_logs_or_the_database_in_plain(intake, caplog):
    caplog.set_level(logging.DEBUG)
    report_id, code = await submit(intake, anonymous=True)
    marker, name = b"evidence-marker-7f3a9c" * 40, "zhang-san-bank-records-2026.txt"
    assert (await reporter_uploads(intake, code, marker, name=name)).status_code == 201
    r = await intake.post(f"/v1/reports/{report_id}/attachments", **upload(marker + b"\n", name=name))
    assert r.status_code == 201
    assert (await intake.get(r.json()["download"])).content == marker + b"\n"

    for row in await stored(intake, OutboxMessage):
        assert b"evidence-marker" not in row.payload and name not in str(row.headers) + row.payload.decode()
    logged = caplog.text + "".join(repr(vars(record)) for record in caplog.records)
    assert "evidence-marker" not in logged and name not in logged
    for chunk in await stored(intake, AttachmentChunk):
        assert b"evidence-marker" not in chunk.sealed
    for row in await stored(intake, Attachment):
        assert name not in repr({c: getattr(row, c) for c in Attachment.__table__.columns.keys()})


# --- the document -------------------------------------------------------------------------------------------


def test_fuzzed_uploads_and_downloads_on_a_real_report_never_fail_and_match_the_document(tmp_path, settings_for,
                                                                                         make_token):
    """Schemathesis on the evidence routes with their path pointing at a real report, receipt code and
    attachment, so the multipart bodies it makes reach the parser: no 5xx, answers as documented."""
    import schemathesis
    from hypothesis import given
    from schemathesis.checks import positive_data_acceptance

    from tests.conftest import make_database_sync
    from tests.factories import ALL_SCOPES
    from tests.test_fuzz_api import FUZZ, client_errors_are_problem_details

    url, drop = make_database_sync("intake", tmp_path)
    try:
        app = build_app("intake", settings_for("intake", url, attachment_max_files_per_report=1000,
                                               attachment_uploads_per_code_per_minute=10_000))
        headers = {"Authorization": f"Bearer {make_token(ALL_SCOPES, region='')}"}

        async def prepare() -> tuple[dict, dict]:
            async with serve(app) as client:
                created = (await client.post("/v1/reports", json=report_body(anonymous=True), headers=headers)).json()
                attached = await client.post(f"/v1/reports/{created['id']}/attachments", headers=headers,
                                             **upload(files.pdf()))
                return created, attached.json()

        created, attached = asyncio.run(prepare())
        real = {"report_id": created["id"], "receipt_code": created["receipt_code"], "attachment_id": attached["id"]}
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = [op for op in (result.ok() for result in schema.get_all_operations()) if "attachment" in op.path]
        assert len(operations) == 4
        statuses: set[tuple[str, str, int]] = set()
        for operation in operations:

            @FUZZ
            @given(case=operation.as_strategy())
            def fuzz(case):
                case.path_parameters = {name: real[name] for name in case.path_parameters}
                response = case.call_and_validate(headers=headers, excluded_checks=[positive_data_acceptance],
                                                  additional_checks=[client_errors_are_problem_details])
                statuses.add((case.operation.method, case.operation.path, response.status_code))

            fuzz()
        answered = {(method, path) for method, path, status in statuses if status in (200, 201)}
        assert answered == {(op.method, op.path) for op in operations}, statuses
    finally:
        drop()

"""The export over HTTP on a real database: active public entries with name and ID number, for the
export scope only, with a real reason, audited, in pages."""

import csv
import io

from tests.conftest import bearer
from tests.factories import NAMED_REPORTER_ID, resident_id

# --- export -----------------------------------------------------------------------------------------

EXPORT_REASON = "按月向社会信用信息平台报送本辖区公开的失信黑名单记录。"


async def export(desk, export_format="csv", reason=EXPORT_REASON, headers=None):
    params = {"format": export_format, **({"reason": reason} if reason is not None else {})}
    return await desk.client.get("/v1/entries/export", params=params, headers=headers or desk.exporter)


async def test_export_streams_active_public_entries_with_name_and_id_and_audits_it(desk):
    active = await desk.listed()
    minor = await desk.listed(severity="minor", id_number=resident_id(seq=1))
    notified = await desk.listed(id_number=resident_id(seq=2))
    elsewhere = await desk.listed(region="310101", id_number=resident_id(seq=3))
    for entry_id in (active, minor, elsewhere):
        await desk.age(entry_id, 20)
    r = await export(desk, "csv")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["x-entry-count"] == "1" and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    entry = (await desk.client.get(f"/v1/entries/{active}", headers=desk.reader)).json()
    assert rows == [{"entry_id": active, "name": "李秀英", "id_number": NAMED_REPORTER_ID,
                     "reason_code": "false_accusation", "severity": "ordinary",
                     "legal_basis_ref": entry["legal_basis_ref"], "listed_from": entry["listed_from"],
                     "listed_until": entry["listed_until"], "region_code": "330502"}]
    assert minor != notified
    r = await export(desk, "json")
    assert r.headers["content-type"] == "application/json" and r.json() == rows
    first, second = await desk.audits("entries.exported")
    assert (first.actor, first.reason, first.details["scope"], first.details["entries"], first.details["format"]) == (
        "svc-credit-export", EXPORT_REASON, "blacklist:export", 1, "csv")
    assert second.details["format"] == "json" and "id_number" in second.details["fields"]
    assert (await export(desk, "xml")).status_code == 422


async def test_reading_entries_is_not_enough_to_export_them(desk, make_token):
    await desk.age(await desk.listed(), 20)
    for scopes in ("blacklist:read", "blacklist:read blacklist:write"):
        r = await export(desk, headers=bearer(make_token(scopes, region="3305")))
        assert r.status_code == 403 and r.headers["content-type"] == "application/problem+json"
        assert "blacklist:export" in r.json()["detail"]
    assert await desk.audits("entries.exported") == []


async def test_an_export_without_a_real_reason_is_422_naming_the_reason(desk):
    await desk.age(await desk.listed(), 20)
    for reason in (None, "", "导出", "monthly", "报送报送报送报送报送报送报送报送"):
        r = await export(desk, reason=reason)
        assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json", reason
        assert r.json()["errors"][0]["field"] == "reason"
    assert await desk.audits("entries.exported") == []


async def test_export_pages_through_many_entries(desk, monkeypatch):
    from services.credit_blacklist import lookup

    monkeypatch.setattr(lookup, "EXPORT_BATCH", 2)
    ids = [await desk.listed(id_number=resident_id(seq=i)) for i in range(5)]
    for entry_id in ids:
        await desk.age(entry_id, 20)
    r = await export(desk, "json")
    assert sorted(e["entry_id"] for e in r.json()) == sorted(ids)

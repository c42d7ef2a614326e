"""Realistic request bodies and events for tests."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from stdnum.cn import ric

from shared.events import AllegationV1, ReportSubmittedV1, SubjectV1

NAMED_REPORTER_ID = "11010519491231002X"
# Every scope an officer token can hold: for walks over every route.
ALL_SCOPES = ("reports:submit reports:read reports:message reports:identity identity:custody verification:read "
              "verification:write verification:approve clarification:read clarification:write blacklist:check "
              "blacklist:read blacklist:write blacklist:export audit:read risk:file risk:review risk:read")


def resident_id(birth: str = "19800101", seq: int = 123, region: str = "110105") -> str:
    """A resident ID number with a correct check digit (built with python-stdnum)."""
    body = f"{region}{birth}{seq:03d}"
    return body + ric.calc_check_digit(body + "0")  # the function expects a placeholder check digit


def report_body(*, anonymous: bool = False, region_code: str = "330502", **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": "online",
        "subject": {
            "name": "王建国",
            "position": "副局长",
            "organization": "湖州市吴兴区自然资源局",
            "region_code": region_code,
        },
        "allegations": [
            {
                "category": "bribery",
                "summary": "在土地出让过程中收受开发商礼金人民币十万元。",
                "occurred_on": "2026-03-15",
                "place": "吴兴区城关镇",
            }
        ],
        "reporter": {"anonymous": True}
        if anonymous
        else {
            "anonymous": False,
            "name": "李秀英",
            "id_number": NAMED_REPORTER_ID,
            "phone": "13800138000",
            "address": "浙江省湖州市吴兴区某街道1号",
        },
        "external_ref": "XF-2026-000123",
    }
    body = copy.deepcopy(body)
    body.update(overrides)
    return body


def submitted(report_id: str = "r-1") -> ReportSubmittedV1:
    """The event intake publishes for a report (one allegation, a named reporter's blind index)."""
    return ReportSubmittedV1(
        report_id=report_id, channel="online",
        subject=SubjectV1(name="王建国", position="副局长", organization="某局", region_code="330502"),
        allegations=[AllegationV1(allegation_id="a-1", category="bribery", summary="收受礼金十万元整")],
        region_code="330502", anonymous=False, reporter_blind_index="ab" * 32,
        received_at=datetime(2026, 11, 21, 8, 0, tzinfo=UTC),
    )


def wire(record: Any) -> tuple[list[tuple[str, bytes]], bytes, bytes]:
    """An encoded record as kafka-python hands it to a consumer: headers, key, value."""
    return [(k, v.encode()) for k, v in record.headers.items()], record.key.encode(), record.value

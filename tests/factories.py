"""Realistic request bodies for tests."""

from __future__ import annotations

import copy
from typing import Any

from stdnum.cn import ric

NAMED_REPORTER_ID = "11010519491231002X"


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

"""Hostile and random bodies never produce a 5xx, and a rejected body never leaves a row behind."""

import copy
import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from services.intake.models import Allegation, IdempotencyRecord, Report
from shared.models import OutboxMessage
from tests.factories import report_body

EXAMPLES = int(os.environ.get("ZM_FUZZ_EXAMPLES", "120"))

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=50),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),  # control characters included
    st.sampled_from(["", " ", "\x00", "\u202e", "𠮷" * 300, "x" * 20_001, "11010519491231002Y", "99999999"]),
)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=25,
)
PATHS = [
    ("channel",), ("subject",), ("subject", "name"), ("subject", "region_code"), ("subject", "position"),
    ("allegations",), ("allegations", 0), ("allegations", 0, "summary"), ("allegations", 0, "category"),
    ("allegations", 0, "occurred_on"), ("reporter",), ("reporter", "anonymous"), ("reporter", "id_number"),
    ("reporter", "phone"), ("external_ref",), ("unexpected",), ("subject", "unexpected"),
]


@st.composite
def mutated_bodies(draw):
    body = copy.deepcopy(report_body(anonymous=draw(st.booleans())))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(PATHS))
        target = body
        for step in path[:-1]:
            # An earlier mutation may have replaced this level with something without `step`.
            try:
                target = target[step] if isinstance(target, dict | list) else target
            except (KeyError, IndexError):
                target = None
                break
        if isinstance(target, dict):
            target[path[-1]] = draw(json_values)
        elif isinstance(target, list) and target:
            target[0] = draw(json_values)
    return body


async def counts(client):
    async with client.sessions() as s:
        return [await s.scalar(select(func.count()).select_from(m))
                for m in (Report, Allegation, OutboxMessage, IdempotencyRecord)]


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(mutated_bodies(), json_values), key=st.one_of(st.none(), st.text(max_size=5)))
async def test_post_reports_never_5xx_and_rejections_store_nothing(intake, body, key):
    before = await counts(intake)
    headers = {"Idempotency-Key": key} if key and key.isascii() and key.isprintable() else {}
    r = await intake.post("/v1/reports", json=body, headers=headers)
    assert r.status_code < 500, r.text
    if r.status_code == 201:
        return
    assert r.headers["content-type"] == "application/problem+json"
    assert r.json()["status"] == r.status_code
    assert await counts(intake) == before


@settings(max_examples=EXAMPLES // 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
async def test_raw_bytes_are_a_clear_problem(intake, raw):
    before = await counts(intake)
    r = await intake.post("/v1/reports", content=raw, headers={"content-type": "application/json"})
    # Invalid JSON is 422 naming the body; bytes that are not even UTF-8 are 400. Both are problems.
    assert r.status_code in (400, 422) and r.headers["content-type"] == "application/problem+json"
    assert await counts(intake) == before

"""Jurisdiction (DESIGN 5): a `region` an officer asks for narrows what they see, never widens it; the
list routes of every service rely on `Principal.narrow`, the figures on `Principal.within`."""

import pytest

from shared.auth import Principal, RegionOutsideJurisdiction
from tests.conftest import bearer
from tests.factories import report_body
from tests.intake.conftest import intake  # noqa: F401  (the served intake app, as its own tests use it)


def officer(region: str) -> Principal:
    return Principal(subject="officer", scopes=frozenset(), region=region, org_level="county")


def test_a_broader_region_parameter_never_widens_jurisdiction():
    county = officer("3305")
    assert county.narrow("33") == "3305"  # a province asked for: still only the county
    assert county.narrow("") == "3305"  # "nationwide" asked for: still only the county
    assert county.narrow(None) == "3305"
    assert county.narrow("3305") == "3305"
    assert county.narrow("330502") == "330502"  # a narrower one is granted as asked


def test_a_region_beside_the_jurisdiction_narrows_to_nothing():
    county = officer("3305")
    assert county.narrow("3306") is None and county.narrow("330102") is None and county.narrow("11") is None
    assert officer("330502").narrow("330503") is None


def test_a_nationwide_officer_gets_the_region_they_ask_for():
    nationwide = officer("")
    assert nationwide.narrow("33") == "33" and nationwide.narrow("330502") == "330502"
    assert nationwide.narrow(None) == "" and nationwide.within(None) == ""


def test_figures_over_a_broader_or_foreign_region_are_refused_not_narrowed():
    county = officer("3305")
    assert county.within(None) == "3305" and county.within("330502") == "330502" and county.within("3305") == "3305"
    for region in ("33", "", "3306", "330102"):
        with pytest.raises(RegionOutsideJurisdiction):
            county.within(region)


def test_serving_a_region_means_the_code_lies_under_the_jurisdiction():
    county = officer("3305")
    assert county.serves("330502") and county.serves("3305")
    assert not county.serves("330102") and not county.serves("33") and not county.serves("")
    assert officer("").serves("110105")


async def test_an_officer_asking_for_the_whole_province_lists_only_their_countys_reports(intake, make_token):  # noqa: F811
    for region in ("330102", "330502"):
        r = await intake.post("/v1/reports", json=report_body(region_code=region, anonymous=True))
        assert r.status_code == 201, r.text
    county = bearer(make_token("reports:read", region="3305", org_level="county", sub="county-officer"))
    for asked in ({"region": "33"}, {}, {"region": "3305"}):
        listed = (await intake.get("/v1/reports", params=asked, headers=county)).json()["items"]
        assert [item["subject"]["region_code"] for item in listed] == ["330502"], asked
    elsewhere = await intake.get("/v1/reports", params={"region": "3301"}, headers=county)
    assert elsewhere.status_code == 200 and elsewhere.json()["items"] == []

"""A Python client generated from each service's OpenAPI document (openapi-python-client, offline, no
post-hooks) compiles and works against the served app: an operation's documented model comes back
typed, and a refusal comes back as the `Problem` model (application/problem+json) with its code
(#19, item 4). The four clients are generated once per test session."""

from __future__ import annotations

import importlib
import json
import pkgutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, NamedTuple

import httpx
import pytest
from openapi_python_client import generate
from openapi_python_client.config import Config, ConfigFile, MetaType

from services.registry import SERVICES
from tests.conftest import build_app, serve
from tests.factories import report_body, resident_id

BASE = "http://testserver"


class Generated(NamedTuple):
    package: str  # the client's top-level package
    document: dict[str, Any]  # the OpenAPI document it was generated from


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> Iterator[dict[str, Generated]]:
    """Service name -> its document and the package of its client, importable while the session lasts."""
    root = tmp_path_factory.mktemp("generated-clients")
    config_file = root / "openapi-python-client.yaml"
    config_file.write_text("post_hooks: []\n")  # the output as generated: nothing else runs over it
    packages = {}
    for service, definition in SERVICES.items():
        settings = definition.settings(environment="test", data_dir=data_dir,
                                       database_url=f"sqlite+aiosqlite:///{root / 'unused.db'}")
        document = root / f"{service}.json"
        document.write_text(json.dumps(build_app(service, settings).openapi()))
        package = f"{service}_client"
        config = Config.from_sources(ConfigFile.load_from_path(config_file), MetaType.NONE, document, "utf-8",
                                     overwrite=True, output_path=root / package)
        problems = generate(config=config)  # warnings too: a document the generator must guess at fails
        assert not problems, [f"{p.header}: {p.detail}" for p in problems]
        packages[service] = Generated(package, json.loads(document.read_text()))
    sys.path.insert(0, str(root))
    try:
        yield packages
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] in {g.package for g in packages.values()}]:
            del sys.modules[name]


def client_of(package: str, app: Any, token: str | None = None) -> Any:
    """The generated client, talking to `app` in-process; authenticated when a token is given."""
    module = importlib.import_module(f"{package}.client")
    transport = {"transport": httpx.ASGITransport(app=app)}
    if token is None:
        return module.Client(base_url=BASE, httpx_args=transport)
    return module.AuthenticatedClient(base_url=BASE, token=token, httpx_args=transport)


def operation(package: str, tag: str, operation_id: str) -> ModuleType:
    return importlib.import_module(f"{package}.api.{tag}.{operation_id}")


def test_every_generated_client_compiles_and_has_an_operation_per_documented_one(generated):
    for service, (package, document) in generated.items():
        modules = [importlib.import_module(found.name) for found in
                   pkgutil.walk_packages(importlib.import_module(package).__path__, f"{package}.")]
        functions = [m for m in modules if hasattr(m, "asyncio_detailed")]
        documented = [op for item in document["paths"].values() for op in item.values()]
        assert len(functions) == len(documented), service
        assert {m.__name__.rsplit(".", 1)[1] for m in functions} == {op["operationId"] for op in documented}


async def test_the_intake_client_submits_a_report_reads_it_and_follows_its_receipt(
        generated, new_database, settings_for, make_token):
    package = generated["intake"].package
    models = importlib.import_module(f"{package}.models")
    app = build_app("intake", settings_for("intake", await new_database("intake")))
    async with serve(app):
        officer = client_of(package, app, make_token("reports:submit reports:read"))
        submitted = await operation(package, "reports", "submit_report").asyncio_detailed(
            client=officer, body=models.ReportIn.from_dict(report_body()), idempotency_key="order-7")
        assert submitted.status_code == 201 and isinstance(submitted.parsed, models.ReportCreated)
        created = submitted.parsed
        read = await operation(package, "reports", "get_report").asyncio(client=officer, report_id=created.id)
        assert isinstance(read, models.ReportOut) and read.subject.name == report_body()["subject"]["name"]
        assert read.channel == models.Channel.ONLINE and read.received_at.utcoffset().total_seconds() == 8 * 3600
        receipt = await operation(package, "public", "get_receipt_status").asyncio(
            client=client_of(package, app), receipt_code=created.receipt_code)
        assert isinstance(receipt, models.ReceiptStatus) and receipt.status == "received"
        missing = await operation(package, "reports", "get_report").asyncio_detailed(client=officer, report_id="nope")
        assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
        assert isinstance(missing.parsed, models.Problem)
        assert (missing.parsed.code, missing.parsed.status) == ("report_not_found", 404)


async def test_the_verification_client_lists_cases_and_reads_an_unknown_case_as_a_problem(
        generated, new_database, settings_for, make_token):
    package = generated["verification"].package
    models = importlib.import_module(f"{package}.models")
    app = build_app("verification", settings_for("verification", await new_database("verification")))
    async with serve(app):
        reader = client_of(package, app, make_token("verification:read"))
        page = await operation(package, "cases", "list_cases").asyncio(client=reader, limit=5)
        assert isinstance(page, models.CasePage) and page.items == [] and page.next_cursor is None
        unknown = await operation(package, "cases", "get_case").asyncio(client=reader, case_id="nope")
        assert isinstance(unknown, models.Problem) and unknown.code == "case_not_found"


async def test_the_clarification_client_registers_a_venue_and_lists_the_register(
        generated, new_database, settings_for, make_token):
    package = generated["clarification"].package
    models = importlib.import_module(f"{package}.models")
    app = build_app("clarification", settings_for("clarification", await new_database("clarification")))
    async with serve(app):
        officer = client_of(package, app, make_token("clarification:read clarification:write", region="3305"))
        hall = models.VenueIn(region_code="330502", name="吴兴区纪委监委三楼会议室",
                              address="浙江省湖州市吴兴区青铜路88号")
        registered = await operation(package, "venues", "register_venue").asyncio_detailed(
            "wuxing-hall-3", client=officer, body=hall)
        assert registered.status_code == 201 and isinstance(registered.parsed, models.VenueOut)
        assert registered.parsed.opens_at == "08:30" and registered.parsed.active is True
        register = await operation(package, "venues", "list_venues").asyncio(client=officer)
        assert isinstance(register, models.VenuePage) and [v.id for v in register.items] == ["wuxing-hall-3"]
        elsewhere = await operation(package, "venues", "register_venue").asyncio(
            "hz-hall", client=officer, body=models.VenueIn(region_code="330102", name="上城区纪委监委会议室",
                                                            address="浙江省杭州市上城区解放路18号"))
        assert isinstance(elsewhere, models.Problem) and elsewhere.code == "region_outside_jurisdiction"


async def test_the_blacklist_client_checks_a_person_and_reads_a_missing_scope_as_a_problem(
        generated, new_database, settings_for, make_token):
    package = generated["credit_blacklist"].package
    models = importlib.import_module(f"{package}.models")
    app = build_app("credit_blacklist", settings_for("credit_blacklist", await new_database("credit_blacklist"),
                                                     run_sweep=False))
    async with serve(app):
        check = operation(package, "check", "post_check")
        body = models.CheckIn(id_number=resident_id(seq=9))
        answer = await check.asyncio(client=client_of(package, app, make_token("blacklist:check")), body=body)
        assert isinstance(answer, models.CheckOut)
        assert (answer.listed, answer.status) == (False, models.CheckOutStatus.NOT_LISTED)
        refused = await check.asyncio(client=client_of(package, app, make_token("blacklist:read")), body=body)
        assert isinstance(refused, models.Problem)
        assert (refused.code, refused.missing_scopes) == ("forbidden", ["blacklist:check"])

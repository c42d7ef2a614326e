"""The composition root (shared/composition.py) wires every service the same way: what each process
role serves and runs, and the order in which the service's own resources live and die."""

import asyncio
import contextlib

import pytest
from fastapi import APIRouter

from services.registry import SERVICES
from shared.composition import ServiceDefinition
from shared.workers import Sweeper
from tests.conftest import bearer, build_app, serve
from tests.factories import NAMED_REPORTER_ID, report_body


@pytest.mark.parametrize("role", ["all", "api", "consumer", "relay"])
async def test_only_api_processes_serve_the_services_operations_fast_ones_included(role, new_database, settings_for,
                                                                                   make_token):
    app = build_app("intake", settings_for("intake", await new_database("intake"), role=role))
    async with serve(app) as client:
        submitted = await client.post("/v1/reports", json=report_body(), headers=bearer(make_token("reports:submit")))
        listed = await client.get("/v1/reports", headers=bearer(make_token("reports:read")))
        assert (await client.get("/livez")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
    serves_api = role in ("all", "api")
    assert (submitted.status_code, listed.status_code) == ((201, 200) if serves_api else (404, 404))


def test_every_fast_operation_is_also_documented_on_its_service():
    for service in SERVICES.values():
        documented = {(method, route.path) for router in service.routers for route in router.routes
                      for method in getattr(route, "methods", ())}
        for operation in service.fast_operations:
            assert (operation.method, operation.path) in documented


async def test_resources_live_from_before_the_workers_start_until_after_they_stop(new_database, settings_for):
    """A sweeper (a background loop of the service's own) sees the resources open for as long as it
    runs; it runs in the `all` and `consumer` roles only."""
    seen: list[str] = []

    @contextlib.asynccontextmanager
    async def resources(runtime):
        seen.append("opened")
        yield "own"
        seen.append("closed")

    def sweepers(runtime, own):
        async def sweep():
            seen.append(f"sweeping with {own}")
            await runtime.stop.wait()
            seen.append("sweep stopped")

        return [Sweeper("sweep", sweep)]

    intake = SERVICES["intake"]
    definition = ServiceDefinition(name="intake", settings_class=intake.settings_class, title="t", description="d",
                                   migrations_dir=intake.migrations_dir, routers=[APIRouter()],
                                   resources=resources, sweepers=sweepers)
    url = await new_database("intake")
    for role, sweeps in (("consumer", True), ("api", False)):
        seen.clear()
        app = definition.create_app(settings_for("intake", url, role=role))
        async with serve(app):
            await asyncio.sleep(0)  # let a started sweeper take its first step
            assert app.resources == "own" and app.runtime.settings.role == role
        assert seen == (["opened", "sweeping with own", "sweep stopped", "closed"] if sweeps else ["opened", "closed"])
        assert app.started is None and app.resources is None  # nothing of a stopped service stays reachable


async def test_the_check_reads_the_listing_through_the_resources_the_root_built(new_database, settings_for,
                                                                               make_token):
    app = build_app("credit_blacklist", settings_for("credit_blacklist", await new_database("credit_blacklist"),
                                                     run_sweep=False, check_requests_per_minute=1))
    async with serve(app) as client:
        checker = bearer(make_token("blacklist:check"))
        first = await client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID}, headers=checker)
        second = await client.post("/v1/checks", json={"id_number": NAMED_REPORTER_ID}, headers=checker)
    assert first.json() == {"listed": False, "status": "not_listed", "listed_until": None}
    assert second.status_code == 429  # the limiter of the app's resources, set from its settings

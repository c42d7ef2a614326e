"""The check's negative cache (services/credit_blacklist/lookup.py, NegativeCache) never answers "not
listed" for a person whose listing committed before the check began: not when the listing is written
by another process (here: another app on the same database, with its own cache and connections, as
the blacklist consumer and a second API process are), not when it is written past the service
(straight SQL: a repair script), not for a final entry brought back or a blind index corrected, and
not while many checks share one question to the database. It does answer, without reading
`entries`, for the people under no entry that may be listed. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select, text, update

from services.credit_blacklist import service
from services.credit_blacklist.domain import TERMINAL, TRANSITIONS, normalize_id_number
from services.credit_blacklist.lookup import FINAL_STATUSES
from services.credit_blacklist.models import Entry
from services.credit_blacklist.resources import BlacklistResources
from shared.calendar import china_date
from shared.db import utcnow
from tests.conftest import BACKEND, bearer, build_app, eventually, serve
from tests.credit_blacklist.helpers import FakeIntake, verdict
from tests.factories import resident_id

FINAL = importlib.import_module("services.credit_blacklist.migrations.versions.0007_check_generation").FINAL


def person(n: int) -> str:
    return resident_id(seq=n % 1000, birth=f"19{60 + n // 1000:02d}0101")


def cache_of(app: Any) -> Any:
    own = app.resources
    assert isinstance(own, BlacklistResources) and own.check_cache is not None
    return own.check_cache


@contextlib.asynccontextmanager
async def blacklist(new_database: Any, settings_for: Any, make_token: Any, sessions_for: Any, *, apis: int = 2,
                    **overrides: Any) -> AsyncIterator[SimpleNamespace]:
    """`apis` check-serving apps and one writer app on one database: each its own cache and connections,
    as separate processes have. Notices count as listed unless `overrides` say otherwise, so a listing
    is listed the moment it commits."""
    url = await new_database("credit_blacklist")
    settings = {"run_sweep": False, "check_lists_notified": True, **overrides}
    apps = [build_app("credit_blacklist", settings_for("credit_blacklist", url, **settings)) for _ in range(apis + 1)]
    checker = bearer(make_token("blacklist:check", region="", sub="svc-credit-platform"))
    async with contextlib.AsyncExitStack() as stack:
        clients = [await stack.enter_async_context(serve(app)) for app in apps]
        intake = FakeIntake()
        reports = 0

        async def check(client: Any, id_number: str) -> bool:
            r = await client.post("/v1/checks", json={"id_number": id_number}, headers=checker)
            assert r.status_code == 200, r.text
            return bool(r.json()["listed"])

        async def list_through_the_service(id_number: str) -> str:
            """As the blacklist consumer lists a reporter: apply_verdict in the writer app's unit of work."""
            nonlocal reports
            reports += 1
            report_id = f"r-{reports}-{uuid.uuid4().hex[:6]}"
            intake.add(report_id, id_number=id_number)
            runtime = apps[-1].runtime
            async with runtime.uow() as uow:
                seen = await service.apply_verdict(
                    uow=uow, verdict=verdict(report_id), identities=intake, cipher=runtime.cipher,
                    calendar=runtime.calendar, rules=service.BlacklistRules())
                await uow.commit()
            assert seen.outcome == "listed"
            return str(seen.entry_id)

        def blind_index(id_number: str) -> str:
            return str(apps[-1].runtime.cipher.blind_index(normalize_id_number(id_number)))

        async def warm(id_numbers: list[str]) -> None:
            """Every API's cache loaded and asked at least once."""
            for client, app in zip(clients[:-1], apps[:-1], strict=True):
                for id_number in id_numbers:
                    await check(client, id_number)

                async def loaded(app: Any = app) -> bool:
                    return cache_of(app).generation is not None

                await eventually(loaded, timeout_s=10, what="the check cache loaded")
                for id_number in id_numbers:
                    await check(client, id_number)

        yield SimpleNamespace(apps=apps[:-1], clients=clients[:-1], check=check, warm=warm, checker=checker,
                              list_through_the_service=list_through_the_service, blind_index=blind_index,
                              sessions=sessions_for(url))


@pytest.fixture
def make_blacklist(new_database, settings_for, make_token, sessions_for):
    def make(**kw: Any) -> Any:
        return blacklist(new_database, settings_for, make_token, sessions_for, **kw)
    return make


async def test_people_under_no_entry_that_may_be_listed_are_answered_from_the_cache(make_blacklist):
    async with make_blacklist(apis=1) as bl:
        listed, served = person(1), person(2)
        await bl.list_through_the_service(listed)
        entry_id = await bl.list_through_the_service(served)
        async with bl.sessions() as s, s.begin():  # served: expired, a final status
            await s.execute(update(Entry).where(Entry.id == entry_id).values(
                status="expired", listed_from=china_date(utcnow()) - timedelta(days=400),
                listed_until=china_date(utcnow()) - timedelta(days=30)))
        strangers = [person(n) for n in range(10, 20)]
        await bl.warm([listed, served, *strangers])
        cache = cache_of(bl.apps[0])
        before = cache.answered
        assert await bl.check(bl.clients[0], listed) is True
        assert [await bl.check(bl.clients[0], p) for p in [served, *strangers]] == [False] * 11
        assert cache.answered - before == 11  # all of them from the cache; the listed one from the database


async def test_a_listing_committed_by_another_process_is_seen_by_every_api_at_once(make_blacklist):
    async with make_blacklist(apis=2) as bl:
        people = [person(n) for n in range(100, 130)]
        await bl.warm(people)
        for n, id_number in enumerate(people):
            assert [await bl.check(c, id_number) for c in bl.clients] == [False, False]
            await bl.list_through_the_service(id_number)  # committed by the "consumer" app
            # The very next check, on either API, whichever asked the database last.
            first, second = (bl.clients[n % 2], bl.clients[1 - n % 2])
            assert await bl.check(first, id_number) is True, f"{n}: not listed right after the listing"
            assert await bl.check(second, id_number) is True, f"{n}: not listed right after the listing"
        for cache in map(cache_of, bl.apps):
            assert cache.answered > 0


async def test_writes_past_the_service_are_seen_too(make_blacklist):
    """A repair script's straight SQL: a new active entry, a final entry brought back, a blind index
    corrected to another person's. The trigger of migration 0007 sees what the service does not."""
    async with make_blacklist(apis=2, check_lists_notified=False) as bl:
        inserted, revived, corrected, source = person(200), person(201), person(202), person(203)
        entry_id = await bl.list_through_the_service(source)
        revived_id = await bl.list_through_the_service(revived)
        today = china_date(utcnow())
        async with bl.sessions() as s, s.begin():
            await s.execute(update(Entry).where(Entry.id == revived_id).values(status="revoked"))
            await s.execute(update(Entry).where(Entry.id == entry_id).values(status="revoked"))
        await bl.warm([inserted, revived, corrected, source])
        for client in bl.clients:
            assert [await bl.check(client, p) for p in (inserted, revived, corrected)] == [False] * 3

        template = await _entry_row(bl.sessions, entry_id)
        async with bl.sessions() as s, s.begin():
            row = {**template, "id": str(uuid.uuid4()), "verdict_id": str(uuid.uuid4()), "status": "active",
                   "blind_index": bl.blind_index(inserted), "listed_from": today - timedelta(days=1),
                   "listed_until": today + timedelta(days=180)}
            await s.execute(Entry.__table__.insert().values(**row))
        assert [await bl.check(c, inserted) for c in bl.clients] == [True, True]

        async with bl.sessions() as s, s.begin():
            await s.execute(update(Entry).where(Entry.id == revived_id).values(
                status="active", listed_from=today - timedelta(days=1), listed_until=today + timedelta(days=90)))
        assert [await bl.check(c, revived) for c in bl.clients] == [True, True]

        async with bl.sessions() as s, s.begin():
            await s.execute(update(Entry).where(Entry.id == entry_id).values(
                status="active", blind_index=bl.blind_index(corrected), listed_from=today - timedelta(days=1),
                listed_until=today + timedelta(days=90)))
        assert [await bl.check(c, corrected) for c in bl.clients] == [True, True]


async def _entry_row(sessions: Any, entry_id: str) -> dict[str, Any]:
    async with sessions() as s:
        row = (await s.execute(select(Entry.__table__).where(Entry.id == entry_id))).mappings().one()
    return dict(row)


async def test_no_check_that_began_after_a_listing_committed_says_not_listed_under_load(make_blacklist):
    """Checks of the person and of strangers keep both APIs busy (so checks share questions to the
    database) while the listing commits; every check of the person that began after the commit
    returned must say listed."""
    async with make_blacklist(apis=2) as bl:
        strangers = [person(n) for n in range(300, 340)]
        targets = [person(n) for n in range(400, 406)]
        await bl.warm(strangers + targets)
        for target in targets:
            committed = asyncio.Event()
            late_answers: list[bool] = []
            stop = asyncio.Event()

            async def busy(client: Any, offset: int, stop: asyncio.Event = stop) -> None:
                k = offset
                while not stop.is_set():
                    await bl.check(client, strangers[k % len(strangers)])
                    k += 1

            async def watch(client: Any, target: str = target, committed: asyncio.Event = committed,
                            late_answers: list[bool] = late_answers, stop: asyncio.Event = stop) -> None:
                while not stop.is_set():
                    began_after_commit = committed.is_set()
                    answer = await bl.check(client, target)
                    if began_after_commit:
                        late_answers.append(answer)

            tasks = [asyncio.create_task(busy(c, i)) for c in bl.clients for i in range(4)]
            tasks += [asyncio.create_task(watch(c)) for c in bl.clients for _ in range(3)]
            await asyncio.sleep(0.05)
            await bl.list_through_the_service(target)
            committed.set()
            while len(late_answers) < 30:
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.gather(*tasks)
            assert late_answers and all(late_answers), f"{late_answers.count(False)} said not listed"
        for cache in map(cache_of, bl.apps):
            assert cache.answered > 0


async def test_the_cache_reads_the_database_while_it_is_not_loaded_or_cannot_ask(make_blacklist, monkeypatch):
    async with make_blacklist(apis=1) as bl:
        target = person(500)
        await bl.list_through_the_service(target)
        cache = cache_of(bl.apps[0])
        assert cache.generation is None
        assert await bl.check(bl.clients[0], target) is True  # not loaded yet: the database answers
        await bl.warm([target])

        async def broken(generation: int) -> Any:
            raise ConnectionError("the database went away")

        monkeypatch.setattr(cache.reader, "since", broken)
        before = cache.answered
        assert await bl.check(bl.clients[0], person(501)) is False  # from the database, not the cache
        assert await bl.check(bl.clients[0], target) is True
        assert cache.answered == before


def test_the_cache_and_the_trigger_know_the_final_statuses_the_domain_knows():
    """An entry in a final status never moves to one that may be listed (the transition table), so
    the cache may leave out a blind index whose every entry is final; the trigger counts a final
    entry brought back all the same."""
    assert {s.value for s in TERMINAL} == set(FINAL_STATUSES)
    assert not [(a, b) for a, b in TRANSITIONS if a in TERMINAL and b not in TERMINAL]
    assert all(f"'{s}'" in FINAL for s in FINAL_STATUSES)


async def test_the_trigger_counts_only_what_may_become_listed(make_blacklist):
    """Moves between statuses that may be listed, and into a final one, leave the generation alone (the
    sweep's daily moves do not reload anyone's cache); a new entry and a final one brought back move it."""
    async with make_blacklist(apis=1) as bl:
        async def generation() -> int:
            async with bl.sessions() as s:
                return int(await s.scalar(text("SELECT generation FROM check_generation WHERE id = 1")))

        start = await generation()
        entry_id = await bl.list_through_the_service(person(600))
        assert await generation() == start + 1
        for status in ("active", "under_review", "active", "expired", "revoked"):
            async with bl.sessions() as s, s.begin():
                await s.execute(update(Entry).where(Entry.id == entry_id).values(status=status))
            assert await generation() == start + 1, status
        async with bl.sessions() as s, s.begin():
            await s.execute(update(Entry).where(Entry.id == entry_id).values(status="notified"))
        assert await generation() == start + 2
        async with bl.sessions() as s:
            rows = (await s.execute(text("SELECT generation, blind_index FROM check_listable ORDER BY generation")))
            assert [tuple(r) for r in rows][-2:] == [(start + 1, bl.blind_index(person(600))),
                                                     (start + 2, bl.blind_index(person(600)))]


async def test_a_connection_the_server_closed_is_left_for_a_new_one(make_blacklist):
    """The check's own connections (lookup.Connections): one the server terminated costs at most the
    one check that was on it; the next ones get a new connection."""
    if BACKEND != "postgresql":
        pytest.skip("the check's own connections are PostgreSQL's")
    async with make_blacklist(apis=1) as bl:
        listed = person(700)
        await bl.list_through_the_service(listed)
        await bl.warm([listed, person(701)])
        connections = bl.apps[0].resources.check_reader.connections
        pids = [conn.get_server_pid() for conn in connections._idle]
        assert pids
        async with bl.sessions() as s:
            for pid in pids:
                await s.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        answers = []
        for id_number in (listed, person(701), listed, person(702)):
            r = await bl.clients[0].post("/v1/checks", json={"id_number": id_number}, headers=bl.checker)
            answers.append(r.status_code if r.status_code != 200 else r.json()["listed"])
        assert answers == [True, False, True, False], answers

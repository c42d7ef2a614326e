"""Fixtures of the shared-package tests."""

import pytest

from shared.db import create_engine, session_factory


@pytest.fixture
async def verification_db(new_database):
    engine = create_engine(await new_database("verification"))
    sessions = session_factory(engine)
    sessions.engine = engine
    yield sessions
    await engine.dispose()

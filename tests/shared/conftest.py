"""Fixtures of the shared-package tests."""

import pytest

from shared.db import session_factory


@pytest.fixture
async def verification_db(new_database, engine_for):
    engine = engine_for(await new_database("verification"))
    sessions = session_factory(engine)
    sessions.engine = engine
    return sessions

"""Fixtures shared by intake's tests."""

import pytest

from tests.conftest import bearer, build_app, serve


@pytest.fixture
async def intake(new_database, settings_for, make_token, sessions_for):
    """A served intake app on its own database, a submitter's and reader's token, and `client.sessions`
    for looking at what was stored (a test module may define its own `intake` instead)."""
    url = await new_database("intake")
    app = build_app("intake", settings_for("intake", url))
    async with serve(app) as client:
        client.headers.update(bearer(make_token("reports:submit reports:read")))
        client.sessions = sessions_for(url)
        client.app = app
        yield client

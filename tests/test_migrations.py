"""Each service's Alembic tree builds exactly the schema its models describe."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from services.registry import SERVICES
from shared.migrate import current_revision, head_revision
from shared.models import KernelBase


@pytest.mark.parametrize("service", list(SERVICES))
async def test_migrations_match_models(new_database, engine_for, service):
    import importlib

    base = importlib.import_module(f"services.{service}.models").Base
    engine = engine_for(await new_database(service))
    assert await current_revision(engine) == head_revision(SERVICES[service].migrations_dir)

    def diff(conn):
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(ctx, [KernelBase.metadata, base.metadata])

    async with engine.connect() as conn:
        differences = await conn.run_sync(diff)
    assert differences == []


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_head_a_running_service_reads_without_alembic_is_alembics_head(service):
    from alembic.script import ScriptDirectory

    from shared.migrate import alembic_config

    migrations_dir = SERVICES[service].migrations_dir
    alembics = ScriptDirectory.from_config(alembic_config(migrations_dir, "")).get_current_head()
    assert head_revision(migrations_dir) == alembics

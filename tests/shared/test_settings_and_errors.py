from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from shared.errors import field_path


def test_production_refuses_generated_keys_and_sqlite(tmp_path):
    with pytest.raises(ValidationError, match="jwt_public_key_file"):
        IntakeSettings(environment="production", data_dir=tmp_path,
                       database_url="postgresql+asyncpg://db/intake")
    with pytest.raises(ValidationError, match="PostgreSQL"):
        IntakeSettings(environment="production", data_dir=tmp_path, jwt_public_key_file=Path("k"),
                       field_keys_file=Path("f"))


def test_development_defaults_to_sqlite_under_the_data_folder(tmp_path):
    s = IntakeSettings(data_dir=tmp_path)
    assert s.database_url == f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}"
    assert s.port == 8001


def test_service_prefix_wins_over_the_common_prefix(monkeypatch):
    monkeypatch.setenv("ZM_KAFKA_BOOTSTRAP", "common:9092")
    monkeypatch.setenv("ZM_INTAKE_KAFKA_BOOTSTRAP", "intake:9092")
    assert IntakeSettings().kafka_bootstrap == "intake:9092"
    monkeypatch.delenv("ZM_INTAKE_KAFKA_BOOTSTRAP")
    assert IntakeSettings().kafka_bootstrap == "common:9092"


@pytest.mark.parametrize(("loc", "expected"), [
    (("body", "subject", "region_code"), "subject.region_code"),
    (("body", "allegations", 0, "summary"), "allegations[0].summary"),
    (("query", "limit"), "limit"),
    (("body",), "body"),
])
def test_field_paths_name_the_field_at_fault(loc, expected):
    assert field_path(loc) == expected

from pathlib import Path

import pytest
from pydantic import ValidationError

from services.intake.settings import IntakeSettings
from shared.problems import field_path

KEY_FILES = {"jwt_public_key_file": Path("k"), "field_keys_file": Path("f"), "signing_key_file": Path("s"),
             "event_trust_file": Path("t"), "audit_keys_file": Path("a")}
PEERS = {"audit_peers": "verification=http://zhengming-verification-api:8080"}
SASL = {"kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "intake",
        "kafka_sasl_password_file": Path("p"), "kafka_ssl_cafile": Path("ca")}


def test_production_refuses_generated_keys_and_sqlite(tmp_path):
    for missing in KEY_FILES:
        with pytest.raises(ValidationError, match=missing):
            IntakeSettings(environment="production", data_dir=tmp_path, database_url="postgresql+asyncpg://db/intake",
                           **{name: path for name, path in KEY_FILES.items() if name != missing}, **SASL, **PEERS)
    with pytest.raises(ValidationError, match="PostgreSQL"):
        IntakeSettings(environment="production", data_dir=tmp_path, **KEY_FILES, **SASL, **PEERS)


def test_production_refuses_audit_peers_on_this_machine(tmp_path):
    base = {"environment": "production", "data_dir": tmp_path, "database_url": "postgresql+asyncpg://db/intake",
            **KEY_FILES, **SASL}
    with pytest.raises(ValidationError, match="audit_peers"):
        IntakeSettings(**base)
    assert IntakeSettings(**base, **PEERS).audit_peer_urls == {"verification": "http://zhengming-verification-api:8080"}


def test_production_refuses_a_broker_without_authentication(tmp_path):
    base = {"environment": "production", "data_dir": tmp_path, "database_url": "postgresql+asyncpg://db/intake",
            **KEY_FILES, **PEERS}
    with pytest.raises(ValidationError, match="refuses a plaintext broker"):
        IntakeSettings(**base)
    for missing in ("kafka_sasl_username", "kafka_sasl_password_file", "kafka_ssl_cafile"):
        with pytest.raises(ValidationError, match=missing):
            IntakeSettings(**base, **{**SASL, missing: None if missing != "kafka_sasl_username" else ""})
    with pytest.raises(ValidationError, match="kafka_ssl_certfile"):
        IntakeSettings(**base, kafka_security_protocol="SSL", kafka_ssl_cafile=Path("ca"))
    assert IntakeSettings(**base, **SASL).kafka_security_protocol == "SASL_SSL"
    mtls = IntakeSettings(**base, kafka_security_protocol="SSL", kafka_ssl_cafile=Path("ca"),
                          kafka_ssl_certfile=Path("c"), kafka_ssl_keyfile=Path("k"))
    assert mtls.kafka_ssl_certfile == Path("c")


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

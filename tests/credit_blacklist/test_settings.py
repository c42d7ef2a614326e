"""Settings refuse what production must not run with, and the rules follow them."""

import pytest
from pydantic import ValidationError

from services.credit_blacklist.domain import LEGAL_BASIS_UNSET, Publication, Severity
from services.credit_blacklist.resources import rules_from
from services.credit_blacklist.settings import CreditBlacklistSettings

PRODUCTION = {"environment": "production", "database_url": "postgresql+asyncpg://db/blacklist",
              "jwt_public_key_file": "/run/secrets/jwt.pem", "field_keys_file": "/run/secrets/fields.json",
              "signing_key_file": "/run/secrets/signing-key.pem", "event_trust_file": "/etc/zhengming/trust.json",
              "kafka_security_protocol": "SASL_SSL", "kafka_sasl_username": "credit_blacklist",
              "kafka_sasl_password_file": "/run/secrets/kafka-password", "kafka_ssl_cafile": "/etc/kafka/ca.pem",
              "audit_keys_file": "/run/secrets/audit-keys.json",
              "audit_peers": "intake=http://zhengming-intake-api:8080"}


def test_production_needs_its_own_signing_key_and_a_legal_basis():
    with pytest.raises(ValidationError, match="legal_basis"):
        CreditBlacklistSettings(**PRODUCTION)
    with pytest.raises(ValidationError, match="signing_key_file"):
        CreditBlacklistSettings(**{**PRODUCTION, "signing_key_file": None}, legal_basis_ref="某省办法 第十二条",
                                legal_basis_text="……")
    settings = CreditBlacklistSettings(**PRODUCTION, legal_basis_ref="某省办法 第十二条",
                                       legal_basis_text="对诬告陷害者……")
    assert rules_from(settings).legal_basis_ref == "某省办法 第十二条"


def test_development_runs_with_the_placeholder_basis_and_generated_keys(tmp_path):
    settings = CreditBlacklistSettings(environment="development", data_dir=tmp_path)
    assert settings.legal_basis_ref == LEGAL_BASIS_UNSET
    assert settings.signing_key_path == tmp_path / "keys" / "services" / "credit_blacklist.pem"


def test_periods_are_configured_by_severity_and_checked():
    rules = rules_from(CreditBlacklistSettings(ordinary_period_months=(4, 8, 10)))
    assert (rules.periods[Severity.ordinary].minimum, rules.periods[Severity.ordinary].maximum) == (4, 10)
    assert rules.periods[Severity.minor].publication == Publication.internal
    with pytest.raises(ValidationError, match="serious_period_months"):
        CreditBlacklistSettings(serious_period_months=(36, 24, 12))

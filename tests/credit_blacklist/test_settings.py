"""Settings refuse what production must not run with, and the rules follow them."""

import pytest
from pydantic import ValidationError

from services.credit_blacklist.app import rules_from
from services.credit_blacklist.domain import LEGAL_BASIS_UNSET, Publication, Severity
from services.credit_blacklist.settings import CreditBlacklistSettings

PRODUCTION = {"environment": "production", "database_url": "postgresql+asyncpg://db/blacklist",
              "jwt_public_key_file": "/run/secrets/jwt.pem", "field_keys_file": "/run/secrets/fields.json"}


def test_production_needs_the_intake_token_and_a_legal_basis():
    with pytest.raises(ValidationError, match="intake_token_file"):
        CreditBlacklistSettings(**PRODUCTION, legal_basis_ref="某省办法 第十二条", legal_basis_text="……")
    with pytest.raises(ValidationError, match="legal_basis"):
        CreditBlacklistSettings(**PRODUCTION, intake_token_file="/run/secrets/intake-token")
    settings = CreditBlacklistSettings(**PRODUCTION, intake_token_file="/run/secrets/intake-token",
                                       legal_basis_ref="某省办法 第十二条", legal_basis_text="对诬告陷害者……")
    assert rules_from(settings).legal_basis_ref == "某省办法 第十二条"


def test_development_runs_with_the_placeholder_basis_and_a_minted_token():
    settings = CreditBlacklistSettings(environment="development")
    assert settings.intake_token_file is None and settings.legal_basis_ref == LEGAL_BASIS_UNSET


def test_periods_are_configured_by_severity_and_checked():
    rules = rules_from(CreditBlacklistSettings(ordinary_period_months=(4, 8, 10)))
    assert (rules.periods[Severity.ordinary].minimum, rules.periods[Severity.ordinary].maximum) == (4, 10)
    assert rules.periods[Severity.minor].publication == Publication.internal
    with pytest.raises(ValidationError, match="serious_period_months"):
        CreditBlacklistSettings(serious_period_months=(36, 24, 12))

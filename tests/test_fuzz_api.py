"""Schemathesis against every service's OpenAPI schema, in-process, with a token that may do
everything: no 5xx, responses match the schema, every 4xx is problem+json."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import positive_data_acceptance

from tests.conftest import build_app, make_database_sync
from tests.factories import ALL_SCOPES

EXAMPLES = int(os.environ.get("ZM_SCHEMATHESIS_EXAMPLES", "15"))


@schemathesis.check
def client_errors_are_problem_details(ctx, response, case):
    if 400 <= response.status_code < 500 and response.status_code != 405:
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        assert content_type.startswith("application/problem+json"), f"{response.status_code} is {content_type}"
        body = response.json()
        assert body["status"] == response.status_code and body["title"] and body["type"]


FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)


# Schemathesis' own pytest plugin trips over pytest 9 (it sets a private node attribute), so the
# operations are driven here: one test per service, every operation, a bounded number of examples.
@pytest.mark.parametrize("service", ["intake", "verification", "clarification", "credit_blacklist"])
def test_api_survives_fuzzing(service, tmp_path, settings_for, make_token):
    url, drop = make_database_sync(service, tmp_path)
    try:
        schema = schemathesis.openapi.from_asgi("/openapi.json", build_app(service, settings_for(service, url)))
        headers = {"Authorization": f"Bearer {make_token(ALL_SCOPES, region='')}"}
        # /readyz answers 503 on purpose here: the test runs without a broker.
        operations = [op for op in (result.ok() for result in schema.get_all_operations()) if op.path != "/readyz"]
        assert len(operations) >= 5
        for operation in operations:

            @FUZZ
            @given(case=operation.as_strategy())
            def fuzz(case):
                # Some rules are beyond JSON Schema (ID checksums, province codes, cross-field rules), so a
                # schema-valid body may rightly get 422: positive_data_acceptance cannot apply.
                case.call_and_validate(headers=headers, additional_checks=[client_errors_are_problem_details],
                                       excluded_checks=[positive_data_acceptance])

            fuzz()
    finally:
        drop()

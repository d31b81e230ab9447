"""Schemathesis over the whole OpenAPI schema against a live server (SPEC §16): property-based requests to every
operation, as partner A's read-write key; no answer is a 5xx, and every answer (status, content type, headers,
body) is what the schema says. Bounded: a few examples per operation, derandomized, on pytest-django's one live
server."""

import datetime

import hypothesis
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.keys import api_key_create
from api.models import ApiKey
from api.services.drafts import api_draft_create
from api.tests.conftest import NORTHWIND
from associations.models import Product
from claims.models import ClaimStatus
from claims.tests.factories import claim_make

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
EXAMPLES = 15


@pytest.fixture
def api_schema(live_server, transactional_db, partner_a, m365_tenant, settings):
    """The schema the live server serves, with partner A's claims in several statuses to reach."""
    settings.API_RATE_LIMIT_PER_MINUTE = 1_000_000
    teams = Product.objects.get(code="microsoft-teams")
    exchange = Product.objects.get(code="exchange-online")
    api_draft_create(partner=partner_a.partner, user=partner_a.admin, fields=dict(NORTHWIND))
    claim_make(partner_a, tenant=m365_tenant, products=[teams], status=ClaimStatus.OFFICIAL)
    claim_make(
        partner_a,
        tenant=m365_tenant,
        products=[exchange],
        status=ClaimStatus.ACTION_REQUIRED,
        response_deadline=datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=5),
    )
    return schemathesis.openapi.from_url(f"{live_server.url}/api/v1/openapi.json")


@pytest.fixture
def schema_key(partner_a):
    key = api_key_create(partner=partner_a.partner, user=partner_a.admin, name="fuzz", access=ApiKey.Access.READ_WRITE)
    return key[1]


@pytest.mark.slow
def test_api_schema_every_operation_answers_as_its_schema_says_and_never_5xx(api_schema, schema_key):
    """Each operation of the schema in turn, its cases drawn by hypothesis from the schema (schemathesis'
    strategies; its pytest plugin does not run under this pytest, so the loop is ours), every answer checked."""
    headers = {"Authorization": f"Bearer {schema_key}"}
    failures, operations = [], 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @hypothesis.given(case=operation.as_strategy())
        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def run(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # each operation's first failure, all reported together
            failures.append(f"{operation.label}: {exc}")
    assert operations >= 18
    assert not failures, "\n\n".join(failures)

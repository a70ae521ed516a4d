"""Hostile input: schemathesis generates requests from the OpenAPI schema and sends them to the WSGI app in process.

For each role (viewer, operator, admin, with a JWT), every operation gets valid and invalid inputs
(random bodies, query strings and path parameters, within the schema and outside it). No answer may
be a 500, every answer's status code, content type and body must be ones the schema documents. And
every operation that needs authentication refuses a request without it.

Bounded so it runs in a few minutes: SCHEMATHESIS_EXAMPLES examples per operation and role (default
25), derandomized so CI sees the same inputs every time. Set SCHEMATHESIS_SEED to explore others.
"""

import os

import pytest
import schemathesis
from django.core.cache import cache
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework_simplejwt.tokens import AccessToken
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from emag.client import EmagClient
from emag.models import SyncRun
from emag.sync import sync_offers

pytestmark = [pytest.mark.slow, pytest.mark.django_db]

EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "25"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "0"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# Reachable without credentials, by design.
PUBLIC = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/refresh-token"),
}


def load_schema():
    from drf_spectacular.generators import SchemaGenerator
    from drf_spectacular.renderers import OpenApiJsonRenderer

    from magflow.wsgi import application

    raw = SchemaGenerator().get_schema(request=None, public=True)
    # Through JSON, as a client would read it (enums, lazy strings and Decimals become plain values).
    import json

    schema = schemathesis.openapi.from_dict(json.loads(OpenApiJsonRenderer().render(raw)))
    schema.app = application
    return schema


def operations(schema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.fixture
def data(sandbox, account, other_account):
    """Something behind every list and detail: both accounts synced from the sandbox."""
    sandbox.set_rate_limit(False)
    for seller in (account, other_account):
        with EmagClient(seller, sleep=lambda seconds: None) as client:
            sync_offers(seller, trigger=SyncRun.Trigger.COMMAND, client=client)
    yield
    cache.clear()  # DRF's throttle counters live in the cache


@pytest.fixture(autouse=True)
def no_rate_limit(settings):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    settings.AXES_ENABLED = False


@pytest.fixture(autouse=True)
def keep_the_test_connection():
    """Requests go through the real WSGI app, whose request signals would close the test's database
    connection (it is inside the test transaction); Django's own test client unhooks them the same way."""
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


def _summary(exc: BaseException) -> str:
    """The first failure of each kind in a (possibly grouped) schemathesis error, with its reproduction."""
    lines = [line.strip(" |+-") for line in str(exc).splitlines()]
    for sub in getattr(exc, "exceptions", []):
        lines += [line.strip(" |+-") for line in str(sub).splitlines()[:6]]
    text = [line for line in lines if line][:25]
    return "\n    ".join(text)


def fuzz(operation, headers: dict[str, str]) -> None:
    strategy = st.one_of(
        operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
        operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
    )

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=SEED == 0,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy)
    def run(case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS, headers=headers)

    if SEED:
        run = settings(derandomize=False)(run)
        run._hypothesis_internal_use_seed = SEED
    run()


@pytest.mark.parametrize("role", ["viewer", "operator", "admin_user"])
def test_no_input_makes_the_api_fail_or_break_its_schema(role, request, data, mocked_responses):
    user = request.getfixturevalue(role)
    headers = {"Authorization": f"Bearer {AccessToken.for_user(user)}"}
    schema = load_schema()
    failures = []
    for operation in operations(schema):
        try:
            fuzz(operation, headers)
        except Exception as exc:  # collect every operation's failure, not just the first
            failures.append(f"{role}: {operation.method.upper()} {operation.path}: {_summary(exc)}")
        cache.clear()
    assert failures == [], "\n\n".join(failures)


def test_every_protected_operation_refuses_a_request_without_credentials(client, data):
    schema = load_schema()
    checked = 0
    for operation in operations(schema):
        if (operation.method.upper(), operation.path) in PUBLIC:
            continue
        path = operation.path.replace("{name}", "main").replace("{id}", "1")
        response = getattr(client, operation.method.lower())(path, content_type="application/json")
        assert response.status_code == 401, (operation.method, path, response.status_code)
        assert response.json()["error"]["code"], path
        checked += 1
    assert checked > 25
